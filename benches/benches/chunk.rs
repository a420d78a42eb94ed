//! Chunk encrypt/decrypt throughput for each chunk size, both profiles:
//! one chunk at a time, and (`encrypt-lanes`) four chunks side by side with
//! `Codec::encrypt_chunks`, as the stream and the mount encrypt.
//! `cargo bench -p fusecry-benches --bench chunk`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fusecry_format::chunk::{ChunkJob, LANES};
use fusecry_format::keys::Key32;
use fusecry_format::legacy::LegacyKeys;
use fusecry_format::{Codec, FileId, MasterKey};

const SIZES: [usize; 6] = [16, 512, 4096, 16384, 65536, 1 << 20];

fn codecs(cs: u64) -> [(&'static str, Codec); 2] {
    [
        (
            "fusecry1",
            Codec::v1(&MasterKey::from_bytes([7; 32]), cs, true),
        ),
        (
            "legacy",
            Codec::legacy(LegacyKeys::new(Key32::from_bytes([7; 32])), cs, false),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let id = FileId([9; 16]);
    let iv = [3u8; 16];
    let mut g = c.benchmark_group("chunk");
    for cs in SIZES {
        let plain = vec![0x5au8; cs];
        g.throughput(Throughput::Bytes(cs as u64));
        for (name, codec) in codecs(cs as u64) {
            let mut out = vec![0u8; cs + 48];
            g.bench_with_input(
                BenchmarkId::new(format!("{name}/encrypt"), cs),
                &cs,
                |b, _| b.iter(|| codec.encrypt_chunk_into(&id, 1, &iv, &plain, &mut out)),
            );
            let mut outs = vec![vec![0u8; cs + 48]; LANES];
            g.throughput(Throughput::Bytes((cs * LANES) as u64));
            g.bench_with_input(
                BenchmarkId::new(format!("{name}/encrypt-lanes"), cs),
                &cs,
                |b, _| {
                    b.iter(|| {
                        let mut jobs: Vec<ChunkJob<'_>> = outs
                            .iter_mut()
                            .enumerate()
                            .map(|(i, out)| ChunkJob {
                                index: i as u64,
                                iv,
                                plain: &plain,
                                out,
                            })
                            .collect();
                        codec.encrypt_chunks(&id, &mut jobs)
                    })
                },
            );
            g.throughput(Throughput::Bytes(cs as u64));
            let stored = codec.encrypt_chunk(&id, 1, &iv, &plain);
            let mut back = vec![0u8; cs];
            g.bench_with_input(
                BenchmarkId::new(format!("{name}/decrypt"), cs),
                &cs,
                |b, _| {
                    b.iter(|| {
                        codec
                            .decrypt_chunk_into(&id, 1, &stored, &mut back)
                            .unwrap()
                    })
                },
            );
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
