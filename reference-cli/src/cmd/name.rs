//! `fusecry name encrypt|decrypt NAME -c CONF [--dir D]`.

use crate::cli::NameCommand;
use crate::confio;
use crate::exit::at;
use crate::rng::CliRng;
use anyhow::Result;
use fusecry_format::name::{sidecar_name, DirIv, DIRIV_NAME};
use fusecry_format::{legacy, Codec, Conf};
use rand_core::RngCore;
use std::path::{Path, PathBuf};

fn diriv(codec: &Codec, dir: &Path) -> Result<Option<DirIv>> {
    if !codec.uses_diriv() {
        return Ok(None);
    }
    let p = dir.join(DIRIV_NAME);
    let b = std::fs::read(&p).map_err(|e| at(&p, e.into()))?;
    Ok(Some(DirIv::from_bytes(&b).map_err(|e| at(&p, e))?))
}

pub fn run(c: NameCommand) -> Result<()> {
    let (enc, a) = match c {
        NameCommand::Encrypt(a) => (true, a),
        NameCommand::Decrypt(a) => (false, a),
    };
    let mut rng = CliRng::new(a.test_seed)?;
    let conf_path = confio::conf_path(&a.conf);
    if let Conf::Legacy(lc) = confio::load(&conf_path)? {
        // As in 0.11, `name encrypt|decrypt` always applies the legacy name
        // codec, whether or not the conf has `enc_path` set (the 0.11 name
        // vectors were made with an `enc_path: false` conf).
        let s = crate::secret::for_open(&a.secret)?;
        let keys = lc.open(&s).map_err(|e| at(&conf_path, e))?;
        let out = if enc {
            let mut iv = [0u8; 16];
            rng.fill_bytes(&mut iv);
            legacy::name::encrypt(&keys, &iv, &a.name)
        } else {
            legacy::name::decrypt(&keys, &a.name)
        }
        .map_err(|e| at(Path::new(&a.name), e))?;
        println!("{out}");
        return Ok(());
    }
    let (_, codec) = confio::open(&conf_path, &a.secret)?;
    let dir: PathBuf = a.dir.clone().unwrap_or_else(|| {
        conf_path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    });
    let iv = diriv(&codec, &dir)?;
    if enc {
        let (disk, sidecar) = codec
            .encrypt_name(iv.as_ref(), &a.name, &mut rng)
            .map_err(|e| at(Path::new(&a.name), e))?;
        println!("{disk}");
        if let Some(s) = sidecar {
            eprintln!("long name: the sidecar {} holds {s}", sidecar_name(&disk));
        }
    } else {
        // SPEC §10, §10.1: a long name's sidecar is read from --dir; when
        // the name does not decode, the last sidecar that could not be read
        // is the error (a missing input), not the name.
        let unread = std::cell::RefCell::new(None);
        let read = |side: &str| {
            let p = dir.join(side);
            std::fs::read(&p)
                .map_err(|e| *unread.borrow_mut() = Some((p, e)))
                .ok()
        };
        let plain = codec
            .decode_entry(iv.as_ref(), &a.name, read)
            .and_then(|e| {
                e.map(|e| e.name).ok_or_else(|| {
                    fusecry_format::Error::BadName("a reserved name of the volume".into())
                })
            })
            .map_err(|e| match unread.take() {
                Some((p, io)) => at(&p, io.into()),
                None => at(Path::new(&a.name), e),
            })?;
        println!("{plain}");
    }
    Ok(())
}
