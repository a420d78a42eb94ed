//! Helpers shared by repair.rs and crash.rs: running the CLI under a time
//! limit, and watching a mount point.

#![allow(dead_code)] // each test file uses a part

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_fusecry");

/// Argon2 parameters that make a new password slot cheap (tests only).
pub const CHEAP: [&str; 6] = [
    "--argon2-memory",
    "64",
    "--argon2-iterations",
    "1",
    "--argon2-lanes",
    "1",
];

/// Every command, and every wait, is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(60);

/// Runs fusecry in `dir` with `args`, without standard input or a password
/// in the environment, killed after [`LIMIT`] (a hang is a failure).
pub fn fusecry_in(dir: &Path, args: &[&str]) -> Output {
    run_limited(
        Command::new(BIN)
            .args(args)
            .current_dir(dir)
            .env_remove("FUSECRY_PASSWORD"),
    )
}

/// Runs `cmd` without standard input to its end, capturing its output;
/// killed after [`LIMIT`] (a hang is a failure).
pub fn run_limited(cmd: &mut Command) -> Output {
    let mut c = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while c.try_wait().unwrap().is_none() {
        if start.elapsed() > LIMIT {
            let _ = c.kill();
            panic!("{cmd:?} did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    c.wait_with_output().unwrap()
}

/// Whether something is mounted at `mnt`.
pub fn is_mounted(mnt: &Path) -> bool {
    let c = mnt.canonicalize().unwrap_or(mnt.to_path_buf());
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(c.to_str().unwrap()))
}

/// Waits until `f` holds, at most [`LIMIT`].
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < LIMIT, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A temp dir with `mnt/`, a password file holding `password`, and the
/// paths of `cipher/` (made by the first mount) and a log; unmounts `mnt`
/// (lazily) on drop.
pub struct Env {
    pub tmp: tempfile::TempDir,
    pub cipher: PathBuf,
    pub mnt: PathBuf,
    pub pw: PathBuf,
    pub log: PathBuf,
}

impl Env {
    pub fn new(password: &str) -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let cipher = tmp.path().join("cipher");
        let mnt = tmp.path().join("mnt");
        fs::create_dir(&mnt).unwrap();
        let pw = tmp.path().join("pw");
        fs::write(&pw, format!("{password}\n")).unwrap();
        let log = tmp.path().join("mount.log");
        Env {
            tmp,
            cipher,
            mnt,
            pw,
            log,
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if is_mounted(&self.mnt) {
            let _ = nix::mount::umount2(&self.mnt, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}
