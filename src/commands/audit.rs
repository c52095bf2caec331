//! The `audit` command: settings → audit → fleet view → output and exit code.

use super::{Hosts, Settings};
use crate::cli::AuditArgs;
use crate::exit::{CmdError, Exit};
use crate::{aggregate, audit, output, reporter};

pub fn run(args: AuditArgs) -> Result<Exit, CmdError> {
    let s = Settings::resolve(&args.t, Hosts::Selected, Vec::new())?;
    if args.list_hosts {
        println!("  hosts ({}):", s.hosts.len());
        for t in &s.hosts {
            println!("    {}", t.name);
        }
        return Ok(Exit::Clean);
    }
    s.ready(!args.floor)?;
    let ctx = s.audit_context(args.clean);
    if args.floor {
        let ok = audit::floor(&s.hosts, &ctx);
        println!("floor: {ok}/{} hosts ran `true`", s.hosts.len());
        return Ok(if ok == s.hosts.len() {
            Exit::Clean
        } else {
            Exit::HostsFailed
        });
    }
    let progress = s.interactive && !args.no_progress && !args.ndjson && s.hosts.len() > 1;
    let rep = reporter::Reporter::new(s.hosts.len(), args.ndjson, progress);
    let results = audit::audit(&s.hosts, &ctx, &|e| rep.event(e));
    rep.finish();
    let fleet = aggregate::fleet(&results);
    if args.json {
        println!("{}", output::json(&results, &fleet));
    } else if args.ndjson {
        println!(
            "{}",
            serde_json::json!({"event": "summary", "summary": fleet.counts})
        );
    } else {
        print!(
            "{}",
            fleetrestart_scan::render::terminal_safe(&output::human(&results, &fleet))
        );
    }
    if let Some(dir) = &args.tree {
        output::write_tree(dir, &results).map_err(|e| {
            CmdError::Internal(format!("cannot write --tree {}: {e}", dir.display()))
        })?;
    }
    if let Some(dir) = &args.host_lists {
        output::write_host_lists(dir, &fleet).map_err(|e| {
            CmdError::Internal(format!("cannot write --host-lists {}: {e}", dir.display()))
        })?;
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
