//! SPEC §12 streams from a reader to a writer, on threads: the one part of
//! this crate with an I/O policy (threads, channels, read-ahead, buffer
//! counts). The bytes are those of the codec in [`super`]; this only moves
//! them.
//!
//! Both directions are a three-stage pipeline: a reader thread fills blocks,
//! the chunks of a block are encrypted or verified and decrypted on the
//! rayon pool ([`crate::batch`]), and a writer moves the finished batch out
//! while the next one is being computed and the one after that read.
//! Buffers go round through channels instead of being allocated per batch,
//! so memory stays at a few batches whatever the input size, and the pages
//! are not faulted in and zeroed again for every batch.

use super::{batch_frames, Decoder, Encoder, Report, Target};
use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::header::FileId;
use rand_core::CryptoRngCore;
use std::io::{self, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::Scope;

/// Blocks the reader may hold: one being read, one queued, and the decoder's
/// current and look-ahead blocks.
const READ_BUFFERS: usize = 4;
/// Output batches: one being computed, one queued, one being written.
const WRITE_BUFFERS: usize = 3;

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
    // Every block but the last holds exactly `cap` bytes, so chunk
    // boundaries never straddle two blocks.
    let cap = batch_frames(codec.chunk_size()) * codec.chunk_size() as usize;
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
            let mut enc = Encoder::new(codec, id, target);
            send(enc.header())?;
            for cur in in_rx.iter() {
                let cur = cur?;
                if !cur.bytes().is_empty() {
                    let mut out = free_out_rx.recv().map_err(|_| writer_stopped())?;
                    enc.block(cur.bytes(), &mut out, rng);
                    send(out)?;
                    progress(enc.total());
                }
                let _ = free_in.send(cur.buf);
            }
            let total = enc.total();
            let trailer = enc.finish();
            if !trailer.is_empty() {
                send(trailer)?;
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
    let hl = codec.layout().header_len as usize;
    let mut head = Vec::new();
    let got = fill(reader, &mut head, hl)?;
    let dec = Decoder::new(codec, &head[..got], writer.is_none())?;
    let want = frames_per_block * codec.layout().frame_len() as usize;
    std::thread::scope(|s| {
        let (free_in, free_in_rx) = pool(READ_BUFFERS);
        let in_rx = spawn_reader(s, reader, want, free_in_rx);
        let (free_out, free_out_rx) = pool(WRITE_BUFFERS);
        let (out_tx, out_rx) = sync_channel::<Vec<u8>>(1);
        let worker = s.spawn(move || {
            let res = decode_blocks(dec, want, in_rx, &free_in, &free_out_rx, &out_tx, report);
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

/// The middle stage of [`run_decoder`]: blocks of `want` stored bytes (the
/// last one shorter) from the reader through `dec` to the writer.
fn decode_blocks(
    mut dec: Decoder<'_>,
    want: usize,
    in_rx: Receiver<io::Result<Block>>,
    free_in: &SyncSender<Vec<u8>>,
    free_out: &Receiver<Vec<u8>>,
    out_tx: &SyncSender<Vec<u8>>,
    report: &mut Report,
) -> Result<()> {
    loop {
        let blk = match in_rx.recv() {
            Ok(b) => b?,
            Err(_) => return Err(Error::Io(io::Error::other("the input reader stopped"))),
        };
        let last = blk.len < want;
        let mut buf = blk.buf;
        // Only the last block is short, so a recycled buffer of a full
        // block keeps its length (and its pages) for the reader.
        buf.truncate(blk.len);
        if let Some(full) = dec.push(buf) {
            let mut out = free_out.recv().map_err(|_| writer_stopped())?;
            dec.decode_full(&full, &mut out, report)?;
            out_tx.send(out).map_err(|_| writer_stopped())?;
            let _ = free_in.send(full.into_buf());
        }
        if last {
            break;
        }
    }
    let mut out = free_out.recv().map_err(|_| writer_stopped())?;
    dec.finish(&mut out, report)?;
    out_tx.send(out).map_err(|_| writer_stopped())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Batch boundaries: the public functions use batches of megabytes, so
    //! these drive the decoder with blocks of one to three frames, through
    //! the pipeline and directly ([`decode_in_blocks`]), which must agree.
    use super::super::{decode_in_blocks, decrypt_to_vec, encrypt_to_vec};
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
        let (direct, _) = decode_in_blocks(codec, stored, frames);
        match (&res, &direct) {
            (Ok(()), Ok(d)) => assert_eq!(&out, d),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            _ => panic!("the pipeline says {res:?}, the codec {direct:?}"),
        }
        (res, out, rep)
    }

    fn verify_with(codec: &Codec, stored: &[u8], frames: usize) -> Report {
        let mut rep = Report::default();
        match run_decoder::<_, io::Sink>(codec, &mut &stored[..], None, &mut rep, &|_| {}, frames) {
            Ok(()) => {}
            Err(e) => rep.error = Some(e),
        }
        let (_, direct) = decode_in_blocks(codec, stored, frames);
        assert_eq!(format!("{rep:?}"), format!("{direct:?}"));
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
        let (dec, ver, direct) = pool.install(|| {
            (
                decrypt(&codec, &mut &stored[..], &mut Vec::new(), &|_| {}),
                verify(&codec, &mut &stored[..], &|_| {}),
                // No threads, no channels: fine on a worker.
                decrypt_to_vec(&codec, &stored),
            )
        });
        assert!(matches!(dec, Err(Error::Io(_))), "{dec:?}");
        assert!(ver.is_err(), "{ver:?}");
        assert_eq!(direct.unwrap(), vec![1; 10_000]);
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
