//! `fusecry encrypt|decrypt IN OUT`: one file. The output is written to a
//! temporary file beside OUT and renamed into place only on success, so a
//! failed decryption never leaves unauthenticated plaintext behind.

use crate::cli::FileArgs;
use crate::confio;
use crate::exit::{at, fail, MISSING, OTHER};
use crate::progress::Progress;
use crate::rng::CliRng;
use anyhow::Result;
use fusecry_format::stream::{self, Target};
use fusecry_format::{Codec, FileId};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

fn with_ext(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push(".fcry");
    PathBuf::from(s)
}

fn open_input(p: &Path) -> Result<File> {
    File::open(p).map_err(|e| crate::exit::io(p, "cannot open input", e))
}

/// Writes OUT through a temporary file, persisted only if `body` succeeds.
fn write_output(out: &Path, body: impl FnOnce(&mut BufWriter<&File>) -> Result<()>) -> Result<()> {
    confio::replace_via_temp(out, |f| {
        let mut w = BufWriter::with_capacity(1 << 20, f);
        body(&mut w)?;
        w.flush()?;
        Ok(())
    })
}

pub fn encrypt(a: FileArgs) -> Result<()> {
    let mut rng = CliRng::new(a.test_seed)?;
    let mut input = open_input(&a.input)?;
    // A conf found beside the data may have been put there by whoever
    // stores it (SPEC §4.5): encrypt uses an existing conf only when it is
    // named with -c, and otherwise creates OUT.fcry.
    let conf_path = match &a.conf {
        Some(c) => c.clone(),
        None => {
            let c = with_ext(&a.output);
            if c.exists() {
                return Err(fail(
                    OTHER,
                    format!("{p}: exists: pass -c {p} to use it", p = c.display()),
                ));
            }
            c
        }
    };
    let codec: Codec = if conf_path.exists() {
        crate::trust::open_for_writing(&conf_path, &a.secret, a.trust)?.1
    } else {
        let backing = a.output.parent().map(Path::to_path_buf).unwrap_or_default();
        confio::create(&conf_path, &backing, &a.create, &a.secret)?.1
    };
    let len = input.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = Progress::new(len, "encrypting");
    write_output(&a.output, |w| {
        let id = FileId::random(&mut rng);
        stream::encrypt(&codec, &id, &mut input, w, Target::File, &mut rng, &|n| {
            progress.set(n)
        })
        .map_err(|e| at(&a.input, e))?;
        Ok(())
    })?;
    progress.finish();
    Ok(())
}

pub fn decrypt(a: FileArgs) -> Result<()> {
    let mut input = open_input(&a.input)?;
    let conf_path = match &a.conf {
        Some(c) => c.clone(),
        None if with_ext(&a.input).exists() => with_ext(&a.input),
        None if with_ext(&a.output).exists() => with_ext(&a.output),
        None => {
            return Err(fail(
                MISSING,
                format!(
                    "{}: no conf found (tried -c, {} and {})",
                    a.input.display(),
                    with_ext(&a.input).display(),
                    with_ext(&a.output).display()
                ),
            ))
        }
    };
    let (_, codec) = confio::open(&conf_path, &a.secret)?;
    let len = input.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = Progress::new(len, "decrypting");
    write_output(&a.output, |w| {
        stream::decrypt(&codec, &mut input, w, &|n| progress.set(n))
            .map_err(|e| at(&a.input, e))?;
        Ok(())
    })?;
    progress.finish();
    Ok(())
}
