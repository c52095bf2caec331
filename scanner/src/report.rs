//! The scanner's report: the versioned JSON schema shared with the controller.
//!
//! Pure data. `docs/report-schema.md` documents every field; [`SCHEMA_VERSION`] changes whenever a
//! field changes meaning or disappears (adding optional fields keeps it). The controller refuses
//! reports of another version rather than guessing.

use crate::rules::{Method, Policy};
use serde::{Deserialize, Serialize};

pub const SCHEMA_VERSION: u32 = 1;

/// Bounds on what one report lists (counts stay exact).
pub const MAX_PROCESSES_PER_GROUP: usize = 200;
pub const MAX_FILES_PER_PROCESS: usize = 64;
pub const MAX_CMDLINE_BYTES: usize = 1024;
/// Entries of each list in a report (services, sessions, ..., warnings): far above any real
/// host, low enough that a hostile report cannot make a reader's work explode.
pub const MAX_LIST_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub schema_version: u32,
    pub scanner: ScannerInfo,
    pub host: HostInfo,
    /// Unix time (seconds) the scan started.
    pub started_at: u64,
    pub duration_ms: u64,
    /// Ran with root's view of /proc (uid 0).
    pub privileged: bool,
    /// Some processes could not be read: results are incomplete.
    pub partial: bool,
    pub processes_scanned: u32,
    pub processes_unreadable: u32,
    pub kernel: Kernel,
    pub reboot: Reboot,
    /// Services a campaign restarts (policy auto or manual).
    pub services: Vec<Service>,
    /// Services that use stale files but are never restarted (policy never or reboot).
    pub never_restart: Vec<Service>,
    pub sessions: Vec<Session>,
    pub containers: Vec<Container>,
    /// Stale processes with no known way to restart them.
    pub unattributed: Vec<Unattributed>,
    pub warnings: Vec<String>,
    /// What this scan cannot see, so that "nothing found" is not over-read.
    pub limitations: Vec<String>,
}

impl Report {
    /// The bounds a scanner keeps, checked by a reader that does not trust the writer: list
    /// lengths, processes per group, files per process, command-line length.
    pub fn check_bounds(&self) -> Result<(), String> {
        let lists = [
            ("services", self.services.len()),
            ("never_restart", self.never_restart.len()),
            ("sessions", self.sessions.len()),
            ("containers", self.containers.len()),
            ("unattributed", self.unattributed.len()),
            ("warnings", self.warnings.len()),
            ("limitations", self.limitations.len()),
            ("reboot.reasons", self.reboot.reasons.len()),
            ("reboot.packages", self.reboot.packages.len()),
        ];
        for (name, n) in lists {
            if n > MAX_LIST_ENTRIES {
                return Err(format!(
                    "{name} has {n} entries (at most {MAX_LIST_ENTRIES})"
                ));
            }
        }
        let groups = self
            .services
            .iter()
            .chain(&self.never_restart)
            .map(|s| (&s.name, &s.processes))
            .chain(self.sessions.iter().map(|s| (&s.id, &s.processes)))
            .chain(self.containers.iter().map(|c| (&c.id, &c.processes)))
            .chain(self.unattributed.iter().map(|u| (&u.reason, &u.processes)));
        for (name, procs) in groups {
            if procs.len() > MAX_PROCESSES_PER_GROUP {
                return Err(format!(
                    "{name:?} lists {} processes (at most {MAX_PROCESSES_PER_GROUP})",
                    procs.len()
                ));
            }
            for p in procs {
                if p.files.len() > MAX_FILES_PER_PROCESS {
                    return Err(format!(
                        "process {} lists {} files (at most {MAX_FILES_PER_PROCESS})",
                        p.pid,
                        p.files.len()
                    ));
                }
                if p.cmdline.len() > MAX_CMDLINE_BYTES {
                    return Err(format!(
                        "process {} has a command line of {} bytes (at most {MAX_CMDLINE_BYTES})",
                        p.pid,
                        p.cmdline.len()
                    ));
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScannerInfo {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostInfo {
    pub hostname: String,
    pub machine_id: Option<String>,
    /// `x86_64`, `aarch64`, ... (the scanner's own build target).
    pub arch: String,
    pub init: Init,
    /// Set when the host itself is a container (`systemd-nspawn`, `docker`, `lxc`, ...).
    pub container: Option<String>,
    /// `/proc/sys/kernel/random/boot_id`: a new one at every boot (a reboot campaign tells from
    /// it whether the host rebooted since the audit). Absent from reports of older scanners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
}

/// Container types whose boot id is their own (a restart of the container gives a new one):
/// systemd-nspawn virtualises it; LXC, OpenVZ, Docker and Podman show the host kernel's.
pub fn own_boot_id(container: Option<&str>) -> bool {
    matches!(container, None | Some("systemd-nspawn"))
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    Systemd,
    Other,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KernelState {
    /// No kernel image found, or none readable.
    Unknown,
    Current,
    /// Same version, rebuilt package (ABI-compatible upgrade).
    AbiUpgrade,
    VersionUpgrade,
    /// The host is a container: the kernel is not its own.
    NotApplicable,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Kernel {
    pub status: KernelState,
    /// `uname -r` of the running kernel.
    pub running: String,
    /// `uname -v` of the running kernel (its build string).
    pub running_build: String,
    /// Newest installed kernel, when known.
    pub expected: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Reboot {
    pub needed: bool,
    pub reasons: Vec<String>,
    /// Packages named in `/run/reboot-required.pkgs`.
    pub packages: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    /// A systemd system service (`name` is the unit).
    Systemd,
    /// A sysv init script (`name` is the script in /etc/init.d).
    Sysv,
    /// PID 1, the system manager (`name` is `systemd-manager`).
    Manager,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    pub kind: ServiceKind,
    pub method: Method,
    pub policy: Policy,
    /// The rule that decided method or policy, if any.
    pub rule: Option<String>,
    /// Number of stale processes (the list below may be cut at MAX_PROCESSES_PER_GROUP).
    pub process_count: u32,
    pub processes: Vec<Process>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// A systemd login session scope (`id` is the session id).
    Login,
    /// A process with a controlling terminal on a host without systemd (`id` is the tty).
    Tty,
    /// A user's `systemd --user` (`id` is `user manager`).
    UserManager,
    /// A user service (`id` is the unit).
    UserService,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Session {
    pub kind: SessionKind,
    pub uid: u32,
    pub user: String,
    pub id: String,
    pub process_count: u32,
    pub processes: Vec<Process>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Container {
    /// `pid_namespace` (another PID namespace) or `machine` (machined VM/container scope).
    pub kind: String,
    /// The container's cgroup name when it has one, else `pidns:INODE`.
    pub id: String,
    pub process_count: u32,
    pub processes: Vec<Process>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Unattributed {
    /// Why no service was found.
    pub reason: String,
    pub process_count: u32,
    pub processes: Vec<Process>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Process {
    pub pid: i32,
    pub ppid: i32,
    pub uid: u32,
    pub user: String,
    pub comm: String,
    /// Executable, without the ` (deleted)` marker.
    pub exe: String,
    /// Arguments joined by spaces, cut at MAX_CMDLINE_BYTES.
    pub cmdline: String,
    /// Unix time (seconds) the process started.
    pub started_at: u64,
    /// The systemd unit or cgroup path it runs in, when known.
    pub cgroup: Option<String>,
    pub files: Vec<StaleFile>,
    /// Stale files not listed because of MAX_FILES_PER_PROCESS.
    pub files_omitted: u32,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// The process's executable.
    Exe,
    /// A mapped shared object or other executable mapping.
    Library,
    /// The script an interpreter runs.
    Script,
    /// A module an interpreted daemon loaded from a source file (found statically, `imports`).
    Module,
    /// A module the daemon imports only later (inside a function): loaded at first use, if
    /// ever, so a change to it "may" be stale (never restarted automatically).
    LaterModule,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The file was unlinked (the kernel marks the mapping ` (deleted)`) or is gone from its path.
    Deleted,
    /// Another file now stands at the path (inode or device differ).
    Replaced,
    /// The script or module was written, or another file put at its path, after the process
    /// started (its content or birth time says so).
    Changed,
    /// Its status changed after the process started and nothing on the host tells whether its
    /// content did (no birth time, no package install time): "may be stale", restarted only when
    /// the operator names it (policy manual), never automatically.
    MayHaveChanged,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct StaleFile {
    pub path: String,
    pub kind: FileKind,
    pub reason: Reason,
    /// The package that owns the path (dpkg, rpm, pacman or apk), when the host has a package database we read.
    pub package: Option<String>,
}

impl Report {
    /// True when something on the host needs a restart or a reboot.
    pub fn needs_action(&self) -> bool {
        !self.services.is_empty()
            || !self.never_restart.is_empty()
            || !self.sessions.is_empty()
            || !self.unattributed.is_empty()
            || self.reboot.needed
    }
}

#[cfg(test)]
mod schema_doc {
    //! docs/report-schema.md names every field and every value the report can carry.
    use super::*;

    fn names<T: Serialize>(values: &[T]) -> Vec<String> {
        values
            .iter()
            .map(|v| {
                serde_json::to_value(v)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn the_documented_schema_is_the_reports() {
        let doc = include_str!("../../docs/report-schema.md");
        let report: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/report-clean.json")).unwrap();
        let mut words: Vec<String> = report.as_object().unwrap().keys().cloned().collect();
        for part in ["host", "kernel", "reboot", "scanner"] {
            words.extend(report[part].as_object().unwrap().keys().cloned());
        }
        words.extend(names(&[
            FileKind::Exe,
            FileKind::Library,
            FileKind::Script,
            FileKind::Module,
            FileKind::LaterModule,
        ]));
        words.extend(names(&[
            Reason::Deleted,
            Reason::Replaced,
            Reason::Changed,
            Reason::MayHaveChanged,
        ]));
        words.extend(names(&[
            ServiceKind::Systemd,
            ServiceKind::Sysv,
            ServiceKind::Manager,
        ]));
        words.extend(names(&[
            SessionKind::Login,
            SessionKind::Tty,
            SessionKind::UserManager,
            SessionKind::UserService,
        ]));
        words.extend(names(&[
            KernelState::Unknown,
            KernelState::Current,
            KernelState::AbiUpgrade,
            KernelState::VersionUpgrade,
            KernelState::NotApplicable,
        ]));
        words.extend(names(&[Init::Systemd, Init::Other]));
        let missing: Vec<&String> = words
            .iter()
            .filter(|w| !doc.contains(&format!("`{w}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "not in docs/report-schema.md: {missing:?}"
        );
    }
}
