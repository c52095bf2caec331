//! Metrics text that both parsers read: OpenMetrics (with `# EOF`) and Prometheus's text format,
//! which node_exporter's textfile collector and `promtool check metrics` use. Only gauges: the
//! OpenMetrics-only `info` and `stateset` types are written as the gauges they stand for
//! (`…_info 1`, one sample per state), as Prometheus's own exporters write them.

use crate::report::{KernelState, Report};
use std::fmt::Write;

/// A label value escaped as OpenMetrics wants (`\\`, `\"`, `\n`).
pub fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn openmetrics(r: &Report) -> String {
    let mut o = String::new();
    let gauge = |o: &mut String, name: &str, help: &str, v: String| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    };
    let _ = writeln!(
        o,
        "# HELP fleetrestart_scan_info Scanner version and host.\n# TYPE fleetrestart_scan_info gauge"
    );
    let _ = writeln!(
        o,
        "fleetrestart_scan_info{{version=\"{}\",hostname=\"{}\"}} 1",
        label(&r.scanner.version),
        label(&r.host.hostname)
    );
    gauge(
        &mut o,
        "fleetrestart_services",
        "Services using stale files that campaigns restart.",
        r.services.len().to_string(),
    );
    gauge(
        &mut o,
        "fleetrestart_never_restart_services",
        "Services using stale files that are never restarted automatically.",
        r.never_restart.len().to_string(),
    );
    gauge(
        &mut o,
        "fleetrestart_sessions",
        "Login sessions and user managers using stale files.",
        r.sessions.len().to_string(),
    );
    gauge(
        &mut o,
        "fleetrestart_containers",
        "Containers with processes using stale files.",
        r.containers.len().to_string(),
    );
    let procs: u32 = r
        .services
        .iter()
        .chain(&r.never_restart)
        .map(|s| s.process_count)
        .sum::<u32>()
        + r.sessions.iter().map(|s| s.process_count).sum::<u32>()
        + r.containers.iter().map(|s| s.process_count).sum::<u32>()
        + r.unattributed.iter().map(|s| s.process_count).sum::<u32>();
    gauge(
        &mut o,
        "fleetrestart_stale_processes",
        "Processes using deleted or replaced files.",
        procs.to_string(),
    );
    gauge(
        &mut o,
        "fleetrestart_reboot_required",
        "1 when only a reboot clears what was found.",
        u8::from(r.reboot.needed).to_string(),
    );
    gauge(
        &mut o,
        "fleetrestart_scan_partial",
        "1 when some processes could not be read.",
        u8::from(r.partial).to_string(),
    );
    gauge(
        &mut o,
        "fleetrestart_scan_duration_seconds",
        "Time the scan took.",
        format!("{:.3}", r.duration_ms as f64 / 1000.0),
    );
    let _ = writeln!(o, "# HELP fleetrestart_kernel_status Running kernel against the newest installed one (1 for its state).\n# TYPE fleetrestart_kernel_status gauge");
    for (name, st) in [
        ("unknown", KernelState::Unknown),
        ("current", KernelState::Current),
        ("abi_upgrade", KernelState::AbiUpgrade),
        ("version_upgrade", KernelState::VersionUpgrade),
        ("not_applicable", KernelState::NotApplicable),
    ] {
        let _ = writeln!(
            o,
            "fleetrestart_kernel_status{{fleetrestart_kernel_status=\"{name}\"}} {}",
            u8::from(r.kernel.status == st)
        );
    }
    o.push_str("# EOF\n");
    o
}

#[cfg(test)]
mod tests {
    #[test]
    fn exposition() {
        let out = super::openmetrics(&crate::render::sample::report());
        assert!(out.contains("fleetrestart_services 1\n"), "{out}");
        assert!(out.contains("fleetrestart_stale_processes 3\n"), "{out}");
        assert!(
            out.contains(
                "fleetrestart_kernel_status{fleetrestart_kernel_status=\"version_upgrade\"} 1"
            ),
            "{out}"
        );
        assert!(out.ends_with("# EOF\n"));
    }
}
