//! The site's Ansible settings: `ansible.cfg` and the `ANSIBLE_*` environment, for what they
//! say about reaching hosts, so that a site that runs Ansible needs no flag retyped.
//!
//! Precedence, as Ansible's: command-line flags > environment > ansible.cfg > defaults. The
//! file is the first of `$ANSIBLE_CONFIG`, `./ansible.cfg` (unless its directory is writable
//! by others, as Ansible refuses it), `~/.ansible.cfg`, `/etc/ansible/ansible.cfg`; only that
//! one is read. Pure but for [`find`] (which reads the file).

use crate::cli::TargetArgs;
use crate::reach::targets::HostKeyPolicy;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One setting: its ansible.cfg section and key, and its environment variable.
struct Setting {
    section: &'static str,
    key: &'static str,
    env: &'static str,
}

const fn s(section: &'static str, key: &'static str, env: &'static str) -> Setting {
    Setting { section, key, env }
}

const INVENTORY: Setting = s("defaults", "inventory", "ANSIBLE_INVENTORY");
const REMOTE_USER: Setting = s("defaults", "remote_user", "ANSIBLE_REMOTE_USER");
const PRIVATE_KEY: Setting = s("defaults", "private_key_file", "ANSIBLE_PRIVATE_KEY_FILE");
const HOST_KEY_CHECKING: Setting = s("defaults", "host_key_checking", "ANSIBLE_HOST_KEY_CHECKING");
const FORKS: Setting = s("defaults", "forks", "ANSIBLE_FORKS");
const TIMEOUT: Setting = s("defaults", "timeout", "ANSIBLE_TIMEOUT");
const VAULT_PASSWORD_FILE: Setting = s(
    "defaults",
    "vault_password_file",
    "ANSIBLE_VAULT_PASSWORD_FILE",
);
const VAULT_IDS: Setting = s(
    "defaults",
    "vault_identity_list",
    "ANSIBLE_VAULT_IDENTITY_LIST",
);
const BECOME: Setting = s("privilege_escalation", "become", "ANSIBLE_BECOME");
const BECOME_USER: Setting = s("privilege_escalation", "become_user", "ANSIBLE_BECOME_USER");
const BECOME_ASK_PASS: Setting = s(
    "privilege_escalation",
    "become_ask_pass",
    "ANSIBLE_BECOME_ASK_PASS",
);
const BECOME_METHOD: Setting = s(
    "privilege_escalation",
    "become_method",
    "ANSIBLE_BECOME_METHOD",
);
const SSH_COMMON_ARGS: Setting = s(
    "ssh_connection",
    "ssh_common_args",
    "ANSIBLE_SSH_COMMON_ARGS",
);
const SSH_EXTRA_ARGS: Setting = s("ssh_connection", "ssh_extra_args", "ANSIBLE_SSH_EXTRA_ARGS");

/// An ansible.cfg, parsed: `section → key → value` (INI, `#`/`;` comments, keys lower-cased).
#[derive(Debug, Default)]
pub struct Config {
    pub path: Option<PathBuf>,
    values: BTreeMap<(String, String), (String, usize)>,
}

/// Where a setting came from (for `--list-hosts -v` and the errors).
fn origin(cfg: &Config, st: &Setting, from_env: bool) -> String {
    if from_env {
        st.env.to_string()
    } else {
        let (_, line) = &cfg.values[&(st.section.to_string(), st.key.to_string())];
        format!(
            "{}:{line} ({} {})",
            cfg.path
                .as_deref()
                .unwrap_or(Path::new("ansible.cfg"))
                .display(),
            st.section,
            st.key
        )
    }
}

impl Config {
    /// Parses ansible.cfg text; a line that is neither a section, a `key = value` nor a
    /// comment is an error naming its line.
    pub fn parse(path: &Path, text: &str) -> Result<Config, String> {
        let mut values = BTreeMap::new();
        let mut section = String::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.trim().to_ascii_lowercase();
                continue;
            }
            let Some((k, v)) = line.split_once('=').or_else(|| line.split_once(':')) else {
                return Err(format!(
                    "{}:{}: expected `key = value` or `[section]`",
                    path.display(),
                    i + 1
                ));
            };
            // an inline comment after whitespace, as configparser's inline_comment_prefixes
            let v = v
                .split(" #")
                .next()
                .unwrap_or("")
                .split(" ;")
                .next()
                .unwrap_or("");
            values.insert(
                (section.clone(), k.trim().to_ascii_lowercase()),
                (v.trim().to_string(), i + 1),
            );
        }
        Ok(Config {
            path: Some(path.to_path_buf()),
            values,
        })
    }

    fn get(&self, st: &Setting) -> Option<&str> {
        self.values
            .get(&(st.section.to_string(), st.key.to_string()))
            .map(|(v, _)| v.as_str())
    }
}

/// The value of a setting from the environment, else the file: with whether it was the
/// environment. Empty values count as unset.
fn lookup<'a>(
    cfg: &'a Config,
    env: &'a BTreeMap<String, String>,
    st: &Setting,
) -> Option<(&'a str, bool)> {
    match env.get(st.env).filter(|v| !v.is_empty()) {
        Some(v) => Some((v.as_str(), true)),
        None => cfg.get(st).filter(|v| !v.is_empty()).map(|v| (v, false)),
    }
}

/// Ansible's booleans (`yes`, `true`, `1`, `on` and their opposites, any case).
fn boolean(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "t" | "1" | "on" => Some(true),
        "no" | "n" | "false" | "f" | "0" | "off" => Some(false),
        _ => None,
    }
}

/// A path setting: `~/` expanded; a relative path from the file is relative to the file's
/// directory (as Ansible resolves path settings), one from the environment to here.
fn path_of(cfg: &Config, v: &str, from_env: bool, home: &Path) -> PathBuf {
    let p = expand(v, home);
    match (&cfg.path, from_env) {
        (Some(file), false) if p.is_relative() => {
            let dir = file.parent().filter(|d| !d.as_os_str().is_empty());
            dir.map_or(p.clone(), |d| d.join(&p))
        }
        _ => p,
    }
}

fn expand(v: &str, home: &Path) -> PathBuf {
    match v.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(v),
    }
}

/// What the site's settings add to the command line's arguments (flags given win), with the
/// origin of each setting taken; `ssh_args` are the `ssh_common_args` and `ssh_extra_args`
/// that apply to every host whose inventory gives none.
pub struct Applied {
    pub args: TargetArgs,
    pub ssh_args: Option<String>,
    pub origins: Vec<String>,
}

/// Applies the environment and the file to `given` (pure).
pub fn apply(
    given: &TargetArgs,
    cfg: &Config,
    env: &BTreeMap<String, String>,
    home: &Path,
) -> Result<Applied, String> {
    let mut a = given.clone();
    let mut origins = Vec::new();
    let mut took = |st: &Setting, from_env: bool, what: &str| {
        origins.push(format!("{what} from {}", origin(cfg, st, from_env)));
    };
    let bad = |st: &Setting, from_env: bool, want: &str| {
        format!("{}: expected {want}", origin(cfg, st, from_env))
    };
    if a.inventory.is_empty() {
        if let Some((v, e)) = lookup(cfg, env, &INVENTORY) {
            a.inventory = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| path_of(cfg, s, e, home).display().to_string())
                .collect();
            took(&INVENTORY, e, "inventory");
        }
    }
    if a.user.is_none() {
        if let Some((v, e)) = lookup(cfg, env, &REMOTE_USER) {
            a.user = Some(v.to_string());
            took(&REMOTE_USER, e, "remote user");
        }
    }
    if a.private_key.is_none() {
        if let Some((v, e)) = lookup(cfg, env, &PRIVATE_KEY) {
            a.private_key = Some(path_of(cfg, v, e, home));
            took(&PRIVATE_KEY, e, "private key file");
        }
    }
    if a.host_key_checking.is_none() {
        if let Some((v, e)) = lookup(cfg, env, &HOST_KEY_CHECKING) {
            let on = boolean(v).ok_or_else(|| bad(&HOST_KEY_CHECKING, e, "a boolean"))?;
            // Ansible's True leaves OpenSSH's own setting: strict here
            a.host_key_checking = Some(if on {
                HostKeyPolicy::Strict
            } else {
                HostKeyPolicy::Off
            });
            took(&HOST_KEY_CHECKING, e, "host key checking");
        }
    }
    if a.forks.is_none() {
        if let Some((v, e)) = lookup(cfg, env, &FORKS) {
            a.forks = Some(v.parse().map_err(|_| bad(&FORKS, e, "a number of hosts"))?);
            took(&FORKS, e, "forks");
        }
    }
    if a.connect_timeout.is_none() {
        if let Some((v, e)) = lookup(cfg, env, &TIMEOUT) {
            a.connect_timeout = Some(v.parse().map_err(|_| bad(&TIMEOUT, e, "seconds"))?);
            took(&TIMEOUT, e, "connect timeout");
        }
    }
    apply_vault_and_become(&mut a, cfg, env, home, &mut took)?;
    let mut ssh_args = Vec::new();
    for st in [&SSH_COMMON_ARGS, &SSH_EXTRA_ARGS] {
        if let Some((v, e)) = lookup(cfg, env, st) {
            ssh_args.push(v.to_string());
            took(st, e, st.key);
        }
    }
    Ok(Applied {
        args: a,
        ssh_args: (!ssh_args.is_empty()).then(|| ssh_args.join(" ")),
        origins,
    })
}

/// The vault and become settings of [`apply`].
fn apply_vault_and_become(
    a: &mut TargetArgs,
    cfg: &Config,
    env: &BTreeMap<String, String>,
    home: &Path,
    took: &mut impl FnMut(&Setting, bool, &str),
) -> Result<(), String> {
    let bad = |st: &Setting, from_env: bool, want: &str| {
        format!("{}: expected {want}", origin(cfg, st, from_env))
    };
    if a.vault_password_file.is_empty() && a.vault_id.is_empty() && !a.ask_vault_pass {
        if let Some((v, e)) = lookup(cfg, env, &VAULT_PASSWORD_FILE) {
            a.vault_password_file = vec![path_of(cfg, v, e, home)];
            took(&VAULT_PASSWORD_FILE, e, "vault password file");
        }
        if let Some((v, e)) = lookup(cfg, env, &VAULT_IDS) {
            a.vault_id = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            took(&VAULT_IDS, e, "vault ids");
        }
    }
    if !a.become_ {
        if let Some((v, e)) = lookup(cfg, env, &BECOME) {
            a.become_ = boolean(v).ok_or_else(|| bad(&BECOME, e, "a boolean"))?;
            took(&BECOME, e, "become");
        }
    }
    if a.become_user.is_none() {
        if let Some((v, e)) = lookup(cfg, env, &BECOME_USER) {
            a.become_user = Some(v.to_string());
            took(&BECOME_USER, e, "become user");
        }
    }
    if !a.ask_become_pass {
        if let Some((v, e)) = lookup(cfg, env, &BECOME_ASK_PASS) {
            a.ask_become_pass = boolean(v).ok_or_else(|| bad(&BECOME_ASK_PASS, e, "a boolean"))?;
            took(&BECOME_ASK_PASS, e, "ask the become password");
        }
    }
    if let Some((v, e)) = lookup(cfg, env, &BECOME_METHOD) {
        if v != "sudo" {
            return Err(format!(
                "{}: become method {v:?}: only sudo is supported",
                origin(cfg, &BECOME_METHOD, e)
            ));
        }
    }
    Ok(())
}

/// The ansible.cfg Ansible would read here, if any (I/O).
pub fn find(env: &BTreeMap<String, String>, home: &Path) -> Result<Config, String> {
    use std::os::unix::fs::MetadataExt;
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = env.get("ANSIBLE_CONFIG").filter(|p| !p.is_empty()) {
        let p = expand(p, home);
        // a directory means its ansible.cfg
        candidates.push(if p.is_dir() { p.join("ansible.cfg") } else { p });
    }
    // Ansible ignores ./ansible.cfg in a directory others can write to
    let cwd_ok = std::fs::metadata(".").is_ok_and(|m| m.mode() & 0o002 == 0);
    if cwd_ok {
        candidates.push(PathBuf::from("ansible.cfg"));
    }
    candidates.push(home.join(".ansible.cfg"));
    candidates.push(PathBuf::from("/etc/ansible/ansible.cfg"));
    for p in candidates {
        if p.is_file() {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            return Config::parse(&p, &text);
        }
    }
    Ok(Config::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        t: TargetArgs,
    }

    fn args(a: &[&str]) -> TargetArgs {
        T::parse_from(std::iter::once("x").chain(a.iter().copied())).t
    }

    const CFG: &str = "[defaults]\ninventory = ~/inv/hosts.yml, extra.ini\nremote_user = deploy\nprivate_key_file = ~/.ssh/site_key\nhost_key_checking = False\nforks = 20  # a comment\ntimeout: 30\nvault_password_file = ~/.vault_pass\n\n[privilege_escalation]\nbecome = True\nbecome_user = admin\n\n[ssh_connection]\nssh_common_args = -o ProxyJump=bastion\n";

    #[test]
    fn flags_win_over_the_environment_which_wins_over_the_file() {
        let cfg = Config::parse(Path::new("/site/ansible.cfg"), CFG).unwrap();
        let home = Path::new("/home/me");
        let none = BTreeMap::new();
        let a = apply(&args(&[]), &cfg, &none, home).unwrap();
        // relative paths of the file are the file's directory's
        assert_eq!(
            a.args.inventory,
            ["/home/me/inv/hosts.yml", "/site/extra.ini"]
        );
        assert_eq!(a.args.user.as_deref(), Some("deploy"));
        assert_eq!(
            a.args.private_key,
            Some(PathBuf::from("/home/me/.ssh/site_key"))
        );
        assert_eq!(a.args.host_key_checking, Some(HostKeyPolicy::Off));
        assert_eq!((a.args.forks, a.args.connect_timeout), (Some(20), Some(30)));
        assert_eq!(
            a.args.vault_password_file,
            [PathBuf::from("/home/me/.vault_pass")]
        );
        assert!(a.args.become_);
        assert_eq!(a.args.become_user.as_deref(), Some("admin"));
        assert_eq!(a.ssh_args.as_deref(), Some("-o ProxyJump=bastion"));
        assert!(
            a.origins
                .iter()
                .any(|o| o == "remote user from /site/ansible.cfg:3 (defaults remote_user)"),
            "{:?}",
            a.origins
        );
        // the environment over the file, flags over both
        let env = BTreeMap::from([
            ("ANSIBLE_REMOTE_USER".to_string(), "ops".to_string()),
            ("ANSIBLE_FORKS".to_string(), "5".to_string()),
        ]);
        let a = apply(&args(&["-f", "7", "-i", "mine.yml"]), &cfg, &env, home).unwrap();
        assert_eq!(a.args.user.as_deref(), Some("ops"));
        assert_eq!(a.args.forks, Some(7));
        assert_eq!(a.args.inventory, ["mine.yml"]);
        assert!(a
            .origins
            .iter()
            .any(|o| o == "remote user from ANSIBLE_REMOTE_USER"));
        // a value of the wrong kind names where it came from
        let bad = Config::parse(Path::new("a.cfg"), "[defaults]\nforks = many\n").unwrap();
        let e = apply(&args(&[]), &bad, &none, home).err().unwrap();
        assert_eq!(e, "a.cfg:2 (defaults forks): expected a number of hosts");
        let e = Config::parse(Path::new("a.cfg"), "[defaults]\njunk\n").unwrap_err();
        assert_eq!(e, "a.cfg:2: expected `key = value` or `[section]`");
        let su = Config::parse(
            Path::new("a.cfg"),
            "[privilege_escalation]\nbecome_method = su\n",
        )
        .unwrap();
        assert!(apply(&args(&[]), &su, &none, home)
            .err()
            .unwrap()
            .contains("only sudo"));
    }
}
