//! Conf and key-slot decoders of both profiles must return errors, never panic.
//!
//! The input is a conf file. `Conf::parse` (which validates) runs on it;
//! what parses must re-encode to itself. Then it is opened with every secret
//! that is cheap to try: the passwords "fuzz" and "conformance password"
//! (fusecry/1: only when every password slot's Argon2id cost is tiny, as in
//! the conformance vectors; legacy: only with at most 2000 PBKDF2
//! iterations), the conformance RSA private keys of both profiles (RSA-OAEP
//! slots, legacy textbook RSA) and their public halves. The input is also
//! decoded as a single `KeySlot` (`validate` and a serde round trip).
#![no_main]
use fusecry_format::conf::Conf;
use fusecry_format::legacy::LegacyAuth;
use fusecry_format::{KeySlot, Password, Profile, Secret};
use fusecry_format_fuzz::PASSWORDS;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const V1_RSA: &str = include_str!("../../../conformance/vectors/conf_v1_rsa_valid.json");
const LEGACY_RSA: &str = include_str!("../../../conformance/vectors/conf_legacy_rsa_valid.json");

fn pem(vector: &str) -> Secret {
    let v: serde_json::Value = serde_json::from_str(vector).expect("vector JSON");
    Secret::from_pem(v["key_pem"].as_str().expect("key_pem")).expect("vector key")
}

/// Private and public halves of the two conformance RSA keys.
fn rsa_secrets() -> &'static [Secret] {
    static S: OnceLock<Vec<Secret>> = OnceLock::new();
    S.get_or_init(|| {
        let mut out = vec![];
        for v in [V1_RSA, LEGACY_RSA] {
            let private = pem(v);
            let public = Secret::RsaPublic(Box::new(private.rsa_public().expect("rsa")));
            out.push(private);
            out.push(public);
        }
        out
    })
}

fn cheap(conf: &Conf) -> bool {
    match conf {
        Conf::V1(c) => c.slots.iter().all(|s| match s {
            KeySlot::Password {
                m_cost_kib,
                t_cost,
                p_cost,
                ..
            } => *m_cost_kib <= 256 && *t_cost <= 2 && *p_cost <= 4,
            _ => true,
        }),
        Conf::Legacy(c) => match c.auth {
            LegacyAuth::Password { iterations, .. } => iterations <= 2000,
            LegacyAuth::Rsakey { .. } => true,
        },
    }
}

fn try_open(conf: &Conf, secret: &Secret) {
    match conf.open(secret) {
        Ok(codec) => {
            assert!(
                !matches!(secret, Secret::RsaPublic(_)),
                "a public key opened a conf"
            );
            assert_eq!(codec.chunk_size(), conf.chunk_size());
            assert_eq!(codec.encrypted_names(), conf.encrypted_names());
            let p = match conf {
                Conf::V1(_) => Profile::V1,
                Conf::Legacy(_) => Profile::Legacy,
            };
            assert_eq!(codec.profile(), p);
            if let Conf::V1(c) = conf {
                let (i, _) = c.unlock_slot(secret).expect("opened once");
                assert!(i < c.slots.len());
            }
        }
        Err(e) => {
            let _ = (e.class(), e.is_integrity(), e.to_string());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(conf) = Conf::parse(data) {
        let bytes = conf.to_bytes();
        let again = Conf::parse(&bytes).expect("a parsed conf re-encodes to a valid one");
        assert_eq!(again, conf, "conf does not survive to_bytes/parse");
        let _ = conf.profile_name();
        if let Conf::V1(c) = &conf {
            c.validate().expect("parse validated it");
            let _ = c.params_bytes();
            for s in &c.slots {
                let _ = s.describe();
            }
        }
        if cheap(&conf) {
            for pw in PASSWORDS {
                try_open(&conf, &Secret::Password(Password::new(pw)));
            }
        }
        for s in rsa_secrets() {
            try_open(&conf, s);
        }
    }
    if let Ok(slot) = serde_json::from_slice::<KeySlot>(data) {
        let _ = slot.validate();
        let j = serde_json::to_vec(&slot).expect("serializable");
        assert_eq!(
            serde_json::from_slice::<KeySlot>(&j).expect("re-parse"),
            slot
        );
    }
});
