//! SPEC §12 "Streams": encode and decode a whole file or stream from a
//! reader to a writer in constant memory, a batch of chunks at a time.
//!
//! Both directions are a three-stage pipeline: a reader thread fills blocks,
//! the chunks of a block are encrypted or verified and decrypted in parallel
//! (rayon), and a writer moves the finished batch out while the next one is
//! being computed and the one after that read. Buffers go round through
//! channels instead of being allocated per batch, so memory stays at a few
//! batches whatever the input size, and the pages are not faulted in and
//! zeroed again for every batch.
//!
//! The decoder releases a chunk only after its tag verified, and only when
//! at least `trailer_len + 1` bytes follow it, so it can never be the last
//! chunk (whose length depends on the authenticated size in the trailer).

use crate::chunk::{ChunkJob, LANES};
use crate::codec::{Codec, Profile};
use crate::error::{Error, Result};
use crate::header::FileId;
use rand_core::CryptoRngCore;
use rayon::prelude::*;
use std::io::{self, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::Scope;

/// Plaintext bytes per batch. About seven batches' worth of buffers exist at
/// most (four read, three written), whatever the input size.
pub const BATCH_BYTES: usize = 4 << 20;

/// Blocks the reader may hold: one being read, one queued, and the decoder's
/// current and look-ahead blocks.
const READ_BUFFERS: usize = 4;
/// Output batches: one being computed, one queued, one being written.
const WRITE_BUFFERS: usize = 3;

/// What is being written: the only difference is legacy's empty input,
/// which is 0 bytes as a file and 8 zero bytes as a stream (quirk 12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A file (`encrypt`, the mount).
    File,
    /// A stream (`stream encrypt`).
    Stream,
}

fn batch_frames(cs: u64) -> usize {
    (BATCH_BYTES / cs as usize).max(1)
}

/// Chunks per rayon task: small chunks are grouped so a task is ~64 KiB and
/// the scheduling cost stays small beside the crypto.
fn min_len(cs: u64) -> usize {
    ((64 << 10) / cs as usize).max(1)
}

/// Chunks per encryption task out of `n`: at least [`LANES`] so their CBC
/// chains run side by side, ~64 KiB for small chunks, and few enough that
/// every thread gets work when the chunks are large.
fn group_len(cs: u64, n: usize) -> usize {
    let spread = n.div_ceil(rayon::current_num_threads()).max(1);
    min_len(cs).max(LANES).min(spread)
}

/// Reads until `buf[..want]` is full or the reader ends; returns the bytes
/// read. `buf` keeps its length between uses, so a recycled buffer is read
/// into as is; a new one grows a step at a time (zeroed once), so a small
/// input costs a small buffer.
fn fill<R: Read>(r: &mut R, buf: &mut Vec<u8>, want: usize) -> io::Result<usize> {
    const STEP: usize = 256 << 10;
    let mut n = 0;
    while n < want {
        if n == buf.len() {
            buf.resize(want.min(n + STEP), 0);
        }
        let end = buf.len().min(want);
        match r.read(&mut buf[n..end]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// `len` bytes read into `buf[..len]`. Every block but the last is full.
struct Block {
    buf: Vec<u8>,
    len: usize,
}

impl Block {
    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// A pool of `n` buffers that go round: `take` blocks until one comes back.
fn pool(n: usize) -> (SyncSender<Vec<u8>>, Receiver<Vec<u8>>) {
    let (tx, rx) = sync_channel(n);
    for _ in 0..n {
        tx.send(Vec::new())
            .expect("the pool has room for all its buffers");
    }
    (tx, rx)
}

/// Starts the reader thread: it takes buffers from `free`, fills each with
/// `want` bytes and sends it on, until a block comes back short (the end,
/// which is always sent, empty or not) or a read fails. It stops early when
/// the consumer hangs up.
fn spawn_reader<'s, R: Read + Send>(
    s: &'s Scope<'s, '_>,
    reader: &'s mut R,
    want: usize,
    free: Receiver<Vec<u8>>,
) -> Receiver<io::Result<Block>> {
    let (tx, rx) = sync_channel::<io::Result<Block>>(1);
    s.spawn(move || {
        for mut buf in free {
            match fill(reader, &mut buf, want) {
                Ok(len) => {
                    if tx.send(Ok(Block { buf, len })).is_err() || len < want {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    });
    rx
}

/// The pipelines wait on channels while their chunks run on the rayon pool.
/// On a rayon worker that wait would hold a thread the chunks need, and with
/// every worker so held nothing moves again (fsck did this with two large
/// files on two workers): refused with an error instead of hanging.
fn off_rayon_workers() -> Result<()> {
    match rayon::current_thread_index() {
        None => Ok(()),
        Some(_) => Err(Error::Io(io::Error::other(
            "a stream pipeline must not run on a rayon worker thread",
        ))),
    }
}

fn writer_stopped() -> Error {
    Error::Io(io::Error::other("the output writer stopped"))
}

/// Encrypts all of `reader` into `writer` as one file with id `id`.
/// Returns the plaintext size. `progress` gets plaintext bytes done so far.
///
/// A reader thread and a writer thread move the bytes while the rayon pool
/// encrypts, so I/O overlaps the crypto; buffers are recycled and at most
/// about seven batches are in memory at once, whatever the input size.
pub fn encrypt<R: Read + Send, W: Write + Send>(
    codec: &Codec,
    id: &FileId,
    reader: &mut R,
    writer: &mut W,
    target: Target,
    rng: &mut impl CryptoRngCore,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u64> {
    off_rayon_workers()?;
    let layout = *codec.layout();
    let cs = layout.chunk_size as usize;
    let frame = layout.frame_len() as usize;
    // Every block but the last holds exactly `cap` bytes, so chunk
    // boundaries never straddle two blocks.
    let cap = batch_frames(layout.chunk_size) * cs;
    std::thread::scope(|s| {
        let (free_in, free_in_rx) = pool(READ_BUFFERS);
        let in_rx = spawn_reader(s, reader, cap, free_in_rx);
        let (free_out, free_out_rx) = pool(WRITE_BUFFERS);
        let (out_tx, out_rx) = sync_channel::<Vec<u8>>(1);
        let w = s.spawn(move || -> io::Result<()> {
            for b in out_rx {
                writer.write_all(&b)?;
                // The header and trailer also pass here: a full pool just
                // drops the extra buffer.
                let _ = free_out.try_send(b);
            }
            writer.flush()
        });
        let mut body = || -> Result<u64> {
            let send = |b: Vec<u8>| out_tx.send(b).map_err(|_| writer_stopped());
            send(codec.encode_header(id))?;
            let mut index: u64 = 0;
            let mut total: u64 = 0;
            let mut ivs: Vec<[u8; 16]> = Vec::new();
            for cur in in_rx.iter() {
                let cur = cur?;
                let plain = cur.bytes();
                if !plain.is_empty() {
                    let n = plain.len().div_ceil(cs);
                    // Randomness enters here, sequentially, so a seeded rng gives the same file.
                    ivs.clear();
                    ivs.extend((0..n).map(|_| {
                        let mut iv = [0u8; 16];
                        rng.fill_bytes(&mut iv);
                        iv
                    }));
                    let stored: usize = (0..n)
                        .map(|i| {
                            let p = layout.chunk_plain_len(i as u64, plain.len() as u64);
                            layout.chunk_stored_len(p) as usize
                        })
                        .sum();
                    let mut out = free_out_rx.recv().map_err(|_| writer_stopped())?;
                    // Every byte is overwritten; only growth is zeroed.
                    out.resize(stored, 0);
                    let g = group_len(layout.chunk_size, n);
                    out.par_chunks_mut(frame * g)
                        .zip(plain.par_chunks(cs * g))
                        .zip(ivs.par_chunks(g))
                        .enumerate()
                        .for_each(|(t, ((o, p), ivs))| {
                            let first = index + (t * g) as u64;
                            let mut jobs: Vec<ChunkJob<'_>> = o
                                .chunks_mut(frame)
                                .zip(p.chunks(cs))
                                .zip(ivs)
                                .enumerate()
                                .map(|(i, ((out, plain), iv))| ChunkJob {
                                    index: first + i as u64,
                                    iv: *iv,
                                    plain,
                                    out,
                                })
                                .collect();
                            codec.encrypt_chunks(id, &mut jobs);
                        });
                    send(out)?;
                    index += n as u64;
                    total += plain.len() as u64;
                    progress(total);
                }
                let _ = free_in.send(cur.buf);
            }
            if total == 0 && codec.profile() == Profile::Legacy && target == Target::File {
                // quirk 12: the original writes an empty file as 0 bytes.
            } else {
                send(codec.encode_trailer(id, total))?;
            }
            Ok(total)
        };
        let res = body();
        // Closing the channels lets the threads end, also after an error.
        drop(out_tx);
        drop(in_rx);
        drop(free_in);
        let written = w.join().expect("the writer thread does not panic");
        match (res, written) {
            (_, Err(e)) => Err(Error::Io(e)),
            (res, Ok(())) => res,
        }
    })
}

/// What [`verify`] found.
#[derive(Debug, Default)]
pub struct Report {
    /// The authenticated plaintext size, when the trailer verified.
    pub size: Option<u64>,
    /// Indexes of chunks whose tag failed.
    pub bad_chunks: Vec<u64>,
    /// The first file-level failure (header, trailer, length).
    pub error: Option<Error>,
}

impl Report {
    /// True when nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.bad_chunks.is_empty() && self.error.is_none()
    }
}

/// Decrypts a stored file from `reader` into `writer`. Only verified chunks
/// are written; the first failure stops and is returned. Returns the size.
pub fn decrypt<R: Read + Send, W: Write>(
    codec: &Codec,
    reader: &mut R,
    writer: &mut W,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u64> {
    let mut report = Report::default();
    run_decoder(
        codec,
        reader,
        Some(writer),
        &mut report,
        progress,
        batch_frames(codec.chunk_size()),
    )?;
    Ok(report.size.unwrap_or(0))
}

/// Checks every chunk of a stored file and reports all damage instead of stopping.
/// Errors only on I/O failure of the reader.
pub fn verify<R: Read + Send>(
    codec: &Codec,
    reader: &mut R,
    progress: &(dyn Fn(u64) + Sync),
) -> io::Result<Report> {
    let mut report = Report::default();
    let frames = batch_frames(codec.chunk_size());
    match run_decoder::<R, io::Sink>(codec, reader, None, &mut report, progress, frames) {
        Ok(()) => {}
        Err(Error::Io(e)) => return Err(e),
        Err(e) => report.error = Some(e),
    }
    Ok(report)
}

/// The decoder, `frames_per_block` frames a batch. With a writer it stops at
/// the first error; without one it records bad chunks in `report` and goes on.
///
/// The calling thread is the writer (so `W` need not be `Send`); a reader
/// thread reads ahead, and a decoder thread verifies and decrypts on rayon.
/// The decoder hands the writer only plaintext whose tag verified, and the
/// last chunks only after the trailer verified.
fn run_decoder<R: Read + Send, W: Write>(
    codec: &Codec,
    reader: &mut R,
    writer: Option<&mut W>,
    report: &mut Report,
    progress: &(dyn Fn(u64) + Sync),
    frames_per_block: usize,
) -> Result<()> {
    off_rayon_workers()?;
    let layout = *codec.layout();
    let hl = layout.header_len as usize;
    let mut head = Vec::new();
    let got = fill(reader, &mut head, hl)?;
    if got < hl {
        if got == 0 {
            return Err(Error::Truncated {
                stored: 0,
                expected: layout.stored_size(0),
            });
        }
        return Err(Error::BadHeader("shorter than the header"));
    }
    let id = codec.decode_header(&head[..hl])?;
    let want = frames_per_block * layout.frame_len() as usize;
    std::thread::scope(|s| {
        let (free_in, free_in_rx) = pool(READ_BUFFERS);
        let in_rx = spawn_reader(s, reader, want, free_in_rx);
        let (free_out, free_out_rx) = pool(WRITE_BUFFERS);
        let (out_tx, out_rx) = sync_channel::<Vec<u8>>(1);
        let dec = Decoder {
            codec,
            id,
            keep_going: writer.is_none(),
            want,
        };
        let worker = s.spawn(move || {
            let res = dec.run(in_rx, &free_in, &free_out_rx, &out_tx, report);
            // Dropping the channels here, not at the end of the scope, tells
            // the writer loop below that nothing more comes.
            drop(out_tx);
            res
        });
        let mut done: u64 = 0;
        let mut written: io::Result<()> = Ok(());
        let mut writer = writer;
        for b in out_rx.iter() {
            if let Some(w) = writer.as_deref_mut() {
                if let Err(e) = w.write_all(&b) {
                    written = Err(e);
                    break;
                }
            }
            done += b.len() as u64;
            progress(done);
            let _ = free_out.send(b);
        }
        // After a write error, hanging up makes the decoder stop.
        drop(out_rx);
        drop(free_out);
        let res = worker.join().expect("the decoder thread does not panic");
        written?;
        res?;
        if let Some(w) = writer {
            w.flush()?;
        }
        Ok(())
    })
}

/// The middle stage of [`run_decoder`].
struct Decoder<'a> {
    codec: &'a Codec,
    id: FileId,
    keep_going: bool,
    /// Stored bytes in every block but the last: whole frames.
    want: usize,
}

impl Decoder<'_> {
    fn run(
        &self,
        in_rx: Receiver<io::Result<Block>>,
        free_in: &SyncSender<Vec<u8>>,
        free_out: &Receiver<Vec<u8>>,
        out_tx: &SyncSender<Vec<u8>>,
        report: &mut Report,
    ) -> Result<()> {
        let layout = *self.codec.layout();
        let cs = layout.chunk_size as usize;
        let frame = layout.frame_len() as usize;
        let tl = layout.trailer_len as usize;
        // The block held back until we know more than a trailer follows it.
        let mut held: Option<Block> = None;
        let mut consumed = layout.header_len;
        let mut index: u64 = 0;
        let tail = loop {
            let blk = match in_rx.recv() {
                Ok(b) => b?,
                Err(_) => return Err(Error::Io(io::Error::other("the input reader stopped"))),
            };
            let last = blk.len < self.want;
            if blk.len > tl {
                // Every frame of the held block has more than a trailer
                // after it, so none of them is the last chunk: all are full.
                if let Some(h) = held.replace(blk) {
                    let n = h.len / frame;
                    let mut out = free_out.recv().map_err(|_| writer_stopped())?;
                    self.decode(h.bytes(), &vec![cs; n], index, &mut out, report)?;
                    out_tx.send(out).map_err(|_| writer_stopped())?;
                    consumed += h.len as u64;
                    index += n as u64;
                    let _ = free_in.send(h.buf);
                }
            } else {
                // At most a trailer: the end, and it belongs with the held frames.
                debug_assert!(last);
                held = Some(match held.take() {
                    Some(mut h) => {
                        h.buf.truncate(h.len);
                        h.buf.extend_from_slice(blk.bytes());
                        h.len = h.buf.len();
                        h
                    }
                    None => blk,
                });
            }
            if last {
                break held.expect("the last block is held");
            }
        };

        // The tail: the frames still held and the trailer.
        let buf = tail.bytes();
        let stored_len = consumed + buf.len() as u64;
        let tail_len = buf.len().saturating_sub(tl);
        let size = match self
            .codec
            .decode_trailer(&self.id, stored_len, &buf[tail_len..])
        {
            Ok(s) => Some(s),
            Err(e) if self.keep_going => {
                report.error = Some(e);
                None
            }
            Err(e) => return Err(e),
        };
        report.size = size;
        if stored_len == 0 || (self.codec.profile() == Profile::Legacy && size == Some(0)) {
            return Ok(());
        }
        let frames = &buf[..tail_len];
        let lens: Vec<usize> = match size {
            Some(size) => {
                let count = layout.chunk_count(size) - index;
                (0..count)
                    .map(|i| layout.chunk_plain_len(index + i, size) as usize)
                    .collect()
            }
            // Unknown size (fsck of a damaged file): check every frame's tag
            // with the padded length; the tag does not depend on the size.
            None => frames
                .chunks(frame)
                .filter(|f| f.len() >= 64)
                .map(|f| f.len() - 48)
                .collect(),
        };
        let mut out = free_out.recv().map_err(|_| writer_stopped())?;
        self.decode(frames, &lens, index, &mut out, report)?;
        out_tx.send(out).map_err(|_| writer_stopped())?;
        Ok(())
    }

    /// Verifies and decrypts `frames` (consecutive stored chunks from index
    /// `first`) with plaintext lengths `lens` into `out`. A bad chunk is an
    /// error, or with `keep_going` goes into `report`.
    fn decode(
        &self,
        frames: &[u8],
        lens: &[usize],
        first: u64,
        out: &mut Vec<u8>,
        report: &mut Report,
    ) -> Result<()> {
        let layout = self.codec.layout();
        let total: usize = lens.iter().sum();
        // A recycled buffer keeps its length: only growth is zeroed.
        out.resize(total, 0);
        let mut outs: Vec<&mut [u8]> = Vec::with_capacity(lens.len());
        let mut rest: &mut [u8] = out;
        for &l in lens {
            let (a, b) = rest.split_at_mut(l);
            outs.push(a);
            rest = b;
        }
        let mut stored: Vec<&[u8]> = Vec::with_capacity(lens.len());
        let mut srest = frames;
        for &l in lens {
            let sl = layout.chunk_stored_len(l as u64) as usize;
            let (a, b) = srest.split_at(sl.min(srest.len()));
            stored.push(a);
            srest = b;
        }
        let mut bad: Vec<u64> = outs
            .par_iter_mut()
            .zip(stored.par_iter())
            .enumerate()
            .with_min_len(min_len(layout.chunk_size))
            .filter_map(|(i, (o, s))| {
                let idx = first + i as u64;
                self.codec
                    .decrypt_chunk_into(&self.id, idx, s, o)
                    .err()
                    .map(|_| idx)
            })
            .collect();
        if bad.is_empty() {
            return Ok(());
        }
        bad.sort_unstable();
        if self.keep_going {
            report.bad_chunks.extend(bad);
            Ok(())
        } else {
            Err(Error::ChunkTampered { index: bad[0] })
        }
    }
}

/// Encrypts a byte slice (tests, small files).
pub fn encrypt_to_vec(
    codec: &Codec,
    id: &FileId,
    plain: &[u8],
    target: Target,
    rng: &mut impl CryptoRngCore,
) -> Vec<u8> {
    let mut out = Vec::new();
    encrypt(codec, id, &mut &plain[..], &mut out, target, rng, &|_| {})
        .expect("writing to a Vec cannot fail");
    out
}

/// Decrypts a stored file held in memory.
pub fn decrypt_to_vec(codec: &Codec, stored: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    decrypt(codec, &mut &stored[..], &mut out, &|_| {})?;
    Ok(out)
}

/// [`decrypt_to_vec`] and [`verify`] with blocks of `frames` stored chunks
/// instead of [`BATCH_BYTES`]' worth: the decoder's block-boundary path
/// (holding a block back until more than a trailer follows it) is then
/// reached by inputs of a few hundred bytes, which is what a fuzzer makes.
/// For the fuzz targets; the results are those of the public functions.
#[doc(hidden)]
pub fn decode_in_blocks(codec: &Codec, stored: &[u8], frames: usize) -> (Result<Vec<u8>>, Report) {
    let frames = frames.max(1);
    let mut out = Vec::new();
    let mut rep = Report::default();
    let res = run_decoder(
        codec,
        &mut &stored[..],
        Some(&mut out),
        &mut rep,
        &|_| {},
        frames,
    );
    let mut checked = Report::default();
    match run_decoder::<_, io::Sink>(codec, &mut &stored[..], None, &mut checked, &|_| {}, frames) {
        Ok(()) => {}
        Err(e) => checked.error = Some(e),
    }
    (res.map(|()| out), checked)
}

#[cfg(test)]
mod tests {
    //! Batch boundaries: the public functions use batches of megabytes, so
    //! these drive the decoder with blocks of one to three frames.
    use super::*;
    use crate::keys::Key32;
    use crate::legacy::LegacyKeys;
    use crate::MasterKey;
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    /// Hands out at most 7 bytes a read, to exercise partial reads.
    struct Dribble<'a>(&'a [u8]);
    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(7).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn decode(codec: &Codec, stored: &[u8], frames: usize) -> (Result<()>, Vec<u8>, Report) {
        let mut out = Vec::new();
        let mut rep = Report::default();
        let res = run_decoder(
            codec,
            &mut Dribble(stored),
            Some(&mut out),
            &mut rep,
            &|_| {},
            frames,
        );
        (res, out, rep)
    }

    fn verify_with(codec: &Codec, stored: &[u8], frames: usize) -> Report {
        let mut rep = Report::default();
        match run_decoder::<_, io::Sink>(codec, &mut &stored[..], None, &mut rep, &|_| {}, frames) {
            Ok(()) => {}
            Err(e) => rep.error = Some(e),
        }
        rep
    }

    fn codecs(cs: u64) -> [Codec; 2] {
        [
            Codec::v1(&MasterKey::from_bytes([5; 32]), cs, true),
            Codec::legacy(LegacyKeys::new(Key32::from_bytes([6; 32])), cs, false),
        ]
    }

    #[test]
    fn round_trip_across_block_boundaries() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for cs in [16u64, 48] {
            for codec in codecs(cs) {
                for len in 0..(cs as usize * 7 + 3) {
                    let mut plain = vec![0u8; len];
                    rng.fill_bytes(&mut plain);
                    let id = FileId::random(&mut rng);
                    let stored = encrypt_to_vec(&codec, &id, &plain, Target::File, &mut rng);
                    for frames in 1..4 {
                        let (res, out, rep) = decode(&codec, &stored, frames);
                        assert!(res.is_ok(), "len {len} frames {frames}: {res:?}");
                        assert_eq!(out, plain, "len {len} frames {frames}");
                        assert_eq!(rep.size, Some(len as u64));
                        let rep = verify_with(&codec, &stored, frames);
                        assert!(rep.is_clean() && rep.size == Some(len as u64), "{rep:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn cuts_and_flips_release_only_verified_full_chunks() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let cs = 16usize;
        let [codec, _] = codecs(cs as u64);
        let frame = cs + 48;
        let tl = codec.layout().trailer_len as usize;
        for len in [0, 1, cs, 3 * cs + 5, 5 * cs] {
            let mut plain = vec![0u8; len];
            rng.fill_bytes(&mut plain);
            let id = FileId::random(&mut rng);
            let stored = encrypt_to_vec(&codec, &id, &plain, Target::Stream, &mut rng);
            for frames in 1..4 {
                for cut in 0..stored.len() {
                    let (res, out, _) = decode(&codec, &stored[..cut], frames);
                    assert!(res.is_err(), "len {len} cut {cut} frames {frames}");
                    // Whole chunks from the start, each followed by more than a trailer.
                    assert!(out.len().is_multiple_of(cs) && plain.starts_with(&out));
                    assert!(20 + out.len() / cs * frame + tl < cut || out.is_empty());
                }
                for pos in 0..stored.len() {
                    let mut bad = stored.clone();
                    bad[pos] ^= 0x10;
                    let (res, out, _) = decode(&codec, &bad, frames);
                    assert!(res.is_err(), "len {len} flip {pos} frames {frames}");
                    assert!(plain.starts_with(&out));
                    // Nothing at or after the flipped chunk is released.
                    assert!(20 + out.len() / cs * frame <= pos || pos < 20);
                    assert!(!verify_with(&codec, &bad, frames).is_clean());
                }
                // Extended: fails. The true last chunk may then be released
                // as a full one (SPEC §12 step 2 cannot tell), padding and
                // all, but only after its tag verified.
                let mut long = stored.clone();
                long.push(0);
                let (res, out, _) = decode(&codec, &long, frames);
                let mut padded = plain.clone();
                padded.resize(len.div_ceil(cs) * cs, 0);
                assert!(
                    res.is_err() && padded.starts_with(&out),
                    "len {len} frames {frames}"
                );
            }
        }
    }

    #[test]
    fn refused_on_a_rayon_worker_instead_of_deadlocking() {
        let [codec, _] = codecs(4096);
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let id = FileId::random(&mut rng);
        let stored = encrypt_to_vec(&codec, &id, &[1; 10_000], Target::File, &mut rng);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let (dec, ver) = pool.install(|| {
            (
                decrypt_to_vec(&codec, &stored),
                verify(&codec, &mut &stored[..], &|_| {}),
            )
        });
        assert!(matches!(dec, Err(Error::Io(_))), "{dec:?}");
        assert!(ver.is_err(), "{ver:?}");
        assert_eq!(decrypt_to_vec(&codec, &stored).unwrap(), vec![1; 10_000]);
    }

    #[test]
    fn verify_lists_every_bad_chunk_across_blocks() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let cs = 32usize;
        let [codec, _] = codecs(cs as u64);
        let plain = vec![7u8; cs * 9 + 1];
        let id = FileId::random(&mut rng);
        let mut stored = encrypt_to_vec(&codec, &id, &plain, Target::File, &mut rng);
        for i in [0usize, 2, 3, 8, 9] {
            stored[20 + i * (cs + 48) + 50] ^= 1;
        }
        for frames in 1..4 {
            let rep = verify_with(&codec, &stored, frames);
            assert_eq!(rep.bad_chunks, vec![0, 2, 3, 8, 9], "frames {frames}");
            assert_eq!(rep.size, Some(plain.len() as u64));
            assert!(rep.error.is_none());
        }
    }
}
