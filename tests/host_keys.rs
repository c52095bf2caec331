//! Host keys checked as OpenSSH checks them, against a real sshd on a testbed host that offers
//! ed25519, rsa and ecdsa keys and an ed25519 host certificate on port 2222 (review H2, H3, H4,
//! M11): known_hosts with one key type only, `[host]:port` entries that never fall back to the
//! plain name, `@revoked` in the global file, hashed names, `@cert-authority` alone (the host's
//! certificate checked: authority, principal, validity); and a named
//! key file offered before an ssh-agent's many keys (L10).
//! Needs root and the testbed image: `#[ignore]`d in a plain `cargo test`; `cargo xtask test`
//! runs it.

mod common;

use common::{host_root, testbed_ok as tb, text};
use std::path::Path;
use std::process::{Command, Output};

const SETUP: &str = r#"set -e
cd /etc/ssh
for t in rsa ecdsa; do [ -f fr_$t ] || ssh-keygen -q -t $t -N '' -f fr_$t; done
[ -f fr_ca ] || ssh-keygen -q -t ed25519 -N '' -f fr_ca
ssh-keygen -q -s fr_ca -I h1 -h -n "$1" ssh_host_ed25519_key.pub
cat > fr_sshd2_config <<CONF
Port 2222
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/fr_rsa
HostKey /etc/ssh/fr_ecdsa
HostCertificate /etc/ssh/ssh_host_ed25519_key-cert.pub
PidFile /run/fr-sshd2.pid
UsePAM yes
UseDNS no
CONF
systemctl reset-failed fr-sshd2 2>/dev/null || true
systemd-run --unit fr-sshd2 /usr/sbin/sshd -D -f /etc/ssh/fr_sshd2_config
for _ in $(seq 50); do nc -z 127.0.0.1 2222 && exit 0; sleep 0.1; done
exit 1
"#;

/// `type base64` of a public key file of host 1.
fn pubkey(name: &str) -> String {
    let t = std::fs::read_to_string(host_root("1").join("etc/ssh").join(name)).unwrap();
    t.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// Audits host 1 on `port` with `user_kh` as the user known_hosts file and `global_kh` as
/// GlobalKnownHostsFile (through an ssh config, as a user would set it), with the test key
/// named on the command line and no ssh-agent.
fn audit(dir: &Path, ip: &str, port: u16, user_kh: &str, global_kh: &str, policy: &str) -> Output {
    audit_with(dir, ip, port, user_kh, global_kh, policy, None)
}

/// [`audit`], with `agent` as the ssh-agent.
fn audit_with(
    dir: &Path,
    ip: &str,
    port: u16,
    user_kh: &str,
    global_kh: &str,
    policy: &str,
    agent: Option<&common::Agent>,
) -> Output {
    let (u, g, c) = (
        dir.join("user_kh"),
        dir.join("global_kh"),
        dir.join("config"),
    );
    std::fs::write(&u, user_kh).unwrap();
    std::fs::write(&g, global_kh).unwrap();
    std::fs::write(
        &c,
        format!(
            "Host {ip}\n  Port {port}\n  GlobalKnownHostsFile {}\n",
            g.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fleetrestart"));
    cmd.args(["audit", "-i", &format!("{ip},"), "-u", "root", "--json"])
        .args([
            "--host-key-checking",
            policy,
            "--private-key",
            tb(&["key"]).trim(),
        ])
        .arg("--known-hosts")
        .arg(&u)
        .arg("--ssh-config")
        .arg(&c)
        .arg("--scanner-dir")
        .arg(common::scanner_dir())
        .current_dir(dir);
    match agent {
        Some(a) => cmd.env("SSH_AUTH_SOCK", &a.sock),
        None => cmd.env_remove("SSH_AUTH_SOCK"),
    };
    cmd.output().unwrap()
}

fn refused(o: &Output, why: &str) {
    assert_eq!(o.status.code(), Some(3), "{}", text(o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let h = &doc["hosts"][0];
    assert_eq!(h["status"], "unreachable", "{}", text(o));
    assert!(h["error"].as_str().unwrap().contains(why), "{h}");
}

fn accepted(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{}", text(o));
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn host_keys_are_checked_as_openssh_checks_them() {
    let dir = common::scratch("hostkeys");
    tb(&["stopall"]);
    tb(&["start", "1"]);
    let ip = tb(&["ip", "1"]).trim().to_string();
    tb(&["exec", "1", "sh", "-c", SETUP, "sh", &ip]);
    let (ed, rsa, ec) = (
        pubkey("ssh_host_ed25519_key.pub"),
        pubkey("fr_rsa.pub"),
        pubkey("fr_ecdsa.pub"),
    );
    let ca = pubkey("fr_ca.pub");
    let p = format!("[{ip}]:2222");

    // one key type recorded, whichever: accepted (the negotiation is steered to it; H4)
    for k in [&rsa, &ec, &ed] {
        accepted(&audit(&dir, &ip, 2222, &format!("{p} {k}\n"), "", "strict"));
    }
    // the server also offers an ed25519 certificate: never negotiated, the plain key counts
    // a key of the right type but another value: changed
    let other_rsa = {
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "rsa", "-N", "", "-f"])
            .arg(dir.join("other_rsa"))
            .status()
            .unwrap();
        assert!(st.success());
        let t = std::fs::read_to_string(dir.join("other_rsa.pub")).unwrap();
        t.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
    };
    refused(
        &audit(&dir, &ip, 2222, &format!("{p} {other_rsa}\n"), "", "strict"),
        "HOST KEY CHANGED",
    );
    // [host]:port never falls back to the plain name (H2): the right key under the plain name
    // and a wrong one for the port is changed; the plain name alone is unknown on port 2222
    refused(
        &audit(
            &dir,
            &ip,
            2222,
            &format!("{ip} {ed}\n{p} {other_rsa}\n"),
            "",
            "strict",
        ),
        "HOST KEY CHANGED",
    );
    refused(
        &audit(&dir, &ip, 2222, &format!("{ip} {ed}\n"), "", "strict"),
        "is not in known_hosts",
    );
    // @revoked in the global file wins over the user file's line (H3, M11), also under
    // accept-new, and nothing is recorded
    let o = audit(
        &dir,
        &ip,
        2222,
        &format!("{p} {ed}\n"),
        &format!("@revoked * {ed}\n"),
        "accept-new",
    );
    refused(&o, "REVOKED");
    // the global file alone is enough to accept (it is consulted with a user file given)
    accepted(&audit(
        &dir,
        &ip,
        2222,
        "",
        &format!("{p} {ec}\n"),
        "strict",
    ));
    // only a @cert-authority line covers the host: its certificate (signed by that authority,
    // for its address, for the key it presents) vouches for it under strict checking, and
    // nothing is recorded
    let o = audit(
        &dir,
        &ip,
        2222,
        "",
        &format!("@cert-authority * {ca}\n"),
        "accept-new",
    );
    accepted(&o);
    assert_eq!(std::fs::read_to_string(dir.join("user_kh")).unwrap(), "");
    accepted(&audit(
        &dir,
        &ip,
        2222,
        "",
        &format!("@cert-authority * {ca}\n"),
        "strict",
    ));
    // another authority's line: refused with the reason, not recorded
    let other_ca = {
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(dir.join("other_ca"))
            .status()
            .unwrap();
        assert!(st.success());
        let t = std::fs::read_to_string(dir.join("other_ca.pub")).unwrap();
        t.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
    };
    let o = audit(
        &dir,
        &ip,
        2222,
        "",
        &format!("@cert-authority * {other_ca}\n"),
        "accept-new",
    );
    refused(&o, "not by an @cert-authority for this host");
    assert_eq!(std::fs::read_to_string(dir.join("user_kh")).unwrap(), "");
    // a certificate for another name, or expired: refused (sshd reads its certificate anew
    // for each connection)
    let resign = |args: &[&str]| {
        let mut a = vec![
            "sh",
            "-c",
            "cd /etc/ssh && ssh-keygen -q -s fr_ca -I h1 -h \"$@\" ssh_host_ed25519_key.pub",
            "sh",
        ];
        a.extend_from_slice(args);
        let mut full = vec!["exec", "1"];
        full.extend(a);
        tb(&full);
    };
    let ca_line = format!("@cert-authority * {ca}\n");
    resign(&["-n", "other.example"]);
    refused(
        &audit(&dir, &ip, 2222, "", &ca_line, "strict"),
        "is for other.example",
    );
    resign(&["-n", &ip, "-V", "20200101:20200102"]);
    refused(
        &audit(&dir, &ip, 2222, "", &ca_line, "strict"),
        "not valid now",
    );
    resign(&["-n", &ip]);
    accepted(&audit(&dir, &ip, 2222, "", &ca_line, "strict"));
    // hashed names (ssh-keygen -H), and a garbage line skipped with a warning, not fatal
    let hashed = dir.join("hashed");
    std::fs::write(&hashed, format!("{p} {rsa}\n")).unwrap();
    let st = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&hashed)
        .output()
        .unwrap();
    assert!(st.status.success(), "{st:?}");
    let hashed = std::fs::read_to_string(&hashed).unwrap();
    assert!(hashed.starts_with("|1|"), "{hashed}");
    let o = audit(&dir, &ip, 2222, &format!("garbage\n{hashed}"), "", "strict");
    accepted(&o);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(":1: skipped"),
        "{}",
        text(&o)
    );
    // accept-new on a port records [host]:port with the negotiated plain type, then strict
    // accepts it
    let o = audit(&dir, &ip, 2222, "", "", "accept-new");
    accepted(&o);
    let rec = std::fs::read_to_string(dir.join("user_kh")).unwrap();
    assert_eq!(rec, format!("{p} {ed}\n"));
    accepted(&audit(&dir, &ip, 2222, &rec, "", "strict"));
    // port 22 (one ed25519 key): the plain name
    accepted(&audit(&dir, &ip, 22, &format!("{ip} {ed}\n"), "", "strict"));
    // an ssh-agent holding more keys than sshd's MaxAuthTries (6), none of them right, and the
    // right key named on the command line: the named key is offered first (review L10: the
    // agent's keys went first and sshd disconnected before the named key's turn)
    let agent = common::Agent::start();
    for i in 0..8 {
        let k = dir.join(format!("agent{i}"));
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&k)
            .status()
            .unwrap();
        assert!(st.success());
        agent.add(&k);
    }
    let o = audit_with(
        &dir,
        &ip,
        22,
        &format!("{ip} {ed}\n"),
        "",
        "strict",
        Some(&agent),
    );
    drop(agent);
    accepted(&o);
    refused(
        &audit(&dir, &ip, 22, &format!("{p} {ed}\n"), "", "strict"),
        "is not in known_hosts",
    );
    tb(&["stopall"]);
}
