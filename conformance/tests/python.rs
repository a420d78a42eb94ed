//! The second, independent check: `conformance/check_vectors.py`, written from
//! SPEC.md alone with Python's standard library and pyca/cryptography (no code
//! of this repository), reads every vector of both profiles. This test fails,
//! never skips, when `python3` or `cryptography` >= 44 is missing: `test.sh`
//! installs them.

use std::path::Path;
use std::process::Command;

#[test]
fn python_check_passes_every_vector() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = dir.join("check_vectors.py");
    let out = Command::new("python3")
        .arg(&script)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run python3 for {} ({e}); ./test.sh installs python3 and cryptography",
                script.display()
            )
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stdout}{stderr}",
        script.display(),
        out.status
    );
    let summary = stdout
        .lines()
        .find_map(|l| l.strip_prefix("python check: "))
        .unwrap_or_else(|| panic!("no summary line in:\n{stdout}"));
    // "N vectors checked (fusecry/1: a, legacy-0.11: b), F failed"
    let checked: usize = summary
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bad summary: {summary}"));
    let failed: usize = summary
        .rsplit(", ")
        .next()
        .and_then(|f| f.strip_suffix(" failed"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bad summary: {summary}"));
    assert!(checked >= 100, "only {checked} vectors checked: {summary}");
    assert_eq!(failed, 0, "{summary}");
}
