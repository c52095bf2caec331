//! Parsing of `/proc/PID/maps` lines.
//!
//! Pure: takes text, returns [`Mapping`]s. The kernel pads the fields with spaces and escapes a
//! newline in a file name as `\012`; a file name may itself contain spaces or the text
//! `(deleted)`, so the path is "everything after the inode field's padding", never split on
//! whitespace. Whether a ` (deleted)` suffix is the kernel's marker or part of the name is decided
//! later, by `detect`, with a stat of the real file.

/// One line of `/proc/PID/maps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// `start-end` in hex without leading zeros: the name of the `/proc/PID/map_files` entry
    /// (maps pads addresses to 8 digits, `00400000`; map_files does not, `400000`).
    pub range: String,
    pub perms: String,
    /// Device as printed, `major:minor` in hex.
    pub dev_major: u32,
    pub dev_minor: u32,
    pub inode: u64,
    /// The path column with `\012` decoded; empty for anonymous mappings.
    pub path: String,
}

/// The suffix the kernel appends to the path of an unlinked file.
pub const DELETED_SUFFIX: &str = " (deleted)";

impl Mapping {
    /// A mapping of a file (not anonymous, not `[heap]`, `[stack]`, ...).
    pub fn is_file(&self) -> bool {
        self.inode != 0 && self.path.starts_with('/')
    }

    pub fn is_executable(&self) -> bool {
        self.perms.as_bytes().get(2) == Some(&b'x')
    }

    /// The path with the kernel's ` (deleted)` marker removed, and whether it was there.
    pub fn path_without_marker(&self) -> (&str, bool) {
        match self.path.strip_suffix(DELETED_SUFFIX) {
            Some(p) => (p, true),
            None => (&self.path, false),
        }
    }
}

/// Parses one maps line; `None` for a line that is not of the kernel's form.
pub fn parse_line(line: &str) -> Option<Mapping> {
    let mut rest = line;
    let mut field = || -> Option<&str> {
        let r = rest.trim_start_matches(' ');
        let end = r.find(' ').unwrap_or(r.len());
        let (f, tail) = r.split_at(end);
        rest = tail;
        if f.is_empty() {
            None
        } else {
            Some(f)
        }
    };
    let range = field()?;
    let perms = field()?;
    let _offset = field()?;
    let dev = field()?;
    let inode = field()?;
    let (start, end) = range.split_once('-')?;
    if !is_hex(start) || !is_hex(end) || perms.len() != 4 {
        return None;
    }
    let (maj, min) = dev.split_once(':')?;
    let dev_major = u32::from_str_radix(maj, 16).ok()?;
    let dev_minor = u32::from_str_radix(min, 16).ok()?;
    let inode: u64 = inode.parse().ok()?;
    // The path column starts after the padding; it never begins with a space itself
    // (file paths are absolute, pseudo paths start with '[').
    let path = rest.trim_start_matches(' ');
    Some(Mapping {
        range: map_files_name(start, end),
        perms: perms.to_string(),
        dev_major,
        dev_minor,
        inode,
        path: unescape(path),
    })
}

/// Parses a whole maps file, skipping malformed lines.
pub fn parse(text: &str) -> Vec<Mapping> {
    text.lines().filter_map(parse_line).collect()
}

/// The executable file mappings of a maps file: what detection looks at. Works on the bytes:
/// lines whose permissions lack `x`, anonymous ones and pseudo paths are skipped before any
/// UTF-8 check or allocation (most of a process's mappings are data, stack and heap); a file
/// name that is not UTF-8 is decoded lossily, as the kernel's escaping leaves it.
pub fn parse_executable_files(text: &[u8]) -> Vec<Mapping> {
    let mut out = Vec::new();
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', text).chain([text.len()]) {
        let line = &text[start..end];
        start = end + 1;
        let Some(sp) = memchr::memchr(b' ', line) else {
            continue;
        };
        // the perms field follows the range: `r-xp`; a file path follows the inode field
        if line.get(sp + 3) != Some(&b'x') || memchr::memchr(b'/', line).is_none() {
            continue;
        }
        let m = match std::str::from_utf8(line) {
            Ok(l) => parse_line(l),
            Err(_) => parse_line(&String::from_utf8_lossy(line)),
        };
        out.extend(m.filter(Mapping::is_file));
    }
    out
}

/// `start-end` as `/proc/PID/map_files` names it: hex digits without leading zeros.
fn map_files_name(start: &str, end: &str) -> String {
    let mut out = String::with_capacity(start.len() + end.len() + 1);
    for (i, s) in [start, end].into_iter().enumerate() {
        if i == 1 {
            out.push('-');
        }
        match s.trim_start_matches('0') {
            "" => out.push('0'),
            t => t.chars().for_each(|c| out.push(c.to_ascii_lowercase())),
        }
    }
    out
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The kernel prints a newline in a path as the octal escape `\012` (seq_path with "\n").
fn unescape(path: &str) -> String {
    if path.contains('\\') {
        path.replace("\\012", "\n")
    } else {
        path.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executable_file_mappings_only() {
        let text = "55d0-55d1 r--p 00000000 fe:01 10 /usr/sbin/cron\n\
                    55d1-55d2 r-xp 00001000 fe:01 10 /usr/sbin/cron\n\
                    7f00-7f01 rw-p 00000000 00:00 0 \n\
                    7f01-7f02 r-xp 00000000 00:00 0 [vdso]\n\
                    7f02-7f03 r-xp 00002000 fe:01 20 /usr/lib/libx.so (deleted)\n\
                    7f03-7f04 r-xp 00002000 fe:01 21 /opt/cafXX\\012.so\n\
                    garbage\n";
        let mut bytes = text.as_bytes().to_vec();
        // a file name that is not UTF-8 (Latin-1 é): still reported, lossily
        let at = bytes.windows(2).position(|w| w == b"XX").unwrap();
        bytes.splice(at..at + 2, [0xe9]);
        let m = parse_executable_files(&bytes);
        let paths: Vec<&str> = m.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/usr/sbin/cron",
                "/usr/lib/libx.so (deleted)",
                "/opt/caf\u{fffd}\n.so"
            ]
        );
        assert!(m.iter().all(|m| m.is_file() && m.is_executable()));
    }

    #[test]
    fn map_files_names_have_no_padding() {
        // a non-PIE executable below 4 GiB: maps pads to 8 digits, map_files does not
        let m = parse_line("00400000-00452000 r-xp 00000000 fe:01 10 /usr/sbin/old").unwrap();
        assert_eq!(m.range, "400000-452000");
    }

    #[test]
    fn plain_library_line() {
        let m = parse_line("7f1c2a000000-7f1c2a022000 r-xp 00028000 fe:01 1835029                    /usr/lib/x86_64-linux-gnu/libc.so.6").unwrap();
        assert_eq!(m.range, "7f1c2a000000-7f1c2a022000");
        assert_eq!((m.dev_major, m.dev_minor, m.inode), (0xfe, 1, 1835029));
        assert_eq!(m.path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
        assert!(m.is_file() && m.is_executable());
        assert_eq!(
            m.path_without_marker(),
            ("/usr/lib/x86_64-linux-gnu/libc.so.6", false)
        );
    }

    #[test]
    fn deleted_marker_is_kept_in_path_and_split_on_request() {
        let m = parse_line("7f00-7f10 r-xp 00000000 00:27 10010758                   /tmp/ovt/merged/libt.so (deleted)").unwrap();
        assert_eq!(m.path_without_marker(), ("/tmp/ovt/merged/libt.so", true));
    }

    #[test]
    fn spaces_and_deleted_text_inside_file_names() {
        let m = parse_line("7f00-7f10 r-xp 00000000 08:01 42     /opt/my app/lib (deleted) v2.so")
            .unwrap();
        assert_eq!(m.path, "/opt/my app/lib (deleted) v2.so");
        assert!(!m.path_without_marker().1);
        let m =
            parse_line("7f00-7f10 r-xp 00000000 08:01 42     /opt/my app/x (deleted).so (deleted)")
                .unwrap();
        assert_eq!(
            m.path_without_marker(),
            ("/opt/my app/x (deleted).so", true)
        );
        // a name that ends in " (deleted)" on its own is indistinguishable here; detect stats it
        let m = parse_line("7f00-7f10 r-xp 00000000 08:01 42     /opt/odd (deleted)").unwrap();
        assert_eq!(m.path_without_marker(), ("/opt/odd", true));
    }

    #[test]
    fn newline_escape_is_decoded() {
        let m = parse_line("7f00-7f10 r-xp 00000000 08:01 42     /opt/a\\012b.so").unwrap();
        assert_eq!(m.path, "/opt/a\nb.so");
    }

    #[test]
    fn anonymous_and_pseudo_mappings_are_not_files() {
        let anon = parse_line("7ffd1000-7ffd2000 rw-p 00000000 00:00 0").unwrap();
        assert!(!anon.is_file());
        assert_eq!(anon.path, "");
        let stack =
            parse_line("7ffd1000-7ffd2000 rw-p 00000000 00:00 0                          [stack]")
                .unwrap();
        assert!(!stack.is_file());
        let vdso =
            parse_line("7ffd1000-7ffd2000 r-xp 00000000 00:00 0                          [vdso]")
                .unwrap();
        assert!(!vdso.is_file());
    }

    #[test]
    fn memfd_and_sysv_have_inodes_but_are_recognisable() {
        let memfd = parse_line("7f00-7f10 r-xp 00000000 00:01 2051                       /memfd:wayland-cursor (deleted)").unwrap();
        assert!(memfd.is_file());
        assert_eq!(memfd.path_without_marker(), ("/memfd:wayland-cursor", true));
        let sysv = parse_line(
            "7f00-7f10 rw-s 00000000 00:01 65538                      /SYSV00000000 (deleted)",
        )
        .unwrap();
        assert_eq!(sysv.path, "/SYSV00000000 (deleted)");
        assert!(!sysv.is_executable());
    }

    #[test]
    fn malformed_lines_are_rejected() {
        for bad in [
            "",
            "garbage",
            "7f00-zz r-xp 0 08:01 1 /x",
            "7f00-7f10 r-xp 0 0801 1 /x",
            "7f00-7f10 r-xp 0 08:01 abc /x",
            "7f00-7f10 rx 0 08:01 1 /x",
        ] {
            assert_eq!(parse_line(bad), None, "{bad:?}");
        }
        assert_eq!(parse("bad\n7f00-7f10 r-xp 0 08:01 1 /x\n").len(), 1);
    }
}
