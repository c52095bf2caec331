//! The script of an interpreted daemon that rewrote its command line (perl's `$0 = "name
//! (master)"`, python's setproctitle): found in its systemd unit's `ExecStart=`, never by
//! running anything. Pure over a [`Sources`] (the unit files and the script's first line are
//! read through it): the unit file and its drop-ins in systemd's order, the last `ExecStart=`
//! after any reset, then either the interpreter and its script (`/usr/bin/perl /usr/sbin/d`)
//! or a program whose `#!` line names the same interpreter (`/usr/sbin/d` with `#!/usr/bin/perl`).

use crate::imports::Sources;
use crate::interp::{self, Interpreter};

/// Where systemd reads unit files, most important first (the first file found is the unit;
/// drop-ins of every directory apply, in this order reversed, later ones winning).
const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];
const MAX_UNIT_BYTES: usize = 64 << 10;
/// Drop-in names tried per directory (`override.conf` is systemctl edit's; a few numbered).
const DROP_INS: &[&str] = &["override.conf", "10-override.conf", "50-override.conf"];

/// The argument vector of the last `ExecStart=` of `texts` (the unit, then its drop-ins), its
/// `@-:+!` prefixes dropped; `None` when empty, reset, or using specifiers or quotes this
/// simple reader does not expand (never a guess).
pub fn exec_start<'a>(texts: impl Iterator<Item = &'a str>) -> Option<Vec<String>> {
    let mut last: Option<&str> = None;
    for text in texts {
        let mut in_service = false;
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_service = line == "[Service]";
                continue;
            }
            if !in_service {
                continue;
            }
            if let Some(v) = line.strip_prefix("ExecStart=") {
                let v = v.trim();
                last = (!v.is_empty()).then_some(v);
            }
        }
    }
    let v = last?.trim_start_matches(['@', '-', ':', '+', '!']);
    if v.contains(['%', '"', '\'', '\\', '$', ';']) {
        return None;
    }
    let argv: Vec<String> = v.split_whitespace().map(String::from).collect();
    argv.first().filter(|a| a.starts_with('/'))?;
    Some(argv)
}

/// The unit's script for a process of `unit` running `interp`; `None` when the unit cannot be
/// read or does not name one.
pub fn script(unit: &str, interp: Interpreter, files: &impl Sources) -> Option<String> {
    if unit.contains(['/', '%']) || unit.contains("@.") || !unit.ends_with(".service") {
        return None;
    }
    let main = UNIT_DIRS
        .iter()
        .find_map(|d| files.read(&format!("{d}/{unit}"), MAX_UNIT_BYTES))?;
    let mut texts = vec![main];
    for d in UNIT_DIRS.iter().rev() {
        for name in DROP_INS {
            if let Some(t) = files.read(&format!("{d}/{unit}.d/{name}"), MAX_UNIT_BYTES) {
                texts.push(t);
            }
        }
    }
    let argv = exec_start(texts.iter().map(String::as_str))?;
    if interp::detect(&argv[0]) == Some(interp) {
        return interp::script_arg(interp, &argv).filter(|s| s.starts_with('/'));
    }
    // a program run through its `#!` line
    let head = files.read(&argv[0], 256)?;
    let shebang = head.lines().next()?.strip_prefix("#!")?;
    let mut words = shebang.split_whitespace();
    let mut prog = words.next()?;
    if prog.ends_with("/env") {
        prog = words.find(|w| !w.starts_with('-'))?;
    }
    let named = if prog.starts_with('/') {
        interp::detect(prog)
    } else {
        interp::detect(&format!("/usr/bin/{prog}"))
    };
    (named == Some(interp)).then(|| argv[0].clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Files(HashMap<&'static str, &'static str>);
    impl Sources for Files {
        fn read(&self, path: &str, max: usize) -> Option<String> {
            self.0.get(path).map(|t| t.chars().take(max).collect())
        }
    }

    #[test]
    fn the_script_of_a_daemon_that_renamed_itself_is_its_units() {
        let files = Files(HashMap::from([
            (
                "/lib/systemd/system/munin-node.service",
                "[Unit]\nDescription=x\nExecStart=/nope\n[Service]\nExecStart=/usr/sbin/munin-node --foreground\n",
            ),
            ("/usr/sbin/munin-node", "#!/usr/bin/perl -wT\nuse strict;\n"),
            (
                "/etc/systemd/system/app.service",
                "[Service]\nExecStart=-/usr/bin/python3 -u /srv/app/main.py --serve\n",
            ),
            (
                "/lib/systemd/system/envy.service",
                "[Service]\nExecStart=/opt/envy\n",
            ),
            ("/opt/envy", "#!/usr/bin/env -S python3 -u\n"),
            (
                "/lib/systemd/system/reset.service",
                "[Service]\nExecStart=/usr/bin/perl /srv/old.pl\n",
            ),
            (
                "/etc/systemd/system/reset.service.d/override.conf",
                "[Service]\nExecStart=\nExecStart=/usr/bin/perl /srv/new.pl\n",
            ),
            (
                "/lib/systemd/system/quoted.service",
                "[Service]\nExecStart=/usr/bin/perl \"/srv/a b.pl\"\n",
            ),
        ]));
        let perl = Interpreter::Perl;
        let py = Interpreter::Python;
        assert_eq!(
            script("munin-node.service", perl, &files).as_deref(),
            Some("/usr/sbin/munin-node")
        );
        assert_eq!(
            script("munin-node.service", py, &files),
            None,
            "another interpreter"
        );
        assert_eq!(
            script("app.service", py, &files).as_deref(),
            Some("/srv/app/main.py")
        );
        assert_eq!(
            script("envy.service", py, &files).as_deref(),
            Some("/opt/envy")
        );
        assert_eq!(
            script("reset.service", perl, &files).as_deref(),
            Some("/srv/new.pl")
        );
        assert_eq!(
            script("quoted.service", perl, &files),
            None,
            "quotes: not guessed"
        );
        assert_eq!(script("missing.service", perl, &files), None);
        assert_eq!(script("../x.service", perl, &files), None);
    }
}
