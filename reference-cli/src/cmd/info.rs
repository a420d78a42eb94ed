//! `fusecry info CONF|DIR [--json]` and `fusecry info --schema`.

use crate::cli::InfoArgs;
use crate::confio;
use anyhow::Result;
use fusecry_format::legacy::LegacyAuth;
use fusecry_format::slots::hexlower;
use fusecry_format::{Conf, KeySlot};
use serde_json::{json, Value};

/// Printed for every legacy conf.
pub const LEGACY_WARNING: &str = "warning: legacy 0.11 profile: chunks are not bound to their file or position, the size trailer and names are not authenticated; `fusecry migrate` copies it into a fusecry/1 volume";
/// Printed for every conf whose names are stored in the clear.
pub const PLAIN_NAMES_WARNING: &str = "warning: plain names: every file and directory name and symlink target is readable by whoever holds the ciphertext; `fusecry migrate` copies the volume into one with encrypted names";

/// One key slot as `info` shows it (SPEC §4.5: every slot with its type,
/// RSA fingerprint and whether it vouches for the conf; no secret needed).
struct Slot {
    text: String,
    json: Value,
}

fn slots(conf: &Conf) -> Vec<Slot> {
    match conf {
        Conf::V1(c) => c
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let vouch = c.slot_vouch(i);
                let kind = match s {
                    KeySlot::Password { .. } => "password",
                    KeySlot::Rsa { .. } => "rsa",
                };
                Slot {
                    text: format!("{}, {}", s.describe(), vouch.describe()),
                    json: json!({
                        "type": kind,
                        "description": s.describe(),
                        "key_fingerprint": s.key_fingerprint(),
                        "vouched": vouch.vouched(),
                        "vouch": vouch.describe(),
                    }),
                }
            })
            .collect(),
        Conf::Legacy(c) => {
            let (kind, text) = match &c.auth {
                LegacyAuth::Password { iterations, .. } => (
                    "password",
                    format!("password (PBKDF2-HMAC-SHA1, {iterations} iterations, latin-1)"),
                ),
                LegacyAuth::Rsakey { key_size, .. } => (
                    "rsakey",
                    format!("rsa (textbook, {key_size}-byte modulus), read-only: anyone with the public key can write such a conf"),
                ),
            };
            vec![Slot {
                json: json!({
                    "type": kind,
                    "description": text,
                    "key_fingerprint": null,
                    "vouched": kind == "password",
                }),
                text,
            }]
        }
    }
}

pub fn run(a: InfoArgs) -> Result<()> {
    if a.schema {
        println!(
            "{}",
            serde_json::to_string_pretty(&fusecry_format::conf::json_schema())?
        );
        return Ok(());
    }
    let path = confio::conf_path(a.conf.as_deref().expect("clap requires it"));
    let conf = confio::load(&path)?;
    let slots = slots(&conf);
    let (version, commitment) = match &conf {
        Conf::V1(c) => (c.format.clone(), Some(hexlower(&c.params_mac))),
        Conf::Legacy(c) => (c.version.clone(), None),
    };
    let warnings: Vec<&str> = [
        (matches!(conf, Conf::Legacy(_)), LEGACY_WARNING),
        (!conf.encrypted_names(), PLAIN_NAMES_WARNING),
    ]
    .into_iter()
    .filter_map(|(on, w)| on.then_some(w))
    .collect();
    if a.json {
        let v = json!({
            "conf": path,
            "profile": conf.profile_name(),
            "version": version,
            "chunk_size": conf.chunk_size(),
            "encrypted_names": conf.encrypted_names(),
            "master_key_commitment": commitment,
            "slots": slots.iter().map(|s| &s.json).collect::<Vec<_>>(),
            "warnings": warnings,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("conf:            {}", path.display());
    println!(
        "profile:         {} (version {version})",
        conf.profile_name()
    );
    println!("chunk size:      {}", conf.chunk_size());
    println!(
        "names:           {}",
        if conf.encrypted_names() {
            "encrypted"
        } else {
            "plain"
        }
    );
    if let Some(c) = &commitment {
        // params_mac: compare it with the owner's `info` to know it is the same conf.
        println!("commitment:      {c} (params_mac)");
    }
    for (i, s) in slots.iter().enumerate() {
        println!("key slot {i}:      {}", s.text);
    }
    for w in warnings {
        println!("{w}");
    }
    Ok(())
}
