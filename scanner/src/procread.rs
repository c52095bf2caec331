//! Reading one process from a `/proc` tree (the I/O edge of the scanner).
//!
//! Reads `stat`, the links (`exe`, `cwd`, `root`, `ns/*`), `maps` and `cgroup` directly (pure
//! parsers for the texts: [`parse_stat`] here, `maps`, `cgroup`). Every read is bounded; a process that exits mid-scan is
//! [`ReadError::Gone`], one we may not read is [`ReadError::Denied`]. Nothing found here is ever
//! executed; no environment variable of the host is consulted.

use crate::detect::{FileId, FileMeta, FileProbe, Probe};
use crate::maps::{self, Mapping};
use crate::procmap;
use crate::roots::{self, ProcessRoot, View};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

const MAX_MAPS_BYTES: u64 = 64 << 20;
const MAX_SMALL_FILE: u64 = 64 << 10;
/// More than any report keeps of a command line, and enough to find an interpreter's script.
pub const MAX_CMDLINE_READ: u64 = 256 << 10;

/// A process's `stat` line and owner, read only where needed: for interpreted programs (their
/// start time), processes with findings, and their ancestors on a host without systemd.
#[derive(Debug, Clone)]
pub struct Basic {
    pub pid: i32,
    pub ppid: i32,
    pub uid: u32,
    pub comm: String,
    pub tty_nr: i32,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix nanoseconds, to the clock tick (`filetimes::start_ns`).
    pub started_ns: i64,
    /// Start time as the kernel gives it (clock ticks since boot): tells a PID's processes apart.
    pub start_ticks: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    Gone,
    Denied,
    /// A kernel thread: no executable, nothing mapped.
    KernelThread,
}

fn classify_io(e: &io::Error) -> ReadError {
    match e.kind() {
        io::ErrorKind::PermissionDenied => ReadError::Denied,
        _ => ReadError::Gone,
    }
}

/// Reads at most `max` bytes of a file as (lossy) UTF-8.
pub fn read_bounded(path: &Path, max: u64) -> io::Result<String> {
    let mut buf = Vec::with_capacity(16 * 1024);
    read_into(path, max, &mut buf)?;
    Ok(String::from_utf8(buf)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// Reads at most `max` bytes of a file into `buf` (cleared first). Proc files report size 0;
/// a buffer reused with spare capacity lets `read_to_end` fill it in one or two reads.
pub fn read_into(path: &Path, max: u64, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    std::fs::File::open(path)?.take(max).read_to_end(buf)?;
    Ok(())
}

/// `name`, NUL-terminated in `buf` (proc paths are short; a longer one is an error).
fn c_name<'b>(name: &[u8], buf: &'b mut [u8; 512]) -> io::Result<&'b std::ffi::CStr> {
    let n = name.len();
    if n >= buf.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    buf[..n].copy_from_slice(name);
    buf[n] = 0;
    std::ffi::CStr::from_bytes_with_nul(&buf[..=n])
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Opens `name` below the directory `dir` read-only. `openat`, not `open`: musl's `open`
/// follows `O_CLOEXEC` with an `fcntl`, one more system call for every file of every process;
/// relative to the process directory, the path walk is one name, not three.
fn open_at(dir: RawFd, name: &[u8], flags: i32) -> io::Result<OwnedFd> {
    let mut b = [0; 512];
    let p = c_name(name, &mut b)?;
    // SAFETY: p is NUL-terminated; the fd returned is owned by the OwnedFd alone
    match unsafe { libc::openat(dir, p.as_ptr(), flags | libc::O_CLOEXEC) } {
        fd if fd >= 0 => Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Reads `name` below `dir` into `buf` (cleared), at most `max` bytes. `one_record`: the file
/// is one seq_file record (`stat`): a short read that ends its line is all of it, and the read
/// that would return 0 is saved.
fn read_at(
    dir: RawFd,
    name: &str,
    max: usize,
    buf: &mut Vec<u8>,
    one_record: bool,
) -> io::Result<()> {
    let f = open_at(dir, name.as_bytes(), libc::O_RDONLY)?;
    buf.clear();
    loop {
        buf.reserve(4096);
        let room = (buf.capacity() - buf.len()).min(max - buf.len());
        if room == 0 {
            return Ok(());
        }
        // SAFETY: writes at most `room` bytes into the vector's spare capacity
        let n = unsafe { libc::read(f.as_raw_fd(), buf.as_mut_ptr().add(buf.len()).cast(), room) };
        match n {
            0 => return Ok(()),
            n if n < 0 => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            n => {
                // SAFETY: the kernel wrote n bytes
                unsafe { buf.set_len(buf.len() + n as usize) };
                if one_record && (n as usize) < room && buf.last() == Some(&b'\n') {
                    return Ok(());
                }
            }
        }
    }
}

/// `readlink` of `name` below `dir` into `out`, without allocating; a target that fills `out`
/// is an error.
fn link_at<'b>(dir: RawFd, name: &str, out: &'b mut [u8; 4096]) -> io::Result<&'b [u8]> {
    let mut b = [0; 512];
    let p = c_name(name.as_bytes(), &mut b)?;
    // SAFETY: p is NUL-terminated; at most out.len() bytes are written
    let n = unsafe { libc::readlinkat(dir, p.as_ptr(), out.as_mut_ptr().cast(), out.len()) };
    match n {
        n if n < 0 => Err(io::Error::last_os_error()),
        n if n as usize >= out.len() => Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG)),
        n => Ok(&out[..n as usize]),
    }
}

/// Clock ticks per second (`starttime` in `stat` counts them).
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions
    match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        t if t > 0 => t as u64,
        _ => 100,
    }
}

/// What turns a process's start (clock ticks since boot) into a Unix instant.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Boot, Unix seconds (`PROC/stat`).
    pub btime: i64,
    /// Boot, Unix nanoseconds: from the clocks when the proc tree is this machine's, else
    /// `btime`'s second.
    pub boot_ns: i64,
    pub ticks: u64,
}

impl Clock {
    pub fn new(proc_root: &Path, btime: i64) -> Clock {
        let own = proc_root == Path::new("/proc");
        let boot_ns = own
            .then(crate::filetimes::boot_instant_ns)
            .flatten()
            // a clock that disagrees with the kernel's own btime by more than a second is not
            // this tree's (a copied /proc)
            .filter(|ns| (ns / 1_000_000_000 - btime).abs() <= 1)
            .unwrap_or(btime.saturating_mul(1_000_000_000));
        Clock {
            btime,
            boot_ns,
            ticks: ticks_per_second(),
        }
    }
}

/// The fields of `/proc/PID/stat` the scanner uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub pid: i32,
    pub comm: String,
    pub ppid: i32,
    pub tty_nr: i32,
    /// Clock ticks since boot.
    pub starttime: u64,
}

/// Parses `/proc/PID/stat`: `pid (comm) state ppid pgrp session tty_nr ...`, field 22 the
/// start time. The command name may hold spaces and parentheses: it ends at the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let (pid, rest) = text.split_once(" (")?;
    let close = rest.rfind(')')?;
    let f: Vec<&str> = rest[close + 1..]
        .split_ascii_whitespace()
        .take(20)
        .collect();
    Some(Stat {
        pid: pid.trim().parse().ok()?,
        comm: rest[..close].to_string(),
        ppid: f.get(1)?.parse().ok()?,
        tty_nr: f.get(4)?.parse().ok()?,
        starttime: f.get(19)?.parse().ok()?,
    })
}

/// One process directory under a proc root.
pub struct ProcDir {
    pub dir: PathBuf,
    /// The directory, open (`O_PATH`): its files are read relative to it.
    fd: OwnedFd,
}

impl ProcDir {
    /// Opens the directory (`O_PATH`). Every later read goes through this descriptor, which
    /// pins the process it was opened for: once that process exits, reads fail (`ENOENT`)
    /// rather than reach a later process given the same PID, so a process read in several
    /// steps is always the same process.
    pub fn open(proc_root: &Path, pid: i32) -> Result<ProcDir, ReadError> {
        let dir = proc_root.join(pid.to_string());
        use std::os::unix::ffi::OsStrExt;
        let path = dir.as_os_str().as_bytes();
        let fd = open_at(libc::AT_FDCWD, path, libc::O_PATH | libc::O_DIRECTORY)
            .map_err(|e| classify_io(&e))?;
        Ok(ProcDir { dir, fd })
    }

    /// Owner of the directory: the process's effective uid (root when it is not dumpable).
    fn uid(&self) -> Result<u32, ReadError> {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: fstat writes a whole stat struct into st on success
        if unsafe { libc::fstat(self.fd.as_raw_fd(), st.as_mut_ptr()) } != 0 {
            return Err(classify_io(&io::Error::last_os_error()));
        }
        // SAFETY: initialised by the successful fstat
        Ok(unsafe { st.assume_init() }.st_uid)
    }

    /// A small file of the process directory (`stat`, `cgroup`), whole.
    fn small(&self, name: &str, one_record: bool) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        let max = MAX_SMALL_FILE as usize;
        read_at(self.fd.as_raw_fd(), name, max, &mut buf, one_record)?;
        Ok(buf)
    }

    fn stat(&self) -> Result<Stat, ReadError> {
        let buf = self.small("stat", true).map_err(|e| classify_io(&e))?;
        parse_stat(&String::from_utf8_lossy(&buf)).ok_or(ReadError::Gone)
    }

    fn link(&self, name: &str) -> io::Result<String> {
        let mut out = [0; 4096];
        link_at(self.fd.as_raw_fd(), name, &mut out)
            .map(|l| String::from_utf8_lossy(l).into_owned())
    }

    pub fn basic(&self, clock: &Clock) -> Result<Basic, ReadError> {
        let (btime, ticks) = (clock.btime, clock.ticks);
        let st = self.stat()?;
        Ok(Basic {
            pid: st.pid,
            ppid: st.ppid,
            uid: self.uid()?,
            comm: st.comm,
            tty_nr: st.tty_nr,
            started_at: btime + (st.starttime / ticks.max(1)) as i64,
            started_ns: crate::filetimes::start_ns(clock.boot_ns, st.starttime, ticks),
            start_ticks: st.starttime,
        })
    }

    /// The executable (without ` (deleted)`); [`ReadError::KernelThread`] when there is none.
    pub fn exe(&self) -> Result<String, ReadError> {
        let exe = match self.link("exe") {
            Ok(p) => p,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ReadError::KernelThread),
            Err(e) => return Err(classify_io(&e)),
        };
        Ok(exe
            .strip_suffix(maps::DELETED_SUFFIX)
            .map(String::from)
            .unwrap_or(exe))
    }

    /// The executable file mappings: through `PROCMAP_QUERY` when `query` and the kernel has
    /// it, else the text file read through the caller's reusable buffer.
    pub fn maps(&self, buf: &mut Vec<u8>, query: bool) -> Result<Vec<Mapping>, ReadError> {
        if query && procmap::supported() {
            let file = open_at(self.fd.as_raw_fd(), b"maps", libc::O_RDONLY)
                .map_err(|e| classify_io(&e))?;
            match procmap::executable_files(file.as_fd()) {
                Ok(Some(m)) => return Ok(m),
                Ok(None) => {}
                Err(e) => return Err(classify_io(&e)),
            }
        }
        read_at(
            self.fd.as_raw_fd(),
            "maps",
            MAX_MAPS_BYTES as usize,
            buf,
            false,
        )
        .map_err(|e| classify_io(&e))?;
        Ok(maps::parse_executable_files(buf))
    }

    /// The command line's arguments (at most [`MAX_CMDLINE_READ`] bytes are read).
    pub fn cmdline(&self) -> Vec<String> {
        let mut buf = Vec::new();
        if read_at(
            self.fd.as_raw_fd(),
            "cmdline",
            MAX_CMDLINE_READ as usize,
            &mut buf,
            false,
        )
        .is_err()
        {
            return vec![];
        }
        buf.split(|&c| c == 0)
            .filter(|s| !s.is_empty())
            .take(4096)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    }

    pub fn cwd(&self) -> Option<String> {
        self.link("cwd").ok()
    }

    /// Inode of a namespace (`pid`, `mnt`) of the process.
    pub fn ns(&self, kind: &str) -> Option<u64> {
        let mut out = [0; 4096];
        let name = match kind {
            "mnt" => "ns/mnt",
            "pid" => "ns/pid",
            _ => return None,
        };
        let l = link_at(self.fd.as_raw_fd(), name, &mut out).ok()?;
        parse_ns_link(std::str::from_utf8(l).ok()?)
    }

    /// Where the process's root is, as `/proc/PID/root` reads (`/` unless chrooted).
    pub fn root_link(&self) -> Option<String> {
        self.link("root").ok()
    }

    /// What must not change while the process is read for its findings to stand: its mount
    /// namespace and root (the process itself cannot change: see [`ProcDir::open`]).
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint {
            mnt: self.ns("mnt"),
            root: self.root_link(),
        }
    }

    /// The start time in clock ticks since boot; `None` once the process exited.
    pub fn start_ticks(&self) -> Option<u64> {
        self.stat().ok().map(|s| s.starttime)
    }

    pub fn cgroup_path(&self) -> Option<String> {
        let buf = self.small("cgroup", false).ok()?;
        crate::cgroup::systemd_path(&String::from_utf8_lossy(&buf)).map(String::from)
    }
}

/// See [`ProcDir::fingerprint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub mnt: Option<u64>,
    /// `readlink /proc/PID/root`.
    pub root: Option<String>,
}

impl Fingerprint {
    /// Which view the process's paths belong to, given the scanner's mount namespace.
    pub fn root(&self, scanner_mnt: Option<u64>) -> ProcessRoot {
        roots::decide(scanner_mnt, self.mnt, self.root.as_deref())
    }
}

/// `pid:[4026531836]` → 4026531836.
pub fn parse_ns_link(s: &str) -> Option<u64> {
    s.split_once(":[")?.1.strip_suffix(']')?.parse().ok()
}

/// Boot time (Unix seconds) from `PROC/stat`.
pub fn boot_time(proc_root: &Path) -> Option<i64> {
    let text = read_bounded(&proc_root.join("stat"), 1 << 20).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
}

/// Lexically normalises an absolute path (`.` and `..` removed, never above `/`).
pub fn normalize(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

/// Stat results shared by the processes that see paths the same way (the scanner's view, or one
/// other mount namespace): most processes map the same libraries, so each path is stat'ed once
/// per view, not once per process. Keys: the namespace inode (`None` for the scanner's view),
/// then the path (looked up without allocating).
pub type StatCache = HashMap<Option<u64>, HashMap<String, Probe<FileMeta>>>;

/// The real [`FileProbe`]: `map_files` through `PID/map_files`, paths in the process's [`View`].
pub struct RealProbe<'a> {
    pub dir: &'a Path,
    pub view: &'a View,
    /// The scanner's root (`--host-root`), for [`View::Reader`].
    pub host_root: &'a Path,
    pub cache: &'a RefCell<StatCache>,
}

impl RealProbe<'_> {
    /// Where `path` is in this process's view; `None` when the view is unknown.
    fn located(&self, path: &str) -> Option<PathBuf> {
        let rel = normalize(path);
        let rel = rel.trim_start_matches('/');
        match self.view {
            View::Reader => Some(self.host_root.join(rel)),
            View::Namespace { up, .. } => {
                let mut p = self.dir.join("root");
                for _ in 0..*up {
                    p.push("..");
                }
                Some(p.join(rel))
            }
            View::Unknown => None,
        }
    }

    fn stat_path(&self, path: &str) -> Probe<FileMeta> {
        let Some(at) = self.located(path) else {
            return Probe::Unknown;
        };
        match crate::filetimes::stat(&at) {
            Ok(m) => Probe::Found(m),
            // through /proc/PID/root, "not found" may only mean that the process has exited
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                if matches!(self.view, View::Namespace { .. }) && !self.dir.join("root").exists() {
                    Probe::Unknown
                } else {
                    Probe::Missing
                }
            }
            Err(_) => Probe::Unknown,
        }
    }

    /// The cache key of this view; `None` when results are this process's alone.
    fn cache_scope(&self) -> Option<Option<u64>> {
        match self.view {
            View::Reader => Some(None),
            View::Namespace { mnt: Some(m), .. } => Some(Some(*m)),
            _ => None,
        }
    }
}

impl crate::imports::Sources for RealProbe<'_> {
    fn read(&self, path: &str, max: usize) -> Option<String> {
        let at = self.located(path)?;
        // regular files only, opened without blocking: a name that leads to a FIFO or a
        // device is never read
        if !std::fs::metadata(&at).ok()?.is_file() {
            return None;
        }
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(&at)
            .ok()?;
        let mut buf = Vec::new();
        f.take(max as u64).read_to_end(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf).into_owned())
    }

    fn exists(&self, path: &str) -> bool {
        self.located(path)
            .and_then(|at| std::fs::metadata(at).ok())
            .is_some_and(|m| m.is_file())
    }
}

impl FileProbe for RealProbe<'_> {
    fn mapped(&self, range: &str) -> Probe<FileId> {
        match std::fs::metadata(self.dir.join("map_files").join(range)) {
            Ok(m) => Probe::Found(FileId {
                dev: m.dev(),
                ino: m.ino(),
            }),
            Err(_) => Probe::Unknown,
        }
    }

    fn at_path(&self, path: &str) -> Probe<FileMeta> {
        let Some(scope) = self.cache_scope() else {
            return self.stat_path(path);
        };
        if let Some(hit) = self.cache.borrow().get(&scope).and_then(|c| c.get(path)) {
            return *hit;
        }
        let r = self.stat_path(path);
        if r != Probe::Unknown {
            let mut cache = self.cache.borrow_mut();
            cache.entry(scope).or_default().insert(path.to_string(), r);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ns_links_and_paths() {
        assert_eq!(parse_ns_link("pid:[4026531836]"), Some(4026531836));
        assert_eq!(parse_ns_link("pid:4026531836"), None);
        assert_eq!(normalize("/a/./b/../c"), "/a/c");
        assert_eq!(normalize("/../../etc/x"), "/etc/x");
        assert_eq!(normalize("/"), "/");
    }

    #[test]
    fn reads_this_process() {
        let root = Path::new("/proc");
        let me = ProcDir::open(root, std::process::id() as i32).unwrap();
        let b = me
            .basic(&Clock::new(root, boot_time(root).unwrap()))
            .unwrap();
        assert_eq!(b.pid, std::process::id() as i32);
        assert_eq!(
            me.exe().unwrap(),
            std::env::current_exe().unwrap().to_string_lossy()
        );
        let mut buf = Vec::new();
        assert!(me
            .maps(&mut buf, true)
            .unwrap()
            .iter()
            .any(|m| m.is_file() && m.is_executable()));
        assert!(me.ns("pid").is_some() && me.ns("mnt").is_some());
        assert!(!me.cmdline().is_empty());
        assert_eq!(ProcDir::open(root, i32::MAX).err(), Some(ReadError::Gone));
    }

    #[test]
    fn stat_lines() {
        let st = parse_stat("4242 (a (b) c) S 1 4242 4242 34816 4242 4194560 100 0 0 0 5 3 0 0 20 0 1 0 123456 1000 100\n").unwrap();
        assert_eq!(st.pid, 4242);
        assert_eq!(st.comm, "a (b) c");
        assert_eq!((st.ppid, st.tty_nr, st.starttime), (1, 34816, 123456));
        assert_eq!(parse_stat("12 (x) S 1 2"), None);
        assert_eq!(parse_stat("garbage"), None);
    }
}
