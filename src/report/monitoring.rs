//! Fleet monitoring outputs of `audit --format`: one Nagios/Icinga check for the whole fleet,
//! OpenMetrics series per host (a textfile collector or a pushgateway), and Katello-style traces
//! (`application`, `type`, `helper` per host). Pure: results and the fleet view in, text out.

use crate::audit::delivery::HostError;
use crate::audit::HostResult;
use fleetrestart_scan::render::{openmetrics_label as label, NagiosState};
use fleetrestart_scan::report::ServiceKind;
use fleetrestart_scan::rules::Policy;
use serde_json::json;
use std::fmt::Write;

use crate::report::fleet::Fleet;

/// One check for the fleet: CRITICAL when a host needs a reboot or could not be scanned
/// (failed or unreachable: the check cannot vouch for it), WARNING when services or sessions
/// use stale files, UNKNOWN when no host was scanned or a scan was partial (not root), else OK;
/// with performance data. The state is the exit code.
pub fn nagios(fleet: &Fleet) -> (NagiosState, String) {
    let c = &fleet.counts;
    let state = if c.scanned == 0 {
        NagiosState::Unknown
    } else if c.reboot_needed > 0 || c.failed + c.unreachable > 0 {
        NagiosState::Critical
    } else if c.partial > 0 {
        NagiosState::Unknown
    } else if c.restart_needed > 0 || c.sessions > 0 {
        NagiosState::Warning
    } else {
        NagiosState::Ok
    };
    let mut line = format!(
        "FLEETRESTART {} - {} host(s): {} to restart ({} service restarts), {} to reboot, {} with stale sessions, {} failed, {} unreachable",
        state.label(),
        c.hosts,
        c.restart_needed,
        c.service_restarts,
        c.reboot_needed,
        c.sessions,
        c.failed,
        c.unreachable
    );
    let _ = write!(
        line,
        " | hosts={} scanned={} restart_needed={} reboot_needed={} sessions={} failed={} unreachable={} service_restarts={} partial={}",
        c.hosts,
        c.scanned,
        c.restart_needed,
        c.reboot_needed,
        c.sessions,
        c.failed,
        c.unreachable,
        c.service_restarts,
        c.partial
    );
    let mut long = String::new();
    for p in fleet.failed.iter().chain(&fleet.unreachable) {
        let _ = writeln!(long, "{}: {}", p.host, p.reason);
    }
    for p in &fleet.reboot {
        let _ = writeln!(long, "{}: reboot: {}", p.host, p.reason);
    }
    // what to restart where, hosts folded into ranges (newcomer E6)
    for s in &fleet.services {
        let hosts: Vec<&str> = s.hosts.iter().map(String::as_str).collect();
        let _ = writeln!(
            long,
            "restart {} on {} host(s): {}",
            s.service,
            hosts.len(),
            crate::inventory::range::fold(&hosts)
        );
    }
    (state, format!("{line}\n{long}"))
}

/// The fleet's counts, one gauge each.
fn fleet_counts(o: &mut String, fleet: &Fleet) {
    let c = &fleet.counts;
    for (name, v, help) in [
        ("hosts", c.hosts, "Hosts audited."),
        ("scanned", c.scanned, "Hosts whose scan gave a report."),
        (
            "restart_needed",
            c.restart_needed,
            "Hosts with services to restart.",
        ),
        (
            "reboot_needed",
            c.reboot_needed,
            "Hosts that need a reboot.",
        ),
        ("failed", c.failed, "Hosts reached whose scan failed."),
        (
            "unreachable",
            c.unreachable,
            "Hosts that could not be reached.",
        ),
    ] {
        let _ = writeln!(
            o,
            "# HELP fleetrestart_fleet_{name} {help}\n# TYPE fleetrestart_fleet_{name} gauge\nfleetrestart_fleet_{name} {v}"
        );
    }
}

/// OpenMetrics: per-host series labelled with the host (and service), then the fleet's counts.
pub fn openmetrics(results: &[HostResult], fleet: &Fleet) -> String {
    let mut o = String::new();
    let mut family = |name: &str, help: &str, rows: Vec<(String, u64)>| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, v) in rows {
            let _ = writeln!(o, "{name}{{{labels}}} {v}");
        }
    };
    let host = |h: &str| format!("host=\"{}\"", label(h));
    family(
        "fleetrestart_host_scanned",
        "1 when the host was scanned, 0 when it failed or was unreachable.",
        results
            .iter()
            .map(|r| (host(&r.host), u64::from(r.outcome.is_ok())))
            .collect(),
    );
    family(
        "fleetrestart_host_unreachable",
        "1 when the host could not be reached.",
        results
            .iter()
            .map(|r| {
                let u = matches!(r.outcome, Err(HostError::Unreachable(_)));
                (host(&r.host), u64::from(u))
            })
            .collect(),
    );
    let ok: Vec<(&str, &fleetrestart_scan::report::Report)> = results
        .iter()
        .filter_map(|r| {
            r.outcome
                .as_ref()
                .ok()
                .map(|s| (r.host.as_str(), &s.report))
        })
        .collect();
    family(
        "fleetrestart_host_services_stale",
        "Services using stale files (to restart, any policy).",
        ok.iter()
            .map(|(h, r)| (host(h), r.services.len() as u64))
            .collect(),
    );
    family(
        "fleetrestart_host_never_restart_stale",
        "Services using stale files that are never restarted (reboot or operator).",
        ok.iter()
            .map(|(h, r)| (host(h), r.never_restart.len() as u64))
            .collect(),
    );
    family(
        "fleetrestart_host_sessions_stale",
        "Login sessions using stale files.",
        ok.iter()
            .map(|(h, r)| (host(h), r.sessions.len() as u64))
            .collect(),
    );
    family(
        "fleetrestart_host_reboot_needed",
        "1 when the host needs a reboot.",
        ok.iter()
            .map(|(h, r)| (host(h), u64::from(r.reboot.needed)))
            .collect(),
    );
    family(
        "fleetrestart_service_stale",
        "1 per service using stale files on a host.",
        ok.iter()
            .flat_map(|(h, r)| {
                r.services
                    .iter()
                    .chain(&r.never_restart)
                    .map(move |s| (format!("{},service=\"{}\"", host(h), label(&s.name)), 1u64))
            })
            .collect(),
    );
    fleet_counts(&mut o, fleet);
    o.push_str("# EOF\n");
    o
}

/// Katello-style traces per host, in the shape katello-host-tools uploads
/// (`{"traces": {APPLICATION: {"helper", "type"}}}`): type `daemon` (a service, its restart
/// command as the helper), `static` (only a reboot helps: helper `reboot`) or `session` (a login
/// session: no helper). `{"hosts": {HOST: {"traces": ...}}, "failed": {HOST: reason}}`.
pub fn traces(results: &[HostResult]) -> serde_json::Value {
    let mut hosts = serde_json::Map::new();
    let mut failed = serde_json::Map::new();
    for r in results {
        let rep = match &r.outcome {
            Ok(s) => &s.report,
            Err(e) => {
                failed.insert(r.host.clone(), json!(e.to_string()));
                continue;
            }
        };
        let mut t = serde_json::Map::new();
        let add = |t: &mut serde_json::Map<String, serde_json::Value>,
                   app: &str,
                   kind: &str,
                   helper: String| {
            t.insert(app.to_string(), json!({"helper": helper, "type": kind}));
        };
        for s in &rep.services {
            let helper = match s.kind {
                ServiceKind::Systemd => format!("systemctl restart {}", s.name),
                ServiceKind::Sysv => format!("/etc/init.d/{} restart", s.name),
                ServiceKind::Manager => "systemctl daemon-reexec".into(),
            };
            add(&mut t, &s.name, "daemon", helper);
        }
        for s in &rep.never_restart {
            match s.policy {
                Policy::Reboot => add(&mut t, &s.name, "static", "reboot".into()),
                // never restarted automatically: listed, with no helper to run
                _ => add(&mut t, &s.name, "daemon", String::new()),
            }
        }
        for s in &rep.sessions {
            add(&mut t, &s.id, "session", String::new());
        }
        if rep.reboot.needed && !t.values().any(|x| x["type"] == "static") {
            add(&mut t, "kernel", "static", "reboot".into());
        }
        hosts.insert(r.host.clone(), json!({"traces": t}));
    }
    json!({"hosts": hosts, "failed": failed})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::delivery::{Delivery, HostScan};
    use crate::report::fleet;
    use fleetrestart_scan::report::Report;
    use std::time::Duration;

    fn report(services: serde_json::Value, reboot: bool) -> Report {
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/report-clean.json")).unwrap();
        v["services"] = services;
        v["reboot"]["needed"] = json!(reboot);
        serde_json::from_value(v).unwrap()
    }

    fn svc(name: &str) -> serde_json::Value {
        json!({"name": name, "kind": "systemd", "method": "restart", "policy": "auto", "rule": null, "process_count": 1,
          "processes": [{"pid": 10, "ppid": 1, "uid": 0, "user": "root", "comm": "x", "exe": "/usr/bin/x", "cmdline": "x", "started_at": 0, "cgroup": null,
             "files": [{"path": "/usr/lib/libx.so.1", "kind": "library", "reason": "deleted", "package": "libx1"}], "files_omitted": 0}]})
    }

    fn ok(host: &str, services: serde_json::Value, reboot: bool) -> HostResult {
        HostResult {
            host: host.into(),
            outcome: Ok(HostScan {
                report: report(services, reboot),
                delivery: Delivery::Reused,
            }),
            elapsed: Duration::ZERO,
        }
    }

    fn down(host: &str) -> HostResult {
        HostResult {
            host: host.into(),
            outcome: Err(HostError::Unreachable("no route".into())),
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn nagios_states_by_what_the_fleet_needs() {
        let state = |r: Vec<HostResult>| nagios(&fleet::fleet(&r)).0;
        assert_eq!(state(vec![ok("a", json!([]), false)]), NagiosState::Ok);
        assert_eq!(
            state(vec![
                ok("a", json!([]), false),
                ok("b", json!([svc("cron.service")]), false)
            ]),
            NagiosState::Warning
        );
        assert_eq!(
            state(vec![ok("a", json!([svc("cron.service")]), true)]),
            NagiosState::Critical
        );
        assert_eq!(
            state(vec![ok("a", json!([]), false), down("b")]),
            NagiosState::Critical,
            "a host the check cannot vouch for"
        );
        assert_eq!(state(vec![down("b")]), NagiosState::Unknown);
        let (_, text) = nagios(&fleet::fleet(&[
            ok("a", json!([svc("cron.service")]), false),
            down("b"),
        ]));
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with("FLEETRESTART CRITICAL - 2 host(s): 1 to restart"),
            "{first}"
        );
        assert!(
            first.contains("| hosts=2 scanned=1 restart_needed=1"),
            "{first}"
        );
        assert!(text.contains("b: "), "{text}");
        // the long output says what to restart where, hosts folded (newcomer E6)
        let (_, text) = nagios(&fleet::fleet(&[
            ok("web1", json!([svc("cron.service")]), false),
            ok("web2", json!([svc("cron.service")]), false),
            ok("web3", json!([svc("cron.service")]), false),
        ]));
        assert!(
            text.contains("restart cron.service on 3 host(s): web[1-3]\n"),
            "{text}"
        );
    }

    #[test]
    fn openmetrics_series_per_host_with_escaped_labels() {
        let results = vec![
            ok(
                "web1",
                json!([svc("cron.service"), svc("x\"y.service")]),
                false,
            ),
            down("db1"),
        ];
        let text = openmetrics(&results, &fleet::fleet(&results));
        assert!(
            text.contains("fleetrestart_host_scanned{host=\"web1\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("fleetrestart_host_scanned{host=\"db1\"} 0\n"));
        assert!(text.contains("fleetrestart_host_unreachable{host=\"db1\"} 1\n"));
        assert!(text.contains("fleetrestart_host_services_stale{host=\"web1\"} 2\n"));
        assert!(text
            .contains("fleetrestart_service_stale{host=\"web1\",service=\"x\\\"y.service\"} 1\n"));
        assert!(text.contains("fleetrestart_fleet_unreachable 1\n"));
        assert!(text.ends_with("# EOF\n"));
        // every sample line is NAME{LABELS} VALUE or NAME VALUE
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(l.rsplit(" ").next().unwrap().parse::<u64>().is_ok(), "{l}");
        }
    }

    #[test]
    fn traces_as_katello_lists_them() {
        let t = traces(&[ok("web1", json!([svc("cron.service")]), true), down("db1")]);
        let web = &t["hosts"]["web1"]["traces"];
        assert_eq!(
            web["cron.service"],
            json!({"helper": "systemctl restart cron.service", "type": "daemon"})
        );
        assert_eq!(
            web["kernel"],
            json!({"helper": "reboot", "type": "static"}),
            "{t}"
        );
        assert!(t["failed"]["db1"].as_str().unwrap().contains("no route"));
    }
}
