//! Many chunks of one file at once (SPEC §7.2): the one place that draws
//! their IVs, decides whether they go to the rayon pool and how they are
//! grouped there. Streams (SPEC §12) and random access (SPEC §7.5–§7.7, the
//! mount) both encrypt and decrypt through here, so a speed-up lands in both.
//!
//! The work runs on the rayon pool and waits only for its own tasks, never
//! on a channel or a lock, so it may be called from any thread, a rayon
//! worker included (rayon runs nested work on the waiting worker).

use crate::chunk::{ChunkJob, LANES};
use crate::codec::Codec;
use crate::header::FileId;
use crate::layout::Layout;
use rand_core::CryptoRngCore;
use rayon::prelude::*;

/// Below this much plaintext a batch runs on the calling thread: the mount
/// already gets several requests at once, and handing small work to the
/// pool costs more than it saves.
pub const PARALLEL_MIN_BYTES: usize = 256 << 10;

/// Plaintext per rayon task at least: small chunks are grouped so the
/// scheduling cost stays small beside the crypto.
const TASK_BYTES: usize = 64 << 10;

/// Whether `n` chunks holding `bytes` plaintext bytes are worth the pool.
fn parallel(n: usize, bytes: usize) -> bool {
    n > 1 && bytes >= PARALLEL_MIN_BYTES
}

/// Chunks per task out of `n` chunks of `chunk_size`: at least [`LANES`]
/// so their CBC chains run side by side, ~[`TASK_BYTES`] for small chunks,
/// and few enough that every thread gets work when the chunks are large.
fn group_len(chunk_size: u64, n: usize) -> usize {
    let spread = n.div_ceil(rayon::current_num_threads()).max(1);
    (TASK_BYTES / chunk_size as usize)
        .max(LANES)
        .min(spread)
        .max(1)
}

/// Stored bytes of chunks holding `lens` plaintext bytes each.
pub fn stored_len(layout: &Layout, lens: impl IntoIterator<Item = usize>) -> usize {
    lens.into_iter()
        .map(|l| layout.chunk_stored_len(l as u64) as usize)
        .sum()
}

/// The jobs that encrypt `plains` as chunks `first`, `first + 1`, … into
/// consecutive slots of `out`, which must be exactly their [`stored_len`].
/// Their IVs are drawn by [`encrypt`].
pub fn jobs<'a>(
    layout: &Layout,
    first: u64,
    plains: impl IntoIterator<Item = &'a [u8]>,
    out: &'a mut [u8],
) -> Vec<ChunkJob<'a>> {
    let mut rest = out;
    let jobs: Vec<ChunkJob<'a>> = plains
        .into_iter()
        .enumerate()
        .map(|(k, plain)| {
            let sl = layout.chunk_stored_len(plain.len() as u64) as usize;
            let (slot, b) = std::mem::take(&mut rest).split_at_mut(sl);
            rest = b;
            ChunkJob {
                index: first + k as u64,
                iv: [0; 16],
                plain,
                out: slot,
            }
        })
        .collect();
    debug_assert!(rest.is_empty(), "`out` is exactly the stored length");
    jobs
}

/// Draws a fresh IV for every job, in order, then encrypts them all
/// ([`encrypt_drawn`]).
///
/// One `fill_bytes` for the whole batch: one `getrandom` call instead of
/// one per chunk. A seeded ChaCha20 stream gives the same bytes either way
/// (an IV is four whole words of it), so test vectors do not change.
pub fn encrypt(
    codec: &Codec,
    id: &FileId,
    jobs: &mut [ChunkJob<'_>],
    rng: &mut impl CryptoRngCore,
) {
    let mut ivs = vec![0u8; 16 * jobs.len()];
    rng.fill_bytes(&mut ivs);
    for (j, iv) in jobs.iter_mut().zip(ivs.chunks_exact(16)) {
        j.iv.copy_from_slice(iv);
    }
    encrypt_drawn(codec, id, jobs);
}

/// Encrypts every job with the IV it holds: on the pool in groups of
/// [`group_len`] when the batch is large enough, else on this thread.
pub fn encrypt_drawn(codec: &Codec, id: &FileId, jobs: &mut [ChunkJob<'_>]) {
    let bytes: usize = jobs.iter().map(|j| j.plain.len()).sum();
    if parallel(jobs.len(), bytes) {
        let g = group_len(codec.chunk_size(), jobs.len());
        jobs.par_chunks_mut(g)
            .for_each(|g| codec.encrypt_chunks(id, g));
    } else {
        codec.encrypt_chunks(id, jobs);
    }
}

/// Verifies and decrypts consecutive stored chunks `frames`, from chunk
/// `first` on, holding `lens` plaintext bytes each, into `out` (exactly
/// their sum). Returns the indexes of the chunks that failed, in order;
/// their plaintext is not to be used. Every chunk is checked, so a verifier
/// learns all the damage; a short `frames` fails the chunks it cuts.
pub fn decrypt(
    codec: &Codec,
    id: &FileId,
    first: u64,
    frames: &[u8],
    lens: &[usize],
    out: &mut [u8],
) -> Vec<u64> {
    let layout = codec.layout();
    let mut pairs: Vec<(&mut [u8], &[u8])> = Vec::with_capacity(lens.len());
    let (mut rest, mut srest) = (out, frames);
    for &l in lens {
        let (o, b) = std::mem::take(&mut rest).split_at_mut(l);
        rest = b;
        let sl = layout.chunk_stored_len(l as u64) as usize;
        let (s, b) = srest.split_at(sl.min(srest.len()));
        srest = b;
        pairs.push((o, s));
    }
    debug_assert!(rest.is_empty(), "`out` is exactly the plaintext length");
    let check = |(k, (o, s)): (usize, &mut (&mut [u8], &[u8]))| {
        let idx = first + k as u64;
        codec.decrypt_chunk_into(id, idx, s, o).err().map(|_| idx)
    };
    let bytes: usize = lens.iter().sum();
    if parallel(lens.len(), bytes) {
        let g = group_len(codec.chunk_size(), lens.len());
        let mut bad: Vec<u64> = pairs
            .par_iter_mut()
            .enumerate()
            .with_min_len(g)
            .filter_map(check)
            .collect();
        bad.sort_unstable();
        bad
    } else {
        pairs.iter_mut().enumerate().filter_map(check).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Key32;
    use crate::legacy::LegacyKeys;
    use crate::MasterKey;
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    /// The batch is the chunk codec, whatever the size and the pool: the
    /// same bytes as one chunk at a time with the IVs drawn in order, and
    /// back again; one flipped bit fails exactly its chunk.
    #[test]
    fn same_bytes_as_one_chunk_at_a_time() {
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                for codec in [
                    Codec::v1(&MasterKey::from_bytes([5; 32]), 4096, true),
                    Codec::legacy(LegacyKeys::new(Key32::from_bytes([6; 32])), 4096, false),
                ] {
                    let l = *codec.layout();
                    for size in [1usize, 4096, 3 * 4096 + 5, (600 << 10) + 17] {
                        let mut rng = ChaCha20Rng::seed_from_u64(size as u64);
                        let mut plain = vec![0u8; size];
                        rng.fill_bytes(&mut plain);
                        let id = FileId::random(&mut rng);
                        let lens: Vec<usize> = plain.chunks(4096).map(|c| c.len()).collect();
                        let mut out = vec![0u8; stored_len(&l, lens.iter().copied())];
                        let mut js = jobs(&l, 3, plain.chunks(4096), &mut out);
                        let mut a = rng.clone();
                        encrypt(&codec, &id, &mut js, &mut rng);
                        drop(js);
                        let mut want = Vec::new();
                        for (k, p) in plain.chunks(4096).enumerate() {
                            let mut iv = [0u8; 16];
                            a.fill_bytes(&mut iv);
                            want.extend(codec.encrypt_chunk(&id, 3 + k as u64, &iv, p));
                        }
                        assert!(out == want, "size {size} threads {threads}");
                        let mut back = vec![0u8; size];
                        assert!(decrypt(&codec, &id, 3, &out, &lens, &mut back).is_empty());
                        assert!(back == plain);
                        let bad_at = lens.len() - 1;
                        out[bad_at * l.frame_len() as usize + 40] ^= 1;
                        let bad = decrypt(&codec, &id, 3, &out, &lens, &mut back);
                        assert_eq!(bad, vec![3 + bad_at as u64]);
                        let cut = &out[..out.len() - 1];
                        let bad = decrypt(&codec, &id, 3, cut, &lens, &mut back);
                        assert_eq!(bad, vec![3 + bad_at as u64]);
                    }
                }
            });
        }
    }
}
