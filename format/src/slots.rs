//! SPEC §4: key slots. Each slot holds the master key wrapped under one
//! password (Argon2id + AES-SIV) or one RSA public key (RSA-OAEP-SHA256).
//! What an RSA slot's signature vouches for is SPEC §4.5, in `vouch.rs`.

use crate::error::{Error, Result};
use crate::kdf::{argon2id, Argon2Params};
use crate::keys::{MasterKey, Password};
use crate::primitives::sha256;
use crate::serde_b64;
use aes_siv::{siv::Aes256Siv, KeyInit};
use rand_core::CryptoRngCore;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};
use std::fmt;

/// AD prefix of a password slot.
const PASSWORD_SLOT_AD: &[u8] = b"fusecry/1 password slot";
/// OAEP label of an RSA slot.
const RSA_SLOT_LABEL: &str = "fusecry/1 rsa slot";
/// Smallest RSA modulus we accept for new slots.
pub const MIN_RSA_BITS: usize = 2048;
/// SPEC §4: the most key slots a conf may hold. A wrong password runs every
/// password slot's Argon2id, so this and the per-slot cap of §4.1 bound the
/// whole unlock (32 slots, as LUKS2 has).
pub const MAX_SLOTS: usize = 32;

/// Refuses a conf of more than [`MAX_SLOTS`] slots, before any derivation.
pub fn check_slot_count(n: usize) -> Result<()> {
    if n > MAX_SLOTS {
        return Err(Error::ConfCorrupt(format!(
            "{n} key slots: SPEC §4 allows at most {MAX_SLOTS}"
        )));
    }
    Ok(())
}

/// One key slot as stored in the conf.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum KeySlot {
    /// Master key wrapped under an Argon2id-derived AES-SIV key.
    Password {
        /// Always "argon2id".
        kdf: String,
        /// Argon2id memory cost in KiB.
        m_cost_kib: u32,
        /// Argon2id iterations.
        t_cost: u32,
        /// Argon2id lanes.
        p_cost: u32,
        /// 16 random bytes, base64.
        #[serde(with = "serde_b64")]
        #[schemars(with = "String")]
        salt: Vec<u8>,
        /// AES-SIV(KEK, AD, master key): 48 bytes, base64.
        #[serde(with = "serde_b64")]
        #[schemars(with = "String")]
        wrapped_key: Vec<u8>,
    },
    /// Master key wrapped with RSA-OAEP-SHA256.
    Rsa {
        /// "sha256:" + hex SHA-256 of `public_key`.
        key_fingerprint: String,
        /// The slot's public key: DER SubjectPublicKeyInfo, base64. Stored so
        /// that anyone can check `signature` without the private key.
        #[serde(with = "serde_b64")]
        #[schemars(with = "String")]
        public_key: Vec<u8>,
        /// OAEP ciphertext, modulus-sized, base64.
        #[serde(with = "serde_b64")]
        #[schemars(with = "String")]
        wrapped_key: Vec<u8>,
        /// RSASSA-PSS signature by the slot's private key over the conf's
        /// `params_mac` and this slot (SPEC §4.5), base64; absent when the
        /// slot was made from the public key alone (not vouched for).
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "crate::serde_b64_opt"
        )]
        #[schemars(with = "Option<String>")]
        signature: Option<Vec<u8>>,
    },
}

/// What the user brings to open or create a conf.
pub enum Secret {
    /// A password.
    Password(Password),
    /// An RSA private key (can open and create).
    RsaPrivate(Box<RsaPrivateKey>),
    /// An RSA public key (can only create).
    RsaPublic(Box<RsaPublicKey>),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Password(_) => f.write_str("Secret::Password([redacted])"),
            Secret::RsaPrivate(_) => f.write_str("Secret::RsaPrivate([redacted])"),
            Secret::RsaPublic(_) => f.write_str("Secret::RsaPublic"),
        }
    }
}

impl Secret {
    /// Parses a PEM key: PKCS#1 or PKCS#8 private, PKCS#1 or SPKI public.
    pub fn from_pem(pem: &str) -> Result<Secret> {
        if let Ok(k) = RsaPrivateKey::from_pkcs8_pem(pem) {
            return Ok(Secret::RsaPrivate(Box::new(k)));
        }
        if let Ok(k) = RsaPrivateKey::from_pkcs1_pem(pem) {
            return Ok(Secret::RsaPrivate(Box::new(k)));
        }
        if let Ok(k) = RsaPublicKey::from_public_key_pem(pem) {
            return Ok(Secret::RsaPublic(Box::new(k)));
        }
        if let Ok(k) = RsaPublicKey::from_pkcs1_pem(pem) {
            return Ok(Secret::RsaPublic(Box::new(k)));
        }
        Err(Error::BadRsaKey(
            "not a PEM RSA key (PKCS#1 or PKCS#8 private, PKCS#1 or SPKI public)".into(),
        ))
    }

    /// The public half, for RSA secrets.
    pub fn rsa_public(&self) -> Option<RsaPublicKey> {
        match self {
            Secret::RsaPrivate(k) => Some(k.to_public_key()),
            Secret::RsaPublic(k) => Some((**k).clone()),
            Secret::Password(_) => None,
        }
    }
}

/// SPEC §4.2: a new RSA slot needs a modulus of at least [`MIN_RSA_BITS`]
/// (opening an existing slot checks no size).
pub fn check_slot_key(key: &RsaPublicKey) -> Result<()> {
    let bits = key.n().bits();
    if bits < MIN_RSA_BITS {
        return Err(Error::BadRsaKey(format!(
            "{bits} bits is too small; at least {MIN_RSA_BITS} are required"
        )));
    }
    Ok(())
}

/// The DER SubjectPublicKeyInfo of `key` (SPEC §4.2 `public_key`).
pub fn spki_der(key: &RsaPublicKey) -> Result<Vec<u8>> {
    Ok(key
        .to_public_key_der()
        .map_err(|e| Error::BadRsaKey(e.to_string()))?
        .into_vec())
}

/// SPEC §4.2: "sha256:" + hex of SHA-256(SPKI DER).
pub fn rsa_fingerprint(key: &RsaPublicKey) -> Result<String> {
    Ok(fingerprint_of_der(&spki_der(key)?))
}

fn fingerprint_of_der(der: &[u8]) -> String {
    format!("sha256:{}", hexlower(&sha256(der)))
}

/// SPEC §5 step 6 for `public_key`: an RSA SubjectPublicKeyInfo of 2048 to
/// 4096 bits, in exactly the DER fusecry writes (so that its fingerprint is
/// the one §4.2 computes from the key).
pub fn slot_public_key(der: &[u8]) -> Result<RsaPublicKey> {
    let bad = || {
        Error::ConfCorrupt(
            "rsa slot: public_key is not the DER SubjectPublicKeyInfo of an RSA key of 2048 to 4096 bits"
                .into(),
        )
    };
    let key = RsaPublicKey::from_public_key_der(der).map_err(|_| bad())?;
    if key.n().bits() < MIN_RSA_BITS || spki_der(&key).ok().as_deref() != Some(der) {
        return Err(bad());
    }
    Ok(key)
}

/// Lower-case hex, as fingerprints (and `info`'s commitment) are written.
pub fn hexlower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn password_ad(params: &Argon2Params, salt: &[u8]) -> Vec<u8> {
    let mut ad = PASSWORD_SLOT_AD.to_vec();
    ad.extend_from_slice(&params.m_cost_kib.to_le_bytes());
    ad.extend_from_slice(&params.t_cost.to_le_bytes());
    ad.extend_from_slice(&params.p_cost.to_le_bytes());
    ad.extend_from_slice(salt);
    ad
}

impl KeySlot {
    /// Wraps `master` under a password with a caller-chosen salt (the lowest seam).
    pub fn password_with_salt(
        master: &MasterKey,
        password: &Password,
        params: Argon2Params,
        salt: [u8; 16],
    ) -> Result<KeySlot> {
        if password.expose().is_empty() {
            return Err(Error::BadPassword("the password is empty"));
        }
        let kek = argon2id(password.expose().as_bytes(), &salt, &params)?;
        let mut siv = Aes256Siv::new(kek.as_ref().into());
        let wrapped = siv
            .encrypt([password_ad(&params, &salt)], master.expose())
            .expect("one header, 32-byte message");
        Ok(KeySlot::Password {
            kdf: "argon2id".into(),
            m_cost_kib: params.m_cost_kib,
            t_cost: params.t_cost,
            p_cost: params.p_cost,
            salt: salt.to_vec(),
            wrapped_key: wrapped,
        })
    }

    /// Wraps `master` under a password with a fresh random salt.
    pub fn password(
        master: &MasterKey,
        password: &Password,
        params: Argon2Params,
        rng: &mut impl CryptoRngCore,
    ) -> Result<KeySlot> {
        let mut salt = [0u8; 16];
        rng.fill_bytes(&mut salt);
        Self::password_with_salt(master, password, params, salt)
    }

    /// Wraps `master` under an RSA public key with OAEP-SHA256. The slot
    /// carries no signature: only [`crate::ConfV1::vouch_slot`], with the
    /// private key, vouches for it.
    pub fn rsa(
        master: &MasterKey,
        key: &RsaPublicKey,
        rng: &mut impl CryptoRngCore,
    ) -> Result<KeySlot> {
        check_slot_key(key)?;
        let wrapped = key
            .encrypt(
                rng,
                Oaep::new_with_label::<sha2::Sha256, _>(RSA_SLOT_LABEL),
                master.expose(),
            )
            .map_err(|e| Error::BadRsaKey(e.to_string()))?;
        Ok(KeySlot::Rsa {
            key_fingerprint: rsa_fingerprint(key)?,
            public_key: spki_der(key)?,
            wrapped_key: wrapped,
            signature: None,
        })
    }

    /// A new slot for `secret`.
    pub fn for_secret(
        master: &MasterKey,
        secret: &Secret,
        params: Argon2Params,
        rng: &mut impl CryptoRngCore,
    ) -> Result<KeySlot> {
        match secret {
            Secret::Password(p) => Self::password(master, p, params, rng),
            _ => Self::rsa(master, &secret.rsa_public().expect("rsa secret"), rng),
        }
    }

    /// Checks the slot's shape (lengths, parameters) without any secret.
    pub fn validate(&self) -> Result<()> {
        match self {
            KeySlot::Password {
                kdf,
                m_cost_kib,
                t_cost,
                p_cost,
                salt,
                wrapped_key,
            } => {
                if kdf != "argon2id" {
                    return Err(Error::UnsupportedVersion(format!(
                        "password slot kdf {kdf:?}"
                    )));
                }
                Argon2Params {
                    m_cost_kib: *m_cost_kib,
                    t_cost: *t_cost,
                    p_cost: *p_cost,
                }
                .validate()?;
                if salt.len() != 16 || wrapped_key.len() != 48 {
                    return Err(Error::ConfCorrupt(
                        "password slot: salt must be 16 bytes and wrapped_key 48".into(),
                    ));
                }
            }
            KeySlot::Rsa {
                key_fingerprint,
                public_key,
                wrapped_key,
                signature: _,
            } => {
                let hex_ok = key_fingerprint.strip_prefix("sha256:").is_some_and(|h| {
                    h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                });
                if !hex_ok {
                    return Err(Error::ConfCorrupt(
                        "rsa slot: key_fingerprint is not sha256: and 64 lower-case hex digits"
                            .into(),
                    ));
                }
                let key = slot_public_key(public_key)?;
                if fingerprint_of_der(public_key) != *key_fingerprint {
                    return Err(Error::ConfCorrupt(
                        "rsa slot: key_fingerprint is not the fingerprint of public_key".into(),
                    ));
                }
                if wrapped_key.len() != key.size() {
                    return Err(Error::ConfCorrupt(
                        "rsa slot: wrapped_key is not as long as the key's modulus".into(),
                    ));
                }
                // The signature is not checked here: a missing or invalid
                // one makes the slot unvouched (§4.5), never the conf corrupt.
            }
        }
        Ok(())
    }

    /// Tries to unwrap the master key. `Ok(None)` means "not this slot".
    pub fn unwrap_key(&self, secret: &Secret) -> Result<Option<MasterKey>> {
        match (self, secret) {
            (
                KeySlot::Password {
                    m_cost_kib,
                    t_cost,
                    p_cost,
                    salt,
                    wrapped_key,
                    ..
                },
                Secret::Password(pw),
            ) => {
                let params = Argon2Params {
                    m_cost_kib: *m_cost_kib,
                    t_cost: *t_cost,
                    p_cost: *p_cost,
                };
                let kek = argon2id(pw.expose().as_bytes(), salt, &params)?;
                let mut siv = Aes256Siv::new(kek.as_ref().into());
                Ok(siv
                    .decrypt([password_ad(&params, salt)], wrapped_key)
                    .ok()
                    .and_then(master_key))
            }
            (
                KeySlot::Rsa {
                    key_fingerprint,
                    wrapped_key,
                    ..
                },
                Secret::RsaPrivate(k),
            ) => rsa_unwrap(k, key_fingerprint, wrapped_key),
            _ => Ok(None),
        }
    }

    /// The RSA slot's fingerprint; `None` for a password slot.
    pub fn key_fingerprint(&self) -> Option<&str> {
        match self {
            KeySlot::Rsa {
                key_fingerprint, ..
            } => Some(key_fingerprint),
            KeySlot::Password { .. } => None,
        }
    }

    /// Short human description ("password (argon2id m=65536 KiB t=3 p=4)", "rsa sha256:…").
    pub fn describe(&self) -> String {
        match self {
            KeySlot::Password {
                m_cost_kib,
                t_cost,
                p_cost,
                ..
            } => format!("password (argon2id m={m_cost_kib} KiB t={t_cost} p={p_cost})"),
            KeySlot::Rsa {
                key_fingerprint, ..
            } => format!("rsa {key_fingerprint}"),
        }
    }
}

/// SPEC §4.3 step 2 for one RSA slot: `Ok(None)` when `key` is not the
/// slot's key or the OAEP decoding fails.
pub(crate) fn rsa_unwrap(
    key: &RsaPrivateKey,
    key_fingerprint: &str,
    wrapped_key: &[u8],
) -> Result<Option<MasterKey>> {
    if key_fingerprint != rsa_fingerprint(&key.to_public_key())? {
        return Ok(None);
    }
    // Blinded, to blunt timing attacks on the private key.
    Ok(key
        .decrypt_blinded(
            &mut rand_core::OsRng,
            Oaep::new_with_label::<sha2::Sha256, _>(RSA_SLOT_LABEL),
            wrapped_key,
        )
        .ok()
        .and_then(master_key))
}

/// An unwrapped slot's plaintext as the master key: exactly 32 bytes, else
/// the slot did not open. The buffer is zeroized either way.
fn master_key(mut unwrapped: Vec<u8>) -> Option<MasterKey> {
    let mk = <[u8; 32]>::try_from(unwrapped.as_slice())
        .ok()
        .map(MasterKey::from_bytes);
    zeroize::Zeroize::zeroize(&mut unwrapped);
    mk
}

/// Unwraps the master key from the first slot that `secret` opens.
pub fn unwrap_any(slots: &[KeySlot], secret: &Secret) -> Result<MasterKey> {
    unwrap_with_index(slots, secret).map(|(_, mk)| mk)
}

/// Like [`unwrap_any`], also saying which slot opened (for `passwd`).
pub fn unwrap_with_index(slots: &[KeySlot], secret: &Secret) -> Result<(usize, MasterKey)> {
    if let Secret::RsaPublic(_) = secret {
        return Err(Error::PublicKeyOnly);
    }
    // Every cap is checked before the first derivation (SPEC §4.1), not
    // only for the slots tried before the one that opens.
    check_slot_count(slots.len())?;
    for s in slots {
        s.validate()?;
    }
    for (i, s) in slots.iter().enumerate() {
        if let Some(mk) = s.unwrap_key(secret)? {
            return Ok((i, mk));
        }
    }
    Err(Error::WrongKey)
}
