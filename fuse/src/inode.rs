//! The inode table: our inode numbers, each remembered by the backing file's
//! (device, inode) so hard links share one node, with the kernel's lookup
//! count, and located by parent + on-disk name so a directory rename moves
//! its whole subtree without touching the children.
//!
//! Memory is proportional to the inodes the kernel remembers, not to the
//! tree: `forget` drops a node when its count reaches zero.

use fusecry_format::name::DirIv;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// Our inode number (1 is the root).
pub type Ino = u64;
/// The root's inode number.
pub const ROOT: Ino = 1;

/// Identity of a backing file.
pub type Key = (u64, u64);

/// One name of an inode: a hard-linked file has one per name the kernel used.
#[derive(Debug, Clone)]
pub struct Link {
    /// Parent directory (the root is its own parent).
    pub parent: Ino,
    /// On-disk name in the parent.
    pub disk_name: OsString,
    /// Plaintext name (for log lines naming the file).
    pub plain_name: OsString,
}

/// One remembered inode.
#[derive(Debug)]
pub struct Node {
    /// Known names, the one to use first (empty: unlinked, or the root).
    pub links: Vec<Link>,
    /// Backing (device, inode).
    pub key: Key,
    /// Backing file type (`st_mode & S_IFMT`) when looked up: the kernel
    /// knows the inode as this type, so a backing entry of another type at
    /// its name was put there behind the mount. 0: not known.
    pub fmt: u32,
    /// Lookups the kernel holds.
    pub lookups: u64,
    /// Every known name was unlinked or replaced: no path leads here.
    pub stale: bool,
    /// Cached directory IV (directories of fusecry/1 volumes with encrypted names).
    pub diriv: Option<DirIv>,
    /// Cached plaintext size of a regular file, valid while the backing
    /// (stored length, mtime, ctime) is unchanged.
    pub size_cache: Option<((u64, i64, i64), u64)>,
    /// Writeback cache: the mtime the kernel holds for this regular file
    /// (from our first reply, or its last setattr). The kernel keeps its
    /// own and tells us only by setattr, so data writes put this back on
    /// the backing file.
    pub kernel_mtime: Option<(i64, i64)>,
}

impl Node {
    /// The parent directory by the first known name.
    pub fn parent(&self) -> Ino {
        self.links.first().map(|l| l.parent).unwrap_or(ROOT)
    }
}

/// All remembered inodes.
#[derive(Debug)]
pub struct InodeTable {
    nodes: HashMap<Ino, Node>,
    by_key: HashMap<Key, Ino>,
    /// Set when the backing's inode numbers do not tell files apart
    /// (rclone): nodes are then found by name only, through `by_link`.
    names_are_identity: bool,
    by_link: HashMap<(Ino, OsString), Ino>,
    next: Ino,
}

impl InodeTable {
    /// A table holding only the root.
    pub fn new(root_key: Key) -> InodeTable {
        let mut t = InodeTable {
            nodes: HashMap::new(),
            by_key: HashMap::new(),
            names_are_identity: false,
            by_link: HashMap::new(),
            next: ROOT + 1,
        };
        t.nodes.insert(
            ROOT,
            Node {
                links: Vec::new(),
                key: root_key,
                fmt: libc::S_IFDIR,
                lookups: 1,
                stale: false,
                diriv: None,
                size_cache: None,
                kernel_mtime: None,
            },
        );
        t.by_key.insert(root_key, ROOT);
        t
    }

    /// For a backing whose inode numbers do not identify files, so that
    /// nodes are found by parent and on-disk name, never by key. rclone
    /// 1.60 numbers an entry by a hash of its path when it first sees it
    /// and keeps that number across renames, so a file renamed away and a
    /// new file at its old name answer the same (device, inode); keyed by
    /// it, both would be one node, the new name showing the old file. Such
    /// a backing has no hard links, the one thing keys are needed for.
    pub fn with_names_as_identity(mut self) -> InodeTable {
        self.names_are_identity = true;
        self
    }

    /// The node, if remembered.
    pub fn get(&self, ino: Ino) -> Option<&Node> {
        self.nodes.get(&ino)
    }

    /// The node, mutably.
    pub fn get_mut(&mut self, ino: Ino) -> Option<&mut Node> {
        self.nodes.get_mut(&ino)
    }

    fn walk<'a>(&'a self, ino: Ino, mut f: impl FnMut(&'a Link)) -> Option<()> {
        let mut cur = ino;
        // A cycle cannot arise from rename (the kernel refuses to move a
        // directory below itself); the depth cap only guards a bug.
        for _ in 0..4096 {
            if cur == ROOT {
                return Some(());
            }
            let n = self.nodes.get(&cur)?;
            if n.stale {
                return None;
            }
            let l = n.links.first()?;
            f(l);
            cur = l.parent;
        }
        None
    }

    /// The backing path of `ino` relative to the volume root, or `None` for
    /// an unknown or stale inode (or one below a stale directory).
    pub fn rel_path(&self, ino: Ino) -> Option<PathBuf> {
        let mut parts: Vec<&OsStr> = Vec::new();
        self.walk(ino, |l| parts.push(&l.disk_name))?;
        Some(parts.iter().rev().collect())
    }

    /// The plaintext path of `ino` inside the mount, for log lines.
    pub fn plain_path(&self, ino: Ino) -> String {
        let mut parts: Vec<String> = Vec::new();
        if self
            .walk(ino, |l| {
                parts.push(l.plain_name.to_string_lossy().into_owned())
            })
            .is_none()
        {
            parts.push(format!("<inode {ino}>"));
        }
        parts.reverse();
        format!("/{}", parts.join("/"))
    }

    /// Records a lookup of the backing file `key` found at `parent`/`disk_name`:
    /// reuses its node (making this name the one to use, as after a rename
    /// or for another hard link) or makes a new one. Returns our inode number.
    pub fn remember(&mut self, parent: Ino, disk_name: &OsStr, plain: &OsStr, key: Key) -> Ino {
        let link = Link {
            parent,
            disk_name: disk_name.to_os_string(),
            plain_name: plain.to_os_string(),
        };
        if self.names_are_identity {
            let found = self.by_link.get(&(parent, disk_name.to_os_string()));
            if let Some(n) = found.and_then(|ino| self.nodes.get_mut(ino)) {
                n.lookups += 1;
                n.key = key;
                n.stale = false;
                for l in n.links.iter_mut().filter(|l| l.disk_name == disk_name) {
                    l.plain_name = plain.to_os_string();
                }
                return *found.expect("found");
            }
        } else if let Some(&ino) = self.by_key.get(&key) {
            if let Some(n) = self.nodes.get_mut(&ino) {
                n.lookups += 1;
                if ino != ROOT {
                    let known = n
                        .links
                        .iter()
                        .any(|l| l.parent == parent && l.disk_name == disk_name);
                    if !known {
                        // A name we did not make (a hard link, or a file
                        // deleted behind the mount whose inode number a new
                        // one reuses): what we cached may be another's.
                        n.diriv = None;
                        n.size_cache = None;
                    }
                    n.links
                        .retain(|l| !(l.parent == parent && l.disk_name == disk_name));
                    n.links.insert(0, link);
                    n.stale = false;
                }
                return ino;
            }
        }
        let ino = self.next;
        self.next += 1;
        self.nodes.insert(
            ino,
            Node {
                links: vec![link],
                key,
                fmt: 0,
                lookups: 1,
                stale: false,
                diriv: None,
                size_cache: None,
                kernel_mtime: None,
            },
        );
        if self.names_are_identity {
            self.by_link.insert((parent, disk_name.to_os_string()), ino);
        } else {
            self.by_key.insert(key, ino);
        }
        ino
    }

    /// Our inode number for a backing file, if remembered (for readdir).
    pub fn ino_of(&self, key: Key) -> Option<Ino> {
        if self.names_are_identity {
            return None;
        }
        self.by_key.get(&key).copied()
    }

    /// The node of backing file `key` if it is known under `parent`/`disk_name`.
    pub fn find_child(&self, parent: Ino, disk_name: &OsStr, key: Key) -> Option<Ino> {
        if self.names_are_identity {
            return self
                .by_link
                .get(&(parent, disk_name.to_os_string()))
                .copied();
        }
        let ino = self.ino_of(key)?;
        let n = self.nodes.get(&ino)?;
        n.links
            .iter()
            .any(|l| l.parent == parent && l.disk_name == disk_name)
            .then_some(ino)
    }

    /// The name `parent`/`disk_name` of `ino` is gone (unlink, rmdir, or
    /// replaced by a rename). `last_link`: the backing inode itself is gone,
    /// so its key may be reused by a new file and must not map here any more.
    pub fn unlinked(&mut self, ino: Ino, parent: Ino, disk_name: &OsStr, last_link: bool) {
        self.unindex_link(ino, parent, disk_name);
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.links
                .retain(|l| !(l.parent == parent && l.disk_name == disk_name));
            n.size_cache = None;
            if n.links.is_empty() || last_link {
                n.stale = true;
            }
            if last_link {
                let key = n.key;
                if self.by_key.get(&key) == Some(&ino) {
                    self.by_key.remove(&key);
                }
            }
        }
    }

    /// Renames one name of a node.
    pub fn moved(&mut self, ino: Ino, from: (Ino, &OsStr), to: (Ino, &OsStr), plain: &OsStr) {
        self.unindex_link(ino, from.0, from.1);
        if self.names_are_identity && self.nodes.contains_key(&ino) {
            self.by_link.insert((to.0, to.1.to_os_string()), ino);
        }
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.links
                .retain(|l| !(l.parent == from.0 && l.disk_name == from.1));
            n.links.insert(
                0,
                Link {
                    parent: to.0,
                    disk_name: to.1.to_os_string(),
                    plain_name: plain.to_os_string(),
                },
            );
        }
    }

    /// Node `ino` now stands for another backing file: a symlink written
    /// anew for its new name by a rename (SPEC §11); the old one is gone.
    pub fn rekeyed(&mut self, ino: Ino, key: Key) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            let old = std::mem::replace(&mut n.key, key);
            if self.names_are_identity {
                return;
            }
            if self.by_key.get(&old) == Some(&ino) {
                self.by_key.remove(&old);
            }
            self.by_key.insert(key, ino);
        }
    }

    /// The kernel forgets `n` lookups; the node goes when none are left.
    pub fn forget(&mut self, ino: Ino, n: u64) {
        if ino == ROOT {
            return;
        }
        let gone = match self.nodes.get_mut(&ino) {
            Some(node) => {
                node.lookups = node.lookups.saturating_sub(n);
                node.lookups == 0
            }
            None => false,
        };
        if gone {
            // Children keep pointing at their parent by number; the kernel
            // forgets a directory only after all of its children, so a live
            // child never dangles.
            let node = self.nodes.remove(&ino).expect("present");
            if self.by_key.get(&node.key) == Some(&ino) {
                self.by_key.remove(&node.key);
            }
            for l in &node.links {
                self.unindex_link(ino, l.parent, &l.disk_name);
            }
        }
    }

    /// Drops `parent`/`disk_name` from the name index if it leads to `ino`.
    fn unindex_link(&mut self, ino: Ino, parent: Ino, disk_name: &OsStr) {
        let k = (parent, disk_name.to_os_string());
        if self.by_link.get(&k) == Some(&ino) {
            self.by_link.remove(&k);
        }
    }

    /// Number of remembered inodes (for tests and memory reports).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Never true: the root is always there.
    pub fn is_empty(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_renames_and_forget_frees() {
        let mut t = InodeTable::new((1, 2));
        let d = t.remember(ROOT, OsStr::new("d"), OsStr::new("D"), (1, 10));
        let f = t.remember(d, OsStr::new("f"), OsStr::new("F"), (1, 11));
        assert_eq!(t.rel_path(f).unwrap(), PathBuf::from("d/f"));
        t.moved(
            d,
            (ROOT, OsStr::new("d")),
            (ROOT, OsStr::new("e")),
            OsStr::new("E"),
        );
        assert_eq!(t.plain_path(f), "/E/F");
        assert_eq!(t.rel_path(f).unwrap(), PathBuf::from("e/f"));
        // A second hard link: same node.
        assert_eq!(
            t.remember(ROOT, OsStr::new("g"), OsStr::new("G"), (1, 11)),
            f
        );
        assert_eq!(t.rel_path(f).unwrap(), PathBuf::from("g"));
        // Unlinking one name leaves the other usable.
        t.unlinked(f, ROOT, OsStr::new("g"), false);
        assert_eq!(t.rel_path(f).unwrap(), PathBuf::from("e/f"));
        t.unlinked(f, d, OsStr::new("f"), true);
        assert!(t.rel_path(f).is_none());
        assert!(t.ino_of((1, 11)).is_none());
        t.forget(f, 2);
        assert!(t.get(f).is_none());
        assert_eq!(t.len(), 2);
        // A node moved onto another backing file keeps its number.
        let l = t.remember(d, OsStr::new("l"), OsStr::new("L"), (1, 12));
        t.rekeyed(l, (1, 13));
        assert!(t.ino_of((1, 12)).is_none());
        assert_eq!(t.ino_of((1, 13)), Some(l));
        assert_eq!(t.rel_path(l).unwrap(), PathBuf::from("e/l"));
    }

    /// A directory deleted behind the mount, whose inode number a new one
    /// reuses: the old IV is not used for the new directory.
    #[test]
    fn a_reused_inode_number_drops_what_was_cached() {
        let mut t = InodeTable::new((1, 2));
        let d = t.remember(ROOT, OsStr::new("d"), OsStr::new("D"), (1, 10));
        t.get_mut(d).unwrap().diriv = Some(DirIv([7; 16]));
        assert_eq!(
            t.remember(ROOT, OsStr::new("d"), OsStr::new("D"), (1, 10)),
            d
        );
        assert!(t.get(d).unwrap().diriv.is_some(), "same name: cache kept");
        let e = t.remember(ROOT, OsStr::new("e"), OsStr::new("E"), (1, 10));
        assert_eq!(e, d);
        assert!(t.get(e).unwrap().diriv.is_none(), "new name: cache dropped");
    }

    /// rclone: a file renamed away keeps its inode number, and a new file
    /// at its old name gets the same one. By name they stay two nodes.
    #[test]
    fn names_as_identity_tells_equal_numbers_apart() {
        let mut t = InodeTable::new((1, 2)).with_names_as_identity();
        let x = t.remember(ROOT, OsStr::new("x"), OsStr::new("X"), (1, 10));
        t.get_mut(x).unwrap().size_cache = Some(((1, 2, 3), 7902));
        t.moved(
            x,
            (ROOT, OsStr::new("x")),
            (ROOT, OsStr::new("a")),
            OsStr::new("A"),
        );
        let new = t.remember(ROOT, OsStr::new("x"), OsStr::new("X"), (1, 10));
        assert_ne!(new, x);
        assert!(t.get(new).unwrap().size_cache.is_none());
        assert_eq!(t.find_child(ROOT, OsStr::new("a"), (1, 99)), Some(x));
        assert_eq!(
            t.remember(ROOT, OsStr::new("a"), OsStr::new("A"), (1, 10)),
            x
        );
        t.unlinked(x, ROOT, OsStr::new("a"), true);
        assert_eq!(t.find_child(ROOT, OsStr::new("a"), (1, 10)), None);
        assert_eq!(t.find_child(ROOT, OsStr::new("x"), (1, 10)), Some(new));
        t.forget(new, 1);
        assert_eq!(t.find_child(ROOT, OsStr::new("x"), (1, 10)), None);
    }
}
