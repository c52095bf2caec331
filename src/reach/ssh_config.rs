//! `~/.ssh/config`, read as OpenSSH reads it as far as ssh2-config goes: `Match` blocks, which
//! it does not know, are blanked out first (their options apply to no host).
//!
//! I/O: reads the config file; the parsing is pure.

use std::path::Path;

/// The ssh config at `path` (`--ssh-config`), else `~/.ssh/config` when there is one; `Match`
/// blocks are skipped with a warning naming their line.
pub fn ssh_config(path: Option<&Path>, home: &Path) -> Result<ssh2_config::SshConfig, String> {
    let path = match path {
        Some(p) => p.to_path_buf(),
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
