//! Conformance vectors for SPEC.md: the vector file format (with its JSON
//! Schema), the deterministic generator (`generate`), and the helpers the
//! runners share (loading vectors, opening a vector's conf, failure classes).
//!
//! One scenario per file, `<area>_<condition>.json`; bytes larger than 4 KiB
//! live in a sibling `.bin` file named in the vector with its SHA-256.

pub mod generate;
pub mod volume;

use anyhow::{bail, ensure, Context, Result};
use fusecry_format::{Codec, Conf, Password, Secret, Trust};
use rand_core::SeedableRng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Bytes inline as hex, or in a sibling file.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, untagged)]
pub enum Bytes {
    /// Inline, lowercase hex.
    Hex {
        /// The bytes in hex.
        hex: String,
    },
    /// The first `len` bytes of the ChaCha20 stream of the vector's
    /// `seed` (`ChaCha20Rng::seed_from_u64`, rand_chacha 0.3), which is how
    /// large plaintexts are made.
    Seeded {
        /// Number of bytes.
        chacha20_prefix: u64,
        /// SHA-256 of those bytes, hex.
        sha256: String,
    },
    /// A file beside the vector.
    File {
        /// File name, relative to the vector's directory.
        file: String,
        /// SHA-256 of the file, hex.
        sha256: String,
        /// Length in bytes.
        len: u64,
    },
}

/// What a scenario is about.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    /// Opening a conf: key slots, KDFs, authenticated parameters (SPEC §4, §5).
    Conf,
    /// A whole stored file (SPEC §7).
    File,
    /// A stream (SPEC §12).
    Stream,
    /// One name in a directory (SPEC §10).
    Name,
    /// A symlink target (SPEC §11).
    Symlink,
    /// A whole volume: a ciphertext tree beside the vector (SPEC §9–§11).
    Volume,
}

/// One conformance scenario.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vector {
    /// SPEC.md section anchor, e.g. `#chunk`.
    pub spec: String,
    /// Which part of the format.
    pub area: Area,
    /// `fusecry/1` or `legacy-0.11`.
    pub profile: String,
    /// `success`, or the SPEC §13 failure class a reader must report.
    pub expect: String,
    /// What this scenario checks.
    pub comment: String,
    /// Seed of the ChaCha20 stream every random byte of this vector came
    /// from (keys, salts, file ids, IVs, nonces, plaintext), in the order
    /// the reference implementation draws them.
    pub seed: u64,
    /// The conf (its JSON text).
    pub conf: String,
    /// Password opening the conf (absent for key vectors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// PEM key opening the conf (RSA vectors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_pem: Option<String>,
    /// Files and streams: the seed of the writer's own ChaCha20 stream
    /// (`ChaCha20Rng::seed_from_u64`), from which a writer draws the 16-byte
    /// file id (drawn in legacy too, where it is not stored), then one
    /// 16-byte IV per chunk in order. The plaintext comes from `seed`, so a
    /// writer seeded with this value alone (the CLI's and mount's test
    /// switch) must write `stored` byte for byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer_seed: Option<u64>,
    /// Plaintext (file, stream, symlink target), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<Bytes>,
    /// Stored bytes (file, stream, symlink target as stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<Bytes>,
    /// File id used when writing (hex), fusecry/1 files and streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// Directory IV (hex): name vectors of fusecry/1, and symlink vectors
    /// (the IV of the directory holding the link, SPEC §11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir_iv: Option<String>,
    /// Plaintext name: name vectors, and symlink vectors (the link's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// On-disk name: name vectors, and symlink vectors (the link's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_name: Option<String>,
    /// Long-name sidecar content, name and symlink vectors of long names
    /// (for a conflict copy of a long name, SPEC §10.1, its base's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sidecar: Option<String>,
    /// Volume vectors: the ciphertext tree, a directory beside the vector
    /// (it holds the conf as `fusecry.conf`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<String>,
    /// Volume vectors: every entry of the tree, parents before children.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<volume::Entry>>,
    /// Volume vectors that expect a failure: the plaintext path of the one
    /// damaged entry (every other entry must read as the manifest says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub damaged: Option<String>,
    /// Conf vectors that open (`expect` is `success`): whether the secret
    /// given vouches for the conf (SPEC §4.5), i.e. whether a writer may
    /// write with it without the user's explicit consent. A password slot
    /// or a legacy password conf always does; an RSA slot only with a valid
    /// signature; a legacy RSA conf never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vouched: Option<bool>,
    /// True when the stored bytes are exactly what a writer drawing from
    /// `seed` produces (encoders can be checked byte for byte), false for
    /// edited (tampered) inputs that only a reader sees.
    pub reproducible: bool,
}

/// The JSON Schema of a vector file (checked in as `vectors/vector.schema.json`).
pub fn schema() -> schemars::schema::RootSchema {
    schemars::schema_for!(Vector)
}

/// Every failure class of SPEC §13 a vector may expect.
pub const CLASSES: &[&str] = &[
    "WrongKey",
    "PublicKeyOnly",
    "ConfCorrupt",
    "UnsupportedVersion",
    "UnknownFeature",
    "InvalidChunkSize",
    "BadHeader",
    "ChunkTampered",
    "Truncated",
    "BadTrailer",
    "BadName",
    "BadSymlink",
];

/// The CLI exit code of a failure class (README "Exit codes").
pub fn exit_code(class: &str) -> i32 {
    match class {
        "success" => 0,
        "WrongKey" => 10,
        "PublicKeyOnly" => 11,
        "ConfCorrupt" => 12,
        "UnsupportedVersion" | "UnknownFeature" => 13,
        "InvalidChunkSize" => 14,
        _ => 20,
    }
}

/// The repository's vector directory.
pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

/// A loaded vector and where it lives.
pub struct Loaded {
    /// File name without `.json`.
    pub name: String,
    /// Its directory (for sibling files).
    pub dir: PathBuf,
    /// The vector.
    pub v: Vector,
}

impl Loaded {
    /// Resolves a [`Bytes`], checking a sibling file's hash.
    pub fn bytes(&self, b: &Bytes) -> Result<Vec<u8>> {
        match b {
            Bytes::Hex { hex } => Ok(hex::decode(hex)?),
            Bytes::Seeded {
                chacha20_prefix,
                sha256,
            } => {
                use rand_core::RngCore;
                let mut d = vec![0u8; *chacha20_prefix as usize];
                rand_chacha::ChaCha20Rng::seed_from_u64(self.v.seed).fill_bytes(&mut d);
                if hex::encode(Sha256::digest(&d)) != *sha256 {
                    bail!("{}: seeded bytes do not match their sha256", self.name);
                }
                Ok(d)
            }
            Bytes::File { file, sha256, len } => {
                let d = std::fs::read(self.dir.join(file))
                    .with_context(|| format!("{}: {file}", self.name))?;
                if hex::encode(Sha256::digest(&d)) != *sha256 || d.len() as u64 != *len {
                    bail!("{}: {file} does not match its sha256", self.name);
                }
                Ok(d)
            }
        }
    }

    /// The secret the vector opens its conf with.
    pub fn secret(&self) -> Result<Secret> {
        match (&self.v.password, &self.v.key_pem) {
            (Some(p), _) => Ok(Secret::Password(Password::new(p.as_str()))),
            (None, Some(pem)) => Ok(Secret::from_pem(pem)?),
            _ => bail!("{}: no password and no key", self.name),
        }
    }

    /// Parses and opens the conf (the result may be the expected failure).
    pub fn open(&self) -> fusecry_format::Result<Codec> {
        self.open_trusted().map(|(codec, _)| codec)
    }

    /// Like [`Loaded::open`], also saying what the secret vouches for.
    pub fn open_trusted(&self) -> fusecry_format::Result<(Codec, Trust)> {
        let conf = Conf::parse(self.v.conf.as_bytes())?;
        let secret = self
            .secret()
            .map_err(|e| fusecry_format::Error::ConfCorrupt(e.to_string()))?;
        conf.open_trusted(&secret)
    }
}

/// Loads every vector of `dir`, sorted by name.
pub fn load_all(dir: &Path) -> Result<Vec<Loaded>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "json")
            && !p
                .file_name()
                .unwrap()
                .to_string_lossy()
                .ends_with(".schema.json")
        {
            let v: Vector = serde_json::from_slice(&std::fs::read(&p)?)
                .with_context(|| format!("{} does not match the vector schema", p.display()))?;
            out.push(Loaded {
                name: p.file_stem().unwrap().to_string_lossy().into_owned(),
                dir: dir.to_path_buf(),
                v,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Plays one vector against the `format` library and returns `success` or
/// the failure class it got. Encoders are checked too: a reproducible
/// vector's stored bytes must be exactly what the library writes from the
/// vector's seed.
pub fn play(l: &Loaded) -> Result<String> {
    let v = &l.v;
    let class = |e: fusecry_format::Error| e.class().to_string();
    let (codec, trust) = match l.open_trusted() {
        Ok(c) => c,
        Err(e) => return Ok(class(e)),
    };
    if v.area == Area::Conf {
        ensure!(
            v.vouched == Some(trust.vouched()),
            "{}: the library finds {trust:?}, the vector says vouched {:?}",
            l.name,
            v.vouched
        );
        return Ok("success".into());
    }
    let want_plain = v.plaintext.as_ref().map(|b| l.bytes(b)).transpose()?;
    let stored = v.stored.as_ref().map(|b| l.bytes(b)).transpose()?;
    match v.area {
        Area::File | Area::Stream => {
            let stored = stored.context("stored bytes")?;
            let got = if v.area == Area::File {
                read_file(&codec, &stored)
            } else {
                fusecry_format::stream::decrypt_to_vec(&codec, &stored)
            };
            let got = match got {
                Ok(p) => p,
                Err(e) => return Ok(class(e)),
            };
            let plain = want_plain.context("plaintext")?;
            if v.reproducible {
                let (id, mut rng) = replay_draws(v)?;
                let target = if v.area == Area::File {
                    fusecry_format::stream::Target::File
                } else {
                    fusecry_format::stream::Target::Stream
                };
                let again =
                    fusecry_format::stream::encrypt_to_vec(&codec, &id, &plain, target, &mut rng);
                if again != stored {
                    bail!(
                        "{}: the encoder does not reproduce the stored bytes",
                        l.name
                    );
                }
            }
            // A legacy chunk swap decrypts, to other bytes than were written.
            Ok(if got == plain || v.expect == "success" {
                "success".into()
            } else {
                "WrongPlaintext".into()
            })
        }
        Area::Name => {
            let iv = l.dir_iv()?;
            let disk = v.disk_name.as_deref().context("disk_name")?;
            // The vector's sidecar is the one a long name (or a conflict
            // copy of one, SPEC §10.1) reads.
            let read = |_: &str| v.sidecar.clone().map(String::into_bytes);
            let name = match codec.decode_entry(iv.as_ref(), disk, read) {
                Ok(Some(e)) => e.name,
                Ok(None) => bail!("{}: {disk} is a reserved name", l.name),
                Err(e) => return Ok(class(e)),
            };
            ensure!(
                Some(&name) == v.name.as_ref(),
                "{}: decrypted to {name:?}",
                l.name
            );
            if v.reproducible {
                let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(v.seed);
                if iv.is_some() {
                    let _ = fusecry_format::name::DirIv::random(&mut rng);
                }
                let (d, side) = codec.encrypt_name(iv.as_ref(), &name, &mut rng)?;
                ensure!(
                    d == disk && side == v.sidecar,
                    "{}: the encoder does not reproduce the name",
                    l.name
                );
            }
            Ok("success".into())
        }
        Area::Symlink => {
            let stored = stored.context("stored")?;
            let iv = l.dir_iv()?;
            let encoded = l.encoded_name()?;
            let t = match codec.decrypt_symlink(iv.as_ref(), &encoded, &stored) {
                Ok(t) => t,
                Err(e) => return Ok(class(e)),
            };
            ensure!(Some(&t) == want_plain.as_ref(), "{}: wrong target", l.name);
            if v.reproducible {
                let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(v.seed);
                ensure!(
                    codec.encrypt_symlink(iv.as_ref(), &encoded, &t, &mut rng)? == stored,
                    "{}: the encoder does not reproduce the target",
                    l.name
                );
            }
            Ok("success".into())
        }
        Area::Volume => play_volume(l, &codec),
        Area::Conf => unreachable!(),
    }
}

impl Loaded {
    /// The vector's directory IV (name and symlink vectors of fusecry/1
    /// with encrypted names).
    pub fn dir_iv(&self) -> Result<Option<fusecry_format::name::DirIv>> {
        self.v
            .dir_iv
            .as_ref()
            .map(|h| {
                fusecry_format::name::DirIv::from_bytes(&hex::decode(h)?)
                    .map_err(anyhow::Error::from)
            })
            .transpose()
    }

    /// The full encoded name of a symlink vector's link (SPEC §11): the
    /// sidecar of a long name, else the on-disk name.
    pub fn encoded_name(&self) -> Result<String> {
        self.v
            .sidecar
            .clone()
            .or_else(|| self.v.disk_name.clone())
            .with_context(|| format!("{}: a symlink vector names its link", self.name))
    }

    /// A volume vector's tree directory.
    pub fn tree(&self) -> Result<PathBuf> {
        Ok(self
            .dir
            .join(self.v.tree.as_ref().context("a volume vector has a tree")?))
    }

    /// A volume vector's manifest as a reader should find it.
    pub fn manifest(&self) -> Result<std::collections::BTreeMap<String, volume::Node>> {
        let mut m = std::collections::BTreeMap::new();
        for e in self.v.entries.as_deref().context("entries")? {
            let n = match e.kind {
                volume::Kind::Dir => volume::Node::Dir,
                volume::Kind::File => {
                    volume::Node::File(self.bytes(e.content.as_ref().context("content")?)?)
                }
                volume::Kind::Symlink => {
                    volume::Node::Symlink(e.target.clone().context("target")?.into_bytes())
                }
            };
            m.insert(e.path.clone(), n);
        }
        Ok(m)
    }

    /// The plaintext entries to write, in manifest order.
    pub fn plain_entries(&self) -> Result<Vec<(String, volume::Kind, Vec<u8>)>> {
        let mut out = Vec::new();
        for e in self.v.entries.as_deref().context("entries")? {
            let data = match e.kind {
                volume::Kind::Dir => Vec::new(),
                volume::Kind::File => self.bytes(e.content.as_ref().context("content")?)?,
                volume::Kind::Symlink => e.target.clone().context("target")?.into_bytes(),
            };
            out.push((e.path.clone(), e.kind, data));
        }
        Ok(out)
    }
}

/// A volume vector against the library: the tree walked and compared with
/// the manifest (all but the one damaged entry), and, when reproducible,
/// rebuilt from `writer_seed` and compared byte for byte.
fn play_volume(l: &Loaded, codec: &Codec) -> Result<String> {
    let tree = l.tree()?;
    let walk = volume::read_tree(codec, &tree)?;
    let want = l.manifest()?;
    let damaged = l.v.damaged.as_deref();
    for (path, node) in &want {
        if Some(path.as_str()) != damaged {
            ensure!(
                walk.nodes.get(path) == Some(node),
                "{}: {path} does not read as the manifest says",
                l.name
            );
        }
    }
    if let Some(extra) = walk.nodes.keys().find(|k| !want.contains_key(*k)) {
        bail!("{}: {extra} is not in the manifest", l.name);
    }
    ensure!(
        walk.damage.len() <= 1,
        "{}: more than one damaged entry: {:?}",
        l.name,
        walk.damage
    );
    if let (Some((at, class)), Some(d)) = (walk.damage.first(), damaged) {
        // Content damage is reported at the entry's plaintext path; a damaged
        // name can only be located by its directory.
        let dir_of = |p: &str| {
            p.rsplit_once('/')
                .map_or(String::new(), |(d, _)| d.to_string())
        };
        ensure!(
            at == d || (class == "BadName" && dir_of(at) == dir_of(d)),
            "{}: damage reported at {at}, the vector damaged {d}",
            l.name
        );
    }
    for e in l.v.entries.as_deref().unwrap_or_default() {
        ensure!(
            std::fs::symlink_metadata(tree.join(&e.disk_path)).is_ok()
                || Some(e.path.as_str()) == damaged,
            "{}: {} is not at {}",
            l.name,
            e.path,
            e.disk_path
        );
    }
    if l.v.reproducible {
        let ws =
            l.v.writer_seed
                .context("a reproducible volume has a writer_seed")?;
        let tmp = tempfile::tempdir()?;
        for f in [
            fusecry_format::name::CONF_NAME,
            fusecry_format::name::DIRIV_NAME,
        ] {
            if tree.join(f).exists() {
                std::fs::copy(tree.join(f), tmp.path().join(f))?;
            }
        }
        let plain = l.plain_entries()?;
        let entries: Vec<volume::Plain<'_>> = plain
            .iter()
            .map(|(p, k, d)| match k {
                volume::Kind::Dir => volume::Plain::Dir(p),
                volume::Kind::File => volume::Plain::File(p, d.clone()),
                volume::Kind::Symlink => {
                    volume::Plain::Symlink(p, std::str::from_utf8(d).expect("utf-8 target"))
                }
            })
            .collect();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(ws);
        volume::write_tree(codec, tmp.path(), &entries, &mut rng)?;
        ensure!(
            volume::digest(tmp.path())? == volume::digest(&tree)?,
            "{}: the writer does not reproduce the tree",
            l.name
        );
    }
    Ok(match walk.damage.first() {
        None => "success".into(),
        Some((_, class)) => class.clone(),
    })
}

/// The writer's draws of a file or stream vector: the file id from
/// `writer_seed`; returns the id and the stream positioned for the IVs.
fn replay_draws(v: &Vector) -> Result<(fusecry_format::FileId, rand_chacha::ChaCha20Rng)> {
    use rand_core::SeedableRng;
    let ws = v
        .writer_seed
        .context("a reproducible file has a writer_seed")?;
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(ws);
    let id = fusecry_format::FileId::random(&mut rng);
    if let Some(h) = &v.file_id {
        ensure!(
            hex::encode(id.0) == *h,
            "file id does not follow from the writer seed"
        );
    }
    Ok((id, rng))
}

/// SPEC §7.5 as a random-access reader does it: length, header, trailer,
/// stored length, then every chunk.
pub fn read_file(codec: &Codec, stored: &[u8]) -> fusecry_format::Result<Vec<u8>> {
    use fusecry_format::Error;
    let l = *codec.layout();
    let len = stored.len() as u64;
    if len < l.header_len + l.trailer_len && !(len == 0 && l.empty_is_nothing) {
        return Err(Error::Truncated {
            stored: len,
            expected: 0,
        });
    }
    let id = codec.decode_header(&stored[..l.header_len as usize])?;
    let tl = (l.trailer_len as usize).min(stored.len());
    let size = codec.decode_trailer(&id, len, &stored[stored.len() - tl..])?;
    let mut out = Vec::with_capacity(size as usize);
    for i in 0..l.chunk_count(size) {
        let pl = l.chunk_plain_len(i, size);
        let off = l.chunk_offset(i) as usize;
        let sl = l.chunk_stored_len(pl) as usize;
        out.extend(codec.decrypt_chunk(&id, i, &stored[off..off + sl], pl as usize)?);
    }
    Ok(out)
}

/// A fresh RSA key from `rng` (the conformance RSA slots), and its PEMs.
pub mod rsa_keys {
    use anyhow::Result;
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

    /// Generates a `bits`-bit key.
    pub fn generate(
        rng: &mut impl rand_core::CryptoRngCore,
        bits: usize,
    ) -> Result<rsa::RsaPrivateKey> {
        Ok(rsa::RsaPrivateKey::new(rng, bits)?)
    }

    /// PKCS#8 PEM of the private key.
    pub fn private_pem(k: &rsa::RsaPrivateKey) -> Result<String> {
        Ok(k.to_pkcs8_pem(LineEnding::LF)?.to_string())
    }

    /// SPKI PEM of the public key.
    pub fn public_pem(k: &rsa::RsaPrivateKey) -> Result<String> {
        Ok(k.to_public_key().to_public_key_pem(LineEnding::LF)?)
    }
}
