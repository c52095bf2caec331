//! The audit's `--json` document (docs/audit-schema.json): written as it is serialized,
//! borrowed from the results, and read back (`--from-audit`) beside the writer, so the two
//! cannot drift apart. Pure but for [`print_json`] and [`read_saved`].

use crate::audit::delivery::Delivery;
use crate::audit::HostResult;
use crate::report::fleet::{Fleet, ServiceRow};
use fleetrestart_scan::report::{Report, SCHEMA_VERSION};
use std::collections::BTreeMap;
use std::path::Path;

/// Version of the controller's `--json` document (docs/audit-schema.json).
pub const AUDIT_SCHEMA_VERSION: u32 = 1;

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
            status: r.status().as_str(),
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

/// One host of a saved document, as [`HostEntry`] wrote it.
#[derive(serde::Deserialize)]
struct SavedHost {
    host: Option<String>,
    status: Option<String>,
    /// Checked for its schema version before it is read as a [`Report`].
    report: Option<serde_json::Value>,
    error: Option<String>,
}

/// A saved document, as [`Document`] wrote it (only what a campaign reads).
#[derive(serde::Deserialize)]
struct SavedDocument {
    hosts: Option<Vec<SavedHost>>,
}

/// Reports from a saved `audit --json` document, by host (or why a host has none).
pub fn read_saved(path: &Path) -> Result<BTreeMap<String, Result<Report, String>>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let doc: SavedDocument = serde_json::from_str(&text).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            format!("{}: not JSON: {e}", path.display())
        } else {
            format!("{}: not an `audit --json` document: {e}", path.display())
        }
    })?;
    let hosts = doc.hosts.ok_or_else(|| {
        format!(
            "{}: not an `audit --json` document (no hosts list)",
            path.display()
        )
    })?;
    let mut out = BTreeMap::new();
    for (i, h) in hosts.into_iter().enumerate() {
        let name = h
            .host
            .ok_or_else(|| format!("{}: hosts[{i}] has no host name", path.display()))?;
        let r = match (h.status.as_deref(), h.report) {
            (Some("ok"), Some(report)) => {
                if report["schema_version"].as_u64() != Some(u64::from(SCHEMA_VERSION)) {
                    return Err(format!(
                        "{}: hosts[{i}] ({name}): report schema version is not {SCHEMA_VERSION}",
                        path.display()
                    ));
                }
                Ok(serde_json::from_value::<Report>(report)
                    .map_err(|e| format!("{}: hosts[{i}] ({name}): {e}", path.display()))?)
            }
            (status, _) => Err(format!(
                "audit {}: {}",
                status.unwrap_or("failed"),
                h.error.as_deref().unwrap_or("")
            )),
        };
        out.insert(name, r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::delivery::{HostError, HostScan};
    use std::time::Duration;

    #[test]
    fn a_written_document_reads_back_host_by_host() {
        let report: Report =
            serde_json::from_str(include_str!("../../tests/fixtures/report-clean.json")).unwrap();
        let results = vec![
            HostResult {
                host: "web1".into(),
                outcome: Ok(HostScan {
                    report: report.clone(),
                    delivery: Delivery::Uploaded(Default::default()),
                }),
                elapsed: Duration::from_millis(12),
            },
            HostResult {
                host: "db1".into(),
                outcome: Err(HostError::Unreachable("connection refused".into())),
                elapsed: Duration::ZERO,
            },
        ];
        let fleet = crate::report::fleet::fleet(&results);
        let dir = std::env::temp_dir().join(format!("fr-saved-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.json");
        std::fs::write(
            &path,
            serde_json::to_string(&json(&results, &fleet)).unwrap(),
        )
        .unwrap();
        let saved = read_saved(&path).unwrap();
        assert_eq!(saved["web1"].as_ref().unwrap(), &report);
        let why = saved["db1"].as_ref().unwrap_err();
        assert!(why.starts_with("audit unreachable: "), "{why}");
        assert!(why.contains("connection refused"), "{why}");
        std::fs::write(&path, "{\"hosts\": 3}").unwrap();
        assert!(read_saved(&path)
            .unwrap_err()
            .contains("not an `audit --json` document"));
        std::fs::write(&path, "{\"hos").unwrap();
        assert!(read_saved(&path).unwrap_err().contains("not JSON"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
