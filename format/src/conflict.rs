//! SPEC §10.1 "Conflict copies": the names sync tools give the copy they
//! keep when two devices changed one entry, recognised on encrypted names.
//!
//! A sync tool sees only on-disk names, so it puts its marker after an
//! encoded name (which has no extension) or before the `.HASH` "extension"
//! of a hashed long name. The base is still an authenticated encoding
//! (§10); the marker is the tool's, unauthenticated, and limited to the
//! patterns below, so storage can show an existing entry under a
//! conflict name but cannot choose any other name. The mount shows the copy
//! as the tool would have named it had it seen the plaintext: the marker
//! before the plaintext name's extension.

use crate::name::{LONGNAME_PREFIX, LONGNAME_SUFFIX};
use regex::Regex;
use std::sync::LazyLock;

/// The sync tool whose pattern a marker follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// `.sync-conflict-YYYYMMDD-HHMMSS-DEVICE` (device: its 7-character short id).
    Syncthing,
    /// ` (conflicted copy YYYY-MM-DD)`, ` (NAME's conflicted copy YYYY-MM-DD)`,
    /// each optionally numbered ` (N)` inside the parentheses.
    Dropbox,
    /// ` (conflicted copy YYYY-MM-DD HHMMSS)` (Nextcloud desktop 3).
    Nextcloud,
    /// `_conflict-YYYYMMDD-HHMMSS` (ownCloud and Nextcloud desktop before 3).
    OwnCloud,
    /// ` (SFConflict USER YYYY-MM-DD-HH-MM-SS)` (Seafile).
    Seafile,
}

impl Tool {
    /// The tool's name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Syncthing => "Syncthing",
            Tool::Dropbox => "Dropbox",
            Tool::Nextcloud => "Nextcloud",
            Tool::OwnCloud => "ownCloud",
            Tool::Seafile => "Seafile",
        }
    }
}

/// One marker at the start of a string. Free text (a Dropbox device or a
/// Seafile user) excludes parentheses and `/`, so a marker ends where its
/// pattern says.
static MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:",
        r"(?P<st>\.sync-conflict-[0-9]{8}-[0-9]{6}-[A-Z0-9]{7})",
        r"|(?P<db> \((?:[^()/]{1,64}'s )?conflicted copy [0-9]{4}-[0-9]{2}-[0-9]{2}(?P<nc> [0-9]{6})?(?: \([0-9]{1,4}\))?\))",
        r"|(?P<oc>_conflict-[0-9]{8}-[0-9]{6})",
        r"|(?P<sf> \(SFConflict [^()/]{1,64} [0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}\))",
        r")"
    ))
    .expect("a valid pattern")
});

/// The marker at the start of `s`: its length and tool.
fn marker_at(s: &str) -> Option<(usize, Tool)> {
    let c = MARKER.captures(s)?;
    let tool = if c.name("st").is_some() {
        Tool::Syncthing
    } else if c.name("oc").is_some() {
        Tool::OwnCloud
    } else if c.name("sf").is_some() {
        Tool::Seafile
    } else if c.name("nc").is_some() {
        Tool::Nextcloud
    } else {
        Tool::Dropbox
    };
    Some((c.get(0).expect("whole match").end(), tool))
}

/// The ends of the runs of one or more markers at the start of `s` (a copy
/// of a copy carries two), shortest first, and the first marker's tool.
fn marker_ends(s: &str) -> (Vec<usize>, Option<Tool>) {
    let (mut ends, mut first, mut at) = (Vec::new(), None, 0);
    while let Some((n, tool)) = marker_at(&s[at..]) {
        first.get_or_insert(tool);
        at += n;
        ends.push(at);
    }
    (ends, first)
}

/// The tool of `s` if all of it is one or more markers.
pub fn whole_marker(s: &str) -> Option<Tool> {
    match marker_ends(s) {
        (ends, tool) if ends.last() == Some(&s.len()) => tool,
        _ => None,
    }
}

/// Length of the hash part of a hashed long name (§10).
const HASH_LEN: usize = 52;

fn is_base32(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

/// A conflict copy's on-disk name taken apart: the on-disk name of the
/// entry it copies, the marker (as on disk) and its tool.
#[derive(Debug, PartialEq, Eq)]
pub struct DiskCopy<'a> {
    /// On-disk name of the entry copied: an encoded name or a hashed long name.
    pub base: String,
    /// The tool's marker, as found.
    pub marker: &'a str,
    /// Whose pattern it follows.
    pub tool: Tool,
}

/// Splits an on-disk name that is an encoded name, or a hashed long name,
/// with one or more markers added by a sync tool (§10.1): after an encoded
/// name; before or after the `.HASH` of a long name. `None` for anything
/// else, including a long-name sidecar's own copies (which stay hidden).
pub fn split_disk(disk: &str) -> Option<DiskCopy<'_>> {
    let stem = LONGNAME_PREFIX.trim_end_matches('.');
    if let Some(rest) = disk.strip_prefix(stem) {
        if rest.ends_with(LONGNAME_SUFFIX) {
            return None;
        }
        // Before the extension: `fusecry.longname` MARKER `.HASH`.
        if rest.len() > HASH_LEN + 1 {
            let (marker, ext) = rest.split_at(rest.len() - HASH_LEN - 1);
            if ext.starts_with('.') && is_base32(&ext[1..]) {
                if let Some(tool) = whole_marker(marker) {
                    return Some(DiskCopy {
                        base: format!("{stem}{ext}"),
                        marker,
                        tool,
                    });
                }
            }
        }
        // Appended: `fusecry.longname.HASH` MARKER.
        let hash = rest.strip_prefix('.')?.get(..HASH_LEN)?;
        let marker = &rest[1 + HASH_LEN..];
        let tool = is_base32(hash).then(|| whole_marker(marker)).flatten()?;
        return Some(DiskCopy {
            base: format!("{LONGNAME_PREFIX}{hash}"),
            marker,
            tool,
        });
    }
    let cut = disk
        .bytes()
        .position(|b| !(b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)))?;
    let (base, marker) = disk.split_at(cut);
    let tool = is_base32(base).then(|| whole_marker(marker)).flatten()?;
    Some(DiskCopy {
        base: base.to_string(),
        marker,
        tool,
    })
}

/// The on-disk names a copy of `base` (an on-disk name) with `marker` may
/// have: the marker after an encoded name; before or after the `.HASH` of
/// a hashed long name.
pub fn disk_names(base: &str, marker: &str) -> Vec<String> {
    match base.strip_prefix(LONGNAME_PREFIX) {
        Some(hash) => vec![
            format!("{}{marker}.{hash}", LONGNAME_PREFIX.trim_end_matches('.')),
            format!("{base}{marker}"),
        ],
        None => vec![format!("{base}{marker}")],
    }
}

/// The plaintext name a copy of plaintext `name` with `marker` is shown
/// under: the marker before the extension (from the last `.`, unless the
/// name's only `.` begins it), or at the end.
pub fn shown(name: &str, marker: &str) -> String {
    match name.rfind('.').filter(|&i| i > 0) {
        Some(i) => format!("{}{marker}{}", &name[..i], &name[i..]),
        None => format!("{name}{marker}"),
    }
}

/// Every way to read plaintext `shown` as [`shown`]`(name, marker)`: the
/// candidates (name, marker) a lookup tries. Empty for names without a
/// marker, that is for nearly every name.
pub fn split_shown(s: &str) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    for (i, c) in s.char_indices() {
        if !matches!(c, '.' | ' ' | '_') {
            continue;
        }
        for j in marker_ends(&s[i..]).0 {
            let marker = &s[i..i + j];
            let name = format!("{}{}", &s[..i], &s[i + j..]);
            if !name.is_empty() && shown(&name, marker) == s {
                out.push((name, marker));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: &str = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43UOV3HO6DZPJQWEY3EMVTGO";

    #[test]
    fn each_tool_after_an_encoded_name() {
        for (marker, tool) in [
            (".sync-conflict-20261204-101500-ABCDEFG", Tool::Syncthing),
            (" (conflicted copy 2026-12-04)", Tool::Dropbox),
            (
                " (Jane's laptop's conflicted copy 2026-12-04 (2))",
                Tool::Dropbox,
            ),
            (" (conflicted copy 2026-12-04 101500)", Tool::Nextcloud),
            ("_conflict-20261204-101500", Tool::OwnCloud),
            (
                " (SFConflict jane@example.org 2026-12-04-10-15-00)",
                Tool::Seafile,
            ),
        ] {
            let disk = format!("{E}{marker}");
            let c = split_disk(&disk).unwrap();
            assert_eq!((c.base.as_str(), c.marker, c.tool), (E, marker, tool));
            assert_eq!(disk_names(E, marker), vec![disk]);
        }
    }

    #[test]
    fn copies_of_copies_and_non_markers() {
        let m = ".sync-conflict-20261204-101500-ABCDEFG_conflict-20261205-000000";
        let disk = format!("{E}{m}");
        let c = split_disk(&disk).unwrap();
        assert_eq!((c.marker, c.tool), (m, Tool::Syncthing));
        for bad in [
            format!("{E}.conflict"),
            format!("{E}.sync-conflict-2026120-101500-ABCDEFG"),
            format!("{E}.sync-conflict-20261204-101500-ABCDEFG.x"),
            format!("{E} (conflicted copy 2026-12-04"),
            format!("{E} (a/b's conflicted copy 2026-12-04)"),
            ".sync-conflict-20261204-101500-ABCDEFG".into(),
            "fusecry.diriv".into(),
            E.into(),
        ] {
            assert_eq!(split_disk(&bad), None, "{bad}");
        }
    }

    #[test]
    fn long_names_both_ways_and_their_sidecars_never() {
        let hash = "A".repeat(HASH_LEN);
        let base = format!("{LONGNAME_PREFIX}{hash}");
        let m = ".sync-conflict-20261204-101500-ABCDEFG";
        for disk in disk_names(&base, m) {
            let c = split_disk(&disk).unwrap();
            assert_eq!((c.base.as_str(), c.marker), (base.as_str(), m));
        }
        let d = format!("fusecry.longname (conflicted copy 2026-12-04).{hash}");
        assert_eq!(split_disk(&d).unwrap().base, base);
        assert_eq!(split_disk(&format!("{base}{m}{LONGNAME_SUFFIX}")), None);
        assert_eq!(
            split_disk(&format!("fusecry.longname{m}.{hash}.name")),
            None
        );
        assert_eq!(
            split_disk(&format!("fusecry.longname{m}.{}", &hash[1..])),
            None
        );
    }

    #[test]
    fn shown_names_split_back() {
        let m = ".sync-conflict-20261204-101500-ABCDEFG";
        for (name, want) in [
            (
                "report.odt",
                "report.sync-conflict-20261204-101500-ABCDEFG.odt",
            ),
            ("a.tar.gz", "a.tar.sync-conflict-20261204-101500-ABCDEFG.gz"),
            ("Makefile", "Makefile.sync-conflict-20261204-101500-ABCDEFG"),
            (".bashrc", ".bashrc.sync-conflict-20261204-101500-ABCDEFG"),
        ] {
            assert_eq!(shown(name, m), want);
            assert!(split_shown(want).contains(&(name.to_string(), m)), "{want}");
        }
        assert!(split_shown("report.odt").is_empty());
        assert!(split_shown("x.sync-conflict-1.odt").is_empty());
        // A name that itself holds a marker is one more candidate.
        let two =
            split_shown("a.sync-conflict-20261204-101500-ABCDEFG (conflicted copy 2026-12-04).txt");
        assert!(
            two.contains(&(
                "a.sync-conflict-20261204-101500-ABCDEFG.txt".into(),
                " (conflicted copy 2026-12-04)"
            )),
            "{two:?}"
        );
        assert!(two.contains(&(
            "a.txt".into(),
            ".sync-conflict-20261204-101500-ABCDEFG (conflicted copy 2026-12-04)"
        )));
    }
}
