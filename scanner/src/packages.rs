//! Which package owns a stale file, and which init scripts a package ships — from dpkg's
//! database files, read in one pass (`/var/lib/dpkg/info/*.list`), never one subprocess per file.
//!
//! The matching is pure ([`Index::add_list`]); [`read_dpkg`] is the I/O edge. Deleted libraries
//! whose exact path no package lists any more (an upgrade that renamed `libx.so.1.2` to
//! `libx.so.1.3`) are matched by directory and soname (`libx.so.1`), and `/lib` vs `/usr/lib`
//! (merged /usr) are treated as one.

use crate::ownercache::Table;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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
    /// A 4096-bit filter over `wanted_names` ([`name_bit`]): most lines are dismissed by one
    /// bit test, without hashing (empty: nothing is wanted).
    name_bits: Vec<u64>,
    owners: HashMap<String, String>,
    soname_owners: HashMap<String, String>,
    /// Init scripts of every package (few lines: kept for all, so one pass suffices).
    init_scripts: HashMap<String, Vec<String>>,
}

/// `/lib/x` and `/usr/lib/x` are the same file on a merged-/usr host. rpm's transaction
/// suffix (`/usr/lib64/libx.so.1;6571b3e2`: the name a file had while rpm installed it) is cut.
pub fn canonical(path: &str) -> &str {
    let path = match path.rsplit_once(';') {
        Some((p, tx)) if tx.len() >= 8 && tx.bytes().all(|b| b.is_ascii_hexdigit()) => p,
        _ => path,
    };
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
fn soname_of_name(name: &[u8]) -> Option<&[u8]> {
    let i = name.windows(4).position(|w| w == b".so.")?;
    let rest = &name[i + 4..];
    let major_end = rest.iter().position(|&b| b == b'.').unwrap_or(rest.len());
    (major_end > 0 && rest[..major_end].iter().all(u8::is_ascii_digit))
        .then(|| &name[..i + 4 + major_end])
}

/// The filter bit of a file name: its length, first and last bytes.
fn name_bit(name: &[u8]) -> usize {
    let (first, last) = match name {
        [] => (0, 0),
        [f, .., l] => (*f as usize, *l as usize),
        [f] => (*f as usize, *f as usize),
    };
    (name.len().wrapping_mul(31) ^ (first << 3) ^ last.wrapping_mul(131)) & 4095
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
        ix.name_bits = vec![0; 64];
        for n in &ix.wanted_names {
            let bit = name_bit(n.as_bytes());
            ix.name_bits[bit / 64] |= 1 << (bit % 64);
        }
        ix
    }

    /// Could this list line be a wanted file or carry a wanted soname? (Cheap pre-filter: one
    /// lookup, no allocation, no UTF-8 check.)
    fn maybe_wanted(&self, line: &[u8]) -> bool {
        let name = match memchr::memrchr(b'/', line) {
            Some(i) => &line[i + 1..],
            None => line,
        };
        let named = |n: &[u8]| {
            let bit = name_bit(n);
            self.name_bits
                .get(bit / 64)
                .is_some_and(|w| w & (1 << (bit % 64)) != 0)
                && std::str::from_utf8(n).is_ok_and(|n| self.wanted_names.contains(n))
        };
        named(name) || soname_of_name(name).is_some_and(named)
    }

    /// Feeds one package's file list (the bytes of `info/PKG[:ARCH].list`). A line that is not
    /// UTF-8 matches nothing (every wanted path is UTF-8); the rest of the list still counts.
    pub fn add_list(&mut self, package: &str, text: &[u8]) {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', text).chain([text.len()]) {
            let line = &text[start..end];
            start = end + 1;
            if line.starts_with(b"/etc/init.d/") {
                if let Some(name) = std::str::from_utf8(line).ok().and_then(init_script) {
                    self.add_init_script(package, name);
                }
            }
            if !self.maybe_wanted(line) {
                continue;
            }
            let Ok(line) = std::str::from_utf8(line) else {
                continue;
            };
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

    /// The files whose owners are wanted (canonical paths: [`canonical`]).
    pub fn wanted(&self) -> impl Iterator<Item = &str> {
        self.wanted.iter().map(String::as_str)
    }

    /// The sonames whose owners are wanted ([`soname_key`]).
    pub fn wanted_sonames(&self) -> impl Iterator<Item = &str> {
        self.wanted_sonames.iter().map(String::as_str)
    }

    /// Records the owner of a wanted file (`ownercache`).
    pub fn set_owner(&mut self, canonical_path: String, package: &str) {
        self.owners.insert(canonical_path, package.to_string());
    }

    /// Records the owner of a wanted soname (`ownercache`).
    pub fn set_soname_owner(&mut self, soname: String, package: &str) {
        self.soname_owners.insert(soname, package.to_string());
    }

    /// Records an init script of a package.
    pub fn add_init_script(&mut self, package: &str, name: &str) {
        self.init_scripts
            .entry(package.to_string())
            .or_default()
            .push(name.to_string());
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

/// The service name of a list line that is an init script (`/etc/init.d/NAME`, a valid name).
pub fn init_script(line: &str) -> Option<&str> {
    line.strip_prefix("/etc/init.d/")
        .filter(|n| !n.is_empty() && !n.contains('/') && crate::names::is_valid_service(n))
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
/// bound) under `info_dir` into the index.
pub fn read_dpkg(info_dir: &Path, ix: &mut Index) -> Dpkg {
    read_dpkg_into(info_dir, ix, None)
}

/// [`read_dpkg`], every list also added to `table` (the owner cache's, built on the way).
pub fn read_dpkg_into(info_dir: &Path, ix: &mut Index, table: Option<&mut Table>) -> Dpkg {
    prefetch_lists(info_dir, MAX_LISTS, 0, &AtomicBool::new(false)).feed(ix, table)
}

#[cfg(test)]
fn read_lists(info_dir: &Path, ix: &mut Index, max_lists: usize) -> Dpkg {
    prefetch_lists(info_dir, max_lists, 0, &AtomicBool::new(false)).feed(ix, None)
}

/// The file lists, read ahead on a second thread while `/proc` is scanned: reading them is
/// most of the package lookup's cost, and which files are wanted is known only at the end of
/// the scan. Dropped unused (a clean host), it stops reading at the next list.
pub struct Prefetch {
    info_dir: std::path::PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Prefetched>>,
}

/// Starts reading the lists of `info_dir` ahead (synchronously at the end if no thread starts).
pub fn prefetch(info_dir: std::path::PathBuf) -> Prefetch {
    let dir = info_dir.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("dpkg-lists".into())
        .spawn(move || prefetch_lists(&dir, MAX_LISTS, PREFETCH_BYTES, &flag))
        .ok();
    Prefetch {
        info_dir,
        stop,
        thread,
    }
}

impl Prefetch {
    /// Feeds every list into the index, and into `table` when one is given (what was read
    /// ahead, then the rest).
    pub fn finish(mut self, ix: &mut Index, table: Option<&mut Table>) -> Dpkg {
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(read)) => read.feed(ix, table),
            _ => read_dpkg_into(&self.info_dir, ix, table),
        }
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Bytes of list text held in memory when read ahead; past it, lists are read one at a time
/// at the end of the scan (as without read-ahead).
const PREFETCH_BYTES: usize = 64 << 20;

/// The lists of a dpkg database: the texts read ahead, then the files still to read.
struct Prefetched {
    missing: bool,
    texts: Vec<(String, Vec<u8>)>,
    rest: Vec<(String, std::path::PathBuf)>,
    skipped: usize,
}

fn read_list(path: &Path, buf: &mut Vec<u8>) -> bool {
    use std::io::Read;
    buf.clear();
    let Ok(f) = crate::pkgdb::open_regular(path) else {
        return false;
    };
    // one allocation of the file's size (a bounded reader has no size hint: it grew by doubling)
    let size = f
        .metadata()
        .map(|m| m.len().min(MAX_LIST_BYTES))
        .unwrap_or(0);
    buf.reserve(size as usize + 1);
    f.take(MAX_LIST_BYTES).read_to_end(buf).is_ok()
}

/// Lists the `*.list` files (at most `max_lists`) and reads them while `budget` bytes last and
/// `stop` is not set.
fn prefetch_lists(
    info_dir: &Path,
    max_lists: usize,
    budget: usize,
    stop: &AtomicBool,
) -> Prefetched {
    let mut out = Prefetched {
        missing: false,
        texts: Vec::new(),
        rest: Vec::new(),
        skipped: 0,
    };
    let Ok(dir) = std::fs::read_dir(info_dir) else {
        out.missing = true;
        return out;
    };
    let (mut listed, mut held) = (0usize, 0usize);
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pkg) = name.to_str().and_then(package_of_list_file) else {
            continue;
        };
        if listed == max_lists {
            out.skipped += 1;
            continue;
        }
        listed += 1;
        let pkg = pkg.to_string();
        let mut buf = Vec::new();
        if held < budget && out.rest.is_empty() && !stop.load(Ordering::Relaxed) {
            if read_list(&entry.path(), &mut buf) {
                held += buf.len();
                out.texts.push((pkg, buf));
            }
        } else {
            out.rest.push((pkg, entry.path()));
        }
    }
    out
}

impl Prefetched {
    fn feed(self, ix: &mut Index, mut table: Option<&mut Table>) -> Dpkg {
        if self.missing {
            return Dpkg::Missing;
        }
        let mut add = |pkg: &str, text: &[u8]| {
            ix.add_list(pkg, text);
            if let Some(t) = table.as_deref_mut() {
                t.add_list(pkg, text);
            }
        };
        for (pkg, text) in &self.texts {
            add(pkg, text);
        }
        let mut buf = Vec::new();
        for (pkg, path) in &self.rest {
            if read_list(path, &mut buf) {
                add(pkg, &buf);
            }
        }
        match self.skipped {
            0 => Dpkg::Complete,
            n => Dpkg::Truncated { lists_skipped: n },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_file_lists_count_against_the_bound_and_a_cut_is_reported() {
        // every file of info/ (md5sums, postinst, ...) counted, so hosts with a few
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
    fn lists_read_ahead_give_the_same_owners_as_lists_read_at_the_end() {
        let dir = std::env::temp_dir().join(format!("fr-dpkg-ahead-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..50 {
            let text = format!("/usr/lib/libp{i}.so.{i}\n/etc/init.d/svc{i}\n");
            std::fs::write(dir.join(format!("p{i}:amd64.list")), text).unwrap();
        }
        let wanted: Vec<String> = (0..50)
            .map(|i| format!("/usr/lib/libp{i}.so.{i}"))
            .collect();
        let index = || Index::new(wanted.iter().map(String::as_str));
        let mut at_end = index();
        assert_eq!(read_dpkg(&dir, &mut at_end), Dpkg::Complete);
        let mut ahead = index();
        assert_eq!(
            prefetch(dir.clone()).finish(&mut ahead, None),
            Dpkg::Complete
        );
        // a budget that runs out part way: the rest are read at the end
        let mut cut = index();
        let part = prefetch_lists(&dir, MAX_LISTS, 100, &AtomicBool::new(false));
        assert!(!part.texts.is_empty() && !part.rest.is_empty());
        assert_eq!(part.feed(&mut cut, None), Dpkg::Complete);
        for (i, w) in wanted.iter().enumerate() {
            let pkg = format!("p{i}");
            for ix in [&at_end, &ahead, &cut] {
                assert_eq!(ix.owner(w), Some(pkg.as_str()), "{w}");
                assert_eq!(ix.init_scripts(&pkg), [format!("svc{i}")]);
            }
        }
        assert_eq!(
            prefetch(dir.join("none")).finish(&mut index(), None),
            Dpkg::Missing
        );
        // stopped (the scan found nothing stale): nothing more is read ahead
        let stopped = prefetch_lists(&dir, MAX_LISTS, PREFETCH_BYTES, &AtomicBool::new(true));
        assert!(stopped.texts.is_empty() && stopped.rest.len() == 50);
        drop(prefetch(dir.clone()));
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
        assert_eq!(
            canonical("/usr/lib64/libx.so.1;6571b3e2"),
            "/lib64/libx.so.1"
        );
        assert_eq!(canonical("/opt/a;b"), "/opt/a;b");
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
        ix.add_list("libpcre2-8-0", b"/.\n/usr\n/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0.11.2\n/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0\n");
        ix.add_list(
            "cron",
            b"/.\n/etc/init.d\n/etc/init.d/cron\n/etc/init.d/bad;name\n/usr/sbin/cron\n",
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
