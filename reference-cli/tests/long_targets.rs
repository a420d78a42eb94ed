//! `fusecry fsck` on long symlink targets kept out of line (SPEC §11.2),
//! on a copy of the conformance volume that holds one: clean as written,
//! a missing sidecar is damage of the link, an unnamed sidecar a leftover;
//! and `fusecry migrate` carrying a 3000-byte target into and out of the
//! out-of-line form.

use fusecry_conformance::vectors_dir;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_fusecry");

fn fsck(vol: &Path, pw: &Path) -> Output {
    Command::new(BIN)
        .arg("fsck")
        .arg(vol)
        .arg("--password-file")
        .arg(pw)
        .output()
        .unwrap()
}

/// The sidecar of `docs/link-long`: the file its link names (SPEC §11.2).
fn sidecar(vol: &Path) -> PathBuf {
    let v: serde_json::Value = serde_json::from_slice(
        &fs::read(vectors_dir().join("volume_v1_encrypted_names.json")).unwrap(),
    )
    .unwrap();
    let e = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "docs/link-long")
        .expect("the vector holds docs/link-long");
    let link = vol.join(e["disk_path"].as_str().unwrap());
    let marker = fs::read_link(&link).unwrap();
    assert!(marker.to_str().unwrap().starts_with("fusecry.target."));
    link.with_file_name(marker)
}

#[test]
fn fsck_reads_long_targets_and_reports_their_sidecars() {
    let t = tempfile::tempdir().unwrap();
    let vol = t.path().join("vol");
    let st = Command::new("cp")
        .arg("-a")
        .arg(vectors_dir().join("volume_v1_encrypted_names.tree"))
        .arg(&vol)
        .status()
        .unwrap();
    assert!(st.success());
    let pw = t.path().join("pw");
    fs::write(&pw, "conformance password").unwrap();
    let o = fsck(&vol, &pw);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("4 symlinks") && out.ends_with("clean\n"),
        "{out}"
    );

    let side = sidecar(&vol);
    let stray = side.with_file_name(format!("fusecry.target.{}", "A".repeat(52)));
    fs::copy(&side, &stray).unwrap();
    let o = fsck(&vol, &pw);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(21), "{out}");
    assert!(
        out.contains("no symlink names") && out.contains("1 damaged"),
        "{out}"
    );
    fs::remove_file(&stray).unwrap();

    fs::remove_file(&side).unwrap();
    let o = fsck(&vol, &pw);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(21), "{out}");
    assert!(
        out.contains("/docs/link-long: bad encrypted symlink target"),
        "{out}"
    );
}

/// A copy of the tree of volume vector `name` at `to`.
fn copy_tree(name: &str, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(vectors_dir().join(format!("{name}.tree")))
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn migrate_carries_long_targets_both_ways() {
    let t = tempfile::tempdir().unwrap();
    let pw = t.path().join("pw");
    fs::write(&pw, "conformance password").unwrap();
    // Legacy plain names store the target as it is; fusecry/1 with
    // encrypted names must put it out of line; and read it back from there.
    let steps = [
        ("volume_legacy_plain_names", "old1", "new1"),
        ("volume_v1_encrypted_names", "old2", "new2"),
    ];
    for (vector, old, new) in steps {
        let (old, new) = (t.path().join(old), t.path().join(new));
        copy_tree(vector, &old);
        let o = Command::new(BIN)
            .arg("migrate")
            .arg(&old)
            .arg(&new)
            .arg("--password-file")
            .arg(&pw)
            .arg("--new-password-file")
            .arg(&pw)
            .args(["--argon2-memory", "64", "--argon2-iterations", "1"])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{vector}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let o = fsck(&new, &pw);
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            o.status.success() && out.contains("4 symlinks"),
            "{vector}: {out}"
        );
        let sidecars = fs::read_dir(new.join(first_dir(&new)))
            .unwrap()
            .filter(|e| {
                let n = e.as_ref().unwrap().file_name();
                n.to_str().unwrap().starts_with("fusecry.target.")
            })
            .count();
        assert_eq!(sidecars, 1, "{vector}");
    }
}

/// The one directory in the root of a migrated volume ("docs": the vector
/// volumes' other directory, "emptydir", exists only with directory IVs and
/// holds no symlink).
fn first_dir(vol: &Path) -> PathBuf {
    let mut dirs: Vec<_> = fs::read_dir(vol)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && fs::read_dir(p).unwrap().count() > 1)
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}
