//! The audit's human fleet view: services by host range, sessions, reboots, failures.
//! Formatting only (pure): the grouping is done by [`crate::report::fleet`].

use crate::audit::HostResult;
use crate::inventory::range::fold;
use crate::report::fleet::{Cause, Fleet, Problem, ServiceRow};
use fleetrestart_scan::render;
use std::fmt::Write;

fn folded(hosts: &[String]) -> String {
    let v: Vec<&str> = hosts.iter().map(String::as_str).collect();
    fold(&v)
}

fn cause_text(causes: &[Cause]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in causes.iter().take(3) {
        parts.push(match &c.package {
            Some(p) => format!("{p} ({})", c.path),
            None => c.path.clone(),
        });
    }
    if causes.len() > 3 {
        parts.push(format!("and {} more", causes.len() - 3));
    }
    parts.join(", ")
}

/// `how`: the restart method for services to restart, the policy for the others.
fn service_table(o: &mut String, rows: &[ServiceRow], show_policy: bool) {
    let w = rows
        .iter()
        .map(|r| r.service.len())
        .max()
        .unwrap_or(0)
        .min(40);
    for r in rows {
        let _ = writeln!(
            o,
            "  {:<w$}  {:<16} {} host(s): {}\n  {:<w$}  caused by: {}",
            r.service,
            if show_policy || r.policy != "auto" {
                format!("{} ({})", r.method, r.policy)
            } else {
                r.method.clone()
            },
            r.hosts.len(),
            folded(&r.hosts),
            "",
            cause_text(&r.causes),
        );
    }
}

fn problems(o: &mut String, title: &str, list: &[Problem]) {
    if list.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n{title} ({}):", list.len());
    for p in list {
        let _ = writeln!(o, "  {}: {}", p.host, p.reason);
    }
}

/// The human view. A single scanned host shows its full report; a fleet shows the aggregation.
pub fn human(results: &[HostResult], fleet: &Fleet) -> String {
    let mut o = String::new();
    if results.len() == 1 {
        if let Ok(scan) = &results[0].outcome {
            return render::human(&scan.report);
        }
    }
    if !fleet.services.is_empty() {
        let _ = writeln!(
            o,
            "Services to restart ({} services, {} host×service):",
            fleet.services.len(),
            fleet.counts.service_restarts
        );
        service_table(&mut o, &fleet.services, false);
    }
    if !fleet.never_restart.is_empty() {
        let _ = writeln!(
            o,
            "\nStale but not restarted automatically (policy from the rules):"
        );
        service_table(&mut o, &fleet.never_restart, true);
    }
    if !fleet.hosts.is_empty() {
        let _ = writeln!(o, "\nBy host ({} need action):", fleet.hosts.len());
        for h in &fleet.hosts {
            let mut what: Vec<String> = h.services.clone();
            what.extend(h.never_restart.iter().map(|s| format!("{s} (not auto)")));
            if h.sessions > 0 {
                what.push(format!("{} session(s)", h.sessions));
            }
            if h.unattributed > 0 {
                what.push(format!("{} unattributed process group(s)", h.unattributed));
            }
            if h.reboot {
                what.push("reboot".into());
            }
            let _ = writeln!(o, "  {}: {}", h.host, what.join(", "));
        }
    }
    problems(
        &mut o,
        "Sessions to restart (log out and in)",
        &fleet.sessions,
    );
    problems(
        &mut o,
        "Containers with stale processes (never restarted from the host)",
        &fleet.containers,
    );
    problems(&mut o, "Reboot needed", &fleet.reboot);
    problems(&mut o, "Failed", &fleet.failed);
    problems(&mut o, "Unreachable", &fleet.unreachable);
    if !fleet.limitations.is_empty() {
        let _ = writeln!(o, "\nLimitations (what the scans do not see):");
        for l in &fleet.limitations {
            let _ = writeln!(
                o,
                "  {} ({} host(s): {})",
                l.text,
                l.hosts.len(),
                folded(&l.hosts)
            );
        }
    }
    let c = &fleet.counts;
    let _ = writeln!(
        o,
        "\n{} hosts: {} clean, {} need action ({} restart, {} reboot, {} sessions), {} failed, {} unreachable{}",
        c.hosts,
        c.clean,
        c.needing_action,
        c.restart_needed,
        c.reboot_needed,
        c.sessions,
        c.failed,
        c.unreachable,
        if c.partial > 0 { format!("; {} partial scans (not root?)", c.partial) } else { String::new() }
    );
    o
}
