//! Target selection: the command line's inventory, pattern and limit → the [`Target`]s to work
//! on, with every connection setting resolved (inventory vars > ~/.ssh/config > flags).

use crate::audit::AuditContext;
use crate::cli::TargetArgs;
use crate::connect::Connector;
use crate::delivery::DeliveryConfig;
use crate::inventory;
use crate::scanners::ScannerSet;
use crate::secret::{self, Secret};
use crate::targets::{self, Target};
use crate::transport::ssh::SshContext;
use fleetrestart_scan::rules::RuleSet;
use std::path::PathBuf;
use std::time::Duration;

pub fn read_rules(args: &TargetArgs) -> Result<Option<String>, String> {
    let Some(path) = &args.rules else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read rules file {}: {e}", path.display()))?;
    // validate here, so a typo stops the run before any host is touched
    RuleSet::with_user_file(&path.display().to_string(), &text).map_err(|e| e.to_string())?;
    Ok(Some(text))
}

pub fn local_user() -> String {
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

pub fn become_password(args: &TargetArgs) -> Result<Option<Secret>, String> {
    if let Some(f) = &args.become_password_file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| format!("cannot read become password file {}: {e}", f.display()))?;
        // the file's text is a secret from the start: wiped when dropped (review L12)
        return Ok(Some(Secret::new(text).first_line()));
    }
    if args.ask_become_pass {
        return secret::prompt_tty("BECOME password: ")
            .map(Some)
            .map_err(|e| format!("--ask-become-pass: {e}"));
    }
    Ok(None)
}

pub fn ssh_config(
    args: &TargetArgs,
    home: &std::path::Path,
) -> Result<ssh2_config::SshConfig, String> {
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
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read ssh config {}: {e}", path.display()))?;
    let (text, skipped) = without_match_blocks(&text);
    for line in skipped {
        say!(
            "[WARNING]: {}:{line}: `Match` block skipped (not supported): its options apply to no host",
            path.display()
        );
    }
    parse_ssh_config(&text, home).map_err(|e| format!("ssh config {}: {e}", path.display()))
}

pub fn parse_ssh_config(
    text: &str,
    home: &std::path::Path,
) -> Result<ssh2_config::SshConfig, ssh2_config::SshParserError> {
    ssh2_config::SshConfig::default().home_dir(home).parse(
        &mut std::io::BufReader::new(text.as_bytes()),
        ssh2_config::ParseRule::ALLOW_UNKNOWN_FIELDS
            | ssh2_config::ParseRule::ALLOW_UNSUPPORTED_FIELDS,
    )
}

/// The config with every `Match` block blanked out (its lines kept empty, so line numbers stay
/// true), and the line numbers of the `Match` lines. ssh2-config does not know `Match`: it would
/// apply the block's options to the `Host` block before it (review H5). A block ends at the next
/// `Host` or `Match` line, as in OpenSSH.
pub fn without_match_blocks(text: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len());
    let mut skipped = Vec::new();
    let mut in_match = false;
    for (i, line) in text.lines().enumerate() {
        let keyword = line
            .trim_start()
            .split(|c: char| c.is_whitespace() || c == '=')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match keyword.as_str() {
            "match" => {
                in_match = true;
                skipped.push(i + 1);
            }
            "host" => in_match = false,
            _ => {}
        }
        if !in_match {
            out.push_str(line);
        }
        out.push('\n');
    }
    (out, skipped)
}

/// `--limit` values with `@FILE` replaced by the file's hosts.
pub fn limit_terms(args: &TargetArgs) -> Result<Option<Vec<String>>, String> {
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

/// The inventory the command line names; without `-i`, Ansible's implicit localhost.
pub fn inventory_of(args: &TargetArgs) -> Result<inventory::Inventory, String> {
    if args.inventory.is_empty() {
        let mut inv = inventory::Inventory::new();
        let mut v = inventory::Vars::new();
        v.insert("ansible_connection".into(), "local".into());
        inv.add_host("ungrouped", "localhost", v);
        return Ok(inv);
    }
    let inv = inventory::load::load(&args.inventory).map_err(|e| e.to_string())?;
    for w in &inv.warnings {
        say!("[WARNING]: {w}");
    }
    Ok(inv)
}

/// The hosts the pattern and `--limit` select (at least one).
pub fn selected(args: &TargetArgs, inv: &inventory::Inventory) -> Result<Vec<String>, String> {
    let hosts = if args.inventory.is_empty() {
        match args.pattern.as_deref() {
            None | Some("localhost") | Some("all") => vec!["localhost".to_string()],
            Some(p) => return Err(format!("no inventory given (-i) to find {p:?} in")),
        }
    } else {
        let pattern = vec![args.pattern.clone().unwrap_or_else(|| "all".into())];
        let limit = limit_terms(args)?;
        let (hosts, warnings) = inventory::pattern::select(inv, &pattern, limit.as_deref())?;
        for w in warnings {
            say!("[WARNING]: {w}");
        }
        hosts
    };
    if hosts.is_empty() {
        return Err("no hosts matched the pattern and limit".into());
    }
    Ok(hosts)
}

/// A [`Target`] for each of `names` (each must be in the inventory), in that order. Call it once
/// per command: it may ask the become password.
pub fn build_targets(
    args: &TargetArgs,
    inv: &inventory::Inventory,
    names: &[String],
) -> Result<Vec<Target>, String> {
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
    let cfg = ssh_config(args, &home)?;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut out = Vec::new();
    for h in names {
        if !inv.has_host(h) {
            errors.push(format!("{h}: not in the inventory"));
            continue;
        }
        let vars = inventory::vars::host_vars(inv, h);
        match targets::build(h, &vars, &cfg, &defaults, &mut warnings) {
            Ok(t) => out.push(t),
            Err(e) => errors.push(e),
        }
    }
    for w in warnings {
        say!("[WARNING]: {w}");
    }
    if !errors.is_empty() {
        return Err(format!("inventory errors:\n  {}", errors.join("\n  ")));
    }
    if out.iter().any(|t| matches!(&t.connection, targets::Connection::Ssh(s) if s.host_key_policy == targets::HostKeyPolicy::Off)) {
        say!("[WARNING]: host key checking is OFF for some hosts: their identity is not verified, a man in the middle would see everything sent to them");
    }
    Ok(out)
}

/// Fails when a scanner must be uploaded and this controller has none.
pub fn check_scanners(
    scanners: &ScannerSet,
    targets: &[Target],
    args: &TargetArgs,
) -> Result<(), String> {
    let all_installed =
        targets.iter().all(|t| t.installed_scanner.is_some()) || args.installed_scanner.is_some();
    if scanners.scanners.is_empty() && !all_installed {
        return Err("no scanner binaries found (embedded, beside this program, or --scanner-dir); build them with `cargo xtask scanners`".into());
    }
    Ok(())
}

/// The audit settings the command line gives.
pub fn audit_context<'a>(
    args: &TargetArgs,
    scanners: &'a ScannerSet,
    rules: Option<String>,
    clean: bool,
    interactive: bool,
) -> AuditContext<'a> {
    AuditContext {
        scanners,
        delivery: DeliveryConfig {
            cache_dir: args.cache_dir.clone(),
            installed_scanner: args.installed_scanner.clone(),
            clean,
            command_timeout: Duration::from_secs(args.command_timeout),
            max_report_bytes: args.max_report_size,
        },
        rules,
        connector: Connector {
            ssh: SshContext::new(Duration::from_secs(args.connect_timeout), interactive),
            host_timeout: Duration::from_secs(args.host_timeout),
        },
        forks: args.forks.max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_blocks_apply_to_no_host() {
        let text = "Host web1\n  User ops\n  Port 2222\n\nMatch host *.internal\n  User root\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n\nHost db1\n  User dba\nmatch exec \"true\"\n  ProxyJump evil\n";
        let (clean, skipped) = without_match_blocks(text);
        assert_eq!(skipped, [5, 12]);
        assert_eq!(
            clean.lines().count(),
            text.lines().count(),
            "line numbers kept"
        );
        let cfg = parse_ssh_config(&clean, std::path::Path::new("/root")).unwrap();
        let web = cfg.query("web1");
        assert_eq!(web.user.as_deref(), Some("ops"));
        assert_eq!(web.port, Some(2222));
        let db = cfg.query("db1");
        assert_eq!(db.user.as_deref(), Some("dba"));
        assert!(db.proxy_jump.is_none());
        // without the blanking, ssh2-config merges the Match options into web1 (the defect)
        let leaky = parse_ssh_config(text, std::path::Path::new("/root")).unwrap();
        assert_eq!(leaky.query("web1").user.as_deref(), Some("root"));
    }
}
