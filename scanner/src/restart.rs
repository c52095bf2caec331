//! What may be restarted on a host, and with which commands: decided here once, for the
//! campaign planner (`fleetrestart restart`) and the Ansible restart module alike, so that the
//! two faces restart the same services the same way for the same report.
//!
//! Pure: a service of a report and what the operator asked in, the method to run or the
//! reason it is left out; a planned restart in, its commands as argument vectors out (the
//! campaign quotes them into its shell steps, the module runs them without a shell).

use crate::names::{is_valid_service, is_valid_unit};
use crate::report::{Service, ServiceKind};
use crate::rules::{Method, Policy};

/// Whether a service's name is one its kind may carry: a unit name for systemd, an init
/// script's name (no `/`) for sysv. Checked before a name reaches any command.
pub fn accepts(kind: ServiceKind, name: &str) -> bool {
    match kind {
        ServiceKind::Systemd => is_valid_unit(name),
        ServiceKind::Sysv => is_valid_service(name) && !name.contains('/'),
        ServiceKind::Manager => true,
    }
}

/// Whether the operator's selection takes a service in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selected {
    Yes,
    /// Excluded by name or pattern.
    Excluded,
    /// A list of services was given, and this one is not in it.
    NotListed,
}

/// What the operator asked about one service.
#[derive(Debug, Clone, Copy)]
pub struct Ask {
    pub selected: Selected,
    /// Named exactly (not through a pattern): what a manual service and PID 1 need.
    pub named: bool,
    /// Re-executing the system manager (PID 1) was asked for as such.
    pub daemon_reexec: bool,
    /// The method the campaign file sets for the service, instead of the report's.
    pub method: Option<Method>,
}

/// Why a service of the report is not restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    InvalidName,
    Excluded,
    NotListed,
    /// PID 1, neither named nor `daemon_reexec`.
    SystemManager,
    /// Policy manual, not named.
    Manual,
    /// A policy that never restarts (never, reboot, session, ignore).
    Policy(Policy),
    /// A method nothing runs (none, a user manager's re-exec).
    NoMethod(Method),
}

/// How a face calls the operator's options, for the reasons it prints.
pub struct Words {
    pub services: &'static str,
    pub daemon_reexec: &'static str,
}

impl Skip {
    pub fn reason(self, w: &Words) -> String {
        match self {
            Skip::InvalidName => "refused: not a valid unit or service name".into(),
            Skip::Excluded => "excluded".into(),
            Skip::NotListed => format!("not in {}", w.services),
            Skip::SystemManager => format!(
                "PID 1: re-executed (systemctl daemon-reexec) only with {} or when named in {}",
                w.daemon_reexec, w.services
            ),
            Skip::Manual => format!("policy manual: restarted only when named in {}", w.services),
            Skip::Policy(p) => format!("policy {}: never restarted", p.as_str()),
            Skip::NoMethod(m) => format!("method {}: nothing can run it", m.as_str()),
        }
    }
}

/// The method to restart `s` with, or why it is left. PID 1 is always re-executed, and only
/// when asked by name or as such; a manual service only when named; nothing whose name is not
/// valid for its kind.
pub fn eligible(s: &Service, ask: &Ask) -> Result<Method, Skip> {
    if !accepts(s.kind, &s.name) {
        return Err(Skip::InvalidName);
    }
    match ask.selected {
        Selected::Yes => {}
        Selected::Excluded => return Err(Skip::Excluded),
        Selected::NotListed => return Err(Skip::NotListed),
    }
    let method = ask.method.unwrap_or(s.method);
    if s.kind == ServiceKind::Manager || method == Method::DaemonReexec {
        return if ask.daemon_reexec || ask.named {
            Ok(Method::DaemonReexec)
        } else {
            Err(Skip::SystemManager)
        };
    }
    match s.policy {
        Policy::Auto => {}
        Policy::Manual if ask.named => {}
        Policy::Manual => return Err(Skip::Manual),
        p => return Err(Skip::Policy(p)),
    }
    match method {
        Method::None | Method::UserReexec => Err(Skip::NoMethod(method)),
        m => Ok(m),
    }
}

/// The commands that restart one service, as argument vectors (`systemctl` is the program's
/// path or name). Only the last one's status counts: the kill of stop-kill-start finds nothing
/// left to kill when the stop worked.
pub fn argv(kind: ServiceKind, method: Method, name: &str, systemctl: &str) -> Vec<Vec<String>> {
    let v = |args: &[&str]| args.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match (kind, method) {
        (ServiceKind::Manager, _) | (_, Method::DaemonReexec) => {
            vec![v(&[systemctl, "daemon-reexec"])]
        }
        (ServiceKind::Systemd, Method::StopKillStart) => vec![
            v(&[systemctl, "stop", "--", name]),
            v(&[systemctl, "kill", "--signal=SIGKILL", "--", name]),
            v(&[systemctl, "start", "--", name]),
        ],
        (ServiceKind::Systemd, _) => vec![v(&[systemctl, "restart", "--", name])],
        (ServiceKind::Sysv, Method::StopKillStart) => {
            let script = format!("/etc/init.d/{name}");
            vec![v(&[&script, "stop"]), v(&[&script, "start"])]
        }
        (ServiceKind::Sysv, _) => vec![v(&[&format!("/etc/init.d/{name}"), "restart"])],
    }
}
