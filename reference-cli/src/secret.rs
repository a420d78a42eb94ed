//! Where passwords and keys come from: --key, -p, --password-file, --extpass,
//! FUSECRY_PASSWORD, or a no-echo prompt (asked twice when creating).
//! Passwords are zeroized on drop and never printed.

use crate::cli::SecretArgs;
use crate::exit::{fail, OTHER, WRONG_KEY};
use anyhow::{Context, Result};
use fusecry_format::{Password, Secret};
use std::io::IsTerminal;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use zeroize::Zeroizing;

/// Environment variable holding a password.
pub const ENV_PASSWORD: &str = "FUSECRY_PASSWORD";

/// FUSECRY_PASSWORD as found at start-up, moved out of the environment.
struct EnvPassword {
    /// The variable was set (even to something that is not UTF-8).
    present: bool,
    password: Option<Password>,
}

static ENV: OnceLock<EnvPassword> = OnceLock::new();

/// Moves FUSECRY_PASSWORD out of the environment, so that no process started
/// from here (the mount daemon, an --extpass program, fusermount3) inherits
/// it. Called first thing in `main`, while the process has a single thread:
/// changing the environment is only sound before others may read it.
pub fn take_env_password() {
    let value = std::env::var_os(ENV_PASSWORD);
    if value.is_some() {
        std::env::remove_var(ENV_PASSWORD);
    }
    let env = EnvPassword {
        present: value.is_some(),
        password: value
            .and_then(|v| v.into_string().ok())
            .map(|v| Password::new(Zeroizing::new(v).as_str())),
    };
    let _ = ENV.set(env);
}

/// True when FUSECRY_PASSWORD was set at start-up. The process's initial
/// environment block (`/proc/PID/environ`) still holds it then: removing a
/// variable does not erase that memory.
pub fn env_password_was_set() -> bool {
    ENV.get().is_some_and(|e| e.present)
}

fn first_line(mut s: Zeroizing<String>) -> Password {
    let end = s.find(['\n', '\r']).unwrap_or(s.len());
    s.truncate(end);
    Password::new(s.as_str())
}

/// Reads a password from the first line of a file.
pub fn from_file(path: &Path) -> Result<Password> {
    let s = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| crate::exit::io(path, "cannot read password file", e))?,
    );
    Ok(first_line(s))
}

fn from_extpass(cmd: &str) -> Result<Password> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| "running --extpass".to_string())?;
    if !out.status.success() {
        return Err(fail(
            OTHER,
            format!("--extpass program failed ({})", out.status),
        ));
    }
    let s = Zeroizing::new(
        String::from_utf8(out.stdout).map_err(|_| fail(OTHER, "--extpass output is not UTF-8"))?,
    );
    Ok(first_line(s))
}

fn prompt(label: &str) -> Result<Password> {
    if !std::io::stdin().is_terminal() {
        return Err(fail(
            WRONG_KEY,
            "no password given and no terminal to ask on: use --password-file, --extpass, FUSECRY_PASSWORD or -p",
        ));
    }
    let p = Zeroizing::new(rpassword::prompt_password(label)?);
    Ok(Password::new(p.as_str()))
}

/// A password from the non-interactive sources, if any was given.
fn given_password(a: &SecretArgs) -> Result<Option<Password>> {
    if let Some(p) = &a.password {
        return Ok(Some(Password::new(p.as_str())));
    }
    if let Some(f) = &a.password_file {
        return from_file(f).map(Some);
    }
    if let Some(c) = &a.extpass {
        return from_extpass(c).map(Some);
    }
    Ok(ENV.get().and_then(|e| e.password.clone()))
}

/// Reads an RSA key from a PEM file.
pub fn key_from_pem(path: &Path) -> Result<Secret> {
    let pem = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| crate::exit::io(path, "cannot read key", e))?,
    );
    Secret::from_pem(&pem).map_err(|e| crate::exit::at(path, e))
}

/// Reads an RSA key for a new key slot: one too short for a slot is refused
/// here, naming the key file, before anything is created.
pub fn key_for_slot(path: &Path) -> Result<Secret> {
    let s = key_from_pem(path)?;
    if let Some(k) = s.rsa_public() {
        fusecry_format::slots::check_slot_key(&k).map_err(|e| crate::exit::at(path, e))?;
    }
    Ok(s)
}

/// The secret to open an existing conf.
pub fn for_open(a: &SecretArgs) -> Result<Secret> {
    if let Some(k) = &a.key {
        return key_from_pem(k);
    }
    match given_password(a)? {
        Some(p) => Ok(Secret::Password(p)),
        None => Ok(Secret::Password(prompt("Password: ")?)),
    }
}

/// The secret for a new conf: prompts twice.
pub fn for_create(a: &SecretArgs) -> Result<Secret> {
    if let Some(k) = &a.key {
        return key_for_slot(k);
    }
    match given_password(a)? {
        Some(p) => Ok(Secret::Password(p)),
        None => new_password_prompt().map(Secret::Password),
    }
}

/// Asks for a new password twice.
pub fn new_password_prompt() -> Result<Password> {
    let a = prompt("New password: ")?;
    let b = prompt("Repeat new password: ")?;
    if a != b {
        return Err(fail(WRONG_KEY, "the passwords do not match"));
    }
    Ok(a)
}
