//! SPEC §10 "Names" and §11 "Symlink targets" for fusecry/1: AES-SIV with the
//! directory's IV as associated data, base32 without padding, and long names
//! stored as a hash plus a sidecar.

use crate::error::{Error, Result};
use crate::keys::SivKey;
use crate::primitives::sha256;
use aes_siv::{siv::Aes256Siv, KeyInit};
use data_encoding::BASE32_NOPAD;

/// Per-directory IV file, present in every directory of a volume with encrypted names.
pub const DIRIV_NAME: &str = "fusecry.diriv";
/// The volume conf in the root.
pub const CONF_NAME: &str = "fusecry.conf";
/// Prefix of a hashed long name.
pub const LONGNAME_PREFIX: &str = "fusecry.longname.";
/// Suffix of the sidecar that holds a long name's full encoding.
pub const LONGNAME_SUFFIX: &str = ".name";
/// Longest on-disk name before the long-name form is used.
pub const NAME_MAX: usize = 255;
/// AD of symlink targets.
const SYMLINK_AD: &[u8] = b"fusecry/1 symlink";

/// A directory's 16-byte random IV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirIv(pub [u8; 16]);

impl DirIv {
    /// A fresh random directory IV.
    pub fn random(rng: &mut impl rand_core::CryptoRngCore) -> DirIv {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        DirIv(b)
    }
    /// Parses the content of a `fusecry.diriv` file.
    pub fn from_bytes(b: &[u8]) -> Result<DirIv> {
        b.try_into()
            .map(DirIv)
            .map_err(|_| Error::BadName(format!("{DIRIV_NAME} is {} bytes, not 16", b.len())))
    }
}

/// What an on-disk directory entry is, before decryption.
#[derive(Debug, PartialEq, Eq)]
pub enum DiskName<'a> {
    /// Our own metadata (conf, diriv, long-name sidecar): never shown.
    Reserved,
    /// A hashed long name: the full encoding is in the sidecar `<name>.name`.
    Long(&'a str),
    /// A regular encoded name.
    Short(&'a str),
}

/// Classifies an on-disk name of a directory with encrypted names.
pub fn classify(disk: &str) -> DiskName<'_> {
    if disk == CONF_NAME || disk == DIRIV_NAME {
        DiskName::Reserved
    } else if let Some(rest) = disk.strip_prefix(LONGNAME_PREFIX) {
        if rest.ends_with(LONGNAME_SUFFIX) {
            DiskName::Reserved
        } else {
            DiskName::Long(disk)
        }
    } else {
        DiskName::Short(disk)
    }
}

/// Checks a plaintext name: not empty, not `.`/`..`, no `/` or NUL, at most 255 bytes.
pub fn check_plain(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(Error::NameNotAllowed(format!("{name:?}")));
    }
    if name.len() > NAME_MAX {
        return Err(Error::NameNotAllowed(format!(
            "{} bytes is longer than {NAME_MAX}",
            name.len()
        )));
    }
    Ok(())
}

/// The encoded (base32) name, before the long-name rule.
pub fn encrypt(key: &SivKey, diriv: &DirIv, name: &str) -> Result<String> {
    check_plain(name)?;
    let mut siv = Aes256Siv::new((&key.0).into());
    let ct = siv
        .encrypt([&diriv.0[..]], name.as_bytes())
        .expect("one header");
    Ok(BASE32_NOPAD.encode(&ct))
}

/// Decodes an encoded (base32) name: SIV failure, bad base32 or bad UTF-8 is `BadName`.
pub fn decrypt(key: &SivKey, diriv: &DirIv, encoded: &str) -> Result<String> {
    let ct = BASE32_NOPAD
        .decode(encoded.as_bytes())
        .map_err(|_| Error::BadName(format!("{encoded:?} is not base32")))?;
    let mut siv = Aes256Siv::new((&key.0).into());
    let pt = siv
        .decrypt([&diriv.0[..]], &ct)
        .map_err(|_| Error::BadName(format!("{encoded:?} failed authentication")))?;
    let name = String::from_utf8(pt).map_err(|_| Error::BadName("not UTF-8".into()))?;
    check_plain(&name).map_err(|_| Error::BadName(format!("{name:?} is not a valid name")))?;
    Ok(name)
}

/// The on-disk name for an encoded name and, for long names, the sidecar content.
pub fn to_disk(encoded: String) -> (String, Option<String>) {
    if encoded.len() <= NAME_MAX {
        (encoded, None)
    } else {
        (long_disk_name(&encoded), Some(encoded))
    }
}

/// `fusecry.longname.` + base32(SHA-256(encoded)).
pub fn long_disk_name(encoded: &str) -> String {
    format!(
        "{LONGNAME_PREFIX}{}",
        BASE32_NOPAD.encode(&sha256(encoded.as_bytes()))
    )
}

/// The sidecar file name of a hashed long name.
pub fn sidecar_name(disk: &str) -> String {
    format!("{disk}{LONGNAME_SUFFIX}")
}

/// Checks that a sidecar's content belongs to the hashed name `disk`. A
/// sidecar holds only encodings too long to be a name themselves: a short
/// one would be listed under a name that a lookup (which computes the short
/// form) never finds.
pub fn check_sidecar(disk: &str, content: &str) -> Result<()> {
    if content.len() <= NAME_MAX {
        return Err(Error::BadName(format!(
            "{disk}: the sidecar holds a short encoding ({} bytes)",
            content.len()
        )));
    }
    if long_disk_name(content) == disk {
        Ok(())
    } else {
        Err(Error::BadName(format!(
            "{disk}: sidecar does not match its hash"
        )))
    }
}

/// Encrypts a symlink target with a caller-chosen nonce (SPEC §11).
pub fn encrypt_symlink(key: &SivKey, nonce: &[u8; 16], target: &[u8]) -> String {
    let mut siv = Aes256Siv::new((&key.0).into());
    let ct = siv
        .encrypt([SYMLINK_AD, &nonce[..]], target)
        .expect("two headers");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    BASE32_NOPAD.encode(&out)
}

/// Decrypts an on-disk symlink target.
pub fn decrypt_symlink(key: &SivKey, stored: &[u8]) -> Result<Vec<u8>> {
    let raw = BASE32_NOPAD.decode(stored).map_err(|_| Error::BadSymlink)?;
    if raw.len() < 32 {
        return Err(Error::BadSymlink);
    }
    let (nonce, ct) = raw.split_at(16);
    let mut siv = Aes256Siv::new((&key.0).into());
    siv.decrypt([SYMLINK_AD, nonce], ct)
        .map_err(|_| Error::BadSymlink)
}
