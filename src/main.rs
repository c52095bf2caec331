//! `fleetrestart`: the controller. See ARCHITECTURE.md for the map of the code.

mod audit;
mod cli;
mod delivery;
mod events;
mod exit;
#[allow(dead_code)] // used by the inventory loader and the fleet output (issue 4)
mod inventory;
mod output;
mod scanners;
mod shell;
mod transport;

use clap::Parser;
use cli::{AuditArgs, Cli, Command};
use fleetrestart_scan::rules::RuleSet;
use std::time::Duration;

fn run_audit(args: AuditArgs) -> i32 {
    // validate the rules file here, so a typo stops the run before any host is touched
    let rules = match &args.rules {
        None => None,
        Some(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!(
                        "fleetrestart: cannot read rules file {}: {e}",
                        path.display()
                    );
                    return exit::INPUT_ERROR;
                }
            };
            if let Err(e) = RuleSet::with_user_file(&path.display().to_string(), &text) {
                eprintln!("fleetrestart: {e}");
                return exit::INPUT_ERROR;
            }
            Some(text)
        }
    };
    let scanners = scanners::ScannerSet::find(args.scanner_dir.as_deref());
    if scanners.scanners.is_empty() && args.installed_scanner.is_none() {
        eprintln!("fleetrestart: no scanner binaries found (embedded, beside this program, or --scanner-dir); build them with `cargo xtask scanners`");
        return exit::INTERNAL;
    }
    let ctx = audit::AuditContext {
        scanners: &scanners,
        delivery: delivery::DeliveryConfig {
            cache_dir: args.cache_dir.clone(),
            installed_scanner: args.installed_scanner.clone(),
            clean: args.clean,
            command_timeout: Duration::from_secs(args.command_timeout),
            ..Default::default()
        },
        rules,
    };
    let targets = vec![audit::Target {
        name: "localhost".into(),
        connection: audit::Connection::Local,
    }];
    let results = audit::audit(&targets, &ctx, &|_event| {});
    if args.json {
        println!("{}", output::json(&results));
    } else {
        print!("{}", output::human(&results));
    }
    if results.iter().any(|r| r.outcome.is_err()) {
        exit::HOSTS_FAILED
    } else if results
        .iter()
        .any(|r| r.outcome.as_ref().is_ok_and(|s| s.report.needs_action()))
    {
        exit::ACTION_NEEDED
    } else {
        exit::CLEAN
    }
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::INPUT_ERROR
            } else {
                exit::CLEAN
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match cli.command {
        Command::Audit(a) => run_audit(a),
    };
    std::process::exit(code);
}
