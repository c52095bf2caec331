//! Which stale files and processes are not worth reporting (false-positive filters).
//!
//! Pure. The built-in lists merge Debian checkrestart's ignore list and needrestart's
//! `blacklist_mappings` / `blacklist` defaults (as Debian's debian-goodies 0.88 and needrestart
//! 3.6 ship them):
//! memfd, SYSV shm, `/dev`, drm, `[aio]`, temporary and runtime directories, caches. Users add
//! regexes (rules file `ignore_paths`, scanner `--ignore`); they are matched against the path
//! without the kernel's ` (deleted)` marker.

use regex_lite::Regex;

/// Path prefixes whose mappings are never code that a restart would refresh.
const IGNORED_PREFIXES: &[&str] = &[
    "/memfd:",
    "/SYSV",
    "/dev/",
    "/drm",
    "/i915",
    "/[aio]",
    "/tmp/",
    "/var/tmp/",
    "/run/",
    "/var/run/",
    "/var/log/",
    "/var/local/log/",
    "/var/local/run/",
    "/var/local/tmp/",
    "/usr/lib/locale/",
    "/home/",
    "/var/cache/fontconfig/",
    "/var/lib/nagios3/spool/",
    "/var/lib/postgresql/",
    "/var/lib/vdr/",
    "/var/lib/sss/mc/",
];

const IGNORED_SUFFIXES: &[&str] = &["icon-theme.cache", "/dovecot.index"];

const IGNORED_SUBSTRINGS: &[&str] = &["/.cache/JNA/"];

/// Executables whose processes are never reported (they are part of an upgrade in progress).
const IGNORED_EXES: &[&str] = &[
    "/usr/bin/sudo",
    "/usr/bin/sudo.dpkg-new",
    "/usr/bin/apt-get",
    "/usr/bin/apt-get.dpkg-new",
];

/// needrestart's regex entries that are not plain prefixes, as tests of the last path
/// component: orc JIT code (`/orcexec\.[A-Za-z0-9_]+$`), plasmashell (`/#[0-9]+$`) and JNA
/// (`/jna[0-9]+\.tmp$`). Hand-written: they run on every executable mapping of every process.
fn ignored_file_name(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = name.strip_prefix("orcexec.") {
        return !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    }
    if let Some(rest) = name.strip_prefix('#') {
        return digits(rest);
    }
    name.strip_prefix("jna")
        .and_then(|r| r.strip_suffix(".tmp"))
        .is_some_and(digits)
}

/// Script paths of interpreted processes that are ignored (needrestart `blacklist_interp`).
const IGNORED_SCRIPT_PREFIXES: &[&str] = &["/tmp/", "/var/", "/run/", "/dev/", "/proc/"];

#[derive(Debug)]
pub struct Filters {
    builtin: bool,
    user: Vec<Regex>,
}

impl Filters {
    /// The built-in lists plus the user's regexes. `builtin = false` reports everything but
    /// what the user's regexes drop (checkrestart's `-a`).
    pub fn new(user: Vec<Regex>, builtin: bool) -> Filters {
        Filters { builtin, user }
    }

    /// Is a stale mapped file (path without marker) to be ignored?
    pub fn ignores_path(&self, path: &str) -> bool {
        if self.user.iter().any(|r| r.is_match(path)) {
            return true;
        }
        self.builtin
            && (IGNORED_PREFIXES.iter().any(|p| path.starts_with(p))
                || IGNORED_SUFFIXES.iter().any(|s| path.ends_with(s))
                || IGNORED_SUBSTRINGS.iter().any(|s| path.contains(s))
                || ignored_file_name(path))
    }

    /// Is a process with this executable (without marker) never reported?
    pub fn ignores_exe(&self, exe: &str) -> bool {
        self.builtin && (IGNORED_EXES.contains(&exe) || exe.starts_with("/memfd:"))
    }

    /// Is this interpreter script path ignored?
    pub fn ignores_script(&self, path: &str) -> bool {
        self.user.iter().any(|r| r.is_match(path))
            || (self.builtin && IGNORED_SCRIPT_PREFIXES.iter().any(|p| path.starts_with(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_lists() {
        let f = Filters::new(vec![], true);
        for p in [
            "/memfd:wayland-cursor",
            "/SYSV00000000",
            "/dev/shm/foo",
            "/dev/zero",
            "/drm mm object",
            "/i915",
            "/[aio]",
            "/tmp/ffiXYZ",
            "/var/tmp/x.so",
            "/run/user/1000/x",
            "/usr/lib/locale/locale-archive",
            "/usr/share/icons/hicolor/icon-theme.cache",
            "/var/mail/.imap/INBOX/dovecot.index",
            "/home/u/.cache/JNA/temp/jna123.tmp",
            "/usr/lib/x/orcexec.abc123",
            "/usr/bin/plasmashell/#12345",
            "/tmp/jna1234.tmp",
            "/opt/x/jna99.tmp",
        ] {
            assert!(f.ignores_path(p), "{p}");
        }
        for p in [
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "/usr/sbin/cron",
            "/opt/app/lib.so",
            "/tmpfoo/x",
            "/usr/lib/orcexec.",
            "/usr/lib/orcexec.a-b",
            "/usr/lib/#12a",
            "/usr/lib/#",
            "/usr/lib/jna.tmp",
            "/usr/lib/jna12.tmpx",
            "/usr/lib/xjna12.tmp",
            "/usr/lib/orcexec.x/lib.so",
        ] {
            assert!(!f.ignores_path(p), "{p}");
        }
        assert!(f.ignores_exe("/usr/bin/sudo"));
        assert!(f.ignores_exe("/usr/bin/apt-get.dpkg-new"));
        assert!(!f.ignores_exe("/usr/sbin/sshd"));
        assert!(!f.ignores_exe("/usr/bin/sudo2"));
        assert!(f.ignores_exe("/memfd:x"));
        assert!(f.ignores_script("/tmp/x.pl"));
        assert!(!f.ignores_script("/usr/local/bin/d.pl"));
    }

    #[test]
    fn user_regexes_and_all_mode() {
        let f = Filters::new(vec![Regex::new("^/opt/vendor/").unwrap()], false);
        assert!(f.ignores_path("/opt/vendor/lib.so"));
        assert!(!f.ignores_path("/tmp/x.so"), "built-ins off");
        assert!(!f.ignores_exe("/usr/bin/sudo"));
    }
}
