//! `fusecry stream encrypt|decrypt -c CONF`: stdin to stdout, constant memory.

use crate::cli::{StreamArgs, StreamCommand};
use crate::confio;
use crate::exit::at;
use crate::rng::CliRng;
use anyhow::Result;
use fusecry_format::stream::{self, Target};
use fusecry_format::FileId;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::AsFd;
use std::path::Path;

/// stdin and stdout as plain files on duplicated descriptors: the batches
/// are megabytes, so std's line-buffered `Stdout` (which scans every write
/// for newlines) and 8 KiB `Stdin` buffer only add copies and syscalls.
fn raw_stdio() -> std::io::Result<(File, File)> {
    let input = std::io::stdin().as_fd().try_clone_to_owned()?;
    let output = std::io::stdout().as_fd().try_clone_to_owned()?;
    Ok((File::from(input), File::from(output)))
}

pub fn run(c: StreamCommand) -> Result<()> {
    match c {
        StreamCommand::Encrypt(a) => encrypt(a),
        StreamCommand::Decrypt(a) => decrypt(a),
    }
}

fn encrypt(a: StreamArgs) -> Result<()> {
    let mut rng = CliRng::new(a.test_seed)?;
    // As in 0.11, `stream encrypt` creates the conf when it does not exist.
    let codec = if a.conf.exists() {
        crate::trust::open_for_writing(&a.conf, &a.secret, a.trust)?.1
    } else {
        let cwd = Path::new(".");
        confio::create(&a.conf, cwd, &a.create, &a.secret)?.1
    };
    let (mut input, output) = raw_stdio()?;
    // Batches bypass the buffer; it only joins the small header and trailer.
    let mut w = BufWriter::with_capacity(1 << 16, output);
    let id = FileId::random(&mut rng);
    stream::encrypt(
        &codec,
        &id,
        &mut input,
        &mut w,
        Target::Stream,
        &mut rng,
        &|_| {},
    )
    .map_err(|e| at(Path::new("<stdin>"), e))?;
    w.flush()?;
    Ok(())
}

fn decrypt(a: StreamArgs) -> Result<()> {
    let (_, codec) = confio::open(&a.conf, &a.secret)?;
    let (mut input, output) = raw_stdio()?;
    let mut w = BufWriter::with_capacity(1 << 16, output);
    let r = stream::decrypt(&codec, &mut input, &mut w, &|_| {});
    // Verified chunks already written stay written; the exit code tells the rest.
    w.flush()?;
    r.map_err(|e| at(Path::new("<stdin>"), e))?;
    Ok(())
}
