//! One attack: a mounted volume and the sentinel tree beside it, what the
//! attacker plants, and every call through the mount run under a timeout
//! with its verdict collected.

use crate::calls::{
    create, lookup, names, pin, read, readdir, shell, shell_go, show, sys, verdict, via, Expect,
    OpFn,
};
use crate::common::{Kind, Mounted};
use crate::sentinel::{age_atimes, build_outside, changes, snapshot, Snapshot};
use fusecry_format::name::sidecar_name;
use fusecry_fuse::MountOptions;
use std::fs::{self, OpenOptions};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Longest any one call through the mount may take (they take milliseconds).
pub const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the planted FIFOs are opened, again and again, to release a
/// daemon blocked on one, before the call is given up as stuck.
pub const UNBLOCK_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the unmount may take.
pub const UNMOUNT_TIMEOUT: Duration = Duration::from_secs(10);

pub const ROOT_CTL: &[u8] = b"root control\n";
pub const OTHER_CTL: &[u8] = b"other control\n";
pub const SAME_CTL: &[u8] = b"same-dir control\n";
pub const VICTIM: &[u8] = b"victim content\n";

/// A name whose encoding is longer than 255 characters (SPEC §10: over 143
/// bytes), so it is stored as `fusecry.longname.*` with a sidecar.
pub fn long_name() -> String {
    "l".repeat(150)
}

/// What the attacker puts where the volume keeps something.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Plant {
    SymlinkToFile,
    SymlinkToDir,
    Fifo,
    Socket,
    Directory,
}

/// Replaces backing path `p` (whatever it is) by `what`. The original is
/// moved to `graveyard` (outside the volume, left out of the sentinel)
/// rather than deleted: a freed inode number reused by a file created
/// later would make the mount take the new file for the old one (it knows
/// files by backing device and inode), which is another test's matter and
/// would make this one's outcome depend on the allocator.
pub fn plant(p: &Path, what: Plant, outside: &Path, graveyard: &Path) {
    if fs::symlink_metadata(p).is_ok() {
        let n = fs::read_dir(graveyard).unwrap().count();
        fs::rename(p, graveyard.join(n.to_string())).unwrap();
    }
    match what {
        Plant::SymlinkToFile => std::os::unix::fs::symlink(outside.join("secret.txt"), p).unwrap(),
        Plant::SymlinkToDir => std::os::unix::fs::symlink(outside.join("dir"), p).unwrap(),
        Plant::Fifo => {
            nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap()
        }
        Plant::Socket => {
            // Bound through the parent's descriptor: a backing path can be
            // longer than a socket address (108 bytes) holds.
            let parent = pin(p.parent().unwrap());
            let short = via(&parent).join(p.file_name().unwrap());
            drop(std::os::unix::net::UnixListener::bind(short).unwrap())
        }
        Plant::Directory => fs::create_dir(p).unwrap(),
    }
}

/// Opens each FIFO and closes it again (O_RDWR | O_NONBLOCK never blocks):
/// a daemon blocked opening one gets its open back, reads end of file.
pub fn poke(fifos: &[PathBuf]) {
    for f in fifos {
        if fs::symlink_metadata(f).is_ok_and(|m| m.file_type().is_fifo()) {
            let _ = OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(f);
        }
    }
}

/// A mounted volume under attack, with the sentinel tree beside it; every
/// call through the mount goes through [`Attack::op`] or [`Attack::check`].
/// Dropping it (a panic in the test) releases what it can and unmounts.
pub struct Attack {
    pub m: Option<Mounted>,
    tmp: PathBuf,
    pub outside: PathBuf,
    pub names: bool,
    pins: Vec<OwnedFd>,
    shells: Vec<Option<Child>>,
    fifos: Vec<PathBuf>,
    before: Option<Snapshot>,
    pub problems: Vec<String>,
    /// The call that hung: later calls on the attacked entry are not run.
    hung: Option<String>,
    skipped: usize,
}

impl Attack {
    /// A fresh fusecry/1 volume (plain or encrypted names), mounted, with
    /// the sentinel tree beside it.
    pub fn new(names: bool) -> Attack {
        if std::env::var_os("HOSTILE_TRACE").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_writer(std::io::stderr)
                .try_init();
        }
        let m = Mounted::new(Kind::V1 { cs: 4096, names });
        let tmp = m.tmp.path().to_path_buf();
        let outside = build_outside(&tmp);
        fs::create_dir(tmp.join("graveyard")).unwrap();
        Attack {
            fifos: vec![outside.join("fifo")],
            m: Some(m),
            tmp,
            outside,
            names,
            pins: Vec::new(),
            shells: Vec::new(),
            before: None,
            problems: Vec::new(),
            hung: None,
            skipped: 0,
        }
    }

    pub fn m(&self) -> &Mounted {
        self.m.as_ref().unwrap()
    }

    pub fn p(&self, rel: &str) -> PathBuf {
        self.m().p(rel)
    }

    /// The volume's standard content: `ctl`, `other/ctl2`, and `d/` with
    /// `ctl`, the victims `f` (xattr `user.t`), `r`, `u`, `link` -> `f`, and
    /// with encrypted names a 150-byte name; `d` has xattr `user.t` too.
    pub fn populate(&self) {
        let w = |rel: &str, data: &[u8]| fs::write(self.p(rel), data).unwrap();
        w("ctl", ROOT_CTL);
        fs::create_dir(self.p("other")).unwrap();
        w("other/ctl2", OTHER_CTL);
        fs::create_dir(self.p("d")).unwrap();
        w("d/ctl", SAME_CTL);
        for f in ["d/f", "d/r", "d/u"] {
            w(f, VICTIM);
        }
        std::os::unix::fs::symlink("f", self.p("d/link")).unwrap();
        if self.names {
            w(&format!("d/{}", long_name()), VICTIM);
        }
        xattr::set(self.p("d"), "user.t", b"dir value").unwrap();
        xattr::set(self.p("d/f"), "user.t", b"file value").unwrap();
    }

    /// The backing path of the sidecar of long-named `rel`.
    pub fn sidecar(&self, rel: &str) -> PathBuf {
        let entry = self.m().backing(rel);
        let disk = entry.file_name().unwrap().to_str().unwrap().to_string();
        entry.with_file_name(sidecar_name(&disk))
    }

    /// Pins `rel` ([`pin`]); the path that reaches it from now on.
    pub fn pin(&mut self, rel: &str) -> PathBuf {
        let fd = pin(&self.p(rel));
        let p = via(&fd);
        self.pins.push(fd);
        p
    }

    /// Pins `rel`; the descriptor, for the `*at` calls.
    pub fn raw_pin(&mut self, rel: &str) -> RawFd {
        let fd = pin(&self.p(rel));
        let raw = fd.as_raw_fd();
        self.pins.push(fd);
        raw
    }

    /// Starts a [`shell`] in `rel` of the mount; its index for [`Attack::op_shell`].
    pub fn shell(&mut self, rel: &str, script: &str) -> usize {
        self.shells.push(Some(shell(&self.p(rel), script)));
        self.shells.len() - 1
    }

    /// Records the sentinel tree as it is before the attack.
    pub fn seal(&mut self) {
        let skip = self.skip();
        age_atimes(&self.outside, &skip);
        self.before = Some(snapshot(&self.tmp, &skip));
    }

    /// What the sentinel snapshots leave out: the volume, the mount, and
    /// the originals of what was planted.
    fn skip(&self) -> Vec<PathBuf> {
        let m = self.m();
        vec![m.cipher.clone(), m.mnt.clone(), self.tmp.join("graveyard")]
    }

    /// Plants `what` at backing path `p`.
    pub fn plant(&mut self, p: &Path, what: Plant) {
        assert!(self.before.is_some(), "seal before planting");
        plant(p, what, &self.outside, &self.tmp.join("graveyard"));
        if what == Plant::Fifo {
            self.fifos.push(p.to_path_buf());
        }
    }

    /// Seals and plants `what` at backing path `p` while unmounted, then
    /// mounts afresh: nothing the kernel or the daemon cached survives.
    pub fn plant_unmounted(&mut self, p: &Path, what: Plant) {
        self.unmount();
        self.seal();
        self.plant(p, what);
        self.remount();
    }

    /// Unmounts cleanly (before tampering with what the mount may cache).
    pub fn unmount(&mut self) {
        self.pins.clear();
        self.m.as_mut().unwrap().unmount();
    }

    /// Mounts the volume afresh: no cache in the kernel or the daemon.
    pub fn remount(&mut self) {
        self.pins.clear();
        let m = self.m.take().unwrap();
        self.m = Some(m.remount(MountOptions::default()));
    }

    /// A call on the attacked entry: skipped once a call has hung.
    pub fn op(&mut self, label: &str, expect: Expect, f: OpFn) {
        if self.hung.is_some() {
            self.skipped += 1;
            return;
        }
        self.run(label, expect, f, None, true);
    }

    /// A call that must work whatever happened to the attacked entry.
    pub fn check(&mut self, label: &str, expect: Expect, f: OpFn) {
        self.run(label, expect, f, None, true);
    }

    /// Lets shell `i` go, as a call on the attacked entry.
    pub fn op_shell(&mut self, label: &str, expect: Expect, i: usize) {
        let child = self.shells[i].take().unwrap();
        if self.hung.is_some() {
            self.skipped += 1;
            kill(child);
            return;
        }
        let pid = child.id();
        self.run(label, expect, shell_go(child), Some(pid), true);
    }

    /// Runs `f` in its own thread, waits [`OP_TIMEOUT`] and records the
    /// verdict. A call that hangs is recorded, and (if `release`) the
    /// planted FIFOs are opened until it answers.
    pub fn run(&mut self, label: &str, expect: Expect, f: OpFn, pid: Option<u32>, release: bool) {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("op {label}"))
            .spawn(move || {
                let _ = tx.send(f());
            })
            .unwrap();
        match rx.recv_timeout(OP_TIMEOUT) {
            Ok(r) => {
                // Shown with the failure: what every call answered.
                eprintln!("{label}: {}", show(&r));
                if let Some(why) = verdict(&expect, &r) {
                    self.problems.push(format!("{label}: {why}"));
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.problems.push(format!("{label}: the call panicked"));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                self.problems
                    .push(format!("{label}: hung (no answer in {OP_TIMEOUT:?})"));
                self.hung.get_or_insert_with(|| label.to_string());
                if let Some(pid) = pid {
                    // Our own shell: it only waits for the mount.
                    sys::kill(pid);
                }
                if release && !self.release(&rx) {
                    self.problems.push(format!(
                        "{label}: still blocked after opening the planted FIFOs for {UNBLOCK_TIMEOUT:?}"
                    ));
                }
            }
        }
    }

    /// Opens the FIFOs until `rx` answers; false if it never does.
    fn release<T>(&self, rx: &mpsc::Receiver<T>) -> bool {
        let start = Instant::now();
        while start.elapsed() < UNBLOCK_TIMEOUT {
            poke(&self.fifos);
            if rx.recv_timeout(Duration::from_millis(20)).is_ok() {
                return true;
            }
        }
        false
    }

    /// The control entries: a file in the root, one in `other/`, `d/ctl`
    /// when `d` is not the attacked directory, a new file, and the root.
    pub fn controls(&mut self, same_dir: bool) {
        let mut files = vec![("ctl", ROOT_CTL), ("other/ctl2", OTHER_CTL)];
        if same_dir {
            files.push(("d/ctl", SAME_CTL));
        }
        for (rel, data) in files {
            self.check(
                &format!("read {rel}"),
                Expect::Data(data.into()),
                read(self.p(rel)),
            );
        }
        self.create_and_read_back(self.p("other/after"), "other/after");
        self.check(
            "readdir other",
            names(&["after", "ctl2"], &[]),
            readdir(self.p("other")),
        );
        let mnt = self.m().mnt.clone();
        self.check("stat the mount root", Expect::Ok, lookup(mnt));
    }

    /// Creates `p` (shown as `label`) and reads it back: both must work.
    pub fn create_and_read_back(&mut self, p: PathBuf, label: &str) {
        let data = b"created after the attack\n";
        self.check(
            &format!("create {label}"),
            Expect::Ok,
            create(p.clone(), data),
        );
        self.check(
            &format!("read {label}"),
            Expect::Data(data.to_vec()),
            read(p),
        );
    }

    /// Unmounts, compares the sentinel tree and fails with every problem.
    pub fn finish(mut self) {
        self.pins.clear();
        for c in self.shells.iter_mut().filter_map(Option::take) {
            kill(c);
        }
        if let Err(e) = self.m.as_mut().unwrap().unmount_within(UNMOUNT_TIMEOUT) {
            self.problems.push(format!("unmount: {e}"));
        }
        if self.hung.is_some() {
            // Release what the daemon may still be blocked on.
            for _ in 0..25 {
                poke(&self.fifos);
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let after = snapshot(&self.tmp, &self.skip());
        let mut problems = std::mem::take(&mut self.problems);
        problems.extend(changes(self.before.as_ref().expect("sealed"), &after));
        if let Some(h) = &self.hung {
            if self.skipped > 0 {
                problems.push(format!(
                    "{} later calls on the attacked entry not run after {h:?} hung",
                    self.skipped
                ));
            }
        }
        if !problems.is_empty() {
            panic!(
                "{} problem(s):\n  - {}",
                problems.len(),
                problems.join("\n  - ")
            );
        }
    }
}

impl Drop for Attack {
    fn drop(&mut self) {
        self.pins.clear();
        for c in self.shells.iter_mut().filter_map(Option::take) {
            kill(c);
        }
        let Some(m) = self.m.as_mut() else { return };
        // A panic mid-test: release the daemon while it unmounts.
        let fifos = self.fifos.clone();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let poker = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    poke(&fifos);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        let _ = m.unmount_within(UNMOUNT_TIMEOUT);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = poker.join();
    }
}

fn kill(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}
