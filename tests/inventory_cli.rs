//! `fleetrestart audit -i … PATTERN --list-hosts`: inventories, patterns and input errors
//! through the real command line (no hosts are contacted).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo(p: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(p)
        .display()
        .to_string()
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fleetrestart"))
        .arg("audit")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn hosts(o: &Output) -> Vec<String> {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .skip(1)
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn example_inventories_and_patterns() {
    let dir = common::scratch("invcli");
    let yml = repo("inventory/example.yml");
    let ini = repo("inventory/example.ini");
    let o = run(&dir, &["-i", &yml, "web:&prod:!web0*", "--list-hosts"]);
    assert_eq!(
        hosts(&o),
        [
            "web10.example.com",
            "web11.example.com",
            "web12.example.com",
            "web15.example.com"
        ]
    );
    let o = run(&dir, &["-i", &yml, "web[0:2]", "--list-hosts"]);
    assert_eq!(
        hosts(&o),
        [
            "web01.example.com",
            "web02.example.com",
            "web03.example.com"
        ]
    );
    let o = run(&dir, &["-i", &yml, "~app[ab]", "--list-hosts"]);
    assert_eq!(hosts(&o), ["appa.internal", "appb.internal"]);
    let o = run(
        &dir,
        &["-i", &yml, "all", "--limit", "staging", "--list-hosts"],
    );
    assert_eq!(hosts(&o), ["web15.example.com", "appc.internal"]);
    let o = run(&dir, &["-i", &ini, "southeast", "--list-hosts"]);
    assert_eq!(hosts(&o), ["www01.example.com", "db-a.example.com"]);
    // two sources merge
    let o = run(&dir, &["-i", &yml, "-i", &ini, "ungrouped", "--list-hosts"]);
    assert_eq!(hosts(&o), ["mail.example.com", "badwolf.example.com"]);
    // an unknown group warns like Ansible and the rest still counts
    let o = run(&dir, &["-i", &yml, "nosuch:db", "--list-hosts"]);
    assert_eq!(hosts(&o), ["db1.example.com", "db2.example.com"]);
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("Could not match supplied host pattern, ignoring: nosuch"));
    // @file limits (the host lists an audit writes)
    std::fs::write(dir.join("retry"), "db2.example.com\nweb15.example.com\n").unwrap();
    let o = run(
        &dir,
        &["-i", &yml, "prod", "--limit", "@retry", "--list-hosts"],
    );
    assert_eq!(hosts(&o), ["web15.example.com", "db2.example.com"]);
    // host list inventories
    let o = run(
        &dir,
        &["-i", "a.example.com,b.example.com,", "--list-hosts"],
    );
    assert_eq!(hosts(&o), ["a.example.com", "b.example.com"]);
}

#[test]
fn inventory_scripts_are_run_with_list() {
    let dir = common::scratch("invscript");
    let script = dir.join("inv.sh");
    common::write_executable(
        &script,
        b"#!/bin/sh\ncase \"$1\" in\n--list) echo '{\"web\": {\"hosts\": [\"w1\", \"w2\"], \"vars\": {\"ansible_user\": \"ops\"}}, \"db\": [\"d1\"]}' ;;\n--host) echo '{}' ;;\nesac\n",
    );
    let o = run(&dir, &["-i", script.to_str().unwrap(), "--list-hosts"]);
    assert_eq!(hosts(&o), ["w1", "w2", "d1"]);
    // a script that leaves a background process holding its output does not hold the run
    // (review M9: it waited for the end of output, 30 s here)
    let script = dir.join("inv-bg.sh");
    common::write_executable(
        &script,
        b"#!/bin/sh\n(sleep 30 &)\necho '{\"web\": [\"w1\"]}'\n",
    );
    let t0 = std::time::Instant::now();
    let o = run(&dir, &["-i", script.to_str().unwrap(), "--list-hosts"]);
    assert_eq!(hosts(&o), ["w1"]);
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        t0.elapsed()
    );
}

#[test]
fn bad_input_names_file_line_and_exits_2() {
    let dir = common::scratch("invbad");
    for (name, text, want) in [
        ("bad.yml", "all:\n  hosts:\n    ok1:\n    'web;reboot':\n", "bad.yml:4:"),
        ("bad.ini", "[web]\nw1\nw2 ansible_port\n", "bad.ini:3: expected key=value"),
        ("port.ini", "[web]\nw1 ansible_port=notaport\n", "host w1: ansible_port: \"notaport\" is not a port number"),
        ("inject.ini", "[web]\nw1 ansible_host=-oProxyCommand=sh\n", "host w1: ansible_host: invalid host name"),
        ("cycle.yml", "all:\n  children:\n    a:\n      children:\n        b:\n    b:\n      children:\n        a:\n", "cycle"),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
        let o = run(&dir, &["-i", name, "--list-hosts"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(want), "{name}: {err}");
    }
    let o = run(&dir, &["-i", "missing.yml", "--list-hosts"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.yml: cannot read inventory"));
    std::fs::write(dir.join("ok.ini"), "w1\n").unwrap();
    let o = run(&dir, &["-i", "ok.ini", "nothing_here"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no hosts matched"));
}

/// A tool of the test virtualenv (ansible-core from PyPI, made by `cargo xtask deps`).
fn venv_tool(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/venv/bin")
        .join(name);
    assert!(
        p.is_file(),
        "{} missing: cargo xtask deps installs ansible-core",
        p.display()
    );
    p
}

fn vault_string(dir: &Path, pw: &str, value: &str) -> String {
    let o = Command::new(venv_tool("ansible-vault"))
        .args(["encrypt_string", "--vault-password-file", pw, value])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // `!vault |` and the indented envelope, as the tool prints it
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn vaulted_and_templated_inventories_give_what_ansible_gives() {
    let dir = common::scratch("inv-vault");
    std::fs::write(dir.join("pw"), "pass phrase\n").unwrap();
    std::fs::write(dir.join("pw2"), "other\n").unwrap();
    std::fs::create_dir_all(dir.join("inv/group_vars/all")).unwrap();
    let db_addr = vault_string(&dir, "pw", "10.0.0.2");
    let unrelated = vault_string(&dir, "pw2", "hunter2");
    std::fs::write(
        dir.join("inv/hosts.yml"),
        format!("all:\n  hosts:\n    web1:\n      ansible_host: 10.0.0.1\n    db1:\n      ansible_host: {}\n", db_addr.trim_end().replace('\n', "\n  ")),
    )
    .unwrap();
    std::fs::write(
        dir.join("inv/group_vars/all/vars.yml"),
        format!("ansible_user: \"{{{{ vault_user }}}}\"\nansible_become: true\nansible_become_password: \"{{{{ vault_become }}}}\"\ndb_password: {unrelated}"),
    )
    .unwrap();
    let secret = dir.join("inv/group_vars/all/vault.yml");
    std::fs::write(&secret, "vault_user: deploy\nvault_become: s3cret\n").unwrap();
    let o = Command::new(venv_tool("ansible-vault"))
        .args(["encrypt", "--vault-password-file", "pw"])
        .arg(&secret)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(o.status.success());
    // Ansible's answer: each host's address and user, resolved (debug runs on the controller)
    let o = Command::new(venv_tool("ansible"))
        .args([
            "all",
            "-i",
            "inv/hosts.yml",
            "--vault-password-file",
            "pw",
            "-m",
            "debug",
        ])
        .args(["-a", r#"{"msg": "{{ ansible_host }} {{ ansible_user }}"}"#])
        .current_dir(&dir)
        .env("ANSIBLE_LOCALHOST_WARNING", "false")
        .output()
        .unwrap();
    let theirs = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{theirs}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let ours = run(
        &dir,
        &[
            "-i",
            "inv/hosts.yml",
            "--vault-password-file",
            "pw",
            "--list-hosts",
            "-v",
        ],
    );
    let text = String::from_utf8_lossy(&ours.stdout).to_string();
    assert_eq!(
        ours.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&ours.stderr)
    );
    for (host, addr) in [("web1", "10.0.0.1"), ("db1", "10.0.0.2")] {
        assert!(
            theirs.contains(&format!("{host} | SUCCESS"))
                && theirs.contains(&format!("{addr} deploy")),
            "{theirs}"
        );
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{host} ")))
            .unwrap();
        assert!(line.contains(&format!("ssh deploy@{addr}:22")), "{line}");
        assert!(line.contains("become root (with a password)"), "{line}");
    }
    // no password: the host whose address is vaulted fails naming the file and line; the
    // template that refers into the unread vault file fails by name; nothing secret is shown
    let o = run(&dir, &["-i", "inv/hosts.yml", "--list-hosts"]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("host db1: ansible_host: vaulted in ") && err.contains("hosts.yml:6"),
        "{err}"
    );
    assert!(
        err.contains("refers to vault_user, which is not defined"),
        "{err}"
    );
    assert!(
        err.contains("vault.yml: vault-encrypted and no vault password was given"),
        "{err}"
    );
    for leak in ["$ANSIBLE_VAULT", "s3cret", "hunter2", "10.0.0.2"] {
        assert!(!err.contains(leak), "{leak} in {err}");
    }
    // a password that opens nothing: the vaulted file is an error naming it
    let o = run(
        &dir,
        &[
            "-i",
            "inv/hosts.yml",
            "--vault-password-file",
            "pw2",
            "--list-hosts",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("vault.yml") && err.contains("no vault password given opens it"),
        "{err}"
    );
}

#[test]
fn the_sites_ansible_cfg_and_environment_are_read_as_ansible_reads_them() {
    let dir = common::scratch("ansible-cfg");
    std::fs::write(
        dir.join("ansible.cfg"),
        "[defaults]\ninventory = inv.yml\nremote_user = deploy\nforks = 3\n\n[privilege_escalation]\nbecome = true\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("inv.yml"),
        "all:\n  hosts:\n    web1:\n      ansible_host: 10.0.0.1\n    db1:\n      ansible_host: 10.0.0.2\n",
    )
    .unwrap();
    // the inventory Ansible finds from the same ansible.cfg
    let o = Command::new(venv_tool("ansible-inventory"))
        .args(["--list"])
        .current_dir(&dir)
        .env_remove("ANSIBLE_CONFIG")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let theirs: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut theirs: Vec<String> = theirs["_meta"]["hostvars"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    theirs.sort();
    let ours = |extra: &[&str], env: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_fleetrestart"));
        c.args(["audit", "--list-hosts", "-v"])
            .args(extra)
            .current_dir(&dir);
        c.env_remove("ANSIBLE_CONFIG");
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    let text = ours(&[], &[]);
    let mut hosts: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("    "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    hosts.sort();
    assert_eq!(hosts, theirs, "{text}");
    assert!(
        text.contains("ssh deploy@10.0.0.1:22") && text.contains("become root"),
        "{text}"
    );
    assert!(
        text.contains("remote user from ansible.cfg:3 (defaults remote_user)"),
        "{text}"
    );
    // the environment over the file, a flag over both
    let text = ours(&[], &[("ANSIBLE_REMOTE_USER", "ops")]);
    assert!(
        text.contains("ssh ops@10.0.0.1:22") && text.contains("from ANSIBLE_REMOTE_USER"),
        "{text}"
    );
    let text = ours(&["-u", "root"], &[("ANSIBLE_REMOTE_USER", "ops")]);
    assert!(text.contains("ssh root@10.0.0.1:22"), "{text}");
    // a bad value names the file, line and key
    std::fs::write(
        dir.join("ansible.cfg"),
        "[defaults]\ninventory = inv.yml\nforks = many\n",
    )
    .unwrap();
    let o = run(&dir, &["--list-hosts"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("ansible.cfg:3 (defaults forks): expected a number of hosts"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_named_key_or_known_hosts_file_that_cannot_be_read_is_a_configuration_error() {
    let dir = common::scratch("named-files");
    std::fs::write(
        dir.join("inv.yml"),
        "all:\n  hosts:\n    web1:\n      ansible_ssh_private_key_file: keys/missing_key\n    web2:\n",
    )
    .unwrap();
    let o = run(&dir, &["-i", "inv.yml", "--list-hosts"]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("host web1: ansible_ssh_private_key_file: cannot read keys/missing_key"),
        "{err}"
    );
    std::fs::write(dir.join("inv.yml"), "all:\n  hosts:\n    web1:\n").unwrap();
    let o = run(
        &dir,
        &["-i", "inv.yml", "--list-hosts", "--private-key", "nope"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("private key file nope"));
    std::fs::create_dir_all(dir.join("kh")).unwrap();
    let o = run(
        &dir,
        &["-i", "inv.yml", "--list-hosts", "--known-hosts", "kh"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--known-hosts kh: a directory"));
    let o = run(
        &dir,
        &["-i", "inv.yml", "--list-hosts", "--known-hosts", "new_kh"],
    );
    assert_eq!(o.status.code(), Some(2), "strict checking needs the file");
    let o = run(
        &dir,
        &[
            "-i",
            "inv.yml",
            "--list-hosts",
            "--known-hosts",
            "new_kh",
            "--host-key-checking",
            "accept-new",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "accept-new creates it");
}

#[test]
fn ssh_config_match_include_and_tokens_resolve_as_openssh_resolves_them() {
    let dir = common::scratch("ssh-g");
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    std::fs::write(
        dir.join("ssh_config"),
        format!(
            "Include {}/conf.d/*.conf\nMatch host web*\n  User matchuser\nHost db*\n  HostName %h.internal\n",
            dir.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("conf.d/db.conf"),
        "Host db*\n  Port 2200\n  User dba\n",
    )
    .unwrap();
    std::fs::write(dir.join("inv.yml"), "all:\n  hosts:\n    web1:\n    db1:\n").unwrap();
    let o = run(
        &dir,
        &[
            "-i",
            "inv.yml",
            "--ssh-config",
            "ssh_config",
            "--list-hosts",
            "-v",
        ],
    );
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("web1  ssh matchuser@web1:22"), "{text}");
    assert!(text.contains("db1  ssh dba@db1.internal:2200"), "{text}");
}
