//! An rclone mount to hold a ciphertext directory: `rclone serve webdav` of
//! a fresh temp dir on 127.0.0.1, mounted back with `rclone mount` and a
//! chosen VFS cache mode. No rclone config file: the remote is given on the
//! command line (`:webdav:` with `--webdav-url`, which rclone 1.60 takes; a
//! URL inside the `:webdav,url=...:` form would need quoting for its
//! colons). Every wait is bounded, and the guard unmounts and stops both
//! processes on drop, also when a test panics.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long rclone gets to start serving and to mount.
const START: Duration = Duration::from_secs(20);

/// A running `rclone serve webdav` and an `rclone mount` of it at `mnt`.
pub struct Rclone {
    /// Holds `served/` (what WebDAV serves), `mnt/`, `cache/` and the logs.
    pub dir: tempfile::TempDir,
    pub mnt: PathBuf,
    serve: Child,
    mount: Option<Child>,
}

/// The rclone binary, or a failure that says how to get it (never a skip).
fn rclone() -> &'static str {
    let found = Command::new("rclone")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "rclone is not installed: run ./test.sh (it installs Debian's rclone), \
         or apt-get install rclone"
    );
    "rclone"
}

/// A port nobody listens on now. rclone binds it a moment later; another
/// process taking it in between makes rclone exit, which `start` reports.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (at most `START`) until `ready` holds, failing with `what` and the
/// log if `child` exits first or time runs out.
fn wait_for(child: &mut Child, log: &Path, what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + START;
    loop {
        if ready() {
            return;
        }
        let exited = child.try_wait().unwrap();
        if exited.is_some() || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what}: {}\n{}",
                exited.map_or("not ready after 20 s".into(), |s| format!("exited: {s}")),
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Rclone {
    /// Serves a fresh directory over WebDAV and mounts it with
    /// `--vfs-cache-mode cache_mode` (off, minimal, writes, full).
    pub fn start(cache_mode: &str) -> Rclone {
        let bin = rclone();
        let dir = tempfile::tempdir().unwrap();
        let served = dir.path().join("served");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&served).unwrap();
        std::fs::create_dir(&mnt).unwrap();
        // A config path that does not exist: rclone then uses its defaults
        // and never reads or writes the user's config.
        let config = dir.path().join("none.conf");
        let port = free_port();
        let serve_log = dir.path().join("serve.log");
        let mut serve = Command::new(bin)
            .arg("serve")
            .arg("webdav")
            .arg(&served)
            .arg("--addr")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--config")
            .arg(&config)
            .arg("--log-file")
            .arg(&serve_log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_for(&mut serve, &serve_log, "rclone serve webdav", || {
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        });
        let mount_log = dir.path().join("mount.log");
        let mount = Command::new(bin)
            .arg("mount")
            .arg(":webdav:")
            .arg(&mnt)
            .arg("--webdav-url")
            .arg(format!("http://127.0.0.1:{port}"))
            .arg("--config")
            .arg(&config)
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .arg("--vfs-cache-mode")
            .arg(cache_mode)
            .arg("--log-file")
            .arg(&mount_log)
            // INFO: uploads and removals, what a failure needs explained.
            .arg("-v")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        // From here the guard owns both processes.
        let mut g = Rclone {
            dir,
            mnt,
            serve,
            mount: None,
        };
        let mut mount = mount.unwrap();
        let mnt = g.mnt.clone();
        wait_for(&mut mount, &mount_log, "rclone mount", || {
            super::is_mounted(&mnt)
        });
        g.mount = Some(mount);
        g
    }

    /// rclone's mount log (its ERROR lines say what it refused and why).
    pub fn mount_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mount.log")).unwrap_or_default()
    }
}

/// Runs `cmd` with a time limit (coreutils `timeout`), ignoring the outcome.
fn run_limited(secs: u32, cmd: &str, args: &[&std::ffi::OsStr]) {
    let _ = Command::new("timeout")
        .arg(secs.to_string())
        .arg(cmd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Waits up to 5 s for `child` to exit on its own, then kills it.
fn stop(child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Rclone {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.mount_log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            eprintln!("rclone mount log, last lines:\n{}", tail.join("\n"));
        }
        if let Some(mut mount) = self.mount.take() {
            // rclone unmounts and exits on fusermount3 -u; a lazy unmount
            // when something still holds the mount (a test that panicked
            // with files open).
            let m = self.mnt.as_os_str();
            run_limited(10, "fusermount3", &["-u".as_ref(), m]);
            if super::is_mounted(&self.mnt) {
                run_limited(10, "umount", &["-l".as_ref(), m]);
            }
            stop(&mut mount);
        }
        // The server holds nothing worth a clean end: its directory goes.
        let _ = self.serve.kill();
        let _ = self.serve.wait();
    }
}
