//! Limits as a local filesystem (SPEC §7.4, §7.6): no file grows past the
//! largest size (EFBIG, file unchanged), a grow larger than the free space
//! fails at once (ENOSPC, nothing written), and filling the backing disk
//! through the mount leaves every file readable as its last written state.

mod common;

use common::{decrypt_file, Kind, Mounted};
use fusecry_format::name::{DirIv, CONF_NAME, DIRIV_NAME, LONGNAME_PREFIX, LONGNAME_SUFFIX};
use fusecry_format::Codec;
use fusecry_fuse::MountOptions;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const V1: Kind = Kind::V1 {
    cs: 4096,
    names: true,
};

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed))
        .collect()
}

fn errno(e: &std::io::Error) -> i32 {
    e.raw_os_error()
        .unwrap_or_else(|| panic!("not an OS error: {e}"))
}

fn fallocate(f: &File, keep_size: bool, off: u64, len: u64) -> Result<(), i32> {
    let flags = if keep_size {
        rustix::fs::FallocateFlags::KEEP_SIZE
    } else {
        rustix::fs::FallocateFlags::empty()
    };
    rustix::fs::fallocate(f, flags, off, len).map_err(|e| e.raw_os_error())
}

fn direct(path: &Path) -> File {
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .unwrap()
}

#[test]
fn growing_past_the_largest_size_is_efbig_and_changes_nothing() {
    for kind in common::all_kinds() {
        let m = Mounted::new(kind);
        let max = m.codec.layout().max_size();
        assert!(
            max < i64::MAX as u64,
            "{kind:?}: the kernel must pass sizes above the limit on"
        );
        let data = pattern(10_000, 3);
        let p = m.p("f");
        fs::write(&p, &data).unwrap();
        let started = Instant::now();
        for size in [max + 1, i64::MAX as u64 - 1] {
            let e = nix::unistd::truncate(&p, size as i64).unwrap_err();
            assert_eq!(e, nix::errno::Errno::EFBIG, "{kind:?}: truncate to {size}");
            let f = OpenOptions::new().write(true).open(&p).unwrap();
            let e = f.set_len(size).unwrap_err();
            assert_eq!(errno(&e), libc::EFBIG, "{kind:?}: ftruncate to {size}");
            for keep in [false, true] {
                assert_eq!(
                    fallocate(&f, keep, size - 1, 1),
                    Err(libc::EFBIG),
                    "{kind:?}: fallocate to {size} (keep size {keep})"
                );
            }
            let e = direct(&p).write_at(b"x", size - 1).unwrap_err();
            assert_eq!(errno(&e), libc::EFBIG, "{kind:?}: pwrite ending at {size}");
        }
        // Exactly at the limit the size is allowed: what stops it is the
        // backing filesystem's space or its own smaller limit.
        let f = OpenOptions::new().write(true).open(&p).unwrap();
        let e = f.set_len(max).unwrap_err();
        assert!(
            [libc::ENOSPC, libc::EFBIG].contains(&errno(&e)),
            "{kind:?}: ftruncate to the limit: {e}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{kind:?}: not at once"
        );
        assert_eq!(fs::metadata(&p).unwrap().len(), data.len() as u64);
        assert_eq!(fs::read(&p).unwrap(), data, "{kind:?}");
        assert_eq!(m.decrypt_backing("f"), data, "{kind:?}: backing");
        drop(f);
        let m = m.remount(MountOptions::default());
        assert_eq!(fs::read(m.p("f")).unwrap(), data, "{kind:?}: after remount");
    }
}

/// A tmpfs of `mib` MiB mounted by the test; unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn new(at: PathBuf, mib: u64) -> Tmpfs {
        fs::create_dir_all(&at).unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            &at,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some(format!("size={mib}m").as_str()),
        )
        .expect("mount tmpfs");
        Tmpfs(at)
    }

    fn free(&self) -> u64 {
        let s = nix::sys::statvfs::statvfs(&self.0).unwrap();
        s.blocks_free() * s.fragment_size()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// A fresh volume whose ciphertext lives on a small tmpfs. The FUSE mount
/// (declared after the tmpfs by callers) is dropped first.
fn on_tmpfs(mib: u64, opts: MountOptions) -> (Tmpfs, Mounted) {
    let tmp = tempfile::tempdir().unwrap();
    let disk = Tmpfs::new(tmp.path().join("disk"), mib);
    let cipher = disk.0.join("cipher");
    let mnt = tmp.path().join("mnt");
    fs::create_dir_all(&cipher).unwrap();
    fs::create_dir_all(&mnt).unwrap();
    let codec = common::create_volume(&cipher, V1);
    let m = Mounted::mount_existing(tmp, cipher, mnt, codec, opts);
    (disk, m)
}

fn no_writeback() -> MountOptions {
    let mut o = MountOptions::default();
    o.fs.writeback = false;
    o
}

#[test]
fn a_grow_larger_than_the_free_space_is_enospc_at_once() {
    let (disk, m) = on_tmpfs(64, MountOptions::default());
    let data = pattern(1 << 20, 5);
    let p = m.p("f");
    fs::write(&p, &data).unwrap();
    let free = disk.free();
    let started = Instant::now();
    let e = nix::unistd::truncate(&p, 999_999_999_999_999).unwrap_err();
    assert_eq!(e, nix::errno::Errno::ENOSPC, "truncate");
    let f = OpenOptions::new().write(true).open(&p).unwrap();
    let e = f.set_len(200 << 20).unwrap_err();
    assert_eq!(errno(&e), libc::ENOSPC, "ftruncate");
    assert_eq!(fallocate(&f, false, 0, 200 << 20), Err(libc::ENOSPC));
    let e = direct(&p).write_at(b"x", 100 << 20).unwrap_err();
    assert_eq!(errno(&e), libc::ENOSPC, "pwrite far past the end");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "not at once: {:?}",
        started.elapsed()
    );
    // Nothing was written, and nothing stays reserved.
    assert!(disk.free() + (64 << 10) >= free, "{} < {free}", disk.free());
    assert_eq!(fs::metadata(&p).unwrap().len(), data.len() as u64);
    assert_eq!(fs::read(&p).unwrap(), data);
    assert_eq!(m.decrypt_backing("f"), data);
    // A grow that fits still works.
    f.set_len(4 << 20).unwrap();
    assert_eq!(fs::metadata(&p).unwrap().len(), 4 << 20);
}

/// What each file should hold: its content as the calls reported it written.
type Model = BTreeMap<String, Vec<u8>>;

/// Applies `data` at `off` to the model as far as the call says it wrote;
/// true when the disk is full (the only error allowed is ENOSPC).
fn record(
    model: &mut Model,
    rel: &str,
    off: usize,
    data: &[u8],
    r: std::io::Result<usize>,
) -> bool {
    let v = model.entry(rel.to_string()).or_default();
    let (n, full) = match r {
        Ok(n) => (n, n < data.len()),
        Err(e) => {
            assert!(full_disk(&e), "{rel}: {e}");
            (0, true)
        }
    };
    if n > 0 {
        if v.len() < off + n {
            v.resize(off + n, 0);
        }
        v[off..off + n].copy_from_slice(&data[..n]);
    }
    full
}

fn full_disk(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

fn check_model(m: &Mounted, model: &Model, when: &str) {
    for (rel, want) in model {
        let got = fs::read(m.p(rel)).unwrap_or_else(|e| panic!("{when}: {rel}: {e}"));
        assert!(
            got == *want,
            "{when}: {rel}: {} bytes, want {}",
            got.len(),
            want.len()
        );
    }
}

/// fsck with the format library: every stored file verifies whole, every
/// name decrypts, every long name has its sidecar and every sidecar its entry.
fn verify_ciphertext(codec: &Codec, dir: &Path) -> usize {
    let iv = DirIv::from_bytes(&fs::read(dir.join(DIRIV_NAME)).unwrap()).unwrap();
    let mut files = 0;
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let disk = e.file_name().into_string().unwrap();
        let path = e.path();
        if disk == CONF_NAME || disk == DIRIV_NAME {
            continue;
        }
        if let Some(entry) = disk.strip_suffix(LONGNAME_SUFFIX) {
            assert!(
                dir.join(entry).symlink_metadata().is_ok(),
                "orphan sidecar {path:?}"
            );
            continue;
        }
        let enc = if disk.starts_with(LONGNAME_PREFIX) {
            fs::read_to_string(dir.join(format!("{disk}{LONGNAME_SUFFIX}")))
                .unwrap_or_else(|e| panic!("{path:?}: sidecar: {e}"))
        } else {
            disk.clone()
        };
        codec
            .decrypt_name(Some(&iv), &enc)
            .unwrap_or_else(|e| panic!("{path:?}: name: {e}"));
        let t = e.file_type().unwrap();
        if t.is_dir() {
            files += verify_ciphertext(codec, &path);
        } else if t.is_file() {
            let stored = fs::read(&path).unwrap();
            let r = std::panic::catch_unwind(|| decrypt_file(codec, &stored));
            assert!(
                r.is_ok(),
                "{path:?} ({} bytes) does not verify",
                stored.len()
            );
            files += 1;
        }
    }
    files
}

/// Frees `by` bytes by cutting the end of "big" (a shrinking truncate needs
/// no space, also on a full disk).
fn shrink_big(m: &Mounted, model: &mut Model, by: usize) {
    let keep = model["big"].len() - by;
    let f = OpenOptions::new().write(true).open(m.p("big")).unwrap();
    f.set_len(keep as u64).unwrap();
    model.get_mut("big").unwrap().truncate(keep);
}

#[test]
fn a_full_disk_never_corrupts() {
    let (disk, m) = on_tmpfs(64, no_writeback());
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(15);
    let mut model = Model::new();

    // Large sequential writes until the disk is full.
    let mut f = File::create(m.p("big")).unwrap();
    model.insert("big".into(), Vec::new());
    let chunk = pattern(1 << 20, 1);
    loop {
        let off = model["big"].len();
        if record(&mut model, "big", off, &chunk, f.write(&chunk)) {
            break;
        }
    }
    assert!(model["big"].len() > 40 << 20, "{}", model["big"].len());
    // Further attempts stay refused and change nothing.
    assert!(f.write(&chunk).is_err_and(|e| full_disk(&e)));
    drop(f);
    // A directory needs its IV: made whole or refused, never half.
    if let Err(e) = fs::create_dir(m.p("d")) {
        assert!(full_disk(&e), "mkdir: {e}");
    }
    check_model(&m, &model, "after sequential writes");

    // Free 8 MiB, then random writes (inside and past the end) until full.
    shrink_big(&m, &mut model, 8 << 20);
    let f = File::create(m.p("random")).unwrap();
    model.insert("random".into(), Vec::new());
    loop {
        let len = rng.gen_range(1..300_000);
        let end = model["random"].len();
        let off = rng.gen_range(0..end + 200_000);
        let data = pattern(len, rng.gen());
        if record(
            &mut model,
            "random",
            off,
            &data,
            f.write_at(&data, off as u64),
        ) {
            break;
        }
    }
    drop(f);
    check_model(&m, &model, "after random writes");

    // Free 6 MiB, then appends until full.
    shrink_big(&m, &mut model, 6 << 20);
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(m.p("log"))
        .unwrap();
    model.insert("log".into(), Vec::new());
    loop {
        let data = pattern(rng.gen_range(1..100_000), rng.gen());
        let off = model["log"].len();
        if record(&mut model, "log", off, &data, f.write(&data)) {
            break;
        }
    }
    drop(f);
    check_model(&m, &model, "after appends");

    // Free 8 MiB, then small files (some with long names, some in new
    // directories) until creating or writing one fails.
    shrink_big(&m, &mut model, 8 << 20);
    let mut small = 0;
    let mut dirs = Vec::<String>::new();
    'fill: for i in 0.. {
        if i % 200 == 0 {
            let d = format!("dir{i}");
            match fs::create_dir(m.p(&d)) {
                Ok(()) => dirs.push(d),
                Err(e) if full_disk(&e) => break 'fill,
                Err(e) => panic!("mkdir {d}: {e}"),
            }
        }
        let name = if i % 7 == 0 {
            format!("{i:0>200}")
        } else {
            format!("s{i}")
        };
        let rel = match dirs.last() {
            Some(d) if i % 2 == 0 => format!("{d}/{name}"),
            _ => name,
        };
        let mut f = match File::create(m.p(&rel)) {
            Ok(f) => f,
            Err(e) if full_disk(&e) => break 'fill,
            Err(e) => panic!("create {rel}: {e}"),
        };
        model.insert(rel.clone(), Vec::new());
        let data = pattern(rng.gen_range(1..3000), rng.gen());
        small += 1;
        if record(&mut model, &rel, 0, &data, f.write(&data)) {
            break;
        }
    }
    assert!(
        small > 1000,
        "only {small} small files before the disk was full"
    );
    // Renames on a full disk: done or ENOSPC, never EIO.
    let long = "r".repeat(240);
    match fs::rename(m.p("s1"), m.p(&long)) {
        Ok(()) => {
            let v = model.remove("s1").unwrap();
            model.insert(long, v);
        }
        Err(e) => assert!(full_disk(&e), "rename: {e}"),
    }
    check_model(&m, &model, "on the full disk");

    // Free space: everything reads back, also after a remount, and verifies.
    fs::remove_file(m.p("big")).unwrap();
    model.remove("big");
    assert!(disk.free() > 8 << 20);
    check_model(&m, &model, "after freeing space");
    let cipher = m.cipher.clone();
    let m = m.remount(no_writeback());
    check_model(&m, &model, "after remount");
    let files = verify_ciphertext(&m.codec, &cipher);
    assert_eq!(files, model.len());
    // And the volume takes writes again.
    fs::write(m.p("after"), pattern(5 << 20, 9)).unwrap();
    assert_eq!(fs::read(m.p("after")).unwrap(), pattern(5 << 20, 9));
}

/// The `fusecry.target.*` sidecars (SPEC §11.2) anywhere in the ciphertext.
fn target_sidecars(dir: &Path) -> usize {
    let mut n = 0;
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            n += target_sidecars(&e.path());
        } else if e
            .file_name()
            .to_str()
            .unwrap()
            .starts_with("fusecry.target.")
        {
            n += 1;
        }
    }
    n
}

fn target(n: usize) -> String {
    let mut t = String::from("/");
    while t.len() < n {
        t.push_str(&format!("d{}/", t.len()));
    }
    t.truncate(n);
    t
}

#[test]
fn symlink_targets_of_any_length_the_kernel_takes() {
    let lens = [1usize, 2527, 2528, 4000, 4095];
    let long = |n: usize| n > 2527;
    for kind in common::all_kinds() {
        let m = Mounted::new(kind);
        let binds = matches!(kind, Kind::V1 { names: true, .. });
        fs::create_dir(m.p("sub")).unwrap();
        for &n in &lens {
            std::os::unix::fs::symlink(target(n), m.p(&format!("l{n}"))).unwrap();
            assert_eq!(
                fs::symlink_metadata(m.p(&format!("l{n}"))).unwrap().len(),
                n as u64
            );
        }
        let outside = |n: usize| usize::from(binds && long(n));
        let want: usize = lens.iter().map(|&n| outside(n)).sum();
        assert_eq!(target_sidecars(&m.cipher), want, "{kind:?}");
        // Renames (same directory, another directory, a long name), an
        // exchange, a link and an unlink keep exactly one sidecar per link.
        // Legacy encrypted names stop near 150 bytes (README).
        let legacy_names = matches!(kind, Kind::Legacy { names: true, .. });
        let name255 = "n".repeat(if legacy_names { 100 } else { 255 });
        fs::rename(m.p("l2528"), m.p("sub/moved")).unwrap();
        fs::rename(m.p("l4000"), m.p(&name255)).unwrap();
        fs::rename(m.p("l4095"), m.p("l1")).unwrap();
        nix::fcntl::renameat2(
            None,
            &m.p("sub/moved"),
            None,
            &m.p(&name255),
            nix::fcntl::RenameFlags::RENAME_EXCHANGE,
        )
        .unwrap();
        fs::hard_link(m.p("l1"), m.p("sub/linked")).unwrap();
        let mut now: BTreeMap<String, usize> = [
            ("l1".to_string(), 4095),
            ("l2527".to_string(), 2527),
            ("sub/moved".to_string(), 4000),
            (name255.clone(), 2528),
            ("sub/linked".to_string(), 4095),
        ]
        .into();
        let check = |m: &Mounted, now: &BTreeMap<String, usize>, when: &str| {
            for (rel, &n) in now {
                let got = fs::read_link(m.p(rel)).unwrap_or_else(|e| panic!("{when} {rel}: {e}"));
                assert_eq!(got.to_str().unwrap(), target(n), "{kind:?} {when}: {rel}");
                assert_eq!(fs::symlink_metadata(m.p(rel)).unwrap().len(), n as u64);
            }
            let want: usize = now.values().map(|&n| outside(n)).sum();
            assert_eq!(target_sidecars(&m.cipher), want, "{kind:?} {when}");
        };
        check(&m, &now, "after renames");
        fs::remove_file(m.p("sub/linked")).unwrap();
        now.remove("sub/linked");
        check(&m, &now, "after unlink");
        let m = m.remount(MountOptions::default());
        check(&m, &now, "after remount");
        if binds {
            // A long target without its sidecar answers EIO; others still read.
            for e in fs::read_dir(&m.cipher).unwrap() {
                let p = e.unwrap().path();
                if p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("fusecry.target.")
                {
                    fs::remove_file(p).unwrap();
                }
            }
            let e = fs::read_link(m.p("l1")).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EIO), "{kind:?}");
            assert_eq!(
                fs::read_link(m.p("l2527")).unwrap().to_str(),
                Some(&*target(2527))
            );
        }
    }
}
