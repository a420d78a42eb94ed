//! SPEC §11.1 "Extended attributes": in fusecry/1 volumes with encrypted
//! names, xattr names are encrypted deterministically (so a get by name is
//! one backing call) and values with a fresh nonce, bound to their
//! plaintext name and to the file or directory that holds them.

use crate::error::{Error, Result};
use crate::header::FileId;
use crate::keys::SivKey;
use crate::name::DirIv;
use aes_siv::{siv::Aes256Siv, KeyInit};
use data_encoding::BASE32_NOPAD;

/// Every encrypted xattr name on disk starts with this (the backing fs only
/// lets unprivileged users write the `user.` namespace).
pub const DISK_PREFIX: &str = "user.fcry.";
/// Only this namespace can be stored encrypted...
pub const PLAIN_NAMESPACE: &str = "user.";
/// ...and the two POSIX ACL names (a mount with `-o acl`).
pub const ACL_NAMES: [&str; 2] = ["system.posix_acl_access", "system.posix_acl_default"];
/// Longest plaintext xattr name: `DISK_PREFIX` + base32(16 + n) must fit 255 bytes.
pub const NAME_MAX: usize = 137;
const NAME_AD: &[u8] = b"fusecry/1 xattr name";
const VALUE_AD: &[u8] = b"fusecry/1 xattr value";

/// The on-disk name of xattr `name` (in the `user.` namespace, or an ACL).
pub fn encrypt_name(key: &SivKey, name: &str) -> Result<String> {
    let storable = name.starts_with(PLAIN_NAMESPACE) || ACL_NAMES.contains(&name);
    if !storable || name.len() > NAME_MAX {
        return Err(Error::NameNotAllowed(format!(
            "xattr {name:?}: only user.* names of at most {NAME_MAX} bytes, and POSIX ACLs"
        )));
    }
    let mut siv = Aes256Siv::new((&key.0).into());
    let ct = siv.encrypt([NAME_AD], name.as_bytes()).expect("one header");
    Ok(format!("{DISK_PREFIX}{}", BASE32_NOPAD.encode(&ct)))
}

/// The plaintext name of an on-disk xattr name; `None` if it is not one of ours.
pub fn decrypt_name(key: &SivKey, disk: &str) -> Option<Result<String>> {
    let enc = disk.strip_prefix(DISK_PREFIX)?;
    let bad = || Error::BadName(format!("xattr {disk:?} failed authentication"));
    let res = (|| {
        let ct = BASE32_NOPAD.decode(enc.as_bytes()).map_err(|_| bad())?;
        let mut siv = Aes256Siv::new((&key.0).into());
        let pt = siv.decrypt([NAME_AD], &ct).map_err(|_| bad())?;
        String::from_utf8(pt).map_err(|_| bad())
    })();
    Some(res)
}

/// What holds an attribute (SPEC §11.1): on Linux, `user.*` attributes exist
/// only on regular files and directories.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner<'a> {
    /// A regular file, by the `file_id` of its header.
    File(&'a FileId),
    /// A directory, by its own directory IV.
    Dir(&'a DirIv),
}

impl Owner<'_> {
    /// The AD component naming the owner: `"f" || file_id` or `"d" || diriv`
    /// (the tag keeps a file id from passing for an equal directory IV).
    fn ad(&self) -> [u8; 17] {
        let (tag, id) = match self {
            Owner::File(id) => (b'f', &id.0),
            Owner::Dir(iv) => (b'd', &iv.0),
        };
        let mut out = [0u8; 17];
        out[0] = tag;
        out[1..].copy_from_slice(id);
        out
    }
}

/// `nonce || AES-SIV(K_name, ["fusecry/1 xattr value", nonce, name, owner], value)`.
pub fn encrypt_value(
    key: &SivKey,
    owner: Owner<'_>,
    name: &str,
    nonce: &[u8; 16],
    value: &[u8],
) -> Vec<u8> {
    let mut siv = Aes256Siv::new((&key.0).into());
    let who = owner.ad();
    let ct = siv
        .encrypt([VALUE_AD, &nonce[..], name.as_bytes(), &who[..]], value)
        .expect("four headers");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    out
}

/// Verifies and decrypts the stored value of attribute `name` of `owner`:
/// a value written for another name or another file fails.
pub fn decrypt_value(key: &SivKey, owner: Owner<'_>, name: &str, stored: &[u8]) -> Result<Vec<u8>> {
    if stored.len() < 32 {
        return Err(Error::BadName("xattr value too short".into()));
    }
    let (nonce, ct) = stored.split_at(16);
    let mut siv = Aes256Siv::new((&key.0).into());
    let who = owner.ad();
    siv.decrypt([VALUE_AD, nonce, name.as_bytes(), &who[..]], ct)
        .map_err(|_| Error::BadName("xattr value failed authentication".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let key = SivKey([7u8; 64]);
        let d = encrypt_name(&key, "user.comment").unwrap();
        assert!(d.starts_with(DISK_PREFIX) && d.len() <= 255);
        assert_eq!(decrypt_name(&key, &d).unwrap().unwrap(), "user.comment");
        assert!(decrypt_name(&key, "user.other").is_none());
        let mut bad = d.clone();
        bad.pop();
        bad.push(if d.ends_with('A') { 'B' } else { 'A' });
        assert!(decrypt_name(&key, &bad).unwrap().is_err());
        let long = format!("user.{}", "x".repeat(NAME_MAX - 5));
        assert!(encrypt_name(&key, &long).unwrap().len() <= 255);
        assert!(encrypt_name(&key, &format!("{long}y")).is_err());
        assert!(encrypt_name(&key, "security.selinux").is_err());
        assert!(encrypt_name(&key, "system.posix_acl_mask").is_err());
        let acl = encrypt_name(&key, ACL_NAMES[0]).unwrap();
        assert_eq!(decrypt_name(&key, &acl).unwrap().unwrap(), ACL_NAMES[0]);
        let id = FileId([3; 16]);
        let f = Owner::File(&id);
        let v = encrypt_value(&key, f, "user.a", &[1; 16], b"hello");
        assert_eq!(decrypt_value(&key, f, "user.a", &v).unwrap(), b"hello");
        let mut t = v.clone();
        t[20] ^= 1;
        assert!(decrypt_value(&key, f, "user.a", &t).is_err());
    }

    /// A stored value moved to another attribute name, to another file, to
    /// a directory (even one whose IV equals the file id) fails.
    #[test]
    fn xattr_value_moved_between_names_or_files_fails() {
        let key = SivKey([7u8; 64]);
        let (id, other_id) = (FileId([3; 16]), FileId([5; 16]));
        let (same_as_id, iv) = (DirIv([3; 16]), DirIv([4; 16]));
        let v = encrypt_value(&key, Owner::File(&id), "user.a", &[1; 16], b"v");
        for (owner, name) in [
            (Owner::File(&id), "user.b"),
            (Owner::File(&other_id), "user.a"),
            (Owner::Dir(&same_as_id), "user.a"),
            (Owner::Dir(&iv), "user.a"),
        ] {
            assert!(
                decrypt_value(&key, owner, name, &v).is_err(),
                "{owner:?} {name}"
            );
        }
        let d = encrypt_value(&key, Owner::Dir(&iv), "user.a", &[1; 16], b"v");
        assert_eq!(
            decrypt_value(&key, Owner::Dir(&iv), "user.a", &d).unwrap(),
            b"v"
        );
        assert!(decrypt_value(&key, Owner::Dir(&DirIv([6; 16])), "user.a", &d).is_err());
    }
}
