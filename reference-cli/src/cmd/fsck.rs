//! `fusecry fsck ROOT`: verify every conf field, header, chunk tag, trailer,
//! name and symlink target of an unmounted volume; report the plaintext
//! path of every damaged entry and the plaintext byte ranges lost, and list
//! sync tools' conflict copies (SPEC §10.1), which are not damage. With
//! `--repair`, rewrite every damaged file so it reads again (SPEC §7.7).
//! Exit 0 clean (or all repaired), 21 dirty.
//!
//! The ciphertext tree is untrusted storage (SPEC §14): it is walked
//! through directory descriptors ([`Dir`]) and never follows a symlink.

use super::salvage::{self, Lost, Mode};
use crate::cli::FsckArgs;
use crate::confio;
use crate::exit::{fail, FSCK_DIRTY};
use crate::progress::Progress;
use anyhow::Result;
use fusecry_format::name::{is_tmp, DirIv, CONF_NAME, DIRIV_NAME};
use fusecry_format::{long_target, stream, Codec};
use fusecry_fuse::backing::Dir;
use fusecry_fuse::names;
use rand_core::OsRng;
use serde::Serialize;
use std::ffi::{OsStr, OsString};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

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
    /// Plaintext byte ranges that do not verify (contiguous chunks merged).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<Lost>,
    /// With --repair: whether the file was rewritten, and what it lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repaired: Option<Repaired>,
}

/// The outcome of repairing one file.
#[derive(Serialize, Debug)]
pub struct Repaired {
    /// True when the file was rewritten and reads again.
    pub ok: bool,
    /// The plaintext byte ranges the repair gave up (zeros or cut off).
    pub lost: Vec<Lost>,
    /// Why the repair failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Damage {
    fn new(path: String, stored: &Path, problem: String) -> Damage {
        Damage {
            path,
            stored_path: stored.to_path_buf(),
            problem,
            chunks: vec![],
            unreadable: vec![],
            repaired: None,
        }
    }
}

/// A regular file to verify: plaintext path, its directory, on-disk name,
/// and the ciphertext path (for the report only).
struct Entry {
    plain: String,
    dir: Dir,
    disk: OsString,
    stored: PathBuf,
}

fn errno_text(e: impl Into<i32>) -> String {
    std::io::Error::from_raw_os_error(e.into()).to_string()
}

#[derive(Serialize, Debug, Default)]
pub struct Report {
    pub clean: bool,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
    pub damaged: Vec<Damage>,
    /// Copies a sync tool made of an entry both sides changed (SPEC §10.1):
    /// readable, shown by the mount; listed so they can be merged.
    pub conflict_copies: Vec<ConflictCopy>,
}

/// A sync tool's conflict copy (SPEC §10.1).
#[derive(Serialize, Debug)]
pub struct ConflictCopy {
    /// Plaintext path it is shown under.
    pub path: String,
    /// Ciphertext path.
    pub stored_path: PathBuf,
    /// Plaintext path of the entry it copies.
    pub copy_of: String,
    /// Whether that entry is still in the volume.
    pub copy_of_exists: bool,
    /// The sync tool whose marker it carries.
    pub tool: &'static str,
    /// An entry of the very name it is shown under exists: the mount shows
    /// that entry and hides this copy (SPEC §10.1) until one is renamed.
    pub hidden: bool,
}

struct Walker<'a> {
    codec: &'a Codec,
    repair: bool,
    files: Vec<Entry>,
    report: Report,
    progress: Progress,
}

impl Walker<'_> {
    fn damage(&mut self, path: String, stored: &Path, problem: String) {
        self.report.damaged.push(Damage::new(path, stored, problem));
    }

    /// Walks directory `dir` (ciphertext path `path`, plaintext `plain`).
    fn walk(&mut self, dir: &Dir, path: &Path, plain: &str, is_root: bool) {
        self.report.dirs += 1;
        let diriv = if self.codec.uses_diriv() {
            let p = path.join(DIRIV_NAME);
            match dir
                .read_small(OsStr::new(DIRIV_NAME))
                .map_err(|e| errno_text(e.code()))
                .and_then(|b| DirIv::from_bytes(&b).map_err(|e| e.to_string()))
            {
                Ok(iv) => Some(iv),
                Err(e) => {
                    let mut d = Damage::new(
                        format!("{plain}/"),
                        &p,
                        format!("directory IV unreadable: {e}"),
                    );
                    if self.repair && dir.list().is_ok_and(|l| l.is_empty()) {
                        // A mkdir interrupted before its IV was written: the
                        // directory is empty, so a new IV loses nothing.
                        let res = names::write_diriv(self.codec, dir, &mut OsRng).map(drop);
                        d.repaired = Some(Repaired {
                            ok: res.is_ok(),
                            lost: vec![],
                            error: res.err().map(|e| errno_text(e.code())),
                        });
                    }
                    self.report.damaged.push(d);
                    return;
                }
            }
        } else {
            None
        };
        let mut entries: Vec<OsString> = match dir.list() {
            Ok(l) => l.into_iter().map(|(n, _, _)| n).collect(),
            Err(e) => {
                self.damage(
                    format!("{plain}/"),
                    path,
                    format!("cannot list: {}", errno_text(e.code())),
                );
                return;
            }
        };
        entries.sort();
        // SPEC §11.2: long-target sidecars here, and those a symlink names.
        let mut sidecars = Vec::new();
        let mut named = std::collections::BTreeSet::new();
        // SPEC §10.1: conflict copies here, every name shown here, and the
        // names of entries that are not copies (which hide a copy's).
        let (mut copies, mut shown) = (Vec::new(), std::collections::BTreeSet::new());
        let mut own = std::collections::BTreeSet::new();
        for os in entries {
            let p = path.join(&os);
            let Some(disk) = os.to_str().map(str::to_string) else {
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
            if self.codec.uses_diriv() && long_target::is_sidecar(&disk) {
                sidecars.push((disk, p));
                continue;
            }
            if self.codec.uses_diriv() && is_tmp(&disk) {
                // SPEC §10: a symlink a rename wrote anew and did not get
                // to put in place. The rename's source still exists.
                self.damage(
                    format!("{plain}/[{disk}]"),
                    &p,
                    "leftover of an interrupted rename (fusecry.tmp.*): not part of the volume, safe to delete".into(),
                );
                continue;
            }
            // SPEC §10, §10.1: the plaintext name and the full encoded name
            // a symlink target is bound to (a long name's sidecar content).
            let read = |side: &str| dir.read_small(OsStr::new(side)).ok();
            let (name, encoded) = match self.codec.decode_entry(diriv.as_ref(), &disk, read) {
                Ok(None) => continue,
                Ok(Some(e)) => {
                    if let Some((of, tool)) = e.copy_of {
                        copies.push((
                            of.clone(),
                            ConflictCopy {
                                path: format!("{plain}/{}", e.name),
                                stored_path: p.clone(),
                                copy_of: format!("{plain}/{of}"),
                                copy_of_exists: false,
                                tool: tool.name(),
                                hidden: false,
                            },
                        ));
                    } else {
                        own.insert(e.name.clone());
                    }
                    shown.insert(e.name.clone());
                    (e.name, e.encoded)
                }
                Err(e) => {
                    self.damage(format!("{plain}/[{disk}]"), &p, e.to_string());
                    continue;
                }
            };
            let ppath = format!("{plain}/{name}");
            let Ok(md) = dir.stat(&os) else {
                continue;
            };
            if md.is_dir() {
                match dir.child_dir(&os) {
                    Ok(child) => self.walk(&child, &p, &ppath, false),
                    Err(e) => self.damage(
                        ppath,
                        &p,
                        format!("cannot open directory: {}", errno_text(e.code())),
                    ),
                }
            } else if md.is_symlink() {
                self.report.symlinks += 1;
                match dir.readlink(&os) {
                    Ok(stored) => {
                        if let Some(side) = long_target::sidecar_of(&stored) {
                            named.insert(side.to_string());
                        }
                        // SPEC §11.2: a long target is read from its sidecar,
                        // through the directory's descriptor like the rest.
                        let read = |side: &str| {
                            dir.read_small(OsStr::new(side))
                                .map_err(|e| std::io::Error::from_raw_os_error(e.code()))
                        };
                        if let Err(e) =
                            self.codec
                                .read_symlink(diriv.as_ref(), &encoded, &stored, read)
                        {
                            self.damage(ppath, &p, e.to_string());
                        }
                    }
                    Err(e) => self.damage(
                        ppath,
                        &p,
                        format!("cannot read link: {}", errno_text(e.code())),
                    ),
                }
            } else if md.is_file() {
                self.report.bytes += md.len();
                self.files.push(Entry {
                    plain: ppath,
                    dir: dir.clone(),
                    disk: os,
                    stored: p,
                });
            }
            self.progress.inc();
        }
        for (of, mut c) in copies {
            c.copy_of_exists = shown.contains(&of);
            c.hidden = c
                .path
                .rsplit_once('/')
                .is_some_and(|(_, name)| own.contains(name));
            self.report.conflict_copies.push(c);
        }
        for (disk, p) in sidecars {
            if self.codec.binds_symlinks() && !named.contains(&disk) {
                self.damage(
                    format!("{plain}/[{disk}]"),
                    &p,
                    "long symlink target that no symlink names (fusecry.target.*, left over by a crash): safe to delete".into(),
                );
            }
        }
    }
}

/// Verifies one file; for a damaged one, the byte ranges that no longer
/// verify, and with `repair` the file rewritten (SPEC §7.7).
fn check_file(codec: &Codec, e: &Entry, repair: Option<Mode>) -> Option<Damage> {
    let fail = |problem: String| Some(Damage::new(e.plain.clone(), &e.stored, problem));
    let f = match e.dir.open_file(&e.disk, true) {
        Ok(f) => f,
        Err(err) => return fail(format!("cannot open: {}", errno_text(err.code()))),
    };
    let rep = match stream::verify(codec, &mut BufReader::with_capacity(1 << 20, &f), &|_| {}) {
        Ok(rep) if rep.is_clean() => return None,
        Ok(rep) => rep,
        Err(err) => return fail(format!("read error: {err}")),
    };
    let scan = match salvage::scan(codec, &f) {
        Ok(s) => s,
        Err(err) => return fail(format!("read error: {err}")),
    };
    drop(f);
    let cs = codec.chunk_size();
    let mut problem: Vec<String> = vec![];
    if !scan.bad.is_empty() {
        problem.push(format!("{} chunk(s) failed authentication", scan.bad.len()));
    }
    let why = rep.error.as_ref().map(|e| e.to_string());
    if !scan.header_ok {
        problem.push(format!(
            "header damaged ({}); its file id is kept",
            why.as_deref().unwrap_or("bad magic")
        ));
    }
    if !scan.trailer_ok {
        problem.push(format!(
            "trailer does not verify ({}); size taken from the last chunk that verifies: {} bytes",
            why.as_deref().unwrap_or("stored length"),
            scan.size
        ));
    }
    let mut d = Damage::new(e.plain.clone(), &e.stored, problem.join("; "));
    d.chunks = scan.bad.clone();
    d.unreadable = scan.lost(cs);
    if let Some(mode) = repair {
        let res = salvage::rewrite(codec, &e.dir, &e.disk, &scan, mode);
        d.repaired = Some(Repaired {
            ok: res.is_ok(),
            lost: salvage::lost_by(&scan, mode, cs),
            error: res.err().map(|e| e.to_string()),
        });
    }
    Some(d)
}

/// Verifies every file on as many plain threads as the rayon pool has
/// workers, each taking the next file in turn.
///
/// Not a rayon parallel loop: verifying one file is a pipeline whose reader
/// and writer stages wait on channels while its chunks are checked on the
/// rayon pool. Run on rayon workers, those waiting stages would hold the very
/// workers the chunks need, and with two files of more than a batch on two
/// workers nothing moved again (issue 15, item 0).
fn verify_all(
    codec: &Codec,
    files: &[Entry],
    repair: Option<Mode>,
    progress: &Progress,
) -> Vec<Damage> {
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let bad = Mutex::new(Vec::new());
    let workers = rayon::current_num_threads().clamp(1, files.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let Some(e) = files.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return;
                };
                let len = e.dir.stat(&e.disk).map(|m| m.len()).unwrap_or(0);
                let r = check_file(codec, e, repair);
                progress.set(done.fetch_add(len, Ordering::Relaxed) + len);
                if let Some(d) = r {
                    bad.lock().expect("no verifier panics").push(d);
                }
            });
        }
    });
    bad.into_inner().expect("no verifier panics")
}

pub fn run(a: FsckArgs) -> Result<()> {
    let conf_path = match &a.conf {
        Some(c) => c.clone(),
        None => a.root.join(CONF_NAME),
    };
    let (_, codec) = confio::open(&conf_path, &a.secret)?;
    let root = match Dir::open_root(&a.root) {
        Ok(d) if a.root.is_dir() => d,
        _ => {
            return Err(fail(
                crate::exit::MISSING,
                format!("{}: not a directory", a.root.display()),
            ))
        }
    };
    let mut w = Walker {
        codec: &codec,
        repair: a.repair.is_some(),
        files: vec![],
        report: Report::default(),
        progress: Progress::items("fsck: walking"),
    };
    let is_root = a.conf.is_none() || conf_path.parent() == Some(a.root.as_path());
    w.walk(&root, &a.root, "", is_root);
    w.progress.finish();
    let files = std::mem::take(&mut w.files);
    let mut report = w.report;
    report.files = files.len() as u64;
    let progress = Progress::new(report.bytes, "fsck: verifying");
    let mut bad = verify_all(&codec, &files, a.repair, &progress);
    progress.finish();
    report.damaged.append(&mut bad);
    report.damaged.sort_by(|a, b| a.path.cmp(&b.path));
    let repaired = report
        .damaged
        .iter()
        .filter(|d| d.repaired.as_ref().is_some_and(|r| r.ok))
        .count();
    // After --repair the volume is clean when every damaged entry was
    // rewritten: names that do not decrypt and the like are only listed.
    report.clean = report.damaged.len() == repaired;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "checked {} files, {} directories, {} symlinks ({} bytes stored)",
            report.files, report.dirs, report.symlinks, report.bytes
        );
        for d in &report.damaged {
            print_damage(d);
        }
        for c in &report.conflict_copies {
            println!(
                "CONFLICT COPY {}: a {} copy of {} ({}){}",
                c.path,
                c.tool,
                c.copy_of,
                if c.copy_of_exists {
                    "still there"
                } else {
                    "gone"
                },
                if c.hidden {
                    "; hidden by an entry of the same name: rename that entry to see this copy"
                } else {
                    ""
                }
            );
        }
        println!(
            "{}",
            match (report.damaged.is_empty(), a.repair) {
                (true, _) => "clean".to_string(),
                (false, Some(_)) => format!(
                    "{} damaged entries, {} repaired",
                    report.damaged.len(),
                    repaired
                ),
                (false, None) => format!("{} damaged entries", report.damaged.len()),
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
                report.damaged.len() - repaired
            ),
        ))
    }
}

/// One line per lost range, so a torn append is one line, not a list of
/// hundreds of chunk numbers.
fn print_damage(d: &Damage) {
    println!("DAMAGED {}: {}", d.path, d.problem);
    for l in &d.unreadable {
        println!("DAMAGED {}: {}", d.path, l.describe("unreadable"));
    }
    match &d.repaired {
        Some(Repaired { ok: true, lost, .. }) if lost.is_empty() => {
            println!("REPAIRED {}: nothing lost", d.path)
        }
        Some(Repaired { ok: true, lost, .. }) => {
            for l in lost {
                println!("REPAIRED {}: {}", d.path, l.describe("lost"));
            }
        }
        Some(Repaired { error, .. }) => println!(
            "NOT REPAIRED {}: {}",
            d.path,
            error.as_deref().unwrap_or("unknown error")
        ),
        None => {}
    }
}
