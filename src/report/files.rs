//! The audit's output files: `--tree` (one JSON file per host) and `--host-lists` (host names
//! by state, for `--limit @FILE`). I/O.

use crate::audit::HostResult;
use crate::report::fleet::Fleet;
use crate::report::json::host_json;
use std::path::Path;

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
