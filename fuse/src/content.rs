//! SPEC §7.5–§7.7 as random access: one open backing file, its cached file
//! id and authenticated size, and chunk-wise read, write and truncate.
//!
//! Every read verifies each chunk it returns; every write re-encrypts the
//! chunks it touches with fresh IVs, fills gaps with real encrypted zeros,
//! writes the chunks before the trailer (so a crash tears at most the chunks
//! being written), and works in bounded batches whatever the size.
//!
//! Concurrency: requests lock *chunk ranges*, not the file. Writes to
//! disjoint chunks (the kernel's writeback sends several at once) encrypt in
//! parallel; a read waits only for writes to the chunks it reads. The short
//! critical sections on the state decide ranges, the committed size and who
//! writes the trailer: the write that ends furthest, once nothing in flight
//! would land beyond it.

use crate::backing::{self, Res};
use crate::{space, xattrs};
use fusecry_format::chunk::{ChunkJob, LANES};
use fusecry_format::{Codec, FileId, Profile};
use fuser::Errno;
use parking_lot::{Condvar, Mutex, MutexGuard};
use rand_core::CryptoRngCore;
use rayon::prelude::*;
use std::fs::File;

/// Per-thread buffers reused by every request: allocating a large buffer per
/// request costs an mmap, page faults and munmap each time.
#[derive(Default)]
struct Scratch {
    stored: Vec<u8>,
    plain: Vec<u8>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Makes `v` exactly `n` bytes long without caring about its content.
fn sized(v: &mut Vec<u8>, n: usize) -> &mut [u8] {
    if v.len() < n {
        v.resize(n, 0);
    }
    &mut v[..n]
}

/// Chunks of one batch: bounds the memory of a huge write or gap fill.
const BATCH_BYTES: u64 = 8 << 20;
/// Below this much plaintext a request is done on the calling thread: the
/// kernel already sends several requests at once, and handing small work to
/// the pool costs more than it saves.
const PARALLEL_MIN_BYTES: usize = 256 << 10;

/// Why a content operation failed.
#[derive(Debug)]
pub enum ContentError {
    /// The backing call failed.
    Io(Errno),
    /// Chunk `chunk` (or the file's header/trailer) failed verification.
    Damaged {
        /// Chunk index, or `None` for the header or trailer.
        chunk: Option<u64>,
        /// What failed.
        what: String,
    },
}

impl From<Errno> for ContentError {
    fn from(e: Errno) -> Self {
        ContentError::Io(e)
    }
}

type CRes<T> = Result<T, ContentError>;

/// What a write puts into the file.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    /// These bytes.
    Bytes(&'a [u8]),
    /// This many zero bytes (growing truncate, fallocate).
    Zeros(u64),
}

impl Source<'_> {
    fn len(&self) -> u64 {
        match self {
            Source::Bytes(b) => b.len() as u64,
            Source::Zeros(n) => *n,
        }
    }
}

/// Cached header and size of an open file.
#[derive(Debug)]
pub struct FileState {
    /// The file id from the header (all zero for legacy).
    pub id: FileId,
    /// Committed, authenticated plaintext size (an estimate when `damaged`).
    pub size: u64,
    /// Why the header or trailer did not verify; writes are refused then.
    pub damaged: Option<String>,
    /// The id was read from the stored file, not drawn by this writer: an
    /// empty form with it may exist elsewhere (an attacker may have copied
    /// it over another file), so data is never written under it (SPEC §7.1).
    inherited_id: bool,
    /// Chunk ranges in use by requests in flight.
    spans: Vec<Span>,
    next_span: u64,
}

impl FileState {
    /// The state of a file this writer just created under the fresh id `id`.
    pub fn new(id: FileId, size: u64, damaged: Option<String>) -> FileState {
        FileState {
            id,
            size,
            damaged,
            inherited_id: false,
            spans: Vec::new(),
            next_span: 0,
        }
    }

    /// The state of a stored file as read from its header and trailer
    /// (legacy files have no id to inherit).
    fn loaded(codec: &Codec, id: FileId, size: u64, damaged: Option<String>) -> FileState {
        FileState {
            inherited_id: codec.profile() == Profile::V1,
            ..FileState::new(id, size, damaged)
        }
    }

    /// The size once every write in flight has landed: where a new write
    /// past the end starts its gap.
    fn effective_size(&self) -> u64 {
        self.spans
            .iter()
            .filter(|s| s.write)
            .map(|s| s.end)
            .fold(self.size, u64::max)
    }
}

/// Chunks `first..=last` held by one request.
#[derive(Debug, Clone, Copy)]
struct Span {
    id: u64,
    first: u64,
    last: u64,
    write: bool,
    /// Plaintext end of a write.
    end: u64,
}

/// One open backing file, shared by every handle on the same inode.
#[derive(Debug)]
pub struct OpenFile {
    /// The backing file.
    pub file: File,
    state: Mutex<FileState>,
    cond: Condvar,
}

impl OpenFile {
    /// An open file with a known state (a file just created).
    pub fn new(file: File, state: FileState) -> OpenFile {
        OpenFile {
            file,
            state: Mutex::new(state),
            cond: Condvar::new(),
        }
    }

    /// Reads and verifies header and trailer (SPEC §7.5 steps 1–4).
    pub fn load(codec: &Codec, file: File) -> Res<OpenFile> {
        let state = load_state(codec, &file)?;
        Ok(OpenFile::new(file, state))
    }

    /// The committed plaintext size.
    pub fn size(&self) -> u64 {
        self.state.lock().size
    }

    /// Why the file is damaged, if it is.
    pub fn damage(&self) -> Option<String> {
        self.state.lock().damaged.clone()
    }

    /// Runs `f` with the file's id, which cannot change meanwhile (its
    /// xattr values are bound to it, SPEC §11.1); a damaged file has none
    /// to trust.
    pub fn with_id<R>(&self, f: impl FnOnce(&FileId) -> R) -> CRes<R> {
        let g = self.state.lock();
        writable(&g)?;
        Ok(f(&g.id))
    }

    /// SPEC §7.1: the file becomes the empty form under a fresh id, and its
    /// xattr values (bound to the id, §11.1) follow. Done when a file is
    /// truncated to 0, and before a file whose id was read from storage
    /// leaves size 0: an empty form's image may have been copied over
    /// other files, and data written under its id could then be spliced
    /// between them. Legacy files have no id: they are only emptied.
    fn renew_id(
        &self,
        codec: &Codec,
        st: &mut FileState,
        rng: &mut impl CryptoRngCore,
    ) -> CRes<()> {
        let id = FileId::random(rng);
        let mut bytes = codec.encode_header(&id);
        if codec.layout().stored_size(0) > 0 {
            bytes.extend(codec.encode_trailer(&id, 0));
        }
        backing::write_at(&self.file, &bytes, 0)?;
        backing::set_len(&self.file, bytes.len() as u64)?;
        // Stored: the state follows at once, whatever becomes of the
        // values below (one not moved answers EIO, SPEC §11.1).
        let old = std::mem::replace(&mut st.id, id);
        st.size = 0;
        st.damaged = None;
        st.inherited_id = false;
        if codec.profile() == Profile::V1 {
            xattrs::rebind_file(codec, &self.file, &old, &id, rng)?;
        }
        Ok(())
    }

    /// After a change that failed part way (a backing call answered an
    /// error): the state becomes what is stored, header and trailer read
    /// again, so that the mount never shows a size or an id its backing
    /// file does not hold. A file left torn is damaged from here on (EIO,
    /// named by fsck, mended by `fsck --repair`), as after a crash.
    fn restate(&self, codec: &Codec, st: &mut FileState) {
        match load_state(codec, &self.file) {
            Ok(now) => {
                st.id = now.id;
                st.size = now.size;
                st.damaged = now.damaged;
                st.inherited_id = now.inherited_id;
            }
            Err(e) => {
                st.damaged = Some(format!(
                    "unreadable after a failed change (errno {})",
                    e.code()
                ))
            }
        }
    }

    /// Waits until chunks `first..=last` are free for this kind of use and takes them.
    fn acquire(
        &self,
        g: &mut MutexGuard<'_, FileState>,
        first: u64,
        last: u64,
        write: bool,
        end: u64,
    ) -> u64 {
        loop {
            let busy = g
                .spans
                .iter()
                .any(|s| (s.write || write) && s.first <= last && first <= s.last);
            if !busy {
                g.next_span += 1;
                let id = g.next_span;
                g.spans.push(Span {
                    id,
                    first,
                    last,
                    write,
                    end,
                });
                return id;
            }
            self.cond.wait(g);
        }
    }

    fn release(&self, g: &mut MutexGuard<'_, FileState>, id: u64) {
        g.spans.retain(|s| s.id != id);
        self.cond.notify_all();
    }

    /// Reads up to `len` plaintext bytes at `off` and hands them to `f`
    /// (straight from a per-thread buffer: no allocation per request).
    pub fn read_with<R>(
        &self,
        codec: &Codec,
        off: u64,
        len: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> CRes<R> {
        let mut g = self.state.lock();
        if let Some(why) = &g.damaged {
            return Err(ContentError::Damaged {
                chunk: None,
                what: why.clone(),
            });
        }
        // Waiting for the chunks may let a write or truncate move the end:
        // the range and the last chunk's length must come from the size
        // that holds once they are ours, or a read racing a truncate would
        // look for chunks that are gone and report damage.
        let (span, size, len) = loop {
            let size = g.size;
            if off >= size || len == 0 {
                return Ok(f(&[]));
            }
            let len = len.min(size - off);
            let r = codec.layout().chunk_range(off, len);
            let span = self.acquire(&mut g, r.start, r.end - 1, false, 0);
            if g.size == size {
                break (span, size, len);
            }
            self.release(&mut g, span);
        };
        let id = g.id;
        drop(g);
        let res = SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let Scratch { stored, plain } = &mut *s;
            let range = read_range(codec, &self.file, &id, size, off, len, stored, plain)?;
            Ok(f(&plain[range]))
        });
        self.release(&mut self.state.lock(), span);
        res
    }

    /// Reads up to `len` plaintext bytes at `off`.
    pub fn read(&self, codec: &Codec, off: u64, len: u64) -> CRes<Vec<u8>> {
        self.read_with(codec, off, len, |d| d.to_vec())
    }

    /// Writes `src` at `off` (`None`: at the end, for O_APPEND), extending
    /// the file through a gap of encrypted zeros when `off` is past the end.
    /// Returns the offset written at.
    pub fn write(
        &self,
        codec: &Codec,
        off: Option<u64>,
        src: Source<'_>,
        rng: &mut impl CryptoRngCore,
    ) -> CRes<u64> {
        let len = src.len();
        let mut g = self.state.lock();
        writable(&g)?;
        let off = off.unwrap_or_else(|| g.effective_size());
        if len == 0 {
            return Ok(off);
        }
        let end = off.checked_add(len).ok_or(Errno::EFBIG)?;
        space::check_size(codec.layout(), end)?;
        let cs = codec.chunk_size();
        // The gap from the current end is ours to fill; its first chunk (the
        // old last one) is re-encrypted with zeros appended.
        let (span, from) = loop {
            let from = off.min(g.effective_size());
            let first = from / cs;
            let last = (end - 1) / cs;
            let id = self.acquire(&mut g, first, last, true, end);
            // Waiting may have let the end move: the range must still cover
            // the gap, and must not reach into chunks others write.
            let now = off.min(g.effective_size_excluding(id));
            if now / cs == first {
                break (id, now);
            }
            self.release(&mut g, id);
        };
        let old = g.size;
        if end > old {
            // The space for the grown file first: on a full disk the write
            // fails here with the file as it was (SPEC §7.6). Under the
            // lock: the size and the id renewal below must be decided
            // before any other write can look at them.
            let l = codec.layout();
            let r = space::reserve(&self.file, l.chunk_offset(from / cs), l.stored_size(end));
            if let Err(e) = r {
                self.release(&mut g, span);
                return Err(e.into());
            }
        }
        if old == 0 && g.inherited_id && g.effective_size_excluding(span) == 0 {
            // The first data of a file whose id came from storage (SPEC §7.1).
            if let Err(e) = self.renew_id(codec, &mut g, rng) {
                self.restate(codec, &mut g);
                self.release(&mut g, span);
                return Err(e);
            }
        }
        let id = g.id;
        drop(g);
        let res = write_chunks(codec, &self.file, &id, old, from, off, src, rng);
        let mut g = self.state.lock();
        if res.is_ok() {
            g.size = g.size.max(end);
            let beyond = g
                .spans
                .iter()
                .any(|s| s.id != span && s.write && s.end > g.size);
            if end == g.size && !beyond && end != old {
                // Chunks first, trailer last: a crash before this leaves an
                // old or torn trailer that fsck reports, never a wrong size
                // that verifies. Nothing in flight lands beyond this trailer.
                let tr = codec.encode_trailer(&id, end);
                let at = codec.layout().stored_size(end) - tr.len() as u64;
                if let Err(e) = backing::write_at(&self.file, &tr, at) {
                    self.restate(codec, &mut g);
                    self.release(&mut g, span);
                    return Err(e.into());
                }
            }
        } else {
            self.restate(codec, &mut g);
        }
        self.release(&mut g, span);
        res.map(|_| off)
    }

    /// Sets the plaintext size (waits for every request in flight).
    /// Truncating to zero starts the file afresh under a new file id (SPEC
    /// §7.1); for a damaged file that is the one write it accepts.
    pub fn truncate(&self, codec: &Codec, new: u64, rng: &mut impl CryptoRngCore) -> CRes<()> {
        let mut g = self.state.lock();
        let span = self.acquire(&mut g, 0, u64::MAX, true, new);
        let res = self.truncate_locked(codec, &mut g, new, rng);
        if res.is_err() {
            self.restate(codec, &mut g);
        }
        self.release(&mut g, span);
        res
    }

    /// Grows the file to at least `new` bytes of encrypted zeros (fallocate).
    pub fn grow_to(&self, codec: &Codec, new: u64, rng: &mut impl CryptoRngCore) -> CRes<()> {
        let mut g = self.state.lock();
        let span = self.acquire(&mut g, 0, u64::MAX, true, new);
        let res = if new > g.size {
            self.truncate_locked(codec, &mut g, new, rng)
        } else {
            Ok(())
        };
        if res.is_err() {
            self.restate(codec, &mut g);
        }
        self.release(&mut g, span);
        res
    }

    fn truncate_locked(
        &self,
        codec: &Codec,
        st: &mut FileState,
        new: u64,
        rng: &mut impl CryptoRngCore,
    ) -> CRes<()> {
        space::check_size(codec.layout(), new)?;
        if new == 0 && (st.damaged.is_some() || st.size > 0) {
            return self.renew_id(codec, st, rng);
        }
        writable(st)?;
        let old = st.size;
        let l = codec.layout();
        if new > old {
            // Space for every chunk of the grow before the first is written.
            let from = l.chunk_offset(old / l.chunk_size);
            space::reserve(&self.file, from, l.stored_size(new))?;
        }
        if new > old && old == 0 && st.inherited_id {
            self.renew_id(codec, st, rng)?;
        }
        if new > old {
            write_chunks(
                codec,
                &self.file,
                &st.id,
                old,
                old,
                old,
                Source::Zeros(new - old),
                rng,
            )?;
            let tr = codec.encode_trailer(&st.id, new);
            backing::write_at(&self.file, &tr, l.stored_size(new) - tr.len() as u64)?;
            st.size = new;
            return Ok(());
        }
        if new == old {
            return Ok(());
        }
        let cs = l.chunk_size;
        if !new.is_multiple_of(cs) {
            // The new last chunk keeps its first new % cs bytes and is
            // re-encrypted so that its padding is zero again.
            let k = new / cs;
            let old_plain = read_chunk(codec, &self.file, &st.id, k, l.chunk_plain_len(k, old))?;
            let keep = &old_plain[..(new % cs) as usize];
            let mut iv = [0u8; 16];
            rng.fill_bytes(&mut iv);
            let stored = codec.encrypt_chunk(&st.id, k, &iv, keep);
            backing::write_at(&self.file, &stored, l.chunk_offset(k))?;
        }
        let stored_len = l.stored_size(new);
        if stored_len > 0 {
            let tr = codec.encode_trailer(&st.id, new);
            backing::write_at(&self.file, &tr, stored_len - tr.len() as u64)?;
        }
        backing::set_len(&self.file, stored_len)?;
        st.size = new;
        Ok(())
    }
}

impl FileState {
    /// [`FileState::effective_size`] without span `id`.
    fn effective_size_excluding(&self, id: u64) -> u64 {
        self.spans
            .iter()
            .filter(|s| s.write && s.id != id)
            .map(|s| s.end)
            .fold(self.size, u64::max)
    }
}

fn writable(st: &FileState) -> CRes<()> {
    match &st.damaged {
        Some(why) => Err(ContentError::Damaged {
            chunk: None,
            what: why.clone(),
        }),
        None => Ok(()),
    }
}

fn load_state(codec: &Codec, file: &File) -> Res<FileState> {
    let l = *codec.layout();
    let stored = file.metadata().map_err(backing::errno)?.len();
    let mut head = vec![0u8; l.header_len as usize];
    let got = backing::read_at(file, &mut head, 0)?;
    let id = match codec.decode_header(&head[..got]) {
        Ok(id) => id,
        Err(e) => {
            return Ok(FileState::loaded(
                codec,
                FileId::default(),
                estimate_size(codec, stored),
                Some(e.to_string()),
            ))
        }
    };
    let tl = l.trailer_len.min(stored) as usize;
    let mut tail = vec![0u8; tl];
    backing::read_at(file, &mut tail, stored - tl as u64)?;
    match codec.decode_trailer(&id, stored, &tail) {
        Ok(size) => Ok(FileState::loaded(codec, id, size, None)),
        Err(e) => Ok(FileState::loaded(
            codec,
            id,
            estimate_size(codec, stored),
            Some(e.to_string()),
        )),
    }
}

/// The plaintext size a stored length suggests, for listing a file whose
/// trailer did not verify (its reads fail anyway).
pub fn estimate_size(codec: &Codec, stored: u64) -> u64 {
    let l = codec.layout();
    if let Some(r) = l.plain_size_range(stored) {
        return *r.end();
    }
    let body = stored.saturating_sub(l.header_len + l.trailer_len);
    (body / l.frame_len()) * l.chunk_size
}

/// Plaintext size of a stored file without keeping it open (for getattr).
pub fn stored_file_size(codec: &Codec, file: &File) -> Res<(u64, Option<String>)> {
    let st = load_state(codec, file)?;
    Ok((st.size, st.damaged))
}

fn damaged(chunk: u64, e: impl ToString) -> ContentError {
    ContentError::Damaged {
        chunk: Some(chunk),
        what: e.to_string(),
    }
}

/// Reads and verifies one whole chunk holding `plain_len` bytes.
fn read_chunk(
    codec: &Codec,
    file: &File,
    id: &FileId,
    index: u64,
    plain_len: u64,
) -> CRes<Vec<u8>> {
    let l = codec.layout();
    let mut stored = vec![0u8; l.chunk_stored_len(plain_len) as usize];
    let got = backing::read_at(file, &mut stored, l.chunk_offset(index))?;
    if got < stored.len() {
        return Err(damaged(index, "chunk cut short"));
    }
    codec
        .decrypt_chunk(id, index, &stored, plain_len as usize)
        .map_err(|e| damaged(index, e))
}

/// Reads and verifies the chunks covering `[off, off + len)` of a file of
/// `size` bytes into `plain`; returns the range of `plain` holding them.
#[allow(clippy::too_many_arguments)]
fn read_range(
    codec: &Codec,
    file: &File,
    id: &FileId,
    size: u64,
    off: u64,
    len: u64,
    stored_buf: &mut Vec<u8>,
    plain_buf: &mut Vec<u8>,
) -> CRes<std::ops::Range<usize>> {
    let l = *codec.layout();
    let cs = l.chunk_size;
    let chunks = l.chunk_range(off, len);
    let first = chunks.start;
    let last = chunks.end - 1;
    let start = l.chunk_offset(first);
    let end = l.chunk_offset(last) + l.chunk_stored_len(l.chunk_plain_len(last, size));
    let stored = sized(stored_buf, (end - start) as usize);
    let got = backing::read_at(file, stored, start)?;
    if got < stored.len() {
        let bad = first + got as u64 / l.frame_len();
        return Err(damaged(bad, "chunk cut short: the file is truncated"));
    }
    let plain_total = (l.chunk_plain_len(last, size) + (last - first) * cs) as usize;
    let plain = sized(plain_buf, plain_total);
    let frame = l.frame_len() as usize;
    let decrypt = |(k, (p, s)): (usize, (&mut [u8], &[u8]))| -> CRes<()> {
        let idx = first + k as u64;
        let slen = l.chunk_stored_len(p.len() as u64) as usize;
        codec
            .decrypt_chunk_into(id, idx, &s[..slen], p)
            .map_err(|e| damaged(idx, e))
    };
    if plain_total >= PARALLEL_MIN_BYTES && last > first {
        plain
            .par_chunks_mut(cs as usize)
            .zip(stored.par_chunks(frame))
            .enumerate()
            .try_for_each(decrypt)?;
    } else {
        plain
            .chunks_mut(cs as usize)
            .zip(stored.chunks(frame))
            .enumerate()
            .try_for_each(decrypt)?;
    }
    let skip = (off - first * cs) as usize;
    Ok(skip..skip + len as usize)
}

/// Encrypts and writes every chunk from the one holding byte `from` to the
/// one holding the last byte of the write, for a file whose committed size
/// is `old` (chunks at or past `old` start as zeros). Does not touch the
/// trailer. The caller holds those chunks.
#[allow(clippy::too_many_arguments)]
fn write_chunks(
    codec: &Codec,
    file: &File,
    id: &FileId,
    old: u64,
    from: u64,
    off: u64,
    src: Source<'_>,
    rng: &mut impl CryptoRngCore,
) -> CRes<()> {
    let l = *codec.layout();
    let cs = l.chunk_size;
    let end = off + src.len();
    let new = old.max(end);
    let first = from / cs;
    let last = (end - 1) / cs;
    let per_batch = (BATCH_BYTES / cs).max(1);
    let mut b0 = first;
    while b0 <= last {
        let b1 = (b0 + per_batch - 1).min(last);
        let n = (b1 - b0 + 1) as usize;
        SCRATCH.with(|scr| -> CRes<()> {
            let mut scr = scr.borrow_mut();
            let Scratch { stored, plain } = &mut *scr;
            // Chunk k of the batch is plain[k·cs .. k·cs + its new length].
            let lens: Vec<usize> = (b0..=b1)
                .map(|i| l.chunk_plain_len(i, new) as usize)
                .collect();
            // A chunk the request covers whole is encrypted straight from the
            // request's bytes; only the others (an edge the write cuts, a
            // gap, growth) are put together in `plain` first.
            let whole = |k: usize| -> Option<&[u8]> {
                let Source::Bytes(data) = src else {
                    return None;
                };
                let cstart = (b0 + k as u64) * cs;
                let cend = cstart + lens[k] as u64;
                (off <= cstart && cend <= end)
                    .then(|| &data[(cstart - off) as usize..(cend - off) as usize])
            };
            let plain = sized(plain, n * cs as usize);
            for (k, i) in (b0..=b1).enumerate() {
                if whole(k).is_some() {
                    continue;
                }
                let cstart = i * cs;
                let new_len = lens[k] as u64;
                let old_len = l.chunk_plain_len(i, old);
                let p = &mut plain[k * cs as usize..k * cs as usize + new_len as usize];
                // Old bytes this write does not cover must be read and verified.
                let covers_old = off <= cstart && end >= cstart + old_len;
                let mut filled = 0usize;
                if old_len > 0 && !covers_old {
                    let o = read_chunk(codec, file, id, i, old_len)?;
                    p[..o.len()].copy_from_slice(&o);
                    filled = o.len();
                }
                // Everything else starts as zeros (gap, growth), then the data.
                p[filled..].fill(0);
                if let Source::Bytes(data) = src {
                    let s = off.max(cstart);
                    let e = end.min(cstart + new_len);
                    if s < e {
                        p[(s - cstart) as usize..(e - cstart) as usize]
                            .copy_from_slice(&data[(s - off) as usize..(e - off) as usize]);
                    }
                }
            }
            let mut ivs = vec![0u8; 16 * n];
            rng.fill_bytes(&mut ivs);
            let slens: Vec<usize> = lens
                .iter()
                .map(|&pl| l.chunk_stored_len(pl as u64) as usize)
                .collect();
            let total: usize = slens.iter().sum();
            let out = sized(stored, total);
            let mut jobs: Vec<ChunkJob<'_>> = Vec::with_capacity(n);
            let mut rest = &mut out[..];
            for (k, &sl) in slens.iter().enumerate() {
                let (slot, b) = rest.split_at_mut(sl);
                rest = b;
                jobs.push(ChunkJob {
                    index: b0 + k as u64,
                    iv: ivs[16 * k..16 * k + 16].try_into().expect("16"),
                    plain: whole(k).unwrap_or(&plain[k * cs as usize..k * cs as usize + lens[k]]),
                    out: slot,
                });
            }
            if lens.iter().sum::<usize>() >= PARALLEL_MIN_BYTES && n > 1 {
                // Tasks of a few chunks each, so their CBC chains also run
                // side by side within a thread (format::chunk::LANES).
                let g = LANES.min(n.div_ceil(rayon::current_num_threads()));
                jobs.par_chunks_mut(g)
                    .for_each(|g| codec.encrypt_chunks(id, g));
            } else {
                codec.encrypt_chunks(id, &mut jobs);
            }
            drop(jobs);
            backing::write_at(file, out, l.chunk_offset(b0))?;
            Ok(())
        })?;
        b0 = b1 + 1;
    }
    Ok(())
}
