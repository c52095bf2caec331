//! What runs on a host to restart its services, and how a restart is recognised afterwards.
//!
//! Pure: [`Action`]s in, shell scripts out (every name validated again here and shell-quoted, so
//! nothing from a host reaches a shell unchecked); `systemctl show` output in, [`UnitState`]s out.

use super::plan::Action;
use crate::shell::quote;
use fleetrestart_scan::names::{is_valid_service, is_valid_unit};
use fleetrestart_scan::report::ServiceKind;
use fleetrestart_scan::rules::Method;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One command of a host's restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The services it restarts.
    pub services: Vec<String>,
    pub script: String,
}

/// An init script run so that losing the controller cannot cut it half-way (stopped, never
/// started again: the next rescan would find nothing stale and call the host clean): hangup,
/// pipe and interrupt signals ignored, its output in a temporary file that is printed after
/// (a closed channel cannot make it fail on a write). systemctl needs none of this: the job
/// runs in systemd, whatever happens to the client. Found by the 1000-host SIGKILL test.
fn uncut(script: &str) -> String {
    format!(
        "o=$(mktemp 2>/dev/null) || o=\n\
         if [ -n \"$o\" ]; then (trap '' HUP PIPE INT; {script}) >\"$o\" 2>&1 </dev/null; s=$?; \
         cat \"$o\"; rm -f \"$o\"; exit $s; fi\n\
         (trap '' HUP PIPE INT; {script}) >/dev/null 2>&1 </dev/null"
    )
}

/// The commands that restart `actions`: plain systemd restarts together in one
/// `systemctl restart a b c`, the others one by one in plan order. A name that is not valid is
/// an error (the planner refused it already; this is the last line of defence).
pub fn steps(actions: &[&Action]) -> Result<Vec<Step>, String> {
    let mut out = Vec::new();
    let mut units = Vec::new();
    for a in actions {
        let ok = match a.kind {
            ServiceKind::Systemd => is_valid_unit(&a.service),
            ServiceKind::Sysv => is_valid_service(&a.service) && !a.service.contains('/'),
            ServiceKind::Manager => true,
        };
        if !ok {
            return Err(format!(
                "refusing to restart {:?}: not a valid unit or service name",
                a.service
            ));
        }
        let q = quote(&a.service);
        let script = match (a.kind, a.method) {
            (ServiceKind::Manager, _) | (_, Method::DaemonReexec) => "systemctl daemon-reexec".to_string(),
            (ServiceKind::Systemd, Method::StopKillStart) => format!(
                "systemctl stop -- {q}; systemctl kill --signal=SIGKILL -- {q} 2>/dev/null; systemctl start -- {q}"
            ),
            (ServiceKind::Systemd, _) => {
                units.push(a.service.clone());
                continue;
            }
            (ServiceKind::Sysv, Method::StopKillStart) => {
                uncut(&format!("/etc/init.d/{q} stop; /etc/init.d/{q} start"))
            }
            (ServiceKind::Sysv, _) => uncut(&format!("/etc/init.d/{q} restart")),
        };
        out.push(Step {
            services: vec![a.service.clone()],
            script,
        });
    }
    if !units.is_empty() {
        let args: Vec<String> = units.iter().map(|u| quote(u)).collect();
        out.insert(
            0,
            Step {
                script: format!("systemctl restart -- {}", args.join(" ")),
                services: units,
            },
        );
    }
    Ok(out)
}

/// A unit's state as `systemctl show` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UnitState {
    pub invocation: String,
    pub active: String,
    pub main_pid: u32,
    /// ActiveEnterTimestampMonotonic (µs since boot).
    pub active_since: u64,
}

pub const SHOW_PROPERTIES: &str =
    "Id,InvocationID,ActiveState,MainPID,ActiveEnterTimestampMonotonic";

/// The command that reads the state of `units` (validated).
pub fn show_script(units: &[&str]) -> Result<String, String> {
    if let Some(u) = units.iter().find(|u| !is_valid_unit(u)) {
        return Err(format!("refusing to query {u:?}: not a valid unit name"));
    }
    let args: Vec<String> = units.iter().map(|u| quote(u)).collect();
    Ok(format!(
        "systemctl show -p {SHOW_PROPERTIES} -- {}",
        args.join(" ")
    ))
}

/// Parses `systemctl show` output: blocks separated by blank lines, keyed by `Id`.
pub fn parse_show(text: &str) -> BTreeMap<String, UnitState> {
    let mut out = BTreeMap::new();
    for block in text.split("\n\n") {
        let mut id = None;
        let mut st = UnitState::default();
        for line in block.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            match k {
                "Id" => id = Some(v.to_string()),
                "InvocationID" => st.invocation = v.to_string(),
                "ActiveState" => st.active = v.to_string(),
                "MainPID" => st.main_pid = v.parse().unwrap_or(0),
                "ActiveEnterTimestampMonotonic" => st.active_since = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        if let Some(id) = id {
            out.insert(id, st);
        }
    }
    out
}

/// Whether a unit was restarted since `before`: a new invocation, or (on systemd without
/// InvocationID) a new main PID or a later activation.
pub fn restarted(before: &UnitState, now: &UnitState) -> bool {
    if !before.invocation.is_empty() || !now.invocation.is_empty() {
        return before.invocation != now.invocation && !now.invocation.is_empty();
    }
    now.main_pid != before.main_pid || now.active_since > before.active_since
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str, kind: ServiceKind, method: Method) -> Action {
        Action {
            service: s.into(),
            kind,
            method,
        }
    }

    #[test]
    fn one_systemctl_for_plain_restarts() {
        let acts = [
            a("cron.service", ServiceKind::Systemd, Method::Restart),
            a(
                "dovecot.service",
                ServiceKind::Systemd,
                Method::StopKillStart,
            ),
            a("ssh.service", ServiceKind::Systemd, Method::Restart),
            a("exim4", ServiceKind::Sysv, Method::Restart),
        ];
        let refs: Vec<&Action> = acts.iter().collect();
        let s = steps(&refs).unwrap();
        assert_eq!(s[0].script, "systemctl restart -- cron.service ssh.service");
        assert_eq!(s[0].services, ["cron.service", "ssh.service"]);
        assert!(s[1]
            .script
            .starts_with("systemctl stop -- dovecot.service; systemctl kill"));
        assert!(
            s[2].script
                .contains("(trap '' HUP PIPE INT; /etc/init.d/exim4 restart)"),
            "{}",
            s[2].script
        );
        let bad = a("x;reboot.service", ServiceKind::Systemd, Method::Restart);
        assert!(steps(&[&bad]).is_err());
        let bad = a("../../bin/sh", ServiceKind::Sysv, Method::Restart);
        assert!(steps(&[&bad]).is_err());
        let m = a(
            "systemd-manager",
            ServiceKind::Manager,
            Method::DaemonReexec,
        );
        assert_eq!(steps(&[&m]).unwrap()[0].script, "systemctl daemon-reexec");
    }

    #[test]
    fn show_output() {
        let text = "Id=cron.service\nInvocationID=abc\nActiveState=active\nMainPID=12\nActiveEnterTimestampMonotonic=99\n\nId=ssh.service\nInvocationID=\nActiveState=inactive\nMainPID=0\nActiveEnterTimestampMonotonic=0\n";
        let m = parse_show(text);
        assert_eq!(m["cron.service"].invocation, "abc");
        assert_eq!(m["cron.service"].main_pid, 12);
        assert_eq!(m["ssh.service"].active, "inactive");
        let mut after = m["cron.service"].clone();
        assert!(!restarted(&m["cron.service"], &after));
        after.invocation = "def".into();
        assert!(restarted(&m["cron.service"], &after));
        let old = UnitState {
            main_pid: 5,
            active_since: 10,
            ..Default::default()
        };
        let new = UnitState {
            main_pid: 5,
            active_since: 11,
            ..Default::default()
        };
        assert!(restarted(&old, &new));
        assert!(!restarted(&old, &old));
        assert!(show_script(&["a b.service"]).is_err());
    }
}
