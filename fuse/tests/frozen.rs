//! Frozen example volumes (conformance/fixtures/<profile>-v<N>/): every
//! profile and format version we ever shipped must mount and read back as
//! its manifest says, in every CI run, forever.

mod common;

use common::Mounted;
use fusecry_format::{Conf, Password, Secret};
use std::fs;
use std::path::Path;
use std::process::Command;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../conformance/fixtures");
const CHECKER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/legacy/check_legacy.py"
);

#[test]
fn frozen_volumes_mount_and_read_back() {
    let mut n = 0;
    let mut dirs: Vec<_> = fs::read_dir(FIXTURES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("manifest.json").is_file())
        .collect();
    dirs.sort();
    for case in dirs {
        let m: serde_json::Value =
            serde_json::from_slice(&fs::read(case.join("manifest.json")).unwrap()).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        assert!(Command::new("tar")
            .arg("-xf")
            .arg(case.join("volume.tar"))
            .arg("-C")
            .arg(tmp.path())
            .status()
            .unwrap()
            .success());
        let cipher = tmp.path().join(m["volume"].as_str().unwrap());
        let conf =
            Conf::parse(&fs::read(tmp.path().join(m["conf"].as_str().unwrap())).unwrap()).unwrap();
        let secret = match m["auth"]["type"].as_str().unwrap() {
            "password" => Secret::Password(Password::new(m["auth"]["password"].as_str().unwrap())),
            _ => Secret::from_pem(
                &fs::read_to_string(case.join(m["auth"]["private_key_file"].as_str().unwrap()))
                    .unwrap(),
            )
            .unwrap(),
        };
        let codec = conf.open(&secret).unwrap();
        let mnt = tmp.path().join("mnt");
        fs::create_dir(&mnt).unwrap();
        let mut opts = fusecry_fuse::MountOptions::default();
        opts.fs.read_only = true;
        opts.fs.writeback = false;
        let mounted = Mounted::mount_existing(tmp, cipher, mnt.clone(), codec, opts);
        let out = Command::new("python3")
            .arg(Path::new(CHECKER))
            .arg(case.join("manifest.json"))
            .arg(&mnt)
            .arg("--strict")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}{}",
            case.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        drop(mounted);
        n += 1;
    }
    println!("frozen example volumes mounted and checked: {n}");
    assert!(n >= 2);
}
