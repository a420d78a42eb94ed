//! SPEC §4.5 as the CLI applies it: anything may read with a conf that
//! opens, but only a vouched opener writes (encrypt, stream encrypt, a
//! read-write mount, key slot changes), unless the user passes
//! --trust-unsigned-slot; a legacy 0.11 RSA conf is never written with.

use crate::cli::{SecretArgs, TrustArgs};
use crate::confio;
use crate::exit::{at, fail, OTHER};
use anyhow::Result;
use fusecry_format::{Codec, Conf, Trust};
use std::path::Path;

/// Refuses writing with a conf opened with `trust`, in one line naming the conf.
pub fn require_write(path: &Path, trust: &Trust, consent: TrustArgs) -> Result<()> {
    match trust {
        Trust::Vouched => Ok(()),
        Trust::Unvouched { .. } if consent.trust_unsigned_slot => Ok(()),
        Trust::Unvouched {
            slot,
            key_fingerprint,
            vouch,
        } => Err(fail(
            OTHER,
            format!(
                "{p}: key slot {slot} (rsa {key_fingerprint}) is {why}: whoever wrote this conf may know its master key, so nothing is written with it; if you made this conf, vouch for it with `fusecry key vouch {p} --key PEM`, or pass --trust-unsigned-slot",
                p = path.display(),
                why = vouch.describe(),
            ),
        )),
        Trust::LegacyRsa => Err(fail(
            OTHER,
            format!(
                "{}: legacy 0.11 RSA confs are read-only (anyone with the public key can write one), so nothing is written with it; `fusecry migrate` copies the volume into a fusecry/1 volume",
                path.display()
            ),
        )),
    }
}

/// Opens an existing conf for writing: as [`confio::open`], then
/// [`require_write`].
pub fn open_for_writing(
    path: &Path,
    secret: &SecretArgs,
    consent: TrustArgs,
) -> Result<(Conf, Codec)> {
    let conf = confio::load(path)?;
    let s = crate::secret::for_open(secret)?;
    let (codec, trust) = conf.open_trusted(&s).map_err(|e| at(path, e))?;
    require_write(path, &trust, consent)?;
    Ok((conf, codec))
}
