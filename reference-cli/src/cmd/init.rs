//! `fusecry init DIR`: a new volume (conf, and the root's directory IV) in a
//! missing or empty directory.

use crate::cli::InitArgs;
use crate::exit::{fail, MISSING};
use crate::volume;
use anyhow::Result;

pub fn run(a: InitArgs) -> Result<()> {
    let (conf, _) = volume::create(&a.dir, &a.create, &a.secret, || {
        fail(
            MISSING,
            format!(
                "no fusecry.conf in {}, which is not empty: restore the conf, or init an empty directory",
                a.dir.display()
            ),
        )
    })?;
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
