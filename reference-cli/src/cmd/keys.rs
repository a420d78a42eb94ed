//! `fusecry passwd` and `fusecry key add|remove`: key slot management.
//! Only the conf changes; data is never re-encrypted.

use crate::cli::{
    KeyAddArgs, KeyCommand, KeyRemoveArgs, KeyVouchArgs, PasswdArgs, SecretArgs, TrustArgs,
};
use crate::confio::{self, argon2};
use crate::exit::{at, fail, OTHER};
use crate::secret;
use anyhow::Result;
use fusecry_format::legacy::LegacyAuth;
use fusecry_format::slots::MAX_SLOTS;
use fusecry_format::{Conf, ConfV1, KeySlot, MasterKey, Secret};
use rand_core::OsRng;
use std::path::{Path, PathBuf};

/// Opens a fusecry/1 conf for a slot change. A new slot would give its
/// holder the master key, and a new password slot vouches for the conf by
/// itself, so only a vouched opener may change slots (SPEC §4.4, §4.5).
fn unlock(path: &Path, a: &SecretArgs, consent: TrustArgs) -> Result<(ConfV1, usize, MasterKey)> {
    let (c, slot, mk) = unlock_any(path, a)?;
    crate::trust::require_write(path, &c.trust(slot), consent)?;
    Ok((c, slot, mk))
}

/// Opens a fusecry/1 conf whatever its opener vouches for.
fn unlock_any(path: &Path, a: &SecretArgs) -> Result<(ConfV1, usize, MasterKey)> {
    unlock_with(path, || secret::for_open(a))
}

/// Opens a fusecry/1 conf with the secret `secret` gives (asked for only
/// once the conf parsed).
fn unlock_with(
    path: &Path,
    secret: impl FnOnce() -> Result<Secret>,
) -> Result<(ConfV1, usize, MasterKey)> {
    match confio::load(path)? {
        Conf::V1(c) => {
            let (slot, mk) = c.unlock_slot(&secret()?).map_err(|e| at(path, e))?;
            Ok((c, slot, mk))
        }
        Conf::Legacy(l) => Err(fail(
            OTHER,
            match l.auth {
                LegacyAuth::Password { .. } => format!(
                    "{}: legacy 0.11 volumes derive the data key from the password, so it cannot change without re-encrypting everything; use `fusecry migrate`",
                    path.display()
                ),
                LegacyAuth::Rsakey { .. } => format!(
                    "{}: legacy 0.11 RSA confs are read-only and have no key slots; `fusecry migrate` copies the volume into a fusecry/1 volume",
                    path.display()
                ),
            },
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
    let cost = argon2(&a.create)?;
    // A password slot always vouches (§4.5), and an RSA opener is refused below.
    let (mut conf, slot, mk) = unlock_any(&path, &a.secret)?;
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
        KeySlot::for_secret(&mk, &new, cost, &mut OsRng).map_err(|e| at(&path, e))?;
    confio::write_atomic(&path, &Conf::V1(conf).to_bytes())?;
    eprintln!("password of key slot {slot} changed");
    Ok(())
}

pub fn run(c: KeyCommand) -> Result<()> {
    match c {
        KeyCommand::Add(a) => add(a),
        KeyCommand::Remove(a) => remove(a),
        KeyCommand::Vouch(a) => vouch(a),
    }
}

fn add(a: KeyAddArgs) -> Result<()> {
    let path = confio::conf_path(&a.root);
    let cost = argon2(&a.create)?;
    let (mut conf, _, mk) = unlock(&path, &a.secret, a.trust)?;
    if conf.slots.len() >= MAX_SLOTS {
        return Err(fail(
            OTHER,
            format!(
                "{}: holds {MAX_SLOTS} key slots, the most a conf may have: remove one first",
                path.display()
            ),
        ));
    }
    let new = match &a.new_key {
        Some(k) => secret::key_for_slot(k)?,
        None => new_password(&a.new_password_file)?,
    };
    conf.add_slot(&mk, &new, cost, &mut OsRng)
        .map_err(|e| at(&path, e))?;
    let n = conf.slots.len() - 1;
    confio::write_atomic(&path, &Conf::V1(conf).to_bytes())?;
    eprintln!("added key slot {n}");
    Ok(())
}

fn remove(a: KeyRemoveArgs) -> Result<()> {
    let path = confio::conf_path(&a.root);
    let (mut conf, _, _) = unlock(&path, &a.secret, a.trust)?;
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

/// `fusecry key vouch ROOT --key PEM`: signs the slot of the private key,
/// after saying what the signature vouches for. It is the explicit step that
/// opening never takes by itself (SPEC §4.5): everyone who holds a slot of
/// this conf, or wrote it, reads what is then written with the key.
fn vouch(a: KeyVouchArgs) -> Result<()> {
    let path = confio::conf_path(&a.root);
    let key = match secret::key_from_pem(&a.key)? {
        Secret::RsaPrivate(k) => k,
        _ => return Err(at(&a.key, fusecry_format::Error::PublicKeyOnly)),
    };
    let (mut conf, slot, mk) = unlock_with(&path, || Ok(Secret::RsaPrivate(key.clone())))?;
    let fp = conf.slots[slot]
        .key_fingerprint()
        .unwrap_or_default()
        .to_string();
    if conf.slot_vouch(slot).vouched() {
        eprintln!(
            "key slot {slot} (rsa {fp}) already vouches for {}: nothing changed",
            path.display()
        );
        return Ok(());
    }
    eprintln!(
        "vouching for {} with key slot {slot} (rsa {fp}): from now on this key writes with this conf's master key (commitment {}), which every holder of these slots, and whoever wrote the conf, can read:",
        path.display(),
        fusecry_format::slots::hexlower(&conf.params_mac)
    );
    for (i, s) in conf.slots.iter().enumerate() {
        eprintln!(
            "  key slot {i}: {}, {}",
            s.describe(),
            conf.slot_vouch(i).describe()
        );
    }
    conf.vouch_slot(slot, &mk, &key, &mut OsRng)
        .map_err(|e| at(&path, e))?;
    confio::write_atomic(&path, &Conf::V1(conf).to_bytes())?;
    eprintln!("key slot {slot} now vouches for {}", path.display());
    Ok(())
}
