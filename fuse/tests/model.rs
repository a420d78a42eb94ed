//! Model-based tests: random sequences of file operations on the mount are
//! compared with the same sequence on a plain directory. Seeded; the seed is
//! printed and can be replayed with FUSECRY_MODEL_SEED=N.
//! Also: several threads writing one file and several files at once.

mod common;

use common::outcome::{out, short, Out};
use common::{Kind, Mounted};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const OPS: usize = 3000;

fn seed() -> u64 {
    common::outcome::seed("FUSECRY_MODEL_SEED")
}

struct Side {
    root: PathBuf,
    handles: HashMap<usize, File>,
}

impl Side {
    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

fn names() -> Vec<&'static str> {
    vec!["a", "b", "c", "d/x", "d/y", "e/z"]
}

fn run_model(kind: Kind, seed: u64) {
    let m = Mounted::new(kind);
    let plain = tempfile::tempdir().unwrap();
    let mut sides = [
        Side {
            root: m.mnt.clone(),
            handles: HashMap::new(),
        },
        Side {
            root: plain.path().to_path_buf(),
            handles: HashMap::new(),
        },
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut next_handle = 0usize;
    let names = names();
    let mut log: Vec<String> = Vec::new();
    for step in 0..OPS {
        let pick = rng.gen_range(0..100);
        let name = names[rng.gen_range(0..names.len())];
        let other = names[rng.gen_range(0..names.len())];
        let open_ids: Vec<usize> = {
            let mut v: Vec<usize> = sides[0].handles.keys().copied().collect();
            v.sort();
            v
        };
        let h = (!open_ids.is_empty()).then(|| open_ids[rng.gen_range(0..open_ids.len())]);
        let off = if rng.gen_bool(0.2) {
            rng.gen_range(0..200_000u64)
        } else {
            rng.gen_range(0..20_000u64)
        };
        let len = rng.gen_range(0..10_000usize);
        let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        let desc;
        let results: Vec<Out> = match pick {
            0..=14 => {
                desc = format!("open {name} -> h{next_handle}");
                let id = next_handle;
                next_handle += 1;
                sides
                    .iter_mut()
                    .map(|s| {
                        let r = OpenOptions::new()
                            .read(true)
                            .write(true)
                            .create(true)
                            .truncate(false)
                            .open(s.p(name));
                        match r {
                            Ok(f) => {
                                s.handles.insert(id, f);
                                Out::Ok
                            }
                            Err(e) => Out::Err(e.raw_os_error()),
                        }
                    })
                    .collect()
            }
            15..=39 if h.is_some() => {
                let h = h.unwrap();
                desc = format!("write h{h} off={off} len={len}");
                sides
                    .iter_mut()
                    .map(|s| out(s.handles[&h].write_all_at(&data, off)))
                    .collect()
            }
            40..=59 if h.is_some() => {
                let h = h.unwrap();
                desc = format!("read h{h} off={off} len={len}");
                sides
                    .iter_mut()
                    .map(|s| {
                        let mut buf = vec![0u8; len];
                        let mut got = 0;
                        loop {
                            match s.handles[&h].read_at(&mut buf[got..], off + got as u64) {
                                Ok(0) => break,
                                Ok(n) => {
                                    got += n;
                                    if got == len {
                                        break;
                                    }
                                }
                                Err(e) => return Out::Err(e.raw_os_error()),
                            }
                        }
                        buf.truncate(got);
                        Out::Data(buf)
                    })
                    .collect()
            }
            60..=67 if h.is_some() => {
                let h = h.unwrap();
                let size = off / 2;
                desc = format!("truncate h{h} {size}");
                sides
                    .iter_mut()
                    .map(|s| out(s.handles[&h].set_len(size)))
                    .collect()
            }
            68..=71 if h.is_some() => {
                let h = h.unwrap();
                desc = format!("fsync+close h{h}");
                sides
                    .iter_mut()
                    .map(|s| {
                        let f = s.handles.remove(&h).unwrap();
                        out(f.sync_all())
                    })
                    .collect()
            }
            72..=79 => {
                desc = format!("rename {name} -> {other}");
                sides
                    .iter_mut()
                    .map(|s| out(fs::rename(s.p(name), s.p(other))))
                    .collect()
            }
            80..=85 => {
                desc = format!("unlink {name}");
                sides
                    .iter_mut()
                    .map(|s| out(fs::remove_file(s.p(name))))
                    .collect()
            }
            86..=91 => {
                let d = if rng.gen_bool(0.5) { "d" } else { "e" };
                desc = format!("mkdir {d}");
                sides
                    .iter_mut()
                    .map(|s| out(fs::create_dir(s.p(d))))
                    .collect()
            }
            92..=95 => {
                let d = if rng.gen_bool(0.5) { "d" } else { "e" };
                desc = format!("rmdir {d}");
                sides
                    .iter_mut()
                    .map(|s| out(fs::remove_dir(s.p(d))))
                    .collect()
            }
            _ => {
                desc = format!("read whole {name}");
                sides
                    .iter_mut()
                    .map(|s| match fs::read(s.p(name)) {
                        Ok(d) => Out::Data(d),
                        Err(e) => Out::Err(e.raw_os_error()),
                    })
                    .collect()
            }
        };
        log.push(desc.clone());
        if results[0] != results[1] {
            let tail = log[log.len().saturating_sub(15)..].join("\n  ");
            panic!(
                "{kind:?}: mount and model differ at step {step} ({desc}), seed {seed} \
                 (replay: FUSECRY_MODEL_SEED={seed}):\n  mount: {:?}\n  model: {:?}\nlast ops:\n  {tail}",
                short(&results[0]),
                short(&results[1])
            );
        }
    }
    // Close everything, then compare every file byte for byte, also through
    // the ciphertext (decrypted by the format crate).
    for s in sides.iter_mut() {
        s.handles.clear();
    }
    for n in names {
        let a = fs::read(m.mnt.join(n)).ok();
        let b = fs::read(plain.path().join(n)).ok();
        assert_eq!(a, b, "{kind:?} seed {seed}: final content of {n}");
        if let Some(b) = b {
            assert_eq!(
                m.decrypt_backing(n),
                b,
                "{kind:?} seed {seed}: ciphertext of {n}"
            );
        }
    }
}

#[test]
fn model_random_operations() {
    let seed = seed();
    println!("model test seed {seed} ({OPS} operations per volume kind)");
    for kind in [
        Kind::V1 {
            cs: 16,
            names: true,
        },
        Kind::V1 {
            cs: 4096,
            names: true,
        },
        Kind::Legacy {
            cs: 4096,
            names: true,
        },
    ] {
        run_model(kind, seed);
    }
}

fn concurrent(m: &Mounted) {
    let threads = 6;
    let piece = 50_000usize;
    let shared = m.p("shared");
    fs::write(&shared, b"").unwrap();
    std::thread::scope(|s| {
        for t in 0..threads {
            let shared: &Path = &shared;
            let own = m.p(&format!("own{t}"));
            s.spawn(move || {
                let f = OpenOptions::new().write(true).open(shared).unwrap();
                // Unaligned pieces, written in small pieces, interleaved with the others.
                let data: Vec<u8> = (0..piece).map(|i| (i as u8) ^ (t as u8 * 37)).collect();
                for (k, part) in data.chunks(777).enumerate() {
                    f.write_all_at(part, (t * piece + k * 777) as u64).unwrap();
                }
                fs::write(&own, &data)
                    .unwrap_or_else(|e| panic!("{:?} own{t}: {e}", m.codec.profile()));
            });
        }
    });
    let mut want = Vec::new();
    for t in 0..threads {
        want.extend((0..piece).map(|i| (i as u8) ^ (t as u8 * 37)));
    }
    assert_eq!(fs::read(&shared).unwrap(), want);
    assert_eq!(m.decrypt_backing("shared"), want);
    for t in 0..threads {
        let d = fs::read(m.p(&format!("own{t}"))).unwrap();
        assert_eq!(d, &want[t * piece..(t + 1) * piece]);
    }
}

#[test]
fn concurrent_writers_one_file_and_many_files() {
    for kind in [
        Kind::V1 {
            cs: 4096,
            names: true,
        },
        Kind::V1 {
            cs: 16,
            names: false,
        },
        Kind::Legacy {
            cs: 4096,
            names: true,
        },
    ] {
        concurrent(&Mounted::new(kind));
        // And without the kernel's writeback cache: every write reaches us.
        let mut o = fusecry_fuse::MountOptions::default();
        o.fs.writeback = false;
        concurrent(&Mounted::with(kind, o));
    }
}

/// Writers racing on overlapping ranges of one file (some past its end) and
/// readers at the same time: no read or write ever fails, and what the mount
/// shows in the end is exactly what the ciphertext decrypts to.
#[test]
fn racing_overlapping_writers_never_tear_chunks() {
    for (kind, writeback) in [
        (
            Kind::V1 {
                cs: 4096,
                names: true,
            },
            false,
        ),
        (
            Kind::V1 {
                cs: 16,
                names: true,
            },
            false,
        ),
        (
            Kind::V1 {
                cs: 4096,
                names: true,
            },
            true,
        ),
        (
            Kind::Legacy {
                cs: 4096,
                names: false,
            },
            false,
        ),
    ] {
        let mut o = fusecry_fuse::MountOptions::default();
        o.fs.writeback = writeback;
        let m = Mounted::with(kind, o);
        let path = m.p("race");
        fs::write(&path, vec![1u8; 10_000]).unwrap();
        let seed = seed();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let path = &path;
                s.spawn(move || {
                    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ t);
                    let f = OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(path)
                        .unwrap_or_else(|e| panic!("{kind:?} open failed: {e}"));
                    for _ in 0..300 {
                        let off = rng.gen_range(0..400_000u64);
                        let len = rng.gen_range(1..20_000usize);
                        let data = vec![t as u8 + 2; len];
                        f.write_all_at(&data, off)
                            .unwrap_or_else(|e| panic!("{kind:?} write failed: {e}"));
                        if rng.gen_bool(0.1) {
                            f.set_len(rng.gen_range(0..400_000u64)).unwrap();
                        }
                    }
                });
            }
            for t in 0..2u64 {
                let path = &path;
                s.spawn(move || {
                    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (t + 100));
                    let f = fs::File::open(path)
                        .unwrap_or_else(|e| panic!("{kind:?} open failed: {e}"));
                    let mut buf = vec![0u8; 30_000];
                    for _ in 0..500 {
                        let off = rng.gen_range(0..400_000u64);
                        f.read_at(&mut buf, off)
                            .unwrap_or_else(|e| panic!("{kind:?} read failed: {e} (seed {seed})"));
                    }
                });
            }
        });
        let shown = fs::read(&path).unwrap();
        assert_eq!(m.decrypt_backing("race"), shown, "{kind:?} seed {seed}");
    }
}
