//! Model-based tests: random sequences of file operations on the mount are
//! compared with the same sequence on a plain directory. Seeded; the seed is
//! printed and can be replayed with FUSECRY_MODEL_SEED=N.
//! Also: several threads writing one file and several files at once.

mod common;

use common::core::run_model;
use common::{Backing, Kind, Mounted};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

const OPS: usize = 3000;

fn seed() -> u64 {
    common::outcome::seed("FUSECRY_MODEL_SEED")
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
        run_model(&Mounted::new(kind), kind, seed, OPS, Backing::Local);
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
