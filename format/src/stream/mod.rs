//! SPEC §12 "Streams": a whole file or stream encoded and decoded in order,
//! a block of chunks at a time, in constant memory.
//!
//! This module is the codec, with no threads and no I/O: an [`Encoder`]
//! turns plaintext blocks into stored bytes, a [`Decoder`] turns stored
//! blocks into verified plaintext. [`pipeline`] drives them from a reader
//! to a writer on threads of its own so I/O overlaps the crypto; the
//! in-memory helpers here drive them directly.
//!
//! The decoder releases a chunk only after its tag verified, and only when
//! at least `trailer_len + 1` bytes follow it, so it can never be the last
//! chunk (whose length depends on the authenticated size in the trailer).

pub mod pipeline;

pub use pipeline::{decrypt, encrypt, verify};

use crate::batch;
use crate::codec::{Codec, Profile};
use crate::error::{Error, Result};
use crate::header::FileId;
use rand_core::CryptoRngCore;

/// Plaintext bytes per batch. About seven batches' worth of buffers exist at
/// most in a [`pipeline`] (four read, three written), whatever the input size.
pub const BATCH_BYTES: usize = 4 << 20;

/// Chunks of `chunk_size` in one batch.
pub(crate) fn batch_frames(chunk_size: u64) -> usize {
    (BATCH_BYTES / chunk_size as usize).max(1)
}

/// What is being written: the only difference is legacy's empty input,
/// which is 0 bytes as a file and 8 zero bytes as a stream (quirk 12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A file (`encrypt`, the mount).
    File,
    /// A stream (`stream encrypt`).
    Stream,
}

/// Encodes one file or stream: [`Encoder::header`], then [`Encoder::block`]
/// for each block of plaintext in order, then [`Encoder::finish`].
pub struct Encoder<'a> {
    codec: &'a Codec,
    id: FileId,
    target: Target,
    index: u64,
    total: u64,
}

impl<'a> Encoder<'a> {
    /// An encoder of a file with id `id`.
    pub fn new(codec: &'a Codec, id: &FileId, target: Target) -> Encoder<'a> {
        Encoder {
            codec,
            id: *id,
            target,
            index: 0,
            total: 0,
        }
    }

    /// The stored bytes before the first chunk.
    pub fn header(&self) -> Vec<u8> {
        self.codec.encode_header(&self.id)
    }

    /// Encrypts the next `plain` bytes into `out` (resized to fit; only
    /// growth is zeroed, every byte is overwritten). Every block but the
    /// last must be a whole number of chunks. IVs come from `rng` in chunk
    /// order, so a seeded rng gives the same file.
    pub fn block(&mut self, plain: &[u8], out: &mut Vec<u8>, rng: &mut impl CryptoRngCore) {
        let layout = *self.codec.layout();
        let cs = layout.chunk_size as usize;
        debug_assert!(
            self.total.is_multiple_of(cs as u64),
            "only the last block ends within a chunk"
        );
        out.resize(
            batch::stored_len(&layout, plain.chunks(cs).map(<[u8]>::len)),
            0,
        );
        let mut jobs = batch::jobs(&layout, self.index, plain.chunks(cs), out);
        batch::encrypt(self.codec, &self.id, &mut jobs, rng);
        self.index += jobs.len() as u64;
        self.total += plain.len() as u64;
    }

    /// Plaintext bytes encoded so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The stored bytes after the last chunk: the trailer (a legacy empty
    /// *file* has none, SPEC §7.3).
    pub fn finish(self) -> Vec<u8> {
        match self.target {
            Target::File => crate::file::trailer(self.codec, &self.id, self.total)
                .map(|(_, t)| t)
                .unwrap_or_default(),
            Target::Stream => self.codec.encode_trailer(&self.id, self.total),
        }
    }
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

/// Whole frames released by [`Decoder::push`]: none of them holds the last
/// chunk, so all are full. Decrypt them with [`Decoder::decode_full`].
pub struct Full {
    first: u64,
    frames: Vec<u8>,
}

impl Full {
    /// The buffer, to be reused.
    pub fn into_buf(self) -> Vec<u8> {
        self.frames
    }
}

/// Decodes one stored file or stream: [`Decoder::new`] with the header,
/// [`Decoder::push`] for each block of stored bytes after it (every block
/// but the last a whole number of frames, the last shorter than the others,
/// empty if need be), then [`Decoder::finish`].
pub struct Decoder<'a> {
    codec: &'a Codec,
    id: FileId,
    keep_going: bool,
    /// The block held back until we know more than a trailer follows it.
    held: Option<Vec<u8>>,
    /// Stored bytes before `held`.
    consumed: u64,
    /// The index of the first chunk in `held`.
    index: u64,
}

impl<'a> Decoder<'a> {
    /// A decoder of the file whose first stored bytes are `head` (the
    /// header length, or fewer when the input ends sooner). Without
    /// `keep_going` it stops at the first failure; with it (verifying) bad
    /// chunks and a bad trailer go into the report.
    pub fn new(codec: &'a Codec, head: &[u8], keep_going: bool) -> Result<Decoder<'a>> {
        let layout = codec.layout();
        let hl = layout.header_len as usize;
        if head.len() < hl {
            if head.is_empty() {
                return Err(Error::Truncated {
                    stored: 0,
                    expected: layout.stored_size(0),
                });
            }
            return Err(Error::BadHeader("shorter than the header"));
        }
        Ok(Decoder {
            codec,
            id: codec.decode_header(&head[..hl])?,
            keep_going,
            held: None,
            consumed: hl as u64,
            index: 0,
        })
    }

    /// Takes the next stored block (its length is its `len()`). Returns the
    /// frames held so far once more than a trailer follows them.
    pub fn push(&mut self, blk: Vec<u8>) -> Option<Full> {
        let frame = self.codec.layout().frame_len() as usize;
        let tl = self.codec.layout().trailer_len as usize;
        if blk.len() > tl {
            let h = self.held.replace(blk)?;
            let n = h.len() / frame;
            let first = self.index;
            self.consumed += h.len() as u64;
            self.index += n as u64;
            return Some(Full { first, frames: h });
        }
        // At most a trailer: the end, and it belongs with the held frames.
        match &mut self.held {
            Some(h) => h.extend_from_slice(&blk),
            None => self.held = Some(blk),
        }
        None
    }

    /// Verifies and decrypts frames released by [`Decoder::push`] into
    /// `out`. A bad chunk is an error, or with `keep_going` goes into `report`.
    pub fn decode_full(&self, full: &Full, out: &mut Vec<u8>, report: &mut Report) -> Result<()> {
        let cs = self.codec.chunk_size() as usize;
        let n = full.frames.len() / self.codec.layout().frame_len() as usize;
        self.decode(&full.frames, &vec![cs; n], full.first, out, report)
    }

    /// After the last block: verifies the trailer and decrypts the frames
    /// still held into `out`, the last chunk with the authenticated length.
    pub fn finish(self, out: &mut Vec<u8>, report: &mut Report) -> Result<()> {
        out.clear();
        let layout = *self.codec.layout();
        let tl = layout.trailer_len as usize;
        let buf = self.held.as_deref().unwrap_or_default();
        let stored_len = self.consumed + buf.len() as u64;
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
                let count = layout.chunk_count(size).saturating_sub(self.index);
                (0..count)
                    .map(|i| layout.chunk_plain_len(self.index + i, size) as usize)
                    .collect()
            }
            // Unknown size (fsck of a damaged file): check every frame's tag
            // with the padded length; the tag does not depend on the size.
            None => frames
                .chunks(layout.frame_len() as usize)
                .filter(|f| f.len() >= 64)
                .map(|f| f.len() - 48)
                .collect(),
        };
        self.decode(frames, &lens, self.index, out, report)
    }

    fn decode(
        &self,
        frames: &[u8],
        lens: &[usize],
        first: u64,
        out: &mut Vec<u8>,
        report: &mut Report,
    ) -> Result<()> {
        // A recycled buffer keeps its length: only growth is zeroed.
        out.resize(lens.iter().sum(), 0);
        let bad = batch::decrypt(self.codec, &self.id, first, frames, lens, out);
        match bad.first() {
            None => Ok(()),
            Some(_) if self.keep_going => {
                report.bad_chunks.extend(bad);
                Ok(())
            }
            Some(&index) => Err(Error::ChunkTampered { index }),
        }
    }
}

/// Encrypts a byte slice (tests, small files), on this thread and the
/// rayon pool.
pub fn encrypt_to_vec(
    codec: &Codec,
    id: &FileId,
    plain: &[u8],
    target: Target,
    rng: &mut impl CryptoRngCore,
) -> Vec<u8> {
    let mut enc = Encoder::new(codec, id, target);
    let mut out = enc.header();
    let mut buf = Vec::new();
    let cap = batch_frames(codec.chunk_size()) * codec.chunk_size() as usize;
    for block in plain.chunks(cap) {
        enc.block(block, &mut buf, rng);
        out.extend_from_slice(&buf);
    }
    out.extend(enc.finish());
    out
}

/// Decrypts a stored file held in memory.
pub fn decrypt_to_vec(codec: &Codec, stored: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let frames = batch_frames(codec.chunk_size());
    decode_slice(
        codec,
        stored,
        Some(&mut out),
        &mut Report::default(),
        frames,
    )?;
    Ok(out)
}

/// [`verify`] of a stored file held in memory.
pub fn verify_slice(codec: &Codec, stored: &[u8]) -> Report {
    let mut report = Report::default();
    let frames = batch_frames(codec.chunk_size());
    if let Err(e) = decode_slice(codec, stored, None, &mut report, frames) {
        report.error = Some(e);
    }
    report
}

/// Decodes `stored` in blocks of `frames` stored chunks, as a reader would
/// hand them over (the last block short, empty if need be): into `out`
/// stopping at the first failure, or without `out` recording all damage.
fn decode_slice(
    codec: &Codec,
    stored: &[u8],
    mut out: Option<&mut Vec<u8>>,
    report: &mut Report,
    frames: usize,
) -> Result<()> {
    let hl = (codec.layout().header_len as usize).min(stored.len());
    let mut dec = Decoder::new(codec, &stored[..hl], out.is_none())?;
    let want = frames * codec.layout().frame_len() as usize;
    let mut buf = Vec::new();
    let mut emit = |buf: &[u8]| {
        if let Some(o) = out.as_deref_mut() {
            o.extend_from_slice(buf)
        }
    };
    for blk in stored[hl..].chunks(want).chain(
        // The reader's last block is short: empty after whole blocks.
        (stored[hl..].len().is_multiple_of(want)).then_some(&[][..]),
    ) {
        if let Some(full) = dec.push(blk.to_vec()) {
            dec.decode_full(&full, &mut buf, report)?;
            emit(&buf);
        }
    }
    dec.finish(&mut buf, report)?;
    emit(&buf);
    Ok(())
}

/// [`decrypt_to_vec`] and [`verify_slice`] with blocks of `frames` stored
/// chunks instead of [`BATCH_BYTES`]' worth: the decoder's block-boundary
/// path (holding a block back until more than a trailer follows it) is then
/// reached by inputs of a few hundred bytes, which is what a fuzzer makes.
/// For the fuzz targets; the results are those of the public functions.
#[doc(hidden)]
pub fn decode_in_blocks(codec: &Codec, stored: &[u8], frames: usize) -> (Result<Vec<u8>>, Report) {
    let frames = frames.max(1);
    let mut out = Vec::new();
    let res = decode_slice(
        codec,
        stored,
        Some(&mut out),
        &mut Report::default(),
        frames,
    );
    let mut checked = Report::default();
    if let Err(e) = decode_slice(codec, stored, None, &mut checked, frames) {
        checked.error = Some(e);
    }
    (res.map(|()| out), checked)
}
