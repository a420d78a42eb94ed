//! SPEC §7 "Header": `"FCY1" || file_id(16)` at the start of every fusecry/1 file.

use crate::error::{Error, Result};

/// Magic and version in one: ASCII "FCY1".
pub const MAGIC: [u8; 4] = *b"FCY1";
/// Header length.
pub const HEADER_LEN: usize = 20;

/// A file's random 16-byte id: bound into every chunk tag and the trailer tag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FileId(pub [u8; 16]);

impl FileId {
    /// A fresh random id.
    pub fn random(rng: &mut impl rand_core::CryptoRngCore) -> FileId {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        FileId(b)
    }
}

/// Encodes the header.
pub fn encode(id: &FileId) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&MAGIC);
    h[4..].copy_from_slice(&id.0);
    h
}

/// Decodes the header. The id itself is authenticated by every tag that covers it.
pub fn decode(bytes: &[u8]) -> Result<FileId> {
    if bytes.len() < HEADER_LEN {
        return Err(Error::BadHeader("shorter than 20 bytes"));
    }
    if bytes[..4] != MAGIC {
        return Err(Error::BadHeader("magic is not \"FCY1\""));
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&bytes[4..HEADER_LEN]);
    Ok(FileId(id))
}
