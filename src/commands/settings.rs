//! [`Settings`]: what every command that works on hosts resolves from its arguments, once and in
//! one order (ripgrep's low args → high args): the rules file (validated), the inventory, the
//! targets of the selected hosts and of the hosts hooks run on, the scanner binaries, whether
//! standard error is a terminal. [`Settings::ready`] is the last step before any host is
//! contacted (scanners present, file descriptor limit raised). I/O: reads files, may ask the
//! become password. The command line's inventory, pattern and limit → the [`Target`]s to
//! work on, with every connection setting resolved (inventory vars > ~/.ssh/config > flags).

use crate::audit::delivery::DeliveryConfig;
use crate::audit::scanners::ScannerSet;
use crate::audit::AuditContext;
use crate::cli::TargetArgs;
use crate::exit::CmdError;
use crate::inventory::vault::VaultPassword;
use crate::inventory::{self, Inventory};
use crate::reach::connect::Connector;
use crate::reach::targets::{self, Target};
use crate::secret::{self, Secret};
use crate::transport::ssh::SshContext;
use fleetrestart_scan::rules::RuleSet;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which hosts a command works on.
pub enum Hosts {
    /// The command line's pattern and `--limit`.
    Selected,
    /// These, in this order (a campaign's plan, on resume).
    Named(Vec<String>),
}

/// Everything a command works with, resolved once; the raw arguments are not kept.
pub struct Settings {
    pub inventory: Inventory,
    pub hosts: Vec<Target>,
    /// Targets of the hosts hooks run on (`on:`), by name.
    pub hooks: BTreeMap<String, Target>,
    /// How hosts are reached and scanned, built once for the run: the SSH context in it (key
    /// passphrases, jump connections, known_hosts) is shared by the audit and every campaign
    /// step.
    pub audit: AuditContext,
    /// Standard error is a terminal (progress bars, host key prompts).
    pub interactive: bool,
    /// Which settings came from ansible.cfg or the `ANSIBLE_*` environment, and from where.
    pub site: Vec<String>,
}

impl Settings {
    /// Resolves `args` for `hosts`, and `hook_hosts` beside them (built in one go, so that a
    /// become password is asked once).
    pub fn resolve(
        args: &TargetArgs,
        hosts: Hosts,
        hook_hosts: Vec<String>,
    ) -> Result<Settings, CmdError> {
        let site = site_settings(args)?;
        let args = &site.args;
        if args.forks == Some(0) {
            return Err("--forks must be at least 1".into());
        }
        let rules = read_rules(args)?;
        let inventory = inventory_of(args)?;
        let mut names = match hosts {
            Hosts::Selected => selected(args, &inventory)?,
            Hosts::Named(n) => n,
        };
        let n = names.len();
        names.extend(hook_hosts);
        let mut targets = build_targets(args, site.ssh_args.as_deref(), &inventory, &names)?;
        named_files_readable(args, &inventory, &names)?;
        let hooks = targets
            .split_off(n)
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect();
        let interactive = std::io::stderr().is_terminal();
        let scanners = ScannerSet::find(args.scanner_dir.as_deref());
        Ok(Settings {
            inventory,
            hosts: targets,
            hooks,
            audit: audit_context(args, scanners, rules, interactive),
            interactive,
            site: site.origins.clone(),
        })
    }

    /// Before the first host is contacted: a scanner for every host that needs an upload (not
    /// when `scanners_needed` is false: `audit --floor`), and the file descriptor limit raised
    /// for the fan-out (every command: `resume` used to skip it).
    pub fn ready(&self, scanners_needed: bool) -> Result<(), CmdError> {
        if scanners_needed {
            check_scanners(&self.audit, &self.hosts).map_err(CmdError::Internal)?;
        }
        crate::audit::executor::raise_fd_limit();
        Ok(())
    }
}

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
        // the file's text is a secret from the start: wiped when dropped
        return Ok(Some(Secret::new(text).first_line()));
    }
    if args.ask_become_pass {
        return secret::prompt_tty("BECOME password: ")
            .map(Some)
            .map_err(|e| format!("--ask-become-pass: {e}"));
    }
    Ok(None)
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

/// Key and known_hosts files that were named (by a flag, ansible.cfg or an inventory variable)
/// must be there: one that cannot be read is a configuration error before any host is
/// contacted, not every host "unreachable". (Key files of ~/.ssh/config are skipped when
/// missing, as OpenSSH skips them.) A named known_hosts file that does not exist yet is
/// allowed only under accept-new, which creates it.
fn named_files_readable(
    args: &TargetArgs,
    inv: &inventory::Inventory,
    names: &[String],
) -> Result<(), String> {
    let readable = |p: &Path| -> Result<(), String> {
        let m = std::fs::metadata(p).map_err(|e| e.to_string())?;
        if !m.is_file() {
            return Err("not a file".into());
        }
        std::fs::File::open(p)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let mut errors = Vec::new();
    if let Some(k) = &args.private_key {
        if let Err(e) = readable(k) {
            errors.push(format!("private key file {}: {e}", k.display()));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for h in names {
        let vars = inventory::vars::host_vars(inv, h);
        let keys = ["ansible_ssh_private_key_file", "ansible_private_key_file"];
        let Ok(used) = inventory::template::resolve_used(&vars, &keys) else {
            continue; // the target's own build said why
        };
        for k in keys {
            let Some(file) = inventory::vars::as_string(used.get(k)) else {
                continue;
            };
            let path = match file.strip_prefix("~/") {
                Some(rest) => home_dir().join(rest),
                None => PathBuf::from(&file),
            };
            if seen.insert(path.clone()) {
                if let Err(e) = readable(&path) {
                    errors.push(format!(
                        "host {h}: {k}: cannot read {}: {e}",
                        path.display()
                    ));
                }
            }
        }
    }
    if let Some(kh) = &args.known_hosts {
        match std::fs::metadata(kh) {
            Ok(m) if m.is_dir() => errors.push(format!(
                "--known-hosts {}: a directory, not a known_hosts file",
                kh.display()
            )),
            Ok(_) => {}
            Err(_) if args.host_key_checking == Some(targets::HostKeyPolicy::AcceptNew) => {}
            Err(e) => errors.push(format!(
                "--known-hosts {}: {e} (accept-new creates it; strict checking needs its keys)",
                kh.display()
            )),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("configuration errors:\n  {}", errors.join("\n  ")))
    }
}

/// The site's Ansible settings (ansible.cfg, `ANSIBLE_*`) under the command line's flags.
fn site_settings(args: &TargetArgs) -> Result<super::ansible_cfg::Applied, String> {
    let env: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("ANSIBLE_"))
        .collect();
    let cfg = super::ansible_cfg::find(&env, &home_dir())?;
    super::ansible_cfg::apply(args, &cfg, &env, &home_dir())
}

fn home_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
}

/// The vault passwords, as Ansible gathers them: `--vault-id`s, `--vault-password-file`s
/// (ansible.cfg's and `ANSIBLE_VAULT_*`'s when the command line gives none), `--ask-vault-pass`.
pub fn vault_passwords(args: &TargetArgs) -> Result<Vec<VaultPassword>, String> {
    let mut out = Vec::new();
    for id in &args.vault_id {
        let (label, source) = match id.split_once('@') {
            Some((l, s)) => (Some(l.to_string()), s),
            None => (None, id.as_str()),
        };
        let password = match source {
            "prompt" => prompt_vault(label.as_deref())?,
            file => vault_password_file(Path::new(file))?,
        };
        out.push(VaultPassword { label, password });
    }
    for f in &args.vault_password_file {
        out.push(VaultPassword {
            label: None,
            password: vault_password_file(f)?,
        });
    }
    if args.ask_vault_pass {
        out.push(VaultPassword {
            label: None,
            password: prompt_vault(None)?,
        });
    }
    Ok(out)
}

fn prompt_vault(label: Option<&str>) -> Result<Secret, String> {
    let prompt = match label {
        Some(l) => format!("Vault password ({l}): "),
        None => "Vault password: ".into(),
    };
    secret::prompt_tty(&prompt).map_err(|e| format!("--ask-vault-pass: {e}"))
}

/// A vault password file's password: its first line, or, when the file is executable (a vault
/// password script, as Ansible allows), the first line it prints (run without arguments, with a
/// deadline). A file that cannot be read is an error naming it.
fn vault_password_file(f: &Path) -> Result<Secret, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(f)
        .map_err(|e| format!("cannot read vault password file {}: {e}", f.display()))?;
    if !meta.is_file() {
        return Err(format!("vault password file {} is not a file", f.display()));
    }
    let text = if meta.permissions().mode() & 0o111 != 0 {
        inventory::load::run_capture(f, &[])
            .map_err(|e| format!("vault password script {}: {e}", f.display()))?
    } else {
        std::fs::read_to_string(f)
            .map_err(|e| format!("cannot read vault password file {}: {e}", f.display()))?
    };
    let password = Secret::new(text).first_line();
    if password.expose().is_empty() {
        return Err(format!("vault password file {} is empty", f.display()));
    }
    Ok(password)
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
    let vault = vault_passwords(args)?;
    let inv = inventory::load::load(&args.inventory, &vault).map_err(|e| e.to_string())?;
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
    site_ssh_args: Option<&str>,
    inv: &inventory::Inventory,
    names: &[String],
) -> Result<Vec<Target>, String> {
    let home = home_dir();
    let defaults = targets::Defaults {
        ssh_args: site_ssh_args.map(String::from),
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
    let cfg = crate::reach::ssh_config::lookup(args.ssh_config.as_deref(), &home)?;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut out = Vec::new();
    for h in names {
        if !inv.has_host(h) {
            errors.push(format!("{h}: not in the inventory"));
            continue;
        }
        let vars = inventory::vars::host_vars(inv, h);
        match targets::build(h, &vars, cfg.as_ref(), &defaults, &mut warnings) {
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
fn check_scanners(ctx: &AuditContext, targets: &[Target]) -> Result<(), String> {
    let all_installed = targets.iter().all(|t| t.installed_scanner.is_some())
        || ctx.delivery.installed_scanner.is_some();
    if ctx.scanners.scanners.is_empty() && !all_installed {
        return Err("no scanner binaries found (embedded, beside this program, or --scanner-dir); build them with `cargo xtask scanners`".into());
    }
    Ok(())
}

/// The audit settings the command line gives.
fn audit_context(
    args: &TargetArgs,
    scanners: ScannerSet,
    rules: Option<String>,
    interactive: bool,
) -> AuditContext {
    AuditContext {
        scanners,
        delivery: DeliveryConfig {
            cache_dir: args.cache_dir.clone(),
            installed_scanner: args.installed_scanner.clone(),
            clean: false,
            command_timeout: Duration::from_secs(args.command_timeout),
            max_report_bytes: args.max_report_size,
        },
        rules,
        connector: Connector {
            ssh: SshContext::new(
                Duration::from_secs(args.connect_timeout.unwrap_or(10)),
                interactive,
            ),
            host_timeout: Duration::from_secs(args.host_timeout),
        },
        forks: args.forks.unwrap_or(50).max(1),
    }
}
