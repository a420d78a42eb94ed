//! Creating a volume (`init`, a first `mount`, the target of `migrate`):
//! only in a missing or empty directory, and nothing is ever overwritten.
//!
//! A directory that holds a tree but no `fusecry.conf` is most likely a
//! volume whose conf was lost or not yet synced; a new conf and root IV
//! there would make every existing entry unreadable, even after the old
//! conf is restored. So such a directory is refused with nothing written.

use crate::cli::{CreateArgs, SecretArgs};
use crate::confio;
use anyhow::Result;
use fusecry_format::name::{DirIv, CONF_NAME, DIRIV_NAME};
use fusecry_format::{Codec, Conf};
use rand_core::OsRng;
use std::path::Path;

/// Creates a volume in `dir`: its conf and, when names are encrypted, the
/// root's directory IV, both written exclusively. `not_empty` is the error
/// for a non-empty `dir` without a conf (each command words its own advice).
/// A directory made here is removed again when anything fails.
pub fn create(
    dir: &Path,
    c: &CreateArgs,
    s: &SecretArgs,
    not_empty: impl FnOnce() -> anyhow::Error,
) -> Result<(Conf, Codec)> {
    let conf_path = dir.join(CONF_NAME);
    if dir.symlink_metadata().is_ok() && conf_path.symlink_metadata().is_err() && !is_empty(dir)? {
        return Err(not_empty());
    }
    confio::in_volume_dir(dir, || {
        let (conf, codec) = confio::create(&conf_path, dir, c, s)?;
        if codec.uses_diriv() {
            let iv = DirIv::random(&mut OsRng);
            if let Err(e) = confio::write_new(&dir.join(DIRIV_NAME), &iv.0, "a directory IV") {
                // Leave the directory as it was: a conf without its root IV
                // would be a volume whose root cannot be listed.
                let _ = std::fs::remove_file(&conf_path);
                return Err(e);
            }
        }
        Ok((conf, codec))
    })
}

/// True when `dir` is a directory with no entries.
pub fn is_empty(dir: &Path) -> Result<bool> {
    let mut entries =
        std::fs::read_dir(dir).map_err(|e| crate::exit::io(dir, "cannot read directory", e))?;
    Ok(entries.next().is_none())
}
