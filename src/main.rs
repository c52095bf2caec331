//! `fleetrestart`: the controller. See ARCHITECTURE.md for the map of the code.

mod aggregate;
mod audit;
mod base64;
mod cli;
mod delivery;
mod events;
mod executor;
mod exit;
mod inventory;
mod output;
mod privilege;
mod reporter;
mod scanners;
mod secret;
mod shell;
mod targets;
mod transport;

use clap::Parser;
use cli::{AuditArgs, Cli, Command};
use fleetrestart_scan::rules::RuleSet;
use secret::Secret;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

/// An input error: message for standard error, exit code 2.
fn input_error(msg: impl std::fmt::Display) -> i32 {
    eprintln!("fleetrestart: {msg}");
    exit::INPUT_ERROR
}

fn read_rules(args: &AuditArgs) -> Result<Option<String>, String> {
    let Some(path) = &args.rules else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read rules file {}: {e}", path.display()))?;
    // validate here, so a typo stops the run before any host is touched
    RuleSet::with_user_file(&path.display().to_string(), &text).map_err(|e| e.to_string())?;
    Ok(Some(text))
}

fn local_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| targets::is_valid_user_name(u))
        .unwrap_or_else(|| {
            let pw = unsafe { libc::getpwuid(libc::geteuid()) };
            if pw.is_null() {
                return "root".into();
            }
            unsafe { std::ffi::CStr::from_ptr((*pw).pw_name) }
                .to_string_lossy()
                .into_owned()
        })
}

fn become_password(args: &AuditArgs) -> Result<Option<Secret>, String> {
    if let Some(f) = &args.become_password_file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| format!("cannot read become password file {}: {e}", f.display()))?;
        let line = text.lines().next().unwrap_or("").to_string();
        return Ok(Some(Secret::new(line)));
    }
    if args.ask_become_pass {
        return secret::prompt_tty("BECOME password: ")
            .map(Some)
            .map_err(|e| format!("--ask-become-pass: {e}"));
    }
    Ok(None)
}

fn ssh_config(args: &AuditArgs, home: &std::path::Path) -> Result<ssh2_config::SshConfig, String> {
    let path = match &args.ssh_config {
        Some(p) => p.clone(),
        None => {
            let p = home.join(".ssh/config");
            if !p.is_file() {
                return Ok(ssh2_config::SshConfig::default());
            }
            p
        }
    };
    let f = std::fs::File::open(&path)
        .map_err(|e| format!("cannot read ssh config {}: {e}", path.display()))?;
    ssh2_config::SshConfig::default()
        .home_dir(home)
        .parse(
            &mut std::io::BufReader::new(f),
            ssh2_config::ParseRule::ALLOW_UNKNOWN_FIELDS
                | ssh2_config::ParseRule::ALLOW_UNSUPPORTED_FIELDS,
        )
        .map_err(|e| format!("ssh config {}: {e}", path.display()))
}

/// `--limit` values with `@FILE` replaced by the file's hosts.
fn limit_terms(args: &AuditArgs) -> Result<Option<Vec<String>>, String> {
    if args.limit.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for l in &args.limit {
        for term in l.split(',') {
            match term.strip_prefix('@') {
                Some(f) => {
                    let text =
                        std::fs::read_to_string(f).map_err(|e| format!("--limit @{f}: {e}"))?;
                    out.extend(inventory::pattern::limit_file_terms(&text));
                }
                None => out.push(term.to_string()),
            }
        }
    }
    Ok(Some(out))
}

/// The targets the command line selects (an input error says what is wrong).
fn select_targets(args: &AuditArgs) -> Result<Vec<targets::Target>, String> {
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()));
    let defaults = targets::Defaults {
        local_user: local_user(),
        home: home.clone(),
        user: args.user.clone(),
        private_key: args.private_key.clone(),
        known_hosts: args.known_hosts.clone(),
        host_key_policy: args.host_key_checking,
        become_: args.become_,
        become_user: args.become_user.clone(),
        become_password: become_password(args)?,
    };
    let (inv, hosts) = if args.inventory.is_empty() {
        // Ansible's implicit localhost
        match args.pattern.as_deref() {
            None | Some("localhost") | Some("all") => {
                let mut inv = inventory::Inventory::new();
                let mut v = inventory::Vars::new();
                v.insert("ansible_connection".into(), "local".into());
                inv.add_host("ungrouped", "localhost", v);
                (inv, vec!["localhost".to_string()])
            }
            Some(p) => return Err(format!("no inventory given (-i) to find {p:?} in")),
        }
    } else {
        let inv = inventory::load::load(&args.inventory).map_err(|e| e.to_string())?;
        for w in &inv.warnings {
            eprintln!("[WARNING]: {w}");
        }
        let pattern = vec![args.pattern.clone().unwrap_or_else(|| "all".into())];
        let limit = limit_terms(args)?;
        let (hosts, warnings) = inventory::pattern::select(&inv, &pattern, limit.as_deref())?;
        for w in warnings {
            eprintln!("[WARNING]: {w}");
        }
        (inv, hosts)
    };
    if hosts.is_empty() {
        return Err("no hosts matched the pattern and limit".into());
    }
    let cfg = ssh_config(args, &home)?;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut out = Vec::new();
    for h in &hosts {
        let vars = inventory::vars::host_vars(&inv, h);
        match targets::build(h, &vars, &cfg, &defaults, &mut warnings) {
            Ok(t) => out.push(t),
            Err(e) => errors.push(e),
        }
    }
    for w in warnings {
        eprintln!("[WARNING]: {w}");
    }
    if !errors.is_empty() {
        return Err(format!("inventory errors:\n  {}", errors.join("\n  ")));
    }
    if out.iter().any(|t| matches!(&t.connection, targets::Connection::Ssh(s) if s.host_key_policy == targets::HostKeyPolicy::Off)) {
        eprintln!("[WARNING]: host key checking is OFF for some hosts: their identity is not verified, a man in the middle would see everything sent to them");
    }
    Ok(out)
}

fn run_audit(args: AuditArgs) -> i32 {
    let rules = match read_rules(&args) {
        Ok(r) => r,
        Err(e) => return input_error(e),
    };
    let targets = match select_targets(&args) {
        Ok(t) => t,
        Err(e) => return input_error(e),
    };
    if args.list_hosts {
        println!("  hosts ({}):", targets.len());
        for t in &targets {
            println!("    {}", t.name);
        }
        return exit::CLEAN;
    }
    if args.forks == 0 {
        return input_error("--forks must be at least 1");
    }
    let scanners = scanners::ScannerSet::find(args.scanner_dir.as_deref());
    let all_installed =
        targets.iter().all(|t| t.installed_scanner.is_some()) || args.installed_scanner.is_some();
    if scanners.scanners.is_empty() && !all_installed && !args.floor {
        eprintln!("fleetrestart: no scanner binaries found (embedded, beside this program, or --scanner-dir); build them with `cargo xtask scanners`");
        return exit::INTERNAL;
    }
    executor::raise_fd_limit();
    let interactive = std::io::stderr().is_terminal();
    let ctx = audit::AuditContext {
        scanners: &scanners,
        delivery: delivery::DeliveryConfig {
            cache_dir: args.cache_dir.clone(),
            installed_scanner: args.installed_scanner.clone(),
            clean: args.clean,
            command_timeout: Duration::from_secs(args.command_timeout),
            max_report_bytes: args.max_report_size,
        },
        rules,
        ssh: transport::ssh::SshContext::new(
            Duration::from_secs(args.connect_timeout),
            interactive,
        ),
        forks: args.forks,
        host_timeout: Duration::from_secs(args.host_timeout),
    };
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
        print!("{}", output::human(&results, &fleet));
    }
    if let Some(dir) = &args.tree {
        if let Err(e) = output::write_tree(dir, &results) {
            eprintln!("fleetrestart: cannot write --tree {}: {e}", dir.display());
            return exit::INTERNAL;
        }
    }
    if let Some(dir) = &args.host_lists {
        if let Err(e) = output::write_host_lists(dir, &fleet) {
            eprintln!(
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
