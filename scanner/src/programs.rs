//! The interpreted program a process runs, as the scan sees it: its script when the command
//! line no longer names it (from the systemd unit, `unitexec`), and the modules it loads
//! (`imports`), walked once per program (mount namespace, root, interpreter, script) however
//! many processes run it, with the ones that changed since a process's start (`detect`). I/O
//! through the process's [`RealProbe`] view; the decisions are the pure modules'.

use crate::detect;
use crate::filters::Filters;
use crate::imports;
use crate::interp;
use crate::procread::{ProcDir, RealProbe};
use crate::roots::View;
use std::collections::HashMap;
use std::path::Path;

/// An interpreted program as the module search sees it.
pub struct Program<'a> {
    pub interp: interp::Interpreter,
    pub exe: &'a str,
    pub script: &'a str,
    pub cmdline: &'a [String],
    pub mnt: Option<u64>,
    pub root: Option<&'a str>,
}

/// (mount namespace, root, interpreter, script).
type ProgramKey = (Option<u64>, Option<String>, String, String);

/// The modules of interpreted daemons (`imports`), walked once per program (mount namespace,
/// root, interpreter, script) however many processes run it.
pub struct ModuleSearch {
    /// Debian's multiarch triplet of the scanner's architecture.
    triplet: &'static str,
    /// Perl versions whose library directories exist on the host.
    perl_versions: Vec<String>,
    cache: HashMap<ProgramKey, imports::Modules>,
    /// Some program had more modules than the bounds let the walk follow.
    pub truncated: bool,
}

impl ModuleSearch {
    pub fn new(host: &Path) -> ModuleSearch {
        let triplet = match std::env::consts::ARCH {
            "aarch64" => "aarch64-linux-gnu",
            _ => "x86_64-linux-gnu",
        };
        ModuleSearch {
            triplet,
            perl_versions: perl_versions(&host.join("usr/lib").join(triplet).join("perl")),
            cache: HashMap::new(),
            truncated: false,
        }
    }

    /// The program's modules that changed after `started_ns`; none for an interpreter started
    /// from outside the system's directories (its search path is not known).
    pub fn stale(
        &mut self,
        p: &Program,
        started_ns: i64,
        probe: &RealProbe,
        filters: &Filters,
    ) -> Vec<detect::Finding> {
        if !standard_interpreter(p.cmdline) {
            return vec![];
        }
        let key = (
            p.mnt,
            p.root.map(String::from),
            p.exe.to_string(),
            p.script.to_string(),
        );
        let (triplet, versions, truncated) =
            (self.triplet, &self.perl_versions, &mut self.truncated);
        let files = self.cache.entry(key).or_insert_with(|| {
            let mut search = imports::search_path(p.interp, p.exe, p.script, triplet, versions);
            if p.interp == interp::Interpreter::Python
                && imports::python_skips_script_dir(p.cmdline)
            {
                let dir = p.script.rsplit_once('/').map(|(d, _)| d.to_string());
                search.retain(|d| Some(d) != dir.as_ref());
            }
            let m = imports::modules(
                p.interp,
                p.script,
                &search,
                probe,
                imports::Limits::default(),
            );
            *truncated |= m.truncated;
            m
        });
        let now = files
            .files
            .iter()
            .filter_map(|f| detect::stale_module(f, started_ns, probe, filters));
        let later = files
            .later
            .iter()
            .filter_map(|f| detect::stale_later_module(f, started_ns, probe, filters));
        now.chain(later).collect()
    }
}

/// Full perl versions (`5.36.0`) with a library directory under `dir`
/// (`/usr/lib/<triplet>/perl`), at most a few.
fn perl_versions(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str().map(String::from))
                .filter(|n| {
                    let p: Vec<&str> = n.split('.').collect();
                    p.len() == 3
                        && p[0] == "5"
                        && p.iter()
                            .all(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.truncate(4);
    v
}

/// Was the interpreter started from a system directory? One started through another path
/// (a virtualenv's `bin/python`, a private perl) has a search path we do not know.
fn standard_interpreter(cmdline: &[String]) -> bool {
    match cmdline.first().and_then(|a| a.rsplit_once('/')) {
        None => false, // a bare name: which one PATH found is not known
        Some((dir, _)) => {
            ["/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin", "/sbin"].contains(&dir)
        }
    }
}

/// The script of an interpreted daemon whose command line no longer names its interpreter (it
/// rewrote it: perl's `$0`), from its systemd unit's `ExecStart=` (`unitexec`); only for a
/// process in the scanner's own view and never chrooted.
pub fn renamed_script(
    dir: &ProcDir,
    interp: interp::Interpreter,
    cmdline: &[String],
    root: &crate::roots::ProcessRoot,
    probe: &RealProbe,
) -> Option<String> {
    if root.view != View::Reader || root.chrooted {
        return None;
    }
    let argv0 = cmdline.first()?.split_whitespace().next()?;
    if interp::detect(argv0) == Some(interp) {
        return None;
    }
    match crate::cgroup::classify(&dir.cgroup_path()?) {
        crate::cgroup::Placement::SystemService(unit) => {
            crate::unitexec::script(&unit, interp, probe)
        }
        _ => None,
    }
}
