//! SPEC §15 "Conf": the original's one-line JSON, with its Python
//! name-mangled field names, read and (for password confs) written byte for byte.

use super::chunk::{make_sample, sample_ok};
use super::LegacyKeys;
use crate::error::{Error, Result};
use crate::kdf::{check_legacy_iterations, latin1, pbkdf2_sha1, LEGACY_MAX_ITERATIONS};
use crate::keys::{Key32, Password};
use crate::layout::chunk_size_valid;
use crate::slots::Secret;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand_core::CryptoRngCore;
use serde::Serialize;

/// How a legacy conf is opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum LegacyAuth {
    /// PBKDF2-HMAC-SHA1 over the latin-1 password.
    Password {
        /// 32-byte salt.
        #[serde(with = "crate::serde_b64")]
        salt: Vec<u8>,
        /// Iterations, random in [60000, 80000] when created by the original.
        iterations: u32,
    },
    /// Textbook RSA-wrapped AES key.
    Rsakey {
        /// Modulus bytes as the original computed them.
        key_size: u32,
        /// The wrapped key.
        #[serde(with = "crate::serde_b64")]
        enc_key: Vec<u8>,
    },
}

/// A parsed legacy 0.11 conf.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LegacyConf {
    /// "0.11.x".
    pub version: String,
    /// Plaintext bytes per chunk.
    pub chunk_size: u64,
    /// Whether names are encrypted (`-n`).
    pub enc_path: bool,
    /// Key derivation.
    pub auth: LegacyAuth,
    /// The 1024-byte password check chunk.
    #[serde(with = "crate::serde_b64")]
    pub sample: Vec<u8>,
}

fn field<'a>(
    m: &'a serde_json::Map<String, serde_json::Value>,
    k: &str,
) -> Result<&'a serde_json::Value> {
    m.get(k)
        .ok_or_else(|| Error::ConfCorrupt(format!("legacy conf has no {k:?}")))
}

fn b64_field(m: &serde_json::Map<String, serde_json::Value>, k: &str) -> Result<Vec<u8>> {
    let s = field(m, k)?
        .as_str()
        .ok_or_else(|| Error::ConfCorrupt(format!("{k:?} is not a string")))?;
    B64.decode(s)
        .map_err(|_| Error::ConfCorrupt(format!("{k:?} is not base64")))
}

fn uint_field(m: &serde_json::Map<String, serde_json::Value>, k: &str) -> Result<u64> {
    field(m, k)?
        .as_u64()
        .ok_or_else(|| Error::ConfCorrupt(format!("{k:?} is not a non-negative integer")))
}

impl LegacyConf {
    /// True when a JSON object looks like a 0.11 conf (it has a `version` and no `format`).
    pub fn looks_legacy(m: &serde_json::Map<String, serde_json::Value>) -> bool {
        m.contains_key("version") && !m.contains_key("format")
    }

    /// Parses and validates. The original checks only major.minor; so do we.
    pub fn from_map(m: &serde_json::Map<String, serde_json::Value>) -> Result<Self> {
        let version = field(m, "version")?
            .as_str()
            .ok_or_else(|| Error::ConfCorrupt("\"version\" is not a string".into()))?
            .to_string();
        let mut parts = version.split('.');
        if parts.next() != Some("0") || parts.next() != Some("11") {
            return Err(Error::UnsupportedVersion(format!(
                "fusecry conf version {version} (this build reads 0.11.x and fusecry/1)"
            )));
        }
        for (k, want) in [("cipher", "AES_CBC"), ("hashmod", "SHA256")] {
            if let Some(v) = m.get(k) {
                if v.as_str() != Some(want) {
                    return Err(Error::UnsupportedVersion(format!("legacy {k} {v}")));
                }
            }
        }
        let chunk_size = uint_field(m, "chunk_size")?;
        if !chunk_size_valid(chunk_size) {
            return Err(Error::InvalidChunkSize(chunk_size));
        }
        let enc_path = field(m, "enc_path")?
            .as_bool()
            .ok_or_else(|| Error::ConfCorrupt("\"enc_path\" is not a boolean".into()))?;
        let typ = field(m, "type")?.as_str().unwrap_or_default();
        let auth = match typ {
            "password" => LegacyAuth::Password {
                salt: b64_field(m, "_FuseCryConf__kdf_salt")?,
                iterations: {
                    let n = uint_field(m, "kdf_iters")?;
                    let n = u32::try_from(n).map_err(|_| {
                        Error::ConfCorrupt(format!(
                            "\"kdf_iters\" is {n}: SPEC §15.1 reads 1 to {LEGACY_MAX_ITERATIONS}"
                        ))
                    })?;
                    // Before any derivation: the count bounds the unlock time.
                    check_legacy_iterations(n)?;
                    n
                },
            },
            "rsakey" => LegacyAuth::Rsakey {
                key_size: u32::try_from(uint_field(m, "rsa_key_size")?)
                    .map_err(|_| Error::ConfCorrupt("\"rsa_key_size\" out of range".into()))?,
                enc_key: b64_field(m, "_FuseCryConf__enc_key")?,
            },
            other => {
                return Err(Error::ConfCorrupt(format!(
                    "unknown legacy conf type {other:?}"
                )))
            }
        };
        let sample = b64_field(m, "_FuseCryConf__sample")?;
        if sample.len() < 64 || (sample.len() - 48) % 16 != 0 {
            return Err(Error::ConfCorrupt(format!(
                "sample is {} bytes, not a chunk",
                sample.len()
            )));
        }
        Ok(LegacyConf {
            version,
            chunk_size,
            enc_path,
            auth,
            sample,
        })
    }

    /// Derives K from the secret and checks it against the sample.
    pub fn open(&self, secret: &Secret) -> Result<LegacyKeys> {
        let k = match (&self.auth, secret) {
            (LegacyAuth::Password { salt, iterations }, Secret::Password(pw)) => {
                let pw = latin1(pw.expose())?;
                Key32::from_bytes(*pbkdf2_sha1(&pw, salt, *iterations)?)
            }
            (LegacyAuth::Rsakey { enc_key, .. }, Secret::RsaPrivate(k)) => {
                super::rsa::unwrap(k, enc_key)?
            }
            (LegacyAuth::Rsakey { .. }, Secret::RsaPublic(_)) => return Err(Error::PublicKeyOnly),
            _ => return Err(Error::WrongKey),
        };
        let keys = LegacyKeys::new(k);
        if sample_ok(&keys, &self.sample) {
            Ok(keys)
        } else {
            Err(Error::WrongKey)
        }
    }

    /// Creates a password conf as `fusecry 0.11.2` would, with explicit randomness.
    pub fn create_password_with(
        password: &Password,
        chunk_size: u64,
        enc_path: bool,
        salt: [u8; 32],
        iterations: u32,
        sample_iv: [u8; 16],
        sample_plain: &[u8; 976],
    ) -> Result<(LegacyConf, LegacyKeys)> {
        if !chunk_size_valid(chunk_size) {
            return Err(Error::InvalidChunkSize(chunk_size));
        }
        if password.expose().is_empty() {
            return Err(Error::BadPassword("the password is empty"));
        }
        let pw = latin1(password.expose())?;
        let keys = LegacyKeys::new(Key32::from_bytes(*pbkdf2_sha1(&pw, &salt, iterations)?));
        let sample = make_sample(&keys, &sample_iv, sample_plain);
        Ok((
            LegacyConf {
                version: "0.11.2".into(),
                chunk_size,
                enc_path,
                auth: LegacyAuth::Password {
                    salt: salt.to_vec(),
                    iterations,
                },
                sample,
            },
            keys,
        ))
    }

    /// Creates a password conf with fresh randomness (iterations in [60000, 80000]).
    pub fn create_password(
        password: &Password,
        chunk_size: u64,
        enc_path: bool,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(LegacyConf, LegacyKeys)> {
        let mut salt = [0u8; 32];
        rng.fill_bytes(&mut salt);
        let iterations = 60000 + (rng.next_u32() % 20001);
        let mut iv = [0u8; 16];
        rng.fill_bytes(&mut iv);
        let mut plain = [0u8; 976];
        rng.fill_bytes(&mut plain);
        Self::create_password_with(password, chunk_size, enc_path, salt, iterations, iv, &plain)
    }

    /// The exact bytes `json.dumps` gave in the original: one line, `", "` and
    /// `": "` separators, no trailing newline, fields in the original's order.
    pub fn to_bytes(&self) -> Vec<u8> {
        let q = |s: &str| serde_json::to_string(s).expect("string");
        let mut f: Vec<(String, String)> = vec![
            ("version".into(), q(&self.version)),
            ("_kdf_iter_range".into(), "[60000, 80000]".into()),
            ("kdf_salt_size".into(), "32".into()),
            ("extension".into(), q(".fcry")),
            ("_conf".into(), q("fusecry.conf")),
            ("sample_size".into(), "1024".into()),
            ("_default_chunk_size".into(), "4096".into()),
            ("enc_path".into(), self.enc_path.to_string()),
        ];
        match &self.auth {
            LegacyAuth::Password { salt, iterations } => {
                f.push(("type".into(), q("password")));
                f.push(("chunk_size".into(), self.chunk_size.to_string()));
                f.push(("_FuseCryConf__kdf_salt".into(), q(&B64.encode(salt))));
                f.push(("kdf_iters".into(), iterations.to_string()));
            }
            LegacyAuth::Rsakey { key_size, enc_key } => {
                f.push(("type".into(), q("rsakey")));
                f.push(("chunk_size".into(), self.chunk_size.to_string()));
                f.push(("rsa_key_size".into(), key_size.to_string()));
                f.push(("_FuseCryConf__enc_key".into(), q(&B64.encode(enc_key))));
            }
        }
        f.push(("_FuseCryConf__sample".into(), q(&B64.encode(&self.sample))));
        f.push(("cipher".into(), q("AES_CBC")));
        f.push(("hashmod".into(), q("SHA256")));
        let body: Vec<String> = f
            .into_iter()
            .map(|(k, v)| format!("{}: {v}", q(&k)))
            .collect();
        format!("{{{}}}", body.join(", ")).into_bytes()
    }
}
