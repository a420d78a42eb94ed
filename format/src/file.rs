//! SPEC §7.5–§7.7 as random access: open a stored file (header and trailer
//! verified), read and write plaintext ranges chunk by chunk, place the
//! trailer, write the empty form, truncate.
//!
//! The functions work over [`Storage`] (positioned reads and writes, length)
//! and keep no state: the caller owns the handle, the locking, the cached
//! id and size, the scratch buffers, and what to do after a failed write
//! (the mount: `fusecry-fuse`'s `content.rs`). The chunks themselves go
//! through [`crate::batch`].

use crate::batch;
use crate::codec::Codec;
use crate::error::Error;
use crate::header::FileId;
use crate::layout::Layout;
use rand_core::CryptoRngCore;
use std::ops::Range;

/// Positioned access to one stored file; no policy about locking, caching
/// or which system calls serve it.
pub trait Storage {
    /// What a failed call reports.
    type Error;
    /// Reads into `buf` from `off` until `buf` is full or the file ends;
    /// returns the bytes read.
    fn read_at(&self, buf: &mut [u8], off: u64) -> Result<usize, Self::Error>;
    /// Writes all of `buf` at `off`.
    fn write_at(&self, buf: &[u8], off: u64) -> Result<(), Self::Error>;
    /// The stored length.
    fn stored_len(&self) -> Result<u64, Self::Error>;
    /// Sets the stored length.
    fn set_stored_len(&self, len: u64) -> Result<(), Self::Error>;
}

/// A file in memory (tests, tools).
impl Storage for std::cell::RefCell<Vec<u8>> {
    type Error = std::convert::Infallible;
    fn read_at(&self, buf: &mut [u8], off: u64) -> Result<usize, Self::Error> {
        let v = self.borrow();
        let from = (off as usize).min(v.len());
        let n = buf.len().min(v.len() - from);
        buf[..n].copy_from_slice(&v[from..from + n]);
        Ok(n)
    }
    fn write_at(&self, buf: &[u8], off: u64) -> Result<(), Self::Error> {
        let mut v = self.borrow_mut();
        let end = off as usize + buf.len();
        if v.len() < end {
            v.resize(end, 0);
        }
        v[off as usize..end].copy_from_slice(buf);
        Ok(())
    }
    fn stored_len(&self) -> Result<u64, Self::Error> {
        Ok(self.borrow().len() as u64)
    }
    fn set_stored_len(&self, len: u64) -> Result<(), Self::Error> {
        self.borrow_mut().resize(len as usize, 0);
        Ok(())
    }
}

/// Why a random-access operation failed.
#[derive(Debug)]
pub enum FileError<E> {
    /// The storage failed.
    Io(E),
    /// Chunk `chunk` (`None`: the header or trailer) did not verify.
    Damaged {
        /// Chunk index, or `None` for the header or trailer.
        chunk: Option<u64>,
        /// What failed.
        what: String,
    },
}

/// A storage failure, so `?` lifts the caller's own I/O errors.
impl<E> From<E> for FileError<E> {
    fn from(e: E) -> Self {
        FileError::Io(e)
    }
}

type FRes<T, E> = Result<T, FileError<E>>;

fn damaged<E>(chunk: u64, what: impl ToString) -> FileError<E> {
    FileError::Damaged {
        chunk: Some(chunk),
        what: what.to_string(),
    }
}

/// What a write puts into the file.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// These bytes.
    Bytes(&'a [u8]),
    /// This many zero bytes (growing truncate, fallocate).
    Zeros(u64),
}

impl Source<'_> {
    /// Plaintext bytes written.
    pub fn len(&self) -> u64 {
        match self {
            Source::Bytes(b) => b.len() as u64,
            Source::Zeros(n) => *n,
        }
    }

    /// Whether nothing is written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Buffers a caller keeps between requests: allocating a large buffer per
/// request costs an mmap, page faults and munmap each time. They only ever
/// grow, and their content between calls means nothing.
#[derive(Default, Debug)]
pub struct Scratch {
    stored: Vec<u8>,
    plain: Vec<u8>,
}

impl Scratch {
    /// The plaintext buffer, which [`read`] fills.
    pub fn plain(&self) -> &[u8] {
        &self.plain
    }
}

/// Makes `v` at least `n` bytes long without caring about its content, and
/// returns its first `n` bytes.
fn sized(v: &mut Vec<u8>, n: usize) -> &mut [u8] {
    if v.len() < n {
        v.resize(n, 0);
    }
    &mut v[..n]
}

/// Chunks of one write batch: bounds the memory of a huge write or gap fill.
const BATCH_BYTES: u64 = 8 << 20;

/// A stored file as [`open`] found it.
#[derive(Debug)]
pub struct Opened {
    /// The id from the header (all zero for legacy, and when the header
    /// did not decode).
    pub id: FileId,
    /// The authenticated plaintext size, or when `damage` is set an
    /// estimate from the stored length ([`estimate_size`]).
    pub size: u64,
    /// Why the header or trailer did not verify.
    pub damage: Option<Error>,
}

/// SPEC §7.5 steps 1–4: reads the header and the trailer and verifies the
/// size against the stored length. Damage is reported in [`Opened`], not
/// as an error, so a caller can still list the file and renew it; only the
/// storage's own failures are errors.
pub fn open<S: Storage>(codec: &Codec, s: &S) -> Result<Opened, S::Error> {
    let l = *codec.layout();
    let stored = s.stored_len()?;
    let mut head = vec![0u8; l.header_len as usize];
    let got = s.read_at(&mut head, 0)?;
    let id = match codec.decode_header(&head[..got]) {
        Ok(id) => id,
        Err(e) => {
            return Ok(Opened {
                id: FileId::default(),
                size: estimate_size(&l, stored),
                damage: Some(e),
            })
        }
    };
    let tl = l.trailer_len.min(stored) as usize;
    let mut tail = vec![0u8; tl];
    s.read_at(&mut tail, stored - tl as u64)?;
    Ok(match codec.decode_trailer(&id, stored, &tail) {
        Ok(size) => Opened {
            id,
            size,
            damage: None,
        },
        Err(e) => Opened {
            id,
            size: estimate_size(&l, stored),
            damage: Some(e),
        },
    })
}

/// The plaintext size a stored length suggests, for listing a file whose
/// trailer did not verify (its reads fail anyway).
pub fn estimate_size(l: &Layout, stored: u64) -> u64 {
    if let Some(r) = l.plain_size_range(stored) {
        return *r.end();
    }
    let body = stored.saturating_sub(l.header_len + l.trailer_len);
    (body / l.frame_len()) * l.chunk_size
}

/// The trailer of a file of `size` bytes and where it goes (SPEC §7.3):
/// the last bytes of the stored file. `None` for a legacy empty file,
/// which is 0 bytes with no trailer at all (quirk 12).
pub fn trailer(codec: &Codec, id: &FileId, size: u64) -> Option<(u64, Vec<u8>)> {
    let end = codec.layout().stored_size(size);
    if end == 0 {
        return None;
    }
    let t = codec.encode_trailer(id, size);
    Some((end - t.len() as u64, t))
}

/// Writes the trailer of a file of `size` bytes in its place (SPEC §7.6:
/// after the chunks, so a crash tears at most the chunks being written).
pub fn write_trailer<S: Storage>(
    codec: &Codec,
    s: &S,
    id: &FileId,
    size: u64,
) -> Result<(), S::Error> {
    match trailer(codec, id, size) {
        Some((at, t)) => s.write_at(&t, at),
        None => Ok(()),
    }
}

/// Makes the file the empty form under `id` (SPEC §7.1 and §7.6: header
/// and the trailer of size 0; legacy: nothing). `id` should be fresh: the
/// caller draws it, as it owns what else is bound to the id.
pub fn write_empty<S: Storage>(codec: &Codec, s: &S, id: &FileId) -> Result<(), S::Error> {
    let mut bytes = codec.encode_header(id);
    if let Some((_, t)) = trailer(codec, id, 0) {
        bytes.extend(t);
    }
    s.write_at(&bytes, 0)?;
    s.set_stored_len(bytes.len() as u64)
}

/// Reads and verifies one whole chunk holding `plain_len` bytes.
fn read_chunk<S: Storage>(
    codec: &Codec,
    s: &S,
    id: &FileId,
    index: u64,
    plain_len: u64,
) -> FRes<Vec<u8>, S::Error> {
    let l = codec.layout();
    let mut stored = vec![0u8; l.chunk_stored_len(plain_len) as usize];
    let got = s
        .read_at(&mut stored, l.chunk_offset(index))
        .map_err(FileError::Io)?;
    if got < stored.len() {
        return Err(damaged(index, "chunk cut short"));
    }
    codec
        .decrypt_chunk(id, index, &stored, plain_len as usize)
        .map_err(|e| damaged(index, e))
}

/// SPEC §7.5 step 5: reads and verifies the chunks covering `[off, off +
/// len)` of a file of `size` bytes into `scratch`; returns the range of
/// [`Scratch::plain`] holding those bytes. The range must lie within
/// `size` and `len` must not be 0.
#[allow(clippy::too_many_arguments)]
pub fn read<S: Storage>(
    codec: &Codec,
    s: &S,
    id: &FileId,
    size: u64,
    off: u64,
    len: u64,
    scratch: &mut Scratch,
) -> FRes<Range<usize>, S::Error> {
    let l = *codec.layout();
    let cs = l.chunk_size;
    let chunks = l.chunk_range(off, len);
    let (first, last) = (chunks.start, chunks.end - 1);
    let start = l.chunk_offset(first);
    let end = l.chunk_offset(last) + l.chunk_stored_len(l.chunk_plain_len(last, size));
    let stored = sized(&mut scratch.stored, (end - start) as usize);
    let got = s.read_at(stored, start).map_err(FileError::Io)?;
    if got < stored.len() {
        let bad = first + got as u64 / l.frame_len();
        return Err(damaged(bad, "chunk cut short: the file is truncated"));
    }
    let lens: Vec<usize> = chunks
        .map(|i| l.chunk_plain_len(i, size) as usize)
        .collect();
    let plain = sized(&mut scratch.plain, lens.iter().sum());
    if let Some(&bad) = batch::decrypt(codec, id, first, stored, &lens, plain).first() {
        return Err(damaged(bad, Error::ChunkTampered { index: bad }));
    }
    let skip = (off - first * cs) as usize;
    Ok(skip..skip + len as usize)
}

/// SPEC §7.6: encrypts and writes every chunk from the one holding byte
/// `from` to the one holding the last byte of `src` written at `off`, for
/// a file whose size is `old` (chunks at or past `old` start as zeros, so
/// a gap from `from` is real encrypted zeros). Old bytes the write does not
/// cover are read and verified first; every chunk gets a fresh IV. The
/// trailer is not touched: the caller writes it ([`write_trailer`]) once
/// the chunks are in place.
#[allow(clippy::too_many_arguments)]
pub fn write<S: Storage>(
    codec: &Codec,
    s: &S,
    id: &FileId,
    old: u64,
    from: u64,
    off: u64,
    src: Source<'_>,
    rng: &mut impl CryptoRngCore,
    scratch: &mut Scratch,
) -> FRes<(), S::Error> {
    let l = *codec.layout();
    let cs = l.chunk_size;
    let csu = cs as usize;
    let end = off + src.len();
    let new = old.max(end);
    let first = from / cs;
    let last = (end - 1) / cs;
    let per_batch = (BATCH_BYTES / cs).max(1);
    let mut b0 = first;
    while b0 <= last {
        let b1 = (b0 + per_batch - 1).min(last);
        let n = (b1 - b0 + 1) as usize;
        let Scratch { stored, plain } = &mut *scratch;
        // Chunk k of the batch is plain[k·cs .. k·cs + its new length].
        let lens: Vec<usize> = (b0..=b1)
            .map(|i| l.chunk_plain_len(i, new) as usize)
            .collect();
        // A chunk the request covers whole is encrypted straight from the
        // request's bytes; only the others (an edge the write cuts, a gap,
        // growth) are put together in `plain` first.
        let whole = |k: usize| -> Option<&[u8]> {
            let Source::Bytes(data) = src else {
                return None;
            };
            let cstart = (b0 + k as u64) * cs;
            let cend = cstart + lens[k] as u64;
            (off <= cstart && cend <= end)
                .then(|| &data[(cstart - off) as usize..(cend - off) as usize])
        };
        let plain = sized(plain, n * csu);
        for (k, i) in (b0..=b1).enumerate() {
            if whole(k).is_some() {
                continue;
            }
            let cstart = i * cs;
            let new_len = lens[k] as u64;
            let old_len = l.chunk_plain_len(i, old);
            let p = &mut plain[k * csu..k * csu + new_len as usize];
            // Old bytes this write does not cover must be read and verified.
            let covers_old = off <= cstart && end >= cstart + old_len;
            let mut filled = 0usize;
            if old_len > 0 && !covers_old {
                let o = read_chunk(codec, s, id, i, old_len)?;
                p[..o.len()].copy_from_slice(&o);
                filled = o.len();
            }
            // Everything else starts as zeros (gap, growth), then the data.
            p[filled..].fill(0);
            if let Source::Bytes(data) = src {
                let s0 = off.max(cstart);
                let e = end.min(cstart + new_len);
                if s0 < e {
                    p[(s0 - cstart) as usize..(e - cstart) as usize]
                        .copy_from_slice(&data[(s0 - off) as usize..(e - off) as usize]);
                }
            }
        }
        let out = sized(stored, batch::stored_len(&l, lens.iter().copied()));
        let plain: &[u8] = plain;
        let plains = (0..n).map(|k| whole(k).unwrap_or(&plain[k * csu..k * csu + lens[k]]));
        let mut jobs = batch::jobs(&l, b0, plains, out);
        batch::encrypt(codec, id, &mut jobs, rng);
        drop(jobs);
        s.write_at(out, l.chunk_offset(b0)).map_err(FileError::Io)?;
        b0 = b1 + 1;
    }
    Ok(())
}

/// SPEC §7.6: sets the size of a file of `old` bytes to `new`. Growing
/// appends encrypted zeros; shrinking re-encrypts the new last chunk so its
/// padding is zero again and cuts the stored file. The trailer follows the
/// chunks. To 0 bytes a file takes a fresh id instead ([`write_empty`],
/// SPEC §7.1): the caller's to do, as it owns what else is bound to the id.
pub fn truncate<S: Storage>(
    codec: &Codec,
    s: &S,
    id: &FileId,
    old: u64,
    new: u64,
    rng: &mut impl CryptoRngCore,
    scratch: &mut Scratch,
) -> FRes<(), S::Error> {
    let l = *codec.layout();
    if new > old {
        write(
            codec,
            s,
            id,
            old,
            old,
            old,
            Source::Zeros(new - old),
            rng,
            scratch,
        )?;
        return write_trailer(codec, s, id, new).map_err(FileError::Io);
    }
    if new == old {
        return Ok(());
    }
    let cs = l.chunk_size;
    if !new.is_multiple_of(cs) {
        // The new last chunk keeps its first new % cs bytes.
        let k = new / cs;
        let old_plain = read_chunk(codec, s, id, k, l.chunk_plain_len(k, old))?;
        let keep = &old_plain[..(new % cs) as usize];
        let mut out = vec![0u8; l.chunk_stored_len(keep.len() as u64) as usize];
        let mut jobs = batch::jobs(&l, k, [keep], &mut out);
        batch::encrypt(codec, id, &mut jobs, rng);
        drop(jobs);
        s.write_at(&out, l.chunk_offset(k)).map_err(FileError::Io)?;
    }
    write_trailer(codec, s, id, new).map_err(FileError::Io)?;
    s.set_stored_len(l.stored_size(new)).map_err(FileError::Io)
}

#[cfg(test)]
mod tests {
    //! Random writes, truncates and reads against a plain model, over a
    //! file in memory; the stored bytes must decode as a stream too.
    use super::*;
    use crate::keys::Key32;
    use crate::legacy::LegacyKeys;
    use crate::MasterKey;
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    use rand_chacha::ChaCha20Rng;
    use std::cell::RefCell;

    #[test]
    fn random_ops_match_a_model() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        for codec in [
            Codec::v1(&MasterKey::from_bytes([5; 32]), 64, true),
            Codec::legacy(LegacyKeys::new(Key32::from_bytes([6; 32])), 64, false),
        ] {
            let f = RefCell::new(Vec::new());
            // Legacy files have no id: theirs reads back as all zero.
            let id = codec
                .decode_header(&codec.encode_header(&FileId::random(&mut rng)))
                .unwrap();
            write_empty(&codec, &f, &id).unwrap();
            let mut model: Vec<u8> = Vec::new();
            let mut scratch = Scratch::default();
            for _ in 0..300 {
                let o = open(&codec, &f).unwrap();
                assert!(o.damage.is_none(), "{:?}", o.damage);
                assert_eq!((o.id, o.size), (id, model.len() as u64));
                let size = model.len() as u64;
                match rng.next_u32() % 3 {
                    0 => {
                        let off = rng.next_u64() % 400;
                        let mut data = vec![0u8; (rng.next_u32() % 300) as usize + 1];
                        rng.fill_bytes(&mut data);
                        let end = off + data.len() as u64;
                        let from = off.min(size);
                        write(
                            &codec,
                            &f,
                            &id,
                            size,
                            from,
                            off,
                            Source::Bytes(&data),
                            &mut rng,
                            &mut scratch,
                        )
                        .unwrap();
                        if end > size {
                            write_trailer(&codec, &f, &id, end).unwrap();
                        }
                        if model.len() < end as usize {
                            model.resize(end as usize, 0);
                        }
                        model[off as usize..end as usize].copy_from_slice(&data);
                    }
                    1 => {
                        let new = rng.next_u64() % 500 + 1;
                        truncate(&codec, &f, &id, size, new, &mut rng, &mut scratch).unwrap();
                        model.resize(new as usize, 0);
                    }
                    _ if size > 0 => {
                        let off = rng.next_u64() % size;
                        let len = (rng.next_u64() % (size - off)) + 1;
                        let r = read(&codec, &f, &id, size, off, len, &mut scratch).unwrap();
                        assert_eq!(
                            &scratch.plain()[r],
                            &model[off as usize..(off + len) as usize]
                        );
                    }
                    _ => {}
                }
                let stored = f.borrow().clone();
                assert_eq!(
                    crate::stream::decrypt_to_vec(&codec, &stored).unwrap(),
                    model
                );
            }
            truncate(
                &codec,
                &f,
                &id,
                model.len() as u64,
                300,
                &mut rng,
                &mut scratch,
            )
            .unwrap();
            model.resize(300, 0);
            let mut bad = f.borrow().clone();
            let at = codec.layout().chunk_offset(1) + 50;
            bad[at as usize] ^= 1;
            let bad = RefCell::new(bad);
            let size = model.len() as u64;
            match read(&codec, &bad, &id, size, 0, size, &mut scratch) {
                Err(FileError::Damaged { chunk: Some(1), .. }) => {}
                r => panic!("{r:?}"),
            }
        }
    }
}
