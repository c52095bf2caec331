//! The `audit` command: settings → audit → fleet view → output and exit code.

use super::{Hosts, Settings};
use crate::audit;
use crate::cli::{AuditArgs, MonitorFormat};
use crate::exit::{CmdError, Exit};
use crate::report::{ansible_inventory, files, fleet, human, json, live, monitoring};

/// `--list-hosts`: the selected hosts; with `-v`, where the site's settings came from and how
/// each host is reached.
fn list_hosts(s: &Settings, verbose: bool) {
    if verbose {
        for o in &s.site {
            println!("  {o}");
        }
    }
    println!("  hosts ({}):", s.hosts.len());
    for t in &s.hosts {
        if verbose {
            println!("    {}  {}", t.name, crate::reach::targets::describe(t));
        } else {
            println!("    {}", t.name);
        }
    }
}

pub fn run(args: AuditArgs) -> Result<Exit, CmdError> {
    let mut s = Settings::resolve(&args.t, Hosts::Selected, Vec::new())?;
    s.audit.delivery.clean = args.clean;
    if args.list_hosts {
        list_hosts(&s, args.verbose);
        return Ok(Exit::Clean);
    }
    s.ready(!args.floor)?;
    let ctx = &s.audit;
    if args.floor {
        let ran = audit::floor(&s.hosts, ctx);
        for (t, r) in s.hosts.iter().zip(&ran) {
            if let Err(m) = r {
                say!("{}: {m}", t.name);
            }
        }
        let ok = ran.iter().filter(|r| r.is_ok()).count();
        println!("floor: {ok}/{} hosts ran `true`", s.hosts.len());
        return Ok(if ok == s.hosts.len() {
            Exit::Clean
        } else {
            Exit::HostsFailed
        });
    }
    let progress = s.interactive && !args.no_progress && !args.ndjson && s.hosts.len() > 1;
    let rep = live::Reporter::new(s.hosts.len(), args.ndjson, progress);
    let results = audit::audit(&s.hosts, ctx, &|e| rep.event(e));
    rep.finish();
    let fleet = fleet::fleet(&results);
    let mut nagios_state = None;
    if let Some(f) = args.format {
        match f {
            MonitorFormat::Nagios => {
                let (state, text) = monitoring::nagios(&fleet);
                print!("{}", fleetrestart_scan::render::terminal_safe(&text));
                nagios_state = Some(state);
            }
            MonitorFormat::Openmetrics => print!("{}", monitoring::openmetrics(&results, &fleet)),
            MonitorFormat::Traces => println!(
                "{}",
                serde_json::to_string_pretty(&monitoring::traces(&results)).unwrap_or_default()
            ),
        }
    } else if args.json {
        json::print_json(&json::json(&results, &fleet))
            .map_err(|e| CmdError::Internal(format!("writing the JSON document: {e}")))?;
    } else if args.ndjson {
        println!(
            "{}",
            serde_json::json!({"event": "summary", "summary": fleet.counts})
        );
    } else {
        print!(
            "{}",
            fleetrestart_scan::render::terminal_safe(&human::human(&results, &fleet))
        );
    }
    if let Some(dir) = &args.tree {
        files::write_tree(dir, &results).map_err(|e| {
            CmdError::Internal(format!("cannot write --tree {}: {e}", dir.display()))
        })?;
    }
    if let Some(dir) = &args.host_lists {
        files::write_host_lists(dir, &fleet).map_err(|e| {
            CmdError::Internal(format!("cannot write --host-lists {}: {e}", dir.display()))
        })?;
    }
    if args.ansible_inventory.is_some() || args.ansible_inventory_script.is_some() {
        let doc = ansible_inventory::inventory(&results, &s.hosts);
        if let Some(f) = &args.ansible_inventory {
            let file = ansible_inventory::inventory_file(&doc);
            let text = serde_json::to_string_pretty(&file).unwrap_or_default() + "\n";
            write_file(f, &text, 0o644, "--ansible-inventory")?;
        }
        if let Some(f) = &args.ansible_inventory_script {
            write_file(
                f,
                &ansible_inventory::script(&doc),
                0o755,
                "--ansible-inventory-script",
            )?;
        }
    }
    if let Some(state) = nagios_state {
        return Ok(Exit::Nagios(state as i32));
    }
    let c = &fleet.counts;
    Ok(if c.failed + c.unreachable > 0 {
        Exit::HostsFailed
    } else if c.needing_action > 0 {
        Exit::ActionNeeded
    } else {
        Exit::Clean
    })
}

/// Writes `text` to `path` whole or not at all (a temporary file beside it, renamed).
fn write_file(path: &std::path::Path, text: &str, mode: u32, flag: &str) -> Result<(), CmdError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| {
        CmdError::Internal(format!("cannot write {flag} {}: {e}", path.display()))
    };
    let name = path
        .file_name()
        .ok_or_else(|| CmdError::Input(format!("{flag} {}: not a file name", path.display())))?;
    let tmp = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(fail)?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}
