//! SPEC §11.2 "Long targets": a stored symlink target longer than a
//! symlink may hold (4095 bytes, PATH_MAX − 1) is kept out of line, as long
//! names are (§10). The symlink then holds a marker, `fusecry.target.` ||
//! base32(SHA-256(stored target)), which is also the name of a regular file
//! beside it holding the full stored target.

use crate::error::{Error, Result};
use crate::primitives::sha256;
use data_encoding::BASE32_NOPAD;

/// Prefix of the marker a symlink with a long target holds, and of the
/// sidecar file holding that target (SPEC §10 reserved names).
pub const TARGET_PREFIX: &str = "fusecry.target.";
/// Longest stored target kept in the symlink itself (PATH_MAX − 1): an
/// encrypted target of up to 2527 bytes.
pub const INLINE_MAX: usize = 4095;
/// Length of a marker: 15 + 52 characters. 67 mod 8 = 3, a length no
/// in-line stored target (canonical base32) can have, so the symlink's
/// length alone tells the two forms apart.
pub const MARKER_LEN: usize = 67;

/// Where a stored target goes: in the symlink, or a marker in the symlink
/// and the target in the sidecar file named by the marker.
#[derive(Debug, PartialEq, Eq)]
pub enum Placement {
    /// The symlink holds the stored target.
    Inline(Vec<u8>),
    /// The symlink holds `marker`; the file named `marker` beside it holds
    /// `stored` (written before the symlink, removed after it).
    OutOfLine {
        /// What the symlink holds, and the sidecar's name.
        marker: String,
        /// The full stored target.
        stored: Vec<u8>,
    },
}

impl Placement {
    /// Places the stored target `stored` (SPEC §11.2).
    pub fn of(stored: Vec<u8>) -> Placement {
        if stored.len() <= INLINE_MAX {
            return Placement::Inline(stored);
        }
        Placement::OutOfLine {
            marker: marker(&stored),
            stored,
        }
    }

    /// What the symlink itself holds.
    pub fn link(&self) -> &[u8] {
        match self {
            Placement::Inline(s) => s,
            Placement::OutOfLine { marker, .. } => marker.as_bytes(),
        }
    }
}

/// `fusecry.target.` || base32(SHA-256(stored)).
pub fn marker(stored: &[u8]) -> String {
    format!("{TARGET_PREFIX}{}", BASE32_NOPAD.encode(&sha256(stored)))
}

/// The sidecar named by what a symlink holds, if it holds a marker.
pub fn sidecar_of(link: &[u8]) -> Option<&str> {
    if link.len() != MARKER_LEN || !link.starts_with(TARGET_PREFIX.as_bytes()) {
        return None;
    }
    std::str::from_utf8(link).ok()
}

/// True for the on-disk name of a long target's sidecar.
pub fn is_sidecar(disk: &str) -> bool {
    disk.starts_with(TARGET_PREFIX)
}

/// Checks that `stored`, read from the sidecar named `marker`, belongs to
/// it: its hash is the marker's, and it is too long to be in-line (no
/// writer puts a short target out of line). Else `BadSymlink`.
pub fn check(marker_name: &str, stored: &[u8]) -> Result<()> {
    if stored.len() <= INLINE_MAX || marker(stored) != marker_name {
        return Err(Error::BadSymlink);
    }
    Ok(())
}

/// The full stored target behind what a symlink holds: `link` itself, or
/// the verified content of the sidecar it names (read by `read`; a sidecar
/// that cannot be read is `BadSymlink`).
pub fn resolve(
    link: &[u8],
    read: impl FnOnce(&str) -> std::io::Result<Vec<u8>>,
) -> Result<std::borrow::Cow<'_, [u8]>> {
    match sidecar_of(link) {
        None => Ok(std::borrow::Cow::Borrowed(link)),
        Some(name) => {
            let stored = read(name).map_err(|_| Error::BadSymlink)?;
            check(name, &stored)?;
            Ok(std::borrow::Cow::Owned(stored))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_have_a_length_no_inline_target_has() {
        let m = marker(b"x");
        assert_eq!(m.len(), MARKER_LEN);
        // ceil(k·8/5) for k >= 32 decoded bytes never is 3 mod 8.
        assert!((32..4000u64).all(|k| (k * 8).div_ceil(5) % 8 != 3));
        assert_eq!(sidecar_of(m.as_bytes()), Some(m.as_str()));
    }

    #[test]
    fn only_long_targets_go_out_of_line_and_must_match() {
        let short = vec![b'A'; INLINE_MAX];
        assert_eq!(
            Placement::of(short.clone()),
            Placement::Inline(short.clone())
        );
        let long = vec![b'A'; INLINE_MAX + 1];
        let p = Placement::of(long.clone());
        let m = std::str::from_utf8(p.link()).unwrap().to_string();
        assert_eq!(
            &*resolve(p.link(), |_| Ok(long.clone())).unwrap(),
            &long[..]
        );
        // Another target, a short one under its own hash, a missing file.
        let other = vec![b'B'; INLINE_MAX + 1];
        assert!(resolve(m.as_bytes(), |_| Ok(other.clone())).is_err());
        assert!(check(&marker(&short), &short).is_err());
        assert!(resolve(m.as_bytes(), |_| Err(std::io::ErrorKind::NotFound.into())).is_err());
    }
}
