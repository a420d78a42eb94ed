//! The fsstress pattern: 20 threads create, link, rename and unlink in one
//! tree at once, on a small shared set of names across a few directories,
//! long names (which have sidecars, SPEC §10) and hard links among them.
//! Afterwards every entry lists, reads and verifies, `rm -rf` of the tree
//! succeeds, and the backing directory holds only the root's own files.
//! Seeded; the seed is printed and can be replayed with
//! FUSECRY_STRESS_SEED=N (the interleaving of threads still varies).

mod common;

use common::{Kind, Mounted};
use fusecry_format::name::{CONF_NAME, DIRIV_NAME};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fs;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const THREADS: u64 = 20;

fn seed() -> u64 {
    common::outcome::seed("FUSECRY_STRESS_SEED")
}

/// How long the threads run: FUSECRY_STRESS_SECS, 8 s by default.
fn duration() -> Duration {
    Duration::from_secs(
        std::env::var("FUSECRY_STRESS_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(8),
    )
}

/// Entry names: short ones and long ones (> 143 bytes: hashed on disk,
/// with a sidecar).
fn names() -> Vec<String> {
    vec![
        "a".into(),
        "b".into(),
        "c".into(),
        format!("{}1", "l".repeat(160)),
        format!("{}2", "l".repeat(200)),
        format!("{}3", "m".repeat(250)),
    ]
}

/// Parent directories, relative to the tree: some may not exist at a
/// given moment (they are made, renamed and removed too).
fn parents(names: &[String]) -> Vec<String> {
    vec![
        String::new(),
        "d0".into(),
        "d1".into(),
        format!("d0/{}", names[4]),
        format!("d1/{}", names[0]),
        names[3].clone(),
    ]
}

fn pick<'a>(rng: &mut ChaCha8Rng, v: &'a [String]) -> &'a str {
    &v[rng.gen_range(0..v.len())]
}

fn run_thread(tree: &Path, seed: u64, until: Instant, eio: &Mutex<Vec<String>>) -> u64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let names = names();
    let parents = parents(&names);
    let path = |rng: &mut ChaCha8Rng| -> PathBuf {
        let p = pick(rng, &parents);
        tree.join(p).join(pick(rng, &names))
    };
    let mut ops = 0;
    while Instant::now() < until {
        ops += 1;
        let a = path(&mut rng);
        let b = path(&mut rng);
        let op = rng.gen_range(0..100);
        let (what, r): (&str, std::io::Result<()>) = match op {
            0..=19 => ("create", {
                let data = vec![rng.gen::<u8>(); rng.gen_range(0..9000)];
                fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&a)
                    .and_then(|mut f| f.write_all(&data))
            }),
            20..=34 => ("link", fs::hard_link(&a, &b)),
            35..=59 => ("rename", fs::rename(&a, &b)),
            60..=74 => ("unlink", fs::remove_file(&a)),
            75..=82 => ("mkdir", fs::create_dir(&a)),
            83..=88 => ("rmdir", fs::remove_dir(&a)),
            89..=91 => ("symlink", symlink("some/target", &a)),
            92..=95 => ("read", fs::read(&a).map(|_| ())),
            _ => ("list", {
                let dir = a.parent().unwrap();
                fs::read_dir(dir).and_then(|it| {
                    for e in it {
                        let e = e?;
                        // Stat every listed entry, as rm -rf does.
                        match fs::symlink_metadata(e.path()) {
                            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                            r => {
                                r?;
                            }
                        }
                    }
                    Ok(())
                })
            }),
        };
        if let Err(e) = r {
            if e.raw_os_error() == Some(libc::EIO) {
                eio.lock()
                    .unwrap()
                    .push(format!("{what} {} {}: {e}", a.display(), b.display()));
            }
        }
    }
    ops
}

/// Reads every file, lists every directory and reads every link of the
/// tree: nothing answers EIO.
fn walk_all(dir: &Path, problems: &mut Vec<String>) {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return problems.push(format!("{}: list: {e}", dir.display())),
    };
    for e in entries {
        let p = e.unwrap().path();
        let m = match fs::symlink_metadata(&p) {
            Ok(m) => m,
            // Directories renamed into each other nest past PATH_MAX:
            // rm -rf below reaches those, by descriptor.
            Err(e) if e.raw_os_error() == Some(libc::ENAMETOOLONG) => continue,
            Err(e) => {
                problems.push(format!("{}: stat: {e}", p.display()));
                continue;
            }
        };
        let r = if m.is_dir() {
            walk_all(&p, problems);
            Ok(())
        } else if m.is_symlink() {
            fs::read_link(&p).map(|_| ())
        } else {
            fs::read(&p).map(|_| ())
        };
        if let Err(e) = r {
            problems.push(format!("{}: {e}", p.display()));
        }
    }
}

/// Verifies every regular file of the backing tree with the format crate.
fn verify_backing(m: &Mounted, dir: &Path, problems: &mut Vec<String>) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let ft = e.file_type().unwrap();
        let name = e.file_name().into_string().unwrap();
        if ft.is_dir() {
            verify_backing(m, &e.path(), problems);
        } else if ft.is_file()
            && name != CONF_NAME
            && name != DIRIV_NAME
            && !name.ends_with(".name")
        {
            let mut f = fs::File::open(e.path()).unwrap();
            let rep = fusecry_format::stream::verify(&m.codec, &mut f, &|_| {}).unwrap();
            if !rep.is_clean() {
                problems.push(format!("{}: {rep:?}", e.path().display()));
            }
        }
    }
}

#[test]
fn twenty_threads_then_rm_rf_leaves_nothing_behind() {
    let seed = seed();
    println!("stress seed {seed}");
    let _ = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
    let m = Mounted::new(Kind::V1 {
        cs: 4096,
        names: true,
    });
    let tree = m.p("t");
    fs::create_dir_all(tree.join("d0")).unwrap();
    fs::create_dir_all(tree.join("d1")).unwrap();
    let until = Instant::now() + duration();
    let eio = Mutex::new(Vec::new());
    let ops: u64 = std::thread::scope(|s| {
        let hs: Vec<_> = (0..THREADS)
            .map(|t| {
                let (tree, eio) = (&tree, &eio);
                s.spawn(move || run_thread(tree, seed ^ (t * 0x9e37_79b9), until, eio))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    println!("{ops} operations");
    let eio = eio.into_inner().unwrap();
    assert!(eio.is_empty(), "seed {seed}: EIO during the run: {eio:#?}");
    let mut problems = Vec::new();
    walk_all(&tree, &mut problems);
    verify_backing(&m, &m.cipher, &mut problems);
    assert!(problems.is_empty(), "seed {seed}: {problems:#?}");
    let rm = std::process::Command::new("rm")
        .arg("-rf")
        .arg(&tree)
        .output()
        .unwrap();
    assert!(
        rm.status.success(),
        "seed {seed}: rm -rf failed: {}",
        String::from_utf8_lossy(&rm.stderr)
    );
    let mut left: Vec<String> = fs::read_dir(&m.cipher)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [CONF_NAME, DIRIV_NAME],
        "seed {seed}: left in the backing directory"
    );
}
