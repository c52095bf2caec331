//! Targets: how to reach each selected host, from its inventory variables, `~/.ssh/config` and
//! the command line.
//!
//! Pure (the ssh config is parsed by the caller). Ansible variables win over `~/.ssh/config`,
//! which wins over defaults, as with Ansible driving OpenSSH. Every value that reaches a
//! connection or a command is validated here: a bad one is an input error naming the host and
//! the variable, before anything runs.

use crate::inventory::vars::{as_bool, as_string};
use crate::inventory::{is_valid_host_name, Vars};
use crate::reach::ssh_config::HostLookup;
use crate::secret::Secret;
pub use crate::transport::target::{Hop, HostKeyPolicy, SshTarget};
use std::path::PathBuf;

/// A `[user@]host[:port]` hop of ProxyJump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jump {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// This machine, through `sh -c`.
    Local,
    Ssh(SshTarget),
}

/// Privilege escalation with sudo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Become {
    pub user: String,
    pub password: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The inventory name (what reports and patterns use).
    pub name: String,
    pub connection: Connection,
    pub become_: Option<Become>,
    /// A scanner already installed on the host (`fleetrestart_scanner`).
    pub installed_scanner: Option<String>,
}

/// Settings from the command line that apply to every target.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// The local user name (login default when nothing else says).
    pub local_user: String,
    pub home: PathBuf,
    pub user: Option<String>,
    pub private_key: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub host_key_policy: Option<HostKeyPolicy>,
    pub become_: bool,
    pub become_user: Option<String>,
    pub become_password: Option<Secret>,
    /// ssh arguments of the site's Ansible settings (`ssh_common_args`, `ssh_extra_args`),
    /// for hosts whose inventory gives none.
    pub ssh_args: Option<String>,
}

/// Login and become user names: the POSIX portable set, not starting with `-`.
pub fn is_valid_user_name(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= 64
        && !u.starts_with('-')
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-$".contains(&b))
}

/// Parses `[user@]host[:port]` (also `ssh://[user@]host[:port]`).
pub fn parse_jump(s: &str) -> Result<Jump, String> {
    let s = s.strip_prefix("ssh://").unwrap_or(s);
    let (user, rest) = match s.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, s),
    };
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, p) = r
            .split_once(']')
            .ok_or_else(|| format!("jump host {s:?}: missing ']'"))?;
        (h.to_string(), p.strip_prefix(':'))
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (rest.to_string(), None),
        }
    };
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| format!("jump host {s:?}: {p:?} is not a port"))?,
        ),
        None => None,
    };
    if !is_valid_host_name(&host) {
        return Err(format!("jump host {s:?}: invalid host name"));
    }
    if let Some(u) = &user {
        if !is_valid_user_name(u) {
            return Err(format!("jump host {s:?}: invalid user name"));
        }
    }
    Ok(Jump { user, host, port })
}

/// What we understood from `ansible_ssh_common_args` / `ansible_ssh_extra_args`.
#[derive(Debug, Default, PartialEq)]
struct SshArgs {
    jumps: Vec<Jump>,
    port: Option<u16>,
    user: Option<String>,
    identity: Option<String>,
    /// `UserKnownHostsFile` values (several may be given, as in OpenSSH).
    known_hosts: Option<Vec<String>>,
    policy: Option<HostKeyPolicy>,
    ignored: Vec<String>,
}

fn policy_word(v: &str) -> Option<HostKeyPolicy> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "ask" => Some(HostKeyPolicy::Strict),
        "accept-new" => Some(HostKeyPolicy::AcceptNew),
        "no" | "off" | "false" => Some(HostKeyPolicy::Off),
        _ => None,
    }
}

/// A `ProxyCommand` of the classic form `ssh [-q] [-p P] [-l U] -W %h:%p [user@]bastion`.
fn proxy_command_jump(cmd: &str) -> Option<Jump> {
    let words = crate::shell::shlex_split(cmd).ok()?;
    if words.first().map(|w| w.rsplit('/').next() == Some("ssh")) != Some(true)
        || !words.iter().any(|w| w == "-W")
    {
        return None;
    }
    let (mut port, mut user, mut host) = (None, None, None);
    let mut it = words[1..].iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "-p" => port = it.next().and_then(|p| p.parse().ok()),
            "-l" => user = it.next().cloned(),
            "-W" | "-i" | "-o" | "-F" | "-J" => {
                it.next();
            }
            w if w.starts_with('-') => {}
            w => host = Some(w.to_string()),
        }
    }
    let mut j = parse_jump(&host?).ok()?;
    j.port = j.port.or(port);
    j.user = j.user.or(user);
    Some(j)
}

fn parse_ssh_args(args: &str) -> Result<SshArgs, String> {
    let words = crate::shell::shlex_split(args)?;
    let mut out = SshArgs::default();
    let mut it = words.into_iter();
    while let Some(w) = it.next() {
        let mut take = |flag: &str| -> Result<String, String> {
            if w.len() > flag.len() {
                Ok(w[flag.len()..].to_string())
            } else {
                it.next().ok_or_else(|| format!("{flag} needs a value"))
            }
        };
        if w.starts_with("-o") {
            let opt = take("-o")?;
            let (k, v) = opt
                .split_once(['=', ' '])
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                .ok_or_else(|| format!("-o {opt:?}: expected Option=value"))?;
            match k.as_str() {
                "proxyjump" => {
                    for j in v.split(',') {
                        out.jumps.push(parse_jump(j.trim())?);
                    }
                }
                "proxycommand" => match proxy_command_jump(&v) {
                    Some(j) => out.jumps.push(j),
                    None => {
                        return Err(format!(
                            "ProxyCommand {v:?} is not supported (use ProxyJump, or ProxyCommand=\"ssh -W %h:%p [user@]jumphost\")"
                        ))
                    }
                },
                "stricthostkeychecking" => {
                    out.policy = Some(
                        policy_word(&v)
                            .ok_or_else(|| format!("StrictHostKeyChecking {v:?}: expected yes, accept-new or no"))?,
                    )
                }
                "userknownhostsfile" => {
                    out.known_hosts = Some(v.split_whitespace().map(String::from).collect())
                }
                "port" => out.port = Some(v.parse().map_err(|_| format!("Port {v:?} is not a port"))?),
                "user" => out.user = Some(v),
                "identityfile" => out.identity = Some(v),
                _ => out.ignored.push(format!("-o {opt}")),
            }
        } else if w.starts_with("-J") {
            for j in take("-J")?.split(',') {
                out.jumps.push(parse_jump(j.trim())?);
            }
        } else if w.starts_with("-p") {
            let p = take("-p")?;
            out.port = Some(p.parse().map_err(|_| format!("-p {p:?} is not a port"))?);
        } else if w.starts_with("-l") {
            out.user = Some(take("-l")?);
        } else if w.starts_with("-i") {
            out.identity = Some(take("-i")?);
        } else {
            out.ignored.push(w);
        }
    }
    Ok(out)
}

fn expand_home(p: &str, home: &std::path::Path) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(p),
    }
}

/// Builds the target for `name` from its variables. Warnings (ignored ssh options) are pushed.
/// How a target is reached, in one line (`--list-hosts -v`): never a password, only whether
/// there is one.
pub fn describe(t: &Target) -> String {
    let mut out = match &t.connection {
        Connection::Local => "local".to_string(),
        Connection::Ssh(s) => {
            let hop = |h: &Hop| format!("{}@{}:{}", h.user, h.address, h.port);
            let mut o = format!("ssh {}", hop(&s.hop));
            let keys: Vec<String> = s
                .hop
                .identity_files
                .iter()
                .map(|k| k.display().to_string())
                .collect();
            o += &format!(" keys [{}]", keys.join(", "));
            if !s.jumps.is_empty() {
                let j: Vec<String> = s.jumps.iter().map(hop).collect();
                o += &format!(" via {}", j.join(" then "));
            }
            o
        }
    };
    if let Some(b) = &t.become_ {
        out += &format!(
            " become {} ({})",
            b.user,
            if b.password.is_some() {
                "with a password"
            } else {
                "no password"
            }
        );
    }
    out
}

/// The host variables a target is made of (the others are never looked at, so a vaulted or
/// templated one the tool does not use cannot fail a host).
pub const USED_VARS: &[&str] = &[
    "ansible_connection",
    "ansible_host",
    "ansible_ssh_host",
    "ansible_port",
    "ansible_ssh_port",
    "ansible_user",
    "ansible_ssh_user",
    "ansible_ssh_private_key_file",
    "ansible_private_key_file",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
    "ansible_become",
    "ansible_become_method",
    "ansible_become_user",
    "ansible_become_password",
    "ansible_become_pass",
    "fleetrestart_scanner",
];

pub fn build(
    name: &str,
    vars: &Vars,
    ssh_config: &dyn HostLookup,
    d: &Defaults,
    warnings: &mut Vec<String>,
) -> Result<Target, String> {
    // `{{ name }}` references resolved (Ansible's magic inventory_hostname and
    // inventory_hostname_short among them), vaulted values opened; anything else is an error
    let mut with_magic = vars.clone();
    with_magic.insert("inventory_hostname".into(), name.into());
    let short = name.split('.').next().unwrap_or(name);
    with_magic.insert("inventory_hostname_short".into(), short.into());
    let vars = &crate::inventory::template::resolve_used(&with_magic, USED_VARS)
        .map_err(|e| format!("host {name}: {e}"))?;
    let get = |k: &str| as_string(vars.get(k));
    let var_err = |k: &str, m: String| format!("host {name}: {k}: {m}");
    let connection = get("ansible_connection").unwrap_or_else(|| "ssh".into());
    let become_on = match vars.get("ansible_become") {
        Some(v) => as_bool(v).map_err(|m| var_err("ansible_become", m))?,
        None => d.become_,
    };
    let become_ = if become_on {
        let method = get("ansible_become_method").unwrap_or_else(|| "sudo".into());
        if method != "sudo" {
            return Err(var_err(
                "ansible_become_method",
                format!("{method:?} is not supported (only sudo)"),
            ));
        }
        let user = get("ansible_become_user")
            .or(d.become_user.clone())
            .unwrap_or_else(|| "root".into());
        if !is_valid_user_name(&user) {
            return Err(var_err(
                "ansible_become_user",
                format!("invalid user name {user:?}"),
            ));
        }
        let password = get("ansible_become_password")
            .or(get("ansible_become_pass"))
            .map(Secret::new)
            .or(d.become_password.clone());
        Some(Become { user, password })
    } else {
        None
    };
    let installed_scanner = get("fleetrestart_scanner");
    if let Some(p) = &installed_scanner {
        if !p.starts_with('/') || p.contains('\n') {
            return Err(var_err(
                "fleetrestart_scanner",
                format!("{p:?} must be an absolute path"),
            ));
        }
    }
    let connection = match connection.as_str() {
        "local" => Connection::Local,
        "ssh" | "smart" | "paramiko" | "paramiko_ssh" => {
            Connection::Ssh(build_ssh(name, vars, ssh_config, d, warnings)?)
        }
        other => {
            return Err(var_err(
                "ansible_connection",
                format!("{other:?} is not supported (ssh or local)"),
            ))
        }
    };
    Ok(Target {
        name: name.to_string(),
        connection,
        become_,
        installed_scanner,
    })
}

/// The ssh options of `ansible_ssh_common_args` then `ansible_ssh_extra_args`, the later
/// winning; what is not understood is named in a warning.
fn ssh_args(
    name: &str,
    vars: &Vars,
    d: &Defaults,
    warnings: &mut Vec<String>,
) -> Result<SshArgs, String> {
    let mut args = SshArgs::default();
    let keys = ["ansible_ssh_common_args", "ansible_ssh_extra_args"];
    let site = keys
        .iter()
        .all(|k| vars.get(*k).is_none())
        .then_some(d.ssh_args.clone())
        .flatten();
    let given = keys.iter().map(|k| (*k, as_string(vars.get(*k))));
    let site = site.map(|s| ("ssh args of ansible.cfg", Some(s)));
    for (k, a) in given.chain(site) {
        if let Some(a) = a {
            let more = parse_ssh_args(&a).map_err(|m| format!("host {name}: {k}: {m}"))?;
            args.jumps.extend(more.jumps);
            args.port = more.port.or(args.port);
            args.user = more.user.or(args.user);
            args.identity = more.identity.or(args.identity);
            args.known_hosts = more.known_hosts.or(args.known_hosts);
            args.policy = more.policy.or(args.policy);
            for i in more.ignored {
                warnings.push(format!("host {name}: {k}: ignoring {i:?}"));
            }
        }
    }
    Ok(args)
}

/// The key files to try, in order (inventory, ssh args, command line, ssh config), and
/// whether any was named; else the default `~/.ssh/id_*` files.
fn identity_files(
    vars: &Vars,
    args: &SshArgs,
    d: &Defaults,
    cfg: &ssh2_config::HostParams,
) -> (Vec<PathBuf>, bool) {
    let get = |k: &str| as_string(vars.get(k));
    let mut files = Vec::new();
    if let Some(k) = get("ansible_ssh_private_key_file").or(get("ansible_private_key_file")) {
        files.push(expand_home(&k, &d.home));
    }
    files.extend(args.identity.as_deref().map(|k| expand_home(k, &d.home)));
    files.extend(d.private_key.clone());
    files.extend(cfg.identity_file.clone().unwrap_or_default());
    let named = !files.is_empty();
    if !named {
        for k in ["id_ed25519", "id_ecdsa", "id_rsa"] {
            files.push(d.home.join(".ssh").join(k));
        }
    }
    (files, named)
}

/// The known_hosts files, as OpenSSH reads them: every user file (the first records new
/// keys), then the global files, which a user file never replaces.
fn known_hosts_files(d: &Defaults, args: &SshArgs, cfg: &ssh2_config::HostParams) -> Vec<PathBuf> {
    let all = |k: &str| {
        cfg.unsupported_fields
            .get(k)
            .cloned()
            .filter(|v| !v.is_empty())
    };
    let mut known_hosts: Vec<PathBuf> = match (&d.known_hosts, &args.known_hosts) {
        (Some(k), _) => vec![k.clone()],
        (None, Some(v)) => v.iter().map(|k| expand_home(k, &d.home)).collect(),
        (None, None) => match all("userknownhostsfile") {
            Some(v) => v.iter().map(|k| expand_home(k, &d.home)).collect(),
            None => vec![
                d.home.join(".ssh/known_hosts"),
                d.home.join(".ssh/known_hosts2"),
            ],
        },
    };
    match all("globalknownhostsfile") {
        Some(v) => known_hosts.extend(v.iter().map(|k| expand_home(k, &d.home))),
        None => known_hosts.extend([
            PathBuf::from("/etc/ssh/ssh_known_hosts"),
            PathBuf::from("/etc/ssh/ssh_known_hosts2"),
        ]),
    }
    known_hosts
}

fn build_ssh(
    name: &str,
    vars: &Vars,
    ssh_config: &dyn HostLookup,
    d: &Defaults,
    warnings: &mut Vec<String>,
) -> Result<SshTarget, String> {
    let get = |k: &str| as_string(vars.get(k));
    let var_err = |k: &str, m: String| format!("host {name}: {k}: {m}");
    let args = ssh_args(name, vars, d, warnings)?;
    let host_arg = get("ansible_host")
        .or(get("ansible_ssh_host"))
        .unwrap_or_else(|| name.to_string());
    if !is_valid_host_name(&host_arg) {
        return Err(var_err(
            "ansible_host",
            format!("invalid host name or address {host_arg:?}"),
        ));
    }
    let cfg = ssh_config.query(&host_arg);
    let address = cfg.host_name.clone().unwrap_or(host_arg);
    if !is_valid_host_name(&address) {
        return Err(format!(
            "host {name}: ssh config HostName {address:?} is not a valid host name"
        ));
    }
    let port = match get("ansible_port").or(get("ansible_ssh_port")) {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| var_err("ansible_port", format!("{p:?} is not a port number")))?,
        None => args.port.or(cfg.port).unwrap_or(22),
    };
    let user = get("ansible_user")
        .or(get("ansible_ssh_user"))
        .or(args.user.clone())
        .or(d.user.clone())
        .or(cfg.user.clone())
        .unwrap_or_else(|| d.local_user.clone());
    if !is_valid_user_name(&user) {
        return Err(var_err(
            "ansible_user",
            format!("invalid user name {user:?}"),
        ));
    }
    let (identity_files, keys_named) = identity_files(vars, &args, d, &cfg);
    let mut jump_specs = args.jumps.clone();
    if jump_specs.is_empty() {
        for j in cfg.proxy_jump.clone().unwrap_or_default() {
            if j.eq_ignore_ascii_case("none") {
                continue;
            }
            jump_specs.push(
                parse_jump(&j).map_err(|m| format!("host {name}: ssh config ProxyJump: {m}"))?,
            );
        }
    }
    // a jump host's settings come from its spec, then its own ssh config entry; it uses the
    // target's keys when its entry names none
    let jumps: Vec<Hop> = jump_specs
        .iter()
        .map(|j| {
            let jc = ssh_config.query(&j.host);
            Hop {
                address: jc.host_name.clone().unwrap_or_else(|| j.host.clone()),
                port: j.port.or(jc.port).unwrap_or(22),
                user: j
                    .user
                    .clone()
                    .or(jc.user.clone())
                    .unwrap_or_else(|| d.local_user.clone()),
                keys_named: jc.identity_file.as_ref().is_some_and(|v| !v.is_empty()) || keys_named,
                identity_files: jc
                    .identity_file
                    .clone()
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| identity_files.clone()),
            }
        })
        .collect();
    let unsupported = |k: &str| {
        cfg.unsupported_fields
            .get(k)
            .and_then(|v| v.first().cloned())
    };
    let policy = d
        .host_key_policy
        .or(args.policy)
        .or(unsupported("stricthostkeychecking").and_then(|v| policy_word(&v)))
        .unwrap_or(HostKeyPolicy::Strict);
    let known_hosts = known_hosts_files(d, &args, &cfg);
    Ok(SshTarget {
        hop: Hop {
            address,
            port,
            user,
            identity_files,
            keys_named,
        },
        jumps,
        known_hosts,
        host_key_policy: policy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use ssh2_config::SshConfig;
    use std::io::BufReader;

    fn defaults() -> Defaults {
        Defaults {
            local_user: "me".into(),
            home: PathBuf::from("/home/me"),
            user: None,
            private_key: None,
            known_hosts: None,
            host_key_policy: None,
            become_: false,
            become_user: None,
            become_password: None,
            ssh_args: None,
        }
    }

    fn cfg(text: &str) -> SshConfig {
        SshConfig::default()
            .home_dir("/home/me")
            .parse(
                &mut BufReader::new(text.as_bytes()),
                ssh2_config::ParseRule::ALLOW_UNKNOWN_FIELDS
                    | ssh2_config::ParseRule::ALLOW_UNSUPPORTED_FIELDS,
            )
            .unwrap()
    }

    fn vars(v: serde_json::Value) -> Vars {
        v.as_object().unwrap().clone()
    }

    fn ssh(t: &Target) -> &SshTarget {
        match &t.connection {
            Connection::Ssh(s) => s,
            Connection::Local => panic!("local"),
        }
    }

    #[test]
    fn every_variable_read_here_is_resolved_first() {
        // the variables this file reads are the ones `build` resolves (templates, vaults)
        let src = include_str!("targets.rs");
        let src = &src[..src.find("#[cfg(test)]").unwrap()];
        for part in src.split("get(\"").skip(1) {
            let k = &part[..part.find('"').unwrap()];
            assert!(USED_VARS.contains(&k), "{k} is read but not in USED_VARS");
        }
    }

    #[test]
    fn a_become_password_through_a_reference_is_the_referenced_value_never_the_text() {
        let mut w = Vec::new();
        let d = Defaults {
            become_: true,
            ..defaults()
        };
        let v = vars(json!({
            "ansible_become_password": "{{ vault_become_password }}",
            "vault_become_password": "s3cret",
        }));
        let t = build("h", &v, &cfg(""), &d, &mut w).unwrap();
        let p = t.become_.unwrap().password.unwrap();
        assert_eq!(p.expose(), "s3cret");
        // referring to what is not there (a vault file no password opened) fails the host
        let v = vars(json!({"ansible_become_password": "{{ vault_become_password }}"}));
        let e = build("h", &v, &cfg(""), &d, &mut w).unwrap_err();
        assert_eq!(
            e,
            "host h: ansible_become_password: refers to vault_become_password, which is not defined for this host"
        );
        let v = vars(
            json!({"ansible_user": {crate::inventory::vault::VAULTED: "g.yml:2: vault-encrypted, and no vault password was given"}}),
        );
        let e = build("h", &v, &cfg(""), &d, &mut w).unwrap_err();
        assert!(
            e.starts_with("host h: ansible_user: vaulted in g.yml:2"),
            "{e}"
        );
        // Ansible's magic variable for the host's own name (newcomer B15)
        let v = vars(json!({"ansible_host": "{{ inventory_hostname }}.example.org"}));
        let t = build("web1", &v, &cfg(""), &d, &mut w).unwrap();
        assert_eq!(ssh(&t).hop.address, "web1.example.org");
    }

    #[test]
    fn ansible_vars_win_over_ssh_config() {
        let c = cfg("Host web1\n  HostName 10.0.0.1\n  User cfguser\n  Port 2200\n  IdentityFile ~/.ssh/cfgkey\n  StrictHostKeyChecking accept-new\n  UserKnownHostsFile ~/.ssh/kh\n");
        let mut w = Vec::new();
        let t = build("web1", &Vars::new(), &c, &defaults(), &mut w).unwrap();
        let s = ssh(&t);
        assert_eq!(
            (s.hop.address.as_str(), s.hop.port, s.hop.user.as_str()),
            ("10.0.0.1", 2200, "cfguser")
        );
        assert_eq!(
            s.hop.identity_files,
            [PathBuf::from("/home/me/.ssh/cfgkey")]
        );
        assert_eq!(s.host_key_policy, HostKeyPolicy::AcceptNew);
        assert_eq!(
            s.known_hosts,
            [
                PathBuf::from("/home/me/.ssh/kh"),
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
                PathBuf::from("/etc/ssh/ssh_known_hosts2")
            ]
        );
        let t = build(
            "web1",
            &vars(json!({"ansible_host": "10.9.9.9", "ansible_port": "2222", "ansible_user": "ops", "ansible_ssh_private_key_file": "~/k"})),
            &c,
            &defaults(),
            &mut w,
        )
        .unwrap();
        let s = ssh(&t);
        // HostName is looked up by the ansible_host value, like ssh does
        assert_eq!(
            (s.hop.address.as_str(), s.hop.port, s.hop.user.as_str()),
            ("10.9.9.9", 2222, "ops")
        );
        assert_eq!(s.hop.identity_files[0], PathBuf::from("/home/me/k"));
    }

    #[test]
    fn known_hosts_files_as_openssh_consults_them() {
        // the global file was dropped when a user file was given, only the first
        // UserKnownHostsFile counted, and ~ in ansible args was not expanded
        let mut w = Vec::new();
        let t = build(
            "h",
            &vars(json!({"ansible_ssh_common_args": "-o UserKnownHostsFile='~/.ssh/kh ~/.ssh/kh2' -i ~/.ssh/k"})),
            &cfg(""),
            &defaults(),
            &mut w,
        )
        .unwrap();
        let s = ssh(&t);
        let p = |x: &str| PathBuf::from(x);
        assert_eq!(
            s.known_hosts,
            [
                p("/home/me/.ssh/kh"),
                p("/home/me/.ssh/kh2"),
                p("/etc/ssh/ssh_known_hosts"),
                p("/etc/ssh/ssh_known_hosts2")
            ]
        );
        assert_eq!(s.hop.identity_files[0], p("/home/me/.ssh/k"));
        assert!(s.hop.keys_named, "a named key goes before the agent's");
        let t = build("h", &Vars::new(), &cfg(""), &defaults(), &mut w).unwrap();
        assert!(
            !ssh(&t).hop.keys_named,
            "the default key files come after the agent"
        );
        let mut d = defaults();
        d.known_hosts = Some(p("/tmp/kh"));
        let c = cfg(
            "Host *\n  GlobalKnownHostsFile /etc/kh_a /etc/kh_b\n  UserKnownHostsFile ~/a ~/b\n",
        );
        let t = build("h", &Vars::new(), &c, &d, &mut w).unwrap();
        assert_eq!(
            ssh(&t).known_hosts,
            [p("/tmp/kh"), p("/etc/kh_a"), p("/etc/kh_b")]
        );
        let t = build("h", &Vars::new(), &c, &defaults(), &mut w).unwrap();
        assert_eq!(
            ssh(&t).known_hosts,
            [
                p("/home/me/a"),
                p("/home/me/b"),
                p("/etc/kh_a"),
                p("/etc/kh_b")
            ]
        );
        let t = build("h", &Vars::new(), &cfg(""), &defaults(), &mut w).unwrap();
        assert_eq!(
            ssh(&t).known_hosts,
            [
                p("/home/me/.ssh/known_hosts"),
                p("/home/me/.ssh/known_hosts2"),
                p("/etc/ssh/ssh_known_hosts"),
                p("/etc/ssh/ssh_known_hosts2")
            ]
        );
    }

    #[test]
    fn proxy_jump_forms() {
        let c = cfg("");
        let mut w = Vec::new();
        for args in [
            "-o ProxyJump=ops@bastion:2201",
            "-J ops@bastion:2201",
            "-o ProxyCommand=\"ssh -W %h:%p -q -p 2201 ops@bastion\"",
            "-oProxyJump=ops@bastion:2201 -o ServerAliveInterval=5",
        ] {
            let t = build(
                "h",
                &vars(json!({"ansible_ssh_common_args": args})),
                &c,
                &defaults(),
                &mut w,
            )
            .unwrap();
            let j = &ssh(&t).jumps;
            assert_eq!(j.len(), 1, "{args}");
            assert_eq!(
                (j[0].user.as_str(), j[0].address.as_str(), j[0].port),
                ("ops", "bastion", 2201),
                "{args}"
            );
        }
        assert_eq!(
            w,
            ["host h: ansible_ssh_common_args: ignoring \"-o ServerAliveInterval=5\""]
        );
        let e = build(
            "h",
            &vars(json!({"ansible_ssh_common_args": "-o ProxyCommand='nc %h %p'"})),
            &c,
            &defaults(),
            &mut w,
        )
        .unwrap_err();
        assert!(e.contains("not supported"), "{e}");
    }

    #[test]
    fn become_and_connection() {
        let c = cfg("");
        let mut w = Vec::new();
        let t = build(
            "h",
            &vars(json!({"ansible_become": "yes", "ansible_become_pass": "pw"})),
            &c,
            &defaults(),
            &mut w,
        )
        .unwrap();
        let b = t.become_.unwrap();
        assert_eq!(b.user, "root");
        assert_eq!(b.password.unwrap().expose(), "pw");
        let t = build(
            "h",
            &vars(json!({"ansible_connection": "local"})),
            &c,
            &defaults(),
            &mut w,
        )
        .unwrap();
        assert_eq!(t.connection, Connection::Local);
        assert!(t.become_.is_none());
        for (v, what) in [
            (json!({"ansible_become": "perhaps"}), "not a boolean"),
            (
                json!({"ansible_become": true, "ansible_become_method": "su"}),
                "only sudo",
            ),
            (json!({"ansible_connection": "winrm"}), "not supported"),
            (json!({"ansible_port": "22x"}), "not a port"),
            (
                json!({"ansible_user": "-oProxyCommand=x"}),
                "invalid user name",
            ),
            (json!({"ansible_host": "a b"}), "invalid host name"),
            (
                json!({"ansible_become": 1, "ansible_become_user": "root;id"}),
                "invalid user name",
            ),
        ] {
            let e = build("h", &vars(v.clone()), &c, &defaults(), &mut w).unwrap_err();
            assert!(e.contains(what) && e.starts_with("host h: "), "{v}: {e}");
        }
    }

    #[test]
    fn defaults_apply_last() {
        let c = cfg("");
        let mut w = Vec::new();
        let t = build("h", &Vars::new(), &c, &defaults(), &mut w).unwrap();
        let s = ssh(&t);
        assert_eq!(
            (s.hop.address.as_str(), s.hop.port, s.hop.user.as_str()),
            ("h", 22, "me")
        );
        assert_eq!(s.hop.identity_files.len(), 3);
        assert_eq!(s.host_key_policy, HostKeyPolicy::Strict);
    }
}
