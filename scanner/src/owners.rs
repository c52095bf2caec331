//! Which package owns each stale file, read from the package database of the root the process
//! sees: the host's for processes that share its view, the container's or jail's own for a
//! process in another mount namespace (its paths are relative to that root: the host's package
//! of the same path was never touched). A root without a database we read says "no package",
//! never the host's. Also settles the changes nothing on a file could tell from a `chmod`
//! (`detect::Since::Unsure`) with the owning package's install time. I/O (the databases); the
//! matching is `packages`' and `pkgdb`'s.

use crate::classify::StaleProc;
use crate::detect::START_MARGIN_NS;
use crate::ownercache::{Cache, Table};
use crate::packages::{self, Index};
use crate::report::{FileKind, Reason};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Another root a process sees: its mount namespace and how far its root is below that
/// namespace's root (`roots::View::Namespace`), and the path the scanner reaches it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnRoot {
    pub key: (Option<u64>, usize),
    pub path: PathBuf,
}

/// The owners of the scan's stale files, per root.
#[derive(Default)]
pub struct Owners {
    /// The host's (and of every process that shares its view).
    pub host: Index,
    /// Other roots': `None` when the root has no package database that was read.
    roots: HashMap<(Option<u64>, usize), Option<Index>>,
    /// The host's database is dpkg's (install times from its file lists' times).
    dpkg_info: Option<PathBuf>,
}

impl Owners {
    /// The host's index alone (no other root, no install times).
    pub fn of_host(host: Index) -> Owners {
        Owners {
            host,
            ..Owners::default()
        }
    }

    /// The package owning `path` as process `p` sees it.
    pub fn of(&self, p: &StaleProc, path: &str) -> Option<&str> {
        match &p.own_root {
            None => self.host.owner(path),
            Some(r) => self.roots.get(&r.key)?.as_ref()?.owner(path),
        }
    }
}

/// Where the host's owners come from: its owner cache when it holds the database as it is
/// now, else the lists (read ahead, or from the first stale process on).
pub struct Lookup {
    pub lists: Option<packages::Prefetch>,
    pub cache: Option<Cache>,
}

/// The owners of every stale file and (sysv) daemon executable, from the host's owner cache or
/// in one pass over its lists (read ahead; the cache is rebuilt on the way), and one over each
/// other root's database; empty when nothing is stale. A missing or cut database is a
/// limitation.
pub fn read(
    host: &Path,
    lookup: Option<Lookup>,
    stale: &[StaleProc],
    exes: impl Iterator<Item = String>,
    limitations: &mut Vec<String>,
) -> Owners {
    let Some(lookup) = lookup.filter(|_| !stale.is_empty()) else {
        return Owners::default();
    };
    let mut wanted: Vec<String> = stale
        .iter()
        .filter(|p| p.own_root.is_none())
        .flat_map(|p| p.findings.iter().map(|f| f.path.clone()))
        .collect();
    wanted.extend(exes);
    let mut index = Index::new(wanted.iter().map(String::as_str));
    let info = host.join("var/lib/dpkg/info");
    if let Some(table) = lookup.cache.as_ref().and_then(Cache::load) {
        table.fill(&mut index);
        return other_roots(index, Some(info), stale);
    }
    let lists = lookup
        .lists
        .unwrap_or_else(|| packages::prefetch(info.clone()));
    let mut table = lookup.cache.as_ref().map(|_| Table::default());
    let dpkg_info = match lists.finish(&mut index, table.as_mut()) {
        packages::Dpkg::Missing => {
            read_other_db(host, &mut index, limitations);
            None
        }
        packages::Dpkg::Truncated { lists_skipped } => {
            limitations.push(format!(
                "{lists_skipped} dpkg file lists past the bound were not read: some owning packages and init scripts may be missing"
            ));
            Some(info)
        }
        packages::Dpkg::Complete => {
            if let (Some(cache), Some(table)) = (&lookup.cache, table) {
                cache.store(table);
            }
            Some(info)
        }
    };
    other_roots(index, dpkg_info, stale)
}

/// The host's owners with those of each other root the stale processes see.
fn other_roots(host: Index, dpkg_info: Option<PathBuf>, stale: &[StaleProc]) -> Owners {
    let mut owners = Owners {
        host,
        roots: HashMap::new(),
        dpkg_info,
    };
    for p in stale {
        let Some(r) = &p.own_root else { continue };
        if owners.roots.contains_key(&r.key) {
            continue;
        }
        let files = stale
            .iter()
            .filter(|q| q.own_root.as_ref().map(|o| &o.key) == Some(&r.key))
            .flat_map(|q| q.findings.iter().map(|f| f.path.as_str()));
        let ix = read_root(&r.path, files);
        owners.roots.insert(r.key, ix);
    }
    owners
}

/// The owners of `files` in the package database under `root`; `None` when it has none.
fn read_root<'a>(root: &Path, files: impl Iterator<Item = &'a str>) -> Option<Index> {
    let mut ix = Index::new(files);
    let info = root.join("var/lib/dpkg/info");
    if info.is_dir() {
        return match packages::read_dpkg(&info, &mut ix) {
            packages::Dpkg::Missing => None,
            _ => Some(ix),
        };
    }
    crate::pkgdb::read(root, &mut ix).map(|_| ix)
}

fn read_other_db(host: &Path, index: &mut Index, limitations: &mut Vec<String>) {
    match crate::pkgdb::read(host, index) {
        Some(crate::pkgdb::Read {
            problem: Some(p), ..
        }) => limitations.push(format!("{p}: some owning packages may be missing")),
        Some(_) => {}
        None => limitations.push(
            "no package database found (dpkg, rpm, pacman, apk): owning packages are not reported"
                .into(),
        ),
    }
}

/// When a package was last installed or upgraded (Unix nanoseconds): the time of its dpkg file
/// list, which dpkg writes anew at each unpack. `None` elsewhere (rpm, pacman, apk: not read).
fn installed_ns(info: &Path, package: &str) -> Option<i64> {
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    };
    [
        format!("{package}.list"),
        format!("{package}:{arch}.list"),
        format!("{package}:all.list"),
        format!("{package}:i386.list"),
    ]
    .iter()
    .find_map(|name| std::fs::metadata(info.join(name)).ok())
    .map(|m| m.mtime().saturating_mul(1_000_000_000) + m.mtime_nsec())
}

/// Settles the files whose change nothing on the file could tell (`Finding::unsure`):
/// owned by a package installed after the process started, it was replaced ([`Reason::Changed`],
/// a module imported later stays "may have changed": it may not have been loaded);
/// by one installed before, only its metadata changed (dropped: a write would have moved its
/// mtime, and no package put a new file there); no package or no install time: it stays "may
/// have changed". Processes left with nothing stale are dropped.
pub fn settle(stale: &mut Vec<StaleProc>, owners: &Owners) {
    for p in stale.iter_mut() {
        let start = p.started_ns;
        let mut keep = Vec::with_capacity(p.findings.len());
        for mut f in std::mem::take(&mut p.findings) {
            if f.unsure && p.own_root.is_none() {
                let installed = owners.dpkg_info.as_deref().and_then(|info| {
                    owners
                        .host
                        .owner(&f.path)
                        .and_then(|pkg| installed_ns(info, pkg))
                });
                match installed {
                    // a module imported later may not have been loaded: it stays "may"
                    Some(t)
                        if t > start.saturating_add(START_MARGIN_NS)
                            && f.kind != FileKind::LaterModule =>
                    {
                        f.reason = Reason::Changed
                    }
                    Some(t) if t > start.saturating_add(START_MARGIN_NS) => {}
                    Some(_) => continue,
                    None => {}
                }
            }
            keep.push(f);
        }
        p.findings = keep;
    }
    stale.retain(|p| !p.findings.is_empty());
}
