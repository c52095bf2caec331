//! The `audit` command: command line → targets → audit → fleet view → output and exit code.
//! Glue only; the logic lives in the modules it calls.

use crate::cli::AuditArgs;
use crate::{aggregate, audit, executor, exit, output, reporter, scanners, select};
use std::io::IsTerminal;

pub fn run_audit(args: AuditArgs) -> i32 {
    let rules = match select::read_rules(&args.t) {
        Ok(r) => r,
        Err(e) => return exit::input_error(e),
    };
    let targets = match select::select_targets(&args.t) {
        Ok(t) => t,
        Err(e) => return exit::input_error(e),
    };
    if args.list_hosts {
        println!("  hosts ({}):", targets.len());
        for t in &targets {
            println!("    {}", t.name);
        }
        return exit::CLEAN;
    }
    if args.t.forks == 0 {
        return exit::input_error("--forks must be at least 1");
    }
    let scanners = scanners::ScannerSet::find(args.t.scanner_dir.as_deref());
    if !args.floor {
        if let Err(e) = select::check_scanners(&scanners, &targets, &args.t) {
            say!("fleetrestart: {e}");
            return exit::INTERNAL;
        }
    }
    executor::raise_fd_limit();
    let interactive = std::io::stderr().is_terminal();
    let ctx = select::audit_context(&args.t, &scanners, rules, args.clean, interactive);
    if args.floor {
        let ok = audit::floor(&targets, &ctx);
        println!("floor: {ok}/{} hosts ran `true`", targets.len());
        return if ok == targets.len() {
            exit::CLEAN
        } else {
            exit::HOSTS_FAILED
        };
    }
    let progress = interactive && !args.no_progress && !args.ndjson && targets.len() > 1;
    let rep = reporter::Reporter::new(targets.len(), args.ndjson, progress);
    let results = audit::audit(&targets, &ctx, &|e| rep.event(e));
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
        if let Err(e) = output::write_tree(dir, &results) {
            say!("fleetrestart: cannot write --tree {}: {e}", dir.display());
            return exit::INTERNAL;
        }
    }
    if let Some(dir) = &args.host_lists {
        if let Err(e) = output::write_host_lists(dir, &fleet) {
            say!(
                "fleetrestart: cannot write --host-lists {}: {e}",
                dir.display()
            );
            return exit::INTERNAL;
        }
    }
    let c = &fleet.counts;
    if c.failed + c.unreachable > 0 {
        exit::HOSTS_FAILED
    } else if c.needing_action > 0 {
        exit::ACTION_NEEDED
    } else {
        exit::CLEAN
    }
}
