//! Content suites per core, for a future format version (issue 16 item 7):
//! what sealing and opening one chunk costs on this CPU with fusecry/1's
//! AES-256-CBC + HMAC-SHA256 (and each half of it alone) beside the AEADs
//! RustCrypto offers: AES-256-GCM, AES-256-GCM-SIV, ChaCha20-Poly1305.
//! One thread, one chunk at a time, 4 KiB and 64 KiB chunks; no format
//! change is implied. `cargo bench -p fusecry-benches --bench suites`

use aes_gcm::aead::{AeadInPlace, KeyInit};
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fusecry_format::{Codec, FileId, MasterKey};
use hmac::Mac;

const SIZES: [usize; 2] = [4096, 65536];
type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;
type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Seals and opens `buf` in place with an AEAD, as a chunk would be.
fn aead<A: AeadInPlace + KeyInit>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    cs: usize,
) {
    let key = aes_gcm::aead::Key::<A>::clone_from_slice(&vec![7u8; A::key_size()]);
    let a = A::new(&key);
    let nonce = aes_gcm::aead::Nonce::<A>::default();
    let ad = [9u8; 24];
    let mut buf = vec![0x5au8; cs];
    g.bench_with_input(BenchmarkId::new(format!("{name}/seal"), cs), &cs, |b, _| {
        b.iter(|| a.encrypt_in_place_detached(&nonce, &ad, &mut buf).unwrap())
    });
    let mut sealed = vec![0x5au8; cs];
    let tag = a
        .encrypt_in_place_detached(&nonce, &ad, &mut sealed)
        .unwrap();
    g.bench_with_input(BenchmarkId::new(format!("{name}/open"), cs), &cs, |b, _| {
        b.iter(|| {
            let mut c = sealed.clone();
            a.decrypt_in_place_detached(&nonce, &ad, &mut c, &tag)
                .unwrap();
            c
        })
    });
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("suites");
    for cs in SIZES {
        g.throughput(Throughput::Bytes(cs as u64));
        // fusecry/1 as the codec does it: seal = CBC encrypt + HMAC;
        // open = HMAC verify + CBC decrypt.
        let codec = Codec::v1(&MasterKey::from_bytes([7; 32]), cs as u64, true);
        let (id, iv, plain) = (FileId([9; 16]), [3u8; 16], vec![0x5au8; cs]);
        let mut out = vec![0u8; cs + 48];
        g.bench_with_input(BenchmarkId::new("cbc-hmac/seal", cs), &cs, |b, _| {
            b.iter(|| codec.encrypt_chunk_into(&id, 1, &iv, &plain, &mut out))
        });
        let stored = codec.encrypt_chunk(&id, 1, &iv, &plain);
        let mut back = vec![0u8; cs];
        g.bench_with_input(BenchmarkId::new("cbc-hmac/open", cs), &cs, |b, _| {
            b.iter(|| {
                codec
                    .decrypt_chunk_into(&id, 1, &stored, &mut back)
                    .unwrap()
            })
        });
        // Each half alone: which one bounds the suite.
        let mut buf = vec![0x5au8; cs];
        g.bench_with_input(BenchmarkId::new("cbc-only/encrypt", cs), &cs, |b, _| {
            b.iter(|| {
                Aes256CbcEnc::new(&[7u8; 32].into(), &iv.into())
                    .encrypt_padded_mut::<cbc::cipher::block_padding::NoPadding>(&mut buf, cs)
                    .map(|c| c.len())
                    .unwrap()
            })
        });
        g.bench_with_input(BenchmarkId::new("cbc-only/decrypt", cs), &cs, |b, _| {
            b.iter(|| {
                let mut c = buf.clone();
                Aes256CbcDec::new(&[7u8; 32].into(), &iv.into())
                    .decrypt_padded_mut::<cbc::cipher::block_padding::NoPadding>(&mut c)
                    .map(|p| p.len())
                    .unwrap()
            })
        });
        g.bench_with_input(BenchmarkId::new("hmac-sha256-only/tag", cs), &cs, |b, _| {
            b.iter(|| {
                let mut m = <HmacSha256 as Mac>::new_from_slice(&[7u8; 32]).unwrap();
                m.update(&buf);
                m.finalize().into_bytes()
            })
        });
        aead::<aes_gcm::Aes256Gcm>(&mut g, "aes-256-gcm", cs);
        aead::<aes_gcm_siv::Aes256GcmSiv>(&mut g, "aes-256-gcm-siv", cs);
        aead::<chacha20poly1305::ChaCha20Poly1305>(&mut g, "chacha20-poly1305", cs);
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
