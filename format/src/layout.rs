//! SPEC §7 and §9: pure size and offset arithmetic. No crypto, no I/O.
//!
//! A stored file is `header || chunk_0 .. chunk_{n-1} || trailer`; every
//! chunk but the last holds `chunk_size` plaintext bytes and takes
//! `chunk_size + 48` stored bytes (32-byte tag, 16-byte IV).

use crate::primitives::ceil16;
use std::ops::{Range, RangeInclusive};

/// Tag (32) + IV (16) in front of every chunk's ciphertext.
pub const CHUNK_OVERHEAD: u64 = 48;
/// Largest stored file length: the backing `off_t` is a signed 64-bit integer.
pub const MAX_STORED: u64 = i64::MAX as u64;
/// Largest chunk size (SPEC §6).
pub const MAX_CHUNK_SIZE: u64 = 1 << 20;

/// SPEC §6: a multiple of 16, at least 16, at most 1 MiB.
pub fn chunk_size_valid(cs: u64) -> bool {
    (16..=MAX_CHUNK_SIZE).contains(&cs) && cs.is_multiple_of(16)
}

/// The size arithmetic of one profile with one chunk size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Plaintext bytes per chunk.
    pub chunk_size: u64,
    /// Bytes before chunk 0 (fusecry/1: 20; legacy: 0).
    pub header_len: u64,
    /// Bytes after the last chunk (fusecry/1: 40; legacy: 8).
    pub trailer_len: u64,
    /// Legacy: an empty file is 0 bytes, with no trailer.
    pub empty_is_nothing: bool,
}

impl Layout {
    /// Stored bytes of one full chunk.
    pub fn frame_len(&self) -> u64 {
        self.chunk_size + CHUNK_OVERHEAD
    }

    /// Number of chunks holding `size` plaintext bytes.
    pub fn chunk_count(&self, size: u64) -> u64 {
        size.div_ceil(self.chunk_size)
    }

    /// Plaintext bytes in chunk `index` of a file of `size` bytes (0 past the end).
    pub fn chunk_plain_len(&self, index: u64, size: u64) -> u64 {
        let start = index.saturating_mul(self.chunk_size);
        size.saturating_sub(start).min(self.chunk_size)
    }

    /// Stored bytes of a chunk holding `plain_len` bytes.
    pub fn chunk_stored_len(&self, plain_len: u64) -> u64 {
        CHUNK_OVERHEAD + ceil16(plain_len)
    }

    /// Offset of chunk `index` in the stored file.
    pub fn chunk_offset(&self, index: u64) -> u64 {
        self.header_len + index * self.frame_len()
    }

    /// Stored size of a file of `size` plaintext bytes (SPEC §9).
    /// Saturates at `u64::MAX` for absurd sizes (an unauthenticated legacy
    /// trailer can claim any u64), which never equals a real stored length.
    pub fn stored_size(&self, size: u64) -> u64 {
        if size == 0 && self.empty_is_nothing {
            return 0;
        }
        let full = size / self.chunk_size;
        let r = size % self.chunk_size;
        let last = if r > 0 { self.chunk_stored_len(r) } else { 0 };
        full.saturating_mul(self.frame_len())
            .saturating_add(self.header_len + last + self.trailer_len)
    }

    /// SPEC §7.4: the largest plaintext size a file may have, so that its
    /// stored size fits the backing filesystem's file offset (`off_t`, a
    /// signed 64-bit integer): the most whole chunks that fit in
    /// `2^63 − 1` stored bytes beside the header and trailer. Whole chunks
    /// only, so the bound is one number per chunk size that is easy to state;
    /// it gives up less than one chunk.
    pub fn max_size(&self) -> u64 {
        let room = MAX_STORED - self.header_len - self.trailer_len;
        (room / self.frame_len()) * self.chunk_size
    }

    /// Every plaintext size whose stored size is `stored`, or `None`.
    /// `stored_size(s) == stored` iff `s` is in the returned range.
    pub fn plain_size_range(&self, stored: u64) -> Option<RangeInclusive<u64>> {
        if stored == 0 && self.empty_is_nothing {
            return Some(0..=0);
        }
        let body = stored.checked_sub(self.header_len + self.trailer_len)?;
        let full = body / self.frame_len();
        let rem = body % self.frame_len();
        let base = full * self.chunk_size;
        if rem == 0 {
            // Either exactly `full` full chunks, or `full - 1` full chunks and
            // a last chunk padded up to exactly chunk_size.
            if full == 0 {
                return Some(0..=0);
            }
            return Some(base - 15..=base);
        }
        if rem < CHUNK_OVERHEAD + 16 || !(rem - CHUNK_OVERHEAD).is_multiple_of(16) {
            return None;
        }
        let padded = rem - CHUNK_OVERHEAD;
        Some(base + padded - 15..=base + padded)
    }

    /// The chunk indexes that hold plaintext bytes `[offset, offset + len)`.
    pub fn chunk_range(&self, offset: u64, len: u64) -> Range<u64> {
        if len == 0 {
            return offset / self.chunk_size..offset / self.chunk_size;
        }
        let first = offset / self.chunk_size;
        let last = (offset + len - 1) / self.chunk_size;
        first..last + 1
    }

    /// Split `[offset, offset + len)` into per-chunk pieces:
    /// `(chunk index, offset within the chunk, length)`.
    pub fn split(&self, offset: u64, len: u64) -> Vec<(u64, u64, u64)> {
        self.chunk_range(offset, len)
            .map(|i| {
                let cstart = i * self.chunk_size;
                let start = offset.max(cstart);
                let end = (offset + len).min(cstart + self.chunk_size);
                (i, start - cstart, end - start)
            })
            .collect()
    }
}
