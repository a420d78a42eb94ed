//! `fusecry passwd` and `fusecry key add|remove`: key slot management.
//! Only the conf changes; data is never re-encrypted.

use crate::cli::{KeyAddArgs, KeyCommand, KeyRemoveArgs, PasswdArgs};
use crate::confio::{self, argon2};
use crate::exit::{at, fail, OTHER};
use crate::secret;
use anyhow::Result;
use fusecry_format::{Conf, ConfV1, KeySlot, MasterKey, Secret};
use rand_core::OsRng;
use std::path::{Path, PathBuf};

fn unlock(path: &Path, a: &crate::cli::SecretArgs) -> Result<(ConfV1, usize, MasterKey)> {
    match confio::load(path)? {
        Conf::V1(c) => {
            let s = secret::for_open(a)?;
            let (slot, mk) = c.unlock_slot(&s).map_err(|e| at(path, e))?;
            Ok((c, slot, mk))
        }
        Conf::Legacy(_) => Err(fail(
            OTHER,
            format!(
                "{}: legacy 0.11 volumes derive the data key from the password, so it cannot change without re-encrypting everything; use `fusecry migrate`",
                path.display()
            ),
        )),
    }
}

fn new_password(file: &Option<PathBuf>) -> Result<Secret> {
    Ok(Secret::Password(match file {
        Some(f) => secret::from_file(f)?,
        None => secret::new_password_prompt()?,
    }))
}

pub fn passwd(a: PasswdArgs) -> Result<()> {
    let path = confio::conf_path(&a.root);
    let (mut conf, slot, mk) = unlock(&path, &a.secret)?;
    if !matches!(conf.slots[slot], KeySlot::Password { .. }) {
        return Err(fail(
            OTHER,
            format!(
                "{}: the key given opens an RSA slot; use `fusecry key add` for a password",
                path.display()
            ),
        ));
    }
    let new = new_password(&a.new_password_file)?;
    conf.slots[slot] =
        KeySlot::for_secret(&mk, &new, argon2(&a.create), &mut OsRng).map_err(|e| at(&path, e))?;
    confio::write_atomic(&path, &Conf::V1(conf).to_bytes())?;
    eprintln!("password of key slot {slot} changed");
    Ok(())
}

pub fn run(c: KeyCommand) -> Result<()> {
    match c {
        KeyCommand::Add(a) => add(a),
        KeyCommand::Remove(a) => remove(a),
    }
}

fn add(a: KeyAddArgs) -> Result<()> {
    let path = confio::conf_path(&a.root);
    let (mut conf, _, mk) = unlock(&path, &a.secret)?;
    let new = match &a.new_key {
        Some(k) => secret::key_for_slot(k)?,
        None => new_password(&a.new_password_file)?,
    };
    conf.add_slot(&mk, &new, argon2(&a.create), &mut OsRng)
        .map_err(|e| at(&path, e))?;
    let n = conf.slots.len() - 1;
    confio::write_atomic(&path, &Conf::V1(conf).to_bytes())?;
    eprintln!("added key slot {n}");
    Ok(())
}

fn remove(a: KeyRemoveArgs) -> Result<()> {
    let path = confio::conf_path(&a.root);
    let (mut conf, _, _) = unlock(&path, &a.secret)?;
    if a.slot >= conf.slots.len() {
        return Err(fail(
            OTHER,
            format!("{}: there is no key slot {}", path.display(), a.slot),
        ));
    }
    if conf.slots.len() == 1 {
        return Err(fail(
            OTHER,
            format!("{}: refusing to remove the last key slot", path.display()),
        ));
    }
    conf.slots.remove(a.slot);
    confio::write_atomic(&path, &Conf::V1(conf).to_bytes())?;
    eprintln!("removed key slot {}", a.slot);
    Ok(())
}
