//! Which package owns a stale file, and which init scripts a package ships — from dpkg's
//! database files, read in one pass (`/var/lib/dpkg/info/*.list`), never one subprocess per file.
//!
//! The matching is pure ([`Index::add_list`]); [`read_dpkg`] is the I/O edge. Deleted libraries
//! whose exact path no package lists any more (an upgrade that renamed `libx.so.1.2` to
//! `libx.so.1.3`) are matched by directory and soname (`libx.so.1`), and `/lib` vs `/usr/lib`
//! (merged /usr) are treated as one.

use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Bounds on what is read from a host's package database.
const MAX_LIST_BYTES: u64 = 16 << 20;
const MAX_LISTS: usize = 20_000;

#[derive(Debug, Default)]
pub struct Index {
    wanted: HashSet<String>,
    wanted_sonames: HashSet<String>,
    /// File names (last component) of `wanted` and of `wanted_sonames`: a list line whose
    /// name is in neither is skipped with one lookup and no allocation (most lines).
    wanted_names: HashSet<String>,
    owners: HashMap<String, String>,
    soname_owners: HashMap<String, String>,
    /// Init scripts of every package (few lines: kept for all, so one pass suffices).
    init_scripts: HashMap<String, Vec<String>>,
}

/// `/lib/x` and `/usr/lib/x` are the same file on a merged-/usr host.
pub fn canonical(path: &str) -> &str {
    for p in ["/lib/", "/lib32/", "/lib64/", "/libx32/", "/bin/", "/sbin/"] {
        if path.starts_with(p) {
            return path;
        }
    }
    path.strip_prefix("/usr")
        .filter(|r| {
            ["/lib/", "/lib32/", "/lib64/", "/libx32/", "/bin/", "/sbin/"]
                .iter()
                .any(|p| r.starts_with(p))
        })
        .unwrap_or(path)
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `libpcre2-8.so.0.11.2` → `libpcre2-8.so.0` (borrowed: no allocation).
fn soname_of_name(name: &str) -> Option<&str> {
    let i = name.find(".so.")?;
    let rest = &name[i + 4..];
    let major_end = rest.find('.').unwrap_or(rest.len());
    (major_end > 0 && rest[..major_end].bytes().all(|b| b.is_ascii_digit()))
        .then(|| &name[..i + 4 + major_end])
}

/// `/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0.11.2` → `/lib/x86_64-linux-gnu/libpcre2-8.so.0`.
pub fn soname_key(path: &str) -> Option<String> {
    let path = canonical(path);
    let i = path.find(".so.")?;
    let rest = &path[i + 4..];
    let major_end = rest.find('.').unwrap_or(rest.len());
    let major = &rest[..major_end];
    if major.is_empty() || !major.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!("{}.so.{}", &path[..i], major))
}

impl Index {
    /// An index that will record the owners of `paths`.
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a str>) -> Index {
        let mut ix = Index::default();
        for p in paths {
            ix.wanted.insert(canonical(p).to_string());
            ix.wanted_names.insert(file_name(p).to_string());
            if let Some(k) = soname_key(p) {
                ix.wanted_names.insert(file_name(&k).to_string());
                ix.wanted_sonames.insert(k);
            }
        }
        ix
    }

    /// Could this list line be a wanted file or carry a wanted soname? (Cheap pre-filter.)
    fn maybe_wanted(&self, line: &str) -> bool {
        let name = file_name(line);
        self.wanted_names.contains(name)
            || soname_of_name(name).is_some_and(|n| self.wanted_names.contains(n))
    }

    /// Feeds one package's file list (the text of `info/PKG[:ARCH].list`).
    pub fn add_list(&mut self, package: &str, text: &str) {
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("/etc/init.d/") {
                if !name.is_empty() && !name.contains('/') && crate::names::is_valid_service(name) {
                    self.init_scripts
                        .entry(package.to_string())
                        .or_default()
                        .push(name.to_string());
                }
            }
            if !self.maybe_wanted(line) {
                continue;
            }
            let c = canonical(line);
            if self.wanted.contains(c) {
                self.owners
                    .entry(c.to_string())
                    .or_insert_with(|| package.to_string());
            }
            if !self.wanted_sonames.is_empty() {
                if let Some(k) = soname_key(line) {
                    if self.wanted_sonames.contains(&k) {
                        self.soname_owners
                            .entry(k)
                            .or_insert_with(|| package.to_string());
                    }
                }
            }
        }
    }

    /// The package owning `path` (exactly, else by soname).
    pub fn owner(&self, path: &str) -> Option<&str> {
        let c = canonical(path);
        self.owners
            .get(c)
            .or_else(|| soname_key(path).and_then(|k| self.soname_owners.get(&k)))
            .map(String::as_str)
    }

    /// Init scripts (`/etc/init.d/NAME`) of a package.
    pub fn init_scripts(&self, package: &str) -> &[String] {
        self.init_scripts
            .get(package)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// Package name from a list file name: `libc6:amd64.list` → `libc6`.
pub fn package_of_list_file(name: &str) -> Option<&str> {
    let stem = name.strip_suffix(".list")?;
    Some(stem.split(':').next().unwrap_or(stem)).filter(|s| !s.is_empty())
}

/// What [`read_dpkg`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dpkg {
    /// No dpkg database on this host.
    Missing,
    /// Every package's file list was read.
    Complete,
    /// More than the bound of file lists: the ones past it were not read (owners may be
    /// missing; the report says so).
    Truncated { lists_skipped: usize },
}

/// Reads every dpkg file list (`*.list`; the other files of `info/` are not counted against the
/// bound: review L7) under `info_dir` into the index.
pub fn read_dpkg(info_dir: &Path, ix: &mut Index) -> Dpkg {
    read_lists(info_dir, ix, MAX_LISTS)
}

fn read_lists(info_dir: &Path, ix: &mut Index, max_lists: usize) -> Dpkg {
    use std::io::Read;
    let Ok(dir) = std::fs::read_dir(info_dir) else {
        return Dpkg::Missing;
    };
    let (mut read, mut skipped) = (0usize, 0usize);
    let mut buf = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pkg) = name.to_str().and_then(package_of_list_file) else {
            continue;
        };
        if read == max_lists {
            skipped += 1;
            continue;
        }
        read += 1;
        let pkg = pkg.to_string();
        buf.clear();
        let Ok(f) = std::fs::File::open(entry.path()) else {
            continue;
        };
        if f.take(MAX_LIST_BYTES).read_to_end(&mut buf).is_ok() {
            // a path that is not UTF-8 is kept (lossily): the rest of the list still counts
            ix.add_list(&pkg, &String::from_utf8_lossy(&buf));
        }
    }
    match skipped {
        0 => Dpkg::Complete,
        n => Dpkg::Truncated { lists_skipped: n },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_file_lists_count_against_the_bound_and_a_cut_is_reported() {
        // review L7: every file of info/ (md5sums, postinst, ...) counted, so hosts with a few
        // thousand packages lost owners silently
        let dir = std::env::temp_dir().join(format!("fr-dpkg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..300 {
            std::fs::write(dir.join(format!("p{i}.md5sums")), "x").unwrap();
            std::fs::write(dir.join(format!("p{i}.postinst")), "x").unwrap();
        }
        std::fs::write(
            dir.join("libfoo1:amd64.list"),
            b"/usr/lib/libfoo.so.1\n/opt/\xff\n",
        )
        .unwrap();
        let mut ix = Index::new(vec!["/usr/lib/libfoo.so.1"]);
        assert_eq!(read_lists(&dir, &mut ix, 10), Dpkg::Complete);
        assert_eq!(ix.owner("/usr/lib/libfoo.so.1"), Some("libfoo1"));
        for i in 0..3 {
            std::fs::write(dir.join(format!("q{i}.list")), "/q\n").unwrap();
        }
        let mut ix = Index::new(vec!["/usr/lib/libfoo.so.1"]);
        assert_eq!(
            read_lists(&dir, &mut ix, 2),
            Dpkg::Truncated { lists_skipped: 2 }
        );
        assert_eq!(read_dpkg(&dir.join("none"), &mut ix), Dpkg::Missing);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn canonical_merged_usr() {
        assert_eq!(
            canonical("/usr/lib/x86_64-linux-gnu/libc.so.6"),
            "/lib/x86_64-linux-gnu/libc.so.6"
        );
        assert_eq!(
            canonical("/lib/x86_64-linux-gnu/libc.so.6"),
            "/lib/x86_64-linux-gnu/libc.so.6"
        );
        assert_eq!(canonical("/usr/sbin/cron"), "/sbin/cron");
        assert_eq!(canonical("/usr/share/x"), "/usr/share/x");
        assert_eq!(canonical("/opt/x"), "/opt/x");
    }

    #[test]
    fn sonames() {
        assert_eq!(
            soname_key("/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0.11.2").as_deref(),
            Some("/lib/x86_64-linux-gnu/libpcre2-8.so.0")
        );
        assert_eq!(
            soname_key("/lib/libz.so.1").as_deref(),
            Some("/lib/libz.so.1")
        );
        assert_eq!(soname_key("/usr/lib/libfoo.so"), None);
        assert_eq!(soname_key("/usr/lib/libfoo.so.x"), None);
    }

    #[test]
    fn owners_exact_soname_and_init_scripts() {
        let mut ix = Index::new([
            "/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0.10.4",
            "/usr/sbin/cron",
            "/opt/nobody",
        ]);
        ix.add_list("libpcre2-8-0", "/.\n/usr\n/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0.11.2\n/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0\n");
        ix.add_list(
            "cron",
            "/.\n/etc/init.d\n/etc/init.d/cron\n/etc/init.d/bad;name\n/usr/sbin/cron\n",
        );
        assert_eq!(
            ix.owner("/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0.10.4"),
            Some("libpcre2-8-0")
        );
        assert_eq!(ix.owner("/usr/sbin/cron"), Some("cron"));
        assert_eq!(ix.owner("/opt/nobody"), None);
        assert_eq!(ix.init_scripts("cron"), ["cron".to_string()]);
        assert!(ix.init_scripts("libpcre2-8-0").is_empty());
        assert_eq!(package_of_list_file("libc6:amd64.list"), Some("libc6"));
        assert_eq!(package_of_list_file("cron.md5sums"), None);
    }
}
