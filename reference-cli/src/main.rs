//! The `fusecry` binary: a thin layer of commands over the `fusecry-format` crate.

mod cli;
mod cmd;
mod confio;
mod exit;
mod helper;
mod progress;
mod rng;
mod secret;
mod trust;
mod volume;

use clap::{CommandFactory, Parser};
use cli::{Cli, Command};

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init(a) => cmd::init::run(a),
        Command::Encrypt(a) => cmd::file::encrypt(a),
        Command::Decrypt(a) => cmd::file::decrypt(a),
        Command::Stream(c) => cmd::stream::run(c),
        Command::Name(c) => cmd::name::run(c),
        Command::Info(a) => cmd::info::run(a),
        Command::Fsck(a) => cmd::fsck::run(a),
        Command::Passwd(a) => cmd::keys::passwd(a),
        Command::Key(c) => cmd::keys::run(c),
        Command::Mount(a) => cmd::mount::run(a),
        Command::Umount(a) => cmd::mount::umount(a),
        Command::Migrate(a) => cmd::migrate::run(a),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "fusecry",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Man { out_dir: None } => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(())
        }
        Command::Man { out_dir: Some(dir) } => write_man_pages(Cli::command(), &dir),
    }
}

/// Writes the man page of `cmd` as `DIR/<name>.1`, then one per
/// subcommand (`fusecry-mount.1`, `fusecry-key-add.1`), skipping hidden
/// ones and clap's `help`.
fn write_man_pages(cmd: clap::Command, dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let name = cmd.get_name().to_string();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    std::fs::write(dir.join(format!("{name}.1")), page)?;
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let full = format!("{name}-{}", sub.get_name());
        let bin = format!("{} {}", name.replace('-', " "), sub.get_name());
        let sub = sub.clone().name(full).bin_name(bin);
        write_man_pages(sub.version(env!("CARGO_PKG_VERSION")), dir)?;
    }
    Ok(())
}

fn main() {
    // Before anything else, while this is the only thread.
    secret::take_env_password();
    if fusecry_format::CEILING && std::env::var("FUSECRY_CEILING").as_deref() != Ok("insecure") {
        eprintln!(
            "fusecry: this is the benchmark build with the `ceiling` feature: it copies chunks instead of encrypting them; set FUSECRY_CEILING=insecure to run it"
        );
        std::process::exit(exit::OTHER);
    }
    // `fusecry SRC MNT -o ...` as mount.fuse3 runs it (fstab), and
    // fstab-style key=value mount options (helper.rs).
    let mut subcommands: Vec<String> = Cli::command()
        .get_subcommands()
        .flat_map(|c| {
            std::iter::once(c.get_name().to_string()).chain(c.get_all_aliases().map(str::to_string))
        })
        .collect();
    subcommands.push("help".into());
    let cli = Cli::parse_from(helper::rewrite(std::env::args_os().collect(), &subcommands));
    if let Err(e) = run(cli) {
        let code = e
            .downcast_ref::<exit::Failure>()
            .map(|f| f.code)
            .or_else(|| {
                e.downcast_ref::<fusecry_format::Error>()
                    .map(exit::for_error)
            })
            .unwrap_or(exit::OTHER);
        // One line: the file and the problem.
        eprintln!("fusecry: {e:#}");
        std::process::exit(code);
    }
}
