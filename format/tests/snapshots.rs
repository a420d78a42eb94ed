//! Byte-exact snapshots of the format with fixed inputs (the SPEC's worked
//! examples). Any change to these bytes is a format change.
//!
//! Inputs: master key = 00 01 .. 1f, file id = f0 .. ff, IV of chunk i =
//! [a0 + i; 16], plaintext byte j = j % 251, chunk size 4096.
//!
//! Set `WORKED_BYTES_OUT=/path/file.md` to also write the worked example.

use fusecry_format::keys::V1Keys;
use fusecry_format::legacy::{self, LegacyConf, LegacyKeys};
use fusecry_format::name::{self, DirIv};
use fusecry_format::stream;
use fusecry_format::xattr;
use fusecry_format::{
    Argon2Params, Codec, Conf, ConfV1, FileId, KeySlot, MasterKey, NewConf, Password, Secret,
};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use std::fmt::Write;

const CS: u64 = 4096;
const TINY: Argon2Params = Argon2Params {
    m_cost_kib: 64,
    t_cost: 1,
    p_cost: 1,
};

fn mk() -> MasterKey {
    MasterKey::from_bytes(std::array::from_fn(|i| i as u8))
}

fn file_id() -> FileId {
    FileId(std::array::from_fn(|i| 0xf0 + i as u8))
}

fn plain(n: usize) -> Vec<u8> {
    (0..n).map(|j| (j % 251) as u8).collect()
}

/// Hex, wrapped at 32 bytes per line.
fn hexw(b: &[u8]) -> String {
    if b.is_empty() {
        return "(empty)".into();
    }
    b.chunks(32).map(hex::encode).collect::<Vec<_>>().join("\n")
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A file built from the low-level pieces, checked against the stream decoder.
fn build(codec: &Codec, size: usize) -> (Vec<u8>, Vec<Vec<u8>>, Vec<u8>, Vec<u8>) {
    let id = file_id();
    let p = plain(size);
    let header = codec.encode_header(&id);
    let chunks: Vec<Vec<u8>> = p
        .chunks(CS as usize)
        .enumerate()
        .map(|(i, piece)| codec.encrypt_chunk(&id, i as u64, &[0xa0 + i as u8; 16], piece))
        .collect();
    let trailer = if size == 0 && codec.layout().empty_is_nothing {
        Vec::new()
    } else {
        codec.encode_trailer(&id, size as u64)
    };
    let mut all = header.clone();
    for c in &chunks {
        all.extend_from_slice(c);
    }
    all.extend_from_slice(&trailer);
    assert_eq!(all.len() as u64, codec.layout().stored_size(size as u64));
    assert_eq!(stream::decrypt_to_vec(codec, &all).unwrap(), p);
    (header, chunks, trailer, all)
}

/// Full, annotated bytes of a small fusecry/1 file.
fn annotated_small(size: usize) -> String {
    let codec = Codec::v1(&mk(), CS, true);
    let (header, chunks, trailer, all) = build(&codec, size);
    let mut s = String::new();
    writeln!(
        s,
        "fusecry/1 file, plaintext size {size}, chunk size {CS}, {} stored bytes",
        all.len()
    )
    .unwrap();
    writeln!(s, "header.magic   {}", hex::encode(&header[..4])).unwrap();
    writeln!(s, "header.file_id {}", hex::encode(&header[4..])).unwrap();
    for (i, c) in chunks.iter().enumerate() {
        writeln!(s, "chunk[{i}].tag  {}", hex::encode(&c[..32])).unwrap();
        writeln!(s, "chunk[{i}].iv   {}", hex::encode(&c[32..48])).unwrap();
        writeln!(s, "chunk[{i}].c    {}", hex::encode(&c[48..])).unwrap();
    }
    writeln!(s, "trailer.size   {}", hex::encode(&trailer[..8])).unwrap();
    writeln!(s, "trailer.tag    {}", hex::encode(&trailer[8..])).unwrap();
    writeln!(s, "all:\n{}", hexw(&all)).unwrap();
    write!(s, "sha256(all) {}", sha(&all)).unwrap();
    s
}

/// Header, the first 64 bytes of chunk 0, the last chunk (first 64 and last
/// 32 bytes), the trailer and a digest of everything.
fn summarized(size: usize) -> String {
    let codec = Codec::v1(&mk(), CS, true);
    let (header, chunks, trailer, all) = build(&codec, size);
    let last = chunks.last().unwrap();
    let mut s = String::new();
    writeln!(
        s,
        "fusecry/1 file, plaintext size {size}, chunk size {CS}, {} stored bytes, {} chunks",
        all.len(),
        chunks.len()
    )
    .unwrap();
    writeln!(s, "header {}", hex::encode(&header)).unwrap();
    writeln!(s, "chunk[0][..64]:\n{}", hexw(&chunks[0][..64])).unwrap();
    let n = chunks.len() - 1;
    writeln!(
        s,
        "chunk[{n}] ({} bytes) [..64]:\n{}",
        last.len(),
        hexw(&last[..64])
    )
    .unwrap();
    writeln!(
        s,
        "chunk[{n}] [len-32..]:\n{}",
        hexw(&last[last.len() - 32..])
    )
    .unwrap();
    writeln!(s, "trailer:\n{}", hexw(&trailer)).unwrap();
    write!(s, "sha256(all) {}", sha(&all)).unwrap();
    s
}

#[test]
fn subkeys() {
    let k = V1Keys::derive(&mk());
    let s = format!(
        "K_enc  {}\nK_mac  {}\nK_trl  {}\nK_conf {}",
        hex::encode(k.enc.expose()),
        hex::encode(k.mac.expose()),
        hex::encode(k.trailer.expose()),
        hex::encode(k.conf.expose()),
    );
    insta::assert_snapshot!("subkeys", s);
}

#[test]
fn file_size_0() {
    insta::assert_snapshot!("file_size_0", annotated_small(0));
}

#[test]
fn file_size_1() {
    insta::assert_snapshot!("file_size_1", annotated_small(1));
}

#[test]
fn file_size_4096() {
    insta::assert_snapshot!("file_size_4096", summarized(4096));
}

#[test]
fn file_size_4097() {
    insta::assert_snapshot!("file_size_4097", summarized(4097));
}

fn names_text() -> String {
    let k = V1Keys::derive(&mk());
    let d = DirIv([0x11; 16]);
    let mut s = String::from("diriv 11111111111111111111111111111111\n");
    let long = "n".repeat(200);
    for n in ["a", "hello.txt", long.as_str()] {
        let enc = name::encrypt(&k.name, &d, n).unwrap();
        assert_eq!(name::decrypt(&k.name, &d, &enc).unwrap(), n);
        let label = if n.len() > 20 {
            format!("{} x 'n'", n.len())
        } else {
            format!("{n:?}")
        };
        writeln!(s, "name {label} ({} chars): {enc}", enc.len()).unwrap();
        let (disk, sidecar) = name::to_disk(enc.clone());
        match sidecar {
            None => assert_eq!(disk, enc),
            Some(side) => {
                assert_eq!(side, enc);
                name::check_sidecar(&disk, &side).unwrap();
                writeln!(
                    s,
                    "  on disk: {disk}\n  sidecar: {}",
                    name::sidecar_name(&disk)
                )
                .unwrap();
            }
        }
    }
    // The target of a symlink named "a" in that directory: bound to the
    // directory IV and to the encoded name.
    let a = name::encrypt(&k.name, &d, "a").unwrap();
    let at = name::SymlinkAt {
        diriv: &d,
        encoded: &a,
    };
    let link = name::encrypt_symlink(&k.name, at, &[0x22; 16], b"../target");
    assert_eq!(
        name::decrypt_symlink(&k.name, at, link.as_bytes()).unwrap(),
        b"../target"
    );
    writeln!(
        s,
        "symlink \"a\" -> \"../target\" (diriv 11..11, nonce 22..22): {link}"
    )
    .unwrap();
    // An xattr of the file whose id is f0..ff.
    let id = file_id();
    let owner = xattr::Owner::File(&id);
    let xname = xattr::encrypt_name(&k.name, "user.a").unwrap();
    let value = xattr::encrypt_value(&k.name, owner, "user.a", &[0x33; 16], b"v");
    assert_eq!(
        xattr::decrypt_value(&k.name, owner, "user.a", &value).unwrap(),
        b"v"
    );
    write!(
        s,
        "xattr \"user.a\" = \"v\" of file f0..ff (nonce 33..33):\n  name  {xname}\n  value {}",
        hex::encode(&value)
    )
    .unwrap();
    s
}

#[test]
fn names_and_symlink() {
    insta::assert_snapshot!("names", names_text());
}

fn slot_json() -> String {
    let slot =
        KeySlot::password_with_salt(&mk(), &Password::new("correct horse"), TINY, [0x33; 16])
            .unwrap();
    assert_eq!(
        slot.unwrap_key(&Secret::Password(Password::new("correct horse")))
            .unwrap()
            .unwrap()
            .expose(),
        mk().expose()
    );
    serde_json::to_string_pretty(&slot).unwrap()
}

#[test]
fn password_slot() {
    insta::assert_snapshot!("password_slot", slot_json());
}

fn conf_text() -> String {
    let secret = Secret::Password(Password::new("correct horse"));
    let opts = NewConf {
        chunk_size: CS,
        encrypted_names: true,
        argon2: TINY,
    };
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let c = ConfV1::create_with_master(&mk(), &opts, &secret, &mut rng).unwrap();
    let bytes = Conf::V1(c).to_bytes();
    let codec = Conf::parse(&bytes).unwrap().open(&secret).unwrap();
    assert_eq!(codec.chunk_size(), CS);
    String::from_utf8(bytes).unwrap()
}

#[test]
fn conf_v1() {
    insta::assert_snapshot!("conf_v1", conf_text());
}

fn legacy_text() -> String {
    let (c, keys) = LegacyConf::create_password_with(
        &Password::new("pw"),
        CS,
        false,
        [0x44; 32],
        60000,
        [0x55; 16],
        &[0x66; 976],
    )
    .unwrap();
    let conf = String::from_utf8(c.to_bytes()).unwrap();
    let parsed = Conf::parse(conf.as_bytes()).unwrap();
    parsed.open(&Secret::Password(Password::new("pw"))).unwrap();
    let codec = Codec::legacy(keys.clone(), CS, true);
    let (_, chunks, trailer, all) = build(&codec, 17);
    let name = legacy::name::encrypt(&keys, &[0x77; 16], "hello.txt").unwrap();
    assert_eq!(codec.decrypt_name(None, &name).unwrap(), "hello.txt");
    let lk = LegacyKeys::new(fusecry_format::keys::Key32::from_bytes(*mk().expose()));
    let name2 = legacy::name::encrypt(&lk, &[0x77; 16], "hello.txt").unwrap();
    format!(
        "conf:\n{conf}\nK {}\nM {}\n17-byte file (IV a0..a0):\nchunk[0]:\n{}\ntrailer {}\nsha256(all) {}\n\
         name \"hello.txt\" (IV 77..77, conf key): {name}\nname \"hello.txt\" (IV 77..77, K = 00..1f): {name2}",
        hex::encode(keys.aes.expose()),
        hex::encode(keys.mac.expose()),
        hexw(&chunks[0]),
        hex::encode(&trailer),
        sha(&all),
    )
}

#[test]
fn legacy_conf_chunk_name() {
    insta::assert_snapshot!("legacy", legacy_text());
}

/// Writes the worked example for SPEC writers when WORKED_BYTES_OUT is set.
#[test]
fn write_worked_bytes() {
    let Some(path) = std::env::var_os("WORKED_BYTES_OUT") else {
        return;
    };
    let mut s = String::from(
        "# fusecry/1 worked bytes (generated by format/tests/snapshots.rs)\n\n\
         Inputs: master key MK = 00 01 02 .. 1f (32 bytes), file_id = f0 f1 .. ff (16 bytes),\n\
         IV of chunk i = 16 bytes of (a0 + i), plaintext byte j = j % 251, chunk size 4096.\n\
         The subkeys, the size-1 file, name \"a\", the symlink target and the xattr value were cross-checked\n\
         against an independent Python implementation (pyca/cryptography 48: HKDF, AES-CBC, HMAC, AESSIV).\n\
         Regenerate with `WORKED_BYTES_OUT=/work/notes/worked-bytes.md cargo test -p fusecry-format --test snapshots write_worked_bytes`.\n\n",
    );
    let k = V1Keys::derive(&mk());
    writeln!(
        s,
        "## Subkeys (HKDF-SHA256, empty salt)\n\n```\nK_enc  {}\nK_mac  {}\nK_trl  {}\nK_conf {}\n```\n",
        hex::encode(k.enc.expose()),
        hex::encode(k.mac.expose()),
        hex::encode(k.trailer.expose()),
        hex::encode(k.conf.expose())
    )
    .unwrap();
    writeln!(
        s,
        "## Empty file (size 0)\n\n```\n{}\n```\n",
        annotated_small(0)
    )
    .unwrap();
    writeln!(
        s,
        "## One-byte file (size 1, plaintext 00)\n\n```\n{}\n```\n",
        annotated_small(1)
    )
    .unwrap();
    writeln!(
        s,
        "## 4096 bytes (one full chunk)\n\n```\n{}\n```\n",
        summarized(4096)
    )
    .unwrap();
    writeln!(
        s,
        "## 4097 bytes (two chunks)\n\n```\n{}\n```\n",
        summarized(4097)
    )
    .unwrap();
    writeln!(
        s,
        "## Names, symlink target and xattr\n\n```\n{}\n```\n",
        names_text()
    )
    .unwrap();
    writeln!(
        s,
        "## Password key slot (\"correct horse\", m=64 KiB t=1 p=1, salt 33..33)\n\n```json\n{}\n```\n",
        slot_json()
    )
    .unwrap();
    writeln!(
        s,
        "## Conf (ConfV1::create_with_master, ChaCha20Rng seed 1, password \"correct horse\", m=64 t=1 p=1)\n\n```json\n{}```\n",
        conf_text()
    )
    .unwrap();
    writeln!(s, "## Legacy 0.11\n\n```\n{}\n```", legacy_text()).unwrap();
    std::fs::write(path, s).unwrap();
}
