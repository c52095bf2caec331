//! The human table of one host's report.

use super::causes;
use crate::report::{KernelState, Process, Report, SessionKind};
use std::fmt::Write;

fn pids(procs: &[crate::report::Process], total: u32) -> String {
    let mut s: Vec<String> = procs.iter().take(8).map(|p| p.pid.to_string()).collect();
    if total as usize > s.len() {
        s.push(format!("+{}", total as usize - s.len()));
    }
    s.join(",")
}

pub fn kernel_line(r: &Report) -> String {
    let k = &r.kernel;
    match k.status {
        KernelState::Current => format!("{} (current)", k.running),
        KernelState::AbiUpgrade => {
            format!("{} (ABI-compatible upgrade installed: reboot)", k.running)
        }
        KernelState::VersionUpgrade => format!(
            "{} → {} installed (reboot)",
            k.running,
            k.expected.as_deref().unwrap_or("?")
        ),
        KernelState::Unknown => format!("{} (no installed kernel image found)", k.running),
        KernelState::NotApplicable => {
            format!("{} (not applicable: host is a container)", k.running)
        }
    }
}

/// The services table (restartable and never-restarted), when there is any.
fn service_table(o: &mut String, r: &Report) {
    if r.services.is_empty() && r.never_restart.is_empty() {
        return;
    }
    {
        let rows: Vec<[String; 5]> = r
            .services
            .iter()
            .chain(r.never_restart.iter())
            .map(|s| {
                [
                    s.name.clone(),
                    s.policy.as_str().to_string(),
                    s.method.as_str().to_string(),
                    pids(&s.processes, s.process_count),
                    causes(&s.processes).join(", "),
                ]
            })
            .collect();
        let head = [
            "SERVICE",
            "POLICY",
            "METHOD",
            "PIDS",
            "STALE FILES (PACKAGE)",
        ];
        let w: Vec<usize> = (0..4)
            .map(|i| {
                rows.iter()
                    .map(|r| r[i].chars().count())
                    .chain([head[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let _ = writeln!(
            o,
            "\n{:w0$}  {:w1$}  {:w2$}  {:w3$}  {}",
            head[0],
            head[1],
            head[2],
            head[3],
            head[4],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3]
        );
        for row in &rows {
            let _ = writeln!(
                o,
                "{:w0$}  {:w1$}  {:w2$}  {:w3$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3]
            );
        }
    }
}

/// One group of processes on one line: `  LABEL: pids …: stale files`.
fn group_line(o: &mut String, label: &str, processes: &[Process], count: u32) {
    let _ = writeln!(
        o,
        "  {label}: pids {}: {}",
        pids(processes, count),
        causes(processes).join(", ")
    );
}

pub fn human(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{}: scanned {} processes in {} ms ({} {}){}",
        r.host.hostname,
        r.processes_scanned,
        r.duration_ms,
        r.scanner.name,
        r.scanner.version,
        if r.partial { " — PARTIAL" } else { "" }
    );
    let _ = writeln!(o, "kernel: {}", kernel_line(r));
    service_table(&mut o, r);
    if !r.sessions.is_empty() {
        let _ = writeln!(o, "\nsessions (never restarted; users log out and in):");
        for s in &r.sessions {
            let what = match s.kind {
                SessionKind::Login => format!("session #{}", s.id),
                SessionKind::Tty => s.id.clone(),
                SessionKind::UserManager => "user manager".into(),
                SessionKind::UserService => format!("user service {}", s.id),
            };
            let label = format!("{} @ {what}", s.user);
            group_line(&mut o, &label, &s.processes, s.process_count);
        }
    }
    if !r.containers.is_empty() {
        let _ = writeln!(o, "\ncontainers (never restarted from the host):");
        for c in &r.containers {
            let label = format!("{} {}", c.kind, c.id);
            group_line(&mut o, &label, &c.processes, c.process_count);
        }
    }
    if !r.unattributed.is_empty() {
        let _ = writeln!(o, "\nprocesses with no known restart:");
        for u in &r.unattributed {
            group_line(&mut o, &u.reason, &u.processes, u.process_count);
        }
    }
    if r.reboot.needed {
        let _ = writeln!(o, "\nreboot needed:");
        for reason in &r.reboot.reasons {
            let _ = writeln!(o, "  {reason}");
        }
        if !r.reboot.packages.is_empty() {
            let _ = writeln!(o, "  packages: {}", r.reboot.packages.join(", "));
        }
    }
    if !r.needs_action() && r.containers.is_empty() {
        let _ = writeln!(o, "\nnothing to restart");
    }
    if !r.limitations.is_empty() {
        let _ = writeln!(o, "\nlimitations (what this scan does not see):");
        for l in &r.limitations {
            let _ = writeln!(o, "  {l}");
        }
    }
    for w in &r.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_services_sessions_and_reboot() {
        let out = human(&crate::render::sample::report());
        assert!(out.starts_with("web01: scanned 120 processes"), "{out}");
        assert!(
            out.contains("6.1.0-9-amd64 → 6.1.0-26-amd64 installed"),
            "{out}"
        );
        let row = out
            .lines()
            .find(|l| l.starts_with("cron.service"))
            .expect(&out);
        assert!(
            row.contains("auto")
                && row.contains("restart")
                && row.contains("20")
                && row.contains("libpcre2-8.so.0.10.4 (libpcre2-8-0)"),
            "{row}"
        );
        assert!(
            out.lines()
                .any(|l| l.starts_with("dbus.service") && l.contains("reboot")),
            "{out}"
        );
        assert!(out.contains("root @ session #3: pids 50"), "{out}");
        assert!(out.contains("reboot needed:"), "{out}");
        let r = crate::render::sample::report();
        assert!(!r.limitations.is_empty());
        assert!(
            out.contains("limitations (what this scan does not see):")
                && out.contains(&r.limitations[0]),
            "{out}"
        );
    }
}
