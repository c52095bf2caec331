//! Rendering of audit results: the human fleet view, the `--json` document, `--tree` files and
//! host-list files. Formatting only: the grouping is done by [`crate::report::fleet`].

use crate::audit::delivery::Delivery;
use crate::audit::HostResult;
use crate::inventory::range::fold;
use crate::report::fleet::{Cause, Fleet, Problem, ServiceRow};
use fleetrestart_scan::render;
use std::fmt::Write;
use std::path::Path;

/// Version of the controller's `--json` document (docs/audit-schema.json).
pub const AUDIT_SCHEMA_VERSION: u32 = 1;

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

/// One host's entry in the JSON document and in `--tree` files: borrowed from the results and
/// written as it is serialized (the reports are never copied into a second tree). Fields in
/// the order the document has always had (sorted).
#[derive(serde::Serialize)]
#[serde(untagged)]
pub enum HostEntry<'a> {
    Scanned {
        delivery: &'static str,
        elapsed_ms: u64,
        host: &'a str,
        needs_action: bool,
        report: &'a fleetrestart_scan::report::Report,
        status: &'static str,
    },
    Failed {
        elapsed_ms: u64,
        error: String,
        host: &'a str,
        status: &'static str,
    },
}

pub fn host_json(r: &HostResult) -> HostEntry<'_> {
    let elapsed_ms = r.elapsed.as_millis() as u64;
    match &r.outcome {
        Ok(scan) => HostEntry::Scanned {
            delivery: match scan.delivery {
                Delivery::Reused => "reused",
                Delivery::Uploaded(_) => "uploaded",
                Delivery::Installed => "installed",
            },
            elapsed_ms,
            host: &r.host,
            needs_action: scan.report.needs_action(),
            report: &scan.report,
            status: "ok",
        },
        Err(e) => HostEntry::Failed {
            elapsed_ms,
            error: e.to_string(),
            host: &r.host,
            status: r.status(),
        },
    }
}

/// The audit's JSON document (`--json`), borrowed from the results.
#[derive(serde::Serialize)]
pub struct Document<'a> {
    hosts: Vec<HostEntry<'a>>,
    never_restart: &'a [ServiceRow],
    schema_version: u32,
    services: &'a [ServiceRow],
    summary: &'a crate::report::fleet::Counts,
}

pub fn json<'a>(results: &'a [HostResult], fleet: &'a Fleet) -> Document<'a> {
    Document {
        hosts: results.iter().map(host_json).collect(),
        never_restart: &fleet.never_restart,
        schema_version: AUDIT_SCHEMA_VERSION,
        services: &fleet.services,
        summary: &fleet.counts,
    }
}

/// Writes `doc` to standard output as it is serialized, then a newline.
pub fn print_json(doc: &impl serde::Serialize) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer(&mut out, doc).map_err(std::io::Error::other)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// `--tree DIR`: one `HOST.json` per host (names were validated when the inventory was read).
pub fn write_tree(dir: &Path, results: &[HostResult]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for r in results {
        let text = serde_json::to_string_pretty(&host_json(r)).map_err(std::io::Error::other)?;
        std::fs::write(dir.join(format!("{}.json", r.host)), text + "\n")?;
    }
    Ok(())
}

/// `--host-lists DIR`: files `clean`, `stale`, `failed`, `unreachable`, one host per line, for
/// `--limit @DIR/stale` (all four are written, empty ones too, so old lists never linger).
pub fn write_host_lists(dir: &Path, fleet: &Fleet) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let lines = |v: Vec<&String>| v.into_iter().map(|h| format!("{h}\n")).collect::<String>();
    std::fs::write(dir.join("clean"), lines(fleet.clean.iter().collect()))?;
    std::fs::write(
        dir.join("stale"),
        lines(fleet.hosts.iter().map(|h| &h.host).collect()),
    )?;
    std::fs::write(
        dir.join("failed"),
        lines(fleet.failed.iter().map(|p| &p.host).collect()),
    )?;
    std::fs::write(
        dir.join("unreachable"),
        lines(fleet.unreachable.iter().map(|p| &p.host).collect()),
    )?;
    Ok(())
}
