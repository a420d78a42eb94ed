//! Which set-ID bits a write or truncate clears: the kernel's
//! `setattr_should_drop_suidgid`, ours to apply under
//! FUSE_HANDLE_KILLPRIV_V2. For a caller without CAP_FSETID,
//! set-user-ID always goes; set-group-ID goes where the group may
//! execute, or where the caller is not in the file's group (without
//! group execute it would otherwise mark mandatory locking, which only a
//! member may keep).

use crate::cryptfs::Caller;

/// The permission bits `mode` keeps after `who` (without CAP_FSETID)
/// writes to or truncates a file of group `file_gid`.
pub fn after_write(mode: u32, file_gid: u32, who: &Caller) -> u32 {
    let mode = mode & 0o7777;
    let mut keep = mode & !libc::S_ISUID;
    if mode & libc::S_ISGID != 0 && (mode & libc::S_IXGRP != 0 || !in_group(who, file_gid)) {
        keep &= !libc::S_ISGID;
    }
    keep
}

/// Whether `gid` is the caller's file-system group or one of its
/// supplementary groups (FUSE passes only the former; the others are read
/// from /proc while the caller waits on its request).
pub fn in_group(who: &Caller, gid: u32) -> bool {
    if who.gid == gid {
        return true;
    }
    std::fs::read_to_string(format!("/proc/{}/status", who.pid))
        .is_ok_and(|status| lists_group(&status, gid))
}

/// Whether the `Groups:` line of a /proc status file lists `gid`.
fn lists_group(status: &str, gid: u32) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .is_some_and(|g| g.split_whitespace().any(|n| n.parse() == Ok(gid)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_group_id_goes_with_group_execute_or_for_a_non_member() {
        let member = Caller {
            uid: 1000,
            gid: 50,
            pid: 0,
        };
        assert_eq!(after_write(0o6777, 50, &member), 0o777);
        assert_eq!(after_write(0o6767, 50, &member), 0o2767);
        assert_eq!(after_write(0o6767, 60, &member), 0o767);
        assert_eq!(after_write(0o1755, 60, &member), 0o1755);
        // A pid that is not running: only the file-system group counts.
        let me = Caller {
            uid: 1000,
            gid: 7,
            pid: u32::MAX,
        };
        assert_eq!(after_write(0o2660, 7, &me), 0o2660);
        assert_eq!(after_write(0o2660, 8, &me), 0o660);
    }

    #[test]
    fn supplementary_groups_come_from_the_status_groups_line() {
        let status = "Name:\tsh\nGid:\t5\t5\t5\t5\nGroups:\t4 24 1000 \nNSpid:\t9\n";
        assert!(lists_group(status, 24));
        assert!(lists_group(status, 1000));
        assert!(!lists_group(status, 5));
        assert!(!lists_group(status, 2));
        assert!(!lists_group("Groups:\t\n", 0));
    }
}
