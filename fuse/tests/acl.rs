//! POSIX ACLs (`-o acl`) against a local filesystem, call for call: one
//! shell script (setfacl, getfacl, creates under default ACLs and umasks,
//! chmod, and accesses as `nobody`) runs in a plain ext4/tmpfs directory and
//! in an `allow_other` mount with the writeback cache on, and the two
//! transcripts must be identical; then again after a remount, and what the
//! ciphertext directory holds is checked to be encrypted.

mod common;

use common::{Kind, Mounted};
use fusecry_fuse::{FsOptions, MountOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// Every step prints what it did or what it got; `as_nobody` runs one
/// command as uid/gid 65534 and prints its exit status.
const SCRIPT: &str = r#"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "$1" 2>/dev/null; echo "nobody: $1 -> $?"; }
show() { getfacl -n -p "$@" 2>&1; stat -c '%n %A %u:%g' "$@"; }
mkdir -m 0755 d
setfacl -m u:65534:rwx d
setfacl -d -m u::rwx,g::r-x,o::---,u:65534:rw- d
umask 022
: > d/f
mkdir d/sub
mkfifo d/p
(umask 077; : > d/g)
show d d/f d/sub d/g
chmod 0640 d/f
show d/f
as_nobody 'echo one >> d/f'
setfacl -m m::rw d/f
as_nobody 'echo two >> d/f'
cat d/f
as_nobody 'echo three > d/h'
show d/h
as_nobody 'cat d/g'
setfacl -m u:65534:r d/g
as_nobody 'cat d/g'
echo filled > d/g
as_nobody 'cat d/g'
setfacl -b d/f
show d/f
as_nobody 'echo four >> d/f'
setfacl -k d
(umask 027; : > d/i; mkdir d/j)
show d/i d/j
mkdir -m 0700 e
as_nobody 'ls e'
setfacl -m u:65534:rx e
as_nobody 'ls e'
setfacl -x u:65534 e
as_nobody 'ls e'
show e
setfacl -m g:65534:rwx,u:65534:- e
as_nobody 'ls e'
"#;

/// After a remount (or nothing changed in the plain directory): what the
/// stored ACLs still say.
const AFTER: &str = r#"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "$1" 2>/dev/null; echo "nobody: $1 -> $?"; }
getfacl -n -p d d/f d/g d/h d/i d/j d/sub e 2>&1
as_nobody 'cat d/f d/g'
as_nobody 'ls e'
"#;

fn run(dir: &Path, script: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("sh runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "script failed in {}:\n{text}",
        dir.display()
    );
    text
}

/// Lets `nobody` reach `dir` through its parents (tempdirs are 0700).
fn open_up(dir: &Path) {
    for d in dir
        .ancestors()
        .take_while(|d| d.starts_with(std::env::temp_dir()) && *d != std::env::temp_dir())
    {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn acl_opts() -> MountOptions {
    MountOptions {
        allow_other: true,
        fs: FsOptions {
            writeback: true,
            acl: true,
            ..FsOptions::default()
        },
        ..MountOptions::default()
    }
}

fn assert_same(what: &str, plain: &str, mounted: &str) {
    if plain != mounted {
        let diff: Vec<String> = plain
            .lines()
            .zip(mounted.lines())
            .filter(|(a, b)| a != b)
            .map(|(a, b)| format!("  plain:   {a}\n  mounted: {b}"))
            .collect();
        panic!("{what}: the mount differs from a local filesystem:\n{}\n--- plain ---\n{plain}\n--- mounted ---\n{mounted}", diff.join("\n"));
    }
}

#[test]
fn acls_behave_as_on_a_local_filesystem_and_survive_a_remount() {
    let plain = tempfile::tempdir().unwrap();
    open_up(plain.path());
    let m = Mounted::with(
        Kind::V1 {
            cs: 4096,
            names: true,
        },
        acl_opts(),
    );
    open_up(&m.mnt);
    let want = run(plain.path(), SCRIPT);
    // The script must have exercised what it claims: entries for nobody,
    // inherited defaults, and both outcomes of an access by nobody.
    assert!(want.contains("user:65534:rw-"), "{want}");
    assert!(want.contains("default:user:65534:rw-"), "{want}");
    assert!(want.contains("-> 0") && want.contains("-> 2"), "{want}");
    let got = run(&m.mnt, SCRIPT);
    assert_same("first run", &want, &got);
    // A FIFO holds no ACL in the mount (SPEC §11.1): where a local
    // filesystem gives it the inherited one (group r-x, mask rw-, nobody
    // rw-), it gets the owning group's effective bits, never the mask.
    use std::os::unix::fs::MetadataExt;
    let local = std::fs::metadata(plain.path().join("d/p")).unwrap().mode() & 0o7777;
    let fifo = std::fs::metadata(m.p("d/p")).unwrap().mode() & 0o7777;
    assert_eq!((local, fifo), (0o660, 0o640));

    let want_after = run(plain.path(), AFTER);
    let m = m.remount(acl_opts());
    open_up(&m.mnt);
    let got_after = run(&m.mnt, AFTER);
    assert_same("after a remount", &want_after, &got_after);

    // Stored encrypted: no ACL and no plaintext name on the backing entries.
    for rel in ["d", "d/sub", "d/h", "e"] {
        let disk = m.backing(rel);
        for name in xattr::list(&disk).unwrap() {
            let name = name.to_string_lossy().into_owned();
            assert!(
                name.starts_with("user.fcry."),
                "{rel}: backing xattr {name}"
            );
        }
    }
    assert!(
        xattr::list(m.backing("d/sub")).unwrap().count() == 2,
        "d/sub keeps its inherited access and default ACLs as encrypted xattrs"
    );
}

#[test]
fn without_the_option_acls_are_refused_not_ignored() {
    let m = Mounted::shared(Kind::V1 {
        cs: 4096,
        names: true,
    });
    std::fs::write(m.p("f"), b"x").unwrap();
    let out = Command::new("setfacl")
        .args(["-m", "u:65534:rw"])
        .arg(m.p("f"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Operation not supported"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn acl_option_is_refused_where_xattrs_are_not_encrypted() {
    let tmp = tempfile::tempdir().unwrap();
    let codec = common::create_volume(
        tmp.path(),
        Kind::V1 {
            cs: 4096,
            names: false,
        },
    );
    let err = fusecry_fuse::CryptFs::new(codec, tmp.path(), acl_opts().fs)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("-o acl needs"), "{err}");
}
