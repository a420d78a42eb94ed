//! Failing storage: the model-based random test with faults injected at the
//! backing layer (`fusecry_fuse::fault`) at seeded points. Every call on the
//! mount returns success or an errno, never hangs; the daemon never dies;
//! a call that differs from the model (a plain directory) must be one during
//! which a fault fired, after which the model takes the mount's state again,
//! and every file that no longer reads is named by the format crate's
//! verify; in the end every file matches the model and the mount still
//! serves new files. Seeded: replay with FUSECRY_FAULT_SEED=N.
//!
//! Its own test binary: the fault is one global of the process.

mod common;

use common::outcome::{out, short, Out};
use common::{Kind, Mounted};
use fusecry_fuse::fault;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

const OPS: usize = 600;
const NAMES: [&str; 6] = ["a", "b", "c", "d/x", "d/y", "e/z"];
const ERRNOS: [i32; 6] = [
    libc::EIO,
    libc::ENOSPC,
    libc::EROFS,
    libc::EACCES,
    libc::ENOENT,
    libc::EDQUOT,
];

fn seed() -> u64 {
    common::outcome::seed("FUSECRY_FAULT_SEED")
}

/// Opens `p` for reading and writing, on the mount (`direct`) past the
/// kernel's page cache: after a write that failed, the cache may hold what
/// never reached the daemon, and the model must see what the mount stored.
fn open_rw(p: &Path, create: bool, direct: bool) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .custom_flags(if direct { libc::O_DIRECT } else { 0 })
        .open(p)
}

/// The whole file at `p` (see [`open_rw`]).
fn read_all(p: &Path, direct: bool) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut v = Vec::new();
    open_rw(p, false, direct)?.read_to_end(&mut v)?;
    Ok(v)
}

fn read_range(f: &File, off: u64, len: usize) -> Out {
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match f.read_at(&mut buf[got..], off + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Out::Err(e.raw_os_error()),
        }
    }
    buf.truncate(got);
    Out::Data(buf)
}

/// Makes the model (`plain`) hold what the mount shows, after a call that
/// a fault made differ. Files that no longer read must be named by verify
/// (their ciphertext is damaged); they are removed on both sides.
fn resync(m: &Mounted, plain: &Path, seed: u64, damaged: &mut Vec<String>) {
    for d in ["d", "e"] {
        let (mp, pp) = (m.p(d), plain.join(d));
        match (mp.is_dir(), pp.is_dir()) {
            (true, false) => fs::create_dir(&pp).unwrap(),
            (false, true) => fs::remove_dir_all(&pp).unwrap(),
            _ => {}
        }
    }
    for n in NAMES {
        let (mp, pp) = (m.p(n), plain.join(n));
        match read_all(&mp, true) {
            Ok(data) => {
                if pp.parent().unwrap().is_dir() {
                    fs::write(&pp, data).unwrap();
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                let _ = fs::remove_file(&pp);
            }
            Err(e) => {
                assert_eq!(
                    e.raw_os_error(),
                    Some(libc::EIO),
                    "seed {seed}: {n} after a fault: {e}"
                );
                let stored = fs::read(m.backing(n)).unwrap();
                let rep =
                    fusecry_format::stream::verify(&m.codec, &mut &stored[..], &|_| {}).unwrap();
                assert!(
                    !rep.is_clean(),
                    "seed {seed}: {n} answers EIO but its ciphertext verifies"
                );
                damaged.push(n.to_string());
                fs::remove_file(&mp).unwrap();
                let _ = fs::remove_file(&pp);
            }
        }
    }
}

fn run(kind: Kind, seed: u64) -> (u64, Vec<String>) {
    let mut o = fusecry_fuse::MountOptions::default();
    // Every write reaches the daemon during the call that made it, so a
    // fault shows in the call it belongs to.
    o.fs.writeback = false;
    let m = Mounted::with(kind, o);
    let plain = tempfile::tempdir().unwrap();
    let roots = [m.mnt.clone(), plain.path().to_path_buf()];
    let mut handles: [HashMap<usize, File>; 2] = [HashMap::new(), HashMap::new()];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut next = 0usize;
    let mut damaged = Vec::new();
    let fired_at_start = fault::fired();
    let mut log: Vec<String> = Vec::new();
    // Faults fired when the model last took the mount's state.
    let mut synced = fired_at_start;
    let mut late_damage = 0;
    for step in 0..OPS {
        if rng.gen_bool(0.3) {
            fault::fail_nth(rng.gen_range(1..12), ERRNOS[rng.gen_range(0..ERRNOS.len())]);
        }
        let name = NAMES[rng.gen_range(0..NAMES.len())];
        let other = NAMES[rng.gen_range(0..NAMES.len())];
        let mut ids: Vec<usize> = handles[0].keys().copied().collect();
        ids.sort();
        let h = (!ids.is_empty()).then(|| ids[rng.gen_range(0..ids.len())]);
        let off = rng.gen_range(0..40_000u64);
        let len = rng.gen_range(0..9_000usize);
        let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        let dir = if rng.gen_bool(0.5) { "d" } else { "e" };
        let pick = rng.gen_range(0..100);
        let before = fault::fired();
        let mut results = Vec::new();
        let mut desc = String::new();
        for side in 0..2 {
            let root = &roots[side];
            let hs = &mut handles[side];
            let r = match (pick, h) {
                (0..=14, _) => {
                    desc = format!("open {name}");
                    match open_rw(&root.join(name), true, side == 0) {
                        Ok(f) => {
                            hs.insert(next, f);
                            Out::Ok
                        }
                        Err(e) => Out::Err(e.raw_os_error()),
                    }
                }
                (15..=39, Some(h)) => {
                    desc = format!("write h{h} {off} {len}");
                    out(hs[&h].write_all_at(&data, off))
                }
                (40..=59, Some(h)) => {
                    desc = format!("read h{h} {off} {len}");
                    read_range(&hs[&h], off, len)
                }
                (60..=67, Some(h)) => {
                    desc = format!("truncate h{h} {}", off / 2);
                    out(hs[&h].set_len(off / 2))
                }
                (68..=71, Some(h)) => {
                    desc = format!("fsync+close h{h}");
                    out(hs.remove(&h).unwrap().sync_all())
                }
                (72..=79, _) => {
                    desc = format!("rename {name} {other}");
                    out(fs::rename(root.join(name), root.join(other)))
                }
                (80..=85, _) => {
                    desc = format!("unlink {name}");
                    out(fs::remove_file(root.join(name)))
                }
                (86..=91, _) => {
                    desc = format!("mkdir {dir}");
                    out(fs::create_dir(root.join(dir)))
                }
                (92..=95, _) => {
                    desc = format!("rmdir {dir}");
                    out(fs::remove_dir(root.join(dir)))
                }
                _ => {
                    desc = format!("read whole {name}");
                    match read_all(&root.join(name), side == 0) {
                        Ok(d) => Out::Data(d),
                        Err(e) => Out::Err(e.raw_os_error()),
                    }
                }
            };
            results.push(r);
        }
        if pick < 15 {
            next += 1;
        }
        assert_ne!(
            results[0],
            Out::Err(Some(libc::ENOTCONN)),
            "seed {seed} step {step} ({desc}): the daemon is gone"
        );
        let fired = fault::fired() > before;
        log.push(format!(
            "{desc}{}",
            if fired { " (fault fired)" } else { "" }
        ));
        if results[0] != results[1] {
            // A fault may also damage a file in a call that still
            // succeeded (a chunk written, its trailer not); that file then
            // answers EIO later, and verify must name it (resync checks).
            let late = fault::fired() > synced && results[0] == Out::Err(Some(libc::EIO));
            assert!(
                fired || late,
                "{kind:?} seed {seed} step {step} ({desc}): mount {} but model {}, and no fault fired; last calls:\n  {}\nlast daemon log lines:\n{}",
                short(&results[0]),
                short(&results[1]),
                log[log.len().saturating_sub(12)..].join("\n  "),
                log_tail()
            );
            if !fired {
                late_damage += 1;
            }
            // The failed call may have done part of its work, as on any
            // filesystem: start again from what the mount shows.
            fault::disarm();
            handles = [HashMap::new(), HashMap::new()];
            resync(&m, plain.path(), seed, &mut damaged);
            synced = fault::fired();
        }
    }
    fault::disarm();
    handles = [HashMap::new(), HashMap::new()];
    drop(handles);
    for n in NAMES {
        let a = read_all(&m.p(n), true).ok();
        let b = fs::read(plain.path().join(n)).ok();
        assert_eq!(a, b, "{kind:?} seed {seed}: final content of {n}");
        if let Some(b) = b {
            // The stored file verifies and holds what the mount shows: a
            // change that failed part way re-reads the file's state from
            // storage (content.rs `restate`), so no size or id lives only
            // in the daemon.
            let stored = fs::read(m.backing(n)).unwrap();
            let rep = fusecry_format::stream::verify(&m.codec, &mut &stored[..], &|_| {}).unwrap();
            assert!(rep.is_clean(), "{kind:?} seed {seed}: {n}: {rep:?}");
            assert!(
                common::decrypt_file(&m.codec, &stored) == b,
                "{kind:?} seed {seed}: {n} is stored otherwise than the mount shows it; last daemon log lines:\n{}",
                log_tail()
            );
        }
    }
    // Still serving.
    fs::write(m.p("after"), b"still here").unwrap();
    assert_eq!(fs::read(m.p("after")).unwrap(), b"still here");
    println!("{kind:?}: {late_damage} damaged files first seen after a call that succeeded");
    (fault::fired() - fired_at_start, damaged)
}

/// The daemon's last log lines (which backing call failed, and how the
/// request answered), for a failure message.
fn log_tail() -> String {
    let all = common::logcap::logged();
    let lines: Vec<&str> = all.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// The fault is one global of the process: its tests take turns.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// One failing backing call: that request answers the backing errno, the
/// log names the plaintext path, and the next request on the same file
/// and every other file are served.
#[test]
fn a_failing_backing_call_is_that_errno_for_one_request_logged_with_its_path() {
    let _turn = serial();
    let _ = common::logcap::log();
    let mut o = fusecry_fuse::MountOptions::default();
    o.fs.writeback = false;
    let m = Mounted::with(
        Kind::V1 {
            cs: 4096,
            names: true,
        },
        o,
    );
    fs::create_dir(m.p("dir")).unwrap();
    fs::write(m.p("dir/some file"), vec![7u8; 10_000]).unwrap();
    fs::write(m.p("other"), b"other file").unwrap();
    // Opened once: a close's RELEASE reaches the daemon later, and would
    // take the fault armed for the next call.
    let f = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(m.p("dir/some file"))
        .unwrap();
    let other = open_rw(&m.p("other"), false, true).unwrap();
    for errno in [libc::ENOSPC, libc::EIO, libc::EDQUOT] {
        fault::fail_nth(1, errno);
        let e = f.write_all_at(&[1u8; 100], 20_000).unwrap_err();
        fault::disarm();
        assert_eq!(e.raw_os_error(), Some(errno));
        assert!(
            common::logcap::logged().contains("/dir/some file: write:"),
            "{}",
            common::logcap::logged()
        );
        // The same file and another are served again at once.
        f.write_all_at(&[1u8; 100], 20_000).unwrap();
        assert_eq!(
            read_range(&other, 0, 100),
            Out::Data(b"other file".to_vec())
        );
    }
    drop((f, other));
    let got = read_all(&m.p("dir/some file"), true).unwrap();
    assert_eq!(got.len(), 20_100);
    assert_eq!(&got[..10_000], &[7u8; 10_000][..]);
    assert_eq!(&got[20_000..], &[1u8; 100][..]);
}

#[test]
fn model_with_backing_faults_answers_errnos_and_keeps_serving() {
    let _turn = serial();
    let seed = seed();
    let _ = common::logcap::log();
    println!("fault model seed {seed} ({OPS} operations per volume kind)");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut fired = 0;
        for kind in [
            Kind::V1 {
                cs: 4096,
                names: true,
            },
            Kind::V1 {
                cs: 16,
                names: true,
            },
            Kind::Legacy {
                cs: 4096,
                names: true,
            },
        ] {
            let (f, damaged) = run(kind, seed);
            println!("{kind:?}: {f} faults fired, damaged: {damaged:?}");
            fired += f;
        }
        let _ = tx.send(fired);
    });
    match rx.recv_timeout(Duration::from_secs(240)) {
        Ok(fired) => assert!(fired > 20, "seed {seed}: only {fired} faults fired"),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("seed {seed}: the test hung (a call on the mount never returned)")
        }
        Err(e) => panic!("seed {seed}: the test failed: {e} (see the panic above)"),
    }
}
