//! The command line (clap derive). Each subcommand's code is in `cmd/<verb>.rs`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// fusecry: an encrypted overlay filesystem and file/stream encryption tool.
///
/// New volumes and files use the fusecry/1 format (SPEC.md); volumes and
/// files of the original fusecry 0.11 are opened byte-compatibly.
#[derive(Parser, Debug)]
#[command(name = "fusecry", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a volume: DIR/fusecry.conf (and the root directory IV).
    Init(InitArgs),
    /// Encrypt one file (conf: -c, else a new OUT.fcry; an existing OUT.fcry is used only with -c).
    Encrypt(FileArgs),
    /// Decrypt one file (conf: -c, else IN.fcry, else OUT.fcry; never created).
    Decrypt(FileArgs),
    /// Encrypt or decrypt stdin to stdout in constant memory.
    #[command(subcommand)]
    Stream(StreamCommand),
    /// Translate one name to or from its on-disk form.
    #[command(subcommand)]
    Name(NameCommand),
    /// Show a conf (or print the conf's JSON Schema with --schema).
    Info(InfoArgs),
    /// Verify every chunk, size, name and symlink of an unmounted volume;
    /// list sync tools' conflict copies.
    Fsck(FsckArgs),
    /// Change the password of a volume's key slot (data untouched).
    Passwd(PasswdArgs),
    /// Add or remove key slots.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Mount a volume at MNT (created on the first mount of a missing or empty SRC).
    Mount(MountArgs),
    /// Unmount a fusecry mount (as root or as the user who mounted it).
    Umount(UmountArgs),
    /// Copy a volume (e.g. legacy 0.11) into a new fusecry/1 volume, verifying every file.
    Migrate(MigrateArgs),
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout, or with --out-dir write one
    /// page per command: fusecry(1), fusecry-mount(1), fusecry-key-add(1), ...
    #[command(hide = true)]
    Man {
        /// Write every page into this directory instead.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

/// Where the password or key comes from. Prefer a prompt, --password-file,
/// --extpass or FUSECRY_PASSWORD over -p, which shows in `ps`.
#[derive(Args, Debug, Clone, Default)]
pub struct SecretArgs {
    /// Password on the command line (0.11 compatibility; visible to other users: avoid).
    #[arg(short = 'p', long = "password", global = true)]
    pub password: Option<String>,
    /// Read the password from the first line of FILE.
    #[arg(long, value_name = "FILE", global = true)]
    pub password_file: Option<PathBuf>,
    /// Run CMD (via sh -c) and use the first line of its stdout as the password.
    #[arg(long, value_name = "CMD", global = true)]
    pub extpass: Option<String>,
    /// RSA key (PEM, PKCS#1 or PKCS#8); a public key can only create.
    #[arg(short = 'k', long = "key", value_name = "PEM", global = true)]
    pub key: Option<PathBuf>,
}

/// Consent to write with a conf that no key slot at hand vouches for (SPEC §4.5).
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct TrustArgs {
    /// Write even when the RSA key slot that opened the conf carries no valid
    /// signature (whoever wrote such a conf may know its master key). Never
    /// makes a legacy 0.11 RSA conf writable.
    #[arg(long)]
    pub trust_unsigned_slot: bool,
}

/// Options for creating a conf.
#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Encrypt file names and symlink targets: always done for fusecry/1 unless
    /// --plain-names, so -n is accepted there for 0.11 habits; with --legacy, names
    /// are encrypted only with -n.
    #[arg(short = 'n', long = "encrypt-names", conflicts_with = "plain_names")]
    pub encrypt_names: bool,
    /// Store file names and symlink targets in the clear (visible to whoever holds the
    /// ciphertext; `fusecry info` warns about it).
    #[arg(long)]
    pub plain_names: bool,
    /// Chunk size: a multiple of 16 from 16 to 1048576; default: the backing filesystem's block size, kept within 4096–16384.
    #[arg(long, value_name = "N")]
    pub chunk_size: Option<u64>,
    /// Create a legacy 0.11 conf instead of fusecry/1 (weaker; for the original tool's users).
    #[arg(long)]
    pub legacy: bool,
    /// Argon2id memory in KiB for a new password slot (at most 1048576, 1 GiB).
    #[arg(long, value_name = "KIB", default_value_t = 65536)]
    pub argon2_memory: u32,
    /// Argon2id iterations for a new password slot (1 to 100, and memory × iterations at most
    /// 4194304).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub argon2_iterations: u32,
    /// Argon2id lanes for a new password slot (1 to 64).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub argon2_lanes: u32,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The ciphertext directory: missing or empty (created if missing).
    pub dir: PathBuf,
    #[command(flatten)]
    pub create: CreateArgs,
    #[command(flatten)]
    pub secret: SecretArgs,
}

#[derive(Args, Debug)]
pub struct FileArgs {
    /// Input file.
    pub input: PathBuf,
    /// Output file (written to a temporary file and renamed into place on success).
    pub output: PathBuf,
    /// Conf file.
    #[arg(short = 'c', long = "conf", value_name = "CONF")]
    pub conf: Option<PathBuf>,
    #[command(flatten)]
    pub create: CreateArgs,
    #[command(flatten)]
    pub test_seed: TestSeed,
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub secret: SecretArgs,
}

#[derive(Subcommand, Debug)]
pub enum StreamCommand {
    /// stdin -> stdout, creating CONF if it does not exist.
    Encrypt(StreamArgs),
    /// stdin -> stdout; writes only verified chunks, exits non-zero on damage or truncation.
    Decrypt(StreamArgs),
}

#[derive(Args, Debug)]
pub struct StreamArgs {
    /// Conf file.
    #[arg(short = 'c', long = "conf", value_name = "CONF")]
    pub conf: PathBuf,
    #[command(flatten)]
    pub create: CreateArgs,
    #[command(flatten)]
    pub test_seed: TestSeed,
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub secret: SecretArgs,
}

#[derive(Subcommand, Debug)]
pub enum NameCommand {
    /// Plaintext name -> on-disk name.
    Encrypt(NameArgs),
    /// On-disk name -> plaintext name.
    Decrypt(NameArgs),
}

#[derive(Args, Debug)]
pub struct NameArgs {
    /// The name.
    pub name: String,
    /// Conf file or volume directory.
    #[arg(short = 'c', long = "conf", value_name = "CONF")]
    pub conf: PathBuf,
    /// The ciphertext directory the name lives in (its fusecry.diriv is used);
    /// default: the directory of the conf.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub test_seed: TestSeed,
    #[command(flatten)]
    pub secret: SecretArgs,
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Conf file or volume directory.
    #[arg(required_unless_present = "schema")]
    pub conf: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Print the JSON Schema of the fusecry/1 conf.
    #[arg(long, conflicts_with = "conf")]
    pub schema: bool,
}

#[derive(Args, Debug)]
pub struct FsckArgs {
    /// The volume's ciphertext root (or a subdirectory with --conf).
    pub root: PathBuf,
    /// Conf file (default ROOT/fusecry.conf).
    #[arg(short = 'c', long = "conf", value_name = "CONF")]
    pub conf: Option<PathBuf>,
    /// Machine-readable report on stdout.
    #[arg(long)]
    pub json: bool,
    /// Rewrite every damaged file so that it reads again, keeping every
    /// chunk that verifies: damaged chunks become zeros (zero, the
    /// default) or the file is cut before its first damage (truncate).
    #[arg(long, value_name = "HOW", num_args = 0..=1, require_equals = true, default_missing_value = "zero")]
    pub repair: Option<crate::cmd::salvage::Mode>,
    #[command(flatten)]
    pub secret: SecretArgs,
}

#[derive(Args, Debug)]
pub struct PasswdArgs {
    /// Volume directory or conf file.
    pub root: PathBuf,
    /// Read the new password from FILE.
    #[arg(long, value_name = "FILE")]
    pub new_password_file: Option<PathBuf>,
    #[command(flatten)]
    pub create: CreateArgs,
    #[command(flatten)]
    pub secret: SecretArgs,
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Add a slot for a new password or RSA key (opened with an existing one).
    Add(KeyAddArgs),
    /// Remove a slot (by its number in `fusecry info`); the last slot stays.
    Remove(KeyRemoveArgs),
    /// Sign the RSA slot of --key PEM (the private key), vouching that this
    /// conf's master key may be written with; says what it vouches for.
    Vouch(KeyVouchArgs),
}

#[derive(Args, Debug)]
pub struct KeyVouchArgs {
    /// Volume directory or conf file.
    pub root: PathBuf,
    /// The RSA private key (PEM) whose slot to sign.
    #[arg(short = 'k', long = "key", value_name = "PEM")]
    pub key: PathBuf,
}

#[derive(Args, Debug)]
pub struct KeyAddArgs {
    /// Volume directory or conf file.
    pub root: PathBuf,
    /// The RSA key (PEM, public is enough) to add.
    #[arg(long, value_name = "PEM", conflicts_with = "new_password_file")]
    pub new_key: Option<PathBuf>,
    /// Read the new password from FILE (default: prompt).
    #[arg(long, value_name = "FILE")]
    pub new_password_file: Option<PathBuf>,
    #[command(flatten)]
    pub create: CreateArgs,
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub secret: SecretArgs,
}

#[derive(Args, Debug)]
pub struct KeyRemoveArgs {
    /// Volume directory or conf file.
    pub root: PathBuf,
    /// Slot number (0-based) to remove.
    #[arg(long)]
    pub slot: usize,
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub secret: SecretArgs,
}

#[derive(Args, Debug)]
pub struct MountArgs {
    /// The ciphertext directory (the volume root, or a subdirectory with --conf).
    pub source: PathBuf,
    /// The mount point (an existing directory).
    pub mountpoint: PathBuf,
    /// Conf file (default SOURCE/fusecry.conf, created there on the first mount of a
    /// missing or empty SOURCE; a non-empty SOURCE without it is refused).
    #[arg(short = 'c', long = "conf", value_name = "CONF")]
    pub conf: Option<PathBuf>,
    /// Stay in the foreground and log to stderr.
    #[arg(short = 'f', long)]
    pub foreground: bool,
    /// Tell systemd when the mount is ready (sd_notify READY=1 on
    /// $NOTIFY_SOCKET; done whenever that is set). In the background the
    /// command that started the daemon sends it, with MAINPID the daemon's.
    #[arg(long)]
    pub notify: bool,
    /// Mount options, comma separated: ro, rw, allow_other, default_permissions, writeback,
    /// nowriteback, acl (POSIX ACLs, stored encrypted; fusecry/1 with encrypted names), noxattr
    /// (no extended attributes: faster writes of many small files), shared (another writer
    /// changes the ciphertext directory: names and attributes not cached, no writeback cache;
    /// close-to-open consistent).
    #[arg(short = 'o', value_name = "OPTS", value_delimiter = ',')]
    pub options: Vec<String>,
    /// Unmount after this long without any request and no open file (e.g. 30s, 10m, 2h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub idle: Option<std::time::Duration>,
    /// Log every FUSE call (never file content, keys or passwords).
    #[arg(short = 'd', long)]
    pub debug: bool,
    /// Log file of a background mount (default: $XDG_STATE_HOME/fusecry/<mountpoint>.log,
    /// i.e. ~/.local/state/fusecry/...).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Threads serving FUSE requests.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub threads: usize,
    /// Internal: a daemon started by `mount` reads its password from stdin.
    #[arg(long, hide = true)]
    pub daemon: bool,
    #[command(flatten)]
    pub test_seed: TestSeed,
    #[command(flatten)]
    pub create: CreateArgs,
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub secret: SecretArgs,
}

#[derive(Args, Debug)]
pub struct UmountArgs {
    /// The mount point.
    pub mountpoint: PathBuf,
}

/// Parses "90", "90s", "15m", "2h", "1d".
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number with an optional unit s, m, h or d"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use s, m, h or d)")),
    };
    Ok(std::time::Duration::from_secs(n * mult))
}

#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// The old volume (only read, never modified).
    pub old: PathBuf,
    /// The new volume (created; must be missing or an empty directory).
    pub new: PathBuf,
    /// Conf of the old volume (default OLD/fusecry.conf).
    #[arg(short = 'c', long = "conf", value_name = "CONF")]
    pub conf: Option<PathBuf>,
    /// Password of the new volume from FILE (default: prompt twice).
    #[arg(long, value_name = "FILE")]
    pub new_password_file: Option<PathBuf>,
    /// RSA key (PEM) of the new volume instead of a password.
    #[arg(long, value_name = "PEM", conflicts_with = "new_password_file")]
    pub new_key: Option<PathBuf>,
    /// Options of the new volume (chunk size default: the old one's; names
    /// are encrypted unless --plain-names, which a volume whose names were
    /// encrypted refuses).
    #[command(flatten)]
    pub create: CreateArgs,
    /// How to open the old volume.
    #[command(flatten)]
    pub secret: SecretArgs,
}

/// The hidden, test-only switch that fixes the RNG (conformance runners use
/// it to check writers byte for byte). Refused unless the environment also
/// says FUSECRY_INSECURE_TEST_SEED=yes, so it cannot be used by accident.
#[derive(Args, Debug, Default, Clone, Copy)]
pub struct TestSeed {
    /// Test only: draw all randomness from ChaCha20 with this seed, making the
    /// ciphertext predictable. Refused unless FUSECRY_INSECURE_TEST_SEED=yes.
    #[arg(long = "insecure-test-seed", hide = true, value_name = "N")]
    pub seed: Option<u64>,
}
