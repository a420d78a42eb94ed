//! POSIX ACLs (`-o acl`, SPEC §11.1): the kernel's xattr form of an ACL
//! and the rules a local filesystem keeps between an ACL and the mode.
//!
//! With FUSE_POSIX_ACL the kernel enforces the ACLs we return from
//! `getxattr` (it implies default_permissions), but leaves everything a
//! local filesystem does in fs/posix_acl.c to the daemon: the permission
//! bits an access ACL implies, inheritance from a directory's default ACL
//! when an entry is created (in place of the umask), and rewriting the ACL
//! on chmod. This module is those rules over the xattr bytes; the mount
//! stores the bytes encrypted like any other xattr value.

/// The access ACL's xattr name.
pub const ACCESS: &str = fusecry_format::xattr::ACL_NAMES[0];
/// A directory's default ACL's xattr name.
pub const DEFAULT: &str = fusecry_format::xattr::ACL_NAMES[1];

/// `POSIX_ACL_XATTR_VERSION`.
const VERSION: u32 = 2;
const USER_OBJ: u16 = 0x01;
const USER: u16 = 0x02;
const GROUP_OBJ: u16 = 0x04;
const GROUP: u16 = 0x08;
const MASK: u16 = 0x10;
const OTHER: u16 = 0x20;
/// The id stored for entries that carry none (`ACL_UNDEFINED_ID`).
const NO_ID: u32 = u32::MAX;

/// Whether `name` is one of the two ACL xattrs.
pub fn is_acl(name: &str) -> bool {
    name == ACCESS || name == DEFAULT
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    tag: u16,
    perm: u16,
    id: u32,
}

/// A valid ACL, in the kernel's order (by tag, then id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acl(Vec<Entry>);

impl Acl {
    /// Parses xattr bytes (little-endian: version, then tag, perm, id per
    /// entry) and checks them as `posix_acl_valid` does: one owner, owning
    /// group and other entry, a mask wherever named users or groups are,
    /// named entries in ascending id order without repeats. `None` for
    /// anything else.
    pub fn parse(b: &[u8]) -> Option<Acl> {
        let (head, body) = b.split_first_chunk::<4>()?;
        if u32::from_le_bytes(*head) != VERSION || body.len() % 8 != 0 || body.is_empty() {
            return None;
        }
        let entries: Vec<Entry> = body
            .chunks_exact(8)
            .map(|e| Entry {
                tag: u16::from_le_bytes([e[0], e[1]]),
                perm: u16::from_le_bytes([e[2], e[3]]),
                id: u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
            })
            .collect();
        let count = |t| entries.iter().filter(|e| e.tag == t).count();
        let named = count(USER) + count(GROUP);
        let ordered = entries.windows(2).all(|w| {
            w[0].tag < w[1].tag
                || (w[0].tag == w[1].tag && matches!(w[0].tag, USER | GROUP) && w[0].id < w[1].id)
        });
        let known = entries.iter().all(|e| {
            e.perm & !7 == 0 && matches!(e.tag, USER_OBJ | USER | GROUP_OBJ | GROUP | MASK | OTHER)
        });
        let valid = known
            && ordered
            && count(USER_OBJ) == 1
            && count(GROUP_OBJ) == 1
            && count(OTHER) == 1
            && count(MASK) <= 1
            && (named == 0 || count(MASK) == 1);
        valid.then_some(Acl(entries))
    }

    /// The xattr bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = VERSION.to_le_bytes().to_vec();
        for e in &self.0 {
            out.extend_from_slice(&e.tag.to_le_bytes());
            out.extend_from_slice(&e.perm.to_le_bytes());
            let id = if matches!(e.tag, USER | GROUP) {
                e.id
            } else {
                NO_ID
            };
            out.extend_from_slice(&id.to_le_bytes());
        }
        out
    }

    fn perm(&self, tag: u16) -> u32 {
        self.0
            .iter()
            .find(|e| e.tag == tag)
            .map_or(0, |e| e.perm as u32)
    }

    /// Whether the ACL says no more than the permission bits
    /// (`posix_acl_equiv_mode` == 0): only the owner, owning group and
    /// other entries. Such an access ACL is not stored; the mode is.
    pub fn is_minimal(&self) -> bool {
        self.0.len() == 3
    }

    /// The permission bits (0o777) the ACL implies: the group bits are the
    /// mask where there is one, as `ls -l` shows them.
    pub fn mode_bits(&self) -> u32 {
        let group = if self.0.iter().any(|e| e.tag == MASK) {
            MASK
        } else {
            GROUP_OBJ
        };
        self.perm(USER_OBJ) << 6 | self.perm(group) << 3 | self.perm(OTHER)
    }

    /// The permissions the owning group really has: its entry, cut by the
    /// mask where there is one.
    pub fn group_effective(&self) -> u32 {
        let mask = if self.0.iter().any(|e| e.tag == MASK) {
            self.perm(MASK)
        } else {
            7
        };
        self.perm(GROUP_OBJ) & mask
    }

    /// `posix_acl_chmod`: the owner, mask (or owning group without one) and
    /// other entries take the new permission bits.
    pub fn chmod(&mut self, mode: u32) {
        let has_mask = self.0.iter().any(|e| e.tag == MASK);
        for e in &mut self.0 {
            let bits = match e.tag {
                USER_OBJ => mode >> 6,
                MASK => mode >> 3,
                GROUP_OBJ if !has_mask => mode >> 3,
                OTHER => mode,
                _ => continue,
            };
            e.perm = (bits & 7) as u16;
        }
    }

    /// `posix_acl_create_masq`: this default ACL of a directory, applied to
    /// a new entry asking for `mode`. Returns the entry's mode (the
    /// requested bits cut by the ACL; type and set-ID bits kept) and its
    /// access ACL, `None` where the mode says it all.
    pub fn create(&self, mode: u32) -> (u32, Option<Acl>) {
        let mut acl = self.clone();
        let mut bits = mode & 0o777;
        let has_mask = acl.0.iter().any(|e| e.tag == MASK);
        for e in &mut acl.0 {
            let shift = match e.tag {
                USER_OBJ => 6,
                OTHER => 0,
                MASK => 3,
                GROUP_OBJ if !has_mask => 3,
                _ => continue,
            };
            e.perm &= ((bits >> shift) & 7) as u16;
            bits &= ((e.perm as u32) << shift) | !(7 << shift);
        }
        let mode = (mode & !0o777) | bits;
        (mode, (!acl.is_minimal()).then_some(acl))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        Acl(entries
            .iter()
            .map(|&(tag, perm, id)| Entry { tag, perm, id })
            .collect())
        .to_bytes()
    }

    #[test]
    fn parses_what_setfacl_sends_and_refuses_the_invalid() {
        let b = acl(&[
            (USER_OBJ, 6, 0),
            (USER, 4, 1000),
            (GROUP_OBJ, 4, 0),
            (MASK, 6, 0),
            (OTHER, 0, 0),
        ]);
        let a = Acl::parse(&b).unwrap();
        assert_eq!(a.to_bytes(), b);
        assert_eq!(a.mode_bits(), 0o660);
        assert!(!a.is_minimal());
        // Named entry without a mask, missing owner, wrong order, bad version.
        assert!(Acl::parse(&acl(&[
            (USER_OBJ, 6, 0),
            (USER, 4, 1),
            (GROUP_OBJ, 4, 0),
            (OTHER, 0, 0)
        ]))
        .is_none());
        assert!(Acl::parse(&acl(&[(GROUP_OBJ, 4, 0), (OTHER, 0, 0)])).is_none());
        assert!(Acl::parse(&acl(&[(GROUP_OBJ, 4, 0), (USER_OBJ, 6, 0), (OTHER, 0, 0)])).is_none());
        assert!(Acl::parse(&acl(&[
            (USER_OBJ, 6, 0),
            (USER, 4, 7),
            (USER, 4, 7),
            (GROUP_OBJ, 4, 0),
            (MASK, 4, 0),
            (OTHER, 0, 0)
        ]))
        .is_none());
        let mut v1 = b.clone();
        v1[0] = 1;
        assert!(Acl::parse(&v1).is_none());
        assert!(Acl::parse(&b[..b.len() - 1]).is_none());
        assert!(Acl::parse(&VERSION.to_le_bytes()).is_none());
    }

    #[test]
    fn chmod_sets_owner_mask_and_other() {
        let mut a = Acl::parse(&acl(&[
            (USER_OBJ, 7, 0),
            (USER, 7, 5),
            (GROUP_OBJ, 5, 0),
            (MASK, 7, 0),
            (OTHER, 5, 0),
        ]))
        .unwrap();
        a.chmod(0o640);
        assert_eq!(a.mode_bits(), 0o640);
        // The owning group's own entry stays: only the mask follows the mode.
        assert_eq!(a.perm(GROUP_OBJ), 5);
        assert_eq!(a.perm(USER), 7);
        let mut m =
            Acl::parse(&acl(&[(USER_OBJ, 7, 0), (GROUP_OBJ, 7, 0), (OTHER, 7, 0)])).unwrap();
        m.chmod(0o751);
        assert_eq!(m.mode_bits(), 0o751);
    }

    #[test]
    fn create_cuts_the_mode_by_the_default_acl_instead_of_the_umask() {
        // setfacl -d -m u::rwx,u:1000:rwx,g::r-x,m::rwx,o::---
        let d = Acl::parse(&acl(&[
            (USER_OBJ, 7, 0),
            (USER, 7, 1000),
            (GROUP_OBJ, 5, 0),
            (MASK, 7, 0),
            (OTHER, 0, 0),
        ]))
        .unwrap();
        let (mode, access) = d.create(libc::S_IFREG | 0o666);
        assert_eq!(mode, libc::S_IFREG | 0o660);
        let access = access.unwrap();
        assert_eq!(access.perm(USER), 7);
        assert_eq!(access.perm(MASK), 6);
        assert_eq!(access.perm(OTHER), 0);
        assert_eq!(access.group_effective(), 4);
        let (mode, _) = d.create(libc::S_IFDIR | libc::S_ISGID | 0o777);
        assert_eq!(mode, libc::S_IFDIR | libc::S_ISGID | 0o770);
        // A minimal default ACL acts as a umask and leaves no access ACL.
        let m = Acl::parse(&acl(&[(USER_OBJ, 7, 0), (GROUP_OBJ, 0, 0), (OTHER, 0, 0)])).unwrap();
        assert_eq!(m.create(0o666), (0o600, None));
    }
}
