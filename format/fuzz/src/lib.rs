//! Helpers shared by the fuzz targets and the seed generator: fixed keys,
//! a deterministic RNG, the SPEC §7.5 random-access reader and a small
//! input cursor. Only the public API of `fusecry_format` is used.

use fusecry_format::keys::Key32;
use fusecry_format::legacy::LegacyKeys;
use fusecry_format::{Codec, Error, MasterKey, Result};
use rand_core::{CryptoRng, RngCore};

/// The fixed fusecry/1 master key of the targets.
pub const MASTER: [u8; 32] = [1; 32];
/// The fixed legacy K of the targets.
pub const LEGACY_K: [u8; 32] = [1; 32];
/// Passwords the conf target tries (the conformance vectors use the second).
pub const PASSWORDS: [&str; 2] = ["fuzz", "conformance password"];

/// A fusecry/1 codec under [`MASTER`].
pub fn v1(chunk_size: u64, encrypted_names: bool) -> Codec {
    Codec::v1(&MasterKey::from_bytes(MASTER), chunk_size, encrypted_names)
}

/// A legacy codec under [`LEGACY_K`].
pub fn legacy(chunk_size: u64, enc_path: bool) -> Codec {
    Codec::legacy(
        LegacyKeys::new(Key32::from_bytes(LEGACY_K)),
        chunk_size,
        enc_path,
    )
}

/// SplitMix64: deterministic, so every input replays exactly. Marked
/// `CryptoRng` only because the format's writers ask for one: never use it
/// outside fuzzing.
pub struct DetRng(pub u64);

impl RngCore for DetRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for c in dest.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> std::result::Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for DetRng {}

/// SPEC §7.5 as a random-access reader does it: length, header, trailer,
/// stored length, then every chunk (the same steps as
/// `conformance::read_file` and the mount).
pub fn read_file(codec: &Codec, stored: &[u8]) -> Result<Vec<u8>> {
    let l = *codec.layout();
    let len = stored.len() as u64;
    if len < l.header_len + l.trailer_len && !(len == 0 && l.empty_is_nothing) {
        return Err(Error::Truncated {
            stored: len,
            expected: 0,
        });
    }
    let id = codec.decode_header(&stored[..l.header_len as usize])?;
    let tl = (l.trailer_len as usize).min(stored.len());
    let size = codec.decode_trailer(&id, len, &stored[stored.len() - tl..])?;
    let mut out = Vec::with_capacity(size as usize);
    for i in 0..l.chunk_count(size) {
        let pl = l.chunk_plain_len(i, size);
        let off = l.chunk_offset(i) as usize;
        let sl = l.chunk_stored_len(pl) as usize;
        out.extend(codec.decrypt_chunk(&id, i, &stored[off..off + sl], pl as usize)?);
    }
    Ok(out)
}

/// Reads the input front to back; past the end everything is zero.
pub struct Cursor<'a>(pub &'a [u8]);

impl<'a> Cursor<'a> {
    /// One byte.
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    /// Little-endian u16.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    /// Little-endian u64.
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }
    /// `N` bytes.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        for x in &mut b {
            *x = self.u8();
        }
        b
    }
    /// Whatever is left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

/// The base32 alphabet (RFC 4648, upper case) of names and symlink targets.
pub const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Edits an encoded string: `op` picks replace / delete / insert / append,
/// `pos` the place and `val` the base32 character. Returns `None` when the
/// edit would leave the string unchanged.
pub fn edit_b32(s: &str, op: u8, pos: u16, val: u8) -> Option<String> {
    let mut b = s.as_bytes().to_vec();
    let c = BASE32[val as usize % 32];
    match op % 4 {
        0 if !b.is_empty() => {
            let i = pos as usize % b.len();
            if b[i] == c {
                return None;
            }
            b[i] = c;
        }
        1 if !b.is_empty() => {
            b.remove(pos as usize % b.len());
        }
        2 => b.insert(pos as usize % (b.len() + 1), c),
        _ => b.push(c),
    }
    String::from_utf8(b).ok()
}
