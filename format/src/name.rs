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
    /// Our own metadata (conf, diriv, long-name sidecar, long-target
    /// sidecar, a symlink being renamed): never shown.
    Reserved,
    /// A hashed long name: the full encoding is in the sidecar `<name>.name`.
    Long(&'a str),
    /// A regular encoded name.
    Short(&'a str),
}

/// Classifies an on-disk name of a directory with encrypted names.
pub fn classify(disk: &str) -> DiskName<'_> {
    if disk == CONF_NAME
        || disk == DIRIV_NAME
        || is_tmp(disk)
        || crate::long_target::is_sidecar(disk)
    {
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

/// An on-disk entry name decoded (SPEC §10, §10.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The plaintext name it is shown under.
    pub name: String,
    /// The full encoded name (a long name's sidecar content) its symlink
    /// target is bound to (§11); a conflict copy's is its base's.
    pub encoded: String,
    /// For a conflict copy: the plaintext name of the entry it copies, and
    /// the tool whose marker it carries.
    pub copy_of: Option<(String, crate::conflict::Tool)>,
}

/// Decodes on-disk entry `disk` of the directory with IV `diriv`: `None`
/// for reserved names (§10), `BadName` for anything not a name. `sidecar`
/// reads a file of the same directory by name (a long name's sidecar).
/// An entry that is not an encoding, but one with a sync tool's conflict
/// marker added (§10.1), decodes as the copy of its base.
pub fn decode_entry(
    key: &SivKey,
    diriv: &DirIv,
    disk: &str,
    sidecar: impl Fn(&str) -> Option<Vec<u8>>,
) -> Result<Option<Entry>> {
    let encoding = |disk: &str| -> Result<Option<String>> {
        match classify(disk) {
            DiskName::Reserved => Ok(None),
            DiskName::Short(s) => Ok(Some(s.to_string())),
            DiskName::Long(l) => {
                let c = sidecar(&sidecar_name(l))
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| Error::BadName(format!("{l}: missing or unreadable sidecar")))?;
                check_sidecar(l, &c)?;
                Ok(Some(c))
            }
        }
    };
    let plain = |disk: &str| -> Result<Option<(String, String)>> {
        let Some(encoded) = encoding(disk)? else {
            return Ok(None);
        };
        Ok(Some((decrypt(key, diriv, &encoded)?, encoded)))
    };
    let err = match plain(disk) {
        Ok(found) => {
            return Ok(found.map(|(name, encoded)| Entry {
                name,
                encoded,
                copy_of: None,
            }))
        }
        Err(e) => e,
    };
    let Some(copy) = crate::conflict::split_disk(disk) else {
        return Err(err);
    };
    let (of, encoded) = plain(&copy.base)?.ok_or(err)?;
    let name = crate::conflict::shown(&of, copy.marker);
    check_plain(&name).map_err(|_| {
        Error::BadName(format!(
            "a {} conflict copy of {of:?} whose name would be {} bytes",
            copy.tool.name(),
            name.len()
        ))
    })?;
    Ok(Some(Entry {
        name,
        encoded,
        copy_of: Some((of, copy.tool)),
    }))
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

/// Where a symlink target is stored (SPEC §11): the parent directory's IV
/// and the entry's full encoded name (for a long name, the sidecar content,
/// not the hashed disk name). The target is authenticated together with
/// both, so it reads only under the name it was written for.
#[derive(Clone, Copy, Debug)]
pub struct SymlinkAt<'a> {
    /// The parent directory's IV.
    pub diriv: &'a DirIv,
    /// The entry's full encoded name (base32, before the long-name rule).
    pub encoded: &'a str,
}

/// Encrypts a symlink target with a caller-chosen nonce (SPEC §11):
/// `base32(nonce || AES-SIV(K_name, ["fusecry/1 symlink", nonce, diriv, encoded], target))`.
pub fn encrypt_symlink(key: &SivKey, at: SymlinkAt<'_>, nonce: &[u8; 16], target: &[u8]) -> String {
    let mut siv = Aes256Siv::new((&key.0).into());
    let ct = siv
        .encrypt(symlink_ad(at, nonce), target)
        .expect("four headers");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    BASE32_NOPAD.encode(&out)
}

/// Decrypts the stored target of the symlink at `at`: anything but the
/// target written for that directory and name is `BadSymlink`.
pub fn decrypt_symlink(key: &SivKey, at: SymlinkAt<'_>, stored: &[u8]) -> Result<Vec<u8>> {
    let raw = BASE32_NOPAD.decode(stored).map_err(|_| Error::BadSymlink)?;
    if raw.len() < 32 {
        return Err(Error::BadSymlink);
    }
    let (nonce, ct) = raw.split_at(16);
    let mut siv = Aes256Siv::new((&key.0).into());
    siv.decrypt(symlink_ad(at, nonce), ct)
        .map_err(|_| Error::BadSymlink)
}

/// The four AD components of a symlink target.
fn symlink_ad<'a>(at: SymlinkAt<'a>, nonce: &'a [u8]) -> [&'a [u8]; 4] {
    [SYMLINK_AD, nonce, &at.diriv.0[..], at.encoded.as_bytes()]
}

/// The plaintext length of a fusecry/1 stored target of `stored_len`
/// characters (SPEC §11: `ceil((32 + n)·8/5)` characters), without
/// decrypting it: what `lstat` reports as a symlink's size.
pub fn symlink_target_len(stored_len: u64) -> u64 {
    (stored_len * 5 / 8).saturating_sub(32)
}

/// Prefix of a symlink re-encrypted for a rename, before it is renamed
/// over its destination (SPEC §10 reserved names).
pub const TMP_PREFIX: &str = "fusecry.tmp.";

/// A temporary on-disk name: `fusecry.tmp.` || base32(16 random bytes).
pub fn tmp_name(random: &[u8; 16]) -> String {
    format!("{TMP_PREFIX}{}", BASE32_NOPAD.encode(random))
}

/// True for a temporary on-disk name (`fusecry.tmp.*`): a leftover of an
/// interrupted rename when found outside a rename in progress.
pub fn is_tmp(disk: &str) -> bool {
    disk.starts_with(TMP_PREFIX)
}
