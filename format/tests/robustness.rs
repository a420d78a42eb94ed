//! Every decoder returns `Err` (never panics) on arbitrary bytes and on
//! mutations of valid input. Panics fail the property (quickcheck reports them).

use fusecry_format::keys::{Key32, V1Keys};
use fusecry_format::legacy::{LegacyConf, LegacyKeys};
use fusecry_format::name::{self, DirIv};
use fusecry_format::stream::{self, Target};
use fusecry_format::{
    header, trailer, Argon2Params, Codec, Conf, FileId, KeySlot, MasterKey, NewConf, Password,
    Secret,
};
use quickcheck::{Arbitrary, Gen, QuickCheck};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::sync::OnceLock;

const TINY: Argon2Params = Argon2Params {
    m_cost_kib: 64,
    t_cost: 1,
    p_cost: 1,
};

fn qc(tests: u64) -> QuickCheck {
    QuickCheck::new().tests(tests).max_tests(tests * 10)
}

/// A random edit of a byte string.
#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Append(Vec<u8>),
}

impl Arbitrary for Mutation {
    fn arbitrary(g: &mut Gen) -> Self {
        match u8::arbitrary(g) % 6 {
            0 => Mutation::Flip(usize::arbitrary(g), u8::arbitrary(g)),
            1 => Mutation::Set(usize::arbitrary(g), u8::arbitrary(g)),
            2 => Mutation::Truncate(usize::arbitrary(g)),
            3 => Mutation::Insert(usize::arbitrary(g), Vec::arbitrary(g)),
            4 => Mutation::Delete(usize::arbitrary(g), usize::arbitrary(g) % 100),
            _ => Mutation::Append(Vec::arbitrary(g)),
        }
    }
}

fn mutate(mut v: Vec<u8>, ms: &[Mutation]) -> Vec<u8> {
    for m in ms {
        let n = v.len();
        match m {
            Mutation::Flip(i, b) if n > 0 => v[i % n] ^= b | 1,
            Mutation::Set(i, b) if n > 0 => v[i % n] = *b,
            Mutation::Truncate(i) => v.truncate(i % (n + 1)),
            Mutation::Insert(i, b) => {
                let at = i % (n + 1);
                v.splice(at..at, b.iter().copied());
            }
            Mutation::Delete(i, k) if n > 0 => {
                let at = i % n;
                v.drain(at..(at + k).min(n));
            }
            Mutation::Append(b) => v.extend_from_slice(b),
            _ => {}
        }
    }
    v
}

/// Where the fixture symlink lives (any directory IV and encoded name do).
fn link_at() -> name::SymlinkAt<'static> {
    static IV: DirIv = DirIv([9; 16]);
    name::SymlinkAt {
        diriv: &IV,
        encoded: "LINKNAMEAAAAAAAAAAAAAAAAAAAA",
    }
}

struct Fixtures {
    v1: Codec,
    legacy: Codec,
    mk: MasterKey,
    id: FileId,
    v1_conf: Vec<u8>,
    legacy_conf: Vec<u8>,
    slot: Vec<u8>,
    v1_files: Vec<Vec<u8>>,
    legacy_files: Vec<Vec<u8>>,
    names: Vec<String>,
    symlink: String,
    legacy_names: Vec<String>,
}

fn fx() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let mut rng = ChaCha20Rng::seed_from_u64(42);
        let mut k = [0u8; 32];
        rng.fill_bytes(&mut k);
        let mk = MasterKey::from_bytes(k);
        let v1 = Codec::v1(&mk, 64, true);
        let legacy = Codec::legacy(LegacyKeys::new(Key32::from_bytes(k)), 64, true);
        let id = FileId::random(&mut rng);
        let secret = Secret::Password(Password::new("pw"));
        let opts = NewConf {
            chunk_size: 64,
            encrypted_names: true,
            argon2: TINY,
        };
        let v1_conf = Conf::create_v1(&opts, &secret, &mut rng)
            .unwrap()
            .0
            .to_bytes();
        let (lc, _) = LegacyConf::create_password_with(
            &Password::new("pw"),
            64,
            true,
            [1; 32],
            2,
            [2; 16],
            &[3; 976],
        )
        .unwrap();
        let legacy_conf = lc.to_bytes();
        let slot = serde_json::to_vec(
            &KeySlot::password_with_salt(&mk, &Password::new("pw"), TINY, [4; 16]).unwrap(),
        )
        .unwrap();
        let files = |c: &Codec, rng: &mut ChaCha20Rng| -> Vec<Vec<u8>> {
            [0usize, 1, 63, 64, 65, 200]
                .iter()
                .map(|&n| {
                    let mut p = vec![0u8; n];
                    rng.fill_bytes(&mut p);
                    stream::encrypt_to_vec(c, &id, &p, Target::File, rng)
                })
                .collect()
        };
        let v1_files = files(&v1, &mut rng);
        let legacy_files = files(&legacy, &mut rng);
        let keys = V1Keys::derive(&mk);
        let names = ["a", "hello.txt", &"x".repeat(200)]
            .iter()
            .map(|n| name::encrypt(&keys.name, &DirIv([9; 16]), n).unwrap())
            .collect();
        let symlink = name::encrypt_symlink(&keys.name, link_at(), &[5; 16], b"../target");
        let legacy_names = ["a", "hello.txt", &"y".repeat(100)]
            .iter()
            .map(|n| legacy.encrypt_name(None, n, &mut rng).unwrap().0)
            .collect();
        Fixtures {
            v1,
            legacy,
            mk,
            id,
            v1_conf,
            legacy_conf,
            slot,
            v1_files,
            legacy_files,
            names,
            symlink,
            legacy_names,
        }
    })
}

/// Values that stress JSON field handling, all cheap to act on (no huge KDF costs).
fn weird_json(i: u8) -> serde_json::Value {
    use serde_json::json;
    match i % 16 {
        0 => json!(null),
        1 => json!(0),
        2 => json!(-1),
        3 => json!(1),
        4 => json!(17),
        5 => json!(4096),
        6 => json!(1.5),
        7 => json!(u64::MAX),
        8 => json!(""),
        9 => json!("AAAA"),
        10 => json!("not base64!"),
        11 => json!([]),
        12 => json!(["x"]),
        13 => json!({}),
        14 => json!(true),
        _ => json!(1u64 << 40),
    }
}

/// Replaces one field (top level or, for a conf, in a slot) and maybe deletes another.
fn mutate_json(bytes: &[u8], pick: usize, val: u8, delete: Option<usize>) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    let target = match v.get_mut("slots").and_then(|s| s.get_mut(0)) {
        Some(slot) if pick % 2 == 1 => slot,
        _ => &mut v,
    };
    if let Some(m) = target.as_object_mut() {
        let keys: Vec<String> = m.keys().cloned().collect();
        let k = &keys[pick / 2 % keys.len()];
        // Keep the KDF costs cheap: never set m_cost / iterations to a huge value.
        let val = if k.contains("iter") || k.contains("cost") {
            serde_json::json!(val % 8)
        } else {
            weird_json(val)
        };
        m.insert(k.clone(), val);
        if let Some(d) = delete {
            let k = &keys[d % keys.len()];
            m.remove(k);
        }
    }
    serde_json::to_vec(&v).unwrap()
}

fn check_conf(bytes: &[u8]) -> bool {
    if let Ok(c) = Conf::parse(bytes) {
        // Opening must not panic either (wrong password is fine).
        let _ = c.open(&Secret::Password(Password::new("pw")));
        let _ = c.to_bytes();
    }
    true
}

#[test]
fn conf_parse_arbitrary_bytes() {
    fn prop(b: Vec<u8>) -> bool {
        Conf::parse(&b).is_err()
    }
    qc(500).quickcheck(prop as fn(Vec<u8>) -> bool);
}

#[test]
fn conf_parse_mutated() {
    fn prop(ms: Vec<Mutation>, pick: usize, val: u8, delete: Option<usize>, legacy: bool) -> bool {
        let f = fx();
        let base = if legacy { &f.legacy_conf } else { &f.v1_conf };
        check_conf(&mutate(base.clone(), &ms)) && check_conf(&mutate_json(base, pick, val, delete))
    }
    qc(300).quickcheck(prop as fn(Vec<Mutation>, usize, u8, Option<usize>, bool) -> bool);
}

#[test]
fn key_slot_json() {
    fn prop(b: Vec<u8>, ms: Vec<Mutation>, pick: usize, val: u8, delete: Option<usize>) -> bool {
        let f = fx();
        let pw = Secret::Password(Password::new("pw"));
        for bytes in [
            b,
            mutate(f.slot.clone(), &ms),
            mutate_json(&f.slot, pick, val, delete),
        ] {
            if let Ok(s) = serde_json::from_slice::<KeySlot>(&bytes) {
                if s.validate().is_ok() {
                    let _ = s.unwrap_key(&pw);
                }
                let _ = s.describe();
            }
        }
        true
    }
    qc(300).quickcheck(prop as fn(Vec<u8>, Vec<Mutation>, usize, u8, Option<usize>) -> bool);
}

#[test]
fn header_and_trailer_decode() {
    fn prop(b: Vec<u8>) -> bool {
        let f = fx();
        let k = V1Keys::derive(&f.mk);
        let _ = header::decode(&b);
        // A random 40-byte string is not a valid trailer.
        trailer::decode(&k.trailer, &f.id, &b).is_err()
            && f.v1.decode_trailer(&f.id, b.len() as u64, &b).is_err()
    }
    qc(500).quickcheck(prop as fn(Vec<u8>) -> bool);
}

#[test]
fn decrypt_chunk_arbitrary() {
    fn prop(b: Vec<u8>, index: u64, plain_len: u8, ms: Vec<Mutation>) -> bool {
        let f = fx();
        let plain_len = plain_len as usize % 80;
        let valid = &f.v1_files[5][20..20 + 112];
        let lvalid = &f.legacy_files[5][..112];
        f.v1.decrypt_chunk(&f.id, index, &b, plain_len).is_err()
            && f.legacy.decrypt_chunk(&f.id, index, &b, plain_len).is_err()
            && (ms.is_empty()
                || f.v1
                    .decrypt_chunk(&f.id, 0, &mutate(valid.to_vec(), &ms), plain_len)
                    .is_err())
            && {
                let _ =
                    f.legacy
                        .decrypt_chunk(&f.id, index, &mutate(lvalid.to_vec(), &ms), plain_len);
                true
            }
    }
    qc(500).quickcheck(prop as fn(Vec<u8>, u64, u8, Vec<Mutation>) -> bool);
}

#[test]
fn names_and_symlinks() {
    fn prop(s: String, b: Vec<u8>, ms: Vec<Mutation>, which: u8) -> bool {
        let f = fx();
        let k = V1Keys::derive(&f.mk);
        let d = DirIv([9; 16]);
        let valid = &f.names[which as usize % f.names.len()];
        let lvalid = &f.legacy_names[which as usize % f.legacy_names.len()];
        let mutated =
            |v: &str| String::from_utf8_lossy(&mutate(v.as_bytes().to_vec(), &ms)).into_owned();
        let m = mutated(valid);
        let ok = name::decrypt(&k.name, &d, &s).is_err()
            && (m == *valid || name::decrypt(&k.name, &d, &m).is_err())
            && name::decrypt_symlink(&k.name, link_at(), &b).is_err();
        let sm = mutate(f.symlink.clone().into_bytes(), &ms);
        let ok = ok
            && (sm == f.symlink.as_bytes()
                || name::decrypt_symlink(&k.name, link_at(), &sm).is_err());
        // Legacy names have no MAC: garbage may decode; it must not panic.
        let _ = f.legacy.decrypt_name(None, &s);
        let _ = f.legacy.decrypt_name(None, &mutated(lvalid));
        let _ = f.v1.decrypt_name(Some(&d), &s);
        let _ = f.v1.decrypt_name(None, &s);
        ok
    }
    qc(500).quickcheck(prop as fn(String, Vec<u8>, Vec<Mutation>, u8) -> bool);
}

#[test]
fn streams_arbitrary_bytes() {
    fn prop(b: Vec<u8>) -> bool {
        let f = fx();
        let _ = stream::decrypt_to_vec(&f.legacy, &b);
        let _ = stream::verify(&f.legacy, &mut &b[..], &|_| {}).unwrap();
        stream::decrypt_to_vec(&f.v1, &b).is_err()
            && !stream::verify(&f.v1, &mut &b[..], &|_| {})
                .unwrap()
                .is_clean()
    }
    qc(300).quickcheck(prop as fn(Vec<u8>) -> bool);
}

#[test]
fn streams_mutated() {
    fn prop(which: u8, ms: Vec<Mutation>) -> bool {
        let f = fx();
        let i = which as usize % f.v1_files.len();
        let v = mutate(f.v1_files[i].clone(), &ms);
        let l = mutate(f.legacy_files[i].clone(), &ms);
        // Legacy: an edit of the unauthenticated trailer may give a shorter
        // valid file; it must not panic.
        let _ = stream::decrypt_to_vec(&f.legacy, &l);
        let _ = stream::verify(&f.legacy, &mut &l[..], &|_| {}).unwrap();
        let r = stream::verify(&f.v1, &mut &v[..], &|_| {}).unwrap();
        if v == f.v1_files[i] {
            return r.is_clean() && stream::decrypt_to_vec(&f.v1, &v).is_ok();
        }
        stream::decrypt_to_vec(&f.v1, &v).is_err() && !r.is_clean()
    }
    qc(300).quickcheck(prop as fn(u8, Vec<Mutation>) -> bool);
}

/// Legacy trailers are not authenticated: any u64 size must be handled
/// (in particular sizes whose stored size would overflow u64).
#[test]
fn legacy_huge_trailer_sizes() {
    let f = fx();
    for size in [u64::MAX, u64::MAX - 1, 1 << 63, 1 << 58, (1 << 57) + 1] {
        for base in &f.legacy_files {
            let mut s = base.clone();
            if s.len() < 8 {
                s = vec![0u8; 8];
            }
            let n = s.len();
            s[n - 8..].copy_from_slice(&size.to_le_bytes());
            assert!(
                stream::decrypt_to_vec(&f.legacy, &s).is_err(),
                "size {size}"
            );
            assert!(!stream::verify(&f.legacy, &mut &s[..], &|_| {})
                .unwrap()
                .is_clean());
        }
    }
}
