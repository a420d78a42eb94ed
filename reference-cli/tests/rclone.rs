//! `fusecry` itself with its ciphertext on an rclone mount (the guard of
//! fuse/tests/common/rclone.rs): the first mount creates the volume there.
//! rclone has neither renameat2 flags nor hard links, the two ways the conf
//! and the root directory IV are normally created without replacing
//! anything (confio.rs `write_new`). fuse/tests/rclone.rs runs the core
//! mount tests on rclone.

mod common;

use common::{fusecry_in, is_mounted, wait_for, CHEAP};
use std::fs;
use std::path::Path;

#[path = "../../fuse/tests/common/rclone.rs"]
mod rclone;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn first_mount_creates_a_volume_on_rclone() {
    let rc = rclone::Rclone::start("writes");
    let cipher = rc.mnt.join("vol");
    let mnt = rc.dir.path().join("plain");
    let pw = rc.dir.path().join("pw");
    let log = rc.dir.path().join("fusecry.log");
    fs::create_dir(&mnt).unwrap();
    fs::write(&pw, "rclone password\n").unwrap();
    let mut args = vec![
        "mount",
        s(&cipher),
        s(&mnt),
        "--password-file",
        s(&pw),
        "--log",
        s(&log),
    ];
    args.extend_from_slice(&CHEAP);
    let o = fusecry_in(Path::new("/"), &args);
    assert!(
        o.status.success(),
        "mount on rclone: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        rc.mount_log()
    );
    assert!(is_mounted(&mnt));
    fs::write(mnt.join("note.txt"), b"on rclone").unwrap();
    assert_eq!(fs::read(mnt.join("note.txt")).unwrap(), b"on rclone");
    let o = fusecry_in(Path::new("/"), &["umount", s(&mnt)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    wait_for("unmount", || !is_mounted(&mnt));
    // The mount said where it was (one warning line naming the README).
    let text = fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("rclone mount"), "log: {text}");
    // A second volume cannot be created over the first: the conf is kept.
    let conf = fs::read(cipher.join("fusecry.conf")).unwrap();
    let o = fusecry_in(
        Path::new("/"),
        &[&["init", s(&cipher), "--password-file", s(&pw)][..], &CHEAP].concat(),
    );
    assert!(!o.status.success());
    assert_eq!(fs::read(cipher.join("fusecry.conf")).unwrap(), conf);
    // fsck agrees with what was written.
    let o = fusecry_in(
        Path::new("/"),
        &["fsck", s(&cipher), "--password-file", s(&pw)],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
