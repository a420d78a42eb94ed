//! SPEC §7.7 (crash recovery): what is left of a damaged stored file, chunk
//! by chunk, as plaintext byte ranges, and rewriting it so that it reads
//! again. `fsck` reports with [`scan`]; `fsck --repair` rewrites with
//! [`rewrite`].
//!
//! A crash of the mount tears at most the chunks being written and the
//! trailer (SPEC §7.7). Every chunk whose tag verifies is kept. The size
//! comes from the trailer when it verifies against the stored length, and
//! otherwise from the last chunk that verifies.

use fusecry_format::{stream, Codec, FileId, Profile};
use fusecry_fuse::backing::{self, Dir};
use fusecry_fuse::xattrs;
use rand_core::{OsRng, RngCore};
use serde::Serialize;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufReader};

/// Plaintext bytes `first..=last` (chunks `first_chunk..=last_chunk`) that
/// no longer verify.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost {
    pub first_byte: u64,
    pub last_byte: u64,
    pub first_chunk: u64,
    pub last_chunk: u64,
}

impl Lost {
    /// "bytes A-B `what` (chunks I-J)", both ends inclusive.
    pub fn describe(&self, what: &str) -> String {
        let chunks = if self.first_chunk == self.last_chunk {
            format!("chunk {}", self.first_chunk)
        } else {
            format!("chunks {}-{}", self.first_chunk, self.last_chunk)
        };
        format!(
            "bytes {}-{} {what} ({chunks})",
            self.first_byte, self.last_byte
        )
    }
}

/// What [`scan`] found in one stored file.
#[derive(Debug)]
pub struct Scan {
    /// The file id the chunks are bound to (legacy: all zero).
    pub id: FileId,
    /// The plaintext size: the trailer's, or from the last chunk that verifies.
    pub size: u64,
    /// False when a fusecry/1 header's magic is damaged (its id is used).
    pub header_ok: bool,
    /// True when the size came from a trailer that verified.
    pub trailer_ok: bool,
    /// Chunks below `size` that fail their tag, ascending.
    pub bad: Vec<u64>,
    /// Plaintext bytes the stored length could hold past `size` when the
    /// trailer was lost: what was being written when the crash came.
    pub tail_end: u64,
}

impl Scan {
    /// The unreadable byte ranges, contiguous bad chunks merged; a lost
    /// tail (trailer gone, stored bytes past the last chunk that verifies)
    /// is the last range.
    pub fn lost(&self, cs: u64) -> Vec<Lost> {
        let mut out: Vec<Lost> = vec![];
        for &i in &self.bad {
            match out.last_mut() {
                Some(l) if l.last_chunk + 1 == i => {
                    l.last_chunk = i;
                    l.last_byte = ((i + 1) * cs).min(self.size) - 1;
                }
                _ => out.push(Lost {
                    first_byte: i * cs,
                    last_byte: ((i + 1) * cs).min(self.size) - 1,
                    first_chunk: i,
                    last_chunk: i,
                }),
            }
        }
        if self.tail_end > self.size {
            let first_chunk = self.size / cs;
            let r = Lost {
                first_byte: self.size,
                last_byte: self.tail_end - 1,
                first_chunk,
                last_chunk: (self.tail_end - 1) / cs,
            };
            match out.last_mut() {
                Some(l) if l.last_byte + 1 == r.first_byte => {
                    l.last_byte = r.last_byte;
                    l.last_chunk = r.last_chunk;
                }
                _ => out.push(r),
            }
        }
        out
    }
}

/// Reads `len` bytes at `off`, fewer at the end of the file.
fn read_exact_at(f: &File, off: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut n = 0;
    while n < len {
        match backing::read_at(f, &mut buf[n..], off + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(io::Error::from_raw_os_error(e.code())),
        }
    }
    buf.truncate(n);
    Ok(buf)
}

/// Verifies and decrypts chunk `i` holding `plain_len` bytes; `None` when it
/// does not verify (or is not all there).
fn chunk(
    codec: &Codec,
    f: &File,
    id: &FileId,
    i: u64,
    plain_len: u64,
) -> io::Result<Option<Vec<u8>>> {
    let l = codec.layout();
    let want = l.chunk_stored_len(plain_len) as usize;
    let stored = read_exact_at(f, l.chunk_offset(i), want)?;
    if stored.len() < want {
        return Ok(None);
    }
    Ok(codec.decrypt_chunk(id, i, &stored, plain_len as usize).ok())
}

/// The largest last-chunk candidates tried one length at a time: above this
/// chunk size only the lengths that end at the stored end, or just before a
/// trailer there, are tried (a 1 MiB chunk has 65536 possible lengths).
const ALL_LENGTHS_MAX: u64 = 64 << 10;

/// Scans the stored file `f` (SPEC §7.7).
pub fn scan(codec: &Codec, f: &File) -> io::Result<Scan> {
    let l = *codec.layout();
    let cs = l.chunk_size;
    let stored = backing::fstat(f)
        .map_err(|e| io::Error::from_raw_os_error(e.code()))?
        .len();
    let hl = l.header_len;
    let tl = l.trailer_len;
    let frame = l.frame_len();
    let head = read_exact_at(f, 0, hl as usize)?;
    // fusecry/1: the id is taken even when the magic is damaged; if the id
    // itself is damaged no chunk verifies and all is lost anyway.
    let id = match codec.profile() {
        Profile::V1 if head.len() as u64 == hl => {
            let mut b = [0u8; 16];
            b.copy_from_slice(&head[4..20]);
            FileId(b)
        }
        _ => FileId::default(),
    };
    let body = stored.saturating_sub(hl);
    // Plaintext the stored bytes could hold if there were no trailer.
    let capacity = body / frame * cs + (body % frame).saturating_sub(48);
    if (head.len() as u64) < hl {
        return Ok(Scan {
            id,
            size: 0,
            header_ok: false,
            trailer_ok: false,
            bad: vec![],
            tail_end: capacity,
        });
    }
    let header_ok = hl == 0 || codec.decode_header(&head).is_ok();
    let tail = if stored >= tl {
        read_exact_at(f, stored - tl, tl as usize)?
    } else {
        vec![]
    };
    let trailer = codec.decode_trailer(&id, stored, &tail).ok();
    let (size, trailer_ok) = match trailer {
        Some(s) => (s, true),
        None => (size_from_chunks(codec, f, &id, stored)?, false),
    };
    let mut bad = vec![];
    for i in 0..l.chunk_count(size) {
        if chunk(codec, f, &id, i, l.chunk_plain_len(i, size))?.is_none() {
            bad.push(i);
        }
    }
    Ok(Scan {
        id,
        size,
        header_ok,
        trailer_ok,
        bad,
        tail_end: if trailer.is_some() { size } else { capacity },
    })
}

/// The size of a file whose trailer is lost: the end of the last chunk that
/// verifies. A full chunk there gives a multiple of the chunk size; a
/// shorter last chunk gives its padded length (its true length is up to 15
/// bytes less, and the padding is zeros, so nothing written is dropped).
fn size_from_chunks(codec: &Codec, f: &File, id: &FileId, stored: u64) -> io::Result<u64> {
    let l = *codec.layout();
    let (cs, hl, frame) = (l.chunk_size, l.header_len, l.frame_len());
    let full = stored.saturating_sub(hl) / frame;
    let mut last_full = None;
    for i in (0..full).rev() {
        if chunk(codec, f, id, i, cs)?.is_some() {
            last_full = Some(i);
            break;
        }
    }
    let mut size = last_full.map_or(0, |i| (i + 1) * cs);
    let after = last_full.map_or(0, |i| i + 1);
    // Candidate (index, padded length) pairs for a shorter last chunk.
    let mut cands: Vec<(u64, u64)> = vec![];
    for end in [stored, stored.saturating_sub(l.trailer_len)] {
        let Some(b) = end.checked_sub(hl) else {
            continue;
        };
        let (j, rem) = (b / frame, b % frame);
        if rem > 48 && (rem - 48).is_multiple_of(16) && j >= after {
            cands.push((j, rem - 48));
        }
    }
    if cs <= ALL_LENGTHS_MAX {
        let o = l.chunk_offset(after);
        let room = stored.saturating_sub(o + 48).min(cs - 16);
        cands.extend((1..=room / 16).map(|k| (after, k * 16)));
    }
    for (j, p) in cands {
        let end = j * cs + p;
        if end > size && chunk(codec, f, id, j, p)?.is_some() {
            size = end;
        }
    }
    Ok(size)
}

/// How `--repair` treats a damaged chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Damaged chunks become zeros; everything that verifies is kept.
    Zero,
    /// The file is cut before its first damaged chunk.
    Truncate,
}

/// The byte ranges a repair in `mode` gives up: the damaged ones (zero),
/// or everything from the first damage on (truncate).
pub fn lost_by(s: &Scan, mode: Mode, cs: u64) -> Vec<Lost> {
    let all = s.lost(cs);
    match (mode, all.first()) {
        (Mode::Truncate, Some(first)) => {
            let end = s.size.max(s.tail_end);
            vec![Lost {
                first_byte: first.first_byte,
                last_byte: end - 1,
                first_chunk: first.first_chunk,
                last_chunk: (end - 1) / cs,
            }]
        }
        _ => all,
    }
}

/// The plaintext size the repaired file gets.
pub fn repaired_size(s: &Scan, mode: Mode, cs: u64) -> u64 {
    match (mode, s.bad.first()) {
        (Mode::Truncate, Some(&i)) => i * cs,
        _ => s.size,
    }
}

/// Rewrites the damaged file `name` of `dir` (scanned as `s`) under a new
/// file id beside it, verifies the new file and renames it over the
/// original (SPEC §7.7). Mode, owner, times and extended attributes go
/// along. A failure leaves the original untouched (and at worst a
/// `fusecry.tmp.*` leftover that fsck names).
pub fn rewrite(codec: &Codec, dir: &Dir, name: &OsStr, s: &Scan, mode: Mode) -> io::Result<()> {
    let e =
        |e: fusecry_fuse::backing::Res<()>| e.map_err(|e| io::Error::from_raw_os_error(e.code()));
    let old = dir
        .open_file(name, true)
        .map_err(|e| io::Error::from_raw_os_error(e.code()))?;
    let meta = backing::fstat(&old).map_err(|e| io::Error::from_raw_os_error(e.code()))?;
    let mut rnd = [0u8; 16];
    OsRng.fill_bytes(&mut rnd);
    let tmp = fusecry_format::name::tmp_name(&rnd);
    let tmp = OsStr::new(&tmp);
    let new = dir
        .create_file(tmp, 0o600)
        .map_err(|e| io::Error::from_raw_os_error(e.code()))?;
    let res = (|| {
        let id = match codec.profile() {
            Profile::V1 => FileId::random(&mut OsRng),
            Profile::Legacy => FileId::default(),
        };
        write_content(
            codec,
            &old,
            &new,
            s,
            &id,
            repaired_size(s, mode, codec.chunk_size()),
        )?;
        e(backing::sync(&new, false))?;
        let rep = stream::verify(codec, &mut BufReader::new(&new), &|_| {})?;
        if !rep.is_clean() {
            return Err(io::Error::other("the rewritten file does not verify"));
        }
        for x in backing::flist_xattr(&old).map_err(|e| io::Error::from_raw_os_error(e.code()))? {
            if let Ok(Some(v)) = backing::fget_xattr(&old, &x) {
                e(backing::fset_xattr(&new, &x, &v))?;
            }
        }
        e(xattrs::rebind_file(codec, &new, &s.id, &id, &mut OsRng))?;
        e(backing::fchown(&new, Some(meta.uid()), Some(meta.gid())))?;
        e(backing::fchmod(&new, meta.mode()))?;
        let t = |(sec, nsec): (i64, i64)| backing::Time::At(sec, nsec);
        e(backing::futimens(&new, t(meta.atime()), t(meta.mtime())))?;
        e(backing::sync(&new, false))?;
        e(dir.rename(tmp, dir, name, 0))?;
        e(dir.sync())
    })();
    if res.is_err() {
        let _ = dir.unlink(tmp);
    }
    res
}

/// Writes header, chunks (verified plaintext, zeros for damaged ones) and
/// trailer of a file of `size` bytes under `id` into `new`.
fn write_content(
    codec: &Codec,
    old: &File,
    new: &File,
    s: &Scan,
    id: &FileId,
    size: u64,
) -> io::Result<()> {
    let l = *codec.layout();
    let mut out = codec.encode_header(id);
    let mut at = 0u64;
    let flush = |out: &mut Vec<u8>, at: &mut u64| -> io::Result<()> {
        backing::write_at(new, out, *at).map_err(|e| io::Error::from_raw_os_error(e.code()))?;
        *at += out.len() as u64;
        out.clear();
        Ok(())
    };
    for i in 0..l.chunk_count(size) {
        let len = l.chunk_plain_len(i, size);
        // A chunk keeps its old length's plaintext; the last one of a file
        // cut shorter than the old size keeps only its first `len` bytes.
        let plain = if s.bad.binary_search(&i).is_ok() {
            vec![0u8; len as usize]
        } else {
            let mut p = chunk(codec, old, &s.id, i, l.chunk_plain_len(i, s.size))?
                .ok_or_else(|| io::Error::other(format!("chunk {i} changed while repairing")))?;
            p.truncate(len as usize);
            p
        };
        let mut iv = [0u8; 16];
        OsRng.fill_bytes(&mut iv);
        out.extend(codec.encrypt_chunk(id, i, &iv, &plain));
        if out.len() >= 4 << 20 {
            flush(&mut out, &mut at)?;
        }
    }
    if l.stored_size(size) > 0 {
        out.extend(codec.encode_trailer(id, size));
    }
    flush(&mut out, &mut at)
}
