//! SPEC §3: the master key and the subkeys derived from it with HKDF-SHA256,
//! one named label per purpose.

use hkdf::Hkdf;
use sha2::Sha256;
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// HKDF info labels (SPEC §3). Changing one is a format change.
pub mod labels {
    /// Content encryption key.
    pub const CONTENT_ENC: &str = "fusecry/1 content AES-256-CBC";
    /// Content (chunk) MAC key.
    pub const CONTENT_MAC: &str = "fusecry/1 content HMAC-SHA256";
    /// Size trailer MAC key.
    pub const TRAILER_MAC: &str = "fusecry/1 trailer HMAC-SHA256";
    /// Name, symlink and xattr-name AES-SIV key.
    pub const NAMES: &str = "fusecry/1 names AES-SIV";
    /// Conf parameter MAC key.
    pub const CONF_MAC: &str = "fusecry/1 conf HMAC-SHA256";
}

/// A 256-bit secret that zeroizes on drop and never prints.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct Key32(pub(crate) [u8; 32]);

impl Key32 {
    /// Wraps raw bytes.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Key32(b)
    }
    /// The raw bytes; keep the borrow short.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Key32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key32([redacted])")
    }
}

/// The volume master key: random, stored only wrapped in key slots.
pub type MasterKey = Key32;

/// A 512-bit AES-SIV key.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SivKey(pub(crate) [u8; 64]);

impl fmt::Debug for SivKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SivKey([redacted])")
    }
}

/// The fusecry/1 subkeys of SPEC §3.
#[derive(Clone, Debug)]
pub struct V1Keys {
    /// K_enc: AES-256-CBC chunk encryption.
    pub enc: Key32,
    /// K_mac: chunk tags.
    pub mac: Key32,
    /// K_trl: trailer tags.
    pub trailer: Key32,
    /// K_name: AES-SIV for names and symlink targets.
    pub name: SivKey,
    /// K_conf: the conf's params_mac.
    pub conf: Key32,
}

/// HKDF-Extract over the master key with an empty salt (SPEC §3), for every
/// label at once. `extract` also hands back the PRK itself, which the
/// expansion does not need: that copy is wiped at once. The HMAC states keyed
/// with the PRK live inside the returned `Hkdf`, which the hkdf crate does not
/// zeroize; it is dropped as soon as the subkeys are expanded.
fn extract(master: &MasterKey) -> Hkdf<Sha256> {
    let (mut prk, hk) = Hkdf::<Sha256>::extract(None, master.expose());
    prk.as_mut_slice().zeroize();
    hk
}

/// HKDF-Expand straight into the key's own zeroize-on-drop storage, so no
/// copy of the output is left behind in a plain buffer.
fn expand_into(hk: &Hkdf<Sha256>, label: &str, out: &mut [u8]) {
    hk.expand(label.as_bytes(), out)
        .expect("HKDF output length is small");
}

impl V1Keys {
    /// Derives every subkey from the master key.
    pub fn derive(master: &MasterKey) -> Self {
        let hk = extract(master);
        let key32 = |label: &str| {
            let mut k = Key32([0; 32]);
            expand_into(&hk, label, &mut k.0);
            k
        };
        let mut name = SivKey([0; 64]);
        expand_into(&hk, labels::NAMES, &mut name.0);
        V1Keys {
            enc: key32(labels::CONTENT_ENC),
            mac: key32(labels::CONTENT_MAC),
            trailer: key32(labels::TRAILER_MAC),
            name,
            conf: key32(labels::CONF_MAC),
        }
    }
}

/// A password that zeroizes on drop and never prints.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(s: impl Into<String>) -> Self {
        Password(s.into())
    }
    /// The password text; keep the borrow short.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}
