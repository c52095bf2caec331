//! Rendering of audit results: the human view and the JSON document.

use crate::audit::HostResult;
use crate::delivery::Delivery;
use fleetrestart_scan::render;
use serde_json::json;
use std::fmt::Write;

/// Version of the controller's `--json` document.
pub const AUDIT_SCHEMA_VERSION: u32 = 1;

pub fn human(results: &[HostResult]) -> String {
    let mut o = String::new();
    for r in results {
        match &r.outcome {
            Ok(scan) => o.push_str(&render::human(&scan.report)),
            Err(e) => {
                let _ = writeln!(o, "{}: FAILED: {e}", r.host);
            }
        }
    }
    let failed = results.iter().filter(|r| r.outcome.is_err()).count();
    if results.len() > 1 || failed > 0 {
        let _ = writeln!(
            o,
            "\n{} hosts: {} scanned, {} failed",
            results.len(),
            results.len() - failed,
            failed
        );
    }
    o
}

pub fn json(results: &[HostResult]) -> serde_json::Value {
    let hosts: Vec<serde_json::Value> = results
        .iter()
        .map(|r| match &r.outcome {
            Ok(scan) => json!({
                "host": r.host,
                "status": "ok",
                "elapsed_ms": r.elapsed.as_millis() as u64,
                "delivery": match scan.delivery { Delivery::Reused => "reused", Delivery::Uploaded(_) => "uploaded", Delivery::Installed => "installed" },
                "report": scan.report,
            }),
            Err(e) => json!({ "host": r.host, "status": "failed", "elapsed_ms": r.elapsed.as_millis() as u64, "error": e.to_string() }),
        })
        .collect();
    let ok: Vec<_> = results
        .iter()
        .filter_map(|r| r.outcome.as_ref().ok())
        .collect();
    json!({
        "schema_version": AUDIT_SCHEMA_VERSION,
        "hosts": hosts,
        "summary": {
            "hosts": results.len(),
            "scanned": ok.len(),
            "failed": results.len() - ok.len(),
            "needing_action": ok.iter().filter(|s| s.report.needs_action()).count(),
            "reboot_needed": ok.iter().filter(|s| s.report.reboot.needed).count(),
        }
    })
}
