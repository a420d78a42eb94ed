//! Limits a reader or writer enforces at the edges: RSA key sizes counted
//! in modulus bits (SPEC §4.3), long-name sidecars that must hold long
//! encodings (SPEC §10).

use fusecry_format::name::{self, DirIv};
use fusecry_format::{Codec, Error, KeySlot, MasterKey};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

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
