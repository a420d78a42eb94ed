//! The mount against a local filesystem, call for call: modes under the
//! caller's umask, set-ID bits on create and on write, attributes of open
//! files. Each test makes the same calls on a plain directory and through
//! an `allow_other` mount (writeback cache on), as root and as `nobody`,
//! and compares what each shows.
//!
//! Calls that need another umask or another user run in a child process:
//! this test binary again, running only the ignored test `helper`, told
//! what to do by the environment variable [`OP`].

mod common;

use common::{Kind, Mounted};
use rustix::fs::{FileType, Mode, OFlags, CWD};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// The environment variable that carries the helper's task.
const OP: &str = "FUSECRY_POSIX_OP";
/// Prefix of the helper's result lines on stdout.
const OUT: &str = "POSIX-RESULT ";
const NOBODY: u32 = 65534;

/// Modes asked for regular files, nodes and FIFOs: plain, set-user-ID,
/// set-group-ID with and without group execute, sticky.
const FILE_MODES: [u32; 8] = [0o620, 0o606, 0o777, 0o4777, 0o2777, 0o2670, 0o1777, 0o6755];
/// Modes asked for directories (mkdir drops set-ID bits, keeps sticky).
const DIR_MODES: [u32; 5] = [0o700, 0o755, 0o777, 0o1777, 0o7777];
const UMASKS: [u32; 3] = [0, 0o022, 0o077];

fn volume() -> Kind {
    Kind::V1 {
        cs: 4096,
        names: true,
    }
}

/// Runs the helper with task `op` as `uid` (and its group); returns its
/// result lines.
fn run_helper(op: &str, uid: u32) -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let mut c = std::process::Command::new(exe);
    c.args([
        "--exact",
        "helper",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(OP, op);
    if uid != 0 {
        c.uid(uid).gid(uid);
    }
    let out = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "helper {op:?} as uid {uid} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        // The harness may print its own text before ours on a line.
        .filter_map(|l| l.split_once(OUT).map(|(_, r)| r.to_string()))
        .collect()
}

/// Not a test of its own: the child process of the tests below.
#[test]
#[ignore = "run by the other tests of this file, as another user or umask"]
fn helper() {
    let op = std::env::var(OP).expect("FUSECRY_POSIX_OP names the task");
    let args: Vec<&str> = op.split('\t').collect();
    match args[0] {
        "make" => {
            let umask = u32::from_str_radix(args[1], 8).unwrap();
            nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_retain(umask));
            for dir in &args[2..] {
                make_entries(Path::new(dir));
            }
        }
        "write" => {
            let direct = args[1] == "direct";
            for path in &args[2..] {
                let mode = write_and_fstat(Path::new(path), direct);
                println!("{OUT}{path}\t{mode:o}");
            }
        }
        other => panic!("unknown helper task {other:?}"),
    }
}

/// Every kind of entry, in every mode of the matrix, in `dir` and in its
/// set-group-ID subdirectory `sg`.
fn make_entries(dir: &Path) {
    let root = nix::unistd::geteuid().is_root();
    for base in [dir.to_path_buf(), dir.join("sg")] {
        let at = |name: String| base.join(name);
        for m in FILE_MODES {
            let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY;
            rustix::fs::open(at(format!("f{m:o}")), flags, Mode::from_raw_mode(m)).unwrap();
            let node = |name: String, t: FileType, rdev: u64| {
                rustix::fs::mknodat(CWD, at(name), t, Mode::from_raw_mode(m), rdev).unwrap()
            };
            node(format!("r{m:o}"), FileType::RegularFile, 0);
            node(format!("n{m:o}"), FileType::Fifo, 0);
            if root {
                node(
                    format!("c{m:o}"),
                    FileType::CharacterDevice,
                    rustix::fs::makedev(1, 3),
                );
            }
            nix::unistd::mkfifo(
                &at(format!("p{m:o}")),
                nix::sys::stat::Mode::from_bits_retain(m),
            )
            .unwrap();
        }
        for m in DIR_MODES {
            rustix::fs::mkdir(at(format!("d{m:o}")), Mode::from_raw_mode(m)).unwrap();
        }
        std::os::unix::fs::symlink("some/target", at("l".into())).unwrap();
    }
}

/// Opens `path` for writing (O_DIRECT if `direct`), writes one aligned
/// block at offset 0 and returns the mode its descriptor then shows.
fn write_and_fstat(path: &Path, direct: bool) -> u32 {
    let mut flags = OFlags::WRONLY;
    if direct {
        flags |= OFlags::DIRECT;
    }
    let fd = rustix::fs::open(path, flags, Mode::empty())
        .unwrap_or_else(|e| panic!("{}: open for writing: {e}", path.display()));
    // O_DIRECT wants an aligned buffer on the plain (ext4) side.
    let mut buf = vec![7u8; 8192];
    let skip = buf.as_ptr().align_offset(4096);
    let block = &mut buf[skip..skip + 4096];
    assert_eq!(rustix::io::pwrite(&fd, block, 0).unwrap(), 4096);
    rustix::fs::fstat(&fd).unwrap().st_mode & 0o7777
}

/// A plain directory and an `allow_other` mount, both open to everyone.
struct Pair {
    m: Mounted,
    plain: PathBuf,
}

impl Pair {
    fn new() -> Pair {
        Pair::of(volume())
    }

    fn of(kind: Kind) -> Pair {
        let m = Mounted::shared(kind);
        fs::set_permissions(m.tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&m.mnt, fs::Permissions::from_mode(0o777)).unwrap();
        let plain = m.tmp.path().join("plain");
        fs::create_dir(&plain).unwrap();
        fs::set_permissions(&plain, fs::Permissions::from_mode(0o777)).unwrap();
        Pair { m, plain }
    }

    /// Makes directory `rel` with `mode` (chmod, past our own umask) on both sides.
    fn dir(&self, rel: &str, mode: u32) {
        for base in [&self.plain, &self.m.mnt] {
            fs::create_dir(base.join(rel)).unwrap();
            fs::set_permissions(base.join(rel), fs::Permissions::from_mode(mode)).unwrap();
        }
    }
}

/// What a local filesystem decides about an entry.
fn shape(p: &Path) -> (u32, u32, u32, u64) {
    let md = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (md.mode(), md.uid(), md.gid(), md.rdev())
}

fn show((mode, uid, gid, rdev): (u32, u32, u32, u64)) -> String {
    format!("mode {mode:o} uid {uid} gid {gid} rdev {rdev:#x}")
}

/// Compares every entry under `rel` of the plain side with the mount and
/// with the backing entry; returns the differences.
fn compare_tree(pair: &Pair, rel: &str, what: &str) -> Vec<String> {
    let mut diffs = Vec::new();
    let mut names = Vec::new();
    for sub in ["", "/sg"] {
        let dir = pair.plain.join(format!("{rel}{sub}"));
        for e in fs::read_dir(&dir).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name != "sg" {
                names.push(format!("{rel}{sub}/{name}"));
            }
        }
        let listed = fs::read_dir(pair.m.mnt.join(format!("{rel}{sub}")))
            .unwrap()
            .count();
        if listed != fs::read_dir(&dir).unwrap().count() {
            diffs.push(format!(
                "{what}: {rel}{sub}: the mount lists {listed} entries"
            ));
        }
    }
    assert!(
        names.len() > 40,
        "{what}: the helper made too little: {names:?}"
    );
    for n in names {
        let want = shape(&pair.plain.join(&n));
        let (through, backing) = (shape(&pair.m.p(&n)), shape(&pair.m.backing(&n)));
        let backing = (backing.0, backing.1, backing.2, want.3);
        if through != want || backing != want {
            diffs.push(format!(
                "{what}: {n}: plain {}, mount {}, backing {}",
                show(want),
                show(through),
                show(backing)
            ));
        }
    }
    diffs
}

/// umask {0, 022, 077} × {open O_CREAT, mknod, mkfifo, mkdir, symlink} ×
/// modes with and without set-ID and sticky bits, in a plain and in a
/// set-group-ID directory, as root and as nobody: the mount gives every
/// entry the mode, owner and group the plain directory gives it, and
/// stores them so.
#[test]
fn created_entries_get_the_mode_owner_and_group_a_local_filesystem_gives() {
    let mut diffs = Vec::new();
    for kind in common::all_kinds() {
        diffs.extend(creation_matrix(kind));
    }
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

fn creation_matrix(kind: Kind) -> Vec<String> {
    let pair = Pair::of(kind);
    let mut diffs = Vec::new();
    for (who, uid) in [("root", 0), ("nobody", NOBODY)] {
        for umask in UMASKS {
            let rel = format!("{who}-{umask:03o}");
            pair.dir(&rel, 0o777);
            // Root's group, which nobody is not in: set-group-ID is
            // inherited and stripped from nobody's group-executable files.
            pair.dir(&format!("{rel}/sg"), 0o2777);
            let dirs = [pair.plain.join(&rel), pair.m.p(&rel)];
            let op = format!(
                "make\t{umask:o}\t{}\t{}",
                dirs[0].display(),
                dirs[1].display()
            );
            run_helper(&op, uid);
            diffs.extend(compare_tree(
                &pair,
                &rel,
                &format!("{kind:?}: as {who}, umask {umask:03o}"),
            ));
        }
    }
    diffs
}

/// Another user may open a set-user-ID file that everyone may write, and
/// the write clears set-user-ID, and set-group-ID where the group may
/// execute or the writer is not in the file's group, buffered or
/// O_DIRECT: the writer's own fstat right after the
/// write, everyone's stat and the backing file show it at once, as on a
/// plain directory. Root's writes keep the bits.
#[test]
fn a_write_by_another_user_clears_set_id_bits_at_once() {
    let pair = Pair::new();
    let mut diffs = Vec::new();
    for (who, uid) in [("nobody", NOBODY), ("root", 0)] {
        for io in ["buffered", "direct"] {
            let rel = format!("{who}-{io}");
            pair.dir(&rel, 0o777);
            let mut paths = Vec::new();
            // Group root, which nobody is not in, and nobody's own group.
            let files = [0o4777, 0o6777, 0o6767, 0o2777, 0o1777]
                .map(|m| (m, 0))
                .into_iter()
                .chain([(0o6767, NOBODY), (0o6777, NOBODY)]);
            for (m, gid) in files {
                let name = format!("{rel}/m{m:o}-g{gid}");
                for base in [&pair.plain, &pair.m.mnt] {
                    let p = base.join(&name);
                    fs::write(&p, b"before").unwrap();
                    std::os::unix::fs::chown(&p, None, Some(gid)).unwrap();
                    fs::set_permissions(&p, fs::Permissions::from_mode(m)).unwrap();
                    paths.push(p);
                }
            }
            let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            let fstat: std::collections::HashMap<String, String> =
                run_helper(&format!("write\t{io}\t{}", list.join("\t")), uid)
                    .into_iter()
                    .map(|l| {
                        let (p, m) = l.split_once('\t').unwrap();
                        (p.to_string(), m.to_string())
                    })
                    .collect();
            for pair_paths in paths.chunks(2) {
                let (plain, mounted) = (&pair_paths[0], &pair_paths[1]);
                let name = mounted.strip_prefix(&pair.m.mnt).unwrap().to_str().unwrap();
                let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o7777;
                let want = (&fstat[&plain.display().to_string()], mode(plain));
                let got = (&fstat[&mounted.display().to_string()], mode(mounted));
                let stored = mode(&pair.m.backing(name));
                if got.0 != want.0 || got.1 != want.1 || stored != want.1 {
                    diffs.push(format!(
                        "{who}, {io}: {name}: plain: fstat {} stat {:o}; mount: fstat {} stat {:o} backing {stored:o}",
                        want.0, want.1, got.0, got.1
                    ));
                }
                let data = fs::read(mounted).unwrap();
                assert_eq!(data.len(), 4096, "{name}: size after the write");
                assert!(
                    data.iter().all(|&b| b == 7),
                    "{name}: content after the write"
                );
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// fstat of an open file whose name a rename then gave to another file
/// answers from the open file: its own size, mode and inode, as on a
/// plain directory; so does fstat after an unlink.
#[test]
fn fstat_of_an_open_file_replaced_by_a_rename_answers_from_the_handle() {
    use std::io::Write;
    let pair = Pair::new();
    for base in [pair.plain.clone(), pair.m.mnt.clone()] {
        let (f, g) = (base.join("f"), base.join("g"));
        let mut fd = fs::OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&f)
            .unwrap();
        fd.write_all(b"hello").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
        let before = fd.metadata().unwrap();
        fs::write(&g, b"another, longer file").unwrap();
        fs::rename(&g, &f).unwrap();
        if base == pair.m.mnt {
            // Past the kernel's attribute cache: the daemon must answer.
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        let after = fd
            .metadata()
            .unwrap_or_else(|e| panic!("{}: fstat after the rename: {e}", f.display()));
        let shown = |m: &fs::Metadata| (m.ino(), m.len(), m.mode(), m.nlink());
        assert_eq!(
            shown(&after),
            (before.ino(), 5, before.mode(), 0),
            "{}: fstat after the rename",
            f.display()
        );
        assert_eq!(fs::metadata(&f).unwrap().len(), 20);
        // Still writable and sized through the handle.
        fd.write_all(b"!").unwrap();
        assert_eq!(fd.metadata().unwrap().len(), 6, "{}", f.display());
        fs::remove_file(&f).unwrap();
        assert_eq!(fd.metadata().unwrap().len(), 6, "{}", f.display());
    }
}

/// Files written every way a program writes: the names of the files made.
fn write_every_way(m: &Mounted) -> [&'static str; 6] {
    use std::io::Write;
    let open = |rel: &str| {
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(m.p(rel))
            .unwrap()
    };
    // Written and closed at once (often within the clock tick of the create).
    open("small").write_all(b"x").unwrap();
    // Many write requests, still dirty in the kernel when stat looks.
    open("big").write_all(&vec![3u8; 3 << 20]).unwrap();
    // Appended and fsynced.
    fs::write(m.p("synced"), b"abc").unwrap();
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(m.p("synced"))
        .unwrap();
    f.write_all(b"def").unwrap();
    f.sync_all().unwrap();
    drop(f);
    // Truncated, grown by fallocate, given an mtime and then written.
    open("cut").write_all(&[1; 10000]).unwrap();
    open("cut").set_len(77).unwrap();
    rustix::fs::fallocate(
        open("grown"),
        rustix::fs::FallocateFlags::empty(),
        0,
        50_000,
    )
    .unwrap();
    open("dated")
        .set_modified(std::time::UNIX_EPOCH + std::time::Duration::new(1_000_000, 5))
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    open("dated").write_all(b"later").unwrap();
    ["small", "big", "synced", "cut", "grown", "dated"]
}

/// (mtime s, ns, ctime s, ns, size) of `n`.
fn times(m: &Mounted, n: &str) -> (i64, i64, i64, i64, u64) {
    let md = fs::metadata(m.p(n)).unwrap();
    (
        md.mtime(),
        md.mtime_nsec(),
        md.ctime(),
        md.ctime_nsec(),
        md.len(),
    )
}

/// With the writeback cache the kernel keeps its own mtime for a regular
/// file (our first reply, then its own clock on each write, sent back by
/// setattr only when it changed): the mtime each file shows while
/// mounted is the one it shows after a remount, whatever the order in
/// which its data reached the daemon. Its ctime is the kernel's too, and
/// no call sets a ctime: the one stored is when the daemon applied the
/// kernel's times, never earlier than the one shown (README, caching).
#[test]
fn mtimes_shown_while_mounted_are_the_stored_ones() {
    let m = Mounted::new(volume());
    let names = write_every_way(&m);
    let shown: Vec<_> = names.iter().map(|n| times(&m, n)).collect();
    let m = m.remount(fusecry_fuse::MountOptions::default());
    let stored: Vec<_> = names.iter().map(|n| times(&m, n)).collect();
    for ((n, a), b) in names.iter().zip(&shown).zip(&stored) {
        assert_eq!(
            (a.0, a.1, a.4),
            (b.0, b.1, b.4),
            "{n}: (mtime s, ns, size) mounted, then remounted"
        );
        assert!(
            (a.2, a.3) <= (b.2, b.3),
            "{n}: ctime stored before the one shown"
        );
    }
}

/// Without the writeback cache every time is the daemon's: mtime and
/// ctime shown while mounted are exactly the stored ones.
#[test]
fn without_writeback_ctimes_shown_are_the_stored_ones_too() {
    let mut o = fusecry_fuse::MountOptions::default();
    o.fs.writeback = false;
    let m = Mounted::with(volume(), o.clone());
    let names = write_every_way(&m);
    let shown: Vec<_> = names.iter().map(|n| times(&m, n)).collect();
    let m = m.remount(o);
    let stored: Vec<_> = names.iter().map(|n| times(&m, n)).collect();
    assert_eq!(
        shown, stored,
        "(mtime s, ns, ctime s, ns, size) of {names:?}: mounted, then remounted"
    );
}
