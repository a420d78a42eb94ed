//! The command line that `mount -t fuse.fusecry` and /etc/fstab give us.
//!
//! mount(8) runs the `mount.fuse3` helper, which runs `fusecry SRC MNT -o
//! OPTS` (the type after `fuse.` names the program). [`rewrite`] turns that
//! form into `fusecry mount SRC MNT ...` before clap sees it, and in any
//! `mount` command maps the fstab-style `key=value` options onto their
//! flags: `passfile=` (--password-file), `extpass=` (--extpass), `keyfile=`
//! (--key), `conf=` (--conf), `idle=` (--idle), `threads=` (--threads),
//! `log=` (--log). The options mount(8) and systemd keep for themselves
//! (noauto, nofail, _netdev, x-systemd.*, ...) are dropped by
//! `cmd::mount::parse_opts`, which also takes the kernel's generic flags.

use std::ffi::OsString;

/// Option keys with a value, and the flag each becomes.
const VALUED: [(&str, &str); 7] = [
    ("passfile", "--password-file"),
    ("extpass", "--extpass"),
    ("keyfile", "--key"),
    ("conf", "--conf"),
    ("idle", "--idle"),
    ("threads", "--threads"),
    ("log", "--log"),
];

/// The command line clap should parse, given this process's `args`
/// (`args[0]` the program). `subcommands` are the names clap knows: a first
/// argument that is none of them and no flag, followed by a second plain
/// argument, is the helper's `SRC MNT` form.
pub fn rewrite(args: Vec<OsString>, subcommands: &[String]) -> Vec<OsString> {
    let plain = |a: Option<&OsString>| {
        a.and_then(|a| a.to_str())
            .is_some_and(|s| !s.starts_with('-'))
    };
    let first = args
        .get(1)
        .and_then(|a| a.to_str())
        .unwrap_or("")
        .to_string();
    let helper_form = plain(args.get(1)) && plain(args.get(2)) && !subcommands.contains(&first);
    let mut out: Vec<OsString> = Vec::with_capacity(args.len() + 4);
    let mut rest = args.into_iter();
    out.extend(rest.next());
    if helper_form {
        out.push("mount".into());
    } else if first != "mount" {
        out.extend(rest);
        return out;
    }
    let mut kept: Vec<String> = Vec::new();
    let mut flags: Vec<OsString> = Vec::new();
    while let Some(a) = rest.next() {
        // `-o LIST` or `-oLIST`; anything else passes through.
        let list = match a.to_str() {
            Some("-o") => match rest.next() {
                Some(l) => l,
                None => {
                    out.push(a);
                    continue;
                }
            },
            Some(s) if s.starts_with("-o") && s.len() > 2 => s[2..].into(),
            _ => {
                out.push(a);
                continue;
            }
        };
        let Some(list) = list.to_str().map(str::to_string) else {
            // Not UTF-8: leave it to clap and parse_opts to refuse.
            out.push("-o".into());
            out.push(list);
            continue;
        };
        for opt in list.split(',').filter(|o| !o.is_empty()) {
            let valued = opt.split_once('=').and_then(|(k, v)| {
                VALUED
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, f)| (*f, v))
            });
            match valued {
                Some((flag, value)) => {
                    flags.push(flag.into());
                    flags.push(value.into());
                }
                None => kept.push(opt.to_string()),
            }
        }
    }
    out.extend(flags);
    if !kept.is_empty() {
        out.push("-o".into());
        out.push(kept.join(",").into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Vec<String> {
        let subs: Vec<String> = ["mount", "init", "umount"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        rewrite(args.iter().map(OsString::from).collect(), &subs)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn the_mount_helper_form_becomes_a_mount_command() {
        assert_eq!(
            run(&[
                "fusecry",
                "/srv/c",
                "/mnt/p",
                "-o",
                "rw,nofail,passfile=/etc/fusecry/pw,conf=/etc/c.conf,allow_other,x-systemd.automount,idle=10m"
            ]),
            [
                "fusecry",
                "mount",
                "/srv/c",
                "/mnt/p",
                "--password-file",
                "/etc/fusecry/pw",
                "--conf",
                "/etc/c.conf",
                "--idle",
                "10m",
                "-o",
                "rw,nofail,allow_other,x-systemd.automount"
            ]
        );
        // Only valued options: no -o left.
        assert_eq!(
            run(&["fusecry", "src", "mnt", "-okeyfile=/k.pem"]),
            ["fusecry", "mount", "src", "mnt", "--key", "/k.pem"]
        );
    }

    #[test]
    fn other_commands_pass_through_and_mount_maps_its_options() {
        assert_eq!(run(&["fusecry", "init", "dir"]), ["fusecry", "init", "dir"]);
        assert_eq!(run(&["fusecry", "--help"]), ["fusecry", "--help"]);
        assert_eq!(
            run(&["fusecry", "umount", "/mnt"]),
            ["fusecry", "umount", "/mnt"]
        );
        assert_eq!(
            run(&[
                "fusecry",
                "mount",
                "a",
                "b",
                "-o",
                "ro,extpass=secret-tool lookup fusecry x",
                "-f"
            ]),
            [
                "fusecry",
                "mount",
                "a",
                "b",
                "-f",
                "--extpass",
                "secret-tool lookup fusecry x",
                "-o",
                "ro"
            ]
        );
        // One argument alone is not the helper form (clap explains the error).
        assert_eq!(run(&["fusecry", "src"]), ["fusecry", "src"]);
    }
}
