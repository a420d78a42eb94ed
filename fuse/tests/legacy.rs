//! Every legacy 0.11 volume made by the original tool mounts and reads back
//! as its manifest says (`check_legacy.py --strict`), read in place from
//! ../shared/vectors/legacy, plus a frozen subset in tests/fixtures/legacy.
//! Tampered volumes answer EIO on the damaged chunk only, and the log names
//! the plaintext path and the chunk.

mod common;

use common::logcap::log;
use common::Mounted;
use fusecry_format::{Conf, Password, Secret};
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors/legacy");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/legacy");

fn manifest(case: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(case.join("manifest.json")).unwrap()).unwrap()
}

/// Extracts the case's volume and mounts it with the manifest's password or key.
fn mount_case(case: &Path) -> Mounted {
    let m = manifest(case);
    let tmp = tempfile::tempdir().unwrap();
    let st = Command::new("tar")
        .arg("-xf")
        .arg(case.join("volume.tar"))
        .arg("-C")
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(st.success());
    let cipher = tmp.path().join(m["volume"].as_str().unwrap());
    let conf =
        Conf::parse(&fs::read(tmp.path().join(m["conf"].as_str().unwrap())).unwrap()).unwrap();
    let secret = match m["auth"]["type"].as_str().unwrap() {
        "password" => Secret::Password(Password::new(m["auth"]["password"].as_str().unwrap())),
        "rsakey" => {
            let pem =
                fs::read_to_string(case.join(m["auth"]["private_key_file"].as_str().unwrap()))
                    .unwrap();
            Secret::from_pem(&pem).unwrap()
        }
        other => panic!("auth {other}"),
    };
    let codec = conf.open(&secret).unwrap();
    let mnt = tmp.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    Mounted::mount_existing(
        tmp,
        cipher,
        mnt,
        codec,
        fusecry_fuse::MountOptions::default(),
    )
}

fn checker() -> PathBuf {
    let shared = Path::new(SHARED).join("check_legacy.py");
    if shared.is_file() {
        shared
    } else {
        Path::new(FIXTURES).join("check_legacy.py")
    }
}

fn check_case(case: &Path) {
    let _ = log();
    let m = mount_case(case);
    let out = Command::new("python3")
        .arg(checker())
        .arg(case.join("manifest.json"))
        .arg(&m.mnt)
        .arg("--strict")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: check_legacy.py --strict failed:\n{}{}",
        case.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let man = manifest(case);
    if man["kind"] == "tamper" && man["tamper"]["kind"] == "ciphertext_bitflip" {
        // EIO exactly on the damaged chunk; the rest of the file and volume read.
        let bad = man["tamper"]["chunk_index"].as_u64().unwrap();
        let cs = man["chunk_size"].as_u64().unwrap();
        let f = fs::File::open(m.p("victim.bin")).unwrap();
        let mut buf = vec![0u8; cs as usize];
        for i in 0..3u64 {
            let r = f.read_at(&mut buf, i * cs);
            if i == bad {
                assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EIO));
            } else {
                assert_eq!(r.unwrap(), cs as usize, "chunk {i} must read");
            }
        }
        assert!(fs::read(m.p("intact.txt")).is_ok());
        let logged = String::from_utf8_lossy(&log().lock().unwrap()).into_owned();
        assert!(
            logged.contains(&format!("/victim.bin: chunk {bad}")),
            "the log must name the file and chunk: {logged}"
        );
    }
}

fn cases(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(root)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.retain(|p| {
        p.join("manifest.json").is_file()
            && p.join("volume.tar").is_file()
            && matches!(manifest(p)["kind"].as_str(), Some("volume" | "tamper"))
    });
    v.sort();
    v
}

#[test]
fn legacy_volumes_mount_and_match_their_manifests() {
    let fixtures = cases(Path::new(FIXTURES));
    assert!(fixtures.len() >= 3);
    for c in &fixtures {
        check_case(c);
    }
    let shared_dir = std::env::var_os("FUSECRY_LEGACY_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(SHARED));
    let shared = cases(&shared_dir);
    for c in &shared {
        check_case(c);
    }
    if shared.is_empty() {
        eprintln!(
            "\n!!! legacy volumes: {} is MISSING: only the frozen fixtures ran !!!\n",
            shared_dir.display()
        );
    }
    println!(
        "legacy volumes mounted and checked (check_legacy.py --strict): {} from shared, {} from fixtures",
        shared.len(),
        fixtures.len()
    );
}

#[test]
fn wrong_rsa_key_does_not_open() {
    let case = Path::new(FIXTURES).join("rsa-tool-c4096");
    let tmp = tempfile::tempdir().unwrap();
    Command::new("tar")
        .arg("-xf")
        .arg(case.join("volume.tar"))
        .arg("-C")
        .arg(tmp.path())
        .status()
        .unwrap();
    let conf = Conf::parse(&fs::read(tmp.path().join("volume/fusecry.conf")).unwrap()).unwrap();
    let wrong = Secret::from_pem(&fs::read_to_string(case.join("wrong-key.pem")).unwrap()).unwrap();
    assert!(conf.open(&wrong).is_err());
}
