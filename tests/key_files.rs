//! Identity files of every common kind authenticate against a real sshd (a light endpoint of
//! the testbed): OpenSSH-format ed25519, rsa and ecdsa keys (their public key read from the
//! file's unencrypted head, `transport::keyfile`) and a PEM rsa key (libssh2 derives its
//! public key); a key the host does not accept fails the host, naming the file. The endpoint's
//! sshd log names the key that logged in. Needs root and the testbed image: `#[ignore]`d in a
//! plain `cargo test`; `cargo xtask test` runs it.

mod common;

use common::{testbed_ok as tb, text};
use std::path::{Path, PathBuf};
use std::process::Command;

fn tb_base() -> PathBuf {
    std::env::var_os("TB_BASE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/fleetrestart-testbed"))
}

fn keygen(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let k = dir.join(name);
    let st = Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-C", name, "-f"])
        .arg(&k)
        .args(args)
        .status()
        .unwrap();
    assert!(st.success());
    k
}

/// `TYPE SHA256:...` as sshd logs it.
fn fingerprint(key: &Path) -> String {
    let o = Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(key)
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&o.stdout);
    let f: Vec<&str> = t.split_whitespace().collect();
    f[1].to_string()
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn every_kind_of_key_file_logs_in_and_a_refused_one_fails_the_host() {
    tb(&["light-stop"]);
    tb(&["light-start", "1"]);
    let dir = common::scratch("key-files");
    let keys = [
        (
            "ed25519",
            keygen(dir.as_path(), "ed25519", &["-t", "ed25519"]),
        ),
        (
            "rsa",
            keygen(dir.as_path(), "rsa", &["-t", "rsa", "-b", "2048"]),
        ),
        ("ecdsa", keygen(dir.as_path(), "ecdsa", &["-t", "ecdsa"])),
        (
            "pem-rsa",
            keygen(
                dir.as_path(),
                "pem-rsa",
                &["-t", "rsa", "-b", "2048", "-m", "PEM"],
            ),
        ),
    ];
    let refused = keygen(dir.as_path(), "refused", &["-t", "ed25519"]);
    let mut authorized = String::new();
    for (_, k) in &keys {
        authorized += &std::fs::read_to_string(format!("{}.pub", k.display())).unwrap();
        // the .pub files are not needed (nor read): the public key comes from the key file
        std::fs::remove_file(format!("{}.pub", k.display())).unwrap();
    }
    let add = Command::new("bash")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/testbed/testbed.sh"))
        .args([
            "light-exec",
            "1",
            "sh",
            "-c",
            "cat >> /root/.ssh/authorized_keys",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(authorized.as_bytes())?;
            c.wait()
        })
        .unwrap();
    assert!(add.success());
    let ip = tb(&["light-ip", "1"]).trim().to_string();
    let known = tb(&["light-known-hosts"]);
    let log = tb_base().join("light/e1/log");
    let audit = |key: &Path| {
        let inv = dir.as_path().join("inv.yml");
        std::fs::write(
            &inv,
            format!(
                "all:\n  hosts:\n    e1:\n      ansible_host: {ip}\n      ansible_user: root\n      ansible_ssh_private_key_file: {}\n",
                key.display()
            ),
        )
        .unwrap();
        common::controller(
            dir.as_path(),
            "audit",
            &known,
            &["-i", inv.to_str().unwrap(), "--json"],
        )
        .output()
        .unwrap()
    };
    for (name, k) in &keys {
        let before = std::fs::read_to_string(&log).unwrap().len();
        let o = audit(k);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["hosts"][0]["status"], "ok", "{name}: {}", text(&o));
        let logged = std::fs::read_to_string(&log).unwrap()[before..].to_string();
        let fp = fingerprint(k);
        assert!(
            logged
                .lines()
                .any(|l| l.starts_with("Accepted publickey") && l.contains(&fp)),
            "{name}: no login with {fp} in the endpoint's log:\n{logged}"
        );
    }
    let o = audit(&refused);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let host = &v["hosts"][0];
    assert_ne!(host["status"], "ok", "{}", text(&o));
    let why = host.to_string();
    assert!(why.contains("refused"), "the key file is named: {why}");
    tb(&["light-stop"]);
}
