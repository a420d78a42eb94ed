//! SPEC §4.5 "Vouching": who may write with a conf.
//!
//! A password slot can only be written by someone who knows the password, so
//! the master key it opens is one the password's holder chose or accepted.
//! An RSA slot can be written by anyone who has the public key: a conf built
//! around a master key of the attacker's choosing opens with the victim's
//! private key just as well. So an RSA slot vouches for its conf only with
//! a signature by its private key over the conf's master-key commitment
//! (`params_mac`) and the slot itself:
//!
//! ```text
//! S         = "fusecry/1 rsa slot signature" || LP(params_mac) || LP(key_fingerprint)
//!             || LP(public_key) || LP(wrapped_key)
//! signature = RSASSA-PSS-Sign(private key, SHA-256, MGF1-SHA-256, salt length 32, S)
//! ```
//!
//! Readers may read with an unvouched slot (every chunk is still
//! authenticated); writers refuse to write with one unless told to.

use crate::conf::ConfV1;
use crate::error::{Error, Result};
use crate::keys::MasterKey;
use crate::primitives::{lp, sha256};
use crate::slots::{rsa_fingerprint, rsa_unwrap, slot_public_key, KeySlot};
use rand_core::CryptoRngCore;
use rsa::{Pss, RsaPrivateKey};
use subtle::ConstantTimeEq;

/// Domain prefix of the signed message `S`.
pub const SIGNATURE_DOMAIN: &[u8] = b"fusecry/1 rsa slot signature";
/// PSS salt length: the SHA-256 output length, the RFC 8017 default.
pub const PSS_SALT_LEN: usize = 32;

/// The message an RSA slot's signature covers (SPEC §4.5).
pub fn message(
    params_mac: &[u8],
    key_fingerprint: &str,
    public_key: &[u8],
    wrapped_key: &[u8],
) -> Vec<u8> {
    let mut m = SIGNATURE_DOMAIN.to_vec();
    lp(&mut m, params_mac);
    lp(&mut m, key_fingerprint.as_bytes());
    lp(&mut m, public_key);
    lp(&mut m, wrapped_key);
    m
}

/// RSASSA-PSS-SHA256 of `message` with a 32-byte salt drawn from `rng`.
pub fn sign(key: &RsaPrivateKey, message: &[u8], rng: &mut impl CryptoRngCore) -> Result<Vec<u8>> {
    // `new_blinded` only blinds the private-key exponentiation with `rng`
    // (against timing attacks); the signature is ordinary RSASSA-PSS, the
    // same bytes the unblinded operation gives for the same salt.
    key.sign_with_rng(
        rng,
        Pss::new_blinded_with_salt::<sha2::Sha256>(PSS_SALT_LEN),
        &sha256(message),
    )
    .map_err(|e| Error::BadRsaKey(e.to_string()))
}

/// Whether `signature` is a valid RSASSA-PSS-SHA256 signature (salt length
/// 32, exactly the modulus length) of `message` by the key in `public_key`.
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Ok(key) = slot_public_key(public_key) else {
        return false;
    };
    key.verify(
        Pss::new_with_salt::<sha2::Sha256>(PSS_SALT_LEN),
        &sha256(message),
        signature,
    )
    .is_ok()
}

/// Whether one slot vouches for its conf, found without any secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vouch {
    /// A password slot: only the password's holder can write one.
    Password,
    /// An RSA slot whose signature verifies.
    Signed,
    /// An RSA slot without a signature (made from the public key alone).
    Unsigned,
    /// An RSA slot whose signature does not verify: made for another conf or
    /// slot, or edited.
    BadSignature,
}

impl Vouch {
    /// True when the slot vouches for the conf.
    pub fn vouched(self) -> bool {
        matches!(self, Vouch::Password | Vouch::Signed)
    }

    /// A few words for `info` and error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Vouch::Password => "vouched for (a password slot)",
            Vouch::Signed => "vouched for (signed by its key)",
            Vouch::Unsigned => "not vouched for (no signature)",
            Vouch::BadSignature => "not vouched for (its signature does not verify)",
        }
    }
}

/// What the secret that opened a conf lets its user do (SPEC §4.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
    /// A password slot, a vouched RSA slot or a legacy password conf opened
    /// it: read and write.
    Vouched,
    /// An RSA slot without a valid signature opened it: read; write only
    /// when the user explicitly trusts the conf.
    Unvouched {
        /// The slot that opened.
        slot: usize,
        /// Its key fingerprint.
        key_fingerprint: String,
        /// Why it does not vouch.
        vouch: Vouch,
    },
    /// A legacy 0.11 RSA conf: read only, always (SPEC §15.2).
    LegacyRsa,
}

impl Trust {
    /// True when writing needs no explicit consent.
    pub fn vouched(&self) -> bool {
        matches!(self, Trust::Vouched)
    }
}

impl ConfV1 {
    /// The message slot `slot`'s signature covers, for an RSA slot.
    fn signed_message(&self, slot: usize) -> Option<Vec<u8>> {
        match self.slots.get(slot)? {
            KeySlot::Rsa {
                key_fingerprint,
                public_key,
                wrapped_key,
                ..
            } => Some(message(
                &self.params_mac,
                key_fingerprint,
                public_key,
                wrapped_key,
            )),
            KeySlot::Password { .. } => None,
        }
    }

    /// Whether slot `slot` vouches for this conf (no secret needed). The
    /// signature covers this conf's `params_mac`; that `params_mac` belongs
    /// to the master key the slot wraps is checked when the conf is opened
    /// (§5 step 8), so a valid signature vouches for that master key.
    pub fn slot_vouch(&self, slot: usize) -> Vouch {
        match self.slots.get(slot) {
            Some(KeySlot::Rsa {
                public_key,
                signature: Some(sig),
                ..
            }) => {
                let m = self.signed_message(slot).expect("an rsa slot");
                if verify(public_key, &m, sig) {
                    Vouch::Signed
                } else {
                    Vouch::BadSignature
                }
            }
            Some(KeySlot::Rsa {
                signature: None, ..
            }) => Vouch::Unsigned,
            _ => Vouch::Password,
        }
    }

    /// What opening with slot `slot` lets its user do.
    pub fn trust(&self, slot: usize) -> Trust {
        let vouch = self.slot_vouch(slot);
        if vouch.vouched() {
            return Trust::Vouched;
        }
        Trust::Unvouched {
            slot,
            key_fingerprint: self.slots[slot]
                .key_fingerprint()
                .unwrap_or_default()
                .to_string(),
            vouch,
        }
    }

    /// Signs RSA slot `slot` with its private key `key`, vouching for this
    /// conf (SPEC §4.5). It signs only what it checked: `params_mac` must
    /// verify under `master`, and the slot must be `key`'s and unwrap to
    /// `master`; anything else is refused and nothing changes. Never call it
    /// just because a conf opened: that would vouch for a planted conf.
    pub fn vouch_slot(
        &mut self,
        slot: usize,
        master: &MasterKey,
        key: &RsaPrivateKey,
        rng: &mut impl CryptoRngCore,
    ) -> Result<()> {
        self.check_params_mac(master)?;
        let fingerprint = rsa_fingerprint(&key.to_public_key())?;
        let not_this =
            || Error::BadRsaKey(format!("key slot {slot} is not an RSA slot of this key"));
        let (fp, wrapped) = match self.slots.get(slot) {
            Some(KeySlot::Rsa {
                key_fingerprint,
                wrapped_key,
                ..
            }) if *key_fingerprint == fingerprint => (key_fingerprint, wrapped_key),
            _ => return Err(not_this()),
        };
        match rsa_unwrap(key, fp, wrapped)? {
            Some(mk) if bool::from(mk.expose().ct_eq(master.expose())) => {}
            _ => return Err(not_this()),
        }
        let sig = sign(key, &self.signed_message(slot).expect("an rsa slot"), rng)?;
        if let KeySlot::Rsa { signature, .. } = &mut self.slots[slot] {
            *signature = Some(sig);
        }
        Ok(())
    }
}
