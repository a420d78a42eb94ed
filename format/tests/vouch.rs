//! SPEC §4.5: an RSA slot vouches for its conf only with a signature by its
//! private key over the conf's params_mac and the slot; a conf planted with
//! the victim's public key opens, but never vouches.

use fusecry_format::conf::ConfV1;
use fusecry_format::{Argon2Params, Conf, Error, MasterKey, NewConf, Password, Secret, Trust};
use fusecry_format::{KeySlot, Vouch};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::sync::OnceLock;

const OPTS: NewConf = NewConf {
    chunk_size: 4096,
    encrypted_names: true,
    argon2: Argon2Params {
        m_cost_kib: 64,
        t_cost: 1,
        p_cost: 1,
    },
};

/// The victim's key and an attacker's key, generated once for this binary.
fn keys() -> &'static (rsa::RsaPrivateKey, rsa::RsaPrivateKey) {
    static K: OnceLock<(rsa::RsaPrivateKey, rsa::RsaPrivateKey)> = OnceLock::new();
    K.get_or_init(|| {
        let mut rng = ChaCha20Rng::seed_from_u64(45);
        (
            rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap(),
            rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap(),
        )
    })
}

fn private(k: &rsa::RsaPrivateKey) -> Secret {
    Secret::RsaPrivate(Box::new(k.clone()))
}

fn public(k: &rsa::RsaPrivateKey) -> Secret {
    Secret::RsaPublic(Box::new(k.to_public_key()))
}

/// What the attacker writes: their own password slot and an RSA slot for
/// the victim's public key, around a master key they chose.
fn planted(mk: &MasterKey, rng: &mut ChaCha20Rng) -> ConfV1 {
    let mut c =
        ConfV1::create_with_master(mk, &OPTS, &Secret::Password(Password::new("attacker")), rng)
            .unwrap();
    c.add_slot(mk, &public(&keys().0), OPTS.argon2, rng)
        .unwrap();
    c
}

fn reparse(c: &ConfV1) -> ConfV1 {
    match Conf::parse(&Conf::V1(c.clone()).to_bytes()).unwrap() {
        Conf::V1(c) => c,
        Conf::Legacy(_) => unreachable!(),
    }
}

#[test]
fn rsa_conf_swap_opens_for_reading_but_never_vouches() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let c = reparse(&planted(&MasterKey::from_bytes([7; 32]), &mut rng));
    let (codec, trust) = Conf::V1(c.clone())
        .open_trusted(&private(&keys().0))
        .unwrap();
    assert!(codec.encrypted_names());
    assert_eq!(
        trust,
        Trust::Unvouched {
            slot: 1,
            key_fingerprint: c.slots[1].key_fingerprint().unwrap().to_string(),
            vouch: Vouch::Unsigned,
        }
    );
    assert_eq!(c.slot_vouch(0), Vouch::Password);
    assert_eq!(c.slot_vouch(1), Vouch::Unsigned);
    // The attacker's own password vouches: they chose the key.
    let (_, t) = Conf::V1(c)
        .open_trusted(&Secret::Password(Password::new("attacker")))
        .unwrap();
    assert_eq!(t, Trust::Vouched);
}

#[test]
fn a_slot_made_with_the_private_key_vouches_and_survives_a_reparse() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mk = MasterKey::from_bytes([8; 32]);
    let c = ConfV1::create_with_master(&mk, &OPTS, &private(&keys().0), &mut rng).unwrap();
    let c = reparse(&c);
    assert_eq!(c.slot_vouch(0), Vouch::Signed);
    let (_, t) = Conf::V1(c.clone())
        .open_trusted(&private(&keys().0))
        .unwrap();
    assert_eq!(t, Trust::Vouched);
    // Adding another slot (the signature does not cover the slot list).
    let mut c2 = c.clone();
    c2.add_slot(
        &mk,
        &Secret::Password(Password::new("pw")),
        OPTS.argon2,
        &mut rng,
    )
    .unwrap();
    assert_eq!(c2.slot_vouch(0), Vouch::Signed);
    // key add with a private key signs the new slot too.
    c2.add_slot(&mk, &private(&keys().1), OPTS.argon2, &mut rng)
        .unwrap();
    assert_eq!(reparse(&c2).slot_vouch(2), Vouch::Signed);
}

#[test]
fn a_signature_over_another_confs_commitment_is_rejected() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let victim = &keys().0;
    // The victim's genuine, vouched conf.
    let genuine = ConfV1::create_with_master(
        &MasterKey::from_bytes([1; 32]),
        &OPTS,
        &private(victim),
        &mut rng,
    )
    .unwrap();
    let KeySlot::Rsa {
        signature: Some(genuine_sig),
        ..
    } = &genuine.slots[0]
    else {
        panic!("signed slot")
    };
    // The attacker's planted conf: copying the genuine signature fails (it
    // covers the wrapped key and params_mac), and so does a signature by
    // the victim's key over the genuine conf's params_mac.
    let mut c = planted(&MasterKey::from_bytes([2; 32]), &mut rng);
    let set_signature = |c: &mut ConfV1, sig: Vec<u8>| {
        if let KeySlot::Rsa { signature, .. } = &mut c.slots[1] {
            *signature = Some(sig);
        }
    };
    set_signature(&mut c, genuine_sig.clone());
    assert_eq!(reparse(&c).slot_vouch(1), Vouch::BadSignature);
    let KeySlot::Rsa {
        key_fingerprint,
        public_key,
        wrapped_key,
        ..
    } = &c.slots[1]
    else {
        panic!("rsa slot")
    };
    let m = fusecry_format::vouch::message(
        &genuine.params_mac,
        key_fingerprint,
        public_key,
        wrapped_key,
    );
    set_signature(
        &mut c,
        fusecry_format::vouch::sign(victim, &m, &mut rng).unwrap(),
    );
    let c = reparse(&c);
    assert_eq!(c.slot_vouch(1), Vouch::BadSignature);
    let (_, t) = Conf::V1(c).open_trusted(&private(victim)).unwrap();
    assert!(!t.vouched());
    // Moving the whole genuine slot into the planted conf: it unwraps the
    // genuine master key, which fails the planted params_mac.
    let mut moved = planted(&MasterKey::from_bytes([2; 32]), &mut rng);
    moved.slots[1] = genuine.slots[0].clone();
    let e = Conf::V1(reparse(&moved))
        .open_trusted(&private(victim))
        .unwrap_err();
    assert!(matches!(e, Error::ConfCorrupt(_)), "{e:?}");
}

#[test]
fn vouch_slot_signs_only_what_it_checked() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let mk = MasterKey::from_bytes([3; 32]);
    let mut c = planted(&mk, &mut rng);
    // Another master key than the conf's: refused, nothing signed.
    let e = c
        .vouch_slot(1, &MasterKey::from_bytes([4; 32]), &keys().0, &mut rng)
        .unwrap_err();
    assert!(matches!(e, Error::ConfCorrupt(_)), "{e:?}");
    // Not this key's slot (the password slot, or another key).
    assert!(c.vouch_slot(0, &mk, &keys().0, &mut rng).is_err());
    assert!(c.vouch_slot(1, &mk, &keys().1, &mut rng).is_err());
    assert_eq!(c.slot_vouch(1), Vouch::Unsigned);
    // The owner vouching explicitly, with the key that opens the slot.
    c.vouch_slot(1, &mk, &keys().0, &mut rng).unwrap();
    assert_eq!(reparse(&c).slot_vouch(1), Vouch::Signed);
}

#[test]
fn rsa_slot_fields_are_checked_without_a_secret() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let c = ConfV1::create_with_master(
        &MasterKey::from_bytes([5; 32]),
        &OPTS,
        &private(&keys().0),
        &mut rng,
    )
    .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&Conf::V1(c.clone()).to_bytes()).unwrap();
    let corrupt = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = json.clone();
        f(&mut v["slots"][0]);
        match Conf::parse(&serde_json::to_vec(&v).unwrap()) {
            Err(Error::ConfCorrupt(m)) => m,
            other => panic!("expected ConfCorrupt, got {other:?}"),
        }
    };
    let other_spki = fusecry_format::slots::spki_der(&keys().1.to_public_key()).unwrap();
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let m = corrupt(&|s| s["public_key"] = b64(&other_spki).into());
    assert!(m.contains("fingerprint"), "{m}");
    let m = corrupt(&|s| s["public_key"] = b64(b"not a key").into());
    assert!(m.contains("public_key"), "{m}");
    let m = corrupt(&|s| s["wrapped_key"] = b64(&[0u8; 255]).into());
    assert!(m.contains("modulus"), "{m}");
    corrupt(&|s| s["signature"] = serde_json::Value::Null);
    corrupt(&|s| {
        s.as_object_mut().unwrap().remove("public_key");
    });
    // A signature that is merely wrong is not corruption: the slot opens
    // and does not vouch.
    let mut v = json.clone();
    v["slots"][0]["signature"] = b64(&[1u8; 256]).into();
    let Conf::V1(c) = Conf::parse(&serde_json::to_vec(&v).unwrap()).unwrap() else {
        unreachable!()
    };
    assert_eq!(c.slot_vouch(0), Vouch::BadSignature);
}
