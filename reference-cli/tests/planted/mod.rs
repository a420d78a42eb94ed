//! Confs an attacker who stores the ciphertext can plant with nothing but the
//! victim's RSA public key (SPEC §4.5, §14), for cli.rs and mount.rs.

use fusecry_format::conf::ConfV1;
use fusecry_format::keys::Key32;
use fusecry_format::legacy::{chunk::make_sample, LegacyAuth, LegacyConf, LegacyKeys};
use fusecry_format::{Argon2Params, Conf, MasterKey, NewConf, Password, Secret};
use rand_core::{OsRng, RngCore};
use std::path::Path;
use std::process::{Command, Stdio};

/// The attacker's own password in the confs they plant.
pub const ATTACKER_PW: &str = "attacker password";

/// Runs `openssl ARGS` in `dir` (test.sh installs it); it must succeed.
pub fn openssl(dir: &Path, args: &[&str]) {
    let st = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl must be installed (test.sh installs it)");
    assert!(st.success(), "openssl {args:?} failed");
}

/// Writes the victim's key pair `k.pem` (private) and `pub.pem` into `dir`
/// (openssl: far faster than generating a key in the test).
pub fn victim_keys(dir: &Path) {
    openssl(dir, &["genrsa", "-out", "k.pem", "2048"]);
    openssl(dir, &["rsa", "-in", "k.pem", "-pubout", "-out", "pub.pem"]);
}

/// The key in `dir/NAME` (PEM).
pub fn key(dir: &Path, name: &str) -> Secret {
    Secret::from_pem(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
}

fn victim_public(dir: &Path) -> rsa::RsaPublicKey {
    key(dir, "pub.pem").rsa_public().unwrap()
}

/// A fusecry/1 conf around a master key the attacker chose: the attacker's
/// password slot, then an RSA slot for the victim's public key (unsigned:
/// the attacker cannot sign). Returns the conf and its master key.
pub fn rsa_conf_swap(dir: &Path) -> (ConfV1, MasterKey) {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    let mk = MasterKey::from_bytes(b);
    let opts = NewConf {
        chunk_size: 4096,
        encrypted_names: true,
        argon2: Argon2Params {
            m_cost_kib: 64,
            t_cost: 1,
            p_cost: 1,
        },
    };
    let pw = Secret::Password(Password::new(ATTACKER_PW));
    let mut c = ConfV1::create_with_master(&mk, &opts, &pw, &mut OsRng).unwrap();
    let victim = Secret::RsaPublic(Box::new(victim_public(dir)));
    c.add_slot(&mk, &victim, opts.argon2, &mut OsRng).unwrap();
    (c, mk)
}

/// A legacy 0.11 `rsakey` conf for the victim's public key around a key `K`
/// the attacker chose: `enc_key = K^e mod n` and the sample under `K` need
/// no secret. Returns the conf bytes and the legacy keys.
pub fn legacy_rsa_conf(dir: &Path) -> (Vec<u8>, LegacyKeys) {
    use rsa::traits::PublicKeyParts;
    let public = victim_public(dir);
    let mut k = [0u8; 32];
    OsRng.fill_bytes(&mut k);
    let enc = rsa::hazmat::rsa_encrypt(&public, &rsa::BigUint::from_bytes_be(&k)).unwrap();
    let keys = LegacyKeys::new(Key32::from_bytes(k));
    let (mut iv, mut plain) = ([0u8; 16], [0u8; 976]);
    OsRng.fill_bytes(&mut iv);
    OsRng.fill_bytes(&mut plain);
    let conf = LegacyConf {
        version: "0.11.2".into(),
        chunk_size: 4096,
        enc_path: false,
        auth: LegacyAuth::Rsakey {
            key_size: public.size() as u32,
            // Left-padded to the modulus length, as 0.11 wrote it.
            enc_key: {
                let b = enc.to_bytes_be();
                [vec![0; public.size() - b.len()], b].concat()
            },
        },
        sample: make_sample(&keys, &iv, &plain),
    };
    (Conf::Legacy(conf).to_bytes(), keys)
}
