//! SPEC §5 "Conf": the fusecry/1 JSON conf with its authenticated
//! parameters, and detection of legacy 0.11 confs.

use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::kdf::Argon2Params;
use crate::keys::{MasterKey, V1Keys};
use crate::layout::chunk_size_valid;
use crate::legacy::{LegacyAuth, LegacyConf};
use crate::primitives::{hmac_sha256, hmac_sha256_verify, lp};
use crate::slots::{check_slot_count, unwrap_with_index, KeySlot, Secret};
use crate::vouch::Trust;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

/// The `format` value of this version.
pub const FORMAT_V1: &str = "fusecry/1";
/// The only content cipher of fusecry/1.
pub const CONTENT_CIPHER: &str = "AES-256-CBC+HMAC-SHA256";
/// The only name cipher of fusecry/1.
pub const NAME_CIPHER: &str = "AES-256-SIV";
/// Feature flags this build understands (none are defined yet).
pub const KNOWN_FEATURES: &[&str] = &[];
/// SPEC §5: the largest conf read, of either profile (32 RSA-4096 slots
/// take about 27 KiB), so a planted conf cannot make a reader parse gigabytes.
pub const MAX_CONF_BYTES: usize = 1 << 20;
/// Prefix of the params_mac input.
const PARAMS_MAC_PREFIX: &[u8] = b"fusecry/1 conf params";

/// A fusecry/1 conf (SPEC §5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfV1 {
    /// Always "fusecry/1".
    pub format: String,
    /// Plaintext bytes per chunk: a multiple of 16 in [16, 1048576].
    pub chunk_size: u64,
    /// Whether file names and symlink targets are encrypted.
    pub encrypted_names: bool,
    /// Always "AES-256-CBC+HMAC-SHA256".
    pub content_cipher: String,
    /// Always "AES-256-SIV".
    pub name_cipher: String,
    /// Feature flags; readers refuse any they do not know.
    pub features: Vec<String>,
    /// Key slots: the master key wrapped once per password or RSA key.
    pub slots: Vec<KeySlot>,
    /// HMAC-SHA256(K_conf, params): base64, 32 bytes.
    #[serde(with = "crate::serde_b64")]
    #[schemars(with = "String")]
    pub params_mac: Vec<u8>,
}

/// Options for a new fusecry/1 conf.
#[derive(Clone, Copy, Debug)]
pub struct NewConf {
    /// Plaintext bytes per chunk.
    pub chunk_size: u64,
    /// Encrypt names and symlink targets.
    pub encrypted_names: bool,
    /// Argon2id cost for password slots.
    pub argon2: Argon2Params,
}

impl ConfV1 {
    /// The bytes under params_mac (SPEC §5).
    pub fn params_bytes(&self) -> Vec<u8> {
        let mut b = PARAMS_MAC_PREFIX.to_vec();
        lp(&mut b, self.format.as_bytes());
        b.extend_from_slice(&(self.chunk_size as u32).to_le_bytes());
        b.push(self.encrypted_names as u8);
        lp(&mut b, self.content_cipher.as_bytes());
        lp(&mut b, self.name_cipher.as_bytes());
        b.extend_from_slice(&(self.features.len() as u32).to_le_bytes());
        for f in &self.features {
            lp(&mut b, f.as_bytes());
        }
        b
    }

    /// Checks everything that needs no secret, in SPEC §5's order.
    pub fn validate(&self) -> Result<()> {
        if self.format != FORMAT_V1 {
            return Err(Error::UnsupportedVersion(self.format.clone()));
        }
        if let Some(f) = self
            .features
            .iter()
            .find(|f| !KNOWN_FEATURES.contains(&f.as_str()))
        {
            return Err(Error::UnknownFeature(f.clone()));
        }
        if self.content_cipher != CONTENT_CIPHER {
            return Err(Error::UnsupportedVersion(format!(
                "content cipher {:?}",
                self.content_cipher
            )));
        }
        if self.name_cipher != NAME_CIPHER {
            return Err(Error::UnsupportedVersion(format!(
                "name cipher {:?}",
                self.name_cipher
            )));
        }
        if !chunk_size_valid(self.chunk_size) {
            return Err(Error::InvalidChunkSize(self.chunk_size));
        }
        if self.slots.is_empty() {
            return Err(Error::ConfCorrupt("no key slots".into()));
        }
        check_slot_count(self.slots.len())?;
        for (i, s) in self.slots.iter().enumerate() {
            s.validate().map_err(|e| match e {
                Error::ConfCorrupt(m) => Error::ConfCorrupt(format!("key slot {i}: {m}")),
                e => e,
            })?;
        }
        if self.params_mac.len() != 32 {
            return Err(Error::ConfCorrupt("params_mac is not 32 bytes".into()));
        }
        Ok(())
    }

    /// Unwraps the master key and checks params_mac with it.
    pub fn unlock(&self, secret: &Secret) -> Result<MasterKey> {
        self.unlock_slot(secret).map(|(_, mk)| mk)
    }

    /// Like [`ConfV1::unlock`], also saying which slot opened.
    pub fn unlock_slot(&self, secret: &Secret) -> Result<(usize, MasterKey)> {
        self.validate()?;
        let (slot, mk) = unwrap_with_index(&self.slots, secret)?;
        self.check_params_mac(&mk)?;
        Ok((slot, mk))
    }

    /// SPEC §5 step 8: `params_mac` verifies under `K_conf` of `master`.
    pub fn check_params_mac(&self, master: &MasterKey) -> Result<()> {
        let keys = V1Keys::derive(master);
        if !hmac_sha256_verify(
            keys.conf.expose(),
            &[&self.params_bytes()],
            &self.params_mac,
        ) {
            return Err(Error::ConfCorrupt(
                "conf parameters were edited (params_mac does not verify)".into(),
            ));
        }
        Ok(())
    }

    /// Builds a conf around `master` with one slot for `secret`. A slot made
    /// with an RSA private key at hand is signed (vouched for, SPEC §4.5);
    /// one made from a public key alone is not.
    pub fn create_with_master(
        master: &MasterKey,
        opts: &NewConf,
        secret: &Secret,
        rng: &mut impl CryptoRngCore,
    ) -> Result<ConfV1> {
        if !chunk_size_valid(opts.chunk_size) {
            return Err(Error::InvalidChunkSize(opts.chunk_size));
        }
        let slot = KeySlot::for_secret(master, secret, opts.argon2, rng)?;
        let mut conf = ConfV1 {
            format: FORMAT_V1.into(),
            chunk_size: opts.chunk_size,
            encrypted_names: opts.encrypted_names,
            content_cipher: CONTENT_CIPHER.into(),
            name_cipher: NAME_CIPHER.into(),
            features: vec![],
            slots: vec![slot],
            params_mac: vec![],
        };
        conf.seal(master);
        if let Secret::RsaPrivate(k) = secret {
            conf.vouch_slot(0, master, k, rng)?;
        }
        Ok(conf)
    }

    /// Recomputes params_mac under `master`.
    pub fn seal(&mut self, master: &MasterKey) {
        let keys = V1Keys::derive(master);
        self.params_mac = hmac_sha256(keys.conf.expose(), &[&self.params_bytes()]).to_vec();
    }

    /// Adds a slot for `secret` (the caller proved knowledge of `master`);
    /// an RSA slot is signed when `secret` is the private key, as in
    /// [`ConfV1::create_with_master`].
    pub fn add_slot(
        &mut self,
        master: &MasterKey,
        secret: &Secret,
        argon2: Argon2Params,
        rng: &mut impl CryptoRngCore,
    ) -> Result<()> {
        check_slot_count(self.slots.len() + 1)?;
        self.slots
            .push(KeySlot::for_secret(master, secret, argon2, rng)?);
        if let Secret::RsaPrivate(k) = secret {
            let slot = self.slots.len() - 1;
            if let Err(e) = self.vouch_slot(slot, master, k, rng) {
                self.slots.pop();
                return Err(e);
            }
        }
        Ok(())
    }
}

/// A conf of either profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conf {
    /// fusecry/1.
    V1(ConfV1),
    /// Legacy 0.11.
    Legacy(LegacyConf),
}

/// The JSON Schema of every conf this build reads, for `fusecry info --schema`.
pub fn json_schema() -> schemars::schema::RootSchema {
    schemars::schema_for!(ConfV1)
}

impl Conf {
    /// Parses and validates a conf of either profile (no secret needed).
    pub fn parse(bytes: &[u8]) -> Result<Conf> {
        if bytes.len() > MAX_CONF_BYTES {
            return Err(Error::ConfCorrupt(format!(
                "{} bytes: SPEC §5 reads confs of at most {MAX_CONF_BYTES}",
                bytes.len()
            )));
        }
        let v: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::ConfCorrupt(format!("not JSON: {e}")))?;
        let m = v
            .as_object()
            .ok_or_else(|| Error::ConfCorrupt("not a JSON object".into()))?;
        if LegacyConf::looks_legacy(m) {
            return Ok(Conf::Legacy(LegacyConf::from_map(m)?));
        }
        match m.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT_V1) => {}
            Some(other) => return Err(Error::UnsupportedVersion(other.to_string())),
            None => return Err(Error::ConfCorrupt("no \"format\" field".into())),
        }
        if let Some(serde_json::Value::Array(fs)) = m.get("features") {
            for f in fs {
                let f = f.as_str().unwrap_or("<not a string>");
                if !KNOWN_FEATURES.contains(&f) {
                    return Err(Error::UnknownFeature(f.to_string()));
                }
            }
        }
        let c: ConfV1 = serde_json::from_value(v).map_err(|e| Error::ConfCorrupt(e.to_string()))?;
        c.validate()?;
        Ok(Conf::V1(c))
    }

    /// The conf file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Conf::V1(c) => {
                let mut b = serde_json::to_vec_pretty(c).expect("serializable");
                b.push(b'\n');
                b
            }
            Conf::Legacy(c) => c.to_bytes(),
        }
    }

    /// Plaintext bytes per chunk.
    pub fn chunk_size(&self) -> u64 {
        match self {
            Conf::V1(c) => c.chunk_size,
            Conf::Legacy(c) => c.chunk_size,
        }
    }

    /// Whether names are encrypted.
    pub fn encrypted_names(&self) -> bool {
        match self {
            Conf::V1(c) => c.encrypted_names,
            Conf::Legacy(c) => c.enc_path,
        }
    }

    /// "fusecry/1" or "legacy 0.11".
    pub fn profile_name(&self) -> &'static str {
        match self {
            Conf::V1(_) => "fusecry/1",
            Conf::Legacy(_) => "legacy 0.11",
        }
    }

    /// Opens the conf: the codec for files and names of this volume. For
    /// reading; a writer uses [`Conf::open_trusted`] (SPEC §4.5).
    pub fn open(&self, secret: &Secret) -> Result<Codec> {
        self.open_trusted(secret).map(|(codec, _)| codec)
    }

    /// Opens the conf and says what the secret vouches for (SPEC §4.5): a
    /// writer MUST NOT write with a codec whose trust is not
    /// [`Trust::Vouched`] unless its user explicitly said so, and never with
    /// a legacy RSA conf.
    pub fn open_trusted(&self, secret: &Secret) -> Result<(Codec, Trust)> {
        match self {
            Conf::V1(c) => {
                let (slot, mk) = c.unlock_slot(secret)?;
                let codec = Codec::v1(&mk, c.chunk_size, c.encrypted_names);
                Ok((codec, c.trust(slot)))
            }
            Conf::Legacy(c) => {
                let codec = Codec::legacy(c.open(secret)?, c.chunk_size, c.enc_path);
                let trust = match c.auth {
                    LegacyAuth::Rsakey { .. } => Trust::LegacyRsa,
                    LegacyAuth::Password { .. } => Trust::Vouched,
                };
                Ok((codec, trust))
            }
        }
    }

    /// Creates a new fusecry/1 conf and its codec.
    pub fn create_v1(
        opts: &NewConf,
        secret: &Secret,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Conf, Codec)> {
        let mut mk = [0u8; 32];
        rng.fill_bytes(&mut mk);
        let mk = MasterKey::from_bytes(mk);
        let conf = ConfV1::create_with_master(&mk, opts, secret, rng)?;
        let codec = Codec::v1(&mk, opts.chunk_size, opts.encrypted_names);
        Ok((Conf::V1(conf), codec))
    }

    /// Creates a new legacy 0.11 password conf and its codec.
    pub fn create_legacy(
        password: &crate::keys::Password,
        chunk_size: u64,
        enc_path: bool,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Conf, Codec)> {
        let (c, keys) = LegacyConf::create_password(password, chunk_size, enc_path, rng)?;
        Ok((Conf::Legacy(c), Codec::legacy(keys, chunk_size, enc_path)))
    }
}
