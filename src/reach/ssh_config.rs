//! `~/.ssh/config`, resolved per host as OpenSSH resolves it. A config that uses what the
//! built-in parser (ssh2-config) does not know (`Match`, `Include`, `%` tokens) is resolved by
//! OpenSSH itself (`ssh -G`, once per distinct host) when it is installed here; otherwise, and
//! for plain configs, the built-in parser reads it, with `Match` blocks blanked out (their
//! options apply to no host, with a warning). The file is read once.
//!
//! I/O: reads the config file and runs `ssh -G`; the parsing is pure.

use ssh2_config::{HostParams, SshConfig};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Where a host's ssh settings come from.
pub trait HostLookup {
    /// The settings for `host` (a validated host name or address).
    fn query(&self, host: &str) -> HostParams;
}

impl HostLookup for SshConfig {
    fn query(&self, host: &str) -> HostParams {
        SshConfig::query(self, host)
    }
}

/// OpenSSH's own resolution, `ssh -G [-F FILE] HOST`, asked once per host.
pub struct OpenSsh {
    file: Option<PathBuf>,
    home: PathBuf,
    /// For a host `ssh -G` cannot answer for (it failed): the built-in parser's answer.
    fallback: SshConfig,
    cache: Mutex<HashMap<String, HostParams>>,
}

impl HostLookup for OpenSsh {
    fn query(&self, host: &str) -> HostParams {
        if let Some(p) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(host)
        {
            return p.clone();
        }
        let mut args: Vec<String> = vec!["-G".into()];
        if let Some(f) = &self.file {
            args.push("-F".into());
            args.push(f.display().to_string());
        }
        args.push("--".into());
        args.push(host.into());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let p = match crate::inventory::load::run_capture(Path::new(SSH), &argv) {
            Ok(out) => from_ssh_g(&out, self.fallback.query(host), &self.home),
            Err(e) => {
                say!("[WARNING]: `ssh -G {host}` failed ({e}): the built-in ssh config parser answers for it");
                self.fallback.query(host)
            }
        };
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(host.into(), p.clone());
        p
    }
}

const SSH: &str = "/usr/bin/ssh";

/// OpenSSH's default identity files, which `ssh -G` lists when the config names none.
const DEFAULT_IDENTITIES: &[&str] = &[
    "id_rsa",
    "id_ecdsa",
    "id_ecdsa_sk",
    "id_ed25519",
    "id_ed25519_sk",
    "id_xmss",
    "id_dsa",
];

/// `ssh -G` output (`key value` lines, keys lower-case) over `base` (the same host's
/// defaults): host name, user, port, identity files (none when only OpenSSH's defaults are
/// listed), ProxyJump, certificate file, and the host key checking settings. Pure.
pub fn from_ssh_g(text: &str, mut base: HostParams, home: &Path) -> HostParams {
    let expand = |v: &str| match v.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(v),
    };
    let mut identities = Vec::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(' ') else {
            continue;
        };
        let v = v.trim();
        match k {
            "hostname" => base.host_name = Some(v.into()),
            "user" => base.user = Some(v.into()),
            "port" => base.port = v.parse().ok(),
            "identityfile" => identities.push(v.to_string()),
            "proxyjump" if v != "none" => {
                base.proxy_jump = Some(v.split(',').map(String::from).collect())
            }
            "certificatefile" => base.certificate_file = Some(expand(v)),
            "stricthostkeychecking" | "userknownhostsfile" | "globalknownhostsfile" => {
                let words = v.split_whitespace().map(String::from).collect();
                base.unsupported_fields.insert(k.into(), words);
            }
            _ => {}
        }
    }
    let defaults_only = identities.iter().all(|i| {
        i.strip_prefix("~/.ssh/")
            .is_some_and(|n| DEFAULT_IDENTITIES.contains(&n))
    });
    base.identity_file = (!defaults_only).then(|| identities.iter().map(|i| expand(i)).collect());
    base
}

/// Whether a config uses what only OpenSSH resolves: `Match` or `Include` lines, `%` tokens.
fn needs_openssh(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        let word = l
            .split(|c: char| c.is_whitespace() || c == '=')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        !l.starts_with('#') && (word == "match" || word == "include" || l.contains('%'))
    })
}

/// The ssh config of every target: OpenSSH's resolution when the file needs it and `ssh` is
/// here, else the built-in parser's (see the module's head).
pub fn lookup(path: Option<&Path>, home: &Path) -> Result<Box<dyn HostLookup + Sync>, String> {
    let file = match path {
        Some(p) => Some(p.to_path_buf()),
        None => Some(home.join(".ssh/config")).filter(|p| p.is_file()),
    };
    let text = match &file {
        Some(f) => std::fs::read_to_string(f)
            .map_err(|e| format!("cannot read ssh config {}: {e}", f.display()))?,
        None => String::new(),
    };
    if needs_openssh(&text) && Path::new(SSH).is_file() {
        let (plain, _) = without_match_blocks(&text);
        let fallback = parse_ssh_config(&plain, home).unwrap_or_default();
        return Ok(Box::new(OpenSsh {
            // `-F` only for a file named on the command line: without it OpenSSH reads
            // ~/.ssh/config and the system's /etc/ssh/ssh_config, as `ssh` would
            file: path.map(Path::to_path_buf),
            home: home.to_path_buf(),
            fallback,
            cache: Mutex::new(HashMap::new()),
        }));
    }
    Ok(Box::new(built_in(&text, file.as_deref(), home)?))
}

/// `text` (of `file`, if any) read by the built-in parser; `Match` blocks are skipped with a
/// warning naming their line.
fn built_in(text: &str, file: Option<&Path>, home: &Path) -> Result<SshConfig, String> {
    let Some(file) = file else {
        return Ok(SshConfig::default());
    };
    let (text, skipped) = without_match_blocks(text);
    for line in skipped {
        say!(
            "[WARNING]: {}:{line}: `Match` block skipped (not supported): its options apply to no host",
            file.display()
        );
    }
    parse_ssh_config(&text, home).map_err(|e| format!("ssh config {}: {e}", file.display()))
}

/// Parses ssh config text as ssh2-config does, keeping unknown and unsupported options.
pub fn parse_ssh_config(
    text: &str,
    home: &Path,
) -> Result<ssh2_config::SshConfig, ssh2_config::SshParserError> {
    ssh2_config::SshConfig::default().home_dir(home).parse(
        &mut std::io::BufReader::new(text.as_bytes()),
        ssh2_config::ParseRule::ALLOW_UNKNOWN_FIELDS
            | ssh2_config::ParseRule::ALLOW_UNSUPPORTED_FIELDS,
    )
}

/// The config with every `Match` block blanked out (its lines kept empty, so line numbers stay
/// true), and the line numbers of the `Match` lines. ssh2-config does not know `Match`: it would
/// apply the block's options to the `Host` block before it. A block ends at the next
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

#[cfg(test)]
mod openssh_tests {
    use super::*;

    #[test]
    fn ssh_g_output_becomes_the_hosts_settings_with_defaults_left_unnamed() {
        let home = Path::new("/home/me");
        let base = SshConfig::default().query("db1");
        let out = "user ops\nhostname db1.internal\nport 2200\nidentityfile ~/.ssh/db_key\nproxyjump bastion,jump2\nstricthostkeychecking accept-new\nuserknownhostsfile /home/me/.ssh/known_hosts /home/me/.ssh/kh2\n";
        let p = from_ssh_g(out, base.clone(), home);
        assert_eq!(p.user.as_deref(), Some("ops"));
        assert_eq!(p.host_name.as_deref(), Some("db1.internal"));
        assert_eq!(p.port, Some(2200));
        assert_eq!(
            p.identity_file,
            Some(vec![PathBuf::from("/home/me/.ssh/db_key")])
        );
        assert_eq!(p.proxy_jump, Some(vec!["bastion".into(), "jump2".into()]));
        assert_eq!(
            p.unsupported_fields["stricthostkeychecking"],
            ["accept-new"]
        );
        // OpenSSH's own default key list is not a key the config named
        let out = "identityfile ~/.ssh/id_rsa\nidentityfile ~/.ssh/id_ed25519\nproxyjump none\n";
        let p = from_ssh_g(out, base, home);
        assert_eq!((p.identity_file, p.proxy_jump), (None, None));
        assert!(needs_openssh("Host a\n  HostName %h.lan\n"));
        assert!(needs_openssh("Include ~/.ssh/conf.d/*\n"));
        assert!(needs_openssh("match host x\n"));
        assert!(!needs_openssh(
            "Host a\n  User b\n# Match is only a comment\n"
        ));
    }
}
