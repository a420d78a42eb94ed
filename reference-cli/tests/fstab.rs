//! System mounting: an /etc/fstab line through mount(8) and the
//! `mount.fuse3` helper, and readiness told to systemd by sd_notify.
//! Every command runs under a time limit.

mod common;

use common::{fusecry_in, is_mounted, run_limited, wait_for, BIN, CHEAP, LIMIT};
use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` within the limit; returns (success, stderr).
fn run_ok(cmd: &mut Command) -> (bool, String) {
    let out = run_limited(cmd);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A volume in `dir/c` with password file `dir/pw`; returns the mount point `dir/m`.
fn volume(dir: &Path) -> std::path::PathBuf {
    fs::write(dir.join("pw"), "fstab password\n").unwrap();
    let mut args = vec!["init", "c", "--password-file", "pw"];
    args.extend(CHEAP);
    let out = fusecry_in(dir, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = dir.join("m");
    fs::create_dir(&m).unwrap();
    m
}

/// mount.fuse3 runs the program that the type `fuse.fusecry` names, found
/// in the standard PATH that mount(8) gives helpers (the caller's is not
/// passed on): this build is linked as /usr/local/bin/fusecry while the
/// guard lives.
struct Installed;

impl Installed {
    fn new() -> Installed {
        let link = Path::new("/usr/local/bin/fusecry");
        assert!(
            fs::symlink_metadata(link).is_err(),
            "{} exists: this test links the build under test there, and will not replace another",
            link.display()
        );
        std::os::unix::fs::symlink(BIN, link).unwrap();
        Installed
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = fs::remove_file("/usr/local/bin/fusecry");
    }
}

/// Unmounts (lazily) on drop, so a failing test leaves no mount behind.
struct Unmount<'a>(&'a Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        if is_mounted(self.0) {
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
}

#[test]
fn an_fstab_line_mounts_through_mount_fuse3() {
    if !Path::new("/sbin/mount.fuse3").exists() && !Path::new("/usr/sbin/mount.fuse3").exists() {
        panic!("mount.fuse3 missing: test.sh installs the fuse3 package");
    }
    let tmp = tempfile::tempdir().unwrap();
    let m = volume(tmp.path());
    let c = tmp.path().join("c");
    let pw = tmp.path().join("pw");
    // The options fstab users write: ours, the kernel's, and those mount(8)
    // and systemd keep for themselves.
    let fstab = tmp.path().join("fstab");
    fs::write(
        &fstab,
        format!(
            "# test fstab\n{} {} fuse.fusecry passfile={},nofail,_netdev,x-systemd.automount,noauto,nosuid,nodev,noatime,allow_other 0 0\n",
            c.display(),
            m.display(),
            pw.display()
        ),
    )
    .unwrap();
    let _installed = Installed::new();
    let _unmount = Unmount(&m);
    let (ok, err) = run_ok(Command::new("mount").arg("--fstab").arg(&fstab).arg(&m));
    assert!(ok, "mount --fstab failed: {err}");
    wait_for("the fstab mount", || is_mounted(&m));
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = info
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(m.to_str().unwrap()))
        .unwrap()
        .to_string();
    assert!(
        line.contains(&format!(" - fuse {} ", c.display())),
        "{line}"
    );
    for flag in ["nosuid", "nodev", "noatime"] {
        assert!(line.contains(flag), "{flag} missing: {line}");
    }
    fs::write(m.join("f"), b"through fstab").unwrap();
    // A plain umount(8), as systemd does at shutdown.
    let (ok, err) = run_ok(Command::new("umount").arg(&m));
    assert!(ok, "umount failed: {err}");
    wait_for("the unmount", || !is_mounted(&m));
    // The file is in the volume: mount it by hand and read it back.
    let out = fusecry_in(tmp.path(), &["mount", "c", "m", "--password-file", "pw"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read(m.join("f")).unwrap(), b"through fstab");
    assert!(fusecry_in(tmp.path(), &["umount", "m"]).status.success());
}

#[test]
fn notify_tells_the_service_manager_when_the_mount_is_ready() {
    for foreground in [true, false] {
        let tmp = tempfile::tempdir().unwrap();
        let m = volume(tmp.path());
        let sock_path = tmp.path().join("notify.sock");
        let sock = UnixDatagram::bind(&sock_path).unwrap();
        sock.set_read_timeout(Some(LIMIT)).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.current_dir(tmp.path())
            .args(["mount", "c", "m", "--password-file", "pw", "--notify"])
            .env("NOTIFY_SOCKET", &sock_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if foreground {
            cmd.arg("-f");
        }
        let mut child = cmd.spawn().unwrap();
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).expect("READY=1 within the limit");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(msg.lines().any(|l| l == "READY=1"), "{msg}");
        // Ready means mounted: no wait needed.
        assert!(is_mounted(&m), "READY=1 before the mount appeared");
        if foreground {
            assert!(!msg.contains("MAINPID"), "{msg}");
        } else {
            // The daemon is not the process systemd started: say which it is.
            let pid: u32 = msg
                .lines()
                .find_map(|l| l.strip_prefix("MAINPID="))
                .expect("MAINPID")
                .parse()
                .unwrap();
            assert_ne!(pid, child.id());
            assert!(Path::new(&format!("/proc/{pid}")).exists());
        }
        assert!(fusecry_in(tmp.path(), &["umount", "m"]).status.success());
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            assert!(start.elapsed() < LIMIT, "the mount command did not end");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!is_mounted(&m));
    }
}
