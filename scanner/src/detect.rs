//! Stale-file detection for one process: deleted or replaced mappings, changed scripts.
//!
//! Pure logic over a [`FileProbe`], the small trait through which it asks what is on disk now
//! (the real one stats `/proc/PID/map_files/…` and the path in the process's view, see
//! `roots`; unit tests use a table). Only the kernel's ` (deleted)` marker or a different file
//! at the same path on the same filesystem makes a mapping stale: a path that cannot be found
//! or compared is unknown, never stale.
//! Only executable file mappings count, as in needrestart: data files a process maps (caches,
//! locale archives) are not code a restart refreshes.

use crate::filters::Filters;
use crate::maps::Mapping;
use crate::report::{FileKind, Reason};
use std::collections::HashSet;

/// Identity of a file: device (Linux `dev_t` encoding) and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMeta {
    pub id: FileId,
    /// Status-change time, Unix nanoseconds: moves on any change, of content or of metadata.
    pub ctime_ns: i64,
    /// Modification time, Unix nanoseconds: moves when the content is written (a package
    /// manager sets it to the package's time on the files it installs).
    pub mtime_ns: i64,
    /// Birth time, Unix nanoseconds, where the filesystem records one that can be trusted
    /// (`filetimes`): a file that stands at its path since then.
    pub btime_ns: Option<i64>,
}

/// The answer to "what is there?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe<T> {
    Found(T),
    /// Nothing at that path (ENOENT / ENOTDIR).
    Missing,
    /// Could not tell (permission, I/O error): never treated as stale.
    Unknown,
}

pub trait FileProbe {
    /// The file actually mapped at `range` (`/proc/PID/map_files/RANGE`).
    fn mapped(&self, range: &str) -> Probe<FileId>;
    /// What stands at `path` in the view the kernel printed it in (`roots::View`).
    fn at_path(&self, path: &str) -> Probe<FileMeta>;
}

/// One stale file of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: String,
    pub kind: FileKind,
    pub reason: Reason,
    /// The file's times could not tell a change from a `chmod` ([`Since::Unsure`]): the owning
    /// package's install time settles it (`owners::settle`).
    pub unsure: bool,
}

/// The precision of a process's start against a file's times: its start is counted in clock
/// ticks (10 ms) and file times come from the kernel's coarse clock (a few ms). A file changed
/// later than this after the start is seen (100 ms is); one changed before the start never is.
pub const START_MARGIN_NS: i64 = 30_000_000;

/// What a source file's times say about it since `start_ns` (review: metadata is not a change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Nothing happened to it, or only its metadata changed (mode, owner, ACLs, atime).
    Same,
    /// Written in place, or another file put at its path: [`Reason::Changed`].
    Changed,
    /// Its status changed and nothing on the file tells whether that was a replacement or
    /// metadata (no trusted birth time, content time older): the owning package's install time
    /// decides later, else [`Reason::MayHaveChanged`].
    Unsure,
}

/// Decides [`Since`] from a file's times. ctime alone tells nothing (chmod moves it as a
/// rename does), mtime alone neither (dpkg keeps the package's mtime): mtime after the start is
/// a write; a birth after the start is a new file at the path; a birth before it, with no
/// write since, is the file the process read. Pure.
pub fn changed_after(meta: &FileMeta, start_ns: i64) -> Since {
    let after = |t: i64| t > start_ns.saturating_add(START_MARGIN_NS);
    if !after(meta.ctime_ns) {
        return Since::Same;
    }
    if after(meta.mtime_ns) {
        return Since::Changed;
    }
    match meta.btime_ns {
        Some(b) if after(b) => Since::Changed,
        Some(_) => Since::Same,
        None => Since::Unsure,
    }
}

fn major(dev: u64) -> u64 {
    ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)
}
fn minor(dev: u64) -> u64 {
    (dev & 0xff) | ((dev >> 12) & !0xff)
}

/// Does the maps line's `major:minor` name the device of a stat result?
fn same_dev(m: &Mapping, dev: u64) -> bool {
    u64::from(m.dev_major) == major(dev) && u64::from(m.dev_minor) == minor(dev)
}

/// Stale executable mappings of a process. `exe` is its executable without the marker.
pub fn stale_mappings(
    maps: &[Mapping],
    exe: &str,
    probe: &impl FileProbe,
    filters: &Filters,
) -> Vec<Finding> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for m in maps.iter().filter(|m| m.is_file() && m.is_executable()) {
        let (path, marked) = m.path_without_marker();
        if !seen.insert(m.path.as_str()) || filters.ignores_path(path) {
            continue;
        }
        let reason = if marked {
            // " (deleted)" may be part of the name: then the literal path is the mapped file
            match (probe.at_path(&m.path), probe.mapped(&m.range)) {
                (Probe::Found(now), Probe::Found(id)) if now.id == id => None,
                (Probe::Found(now), Probe::Unknown) if now.id.ino == m.inode => None,
                _ => Some(Reason::Deleted),
            }
        } else {
            match probe.at_path(path) {
                // the kernel did not mark the file deleted: its name still exists somewhere, so
                // a path that cannot be found was looked up in the wrong view (a chroot, a
                // mount over it): unknown, never stale
                Probe::Missing | Probe::Unknown => None,
                // fast path: the maps line already names the file now at the path
                Probe::Found(now)
                    if m.inode == now.id.ino && (m.dev_major == 0 || same_dev(m, now.id.dev)) =>
                {
                    None
                }
                Probe::Found(now) => match probe.mapped(&m.range) {
                    // replaced: another file on the same filesystem now holds the path (another
                    // device says the path leads elsewhere, e.g. a copy in a chroot: unknown)
                    Probe::Found(id) => {
                        (id.dev == now.id.dev && id.ino != now.id.ino).then_some(Reason::Replaced)
                    }
                    // map_files unreadable: fall back to the maps line. Anonymous devices
                    // (major 0: btrfs, overlay) cannot be compared to stat's, so only the inode is.
                    _ => ((m.dev_major == 0 || same_dev(m, now.id.dev)) && m.inode != now.id.ino)
                        .then_some(Reason::Replaced),
                },
            }
        };
        if let Some(reason) = reason {
            let kind = if path == exe {
                FileKind::Exe
            } else {
                FileKind::Library
            };
            out.push(Finding {
                path: path.to_string(),
                kind,
                reason,
                unsure: false,
            });
        }
    }
    out
}

/// Is the script an interpreter runs deleted or changed since the process started?
/// `path` is as the process sees it (already joined with its cwd when relative).
pub fn stale_script(
    path: &str,
    started_ns: i64,
    probe: &impl FileProbe,
    filters: &Filters,
) -> Option<Finding> {
    source_file(path, FileKind::Script, true, started_ns, probe, filters)
}

/// Did a module the interpreter loaded at start-up change after the process started? Only a
/// file found now and changed later counts (a module that cannot be found is unknown: the
/// search may have looked where the process did not).
pub fn stale_module(
    path: &str,
    started_ns: i64,
    probe: &impl FileProbe,
    filters: &Filters,
) -> Option<Finding> {
    source_file(path, FileKind::Module, false, started_ns, probe, filters)
}

/// Did a module the program imports only later (inside a function) change after it started?
/// It may have been loaded before the change, or not at all: any change is
/// [`Reason::MayHaveChanged`].
pub fn stale_later_module(
    path: &str,
    started_ns: i64,
    probe: &impl FileProbe,
    filters: &Filters,
) -> Option<Finding> {
    let mut f = source_file(
        path,
        FileKind::LaterModule,
        false,
        started_ns,
        probe,
        filters,
    )?;
    f.reason = Reason::MayHaveChanged;
    Some(f)
}

/// A source file an interpreter read: changed since the process's start ([`changed_after`];
/// unsure: [`Reason::MayHaveChanged`], for the owning package to settle), or gone when
/// `missing_is_deleted`.
fn source_file(
    path: &str,
    kind: FileKind,
    missing_is_deleted: bool,
    started_ns: i64,
    probe: &impl FileProbe,
    filters: &Filters,
) -> Option<Finding> {
    if filters.ignores_script(path) {
        return None;
    }
    let reason = match probe.at_path(path) {
        Probe::Missing if missing_is_deleted => Reason::Deleted,
        Probe::Found(meta) => match changed_after(&meta, started_ns) {
            Since::Changed => Reason::Changed,
            Since::Unsure => Reason::MayHaveChanged,
            Since::Same => return None,
        },
        _ => return None,
    };
    Some(Finding {
        path: path.to_string(),
        kind,
        reason,
        unsure: reason == Reason::MayHaveChanged,
    })
}

/// Joins a script argument with the process's cwd (both as the process sees them).
pub fn resolve_script(arg: &str, cwd: Option<&str>) -> Option<String> {
    if arg.starts_with('/') {
        return Some(arg.to_string());
    }
    let cwd = cwd?;
    let arg = arg.strip_prefix("./").unwrap_or(arg);
    Some(if cwd.ends_with('/') {
        format!("{cwd}{arg}")
    } else {
        format!("{cwd}/{arg}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maps;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Table {
        mapped: HashMap<String, Probe<FileId>>,
        paths: HashMap<String, Probe<FileMeta>>,
    }
    impl FileProbe for Table {
        fn mapped(&self, range: &str) -> Probe<FileId> {
            *self.mapped.get(range).unwrap_or(&Probe::Unknown)
        }
        fn at_path(&self, path: &str) -> Probe<FileMeta> {
            *self.paths.get(path).unwrap_or(&Probe::Missing)
        }
    }
    fn id(dev: u64, ino: u64) -> FileId {
        FileId { dev, ino }
    }
    /// A file whose every time is `t` seconds (birth unknown).
    fn meta(dev: u64, ino: u64, t: i64) -> Probe<FileMeta> {
        Probe::Found(FileMeta {
            id: id(dev, ino),
            ctime_ns: t * S,
            mtime_ns: t * S,
            btime_ns: None,
        })
    }
    const S: i64 = 1_000_000_000;
    fn filters() -> Filters {
        Filters::new(vec![], true)
    }

    const MAPS: &str = "\
5600-5601 r--p 00000000 fe:01 100 /usr/sbin/daemon
5601-5602 r-xp 00001000 fe:01 100 /usr/sbin/daemon
7f00-7f01 r--p 00000000 fe:01 200 /usr/lib/libold.so.1 (deleted)
7f01-7f02 r-xp 00001000 fe:01 200 /usr/lib/libold.so.1 (deleted)
7f02-7f03 r-xp 00001000 fe:01 300 /usr/lib/libswapped.so.2
7f03-7f04 r-xp 00001000 fe:01 400 /usr/lib/libfine.so.3
7f04-7f05 r-xp 00000000 00:01 5 /memfd:jit (deleted)
7f05-7f06 rw-s 00000000 00:01 6 /SYSV00000000 (deleted)
7f06-7f07 r-xp 00000000 fe:01 500 /opt/odd name (deleted)
7f07-7f08 r-xp 00000000 fe:01 600 /usr/lib/libgone.so
7f08-7f09 r--p 00000000 fe:01 700 /usr/share/data.bin (deleted)
";

    #[test]
    fn deleted_replaced_filtered_and_literal_names() {
        let maps = maps::parse(MAPS);
        let mut t = Table::default();
        t.mapped
            .insert("5601-5602".into(), Probe::Found(id(0xfe01, 100)));
        t.paths
            .insert("/usr/sbin/daemon".into(), meta(0xfe01, 100, 0));
        t.mapped
            .insert("7f01-7f02".into(), Probe::Found(id(0xfe01, 200)));
        t.paths
            .insert("/usr/lib/libold.so.1".into(), meta(0xfe01, 201, 0)); // the new one
                                                                          // replaced in place: map_files says inode 300, the path now holds 301, no marker
        t.mapped
            .insert("7f02-7f03".into(), Probe::Found(id(0xfe01, 300)));
        t.paths
            .insert("/usr/lib/libswapped.so.2".into(), meta(0xfe01, 301, 0));
        t.mapped
            .insert("7f03-7f04".into(), Probe::Found(id(0xfe01, 400)));
        t.paths
            .insert("/usr/lib/libfine.so.3".into(), meta(0xfe01, 400, 0));
        // a file literally named "odd name (deleted)" that still exists
        t.mapped
            .insert("7f06-7f07".into(), Probe::Found(id(0xfe01, 500)));
        t.paths
            .insert("/opt/odd name (deleted)".into(), meta(0xfe01, 500, 0));
        // libgone: no marker but nothing at the path: looked up in the wrong view, unknown
        t.mapped
            .insert("7f07-7f08".into(), Probe::Found(id(0xfe01, 600)));

        let found = stale_mappings(&maps, "/usr/sbin/daemon", &t, &filters());
        let got: Vec<(&str, Reason)> = found.iter().map(|f| (f.path.as_str(), f.reason)).collect();
        assert_eq!(
            got,
            vec![
                ("/usr/lib/libold.so.1", Reason::Deleted),
                ("/usr/lib/libswapped.so.2", Reason::Replaced),
            ]
        );
        assert!(found.iter().all(|f| f.kind == FileKind::Library));
    }

    #[test]
    fn deleted_exe_is_marked_as_exe() {
        let maps = maps::parse("5601-5602 r-xp 00001000 fe:01 100 /usr/sbin/cron (deleted)\n");
        let found = stale_mappings(&maps, "/usr/sbin/cron", &Table::default(), &filters());
        assert_eq!(
            found,
            vec![Finding {
                path: "/usr/sbin/cron".into(),
                kind: FileKind::Exe,
                reason: Reason::Deleted,
                unsure: false,
            }]
        );
    }

    #[test]
    fn fallback_to_maps_line_when_map_files_is_unreadable() {
        let maps = maps::parse("7f02-7f03 r-xp 00001000 fe:01 300 /usr/lib/libswapped.so.2\n7f03-7f04 r-xp 00001000 fe:01 400 /usr/lib/libother.so\n7f04-7f05 r-xp 00001000 00:2a 500 /usr/lib/liboverlay.so\n");
        let mut t = Table::default();
        // stat's dev_t for fe:01 is 0xfe01
        t.paths
            .insert("/usr/lib/libswapped.so.2".into(), meta(0xfe01, 301, 0));
        // different device: cannot compare, not stale
        t.paths
            .insert("/usr/lib/libother.so".into(), meta(0x801, 999, 0));
        // anonymous device (overlay, btrfs): inode alone decides
        t.paths
            .insert("/usr/lib/liboverlay.so".into(), meta(0x2b, 501, 0));
        let found = stale_mappings(&maps, "/x", &t, &filters());
        let got: Vec<&str> = found.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            got,
            vec!["/usr/lib/libswapped.so.2", "/usr/lib/liboverlay.so"]
        );
    }

    #[test]
    fn a_path_leading_to_another_filesystem_or_nowhere_is_unknown() {
        // no marker: the mapped file still has its name, so what the path shows now is a
        // different view (a copy in a chroot, a mount over it), not an upgrade
        let maps = maps::parse("7f02-7f03 r-xp 00001000 fe:01 300 /usr/lib/libc.so.6\n7f03-7f04 r-xp 00001000 fe:01 301 /usr/lib/libm.so.6\n");
        let mut t = Table::default();
        t.mapped
            .insert("7f02-7f03".into(), Probe::Found(id(0xfe01, 300)));
        t.paths
            .insert("/usr/lib/libc.so.6".into(), meta(0xfe02, 999, 0));
        t.mapped
            .insert("7f03-7f04".into(), Probe::Found(id(0xfe01, 301)));
        t.paths.insert("/usr/lib/libm.so.6".into(), Probe::Missing);
        assert!(stale_mappings(&maps, "/x", &t, &filters()).is_empty());
    }

    #[test]
    fn unknown_is_never_stale() {
        struct Blind;
        impl FileProbe for Blind {
            fn mapped(&self, _: &str) -> Probe<FileId> {
                Probe::Unknown
            }
            fn at_path(&self, _: &str) -> Probe<FileMeta> {
                Probe::Unknown
            }
        }
        let maps = maps::parse("7f03-7f04 r-xp 00001000 fe:01 400 /usr/lib/libfine.so.3\n");
        assert!(stale_mappings(&maps, "/x", &Blind, &filters()).is_empty());
        assert!(stale_script("/usr/bin/d.pl", 100 * S, &Blind, &filters()).is_none());
    }

    #[test]
    fn metadata_is_not_a_change_and_the_start_is_known_to_the_tick() {
        let start = 1_000 * S;
        let ms = 1_000_000;
        let f = |c: i64, m: i64, b: Option<i64>| FileMeta {
            id: id(1, 1),
            ctime_ns: c,
            mtime_ns: m,
            btime_ns: b,
        };
        // chmod, chown, setfacl, touch -a after the start: only ctime moves
        assert_eq!(
            changed_after(&f(start + 5 * S, start - 9 * S, Some(start - 9 * S)), start),
            Since::Same
        );
        // dpkg: a new file (born after the start) with the package's old mtime
        assert_eq!(
            changed_after(
                &f(start + 5 * S, start - 99 * S, Some(start + 5 * S)),
                start
            ),
            Since::Changed
        );
        // written in place
        assert_eq!(
            changed_after(&f(start + 5 * S, start + 5 * S, Some(start - 9 * S)), start),
            Since::Changed
        );
        // no birth time: nothing on the file tells a rename from a chmod
        assert_eq!(
            changed_after(&f(start + 5 * S, start - 9 * S, None), start),
            Since::Unsure
        );
        // 100 ms after the start is seen; before the start, or within the tick, never
        assert_eq!(
            changed_after(&f(start + 100 * ms, start + 100 * ms, None), start),
            Since::Changed
        );
        assert_eq!(
            changed_after(&f(start + 10 * ms, start + 10 * ms, None), start),
            Since::Same
        );
        assert_eq!(
            changed_after(&f(start - ms, start - ms, None), start),
            Since::Same
        );
    }

    #[test]
    fn scripts() {
        let mut t = Table::default();
        t.paths.insert("/srv/old.pl".into(), meta(1, 1, 100));
        t.paths.insert("/srv/new.pl".into(), meta(1, 2, 200));
        let f = filters();
        assert_eq!(
            stale_script("/srv/old.pl", 100 * S, &t, &f),
            None,
            "written when it started"
        );
        assert_eq!(
            stale_script("/srv/new.pl", 100 * S, &t, &f).unwrap().reason,
            Reason::Changed
        );
        assert_eq!(
            stale_script("/srv/gone.pl", 100 * S, &t, &f)
                .unwrap()
                .reason,
            Reason::Deleted
        );
        assert_eq!(
            stale_script("/tmp/x.pl", 100 * S, &t, &f),
            None,
            "ignored prefix"
        );
        assert_eq!(
            resolve_script("d.pl", Some("/srv")).as_deref(),
            Some("/srv/d.pl")
        );
        assert_eq!(
            resolve_script("./d.pl", Some("/")).as_deref(),
            Some("/d.pl")
        );
        assert_eq!(resolve_script("/abs.pl", None).as_deref(), Some("/abs.pl"));
        assert_eq!(resolve_script("d.pl", None), None);
    }
}
