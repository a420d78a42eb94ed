//! Limits a reader or writer enforces at the edges: RSA key sizes counted
//! in modulus bits (SPEC §4.3), long-name sidecars that must hold long
//! encodings (SPEC §10), and the caps that bound an unlock (SPEC §4.1, §5,
//! §15.1), each refused before any key derivation.

use fusecry_format::kdf::{ARGON2_MAX_COST, ARGON2_MAX_M_COST_KIB, LEGACY_MAX_ITERATIONS};
use fusecry_format::legacy::{LegacyAuth, LegacyConf};
use fusecry_format::name::{self, DirIv};
use fusecry_format::slots::MAX_SLOTS;
use fusecry_format::{
    Argon2Params, Codec, Conf, ConfV1, Error, KeySlot, MasterKey, NewConf, Password, Secret,
};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::time::Instant;

#[test]
fn rsa_slots_need_a_2048_bit_modulus_counted_in_bits() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let mk = MasterKey::from_bytes([4; 32]);
    // 2047 bits occupy 256 bytes, like 2048: only counting bits refuses it.
    let small = rsa::RsaPrivateKey::new(&mut rng, 2047).unwrap();
    assert_eq!(
        rsa::traits::PublicKeyParts::size(&small.to_public_key()),
        256
    );
    let e = KeySlot::rsa(&mk, &small.to_public_key(), &mut rng).unwrap_err();
    assert!(matches!(e, Error::BadRsaKey(_)), "{e:?}");
    let ok = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
    KeySlot::rsa(&mk, &ok.to_public_key(), &mut rng).unwrap();
}

#[test]
fn a_sidecar_with_a_short_encoding_is_a_bad_name() {
    let codec = Codec::v1(&MasterKey::from_bytes([5; 32]), 4096, true);
    let iv = DirIv([6; 16]);
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let (short, none) = codec.encrypt_name(Some(&iv), "a.txt", &mut rng).unwrap();
    assert!(none.is_none());
    let disk = name::long_disk_name(&short);
    assert!(matches!(
        name::check_sidecar(&disk, &short),
        Err(Error::BadName(_))
    ));
    let (long_disk, side) = codec
        .encrypt_name(Some(&iv), &"n".repeat(200), &mut rng)
        .unwrap();
    name::check_sidecar(&long_disk, &side.unwrap()).unwrap();
}

const CHEAP: Argon2Params = Argon2Params {
    m_cost_kib: 64,
    t_cost: 1,
    p_cost: 1,
};

fn pw() -> Secret {
    Secret::Password(Password::new("limits"))
}

/// A fusecry/1 conf with one cheap password slot, and its master key.
fn v1_conf() -> (ConfV1, MasterKey) {
    let mut rng = ChaCha20Rng::seed_from_u64(13);
    let mk = MasterKey::from_bytes([7; 32]);
    let opts = NewConf {
        chunk_size: 4096,
        encrypted_names: true,
        argon2: CHEAP,
    };
    (
        ConfV1::create_with_master(&mk, &opts, &pw(), &mut rng).unwrap(),
        mk,
    )
}

fn with_params(m: u32, t: u32, p: u32) -> Argon2Params {
    Argon2Params {
        m_cost_kib: m,
        t_cost: t,
        p_cost: p,
    }
}

#[track_caller]
fn conf_corrupt<T: std::fmt::Debug>(r: Result<T, Error>, says: &str) {
    match r {
        Err(Error::ConfCorrupt(m)) => assert!(m.contains(says), "{m:?} lacks {says:?}"),
        other => panic!("expected ConfCorrupt({says:?}), got {other:?}"),
    }
}

#[test]
fn argon2id_cost_caps_and_the_default_well_inside() {
    let max_m = ARGON2_MAX_M_COST_KIB;
    for ok in [
        Argon2Params::default(),
        with_params(max_m, 4, 4),
        with_params(max_m / 4, 16, 1),
        with_params(65536, 64, 64),
        with_params(8, 100, 1),
    ] {
        ok.validate().unwrap();
    }
    let d = Argon2Params::default();
    assert!(u64::from(d.m_cost_kib) * u64::from(d.t_cost) * 20 < ARGON2_MAX_COST);
    for (bad, says) in [
        (with_params(max_m + 8, 1, 1), "over the limit"),
        (with_params(max_m, 5, 4), "over the limit"),
        (with_params(4 * 1024 * 1024, 100, 4), "over the limit"),
        (with_params(65536, 101, 4), "out of range"),
        (with_params(65536, 3, 65), "out of range"),
        (with_params(8, 1, 2), "out of range"),
    ] {
        conf_corrupt(bad.validate(), says);
    }
}

/// A slot asking for 4 GiB × 100 passes (the old maximum: hours of work) is
/// refused when the conf is parsed, and `unlock` refuses it without running
/// the cheap slot before it either.
#[test]
fn a_conf_asking_too_much_is_refused_before_any_derivation() {
    let (mut c, _) = v1_conf();
    let mut greedy = c.slots[0].clone();
    if let KeySlot::Password {
        m_cost_kib, t_cost, ..
    } = &mut greedy
    {
        *m_cost_kib = 4 * 1024 * 1024;
        *t_cost = 100;
    }
    c.slots.push(greedy);
    let bytes = Conf::V1(c.clone()).to_bytes();
    let start = Instant::now();
    conf_corrupt(
        Conf::parse(&bytes),
        "key slot 1: argon2id cost over the limit",
    );
    conf_corrupt(c.unlock(&pw()), "key slot 1");
    conf_corrupt(
        fusecry_format::slots::unwrap_any(&c.slots, &pw()),
        "over the limit",
    );
    println!("refused in {:?}", start.elapsed());
}

#[test]
fn at_most_32_slots() {
    let (mut c, mk) = v1_conf();
    let slot = c.slots[0].clone();
    c.slots = vec![slot.clone(); MAX_SLOTS];
    let full = Conf::V1(c.clone());
    let parsed = Conf::parse(&full.to_bytes()).unwrap();
    parsed.open(&pw()).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(14);
    conf_corrupt(c.add_slot(&mk, &pw(), CHEAP, &mut rng), "at most 32");
    assert_eq!(c.slots.len(), MAX_SLOTS);
    c.slots.push(slot);
    conf_corrupt(Conf::parse(&Conf::V1(c.clone()).to_bytes()), "33 key slots");
    conf_corrupt(c.unlock(&pw()), "33 key slots");
    conf_corrupt(
        fusecry_format::slots::unwrap_any(&c.slots, &pw()),
        "33 key slots",
    );
}

#[test]
fn legacy_iteration_count_cap() {
    let (lc, _) = LegacyConf::create_password_with(
        &Password::new("limits"),
        4096,
        false,
        [1; 32],
        60000,
        [2; 16],
        &[3; 976],
    )
    .unwrap();
    let with_iters = |n: u64| -> Vec<u8> {
        let mut v: serde_json::Value = serde_json::from_slice(&lc.to_bytes()).unwrap();
        v["kdf_iters"] = n.into();
        serde_json::to_vec(&v).unwrap()
    };
    let max = u64::from(LEGACY_MAX_ITERATIONS);
    for ok in [1, 60000, 80000, max] {
        Conf::parse(&with_iters(ok)).unwrap();
    }
    for bad in [0, max + 1, u64::from(u32::MAX), u64::from(u32::MAX) + 1] {
        conf_corrupt(Conf::parse(&with_iters(bad)), "kdf_iters");
    }
    // A struct built by hand is checked again where the key is derived.
    let mut hand = lc.clone();
    hand.auth = LegacyAuth::Password {
        salt: vec![1; 32],
        iterations: u32::MAX,
    };
    let start = Instant::now();
    conf_corrupt(hand.open(&pw()), "kdf_iters");
    println!("refused in {:?}", start.elapsed());
}

#[test]
fn a_conf_over_1_mib_is_refused_before_parsing() {
    let (c, _) = v1_conf();
    let mut bytes = Conf::V1(c).to_bytes();
    Conf::parse(&bytes).unwrap();
    // Trailing whitespace is valid JSON: only the size refuses it.
    bytes.resize(fusecry_format::conf::MAX_CONF_BYTES, b' ');
    Conf::parse(&bytes).unwrap();
    bytes.push(b' ');
    conf_corrupt(Conf::parse(&bytes), "at most 1048576");
}

#[test]
fn the_largest_file_fits_a_signed_64_bit_offset() {
    use fusecry_format::layout::MAX_STORED;
    for cs in [16u64, 4096, 65536, 1 << 20] {
        let codec = Codec::v1(&MasterKey::from_bytes([4; 32]), cs, true);
        let l = *codec.layout();
        let max = l.max_size();
        assert_eq!(max % cs, 0, "cs {cs}");
        assert!(l.stored_size(max) <= MAX_STORED, "cs {cs}");
        // One more chunk would not fit.
        assert!(l.stored_size(max + cs) > MAX_STORED, "cs {cs}");
        assert!(l.stored_size(max + cs) < u64::MAX, "cs {cs}: no saturation");
    }
    let l = *Codec::v1(&MasterKey::from_bytes([4; 32]), 4096, true).layout();
    assert_eq!(l.max_size(), 9_116_537_611_717_459_968);
}
