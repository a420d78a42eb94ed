//! SPEC §12 "Streams": encode and decode a whole file or stream from a
//! reader to a writer in constant memory, a batch of chunks at a time, the
//! chunks of a batch in parallel (rayon) while the next batch is read.
//!
//! The decoder releases a chunk only after its tag verified, and only when
//! at least `trailer_len + 1` bytes follow it, so it can never be the last
//! chunk (whose length depends on the authenticated size in the trailer).

use crate::codec::{Codec, Profile};
use crate::error::{Error, Result};
use crate::header::FileId;
use rand_core::CryptoRngCore;
use rayon::prelude::*;
use std::io::{self, Read, Write};
use std::sync::mpsc::sync_channel;

/// Plaintext bytes per batch: bounds memory at about 3 × this.
pub const BATCH_BYTES: usize = 8 << 20;

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

/// Chunks per rayon task: small chunks are grouped so a task is ~64 KiB.
fn min_len(cs: u64) -> usize {
    ((64 << 10) / cs as usize).max(1)
}

/// Reads until `buf` holds `want` bytes or the reader ends. Returns true at EOF.
/// Grows `buf` a step at a time, so a small input costs a small buffer.
fn fill<R: Read>(r: &mut R, buf: &mut Vec<u8>, want: usize) -> io::Result<bool> {
    const STEP: usize = 256 << 10;
    while buf.len() < want {
        let n = buf.len();
        buf.resize(want.min(n + STEP), 0);
        match r.read(&mut buf[n..]) {
            Ok(0) => {
                buf.truncate(n);
                return Ok(true);
            }
            Ok(k) => buf.truncate(n + k),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(n),
            Err(e) => {
                buf.truncate(n);
                return Err(e);
            }
        }
    }
    Ok(false)
}

/// Encrypts all of `reader` into `writer` as one file with id `id`.
/// Returns the plaintext size. `progress` gets plaintext bytes done so far.
///
/// A reader thread and a writer thread move the bytes while the rayon pool
/// encrypts, so I/O overlaps the crypto; at most about four batches are in
/// memory at once, whatever the input size.
pub fn encrypt<R: Read + Send, W: Write + Send>(
    codec: &Codec,
    id: &FileId,
    reader: &mut R,
    writer: &mut W,
    target: Target,
    rng: &mut impl CryptoRngCore,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u64> {
    let layout = *codec.layout();
    let cs = layout.chunk_size as usize;
    let frame = layout.frame_len() as usize;
    let cap = batch_frames(layout.chunk_size) * cs;
    std::thread::scope(|s| {
        let (in_tx, in_rx) = sync_channel::<io::Result<Vec<u8>>>(1);
        let (out_tx, out_rx) = sync_channel::<Vec<u8>>(1);
        s.spawn(move || loop {
            // Every block but the last holds exactly `cap` bytes, so chunk
            // boundaries never straddle two blocks.
            let mut b = Vec::new();
            match fill(reader, &mut b, cap) {
                Ok(eof) => {
                    if !b.is_empty() && in_tx.send(Ok(b)).is_err() {
                        return;
                    }
                    if eof {
                        return;
                    }
                }
                Err(e) => {
                    let _ = in_tx.send(Err(e));
                    return;
                }
            }
        });
        let w = s.spawn(move || -> io::Result<()> {
            for b in out_rx {
                writer.write_all(&b)?;
            }
            writer.flush()
        });
        let mut body = || -> Result<u64> {
            let send = |b: Vec<u8>| {
                out_tx
                    .send(b)
                    .map_err(|_| Error::Io(io::Error::other("the output writer stopped")))
            };
            send(codec.encode_header(id))?;
            let mut index: u64 = 0;
            let mut total: u64 = 0;
            for cur in in_rx.iter() {
                let cur = cur?;
                let n = cur.len().div_ceil(cs);
                // Randomness enters here, sequentially, so a seeded rng gives the same file.
                let ivs: Vec<[u8; 16]> = (0..n)
                    .map(|_| {
                        let mut iv = [0u8; 16];
                        rng.fill_bytes(&mut iv);
                        iv
                    })
                    .collect();
                let stored: usize = (0..n)
                    .map(|i| {
                        let plain = layout.chunk_plain_len(i as u64, cur.len() as u64);
                        layout.chunk_stored_len(plain) as usize
                    })
                    .sum();
                let mut out = vec![0u8; stored];
                out.par_chunks_mut(frame)
                    .zip(cur.par_chunks(cs))
                    .zip(ivs.par_iter())
                    .enumerate()
                    .with_min_len(min_len(layout.chunk_size))
                    .for_each(|(i, ((o, p), iv))| {
                        codec.encrypt_chunk_into(id, index + i as u64, iv, p, o)
                    });
                send(out)?;
                index += n as u64;
                total += cur.len() as u64;
                progress(total);
            }
            if total == 0 && codec.profile() == Profile::Legacy && target == Target::File {
                // quirk 12: the original writes an empty file as 0 bytes.
            } else {
                send(codec.encode_trailer(id, total))?;
            }
            Ok(total)
        };
        let res = body();
        // Closing both channels lets the threads end, also after an error.
        drop(out_tx);
        drop(in_rx);
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
    run_decoder(codec, reader, Some(writer), &mut report, progress)?;
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
    match run_decoder::<R, io::Sink>(codec, reader, None, &mut report, progress) {
        Ok(()) => {}
        Err(Error::Io(e)) => return Err(e),
        Err(e) => report.error = Some(e),
    }
    Ok(report)
}

/// The decoder. With a writer it stops at the first error; without one it
/// records bad chunks in `report` and goes on.
fn run_decoder<R: Read + Send, W: Write>(
    codec: &Codec,
    reader: &mut R,
    mut writer: Option<&mut W>,
    report: &mut Report,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<()> {
    let keep_going = writer.is_none();
    let layout = *codec.layout();
    let cs = layout.chunk_size as usize;
    let frame = layout.frame_len() as usize;
    let tl = layout.trailer_len as usize;
    let hl = layout.header_len as usize;
    let mut head = Vec::with_capacity(hl);
    let head_eof = fill(reader, &mut head, hl)?;
    if head_eof && head.len() < hl {
        if head.is_empty() {
            return Err(Error::Truncated {
                stored: 0,
                expected: layout.stored_size(0),
            });
        }
        return Err(Error::BadHeader("shorter than the header"));
    }
    let id = codec.decode_header(&head)?;
    let cap = batch_frames(layout.chunk_size) * frame + frame + tl;
    let mut consumed = hl as u64;
    let mut index: u64 = 0;
    let mut plain_done: u64 = 0;
    let mut buf = Vec::new();
    let mut eof = fill(reader, &mut buf, cap)?;
    let mut out = Vec::new();

    // Decrypts `frames` (consecutive stored chunks from `index`) with plaintext
    // lengths `lens`; returns the bad indexes.
    let decode = |frames: &[u8], lens: &[usize], first: u64, out: &mut Vec<u8>| -> Vec<u64> {
        let total: usize = lens.iter().sum();
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
                codec.decrypt_chunk_into(&id, idx, s, o).err().map(|_| idx)
            })
            .collect();
        bad.sort_unstable();
        bad
    };

    loop {
        if eof {
            break;
        }
        let n = (buf.len() - tl - 1) / frame;
        let carry = buf.split_off(n * frame);
        let mut next = carry;
        let lens = vec![cs; n];
        let (read_res, bad) = rayon::join(
            || fill(reader, &mut next, cap),
            || decode(&buf, &lens, index, &mut out),
        );
        if !bad.is_empty() {
            if keep_going {
                report.bad_chunks.extend(bad);
            } else {
                return Err(Error::ChunkTampered { index: bad[0] });
            }
        }
        if let Some(w) = writer.as_deref_mut() {
            w.write_all(&out)?;
        }
        consumed += buf.len() as u64;
        index += n as u64;
        plain_done += out.len() as u64;
        progress(plain_done);
        eof = read_res?;
        buf = next;
    }

    // The tail: at most a few frames and the trailer.
    let stored_len = consumed + buf.len() as u64;
    let tail_len = buf.len().saturating_sub(tl);
    let size = match codec.decode_trailer(&id, stored_len, &buf[tail_len..]) {
        Ok(s) => Some(s),
        Err(e) if keep_going => {
            report.error = Some(e);
            None
        }
        Err(e) => return Err(e),
    };
    report.size = size;
    if stored_len == 0 || (codec.profile() == Profile::Legacy && size == Some(0)) {
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
    let bad = decode(frames, &lens, index, &mut out);
    if !bad.is_empty() {
        if keep_going {
            report.bad_chunks.extend(bad);
        } else {
            return Err(Error::ChunkTampered { index: bad[0] });
        }
    }
    if let Some(w) = writer {
        w.write_all(&out)?;
        w.flush()?;
    }
    progress(plain_done + out.len() as u64);
    Ok(())
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
