//! An opened conf: the keys and parameters needed to encode and decode
//! files, names and symlink targets of one volume, whatever its profile.
//! Everything above this (streams, the CLI, the mount) is profile-blind.

use crate::error::{Error, Result};
use crate::header::{self, FileId, HEADER_LEN};
use crate::keys::{MasterKey, V1Keys};
use crate::layout::Layout;
use crate::legacy::{self, LegacyKeys};
use crate::name::{self, DirIv};
use crate::{chunk, trailer, xattr};
use rand_core::CryptoRngCore;

/// The two profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// fusecry/1.
    V1,
    /// Legacy 0.11.
    Legacy,
}

#[derive(Clone, Debug)]
enum Keys {
    V1(V1Keys),
    Legacy(LegacyKeys),
}

/// Keys and parameters of an opened volume (or single-file conf).
#[derive(Clone, Debug)]
pub struct Codec {
    keys: Keys,
    layout: Layout,
    encrypted_names: bool,
}

impl Codec {
    /// A fusecry/1 codec from the master key.
    pub fn v1(master: &MasterKey, chunk_size: u64, encrypted_names: bool) -> Codec {
        Codec {
            keys: Keys::V1(V1Keys::derive(master)),
            layout: Layout {
                chunk_size,
                header_len: HEADER_LEN as u64,
                trailer_len: trailer::TRAILER_LEN as u64,
                empty_is_nothing: false,
            },
            encrypted_names,
        }
    }

    /// A legacy 0.11 codec.
    pub fn legacy(keys: LegacyKeys, chunk_size: u64, enc_path: bool) -> Codec {
        Codec {
            keys: Keys::Legacy(keys),
            layout: Layout {
                chunk_size,
                header_len: 0,
                trailer_len: legacy::chunk::TRAILER_LEN as u64,
                empty_is_nothing: true,
            },
            encrypted_names: enc_path,
        }
    }

    /// Which profile.
    pub fn profile(&self) -> Profile {
        match self.keys {
            Keys::V1(_) => Profile::V1,
            Keys::Legacy(_) => Profile::Legacy,
        }
    }

    /// Size arithmetic.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Plaintext bytes per chunk.
    pub fn chunk_size(&self) -> u64 {
        self.layout.chunk_size
    }

    /// Whether names are encrypted in this volume.
    pub fn encrypted_names(&self) -> bool {
        self.encrypted_names
    }

    /// Whether directories carry a `fusecry.diriv` (fusecry/1 with encrypted names).
    pub fn uses_diriv(&self) -> bool {
        self.encrypted_names && self.profile() == Profile::V1
    }

    /// The header of a new file (legacy: none).
    pub fn encode_header(&self, id: &FileId) -> Vec<u8> {
        match self.keys {
            Keys::V1(_) => header::encode(id).to_vec(),
            Keys::Legacy(_) => Vec::new(),
        }
    }

    /// Reads the header (legacy: no header, the id is all zero).
    pub fn decode_header(&self, bytes: &[u8]) -> Result<FileId> {
        match self.keys {
            Keys::V1(_) => header::decode(bytes),
            Keys::Legacy(_) => Ok(FileId::default()),
        }
    }

    /// Encrypts chunk `index` into `out` (exactly `layout().chunk_stored_len(plain.len())` bytes).
    pub fn encrypt_chunk_into(
        &self,
        id: &FileId,
        index: u64,
        iv: &[u8; 16],
        plain: &[u8],
        out: &mut [u8],
    ) {
        match &self.keys {
            Keys::V1(k) => chunk::encrypt_into(&k.enc, &k.mac, id, index, iv, plain, out),
            Keys::Legacy(k) => legacy::chunk::encrypt_into(k, iv, plain, out),
        }
    }

    /// Encrypts several chunks of file `id`, each into its job's `out`: the
    /// same bytes as [`Codec::encrypt_chunk_into`] on each, about twice as
    /// fast on one core when there are four or more (their CBC chains run
    /// side by side). Callers that spread chunks over threads should give
    /// each task [`chunk::LANES`] or more of them.
    pub fn encrypt_chunks(&self, id: &FileId, jobs: &mut [chunk::ChunkJob<'_>]) {
        match &self.keys {
            Keys::V1(k) => chunk::encrypt_many(&k.enc, &k.mac, id, jobs),
            Keys::Legacy(k) => legacy::chunk::encrypt_many(k, jobs),
        }
    }

    /// Encrypts chunk `index`, allocating.
    pub fn encrypt_chunk(&self, id: &FileId, index: u64, iv: &[u8; 16], plain: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; self.layout.chunk_stored_len(plain.len() as u64) as usize];
        self.encrypt_chunk_into(id, index, iv, plain, &mut out);
        out
    }

    /// Verifies and decrypts chunk `index` into `out` (`out.len()` = its plaintext length).
    pub fn decrypt_chunk_into(
        &self,
        id: &FileId,
        index: u64,
        stored: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        match &self.keys {
            Keys::V1(k) => chunk::decrypt_into(&k.enc, &k.mac, id, index, stored, out),
            Keys::Legacy(k) => legacy::chunk::decrypt_into(k, index, stored, out),
        }
    }

    /// Verifies and decrypts chunk `index` holding `plain_len` bytes, allocating.
    pub fn decrypt_chunk(
        &self,
        id: &FileId,
        index: u64,
        stored: &[u8],
        plain_len: usize,
    ) -> Result<Vec<u8>> {
        let mut out = vec![0u8; plain_len];
        self.decrypt_chunk_into(id, index, stored, &mut out)?;
        Ok(out)
    }

    /// The trailer of a file of `size` bytes. Legacy: u64le(size); an empty
    /// legacy *file* has no trailer at all (callers writing files use
    /// [`Layout::stored_size`]), but an empty legacy *stream* is 8 zero bytes.
    pub fn encode_trailer(&self, id: &FileId, size: u64) -> Vec<u8> {
        match &self.keys {
            Keys::V1(k) => trailer::encode(&k.trailer, id, size).to_vec(),
            Keys::Legacy(_) => size.to_le_bytes().to_vec(),
        }
    }

    /// Verifies the trailer of a stored file of `stored_len` bytes and returns
    /// the plaintext size; the stored length must match that size exactly.
    pub fn decode_trailer(&self, id: &FileId, stored_len: u64, bytes: &[u8]) -> Result<u64> {
        let size = match &self.keys {
            Keys::V1(k) => {
                if stored_len < self.layout.header_len + self.layout.trailer_len {
                    return Err(Error::Truncated {
                        stored: stored_len,
                        expected: 0,
                    });
                }
                trailer::decode(&k.trailer, id, bytes)?
            }
            Keys::Legacy(_) => {
                if stored_len == 0 {
                    return Ok(0);
                }
                let b: [u8; 8] = bytes.try_into().map_err(|_| Error::Truncated {
                    stored: stored_len,
                    expected: 0,
                })?;
                let size = u64::from_le_bytes(b);
                // quirk 12: `stream encrypt` of nothing is 8 zero bytes.
                if size == 0 && stored_len == 8 {
                    return Ok(0);
                }
                size
            }
        };
        let expected = self.layout.stored_size(size);
        if expected != stored_len {
            return Err(Error::Truncated {
                stored: stored_len,
                expected,
            });
        }
        Ok(size)
    }

    /// The on-disk name of `name` in a directory (`diriv` is required for
    /// fusecry/1 encrypted names; legacy names draw a random IV).
    /// Returns the disk name and, for fusecry/1 long names, the sidecar content.
    pub fn encrypt_name(
        &self,
        diriv: Option<&DirIv>,
        plain: &str,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(String, Option<String>)> {
        name::check_plain(plain)?;
        if !self.encrypted_names {
            return Ok((plain.to_string(), None));
        }
        match &self.keys {
            Keys::V1(k) => {
                let diriv = diriv.ok_or_else(|| Error::BadName("directory has no diriv".into()))?;
                Ok(name::to_disk(name::encrypt(&k.name, diriv, plain)?))
            }
            Keys::Legacy(k) => {
                let mut iv = [0u8; 16];
                rng.fill_bytes(&mut iv);
                Ok((legacy::name::encrypt(k, &iv, plain)?, None))
            }
        }
    }

    /// Decodes an encoded name (for fusecry/1 long names, pass the sidecar content).
    pub fn decrypt_name(&self, diriv: Option<&DirIv>, encoded: &str) -> Result<String> {
        if !self.encrypted_names {
            name::check_plain(encoded).map_err(|e| Error::BadName(e.to_string()))?;
            return Ok(encoded.to_string());
        }
        match &self.keys {
            Keys::V1(k) => {
                let diriv = diriv.ok_or_else(|| Error::BadName("directory has no diriv".into()))?;
                name::decrypt(&k.name, diriv, encoded)
            }
            Keys::Legacy(k) => legacy::name::decrypt(k, encoded),
        }
    }

    /// Decodes the on-disk entry `disk` of a directory (SPEC §10, §10.1;
    /// `sidecar` reads a file of that directory by name): `None` for the
    /// volume's reserved names (but the root's conf, which the caller
    /// knows). With plain names the name is shown as it is; legacy 0.11
    /// names have no sidecars and no conflict copies.
    pub fn decode_entry(
        &self,
        diriv: Option<&DirIv>,
        disk: &str,
        sidecar: impl Fn(&str) -> Option<Vec<u8>>,
    ) -> Result<Option<name::Entry>> {
        let whole = |name: String| name::Entry {
            encoded: disk.to_string(),
            name,
            copy_of: None,
        };
        match &self.keys {
            _ if !self.encrypted_names => self.decrypt_name(None, disk).map(whole).map(Some),
            Keys::V1(k) => {
                let diriv = diriv.ok_or_else(|| Error::BadName("directory has no diriv".into()))?;
                name::decode_entry(&k.name, diriv, disk, sidecar)
            }
            Keys::Legacy(k) => legacy::name::decrypt(k, disk).map(whole).map(Some),
        }
    }

    /// Whether symlink targets are encrypted and bound to their directory
    /// and name (fusecry/1 with encrypted names, SPEC §11); otherwise they
    /// are stored as they are.
    pub fn binds_symlinks(&self) -> bool {
        self.uses_diriv()
    }

    /// The on-disk target of the symlink whose full encoded name is
    /// `encoded` in the directory with IV `diriv` (fusecry/1 with encrypted
    /// names: SIV with a random nonce, bound to both; otherwise the target
    /// as-is, as in 0.11, and `diriv` and `encoded` are not used).
    pub fn encrypt_symlink(
        &self,
        diriv: Option<&DirIv>,
        encoded: &str,
        target: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<u8>> {
        match &self.keys {
            Keys::V1(k) if self.encrypted_names => {
                let at = symlink_at(diriv, encoded)?;
                let mut nonce = [0u8; 16];
                rng.fill_bytes(&mut nonce);
                Ok(name::encrypt_symlink(&k.name, at, &nonce, target).into_bytes())
            }
            _ => Ok(target.to_vec()),
        }
    }

    /// Decodes the on-disk target of the symlink whose full encoded name is
    /// `encoded` in the directory with IV `diriv`.
    pub fn decrypt_symlink(
        &self,
        diriv: Option<&DirIv>,
        encoded: &str,
        stored: &[u8],
    ) -> Result<Vec<u8>> {
        match &self.keys {
            Keys::V1(k) if self.encrypted_names => {
                name::decrypt_symlink(&k.name, symlink_at(diriv, encoded)?, stored)
            }
            _ => Ok(stored.to_vec()),
        }
    }

    /// Where the stored target `stored` goes (SPEC §11.2): long ones out of
    /// line when targets are encrypted; plain targets always in the link.
    pub fn place_symlink(&self, stored: Vec<u8>) -> crate::long_target::Placement {
        if self.binds_symlinks() {
            crate::long_target::Placement::of(stored)
        } else {
            crate::long_target::Placement::Inline(stored)
        }
    }

    /// [`Codec::decrypt_symlink`] of what a symlink holds, reading a long
    /// target's sidecar through `read` (called with the sidecar's name in
    /// the link's directory) when the link holds a marker (SPEC §11.2).
    pub fn read_symlink(
        &self,
        diriv: Option<&DirIv>,
        encoded: &str,
        link: &[u8],
        read: impl FnOnce(&str) -> std::io::Result<Vec<u8>>,
    ) -> Result<Vec<u8>> {
        if !self.binds_symlinks() {
            return self.decrypt_symlink(diriv, encoded, link);
        }
        let stored = crate::long_target::resolve(link, read)?;
        self.decrypt_symlink(diriv, encoded, &stored)
    }

    /// The plaintext length of a symlink target stored in `stored_len`
    /// bytes, without reading it (for `lstat`).
    pub fn symlink_target_len(&self, stored_len: u64) -> u64 {
        if self.binds_symlinks() {
            name::symlink_target_len(stored_len)
        } else {
            stored_len
        }
    }

    /// Whether xattr names and values are encrypted (fusecry/1 with encrypted
    /// names); otherwise they pass through unchanged (SPEC §11.1).
    pub fn encrypts_xattrs(&self) -> bool {
        self.uses_diriv()
    }

    /// The on-disk xattr name.
    pub fn encrypt_xattr_name(&self, name: &str) -> Result<String> {
        match &self.keys {
            Keys::V1(k) if self.encrypted_names => xattr::encrypt_name(&k.name, name),
            _ => Ok(name.to_string()),
        }
    }

    /// The plaintext xattr name of an on-disk one; `None` for names that are
    /// not ours (hidden from the mount).
    pub fn decrypt_xattr_name(&self, disk: &str) -> Option<Result<String>> {
        match &self.keys {
            Keys::V1(k) if self.encrypted_names => xattr::decrypt_name(&k.name, disk),
            _ => Some(Ok(disk.to_string())),
        }
    }

    /// The on-disk value of attribute `name` (plaintext) of `owner`.
    pub fn encrypt_xattr_value(
        &self,
        owner: xattr::Owner<'_>,
        name: &str,
        value: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Vec<u8> {
        match &self.keys {
            Keys::V1(k) if self.encrypted_names => {
                let mut nonce = [0u8; 16];
                rng.fill_bytes(&mut nonce);
                xattr::encrypt_value(&k.name, owner, name, &nonce, value)
            }
            _ => value.to_vec(),
        }
    }

    /// Verifies and decrypts the on-disk value of attribute `name` of `owner`.
    pub fn decrypt_xattr_value(
        &self,
        owner: xattr::Owner<'_>,
        name: &str,
        stored: &[u8],
    ) -> Result<Vec<u8>> {
        match &self.keys {
            Keys::V1(k) if self.encrypted_names => {
                xattr::decrypt_value(&k.name, owner, name, stored)
            }
            _ => Ok(stored.to_vec()),
        }
    }
}

/// The binding of a fusecry/1 symlink target; a directory without an IV
/// cannot hold one.
fn symlink_at<'a>(diriv: Option<&'a DirIv>, encoded: &'a str) -> Result<name::SymlinkAt<'a>> {
    let diriv = diriv.ok_or(Error::BadSymlink)?;
    Ok(name::SymlinkAt { diriv, encoded })
}
