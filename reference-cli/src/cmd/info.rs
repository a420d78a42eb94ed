//! `fusecry info CONF|DIR [--json]` and `fusecry info --schema`.

use crate::cli::InfoArgs;
use crate::confio;
use anyhow::Result;
use fusecry_format::legacy::LegacyAuth;
use fusecry_format::Conf;
use serde_json::json;

/// Printed for every legacy conf.
pub const LEGACY_WARNING: &str = "warning: legacy 0.11 profile: chunks are not bound to their file or position, the size trailer and names are not authenticated; `fusecry migrate` copies it into a fusecry/1 volume";

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
    let slots: Vec<String> = match &conf {
        Conf::V1(c) => c.slots.iter().map(|s| s.describe()).collect(),
        Conf::Legacy(c) => vec![match &c.auth {
            LegacyAuth::Password { iterations, .. } => {
                format!("password (PBKDF2-HMAC-SHA1, {iterations} iterations, latin-1)")
            }
            LegacyAuth::Rsakey { key_size, .. } => {
                format!("rsa (textbook, {key_size}-byte modulus)")
            }
        }],
    };
    let version = match &conf {
        Conf::V1(c) => c.format.clone(),
        Conf::Legacy(c) => c.version.clone(),
    };
    if a.json {
        let v = json!({
            "conf": path,
            "profile": conf.profile_name(),
            "version": version,
            "chunk_size": conf.chunk_size(),
            "encrypted_names": conf.encrypted_names(),
            "slots": slots,
            "warning": matches!(conf, Conf::Legacy(_)).then_some(LEGACY_WARNING),
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
    for (i, s) in slots.iter().enumerate() {
        println!("key slot {i}:      {s}");
    }
    if let Conf::Legacy(_) = conf {
        println!("{LEGACY_WARNING}");
    }
    Ok(())
}
