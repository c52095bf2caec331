//! The scanner as an Ansible binary module (ansible-core's binary-module protocol: the module
//! is run with the path of a file holding its arguments as one JSON object, and answers with
//! one JSON object on standard output): run as `fleetrestart-scan ARGS_FILE`.
//!
//! Two modules in one binary, told apart by `_ansible_module_name` (the task's module name):
//! - `fleetrestart_scan`: scans, changes nothing, returns the report as the fact
//!   `ansible_facts.fleetrestart`;
//! - `fleetrestart_restart`: scans, restarts the services whose policy is `auto` (never-restart,
//!   reboot, session and manual services are left, unless a manual one is named), rescans to
//!   prove it, honours check mode and diff.
//!
//! Pure here: argument parsing ([`parse_args`]), facts ([`facts`]), what to restart
//! ([`restart_plan`]) and the result documents. The I/O edge is [`run`]. Bad arguments (not
//! JSON, an unknown option, a wrong type) are `failed: true` with a message naming the option;
//! the output is JSON whatever happens.

use crate::report::{Report, ServiceKind};
use crate::restart::{self, Selected, Skip};
use crate::rules::{Method, Policy, RuleSet};
use crate::scan::{self, Options};
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::Path;

/// The largest arguments file read (task arguments are small; a rules text is at most 1 MiB).
const MAX_ARGS_BYTES: u64 = 2 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    Scan,
    Restart,
}

/// The task's arguments, checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModuleArgs {
    pub restart: bool,
    pub check_mode: bool,
    pub diff: bool,
    /// `_ansible_inject_invocation`: echo the arguments back as `invocation`.
    pub inject_invocation: bool,
    /// A rules file's text, merged over the built-in rules.
    pub rules: Option<String>,
    /// Regexes of stale file paths not to report.
    pub ignore: Vec<String>,
    /// Turn off the built-in ignore lists.
    pub all: bool,
    pub no_packages: bool,
    /// Restart: only these services (a `manual` one named here is restarted too).
    pub services: Option<Vec<String>>,
    /// Restart: never these.
    pub exclude: Vec<String>,
    /// Restart: re-execute systemd (PID 1) when it uses stale files.
    pub daemon_reexec: bool,
    /// Restart: seconds one command may take (killed after).
    pub restart_timeout: Option<u64>,
    /// The user's options as given (for `invocation`).
    pub given: Map<String, Value>,
}

impl ModuleArgs {
    pub fn module(&self) -> Module {
        if self.restart {
            Module::Restart
        } else {
            Module::Scan
        }
    }
}

const SCAN_OPTIONS: &[&str] = &["rules", "ignore", "all", "no_packages"];
const RESTART_OPTIONS: &[&str] = &["services", "exclude", "daemon_reexec", "restart_timeout"];

/// Parses the arguments file's text. `program` is the name the binary runs under (Ansible
/// copies it as `AnsiballZ_<module>`), used when `_ansible_module_name` is absent.
pub fn parse_args(text: &str, program: &str) -> Result<ModuleArgs, String> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("the arguments file is not JSON: {e}"))?;
    let Value::Object(obj) = v else {
        return Err("the arguments file must hold a JSON object".into());
    };
    // which module: the collection's action plugins say it (`_fleetrestart_module`, one binary
    // per architecture serves both); else the task's module name (`fleetrestart_restart`), or
    // the name Ansible ran the binary under (`AnsiballZ_fleetrestart_restart`)
    let name = obj
        .get("_ansible_module_name")
        .and_then(Value::as_str)
        .unwrap_or(program);
    let last = name.rsplit(['.', '/']).next().unwrap_or(name);
    let restart = match obj.get("_fleetrestart_module") {
        None => last.split('_').any(|w| w == "restart"),
        Some(Value::String(m)) if m == "scan" => false,
        Some(Value::String(m)) if m == "restart" => true,
        Some(other) => {
            return Err(format!(
                "_fleetrestart_module: expected \"scan\" or \"restart\", not {other}"
            ))
        }
    };
    let mut a = ModuleArgs {
        restart,
        ..Default::default()
    };
    let flag = |k: &str| obj.get(k).and_then(Value::as_bool).unwrap_or(false);
    a.check_mode = flag("_ansible_check_mode");
    a.diff = flag("_ansible_diff");
    a.inject_invocation = flag("_ansible_inject_invocation");
    for (k, v) in &obj {
        if k.starts_with("_ansible_") || k == "_fleetrestart_module" {
            continue;
        }
        let known = SCAN_OPTIONS.contains(&k.as_str())
            || (a.restart && RESTART_OPTIONS.contains(&k.as_str()));
        if !known {
            let mut supported: Vec<&str> = SCAN_OPTIONS.to_vec();
            if a.restart {
                supported.extend(RESTART_OPTIONS);
            }
            return Err(format!(
                "unsupported parameter {k:?} (supported: {})",
                supported.join(", ")
            ));
        }
        a.given.insert(k.clone(), v.clone());
        match k.as_str() {
            "rules" => a.rules = opt_string(k, v)?,
            "ignore" => a.ignore = list(k, v)?,
            "all" => a.all = boolean(k, v)?,
            "no_packages" => a.no_packages = boolean(k, v)?,
            "services" => a.services = Some(list(k, v)?).filter(|_| !v.is_null()),
            "exclude" => a.exclude = list(k, v)?,
            "daemon_reexec" => a.daemon_reexec = boolean(k, v)?,
            "restart_timeout" => {
                a.restart_timeout = match v {
                    Value::Null => None,
                    v => Some(v.as_u64().filter(|&n| n > 0).ok_or_else(|| {
                        format!(
                        "option \"restart_timeout\": expected a number of seconds above 0, not {v}"
                    )
                    })?),
                }
            }
            _ => unreachable!("checked against the option lists"),
        }
    }
    for re in &a.ignore {
        regex_lite::Regex::new(re)
            .map_err(|e| format!("option \"ignore\": {re:?} is not a valid regex: {e}"))?;
    }
    if let Some(r) = &a.rules {
        RuleSet::with_user_file("option \"rules\"", r).map_err(|e| e.to_string())?;
    }
    Ok(a)
}

fn opt_string(k: &str, v: &Value) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(format!("option {k:?}: expected a string")),
    }
}

/// Ansible's booleans: true/false, and the strings and numbers it accepts for them.
fn boolean(k: &str, v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Null => Ok(false),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "yes" | "on" | "1" | "true" | "t" | "y" => Ok(true),
            "no" | "off" | "0" | "false" | "f" | "n" => Ok(false),
            _ => Err(format!("option {k:?}: expected a boolean, not {s:?}")),
        },
        _ => Err(format!("option {k:?}: expected a boolean")),
    }
}

/// A list of strings; a single string is a list of one, and a comma-separated string is split
/// (as Ansible's `type: list`).
fn list(k: &str, v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                _ => Err(format!("option {k:?}: expected a list of strings")),
            })
            .collect(),
        _ => Err(format!("option {k:?}: expected a list of strings")),
    }
}

/// The fact `ansible_facts.fleetrestart`: the report, and the answers a playbook branches on.
/// Typed, not a `serde_json::Value`: the report then goes through the same serializer as the
/// scanner's own JSON output, which keeps the static binary under its size budget.
#[derive(Debug, Serialize)]
pub struct ModuleFacts<'a> {
    pub needs_restart: bool,
    pub needs_reboot: bool,
    pub needs_action: bool,
    /// Services to restart (policy auto).
    pub services: Vec<&'a str>,
    pub services_manual: Vec<&'a str>,
    pub never_restart: Vec<&'a str>,
    pub sessions: usize,
    pub reboot_reasons: &'a [String],
    pub partial: bool,
    pub report: &'a Report,
}

pub fn facts(r: &Report) -> ModuleFacts<'_> {
    let names = |auto: bool| -> Vec<&str> {
        r.services
            .iter()
            .filter(|s| (s.policy == Policy::Auto) == auto)
            .map(|s| s.name.as_str())
            .collect()
    };
    ModuleFacts {
        needs_restart: !r.services.is_empty(),
        needs_reboot: r.reboot.needed,
        needs_action: r.needs_action(),
        services: names(true),
        services_manual: names(false),
        never_restart: r.never_restart.iter().map(|s| s.name.as_str()).collect(),
        sessions: r.sessions.len(),
        reboot_reasons: &r.reboot.reasons,
        partial: r.partial,
        report: r,
    }
}

#[derive(Debug, Serialize)]
pub struct AnsibleFacts<'a> {
    pub fleetrestart: ModuleFacts<'a>,
}

#[derive(Debug, Serialize)]
pub struct Invocation<'a> {
    pub module_args: &'a Map<String, Value>,
}

#[derive(Debug, Serialize)]
pub struct Left {
    pub service: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct Diff {
    pub before: String,
    pub after: String,
}

/// The one JSON object a module prints.
#[derive(Debug, Serialize)]
pub struct ModuleResult<'a> {
    pub changed: bool,
    pub failed: bool,
    pub rc: i32,
    pub msg: String,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub warnings: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ansible_facts: Option<AnsibleFacts<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invocation: Option<Invocation<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restarted: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left: Option<Vec<Left>>,
    /// Units started again after their restart left them down (with the cause).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<Diff>,
}

impl<'a> ModuleResult<'a> {
    fn new(msg: String) -> ModuleResult<'a> {
        ModuleResult {
            changed: false,
            failed: false,
            rc: 0,
            msg,
            warnings: &[],
            ansible_facts: None,
            invocation: None,
            restarted: None,
            left: None,
            notes: None,
            diff: None,
        }
    }

    fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"changed":false,"failed":true,"rc":1,"msg":"cannot write the result"}"#.into()
        })
    }
}

/// One restart the module will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub service: String,
    pub kind: ServiceKind,
    pub method: Method,
}

/// How the module names its options in the reasons it gives.
const WORDS: restart::Words = restart::Words {
    services: "services",
    daemon_reexec: "daemon_reexec",
};

/// What the restart module restarts from a report, and what it leaves with the reason
/// ([`restart::eligible`] decides, as for campaigns).
pub fn restart_plan(r: &Report, a: &ModuleArgs) -> (Vec<Planned>, Vec<(String, String)>) {
    let mut todo = Vec::new();
    let mut left = Vec::new();
    for s in &r.services {
        let named = a.services.as_ref().is_some_and(|l| l.contains(&s.name));
        let ask = restart::Ask {
            selected: if a.exclude.contains(&s.name) {
                Selected::Excluded
            } else if a.services.is_some() && !named {
                Selected::NotListed
            } else {
                Selected::Yes
            },
            named,
            daemon_reexec: a.daemon_reexec,
            method: None,
        };
        match restart::eligible(s, &ask) {
            Err(skip) => left.push((s.name.clone(), skip.reason(&WORDS))),
            Ok(method) => todo.push(Planned {
                service: s.name.clone(),
                kind: s.kind,
                method,
            }),
        }
    }
    for s in &r.never_restart {
        left.push((s.name.clone(), Skip::Policy(s.policy).reason(&WORDS)));
    }
    (todo, left)
}

/// The commands (argument vectors, no shell) that restart one service.
pub fn commands(r: &Planned, systemctl: &str) -> Vec<Vec<String>> {
    restart::argv(r.kind, r.method, &r.service, systemctl)
}

fn scan_options(a: &ModuleArgs) -> Result<Options, String> {
    let mut opts = Options::default();
    if let Some(r) = &a.rules {
        opts.rules =
            Some(RuleSet::with_user_file("option \"rules\"", r).map_err(|e| e.to_string())?);
    }
    for re in &a.ignore {
        opts.ignore
            .push(regex_lite::Regex::new(re).map_err(|e| e.to_string())?);
    }
    opts.builtin_filters = !a.all;
    opts.packages = !a.no_packages;
    // the modules change nothing on the host but what they report: no owner cache is written
    opts.owner_cache = None;
    Ok(opts)
}

/// A failed result (the message, `rc` 1), as JSON.
pub fn failure(msg: &str) -> String {
    let mut r = ModuleResult::new(msg.to_string());
    r.failed = true;
    r.rc = 1;
    r.to_json()
}

/// The result of the scan module, as JSON.
pub fn scan_result(r: &Report, a: &ModuleArgs) -> String {
    let f = facts(r);
    let msg = format!(
        "{} service(s) to restart, {} manual, {} never restarted, {} session(s); reboot {}",
        f.services.len(),
        f.services_manual.len(),
        r.never_restart.len(),
        r.sessions.len(),
        if r.reboot.needed {
            "needed"
        } else {
            "not needed"
        }
    );
    let mut out = ModuleResult::new(msg);
    out.warnings = &r.warnings;
    out.ansible_facts = Some(AnsibleFacts { fleetrestart: f });
    if a.inject_invocation {
        out.invocation = Some(Invocation {
            module_args: &a.given,
        });
    }
    out.to_json()
}

/// Runs the module with the arguments file at `args_path`; the JSON result to print.
pub fn run(args_path: &Path, program: &str) -> String {
    use std::io::Read;
    let mut text = String::new();
    let read = std::fs::File::open(args_path)
        .and_then(|f| f.take(MAX_ARGS_BYTES).read_to_string(&mut text));
    if let Err(e) = read {
        return failure(&format!(
            "cannot read the arguments file {}: {e}",
            args_path.display()
        ));
    }
    let a = match parse_args(&text, program) {
        Ok(a) => a,
        Err(e) => return failure(&e),
    };
    let opts = match scan_options(&a) {
        Ok(o) => o,
        Err(e) => return failure(&e),
    };
    let report = match scan::scan(&opts) {
        Ok(r) => r,
        Err(e) => return failure(&e.to_string()),
    };
    match a.module() {
        Module::Scan => scan_result(&report, &a),
        Module::Restart => restart(&report, &a, &opts),
    }
}

/// The restart module: restart, rescan, report.
fn restart(before: &Report, a: &ModuleArgs, opts: &Options) -> String {
    let (todo, left) = restart_plan(before, a);
    let names: Vec<String> = todo.iter().map(|r| r.service.clone()).collect();
    let mut out = ModuleResult::new(String::new());
    out.changed = !todo.is_empty();
    out.left = Some(
        left.into_iter()
            .map(|(service, reason)| Left { service, reason })
            .collect(),
    );
    if a.diff && !todo.is_empty() {
        out.diff = Some(Diff {
            before: format!("services using stale files: {}\n", names.join(" ")),
            after: "services using stale files: \n".into(),
        });
    }
    if a.inject_invocation {
        out.invocation = Some(Invocation {
            module_args: &a.given,
        });
    }
    if a.check_mode || todo.is_empty() {
        out.msg = if todo.is_empty() {
            "nothing to restart".to_string()
        } else {
            format!("would restart {}", names.join(" "))
        };
        out.restarted = Some(if a.check_mode { names } else { vec![] });
        out.ansible_facts = Some(AnsibleFacts {
            fleetrestart: facts(before),
        });
        return out.to_json();
    }
    let systemctl = ["/usr/bin/systemctl", "/bin/systemctl"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .unwrap_or("/bin/systemctl");
    let mut restarted = Vec::new();
    let mut errors = Vec::new();
    let mut notes = Vec::new();
    let timeout = std::time::Duration::from_secs(a.restart_timeout.unwrap_or(300));
    for r in ordered(&todo) {
        let run = run_commands(&commands(r, systemctl), timeout)
            .and_then(|()| settle(r, systemctl, &mut notes));
        match run {
            Ok(()) => restarted.push(r.service.clone()),
            Err(e) => errors.push(format!("{}: {e}", r.service)),
        }
        // journald first, and checked, before anything else is touched
        if !errors.is_empty() && crate::units::is_journald(&r.service) {
            break;
        }
    }
    out.notes = Some(notes);
    // the proof: a rescan, and every restarted service must be gone from it
    let after = scan::scan(opts);
    match &after {
        Ok(after) => {
            let still: Vec<&str> = after
                .services
                .iter()
                .map(|s| s.name.as_str())
                .filter(|s| restarted.iter().any(|r| r == s))
                .collect();
            if !still.is_empty() {
                errors.push(format!(
                    "still using stale files after the restart: {}",
                    still.join(" ")
                ));
            }
            out.ansible_facts = Some(AnsibleFacts {
                fleetrestart: facts(after),
            });
        }
        Err(e) => errors.push(format!("the rescan failed: {e}")),
    }
    if errors.is_empty() {
        out.msg = format!("restarted {}", restarted.join(" "));
    } else {
        out.failed = true;
        out.rc = 1;
        out.msg = errors.join("; ");
    }
    out.restarted = Some(restarted);
    out.to_json()
}

/// The restarts in the order they run: journald units first (a unit started while the old
/// journald stops can be killed by SIGPIPE before it runs: restart-race-2026-12.md), the system
/// manager's re-execution last (a `systemctl` racing PID 1's re-exec fails), the rest as planned.
pub fn ordered(todo: &[Planned]) -> Vec<&Planned> {
    let rank = |r: &Planned| {
        if crate::units::is_journald(&r.service) {
            0
        } else if r.kind == ServiceKind::Manager || r.method == Method::DaemonReexec {
            2
        } else {
            1
        }
    };
    // three passes, not a sort: the scanner's size budget has no room for another sort
    (0..3)
        .flat_map(|k| todo.iter().filter(move |r| rank(r) == k))
        .collect()
}

/// Runs argument vectors one after the other (no shell; a clean environment), each killed
/// after `timeout`. Their output goes to a file, not a pipe: a daemon started by an init script
/// that keeps the inherited descriptors would otherwise hold the module forever.
/// As in the controller's `stop; kill; start`, only the last command's status counts (the kill
/// finds nothing left to kill when the stop worked).
fn run_commands(cmds: &[Vec<String>], timeout: std::time::Duration) -> Result<(), String> {
    let last = cmds.len().saturating_sub(1);
    for (i, c) in cmds.iter().enumerate() {
        let (status, output) = run_bounded(c, timeout)?;
        if !status && i == last {
            return Err(format!("`{}` failed: {}", c.join(" "), output.trim()));
        }
    }
    Ok(())
}

/// One command with its output in an unlinked file under /run (or /tmp); whether it exited 0,
/// and the last 500 bytes of its output. fork and execve by hand, with a fixed environment
/// (`PATH`, `LC_ALL=C`), every signal's disposition at its default and none blocked, in a
/// session of its own, standard input from /dev/null: std's process spawning would not fit the
/// scanner's size budget.
#[inline(never)]
fn run_bounded(c: &[String], timeout: std::time::Duration) -> Result<(bool, String), String> {
    use std::ffi::CString;
    use std::io::{Read, Seek};
    use std::os::fd::AsRawFd;
    let file = output_file().map_err(|e| format!("no file for the output of {}: {e}", c[0]))?;
    let devnull = std::fs::File::open("/dev/null").map_err(|e| e.to_string())?;
    let args: Vec<CString> = c
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| "an argument holds a NUL byte".to_string())?;
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let envp = [
        c"PATH=/usr/sbin:/usr/bin:/sbin:/bin".as_ptr(),
        c"LC_ALL=C".as_ptr(),
        std::ptr::null(),
    ];
    let (out, null) = (file.as_raw_fd(), devnull.as_raw_fd());
    // the child only calls async-signal-safe functions before execve
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe {
            // what the module inherited ignored or blocked (Ansible's Python ignores SIGPIPE)
            // would survive execve into the daemon the script starts; its own
            // session: nothing sent to the module's process group reaches it
            // (the raw call: the C library refuses the real-time signals it reserves)
            let dfl: [usize; 4] = [libc::SIG_DFL, 0, 0, 0];
            for sig in 1..=64 {
                libc::syscall(libc::SYS_rt_sigaction, sig, dfl.as_ptr(), 0usize, 8usize);
            }
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            libc::setsid();
            libc::dup2(null, 0);
            libc::dup2(out, 1);
            libc::dup2(out, 2);
            libc::execve(argv[0], argv.as_ptr(), envp.as_ptr());
            libc::_exit(127)
        }
    }
    if pid < 0 {
        return Err(format!("cannot run {}: fork failed", c[0]));
    }
    let t0 = std::time::Instant::now();
    let mut status = 0;
    while unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == 0 {
        if t0.elapsed() >= timeout {
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return Err(format!(
                "`{}` did not finish within {} s: killed",
                c.join(" "),
                timeout.as_secs()
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut f = file;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(std::io::SeekFrom::Start(len.saturating_sub(500)));
    let mut text = String::new();
    let _ = f.take(500).read_to_string(&mut text);
    let exited = libc::WIFEXITED(status);
    if exited && libc::WEXITSTATUS(status) == 127 && len == 0 {
        return Err(format!("cannot run {}", c[0]));
    }
    Ok((exited && libc::WEXITSTATUS(status) == 0, text))
}

/// A new file that nobody else can open: created exclusively under a fixed directory (never
/// the environment's TMPDIR), then unlinked.
fn output_file() -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut last = std::io::Error::other("no directory");
    for dir in ["/run", "/tmp"] {
        let name = format!(
            "{dir}/.fleetrestart-out-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&name)
        {
            Ok(f) => {
                let _ = std::fs::remove_file(&name);
                return Ok(f);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// After a restart: a systemd unit is read back until the same invocation is active at two
/// looks 1 s apart (one left down is started once, named with its cause in `notes`); a sysv
/// service with its init script's `status` (LSB: 0 runs, 1-3 does not), when it has one.
#[inline(never)]
fn settle(r: &Planned, systemctl: &str, notes: &mut Vec<String>) -> Result<(), String> {
    match r.kind {
        ServiceKind::Systemd => settle_unit(&r.service, systemctl, notes),
        ServiceKind::Sysv => {
            let script = format!("/etc/init.d/{}", r.service);
            let has_status = std::fs::read(&script)
                .map(|b| b.windows(6).any(|w| w == b"status"))
                .unwrap_or(false);
            // status after a second; not running: started once, status again
            let mut started = false;
            for action in ["status", "start", "status"] {
                if !has_status {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_secs(1));
                let c = [script.clone(), action.into()];
                let (ok, _) = run_bounded(&c, std::time::Duration::from_secs(300))?;
                match action {
                    "status" if ok => return Ok(()),
                    "status" if started => {
                        return Err(
                            "not running after its restart; started again once: still not running"
                                .into(),
                        )
                    }
                    "status" => notes.push(format!(
                        "{}: not running after its restart: started again",
                        r.service
                    )),
                    _ => started = true,
                }
            }
            Ok(())
        }
        ServiceKind::Manager => Ok(()),
    }
}

fn settle_unit(unit: &str, systemctl: &str, notes: &mut Vec<String>) -> Result<(), String> {
    use crate::units::{judge_one, parse_unit, One, SHOW_PROPERTIES};
    let show = || -> Result<crate::units::UnitState, String> {
        let c: Vec<String> = [systemctl, "show", "-p", SHOW_PROPERTIES, "--", unit]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (ok, text) = run_bounded(&c, std::time::Duration::from_secs(60))?;
        match parse_unit(&text) {
            Some((_, st)) if ok => Ok(st),
            _ => Err(format!("`systemctl show` failed: {}", text.trim())),
        }
    };
    let mut started = false;
    let mut prev = None;
    for look in 0..8 {
        if look > 0 {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
        let now = show()?;
        match judge_one(unit, None, prev.as_ref(), &now, started) {
            One::Stable => return Ok(()),
            One::Again => {}
            One::Fail(m) => return Err(m),
            One::Start(why) => {
                notes.push(format!("{unit}: {why}: started again"));
                run_commands(
                    &[vec![
                        systemctl.into(),
                        "start".into(),
                        "--".into(),
                        unit.into(),
                    ]],
                    std::time::Duration::from_secs(300),
                )?;
                started = true;
            }
        }
        prev = Some(now);
    }
    Err("not settled 8 s after its restart".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_as_ansible_sends_them() {
        let text = r#"{"rules": null, "ignore": ["^/opt/"], "all": "yes", "no_packages": false,
            "_ansible_check_mode": true, "_ansible_diff": false, "_ansible_verbosity": 0,
            "_ansible_module_name": "fleetrestart.fleet.fleetrestart_scan",
            "_ansible_tracebacks_for": [], "_ansible_inject_invocation": true}"#;
        let a = parse_args(text, "AnsiballZ_x").unwrap();
        assert_eq!(a.module(), Module::Scan);
        assert!(a.check_mode && a.all && !a.no_packages && a.inject_invocation);
        assert_eq!(a.ignore, ["^/opt/"]);
        let a = parse_args(
            r#"{"services": "cron.service, ssh.service"}"#,
            "/tmp/x/AnsiballZ_fleetrestart_restart",
        )
        .unwrap();
        assert_eq!(a.module(), Module::Restart);
        let arch = |m: &str| {
            let t = format!(
                r#"{{"_ansible_module_name": "fleetrestart.fleet.fleetrestart_x86_64", "_fleetrestart_module": "{m}"}}"#
            );
            parse_args(&t, "AnsiballZ_fleetrestart_x86_64").map(|a| a.module())
        };
        assert_eq!(arch("scan"), Ok(Module::Scan));
        assert_eq!(arch("restart"), Ok(Module::Restart));
        assert!(arch("reboot").is_err());
        assert_eq!(
            parse_args("{}", "/x/AnsiballZ_fleetrestart_scan").map(|a| a.module()),
            Ok(Module::Scan),
            "fleetrestart contains restart, but not as a word"
        );
        assert_eq!(
            a.services.as_deref(),
            Some(&["cron.service".to_string(), "ssh.service".to_string()][..])
        );
    }

    #[test]
    fn bad_arguments_name_the_option() {
        let e = |t: &str| parse_args(t, "AnsiballZ_fleetrestart_scan").unwrap_err();
        assert!(e("{").contains("not JSON"));
        assert!(e("[1]").contains("JSON object"));
        assert!(
            e(r#"{"colour": 1}"#).contains("\"colour\""),
            "{}",
            e(r#"{"colour": 1}"#)
        );
        // a restart option is unknown to the scan module
        assert!(e(r#"{"services": ["a"]}"#).contains("unsupported parameter \"services\""));
        assert!(e(r#"{"all": "maybe"}"#).contains("option \"all\": expected a boolean"));
        assert!(e(r#"{"ignore": [1]}"#).contains("option \"ignore\": expected a list"));
        assert!(e(r#"{"ignore": ["("]}"#).contains("not a valid regex"));
        assert!(e(r#"{"rules": 5}"#).contains("option \"rules\": expected a string"));
        assert!(e(r#"{"rules": "version: 9\n"}"#).starts_with("option \"rules\""));
    }

    fn report(services: &[(&str, ServiceKind, Method, Policy)]) -> Report {
        let mut r: Report =
            serde_json::from_str(include_str!("../../tests/fixtures/report-clean.json")).unwrap();
        r.services = services
            .iter()
            .map(|(n, k, m, p)| crate::report::Service {
                name: n.to_string(),
                kind: *k,
                method: *m,
                policy: *p,
                rule: None,
                process_count: 1,
                processes: vec![],
            })
            .collect();
        r
    }

    #[test]
    fn only_auto_services_are_restarted_unless_named() {
        use Method::*;
        use Policy::*;
        use ServiceKind::*;
        let r = report(&[
            ("cron.service", Systemd, Restart, Auto),
            ("dovecot.service", Systemd, StopKillStart, Auto),
            ("dbus.service", Systemd, Restart, Manual),
            ("systemd-manager", Manager, DaemonReexec, Manual),
            ("bad;x.service", Systemd, Restart, Auto),
            ("exim4", Sysv, Restart, Auto),
        ]);
        let a = ModuleArgs {
            restart: true,
            exclude: vec!["exim4".into()],
            ..Default::default()
        };
        let (todo, left) = restart_plan(&r, &a);
        let names: Vec<&str> = todo.iter().map(|t| t.service.as_str()).collect();
        assert_eq!(names, ["cron.service", "dovecot.service"]);
        let why = |s: &str| left.iter().find(|(n, _)| n == s).unwrap().1.clone();
        assert!(why("dbus.service").contains("manual"));
        assert!(why("systemd-manager").contains("daemon_reexec"));
        assert!(why("bad;x.service").contains("not a valid"));
        assert_eq!(why("exim4"), "excluded");
        // named: a manual service is restarted; only the named ones are
        let a = ModuleArgs {
            restart: true,
            services: Some(vec!["dbus.service".into()]),
            ..Default::default()
        };
        let (todo, _) = restart_plan(&r, &a);
        assert_eq!(todo.len(), 1);
        assert_eq!(todo[0].service, "dbus.service");
        assert_eq!(
            commands(&todo[0], "/usr/bin/systemctl"),
            [["/usr/bin/systemctl", "restart", "--", "dbus.service"]]
        );
        let dk = Planned {
            service: "dovecot.service".into(),
            kind: Systemd,
            method: StopKillStart,
        };
        assert_eq!(commands(&dk, "/bin/systemctl").len(), 3);
    }

    #[test]
    fn scan_result_carries_the_facts() {
        use Method::*;
        use Policy::*;
        use ServiceKind::*;
        let r = report(&[
            ("cron.service", Systemd, Restart, Auto),
            ("dbus.service", Systemd, Restart, Manual),
        ]);
        let out: Value = serde_json::from_str(&scan_result(&r, &ModuleArgs::default())).unwrap();
        assert_eq!(out["changed"], false);
        assert_eq!(out["failed"], false);
        let f = &out["ansible_facts"]["fleetrestart"];
        assert_eq!(f["needs_restart"], true);
        assert_eq!(f["services"], serde_json::json!(["cron.service"]));
        assert_eq!(f["services_manual"], serde_json::json!(["dbus.service"]));
        assert_eq!(f["report"]["schema_version"], r.schema_version);
        assert!(out.get("invocation").is_none());
    }

    #[test]
    fn journald_first_the_manager_last() {
        let p = |s: &str, kind, method| Planned {
            service: s.into(),
            kind,
            method,
        };
        let todo = [
            p(
                "systemd-manager",
                ServiceKind::Manager,
                Method::DaemonReexec,
            ),
            p("cron.service", ServiceKind::Systemd, Method::Restart),
            p(
                "systemd-journald.service",
                ServiceKind::Systemd,
                Method::Restart,
            ),
            p("exim4", ServiceKind::Sysv, Method::Restart),
        ];
        let order: Vec<&str> = ordered(&todo).iter().map(|r| r.service.as_str()).collect();
        assert_eq!(
            order,
            [
                "systemd-journald.service",
                "cron.service",
                "exim4",
                "systemd-manager"
            ]
        );
    }

    #[test]
    fn a_command_starts_with_no_signal_ignored_or_blocked_whatever_the_module_inherited() {
        // what is ignored survives execve, so a daemon an init script starts would
        // inherit it (Ansible's Python ignores SIGPIPE; a HUP-reloaded daemon following the
        // nohup idiom never reloads again). The module ignores SIGHUP and SIGPIPE here, as it
        // could have inherited them, and the command reads its own dispositions.
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        unsafe {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
        let r = run_bounded(
            &v(&["/bin/grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"]),
            std::time::Duration::from_secs(20),
        )
        .unwrap();
        unsafe { libc::signal(libc::SIGHUP, libc::SIG_DFL) };
        assert!(r.0, "{r:?}");
        for line in r.1.lines() {
            let mask = u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap();
            assert_eq!(mask, 0, "{line}");
        }
        assert_eq!(r.1.lines().count(), 2, "{r:?}");
    }

    #[test]
    fn commands_are_bounded_and_never_held_by_a_daemon_they_start() {
        // a daemon that keeps the inherited output open held `output()` forever
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let t0 = std::time::Instant::now();
        let r = run_bounded(
            &v(&["/bin/sh", "-c", "sleep 30 & echo started"]),
            std::time::Duration::from_secs(20),
        )
        .unwrap();
        assert!(r.0 && r.1.contains("started"), "{r:?}");
        assert!(t0.elapsed() < std::time::Duration::from_secs(10));
        // and a command that hangs is killed at its timeout
        let e = run_commands(
            &[v(&["/bin/sleep", "30"])],
            std::time::Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(e.contains("did not finish within 1 s"), "{e}");
        let e = run_commands(
            &[v(&["/bin/sh", "-c", "echo broken config >&2; exit 3"])],
            std::time::Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(e.contains("broken config"), "{e}");
        let bad = parse_args(
            r#"{"_fleetrestart_module": "restart", "restart_timeout": 0}"#,
            "x",
        )
        .unwrap_err();
        assert!(bad.contains("restart_timeout"), "{bad}");
    }
}
