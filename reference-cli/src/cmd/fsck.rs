//! `fusecry fsck ROOT`: verify every conf field, header, chunk tag, trailer,
//! name and symlink target of an unmounted volume; report the plaintext
//! path of every damaged entry and the chunk indexes. Exit 0 clean, 21 dirty.

use crate::cli::FsckArgs;
use crate::confio;
use crate::exit::{fail, FSCK_DIRTY};
use crate::progress::Progress;
use anyhow::Result;
use fusecry_format::name::{
    check_sidecar, classify, sidecar_name, DirIv, DiskName, CONF_NAME, DIRIV_NAME,
};
use fusecry_format::{stream, Codec};
use rayon::prelude::*;
use serde::Serialize;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

#[derive(Serialize, Debug)]
pub struct Damage {
    /// Plaintext path (on-disk name in brackets where the name itself is bad).
    pub path: String,
    /// Ciphertext path.
    pub stored_path: PathBuf,
    /// What is wrong.
    pub problem: String,
    /// Chunk indexes that failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<u64>,
}

#[derive(Serialize, Debug, Default)]
pub struct Report {
    pub clean: bool,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
    pub damaged: Vec<Damage>,
}

struct Walker<'a> {
    codec: &'a Codec,
    files: Vec<(String, PathBuf)>,
    report: Report,
    progress: Progress,
}

impl Walker<'_> {
    fn damage(&mut self, path: String, stored: &Path, problem: String) {
        self.report.damaged.push(Damage {
            path,
            stored_path: stored.to_path_buf(),
            problem,
            chunks: vec![],
        });
    }

    fn walk(&mut self, dir: &Path, plain: &str, is_root: bool) {
        self.report.dirs += 1;
        let diriv = if self.codec.uses_diriv() {
            let p = dir.join(DIRIV_NAME);
            match std::fs::read(&p)
                .map_err(|e| e.to_string())
                .and_then(|b| DirIv::from_bytes(&b).map_err(|e| e.to_string()))
            {
                Ok(iv) => Some(iv),
                Err(e) => {
                    self.damage(
                        format!("{plain}/"),
                        &p,
                        format!("directory IV unreadable: {e}"),
                    );
                    return;
                }
            }
        } else {
            None
        };
        let mut entries: Vec<_> = match std::fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
            Err(e) => {
                self.damage(format!("{plain}/"), dir, format!("cannot list: {e}"));
                return;
            }
        };
        entries.sort();
        for p in entries {
            let Some(disk) = p.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
                self.damage(
                    format!("{plain}/[{}]", p.display()),
                    &p,
                    "name is not UTF-8".into(),
                );
                continue;
            };
            if is_root && disk == CONF_NAME {
                continue;
            }
            let decoded = if self.codec.uses_diriv() {
                match classify(&disk) {
                    DiskName::Reserved => continue,
                    DiskName::Long(d) => {
                        let sc = dir.join(sidecar_name(d));
                        std::fs::read_to_string(&sc)
                            .map_err(|e| fusecry_format::Error::BadName(format!("sidecar: {e}")))
                            .and_then(|s| check_sidecar(d, &s).map(|_| s))
                            .and_then(|s| self.codec.decrypt_name(diriv.as_ref(), &s))
                    }
                    DiskName::Short(s) => self.codec.decrypt_name(diriv.as_ref(), s),
                }
            } else {
                self.codec.decrypt_name(None, &disk)
            };
            let name = match decoded {
                Ok(n) => n,
                Err(e) => {
                    self.damage(format!("{plain}/[{disk}]"), &p, e.to_string());
                    continue;
                }
            };
            let ppath = format!("{plain}/{name}");
            let Ok(md) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let ft = md.file_type();
            if ft.is_dir() {
                self.walk(&p, &ppath, false);
            } else if ft.is_symlink() {
                self.report.symlinks += 1;
                match std::fs::read_link(&p) {
                    Ok(t) => {
                        use std::os::unix::ffi::OsStrExt;
                        if let Err(e) = self.codec.decrypt_symlink(t.as_os_str().as_bytes()) {
                            self.damage(ppath, &p, e.to_string());
                        }
                    }
                    Err(e) => self.damage(ppath, &p, format!("cannot read link: {e}")),
                }
            } else if ft.is_file() {
                self.report.bytes += md.len();
                self.files.push((ppath, p));
            }
            self.progress.inc();
        }
    }
}

fn check_file(codec: &Codec, plain: &str, p: &Path) -> Option<Damage> {
    let f = match File::open(p) {
        Ok(f) => f,
        Err(e) => {
            return Some(Damage {
                path: plain.into(),
                stored_path: p.into(),
                problem: format!("cannot open: {e}"),
                chunks: vec![],
            })
        }
    };
    let mut r = BufReader::with_capacity(1 << 20, f);
    match stream::verify(codec, &mut r, &|_| {}) {
        Ok(rep) if rep.is_clean() => None,
        Ok(rep) => {
            let mut problem: Vec<String> = vec![];
            if !rep.bad_chunks.is_empty() {
                problem.push(format!(
                    "{} chunk(s) failed authentication",
                    rep.bad_chunks.len()
                ));
            }
            if let Some(e) = rep.error {
                problem.push(e.to_string());
            }
            Some(Damage {
                path: plain.into(),
                stored_path: p.into(),
                problem: problem.join("; "),
                chunks: rep.bad_chunks,
            })
        }
        Err(e) => Some(Damage {
            path: plain.into(),
            stored_path: p.into(),
            problem: format!("read error: {e}"),
            chunks: vec![],
        }),
    }
}

pub fn run(a: FsckArgs) -> Result<()> {
    let conf_path = match &a.conf {
        Some(c) => c.clone(),
        None => a.root.join(CONF_NAME),
    };
    let (_, codec) = confio::open(&conf_path, &a.secret)?;
    if !a.root.is_dir() {
        return Err(fail(
            crate::exit::MISSING,
            format!("{}: not a directory", a.root.display()),
        ));
    }
    let mut w = Walker {
        codec: &codec,
        files: vec![],
        report: Report::default(),
        progress: Progress::items("fsck: walking"),
    };
    let is_root = a.conf.is_none() || conf_path.parent() == Some(a.root.as_path());
    w.walk(&a.root, "", is_root);
    w.progress.finish();
    let files = std::mem::take(&mut w.files);
    let mut report = w.report;
    report.files = files.len() as u64;
    let progress = Progress::new(report.bytes, "fsck: verifying");
    let done = std::sync::atomic::AtomicU64::new(0);
    let mut bad: Vec<Damage> = files
        .par_iter()
        .filter_map(|(plain, p)| {
            let r = check_file(&codec, plain, p);
            let len = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            progress.set(done.fetch_add(len, std::sync::atomic::Ordering::Relaxed) + len);
            r
        })
        .collect();
    progress.finish();
    report.damaged.append(&mut bad);
    report.damaged.sort_by(|a, b| a.path.cmp(&b.path));
    report.clean = report.damaged.is_empty();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "checked {} files, {} directories, {} symlinks ({} bytes stored)",
            report.files, report.dirs, report.symlinks, report.bytes
        );
        for d in &report.damaged {
            if d.chunks.is_empty() {
                println!("DAMAGED {}: {}", d.path, d.problem);
            } else {
                let list: Vec<String> = d.chunks.iter().map(u64::to_string).collect();
                println!(
                    "DAMAGED {}: {} (chunks {})",
                    d.path,
                    d.problem,
                    list.join(", ")
                );
            }
        }
        println!(
            "{}",
            if report.clean {
                "clean".to_string()
            } else {
                format!("{} damaged entries", report.damaged.len())
            }
        );
    }
    if report.clean {
        Ok(())
    } else {
        Err(fail(
            FSCK_DIRTY,
            format!(
                "{}: {} damaged entries",
                a.root.display(),
                report.damaged.len()
            ),
        ))
    }
}
