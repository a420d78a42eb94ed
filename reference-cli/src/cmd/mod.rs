//! One module per subcommand.

pub mod file;
pub mod fsck;
pub mod info;
pub mod init;
pub mod keys;
pub mod migrate;
pub mod mount;
pub mod name;
pub mod salvage;
pub mod stream;
