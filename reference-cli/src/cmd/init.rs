//! `fusecry init DIR`: a new volume (conf, and the root's directory IV).

use crate::cli::InitArgs;
use crate::confio;
use anyhow::Result;
use fusecry_format::name::{DirIv, CONF_NAME, DIRIV_NAME};
use rand_core::OsRng;

pub fn run(a: InitArgs) -> Result<()> {
    let path = a.dir.join(CONF_NAME);
    let (conf, codec) = confio::in_volume_dir(&a.dir, || {
        confio::create(&path, &a.dir, &a.create, &a.secret)
    })?;
    if codec.uses_diriv() {
        std::fs::write(a.dir.join(DIRIV_NAME), DirIv::random(&mut OsRng).0)?;
    }
    eprintln!(
        "created {} volume in {} (chunk size {}, names {})",
        conf.profile_name(),
        a.dir.display(),
        conf.chunk_size(),
        if conf.encrypted_names() {
            "encrypted"
        } else {
            "plain"
        }
    );
    Ok(())
}
