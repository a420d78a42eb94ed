//! `fusecry-conformance generate --out DIR [--seed N]`: writes the vectors;
//! `fusecry-conformance check [DIR]`: plays them against the library.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// The seed the checked-in vectors were made with.
const DEFAULT_SEED: u64 = 20261128;

#[derive(Parser)]
#[command(name = "fusecry-conformance", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write every vector (deterministic for a given seed).
    Generate {
        /// Output directory (its old vectors are replaced).
        #[arg(long)]
        out: PathBuf,
        /// Run seed.
        #[arg(long, default_value_t = DEFAULT_SEED)]
        seed: u64,
    },
    /// Play every vector of DIR against the format library.
    Check {
        /// Vector directory (default: the repository's).
        dir: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Generate { out, seed } => {
            let n = fusecry_conformance::generate::generate(&out, seed)?;
            eprintln!("wrote {n} vectors to {}", out.display());
        }
        Cmd::Check { dir } => {
            let dir = dir.unwrap_or_else(fusecry_conformance::vectors_dir);
            let all = fusecry_conformance::load_all(&dir)?;
            let mut bad = 0;
            for l in &all {
                let got = fusecry_conformance::play(l)?;
                if got != l.v.expect {
                    eprintln!("FAIL {}: expected {}, got {got}", l.name, l.v.expect);
                    bad += 1;
                }
            }
            eprintln!("{} vectors, {bad} failed", all.len());
            if bad > 0 {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}
