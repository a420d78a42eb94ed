//! Chunk size against throughput: for each chunk size from 16 B to 1 MiB,
//! the codec alone (encrypt and decrypt of 1 MiB on one core; encryption
//! four chunks side by side, as the mount writes)
//! and a real mount on tmpfs with `fusecry mount`'s defaults (sequential
//! 1 MiB writes + fsync and cold sequential reads of a 32 MiB file, 4 KiB
//! random reads with the file's pages dropped first, 4 KiB random writes +
//! fsync), printed at the end as one table.
//!
//! `cargo bench -p fusecry-benches --bench blocksize` (root, /dev/fuse); a
//! criterion filter (`-- mount-c4096`) runs part of it. Criterion measures;
//! the table takes criterion's median time per iteration of each benchmark
//! from the same samples.

use criterion::{BenchmarkId, Criterion, Throughput};
use fusecry_format::chunk::ChunkJob;
use fusecry_format::name::{DirIv, DIRIV_NAME};
use fusecry_format::{Argon2Params, Codec, Conf, FileId, NewConf, Password, Secret};
use fusecry_fuse::{CryptFs, MountOptions};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SIZES: [u64; 6] = [16, 512, 4096, 16384, 65536, 1 << 20];
const CODEC_BYTES: usize = 1 << 20;
const FILE_BYTES: u64 = 32 << 20;
const IO: usize = 1 << 20;
const RANDOM_OPS: u64 = 64;

/// Criterion samples per benchmark.
const SAMPLES: usize = 10;

/// Per benchmark: the time per iteration of every call of the routine,
/// warm-up first, then the `SAMPLES` measured samples.
type Samples = Mutex<BTreeMap<(String, u64), Vec<f64>>>;

fn record(s: &Samples, what: &str, cs: u64, iters: u64, d: Duration) {
    s.lock()
        .unwrap()
        .entry((what.to_string(), cs))
        .or_default()
        .push(d.as_secs_f64() / iters as f64);
}

/// The median time per iteration of the measured samples (criterion's
/// median): the last `SAMPLES` calls, after the warm-up ones.
fn median(v: &[f64]) -> f64 {
    let mut v = v[v.len().saturating_sub(SAMPLES)..].to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    (v[(n - 1) / 2] + v[n / 2]) / 2.0
}

fn codec(cs: u64) -> (Vec<u8>, Codec) {
    let mut rng = ChaCha20Rng::seed_from_u64(cs);
    let (conf, codec) = Conf::create_v1(
        &NewConf {
            chunk_size: cs,
            encrypted_names: true,
            argon2: Argon2Params {
                m_cost_kib: 64,
                t_cost: 1,
                p_cost: 1,
            },
        },
        &Secret::Password(Password::new("bench")),
        &mut rng,
    )
    .unwrap();
    (conf.to_bytes(), codec)
}

/// A volume on tmpfs mounted in this process; unmounted on drop.
struct Mounted {
    _dir: tempfile::TempDir,
    mnt: PathBuf,
    session: Option<fuser::BackgroundSession>,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            if s.umount_and_join().is_err() {
                let _ = nix::mount::umount2(&self.mnt, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}

fn is_mounted(mnt: &Path) -> bool {
    let c = mnt.canonicalize().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(c.to_str().unwrap()))
}

fn mount(cs: u64) -> Mounted {
    let dir = tempfile::tempdir_in("/dev/shm").unwrap();
    let cipher = dir.path().join("cipher");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&cipher).unwrap();
    std::fs::create_dir(&mnt).unwrap();
    let (conf, codec) = codec(cs);
    std::fs::write(cipher.join("fusecry.conf"), conf).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    std::fs::write(cipher.join(DIRIV_NAME), DirIv::random(&mut rng).0).unwrap();
    // The defaults of `fusecry mount`: writeback cache, 4 threads.
    let o = MountOptions::default();
    let fs = Arc::new(CryptFs::new(codec, &cipher, o.fs.clone()).unwrap());
    let session = fusecry_fuse::spawn(fs, &mnt, &o).unwrap();
    let start = Instant::now();
    while !is_mounted(&mnt) {
        assert!(start.elapsed() < Duration::from_secs(10), "mount timed out");
        std::thread::sleep(Duration::from_millis(5));
    }
    Mounted {
        _dir: dir,
        mnt,
        session: Some(session),
    }
}

/// Drops the file's pages so that the next reads go to the daemon.
fn drop_pages(f: &File, random: bool) {
    use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};
    f.sync_all().unwrap();
    posix_fadvise(f.as_raw_fd(), 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED).unwrap();
    if random {
        posix_fadvise(f.as_raw_fd(), 0, 0, PosixFadviseAdvice::POSIX_FADV_RANDOM).unwrap();
    }
}

fn write_file(p: &Path, data: &[u8]) {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(p)
        .unwrap();
    for (i, b) in data.chunks(IO).enumerate() {
        f.write_all_at(b, (i * IO) as u64).unwrap();
    }
    f.sync_all().unwrap();
}

fn bench_codec(c: &mut Criterion, s: &Samples) {
    let mut g = c.benchmark_group("codec");
    g.sample_size(SAMPLES)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Bytes(CODEC_BYTES as u64));
    let mut plain = vec![0u8; CODEC_BYTES];
    ChaCha20Rng::seed_from_u64(2).fill_bytes(&mut plain);
    for cs in SIZES {
        let (_, codec) = codec(cs);
        let id = FileId([7; 16]);
        let l = *codec.layout();
        let n_chunks = l.chunk_count(CODEC_BYTES as u64);
        // Both directions on one core, chunk by chunk into buffers made once,
        // as the mount does per request (`stream::encrypt_to_vec` would spread
        // the chunks over the rayon pool, so only large chunks would run on
        // one core).
        let mut stored = vec![0u8; l.stored_size(CODEC_BYTES as u64) as usize];
        let mut back = vec![0u8; CODEC_BYTES];
        // Side by side, as the mount's writes encrypt (`encrypt_chunks`).
        let encrypt_all = |stored: &mut [u8], rng: &mut ChaCha20Rng| {
            let mut jobs: Vec<ChunkJob<'_>> = Vec::with_capacity(n_chunks as usize);
            let mut rest = &mut stored[l.chunk_offset(0) as usize..];
            for i in 0..n_chunks {
                let pl = l.chunk_plain_len(i, CODEC_BYTES as u64) as usize;
                let p0 = (i * cs) as usize;
                let sl = l.chunk_stored_len(pl as u64) as usize;
                let (out, r) = std::mem::take(&mut rest).split_at_mut(sl);
                rest = r;
                let mut iv = [0u8; 16];
                rng.fill_bytes(&mut iv);
                jobs.push(ChunkJob {
                    index: i,
                    iv,
                    plain: &plain[p0..p0 + pl],
                    out,
                });
            }
            codec.encrypt_chunks(&id, &mut jobs);
        };
        g.bench_with_input(BenchmarkId::new("encrypt", cs), &cs, |b, _| {
            let mut rng = ChaCha20Rng::seed_from_u64(3);
            b.iter_custom(|n| {
                let t = Instant::now();
                for _ in 0..n {
                    encrypt_all(&mut stored, &mut rng);
                }
                let d = t.elapsed();
                record(s, "encrypt", cs, n, d);
                d
            })
        });
        let decrypt_all = |stored: &[u8], back: &mut [u8]| {
            for i in 0..n_chunks {
                let pl = l.chunk_plain_len(i, CODEC_BYTES as u64) as usize;
                let p0 = (i * cs) as usize;
                let off = l.chunk_offset(i) as usize;
                let sl = l.chunk_stored_len(pl as u64) as usize;
                codec
                    .decrypt_chunk_into(&id, i, &stored[off..off + sl], &mut back[p0..p0 + pl])
                    .unwrap();
            }
        };
        encrypt_all(&mut stored, &mut ChaCha20Rng::seed_from_u64(3));
        decrypt_all(&stored, &mut back);
        assert!(back == plain, "decrypt gives back the plaintext");
        g.bench_with_input(BenchmarkId::new("decrypt", cs), &cs, |b, _| {
            b.iter_custom(|n| {
                let t = Instant::now();
                for _ in 0..n {
                    decrypt_all(&stored, &mut back);
                }
                let d = t.elapsed();
                record(s, "decrypt", cs, n, d);
                d
            })
        });
    }
    g.finish();
}

fn bench_mount(c: &mut Criterion, s: &Samples) {
    let mut data = vec![0u8; FILE_BYTES as usize];
    ChaCha20Rng::seed_from_u64(4).fill_bytes(&mut data);
    for cs in SIZES {
        let m = mount(cs);
        let file = m.mnt.join("data.bin");
        let mut g = c.benchmark_group(format!("mount-c{cs}"));
        g.sample_size(SAMPLES)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(3));
        g.throughput(Throughput::Bytes(FILE_BYTES));
        g.bench_function("seq-write", |b| {
            b.iter_custom(|n| {
                let t = Instant::now();
                for _ in 0..n {
                    write_file(&file, &data);
                }
                let d = t.elapsed();
                record(s, "seq-write", cs, n, d);
                d
            })
        });
        write_file(&file, &data);
        let f = File::open(&file).unwrap();
        g.bench_function("seq-read", |b| {
            let mut buf = vec![0u8; IO];
            b.iter_custom(|n| {
                let mut d = Duration::ZERO;
                for _ in 0..n {
                    drop_pages(&f, false);
                    let t = Instant::now();
                    for off in (0..FILE_BYTES).step_by(IO) {
                        f.read_exact_at(&mut buf, off).unwrap();
                    }
                    d += t.elapsed();
                }
                record(s, "seq-read", cs, n, d);
                d
            })
        });
        g.throughput(Throughput::Elements(RANDOM_OPS));
        let pages = FILE_BYTES / 4096;
        g.bench_function("rand-read-4k", |b| {
            let mut rng = ChaCha20Rng::seed_from_u64(5);
            let mut buf = vec![0u8; 4096];
            b.iter_custom(|n| {
                let mut d = Duration::ZERO;
                for _ in 0..n {
                    drop_pages(&f, true);
                    let t = Instant::now();
                    for _ in 0..RANDOM_OPS {
                        let off = (rng.next_u64() % pages) * 4096;
                        f.read_exact_at(&mut buf, off).unwrap();
                    }
                    d += t.elapsed();
                }
                record(s, "rand-read-4k", cs, n, d);
                d
            })
        });
        let w = OpenOptions::new().write(true).open(&file).unwrap();
        g.bench_function("rand-write-4k", |b| {
            let mut rng = ChaCha20Rng::seed_from_u64(6);
            let buf = vec![0x5au8; 4096];
            b.iter_custom(|n| {
                let t = Instant::now();
                for _ in 0..n {
                    for _ in 0..RANDOM_OPS {
                        let off = (rng.next_u64() % pages) * 4096;
                        w.write_all_at(&buf, off).unwrap();
                    }
                    // Until the writes reach the daemon, they are only in the page cache.
                    w.sync_all().unwrap();
                }
                let d = t.elapsed();
                record(s, "rand-write-4k", cs, n, d);
                d
            })
        });
        g.finish();
        drop((f, w));
        drop(m);
    }
}

/// Prints the table; a benchmark left out by a criterion filter
/// (`-- mount-c4096`) is a dash.
fn table(s: &Samples) {
    let s = s.lock().unwrap();
    let med = |what: &str, cs: u64| s.get(&(what.to_string(), cs)).map(|v| median(v));
    let cell = |x: Option<f64>| x.map_or("–".to_string(), |x| format!("{x:.0}"));
    let mibs = |bytes: u64, what: &str, cs: u64| {
        cell(med(what, cs).map(|t| bytes as f64 / t / (1u64 << 20) as f64))
    };
    let iops = |what: &str, cs: u64| cell(med(what, cs).map(|t| RANDOM_OPS as f64 / t));
    println!();
    println!("| chunk size | overhead % | encrypt MiB/s | decrypt MiB/s | seq write MiB/s | seq read MiB/s | 4 KiB rand read IOPS | 4 KiB rand write IOPS |");
    println!("|---|---|---|---|---|---|---|---|");
    for cs in SIZES {
        let (_, codec) = codec(cs);
        let stored = codec.layout().stored_size(FILE_BYTES) as f64;
        println!(
            "| {} | {:.1} | {} | {} | {} | {} | {} | {} |",
            if cs >= 1024 {
                format!("{} KiB", cs / 1024)
            } else {
                format!("{cs} B")
            },
            (stored / FILE_BYTES as f64 - 1.0) * 100.0,
            mibs(CODEC_BYTES as u64, "encrypt", cs),
            mibs(CODEC_BYTES as u64, "decrypt", cs),
            mibs(FILE_BYTES, "seq-write", cs),
            mibs(FILE_BYTES, "seq-read", cs),
            iops("rand-read-4k", cs),
            iops("rand-write-4k", cs),
        );
    }
}

fn main() {
    let samples: Samples = Mutex::new(BTreeMap::new());
    let mut c = Criterion::default().configure_from_args();
    bench_codec(&mut c, &samples);
    bench_mount(&mut c, &samples);
    c.final_summary();
    table(&samples);
}
