//! SPEC §11.1 as the mount sees it: a stored xattr value is bound to its
//! plaintext name and to what holds it, a regular file by its `file_id`, a
//! directory by its IV. A file's id changes when it is emptied or first
//! filled (SPEC §7.1); its values are then re-encrypted under the new id
//! before the operation that changed it is answered.

use crate::backing::{self, Res};
use fusecry_format::xattr::Owner;
use fusecry_format::{Codec, FileId};
use fuser::Errno;
use rand_core::CryptoRngCore;
use std::fs::File;

/// Re-encrypts every xattr value of the open backing file `f` from file id
/// `old` to `new`. A value that does not verify under `old` is left as it
/// is: it answered EIO before and still does, and nothing unverified is
/// ever re-encrypted into a valid value.
///
/// A crash between the new header and the last value leaves the values not
/// yet moved unreadable (EIO), never wrong.
pub fn rebind_file(
    codec: &Codec,
    f: &File,
    old: &FileId,
    new: &FileId,
    rng: &mut impl CryptoRngCore,
) -> Res<()> {
    if !codec.encrypts_xattrs() {
        return Ok(());
    }
    // A backing that stores no xattrs holds no values to move: flistxattr
    // answers EOPNOTSUPP there (ENOSYS from some FUSE daemons), and EIO on
    // an rclone mount (1.60, regular files). Treating an EIO as "none" on
    // a backing that does hold values leaves them under the old id: they
    // answer EIO from then on, as after a crash here, never wrong. Failing
    // instead would fail every truncate to 0 on such a backing after its
    // new header is written.
    let listed = match backing::flist_xattr(f) {
        Err(e) if [Errno::EOPNOTSUPP, Errno::ENOSYS, Errno::EIO].contains(&e) => {
            tracing::debug!("no xattrs to rebind: the backing answers {e:?}");
            return Ok(());
        }
        r => r?,
    };
    for disk in listed {
        let Some(Ok(name)) = disk.to_str().and_then(|d| codec.decrypt_xattr_name(d)) else {
            continue;
        };
        let Some(stored) = backing::fget_xattr(f, &disk)? else {
            continue;
        };
        let Ok(value) = codec.decrypt_xattr_value(Owner::File(old), &name, &stored) else {
            continue;
        };
        let moved = codec.encrypt_xattr_value(Owner::File(new), &name, &value, rng);
        backing::fset_xattr(f, &disk, &moved)?;
    }
    Ok(())
}
