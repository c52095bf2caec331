//! One scan of a host: walk `/proc`, detect, look up packages, classify, check the kernel, and
//! build the [`Report`].
//!
//! The orchestration; parsing and decisions live in the pure modules it calls. Paths are taken
//! from [`Options`] so that a copied `/proc` tree and host root can be scanned in tests.

use crate::classify::{self, Context, Node, StaleProc};
use crate::detect;
use crate::filters::Filters;
use crate::interp;
use crate::kernel;
use crate::owners::{self, OwnRoot};
use crate::packages;
use crate::procread::{self, ProcDir, ReadError, RealProbe};
use crate::programs::{renamed_script, ModuleSearch, Program};
use crate::report::{HostInfo, Init, Reboot, Report, ScannerInfo, SCHEMA_VERSION};
use crate::roots::View;
use crate::rules::{RuleSet, Rules};
use regex_lite::Regex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub struct Options {
    /// The proc filesystem to read (`/proc`).
    pub proc_root: PathBuf,
    /// The host's root for `/boot`, `/etc`, `/var/lib/dpkg`, `/run` (`/`).
    pub host_root: PathBuf,
    /// The rules (`--rules`); `None`: the built-in ones ([`Rules`]: parsed when first needed).
    pub rules: Option<RuleSet>,
    /// Extra ignore regexes (`--ignore`).
    pub ignore: Vec<Regex>,
    /// Use the built-in ignore lists (off with `--all`).
    pub builtin_filters: bool,
    /// Look up owning packages.
    pub packages: bool,
    /// Ask the kernel for executable file mappings with `PROCMAP_QUERY` (Linux ≥ 6.11; the
    /// text maps file otherwise). Off: always the text file (`--maps-text`, for comparisons).
    pub maps_query: bool,
    /// Keep the host's owners between scans in this directory (`ownercache`; root only, and
    /// for the real root only). `None`: read the package lists every time (`--no-owner-cache`).
    pub owner_cache: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            proc_root: "/proc".into(),
            host_root: "/".into(),
            rules: None,
            ignore: vec![],
            builtin_filters: true,
            packages: true,
            maps_query: true,
            owner_cache: Some(crate::ownercache::DIR.into()),
        }
    }
}

/// A scan that could not run at all (as opposed to processes that could not be read).
#[derive(Debug)]
pub struct ScanError(pub String);

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn read_small(p: &Path) -> Option<String> {
    procread::read_bounded(p, 64 << 10).ok()
}

/// uid → name from the host's `/etc/passwd`.
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            Some((uid, name.to_string()))
        })
        .collect()
}

/// The container type when the host itself is a container.
fn host_container(host_root: &Path) -> Option<String> {
    if let Some(t) = read_small(&host_root.join("run/systemd/container")) {
        let t = t.trim();
        if !t.is_empty() {
            return Some(t.chars().take(64).collect());
        }
    }
    if host_root.join(".dockerenv").exists() {
        return Some("docker".into());
    }
    if host_root.join("run/.containerenv").exists() {
        return Some("podman".into());
    }
    None
}

/// The parent chains of the stale processes, read after the scan by PID (at most 64 steps up).
/// A parent that started after its child is a later process given a reused PID: the chain
/// ends below it. A parent whose executable cannot be read stays, without one.
fn ancestry(proc_root: &Path, clock: &procread::Clock, stale: &[StaleProc]) -> HashMap<i32, Node> {
    let mut tree = HashMap::new();
    for p in stale {
        tree.insert(
            p.pid,
            Node {
                ppid: p.ppid,
                tty_nr: p.tty_nr,
                exe: Some(p.exe.clone()),
            },
        );
    }
    for p in stale {
        let (mut pid, mut child_started) = (p.ppid, p.started_ns);
        for _ in 0..64 {
            if pid <= 1 || tree.contains_key(&pid) {
                break;
            }
            let Ok(dir) = ProcDir::open(proc_root, pid) else {
                break;
            };
            let Ok(basic) = dir.basic(clock) else { break };
            if basic.started_ns > child_started {
                break;
            }
            let exe = dir.exe().ok();
            tree.insert(
                pid,
                Node {
                    ppid: basic.ppid,
                    tty_nr: basic.tty_nr,
                    exe,
                },
            );
            (pid, child_started) = (basic.ppid, basic.started_ns);
        }
    }
    tree
}

/// What every process's scan shares.
struct Seen<'a> {
    host: &'a Path,
    /// The scanner's mount namespace (which view map paths belong to: `roots`).
    scanner_mnt: Option<u64>,
    filters: &'a Filters,
    stat_cache: &'a std::cell::RefCell<procread::StatCache>,
    clock: &'a procread::Clock,
    /// The host root's directory (device, inode): a process of another mount namespace whose
    /// root is that same directory (a service with PrivateTmp or ProtectSystem) sees the host's
    /// files and packages.
    host_dir: Option<(u64, u64)>,
    /// The owner cache holds the package database as it is now: no list is read.
    cached: bool,
}

fn dir_id(p: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

/// What is stale in one process, as [`stale_files`] found it.
struct Found {
    basic: procread::Basic,
    findings: Vec<crate::detect::Finding>,
    cmdline: Vec<String>,
    script: Option<String>,
    own_root: Option<OwnRoot>,
}

/// The stale files of one readable process (mappings, then its main script or the modules the
/// script loads), with its `stat` line, command line, script and root; none when nothing is
/// stale, or when the process exited, chrooted or changed namespace while it was read. The
/// `stat` line is read only for an interpreter (its start time tells which of its files
/// changed after it started) or once something is stale: most processes never need it.
fn stale_files(
    dir: &ProcDir,
    exe: &str,
    maps: &[crate::maps::Mapping],
    seen: &Seen,
    modules: &mut ModuleSearch,
) -> Result<Option<Found>, ReadError> {
    let before = dir.fingerprint();
    let root = before.root(seen.scanner_mnt);
    let probe = RealProbe {
        dir: &dir.dir,
        view: &root.view,
        host_root: seen.host,
        cache: seen.stat_cache,
    };
    let mut findings = detect::stale_mappings(maps, exe, &probe, seen.filters);
    let interpreter = interp::detect(exe);
    if interpreter.is_none() && findings.is_empty() {
        return Ok(None);
    }
    // the directory pins the process (`ProcDir::open`): a read after the maps is of the same
    // process, or fails once it exited
    let basic = match dir.basic(seen.clock) {
        Ok(b) => b,
        Err(ReadError::Denied) => return Err(ReadError::Denied),
        Err(_) => return Ok(None), // exited
    };
    let cmdline = dir.cmdline();
    let script = interpreter
        .filter(|_| root.scripts_resolvable())
        .and_then(|i| interp::script_arg(i, &cmdline))
        .and_then(|a| detect::resolve_script(&a, dir.cwd().as_deref()))
        .or_else(|| renamed_script(dir, interpreter?, &cmdline, &root, &probe));
    if let Some(s) = &script {
        if let Some(f) = detect::stale_script(s, basic.started_ns, &probe, seen.filters) {
            findings.push(f);
        } else if let Some(i) = interpreter {
            let program = Program {
                interp: i,
                exe,
                script: s,
                cmdline: &cmdline,
                mnt: before.mnt,
                root: before.root.as_deref(),
            };
            findings.extend(modules.stale(&program, basic.started_ns, &probe, seen.filters));
        }
    }
    if findings.is_empty() {
        return Ok(None);
    }
    // findings of a process that exited, chrooted or changed namespace while it was read
    // describe nothing that runs now
    if dir.fingerprint() != before || dir.start_ticks() != Some(basic.start_ticks) {
        return Ok(None);
    }
    let own_root = match root.view {
        View::Namespace { mnt, up } => {
            let mut path = dir.dir.join("root");
            for _ in 0..up {
                path.push("..");
            }
            (seen.host_dir.is_none() || dir_id(&path) != seen.host_dir).then_some(OwnRoot {
                key: (mnt, up),
                path,
            })
        }
        _ => None,
    };
    Ok(Some(Found {
        basic,
        findings,
        cmdline,
        script,
        own_root,
    }))
}

/// What every report says the scanner cannot see.
const LIMITATIONS: [&str; 3] = [
    "interpreted programs: the main script (from the command line, or the systemd unit's ExecStart when the program rewrote its command line) and, for perl and python, the modules it loads (found statically in the default search path; PYTHONPATH, PERL5LIB, virtualenvs and imports of computed names are not followed; a module imported only inside a function \"may be stale\")",
    "only executable mappings are checked; data files a process maps are not",
    "the main script of an interpreter that chrooted is not checked (its path may be relative to either root)",
];

/// The host's PID namespace (PID 1's, or the scanner's own when PID 1 is not readable) and
/// the scanner's mount namespace when `is_self` (map paths of processes in it are printed as
/// the scanner sees them: `roots`; with a copied /proc tree, "self" is not the scanner).
fn namespaces(proc_root: &Path, is_self: bool) -> (Option<u64>, Option<u64>) {
    let ns_of = |p: &str| {
        std::fs::read_link(proc_root.join(p))
            .ok()
            .and_then(|l| procread::parse_ns_link(&l.to_string_lossy()))
    };
    let root_pidns = ns_of("1/ns/pid").or_else(|| ns_of("self/ns/pid"));
    (root_pidns, is_self.then(|| ns_of("self/ns/mnt")).flatten())
}

/// What the walk over the processes found.
struct Walk {
    stale: Vec<StaleProc>,
    scanned: u32,
    unreadable: u32,
    /// The package lists, read ahead or started at the first stale process.
    lists: Option<packages::Prefetch>,
}

/// Every process once (the scanner apart): its executable and executable mappings, then its
/// stale files ([`stale_files`]). The package lists start to be read at the first stale
/// process when they were not read ahead (`lists`) and the owner cache cannot answer.
fn walk_processes(
    pids: &[i32],
    self_pid: Option<i32>,
    opts: &Options,
    seen: &Seen,
    modules: &mut ModuleSearch,
    mut lists: Option<packages::Prefetch>,
    user_name: &dyn Fn(u32) -> String,
) -> Walk {
    let proc_root = opts.proc_root.as_path();
    let mut stale: Vec<StaleProc> = Vec::new();
    let (mut scanned, mut unreadable) = (0u32, 0u32);
    let mut buf = Vec::with_capacity(256 * 1024);
    for &pid in pids {
        if Some(pid) == self_pid {
            continue;
        }
        let Ok(dir) = ProcDir::open(proc_root, pid) else {
            continue;
        };
        let exe = match dir.exe() {
            Ok(e) => e,
            Err(ReadError::KernelThread) | Err(ReadError::Gone) => continue,
            Err(ReadError::Denied) => {
                unreadable += 1;
                continue;
            }
        };
        let maps = match dir.maps(&mut buf, opts.maps_query) {
            Ok(m) => m,
            Err(ReadError::Denied) => {
                unreadable += 1;
                continue;
            }
            Err(_) => continue,
        };
        scanned += 1;
        if seen.filters.ignores_exe(&exe) {
            continue;
        }
        let found = match stale_files(&dir, &exe, &maps, seen, modules) {
            Ok(Some(found)) => found,
            Ok(None) => continue,
            // its maps were readable but its `stat` line is not: counted, never dropped
            Err(_) => {
                unreadable += 1;
                continue;
            }
        };
        let Found {
            basic,
            findings,
            cmdline,
            script,
            own_root,
        } = found;
        if opts.packages && lists.is_none() && !seen.cached {
            lists = Some(packages::prefetch(seen.host.join("var/lib/dpkg/info")));
        }
        stale.push(StaleProc {
            pid,
            ppid: basic.ppid,
            uid: basic.uid,
            user: user_name(basic.uid),
            comm: basic.comm,
            exe,
            cmdline,
            started_at: basic.started_at,
            started_ns: basic.started_ns,
            tty_nr: basic.tty_nr,
            pidns: dir.ns("pid"),
            cgroup_path: dir.cgroup_path(),
            script,
            findings,
            own_root,
        });
    }
    Walk {
        stale,
        scanned,
        unreadable,
        lists,
    }
}

/// Where the owners of stale files will come from: the owner cache (and whether it holds the
/// package database as it is now), and the package lists read ahead on a second thread while
/// /proc is scanned, when a second CPU is there to do it and the scan is long enough to hide
/// it. Otherwise the lists are read from the first stale process on (a clean host reads none):
/// on a host of a few processes the read-ahead was most of the scanner's work, all of it
/// wasted when nothing is stale (and none of it is needed when the cache answers).
fn package_sources(
    opts: &Options,
    processes: usize,
) -> (
    Option<crate::ownercache::Cache>,
    bool,
    Option<packages::Prefetch>,
) {
    let host = opts.host_root.as_path();
    let spare_cpu = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    let cache = opts
        .owner_cache
        .as_deref()
        .filter(|_| opts.packages && host == Path::new("/"))
        .and_then(|dir| crate::ownercache::Cache::open(dir, host));
    let cached = cache.as_ref().is_some_and(|c| c.fresh());
    let lists = (opts.packages && !cached && spare_cpu && processes >= READ_AHEAD_MIN_PROCESSES)
        .then(|| packages::prefetch(host.join("var/lib/dpkg/info")));
    (cache, cached, lists)
}

/// The host's name, machine id, architecture, init system, container type and boot id.
fn host_info(proc_root: &Path, host: &Path, systemd: bool) -> HostInfo {
    let (hostname, machine_id) = identity(proc_root, host);
    let boot_id = read_small(&proc_root.join("sys/kernel/random/boot_id"))
        .map(|s| s.trim().to_string())
        .filter(|s| crate::names::is_boot_id(s));
    HostInfo {
        hostname,
        machine_id,
        arch: std::env::consts::ARCH.into(),
        init: if systemd { Init::Systemd } else { Init::Other },
        container: host_container(host),
        boot_id,
    }
}

/// The boot's clock (boot time, ticks): an error when `/proc` is not there to read it.
fn clock(proc_root: &Path) -> Result<procread::Clock, ScanError> {
    let btime = procread::boot_time(proc_root).ok_or_else(|| {
        ScanError(format!(
            "cannot read boot time from {}/stat: is /proc mounted?",
            proc_root.display()
        ))
    })?;
    Ok(procread::Clock::new(proc_root, btime))
}

/// The PIDs under the proc root.
fn list_pids(proc_root: &Path) -> Result<Vec<i32>, ScanError> {
    Ok(std::fs::read_dir(proc_root)
        .map_err(|e| ScanError(format!("cannot list {}: {e}", proc_root.display())))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect())
}

/// Below this many processes the scan is too short to hide the package lists' read-ahead.
const READ_AHEAD_MIN_PROCESSES: usize = 64;

pub fn scan(opts: &Options) -> Result<Report, ScanError> {
    let t0 = Instant::now();
    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let proc_root = opts.proc_root.as_path();
    let host = opts.host_root.as_path();
    let clock = clock(proc_root)?;
    // with a copied /proc tree, no process is the scanner
    let self_pid = (proc_root == Path::new("/proc")).then(|| std::process::id() as i32);
    let rules = Rules::new(opts.rules.as_ref());
    let filters = Filters::new(
        [rules.ignore_paths(), &opts.ignore[..]].concat(),
        opts.builtin_filters,
    );

    let users = read_small(&host.join("etc/passwd"))
        .map(|t| parse_passwd(&t))
        .unwrap_or_default();
    let user_name = |uid: u32| users.get(&uid).cloned().unwrap_or_else(|| uid.to_string());
    let privileged = effective_uid(proc_root) == Some(0);

    let (root_pidns, scanner_mnt) = namespaces(proc_root, self_pid.is_some());
    let systemd = host.join("run/systemd/system").is_dir();

    let pids = list_pids(proc_root)?;

    // for the module search of interpreted daemons (imports): Debian's multiarch triplet and
    // the perl versions whose library directories exist
    let mut modules = ModuleSearch::new(host);
    let stat_cache = std::cell::RefCell::new(procread::StatCache::new());
    let (cache, cached, lists) = package_sources(opts, pids.len());
    let seen = Seen {
        host,
        scanner_mnt,
        filters: &filters,
        stat_cache: &stat_cache,
        host_dir: dir_id(host),
        clock: &clock,
        cached,
    };
    let walk = walk_processes(
        &pids,
        self_pid,
        opts,
        &seen,
        &mut modules,
        lists,
        &user_name,
    );
    let (mut stale, scanned, unreadable) = (walk.stale, walk.scanned, walk.unreadable);
    // the daemon a process belongs to is its topmost ancestor where no systemd cgroup says
    let tree = if systemd {
        HashMap::new()
    } else {
        ancestry(proc_root, &clock, &stale)
    };

    let mut warnings = Vec::new();
    let mut limitations: Vec<String> = LIMITATIONS.iter().map(|l| l.to_string()).collect();
    if modules.truncated {
        warnings.push("an interpreted program imports more modules than the scanner follows: its module list is incomplete".into());
    }
    let exes = tree.values().filter_map(|n| n.exe.clone());
    let lookup = opts.packages.then_some(owners::Lookup {
        lists: walk.lists,
        cache,
    });
    let index = owners::read(host, lookup, &stale, exes, &mut limitations);
    owners::settle(&mut stale, &index);

    let ctx = Context {
        systemd,
        root_pidns,
        rules: &rules,
        tree: &tree,
        packages: &index,
        user_name: &user_name,
    };
    let groups = classify::classify(&stale, &ctx);

    let host_info = host_info(proc_root, host, systemd);
    let (kernel, reboot) = kernel_and_reboot(
        proc_root,
        host,
        host_info.container.is_some(),
        groups.reboot_reasons.clone(),
    );
    warnings.extend(read_warnings(privileged, unreadable, root_pidns.is_some()));

    Ok(Report {
        schema_version: SCHEMA_VERSION,
        scanner: ScannerInfo {
            name: "fleetrestart-scan".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        host: host_info,
        started_at,
        duration_ms: t0.elapsed().as_millis() as u64,
        privileged,
        partial: !privileged || unreadable > 0,
        processes_scanned: scanned,
        processes_unreadable: unreadable,
        kernel,
        reboot,
        services: groups.services,
        never_restart: groups.never_restart,
        sessions: groups.sessions,
        containers: groups.containers,
        unattributed: groups.unattributed,
        warnings,
        limitations,
    })
}

/// The scanner's effective uid, from `/proc/self/status` (not the environment).
fn effective_uid(proc_root: &Path) -> Option<u32> {
    read_small(&proc_root.join("self/status")).and_then(|s| {
        s.lines().find_map(|l| {
            l.strip_prefix("Uid:")?
                .split_whitespace()
                .nth(1)?
                .parse::<u32>()
                .ok()
        })
    })
}

/// What the report must say about processes it could not read.
fn read_warnings(privileged: bool, unreadable: u32, pidns_known: bool) -> Vec<String> {
    let mut warnings = Vec::new();
    if !privileged {
        warnings.push(format!(
            "not running as root: {unreadable} processes of other users could not be read, results are partial"
        ));
    } else if unreadable > 0 {
        warnings.push(format!(
            "{unreadable} processes could not be read, results are partial"
        ));
    }
    if !pidns_known {
        warnings.push(
            "cannot read PID 1's namespace: processes in containers are not told apart".into(),
        );
    }
    warnings
}

/// The host's name and machine id (a 32-hex-digit id only).
fn identity(proc_root: &Path, host: &Path) -> (String, Option<String>) {
    let hostname = read_small(&proc_root.join("sys/kernel/hostname"))
        .unwrap_or_default()
        .trim()
        .to_string();
    let machine_id = read_small(&host.join("etc/machine-id"))
        .map(|s| s.trim().to_string())
        .filter(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()));
    (hostname, machine_id)
}

/// The kernel's state (running against installed) and whether the host needs a reboot, with
/// its reasons: `reasons` from the processes (e.g. a stale system bus), then the kernel's, the
/// CPU microcode's, then `/run/reboot-required` and the packages it names.
fn kernel_and_reboot(
    proc_root: &Path,
    host: &Path,
    in_container: bool,
    reasons: Vec<String>,
) -> (crate::report::Kernel, Reboot) {
    let running = read_small(&proc_root.join("sys/kernel/osrelease"))
        .unwrap_or_default()
        .trim()
        .to_string();
    let build = read_small(&proc_root.join("sys/kernel/version"))
        .unwrap_or_default()
        .trim()
        .to_string();
    let images = if in_container {
        vec![]
    } else {
        kernel::read_images(&host.join("boot"))
    };
    let kernel = kernel::evaluate(&running, &build, &images, in_container);

    let mut reboot = Reboot {
        needed: false,
        reasons,
        packages: vec![],
    };
    match kernel.status {
        crate::report::KernelState::VersionUpgrade => reboot.reasons.push(format!(
            "kernel {} is running, {} is installed",
            kernel.running,
            kernel.expected.as_deref().unwrap_or("?")
        )),
        crate::report::KernelState::AbiUpgrade => reboot.reasons.push(format!(
            "kernel {} was rebuilt (ABI-compatible upgrade)",
            kernel.running
        )),
        _ => {}
    }
    if !in_container {
        reboot
            .reasons
            .extend(crate::microcode::pending(proc_root, host));
    }
    if host.join("run/reboot-required").exists() {
        reboot.reasons.push("/run/reboot-required exists".into());
        if let Some(pkgs) = read_small(&host.join("run/reboot-required.pkgs")) {
            let mut seen = std::collections::BTreeSet::new();
            for l in pkgs
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .take(200)
            {
                if l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.:_".contains(&b))
                {
                    seen.insert(l.to_string());
                }
            }
            reboot.packages = seen.into_iter().collect();
        }
    }
    reboot.needed = !reboot.reasons.is_empty();
    (kernel, reboot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd() {
        let m = parse_passwd("root:x:0:0:root:/root:/bin/bash\nbad line\nlist:x:38:38:Mailing List Manager:/var/list:/usr/sbin/nologin\n");
        assert_eq!(m.get(&0).map(String::as_str), Some("root"));
        assert_eq!(m.get(&38).map(String::as_str), Some("list"));
        assert_eq!(m.len(), 2);
    }
}
