//! The crash matrix (issue 15): a seeded mixed workload (writes, appends,
//! overwrites, truncates, renames, mkdir, create, fsync) on a real
//! `fusecry mount`, the daemon killed with SIGKILL at seeded moments. After
//! each kill: every file fsynced since its last change is byte-exact after
//! a remount, fsck names only files that were being written, what it
//! reports unreadable lies inside the ranges being written, `fsck --repair`
//! leaves a clean volume, and every byte outside those ranges is as it was.
//!
//! FUSECRY_CRASH_SEED=N repeats a run; FUSECRY_CRASH_KILLS=N sets the number
//! of kill points (default 20). The seed is printed on failure. Needs root
//! and /dev/fuse, as mount.rs does.

use std::fs;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::{is_mounted, wait_for, Env, BIN, CHEAP, LIMIT};

const CS: u64 = 4096;

/// splitmix64: a seeded stream, so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn fusecry(args: &[&str]) -> Output {
    common::fusecry_in(Path::new("/"), args)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One file of the model. Paths are relative to the mount point.
#[derive(Clone, Debug)]
struct FileM {
    path: PathBuf,
    /// Where a rename in flight at the kill may have put it.
    alt: Option<PathBuf>,
    /// A create in flight at the kill: the file may not exist.
    creating: bool,
    /// Content as of the last fsync (what must be durable).
    synced: Vec<u8>,
    /// Content after every operation done so far.
    cur: Vec<u8>,
    /// Plaintext ranges written since the last fsync, chunk-aligned; the
    /// end is `u64::MAX` where the size changed (open-ended).
    written: Vec<(u64, u64)>,
}

impl FileM {
    fn dirty(&self) -> bool {
        !self.written.is_empty()
    }
    fn inside(&self, first: u64, last: u64) -> bool {
        self.written.iter().any(|&(a, b)| a <= first && last < b)
    }
}

#[derive(Default)]
struct Model {
    files: Vec<FileM>,
    dirs: Vec<PathBuf>,
    /// A mkdir in flight at the kill: that directory may be half made.
    mkdir: Option<PathBuf>,
    names: u64,
}

impl Model {
    fn fresh(&mut self, rng: &mut Rng) -> PathBuf {
        self.names += 1;
        let dir = rng.below(self.dirs.len() as u64 + 1) as usize;
        let name = format!("f{}", self.names);
        match self.dirs.get(dir) {
            Some(d) => d.join(name),
            None => PathBuf::from(name),
        }
    }
}

fn down(x: u64) -> u64 {
    x / CS * CS
}

fn up(x: u64) -> u64 {
    x.div_ceil(CS) * CS
}

/// Set while a large append is in flight: the kill waits for one, so that
/// most kill points fall inside a write rather than between operations.
static APPENDING: AtomicBool = AtomicBool::new(false);

/// One operation of the workload on `mnt`. The ranges it may tear are
/// recorded in the model *before* it runs, so a kill in the middle of it
/// finds them there. Returns false when a call failed (the daemon is gone).
fn step(mnt: &Path, m: &Mutex<Model>, rng: &mut Rng) -> bool {
    let mut g = m.lock().unwrap();
    let r = rng.below(100);
    // At most 24 files of at most 4 MiB: a long run's volume stays small.
    if g.files.is_empty() || (r < 3 && g.files.len() < 24) {
        let p = g.fresh(rng);
        g.files.push(FileM {
            path: p.clone(),
            alt: None,
            creating: true,
            synced: vec![],
            cur: vec![],
            // The empty form is written by the create itself.
            written: vec![(0, u64::MAX)],
        });
        drop(g);
        let ok = fs::File::create(mnt.join(p)).is_ok();
        if ok {
            m.lock().unwrap().files.last_mut().unwrap().creating = false;
        }
        return ok;
    }
    if r < 5 && g.dirs.len() < 4 {
        g.names += 1;
        let d = PathBuf::from(format!("d{}", g.names));
        g.mkdir = Some(d.clone());
        drop(g);
        let ok = fs::create_dir(mnt.join(&d)).is_ok();
        let mut g = m.lock().unwrap();
        if ok {
            g.dirs.push(d);
            g.mkdir = None;
        }
        return ok;
    }
    let i = rng.below(g.files.len() as u64) as usize;
    let f = &mut g.files[i];
    let path = mnt.join(&f.path);
    let len = f.cur.len() as u64;
    // Files stay under 4 MiB: past that an append or write becomes a
    // shrinking truncate, so the volume stays small whatever the seed.
    let r = if len > (4 << 20) && r < 65 { 65 } else { r };
    match r {
        // Overwrite or write past the end.
        5..=44 => {
            let off = rng.below(len + 2 * CS);
            let n = 1 + rng.below(256 << 10);
            let byte = rng.next() as u8 | 1;
            f.written.push((down(off), up(off + n)));
            if off + n > len {
                f.written.push((down(off.min(len)), u64::MAX));
            }
            let end = (off + n) as usize;
            if f.cur.len() < end {
                f.cur.resize(end, 0);
            }
            f.cur[off as usize..end].fill(byte);
            drop(g);
            fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|h| h.write_all_at(&vec![byte; n as usize], off))
                .is_ok()
        }
        // Append.
        45..=64 => {
            // Large appends: a kill often lands inside one.
            let n = 1 + rng.below(2 << 20);
            let byte = rng.next() as u8 | 1;
            f.written.push((down(len), u64::MAX));
            f.cur.extend(std::iter::repeat_n(byte, n as usize));
            drop(g);
            APPENDING.store(true, Ordering::SeqCst);
            // The close flushes what the writeback cache holds.
            let ok = fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .and_then(|mut h| h.write_all(&vec![byte; n as usize]))
                .is_ok();
            APPENDING.store(false, Ordering::SeqCst);
            ok
        }
        // Truncate, shrinking or growing.
        65..=72 => {
            let new = rng.below(len + 3 * CS);
            f.written.push((down(new.min(len)), u64::MAX));
            f.cur.resize(new as usize, 0);
            drop(g);
            fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|h| h.set_len(new))
                .is_ok()
        }
        // Rename to a fresh name, maybe into another directory.
        73..=80 => {
            let to = g.fresh(rng);
            let f = &mut g.files[i];
            f.alt = Some(to.clone());
            drop(g);
            let ok = fs::rename(&path, mnt.join(&to)).is_ok();
            let mut g = m.lock().unwrap();
            let f = &mut g.files[i];
            if ok {
                f.path = to;
                f.alt = None;
            }
            ok
        }
        // fsync: from here the file must survive the kill byte for byte.
        _ => {
            drop(g);
            let ok = fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|h| h.sync_all())
                .is_ok();
            if ok {
                let mut g = m.lock().unwrap();
                let f = &mut g.files[i];
                f.synced = f.cur.clone();
                f.written.clear();
            }
            ok
        }
    }
}

impl Env {
    /// A background mount (the first one creates the volume).
    fn mount(&self, extra: &[&str]) {
        let mut a = vec![
            "mount",
            s(&self.cipher),
            s(&self.mnt),
            "--password-file",
            s(&self.pw),
            "--log",
            s(&self.log),
        ];
        a.extend_from_slice(&CHEAP);
        a.extend_from_slice(extra);
        let o = fusecry(&a);
        assert!(
            o.status.success(),
            "mount: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        wait_for("mount", || is_mounted(&self.mnt));
    }

    /// Unmounts, retrying while the mount is busy (a file the kernel has
    /// not released yet).
    fn umount(&self) {
        let mut err = String::new();
        wait_for("unmount", || {
            let o = fusecry(&["umount", s(&self.mnt)]);
            err = String::from_utf8_lossy(&o.stderr).into_owned();
            o.status.success() || !err.contains("busy")
        });
        assert!(!err.contains("cannot"), "{err}");
        wait_for("unmount", || !is_mounted(&self.mnt));
    }

    /// A foreground daemon: the process the test kills.
    fn daemon(&self, extra: &[&str]) -> Child {
        let mut child = Command::new(BIN)
            .args(["mount", s(&self.cipher), s(&self.mnt), "-f"])
            .args(["--password-file", s(&self.pw)])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&self.log).unwrap())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !is_mounted(&self.mnt) {
            let exited = child.try_wait().unwrap();
            assert!(
                exited.is_none() && start.elapsed() < LIMIT,
                "daemon did not mount ({exited:?}): {}",
                fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        child
    }

    fn fsck(&self, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
        let mut a = vec![
            "fsck",
            s(&self.cipher),
            "--json",
            "--password-file",
            s(&self.pw),
        ];
        a.extend_from_slice(extra);
        let o = fusecry(&a);
        let v = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("fsck --json: {e}: {}", String::from_utf8_lossy(&o.stderr)));
        (o.status.code(), v)
    }
}

/// The model file a plaintext path from fsck ("/d3/f7") belongs to.
fn owner<'a>(m: &'a Model, plain: &str) -> Option<&'a FileM> {
    let p = Path::new(plain.trim_start_matches('/'));
    m.files
        .iter()
        .find(|f| f.path == p || f.alt.as_deref() == Some(p))
}

/// Checks fsck's report after a kill against the model: only files being
/// written are named, and only inside the ranges being written.
fn check_report(m: &Model, v: &serde_json::Value, key: &str) {
    for d in v["damaged"].as_array().unwrap() {
        let path = d["path"].as_str().unwrap();
        if let Some(dir) = &m.mkdir {
            if path == format!("/{}/", dir.display()) {
                continue;
            }
        }
        let f = owner(m, path).unwrap_or_else(|| panic!("fsck named {path}, no file of ours: {v}"));
        assert!(
            f.dirty(),
            "fsck named {path}, fsynced since its last change: {d}"
        );
        let ranges = match key {
            "unreadable" => &d["unreadable"],
            _ => &d["repaired"]["lost"],
        };
        for r in ranges.as_array().into_iter().flatten() {
            let (a, b) = (
                r["first_byte"].as_u64().unwrap(),
                r["last_byte"].as_u64().unwrap(),
            );
            assert!(
                f.inside(a, b),
                "{path}: {key} bytes {a}-{b} outside the ranges being written {:?}",
                f.written
            );
        }
    }
}

/// One kill point: run the workload on a daemon, kill it after `ms`, then
/// check, repair, remount and check again. Leaves the model matching the
/// volume.
fn kill_point(e: &Env, m: &Arc<Mutex<Model>>, rng: &mut Rng) -> (usize, usize) {
    let seed = rng.next();
    let ms = 20 + rng.below(300);
    // Half the kill points without the writeback cache: then the daemon
    // sees each write as the program makes it.
    let mut daemon = e.daemon(if rng.below(2) == 0 {
        &["-o", "nowriteback"]
    } else {
        &[]
    });
    let killed = Arc::new(AtomicBool::new(false));
    let worker = {
        let (m, killed, mnt) = (m.clone(), killed.clone(), e.mnt.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(seed);
            let mut ops = 0;
            while step(&mnt, &m, &mut rng) {
                ops += 1;
            }
            // A call may only fail because the daemon was killed.
            assert!(
                killed.load(Ordering::SeqCst),
                "a call failed before the kill"
            );
            ops
        })
    };
    std::thread::sleep(Duration::from_millis(ms));
    let start = Instant::now();
    while !APPENDING.load(Ordering::SeqCst) && start.elapsed() < Duration::from_millis(500) {
        std::thread::sleep(Duration::from_micros(200));
    }
    std::thread::sleep(Duration::from_micros(rng.below(20_000)));
    killed.store(true, Ordering::SeqCst);
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let _ = nix::mount::umount2(&e.mnt, nix::mount::MntFlags::MNT_DETACH);
    let ops = worker.join().map_err(std::panic::resume_unwind).unwrap();
    wait_for("dead mount gone", || !is_mounted(&e.mnt));

    let mut g = m.lock().unwrap();
    let (_, v) = e.fsck(&[]);
    check_report(&g, &v, "unreadable");
    let damaged = v["damaged"].as_array().unwrap().len();
    let (code, v) = e.fsck(&["--repair"]);
    assert_eq!(code, Some(0), "fsck --repair left damage: {v}");
    check_report(&g, &v, "lost");
    let (code, v) = e.fsck(&[]);
    assert_eq!(code, Some(0), "not clean after --repair: {v}");

    e.mount(&[]);
    if let Some(d) = g.mkdir.take() {
        if e.mnt.join(&d).is_dir() {
            g.dirs.push(d);
        }
    }
    let mnt = e.mnt.clone();
    g.files
        .retain(|f| !f.creating || mnt.join(&f.path).exists());
    for f in &mut g.files {
        f.creating = false;
        if let Some(alt) = f.alt.take() {
            if e.mnt.join(&alt).exists() {
                f.path = alt;
            }
        }
        let got = fs::read(e.mnt.join(&f.path))
            .unwrap_or_else(|err| panic!("{}: {err} after repair", f.path.display()));
        if !f.dirty() {
            assert!(
                got == f.synced,
                "{}: fsynced content differs after the kill ({} bytes, want {})",
                f.path.display(),
                got.len(),
                f.synced.len()
            );
        } else {
            for (i, (a, b)) in got.iter().zip(&f.synced).enumerate() {
                assert!(
                    a == b || f.inside(i as u64, i as u64),
                    "{}: byte {i} changed outside the ranges being written {:?}",
                    f.path.display(),
                    f.written
                );
            }
            // Bytes it no longer has were being written too.
            if got.len() < f.synced.len() {
                let (a, b) = (got.len() as u64, f.synced.len() as u64 - 1);
                assert!(
                    (a..=b).step_by(CS as usize).all(|i| f.inside(i, i)) && f.inside(b, b),
                    "{}: bytes {a}-{b} lost outside the ranges being written {:?}",
                    f.path.display(),
                    f.written
                );
            }
        }
        // What the volume holds now is the new starting point.
        f.synced = got.clone();
        f.cur = got;
        f.written.clear();
    }
    e.umount();
    (ops, damaged)
}

/// A hung read or write on the mount would hang the test for good: past
/// `limit` the watchdog detaches the mount and ends the process, naming
/// the seed.
fn watchdog(mnt: PathBuf, seed: u64, limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("crash matrix HUNG for {limit:?}: repeat with FUSECRY_CRASH_SEED={seed}");
        let _ = nix::mount::umount2(&mnt, nix::mount::MntFlags::MNT_DETACH);
        std::process::exit(101);
    });
}

fn run(seed: u64, kills: u64) {
    let e = Env::new("crash password");
    watchdog(
        e.mnt.clone(),
        seed,
        LIMIT + Duration::from_secs(20) * kills as u32,
    );
    e.mount(&["--chunk-size", "4096"]);
    e.umount();
    let m = Arc::new(Mutex::new(Model::default()));
    let mut rng = Rng(seed);
    let (mut ops, mut damaged, mut torn_points) = (0, 0, 0);
    for _ in 0..kills {
        let (o, d) = kill_point(&e, &m, &mut rng);
        ops += o;
        damaged += d;
        torn_points += usize::from(d > 0);
    }
    let g = m.lock().unwrap();
    let bytes: usize = g.files.iter().map(|f| f.cur.len()).sum();
    println!(
        "crash matrix seed={seed}: {kills} kills ({torn_points} left damage, {damaged} damaged entries repaired), \
         {ops} operations, {} files ({bytes} bytes), {} dirs",
        g.files.len(),
        g.dirs.len()
    );
}

#[test]
fn crash_matrix() {
    let seed = std::env::var("FUSECRY_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let kills = std::env::var("FUSECRY_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let start = Instant::now();
    if let Err(p) = std::panic::catch_unwind(|| run(seed, kills)) {
        eprintln!("crash matrix FAILED: repeat with FUSECRY_CRASH_SEED={seed} FUSECRY_CRASH_KILLS={kills}");
        std::panic::resume_unwind(p);
    }
    println!("crash matrix took {:?}", start.elapsed());
}

/// README "Durability", power-cut half: a cut cannot be made here, so the
/// daemon runs under `strace -y` and the test checks that the syncs that
/// durability rests on reach the backing store: `fsync` of a file syncs its
/// backing file, `mkdir` syncs the new directory's IV and the directory,
/// and `fsync` of a directory syncs the backing directory. test.sh installs
/// strace.
#[test]
fn fsync_and_fsyncdir_reach_the_backing_store() {
    let e = Env::new("crash password");
    e.mount(&["--chunk-size", "4096"]);
    e.umount();
    let trace = e.cipher.parent().unwrap().join("strace.log");
    let mut daemon = Command::new("strace")
        .args([
            "-f",
            "-y",
            "-qq",
            "-e",
            "trace=fsync,fdatasync",
            "-o",
            s(&trace),
        ])
        .args([BIN, "mount", s(&e.cipher), s(&e.mnt), "-f"])
        .args(["--password-file", s(&e.pw)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("strace is needed (test.sh installs it)");
    wait_for("mount under strace", || is_mounted(&e.mnt));
    let cipher = e.cipher.canonicalize().unwrap();
    let c = s(&cipher).to_string();
    let synced = |what: &str, want: &dyn Fn(&str) -> bool| {
        let log = fs::read_to_string(&trace).unwrap();
        assert!(
            log.lines().any(|l| !l.contains("= -1") && want(l)),
            "{what}: no such sync in the daemon's trace:\n{log}"
        );
        fs::write(&trace, "").unwrap();
    };

    let mut f = fs::File::create(e.mnt.join("file")).unwrap();
    f.write_all(&[7u8; 10_000]).unwrap();
    fs::write(&trace, "").unwrap();
    f.sync_all().unwrap();
    // fsync(7</…/cipher/NAME>) of the file's backing file.
    synced("fsync of a file", &|l| {
        (l.contains(" fsync(") || l.contains(" fdatasync("))
            && l.contains(&format!("<{c}/"))
            && !l.contains("fusecry.")
    });

    fs::create_dir(e.mnt.join("dir")).unwrap();
    synced("mkdir: the new IV", &|l| {
        l.contains(" fdatasync(") && l.contains("/fusecry.diriv>")
    });
    fs::create_dir(e.mnt.join("dir2")).unwrap();
    synced("mkdir: the new directory", &|l| {
        l.contains(" fsync(") && l.contains(&format!("<{c}/")) && !l.contains("fusecry.")
    });

    fs::write(e.mnt.join("dir/new"), "x").unwrap();
    fs::rename(e.mnt.join("dir/new"), e.mnt.join("moved")).unwrap();
    fs::write(&trace, "").unwrap();
    fs::File::open(&e.mnt).unwrap().sync_all().unwrap();
    synced("fsync of the root directory", &|l| {
        l.contains(" fsync(") && l.contains(&format!("<{c}>"))
    });

    drop(f);
    e.umount();
    let _ = daemon.kill();
    daemon.wait().unwrap();
}
