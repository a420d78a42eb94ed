//! SPEC §7.5–§7.7 as the mount does random access: one open backing file,
//! its cached file id and authenticated size, and who may touch which
//! chunks when. The bytes themselves (which chunks a range covers, reading
//! and verifying them, re-encrypting with fresh IVs, gaps of real encrypted
//! zeros, trailer placement, truncation, the empty form) are
//! `fusecry_format::file`'s; this module owns the I/O policy around them:
//! the backing fd (through [`backing`], so fault injection applies), locks,
//! per-thread buffers, space reservation, id renewal and restating after a
//! failed change.
//!
//! Every read verifies each chunk it returns; every write writes the chunks
//! before the trailer (so a crash tears at most the chunks being written),
//! and works in bounded batches whatever the size.
//!
//! Concurrency: requests lock *chunk ranges*, not the file. Writes to
//! disjoint chunks (the kernel's writeback sends several at once) encrypt in
//! parallel; a read waits only for writes to the chunks it reads. The short
//! critical sections on the state decide ranges, the committed size and who
//! writes the trailer: the write that ends furthest, once nothing in flight
//! would land beyond it.

use crate::backing::{self, Res};
use crate::{space, xattrs};
use fusecry_format::file::{self, FileError, Scratch, Storage};
use fusecry_format::{Codec, FileId, Profile};
use fuser::Errno;
use parking_lot::{Condvar, Mutex, MutexGuard};
use rand_core::CryptoRngCore;
use std::fs::File;

pub use fusecry_format::file::Source;

thread_local! {
    /// Per-thread buffers reused by every request (see [`Scratch`]).
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// The backing file as the format's random-access functions see it: every
/// call goes through [`backing`], so fault injection and errno mapping
/// apply to them as to the rest of the mount.
struct Backing<'a>(&'a File);

impl Storage for Backing<'_> {
    type Error = Errno;
    fn read_at(&self, buf: &mut [u8], off: u64) -> Res<usize> {
        backing::read_at(self.0, buf, off)
    }
    fn write_at(&self, buf: &[u8], off: u64) -> Res<()> {
        backing::write_at(self.0, buf, off)
    }
    fn stored_len(&self) -> Res<u64> {
        self.0.metadata().map(|m| m.len()).map_err(backing::errno)
    }
    fn set_stored_len(&self, len: u64) -> Res<()> {
        backing::set_len(self.0, len)
    }
}

/// Why a content operation failed: the backing call (`Io`) or a chunk,
/// header or trailer that did not verify (`Damaged`), as the format's
/// random-access functions report it.
pub type ContentError = FileError<Errno>;

type CRes<T> = Result<T, ContentError>;

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
        file::write_empty(codec, &Backing(&self.file), &id)?;
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
            let range = file::read(codec, &Backing(&self.file), &id, size, off, len, &mut s)?;
            Ok(f(&s.plain()[range]))
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
        let res = SCRATCH.with(|s| {
            let b = Backing(&self.file);
            file::write(
                codec,
                &b,
                &id,
                old,
                from,
                off,
                src,
                rng,
                &mut s.borrow_mut(),
            )
        });
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
                if let Err(e) = file::write_trailer(codec, &Backing(&self.file), &id, end) {
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
        let b = Backing(&self.file);
        SCRATCH.with(|s| file::truncate(codec, &b, &st.id, old, new, rng, &mut s.borrow_mut()))?;
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

/// SPEC §7.5 steps 1–4 ([`file::open`]) as the state of an open file.
fn load_state(codec: &Codec, f: &File) -> Res<FileState> {
    let o = file::open(codec, &Backing(f))?;
    Ok(FileState::loaded(
        codec,
        o.id,
        o.size,
        o.damage.map(|e| e.to_string()),
    ))
}

/// Plaintext size of a stored file without keeping it open (for getattr).
pub fn stored_file_size(codec: &Codec, file: &File) -> Res<(u64, Option<String>)> {
    let st = load_state(codec, file)?;
    Ok((st.size, st.damaged))
}
