//! Helpers shared by repair.rs and crash.rs: running the CLI under a time
//! limit, and watching a mount point.

use std::fs;
use std::path::Path;
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
#[allow(dead_code)]
pub fn is_mounted(mnt: &Path) -> bool {
    let c = mnt.canonicalize().unwrap_or(mnt.to_path_buf());
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(c.to_str().unwrap()))
}

/// Waits until `f` holds, at most [`LIMIT`].
#[allow(dead_code)]
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < LIMIT, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
