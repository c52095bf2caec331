//! What runs on a host to restart its services, and how a restart is recognised afterwards.
//!
//! Pure: [`Action`]s in, shell scripts out (every name validated again here and shell-quoted, so
//! nothing from a host reaches a shell unchecked); `systemctl show` output in, [`UnitState`]s out.

use super::plan::Action;
use crate::shell::quote;
use fleetrestart_scan::names::is_valid_unit;
use fleetrestart_scan::report::ServiceKind;
use fleetrestart_scan::restart;
use fleetrestart_scan::rules::Method;
pub use fleetrestart_scan::units::{
    cause, is_down, is_journald, is_up, judge, parse_show, restarted, UnitState, Verdict,
    SHOW_PROPERTIES,
};

/// One command of a host's restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The services it restarts.
    pub services: Vec<String>,
    pub script: String,
}

/// An init script run so that losing the controller cannot cut it half-way (stopped, never
/// started again: the next rescan would find nothing stale and call the host clean): in a
/// session of its own (`setsid -w` where util-linux has it), its output in a temporary file that
/// is printed after (a closed channel cannot make it fail on a write: no SIGPIPE), standard
/// input from /dev/null. No signal is ignored for it: what is ignored survives `exec`, and the
/// daemon it starts would inherit it (a HUP-reloaded daemon that follows the nohup idiom would
/// never reload again). systemctl needs none of this: the job runs in systemd,
/// whatever happens to the client. Found by the 1000-host SIGKILL test.
fn uncut(script: &str) -> String {
    let q = quote(script);
    format!(
        "o=$(mktemp 2>/dev/null) || o=\n\
         if setsid -w true >/dev/null 2>&1 </dev/null; then r='setsid -w'; else r=; fi\n\
         if [ -n \"$o\" ]; then $r sh -c {q} >\"$o\" 2>&1 </dev/null; s=$?; \
         cat \"$o\"; rm -f \"$o\"; exit $s; fi\n\
         $r sh -c {q} >/dev/null 2>&1 </dev/null"
    )
}

/// The commands that restart `actions`: journald units first, each alone; then the other plain
/// systemd restarts together in one `systemctl restart a b c`; the others one by one in plan
/// order. A name that is not valid is an error (the planner refused it already; this is the
/// last line of defence).
pub fn steps(actions: &[&Action]) -> Result<Vec<Step>, String> {
    let mut out = Vec::new();
    let mut units = Vec::new();
    let mut journald = Vec::new();
    for a in actions {
        if !restart::accepts(a.kind, &a.service) {
            return Err(format!(
                "refusing to restart {:?}: not a valid unit or service name",
                a.service
            ));
        }
        let plain = a.kind == ServiceKind::Systemd
            && !matches!(a.method, Method::StopKillStart | Method::DaemonReexec);
        if plain && !is_journald(&a.service) {
            units.push(a.service.clone());
            continue;
        }
        // the commands of the restart policy, each quoted; only the last one's status counts
        let script = restart::argv(a.kind, a.method, &a.service, "systemctl")
            .iter()
            .map(|c| c.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("; ");
        if plain {
            journald.push(Step {
                services: vec![a.service.clone()],
                script,
            });
            continue;
        }
        let script = if a.kind == ServiceKind::Sysv {
            uncut(&script)
        } else {
            script
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
    journald.extend(out);
    Ok(journald)
}

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

/// Whether a sysv service runs, as [`sysv_status_script`] tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SysvState {
    Running,
    /// Not running, in the script's or the process table's words.
    Stopped(String),
    /// Cannot tell (no `status` action and no executable to look for, or an answer outside
    /// LSB's codes).
    Unknown(String),
}

/// The command that tells whether sysv service `action` runs: its init script's `status` when
/// the script has one (LSB exit codes: 0 running; 1, 2, 3 not running; 4 unknown), else
/// whether a process runs one of the executables the audit saw it run. Never runs anything but
/// the init script the restart itself runs.
pub fn sysv_status_script(action: &Action) -> Result<String, String> {
    if !restart::accepts(ServiceKind::Sysv, &action.service) {
        return Err(format!(
            "refusing to query {:?}: not a valid service name",
            action.service
        ));
    }
    let q = quote(&action.service);
    let exes: Vec<String> = action.exes.iter().map(|e| quote(e)).collect();
    Ok(format!(
        "s=/etc/init.d/{q}\n\
         if [ -f \"$s\" ] && grep -q status \"$s\" 2>/dev/null; then \
         \"$s\" status >/dev/null 2>&1 </dev/null; echo \"status $?\"; exit 0; fi\n\
         set -- {}\n\
         [ $# -eq 0 ] && {{ echo unknown; exit 0; }}\n\
         for p in /proc/[0-9]*; do e=$(readlink \"$p/exe\" 2>/dev/null) || continue; \
         for x in \"$@\"; do [ \"$e\" = \"$x\" ] && {{ echo \"process ${{p#/proc/}}\"; exit 0; }}; done; done\n\
         echo no-process",
        exes.join(" ")
    ))
}

/// The command that starts sysv service `action` once (uncut, as its restart).
pub fn sysv_start_script(action: &Action) -> Result<String, String> {
    if !restart::accepts(ServiceKind::Sysv, &action.service) {
        return Err(format!(
            "refusing to start {:?}: not a valid service name",
            action.service
        ));
    }
    Ok(uncut(&format!(
        "/etc/init.d/{} start",
        quote(&action.service)
    )))
}

/// Parses [`sysv_status_script`]'s answer.
pub fn parse_sysv_status(out: &str) -> SysvState {
    let line = out.lines().next().unwrap_or("").trim();
    match line.split_once(' ') {
        Some(("status", "0")) => SysvState::Running,
        Some(("status", c @ ("1" | "2" | "3"))) => {
            SysvState::Stopped(format!("its init script's status exits {c} (not running)"))
        }
        Some(("status", c)) => SysvState::Unknown(format!("its init script's status exits {c}")),
        Some(("process", _)) => SysvState::Running,
        _ if line == "no-process" => {
            SysvState::Stopped("no process runs its daemon's executable".into())
        }
        _ => SysvState::Unknown(
            "its init script has no status action and the audit saw no executable".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn a(s: &str, kind: ServiceKind, method: Method) -> Action {
        Action {
            service: s.into(),
            kind,
            method,
            exes: vec![],
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
                .contains("$r sh -c '/etc/init.d/exim4 restart' >"),
            "{}",
            s[2].script
        );
        assert!(!s[2].script.contains("trap"), "{}", s[2].script);
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

    fn st(active: &str, inv: &str, pid: u32) -> UnitState {
        UnitState {
            invocation: inv.into(),
            active: active.into(),
            main_pid: pid,
            ..Default::default()
        }
    }

    fn looks(v: &[(&str, UnitState)]) -> BTreeMap<String, UnitState> {
        v.iter().map(|(u, s)| (u.to_string(), s.clone())).collect()
    }

    #[test]
    fn journald_is_restarted_alone_and_first() {
        let acts = [
            a("cron.service", ServiceKind::Systemd, Method::Restart),
            a(
                "systemd-journald.service",
                ServiceKind::Systemd,
                Method::Restart,
            ),
            a("ssh.service", ServiceKind::Systemd, Method::Restart),
            a(
                "systemd-journald@audit.service",
                ServiceKind::Systemd,
                Method::Restart,
            ),
        ];
        let refs: Vec<&Action> = acts.iter().collect();
        let s = steps(&refs).unwrap();
        let scripts: Vec<&str> = s.iter().map(|s| s.script.as_str()).collect();
        assert_eq!(
            scripts,
            [
                "systemctl restart -- systemd-journald.service",
                "systemctl restart -- systemd-journald@audit.service",
                "systemctl restart -- cron.service ssh.service",
            ]
        );
        assert!(is_journald("systemd-journald@x.service"));
        assert!(!is_journald("systemd-journald-audit.socket"));
        assert!(!is_journald("my-systemd-journald.service"));
    }

    #[test]
    fn a_unit_killed_right_after_its_restart_is_started_once_with_its_cause() {
        let before = looks(&[("cron.service", st("active", "old", 10))]);
        let units = ["cron.service"];
        let none = std::collections::BTreeSet::new();
        // the CI signature: inactive, Result=success, killed by SIGPIPE (13)
        let mut dead = st("inactive", "new", 0);
        dead.result = "success".into();
        dead.exec_main_code = 2;
        dead.exec_main_status = 13;
        let v = judge(
            &before,
            &units,
            None,
            &looks(&[("cron.service", dead.clone())]),
            &none,
        );
        let Verdict::Start(list) = v else {
            panic!("{v:?}")
        };
        assert_eq!(list[0].0, "cron.service");
        assert_eq!(
            list[0].1,
            "inactive after the restart, main process killed by SIGPIPE (Result=success)"
        );
        // started once: down again fails the host, naming both
        let started: std::collections::BTreeSet<String> = ["cron.service".to_string()].into();
        let v = judge(
            &before,
            &units,
            None,
            &looks(&[("cron.service", dead)]),
            &started,
        );
        assert!(
            matches!(&v, Verdict::Fail(m) if m.contains("SIGPIPE") && m.contains("still down")),
            "{v:?}"
        );
    }

    #[test]
    fn a_unit_is_done_only_when_the_same_invocation_is_active_at_two_looks() {
        let before = looks(&[("ssh.service", st("active", "old", 10))]);
        let units = ["ssh.service"];
        let none = std::collections::BTreeSet::new();
        let one = looks(&[("ssh.service", st("active", "new", 20))]);
        assert_eq!(judge(&before, &units, None, &one, &none), Verdict::Again);
        assert_eq!(
            judge(&before, &units, Some(&one), &one, &none),
            Verdict::Stable
        );
        // it died and systemd restarted it between the looks: not stable
        let other = looks(&[("ssh.service", st("active", "newer", 30))]);
        assert_eq!(
            judge(&before, &units, Some(&one), &other, &none),
            Verdict::Again
        );
        // activating (auto-restart) is on its way, not done
        let act = looks(&[("ssh.service", st("activating", "newer", 0))]);
        assert_eq!(
            judge(&before, &units, Some(&one), &act, &none),
            Verdict::Again
        );
        // active and steady but never restarted: the restart did not happen
        let same = looks(&[("ssh.service", st("active", "old", 10))]);
        assert!(matches!(
            judge(&before, &units, Some(&same), &same, &none),
            Verdict::Fail(m) if m.contains("not restarted")
        ));
        assert!(matches!(
            judge(&before, &units, None, &BTreeMap::new(), &none),
            Verdict::Fail(m) if m.contains("not reported")
        ));
    }

    #[test]
    fn causes_in_words() {
        let mut s = st("failed", "x", 0);
        s.exec_main_code = 1;
        s.exec_main_status = 203;
        s.result = "exit-code".into();
        assert_eq!(
            cause(&s),
            "main process exited with status 203 (Result=exit-code)"
        );
        s.exec_main_code = 3;
        s.exec_main_status = 11;
        s.result = "core-dump".into();
        assert_eq!(
            cause(&s),
            "main process dumped core (SIGSEGV) (Result=core-dump)"
        );
        s.exec_main_code = 2;
        s.exec_main_status = 40;
        s.result = String::new();
        assert_eq!(cause(&s), "main process killed by signal 40");
        let show = "Id=cron.service\nInvocationID=b\nActiveState=inactive\nSubState=dead\nResult=success\nMainPID=0\nExecMainCode=2\nExecMainStatus=13\n";
        let m = parse_show(show);
        assert_eq!(
            cause(&m["cron.service"]),
            "main process killed by SIGPIPE (Result=success)"
        );
        assert_eq!(m["cron.service"].sub, "dead");
    }

    #[test]
    fn sysv_state_from_status_or_process() {
        assert_eq!(parse_sysv_status("status 0\n"), SysvState::Running);
        assert!(matches!(
            parse_sysv_status("status 3\n"),
            SysvState::Stopped(_)
        ));
        assert!(matches!(
            parse_sysv_status("status 4\n"),
            SysvState::Unknown(_)
        ));
        assert_eq!(parse_sysv_status("process 123\n"), SysvState::Running);
        assert!(matches!(
            parse_sysv_status("no-process\n"),
            SysvState::Stopped(_)
        ));
        assert!(matches!(
            parse_sysv_status("unknown\n"),
            SysvState::Unknown(_)
        ));
        assert!(matches!(parse_sysv_status(""), SysvState::Unknown(_)));
        let mut x = a("exim4", ServiceKind::Sysv, Method::Restart);
        x.exes = vec!["/usr/sbin/exim4".into(), "/usr/sbin/it's".into()];
        let script = sysv_status_script(&x).unwrap();
        assert!(script.contains("s=/etc/init.d/exim4\n"), "{script}");
        assert!(
            script.contains("set -- /usr/sbin/exim4 '/usr/sbin/it'\\''s'"),
            "{script}"
        );
        assert!(sysv_status_script(&a("a;b", ServiceKind::Sysv, Method::Restart)).is_err());
        assert!(sysv_start_script(&a("../x", ServiceKind::Sysv, Method::Restart)).is_err());
    }

    #[test]
    fn a_unit_that_was_not_up_before_is_never_started_again() {
        // a oneshot that was running (activating) when restarted ends inactive: not a failure,
        // and starting it again would run it twice
        let before = looks(&[("fr-job.service", st("activating", "old", 10))]);
        let none = std::collections::BTreeSet::new();
        let done = looks(&[("fr-job.service", st("inactive", "new", 0))]);
        assert_eq!(
            judge(&before, &["fr-job.service"], None, &done, &none),
            Verdict::Stable
        );
    }
}
