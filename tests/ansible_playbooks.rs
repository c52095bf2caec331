//! The Ansible side on the testbed, with real ansible-core (target/venv, made by
//! `cargo xtask deps`): the collection is built with ansible-galaxy from collection/ and the
//! static scanners, installed, documented; playbooks/audit.yml agrees with `fleetrestart audit`,
//! changes nothing in check mode and leaves its facts in a persistent fact cache that a later play
//! reads; the exported inventory is read by ansible-inventory; playbooks/rolling_restart.yml
//! restarts every stale host once, leaves nobody drained, and a failing health check stops it.

mod common;

use common::{fleet, testbed_ok as tb, text};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn venv() -> PathBuf {
    let v = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/venv");
    assert!(
        v.join("bin/ansible-playbook").is_file(),
        "no ansible-core in {}: run `cargo xtask deps`",
        v.display()
    );
    v
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs an ansible tool from the venv with the collection installed under `dir/colls` and the
/// testbed's host keys.
fn ansible(dir: &Path, tool: &str, args: &[&str], extra_env: &[(&str, String)]) -> Output {
    let known = tb(&["known-hosts"]);
    let mut c = Command::new(venv().join("bin").join(tool));
    c.args(args)
        .current_dir(dir)
        .env_remove("SSH_AUTH_SOCK")
        .env("ANSIBLE_COLLECTIONS_PATH", dir.join("colls"))
        .env("ANSIBLE_HOME", dir.join("ansible-home"))
        .env("ANSIBLE_LOCAL_TEMP", dir.join("ansible-tmp"))
        .env("ANSIBLE_HOST_KEY_CHECKING", "True")
        .env(
            "ANSIBLE_SSH_ARGS",
            format!(
                "-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile={}",
                known.trim()
            ),
        )
        .env("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_FORKS", "10")
        // the JSON stdout callback of the tests (ANSIBLE_STDOUT_CALLBACK=fr_json)
        .env("ANSIBLE_CALLBACK_PLUGINS", repo().join("tests/ansible"));
    for (k, v) in extra_env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// Builds the collection (collection/ + the static scanners) with ansible-galaxy and installs
/// it into `dir/colls`.
fn install_collection(dir: &Path) {
    let src = dir.join("collection-src");
    let _ = std::fs::remove_dir_all(&src);
    let o = Command::new("cp")
        .arg("-r")
        .arg(repo().join("collection"))
        .arg(&src)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    for arch in ["x86_64", "aarch64"] {
        common::copy_executable(
            &common::scanner_dir().join(format!("fleetrestart-scan-{arch}")),
            &src.join(format!("plugins/modules/fleetrestart_{arch}")),
        );
    }
    let o = ansible(
        dir,
        "ansible-galaxy",
        &[
            "collection",
            "build",
            "--force",
            "--output-path",
            dir.to_str().unwrap(),
            src.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let tarball = dir.join("fleetrestart-fleet-0.1.0.tar.gz");
    let o = ansible(
        dir,
        "ansible-galaxy",
        &[
            "collection",
            "install",
            "--force",
            "-p",
            dir.join("colls").to_str().unwrap(),
            tarball.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "the tarball installs: {}", text(&o));
}

/// Service names of each host's report in an `audit --json` document.
fn audit_services(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
    doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let names = h["report"]["services"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| s["name"].as_str().unwrap().to_string())
                .collect();
            (h["host"].as_str().unwrap().to_string(), names)
        })
        .collect()
}

/// A host's facts in a jsonfile fact cache (the file is `HOST` or `PREFIX_HOST`; its content
/// the facts, or a `__payload__` string holding them).
fn cached_facts(cache: &Path, host: &str) -> Value {
    let file = std::fs::read_dir(cache)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n == host || n.ends_with(&format!("_{host}"))
        })
        .unwrap_or_else(|| panic!("no cache file for {host} in {}", cache.display()));
    let v: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    match v["__payload__"].as_str() {
        Some(p) => serde_json::from_str(p).unwrap(),
        None => v,
    }
}

/// The PLAY RECAP line of `host`: its counters.
fn recap(o: &Output, host: &str) -> BTreeMap<String, u32> {
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out
        .lines()
        .skip_while(|l| !l.starts_with("PLAY RECAP"))
        .find(|l| l.split_whitespace().next() == Some(host))
        .unwrap_or_else(|| panic!("no recap line for {host}: {}", text(o)));
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap_or(0)))
        .collect()
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn audit_playbook_agrees_with_fleetrestart_audit_and_its_facts_are_cached() {
    let dir = common::scratch("ansible-audit");
    install_collection(&dir);
    // ansible-doc shows both modules, with their options
    for (m, opt) in [
        ("fleetrestart_scan", "no_packages"),
        ("fleetrestart_restart", "daemon_reexec"),
    ] {
        let o = ansible(
            &dir,
            "ansible-doc",
            &[&format!("fleetrestart.fleet.{m}")],
            &[],
        );
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains(opt),
            "{}",
            text(&o)
        );
    }

    // every playbook parses, with the collection's module names resolved
    for pb in ["audit.yml", "rolling_restart.yml", "reboot_if_needed.yml"] {
        let path = repo().join("playbooks").join(pb);
        let o = ansible(
            &dir,
            "ansible-playbook",
            &["--syntax-check", "-i", "localhost,", path.to_str().unwrap()],
            &[],
        );
        assert!(o.status.success(), "{pb}: {}", text(&o));
    }

    let inv = fleet(&dir, 3, [1, 3].into_iter());
    let inv = inv.to_str().unwrap();
    let o = common::audit(
        &dir,
        &[
            "-i",
            inv,
            "--json",
            "--ansible-inventory",
            "exported.json",
            "--ansible-inventory-script",
            "exported.sh",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let audit: Value = serde_json::from_slice(&o.stdout).unwrap();
    let expected = audit_services(&audit);
    assert!(
        !expected["h1"].is_empty() && expected["h2"].is_empty(),
        "{expected:?}"
    );

    // the playbook, with a persistent fact cache; then check mode
    let cache = dir.join("facts");
    let cache_env = [
        ("ANSIBLE_CACHE_PLUGIN", "jsonfile".to_string()),
        (
            "ANSIBLE_CACHE_PLUGIN_CONNECTION",
            cache.display().to_string(),
        ),
    ];
    let playbook = repo().join("playbooks/audit.yml");
    let o = ansible(
        &dir,
        "ansible-playbook",
        &[
            "-i",
            inv,
            playbook.to_str().unwrap(),
            "-e",
            &format!("report_dir={}", dir.join("reports").display()),
        ],
        &cache_env,
    );
    assert!(o.status.success(), "{}", text(&o));
    for (host, services) in &expected {
        let r: Value = serde_json::from_slice(
            &std::fs::read(dir.join(format!("reports/{host}.json"))).unwrap(),
        )
        .unwrap();
        let got: BTreeSet<String> = r["report"]["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            &got, services,
            "{host}: the module and `fleetrestart audit` agree"
        );
        assert_eq!(r["needs_restart"], !services.is_empty(), "{host}");
        assert_eq!(recap(&o, host)["failed"], 0);
        // in the persistent cache (ansible-core 2.19 names the file s1_HOST and wraps the
        // facts in a serialized payload)
        let cached = cached_facts(&cache, host);
        assert_eq!(
            cached["fleetrestart"]["needs_restart"],
            !services.is_empty(),
            "{host}: {cached}"
        );
    }
    let o2 = ansible(
        &dir,
        "ansible-playbook",
        &[
            "-i",
            inv,
            playbook.to_str().unwrap(),
            "-e",
            &format!("report_dir={}", dir.join("reports-check").display()),
            "--check",
        ],
        &[("ANSIBLE_STDOUT_CALLBACK", "fr_json".to_string())],
    );
    assert!(o2.status.success(), "{}", text(&o2));
    // in check mode the scan runs (it changes nothing) and reports the same; only the
    // controller-side report files are written (check_mode: false, on purpose)
    let doc: Value = serde_json::from_slice(&o2.stdout).unwrap();
    let scan = doc["plays"][0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task"]["name"] == "Scan")
        .unwrap();
    for host in expected.keys() {
        let r = &scan["hosts"][host];
        assert_eq!(r["changed"], false, "{host}: {r}");
        assert_eq!(
            r["ansible_facts"]["fleetrestart"]["needs_restart"],
            !expected[host].is_empty(),
            "{host}"
        );
        assert!(dir.join(format!("reports-check/{host}.json")).is_file());
    }

    // a later play, without scanning, reads the facts from the cache
    std::fs::write(
        dir.join("later.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.copy:\n        dest: \"later/{{ inventory_hostname }}\"\n        content: \"{{ ansible_facts.fleetrestart.services | sort | join(' ') }}\"\n      delegate_to: localhost\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("later")).unwrap();
    let o = ansible(
        &dir,
        "ansible-playbook",
        &["-i", inv, "later.yml"],
        &cache_env,
    );
    assert!(o.status.success(), "{}", text(&o));
    let facts: Vec<Value> = expected
        .keys()
        .map(|h| {
            let auto: Vec<String> = audit["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["host"] == h.as_str())
                .unwrap()["report"]["services"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["policy"] == "auto")
                .map(|s| s["name"].as_str().unwrap().to_string())
                .collect();
            let mut auto = auto;
            auto.sort();
            let got = std::fs::read_to_string(dir.join(format!("later/{h}"))).unwrap();
            assert_eq!(got, auto.join(" "), "{h}: from the fact cache");
            Value::Null
        })
        .collect();
    assert_eq!(facts.len(), 3);

    // the exported inventory: as a file and as a script, its groups match the audit
    for source in ["exported.json", "exported.sh"] {
        let o = ansible(&dir, "ansible-inventory", &["-i", source, "--list"], &[]);
        assert!(o.status.success(), "{source}: {}", text(&o));
        let list: Value = serde_json::from_slice(&o.stdout).unwrap();
        let hosts = |g: &str| -> BTreeSet<String> {
            list[g]["hosts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| h.as_str().unwrap().to_string())
                .collect()
        };
        let stale: BTreeSet<String> = expected
            .iter()
            .filter(|(_, s)| !s.is_empty())
            .map(|(h, _)| h.clone())
            .collect();
        assert_eq!(hosts("needs_restart"), stale, "{source}: {list}");
        assert_eq!(hosts("needs_restart_cron"), stale, "{source}: {list}");
        assert_eq!(
            list["_meta"]["hostvars"]["h1"]["fleetrestart_status"], "ok",
            "{source}"
        );
        let o = ansible(&dir, "ansible-inventory", &["-i", source, "--graph"], &[]);
        assert!(o.status.success(), "{source}: {}", text(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("@needs_restart:"));
    }
    // and Ansible reaches the hosts through it alone
    let o = ansible(
        &dir,
        "ansible",
        &[
            "-i",
            "exported.json",
            "needs_restart",
            "-m",
            "ansible.builtin.ping",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    tb(&["stopall"]);
}

/// InvocationID of cron.service on host i (a new one every time systemd starts it).
fn cron_invocation(i: u32) -> String {
    tb(&[
        "exec",
        &i.to_string(),
        "systemctl",
        "show",
        "-p",
        "InvocationID",
        "--value",
        "cron.service",
    ])
    .trim()
    .to_string()
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn rolling_restart_playbook_restarts_each_stale_host_once_and_stops_on_a_failed_check() {
    let dir = common::scratch("ansible-rolling");
    install_collection(&dir);
    // ten stale hosts and a load balancer host (h11) that keeps the list of drained hosts
    let inv = fleet(&dir, 11, 1..=10);
    let inv = inv.to_str().unwrap();
    let playbook = repo().join("playbooks/rolling_restart.yml");
    let before: Vec<String> = (1..=10).map(cron_invocation).collect();
    // the restart module in check mode with diff: says what it would restart, restarts nothing
    let o = ansible(
        &dir,
        "ansible",
        &[
            "-i",
            inv,
            "h1",
            "-m",
            "fleetrestart.fleet.fleetrestart_restart",
            "--check",
            "--diff",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("CHANGED") && out.contains("cron.service"),
        "{out}"
    );
    assert!(
        out.contains("services using stale files:"),
        "the diff: {out}"
    );
    assert_eq!(
        cron_invocation(1),
        before[0],
        "check mode restarted nothing"
    );
    // review R11: the playbook in check mode with a health command (shell does not run in
    // check mode: the check failed every host) passes and restarts nothing
    let o = ansible(
        &dir,
        "ansible-playbook",
        &[
            "-i",
            inv,
            playbook.to_str().unwrap(),
            "--check",
            "-e",
            "target=h1:h2",
            "-e",
            "lb_host=h11",
            "-e",
            "lb_list=/root/lb-drained",
            "-e",
            "health_command='systemctl is-active cron.service'",
        ],
        &[],
    );
    assert!(o.status.success(), "check mode: {}", text(&o));
    assert_eq!(
        cron_invocation(1),
        before[0],
        "check mode restarted nothing"
    );
    let o = ansible(
        &dir,
        "ansible-playbook",
        &[
            "-i",
            inv,
            playbook.to_str().unwrap(),
            "-e",
            "target=testbed:!h11",
            "-e",
            "lb_host=h11",
            "-e",
            "lb_list=/root/lb-drained",
            "-e",
            r#"{"serial_ramp": [1, 3]}"#,
            "-e",
            "health_command='systemctl is-active cron.service'",
        ],
        &[("ANSIBLE_STDOUT_CALLBACK", "fr_json".to_string())],
    );
    assert!(o.status.success(), "{}", text(&o));
    let doc: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    // batches as the ramp says: 1, then 3 at a time
    let plays = doc["plays"].as_array().unwrap();
    let sizes: Vec<usize> = plays
        .iter()
        .map(|p| p["tasks"][0]["hosts"].as_object().unwrap().len())
        .collect();
    assert_eq!(sizes, [1, 3, 3, 3], "serial [1, 3]");
    // every host restarted by exactly one module run, and the rescan inside it was clean
    let mut restarts: BTreeMap<String, usize> = BTreeMap::new();
    for p in plays {
        for t in p["tasks"].as_array().unwrap() {
            if !t["task"]["name"]
                .as_str()
                .unwrap_or("")
                .starts_with("Restart the services")
            {
                continue;
            }
            for (h, r) in t["hosts"].as_object().unwrap() {
                assert!(!r["failed"].as_bool().unwrap_or(false), "{h}: {r}");
                assert!(
                    r["restarted"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|s| s == "cron.service"),
                    "{h}: {r}"
                );
                // the rescan: no service left to restart (the system manager, manual, stays)
                assert_eq!(
                    r["ansible_facts"]["fleetrestart"]["services"],
                    serde_json::json!([]),
                    "{h}: {r}"
                );
                *restarts.entry(h.clone()).or_default() += 1;
            }
        }
    }
    assert_eq!(restarts.len(), 10, "{restarts:?}");
    assert!(restarts.values().all(|n| *n == 1), "{restarts:?}");
    for i in 1..=10u32 {
        assert_ne!(
            cron_invocation(i),
            before[i as usize - 1],
            "h{i}: cron restarted"
        );
    }
    // nobody is left drained
    let drained = tb(&["exec", "11", "cat", "/root/lb-drained"]);
    assert_eq!(drained.trim(), "", "drained list at the end: {drained:?}");
    // and fleetrestart agrees that no service is left to restart (the reboot that dbus needs
    // and the manual re-exec of systemd are not this playbook's)
    let o = common::audit(&dir, &["-i", inv, "testbed:!h11", "--json"]);
    let doc: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    for h in doc["hosts"].as_array().unwrap() {
        assert_eq!(h["status"], "ok", "{h}");
        let auto: Vec<&Value> = h["report"]["services"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["policy"] == "auto")
            .collect();
        assert!(auto.is_empty(), "{}: {auto:?}", h["host"]);
    }

    // a failing health check: the first host of the second batch is unhealthy;
    // max_fail_percentage 0 stops the play after that batch, every host is undrained, later
    // batches are not touched. Batches follow the inventory's order (h1, h10, h2, ...).
    let order: Vec<u32> = std::fs::read_to_string(inv)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix('h')?.strip_suffix(':')?.parse().ok())
        .filter(|i| *i != 11)
        .collect();
    assert_eq!(order.len(), 10, "{order:?}");
    for i in 1..=10 {
        tb(&["upgrade", &i.to_string(), "libpcre2-8-0"]);
    }
    let sick = order[1];
    tb(&["exec", &sick.to_string(), "touch", "/root/fr-unhealthy"]);
    let before: Vec<String> = (1..=10).map(cron_invocation).collect();
    let o = ansible(
        &dir,
        "ansible-playbook",
        &[
            "-i",
            inv,
            playbook.to_str().unwrap(),
            "-e",
            "target=testbed:!h11",
            "-e",
            "lb_host=h11",
            "-e",
            "lb_list=/root/lb-drained",
            "-e",
            r#"{"serial_ramp": [1, 3]}"#,
            "-e",
            "health_command='test ! -e /root/fr-unhealthy'",
            "-e",
            "health_retries=1",
            "-e",
            "health_delay=1",
        ],
        &[],
    );
    assert!(
        !o.status.success(),
        "the failed check fails the run: {}",
        text(&o)
    );
    assert_eq!(recap(&o, &format!("h{sick}"))["failed"], 1, "{}", text(&o));
    let drained = tb(&["exec", "11", "cat", "/root/lb-drained"]);
    assert_eq!(
        drained.trim(),
        "",
        "h{sick} was undrained though it failed: {drained:?}"
    );
    let mut touched: Vec<u32> = (1..=10u32)
        .filter(|i| cron_invocation(*i) != before[*i as usize - 1])
        .collect();
    // batch 1 and batch 2 ran (the restart comes before the check); the play stopped there
    let mut first_two: Vec<u32> = order[..4].to_vec();
    first_two.sort();
    touched.sort();
    assert_eq!(touched, first_two, "{}", text(&o));
    tb(&["stopall"]);
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn the_playbook_waits_for_a_campaign_holding_the_host_and_restarts_nothing_twice() {
    // a `fleetrestart restart` and rolling_restart.yml on the same host at once: the host's
    // lease makes the second one wait, and its restart module scans again before it acts
    let dir = common::scratch("ansible-lease");
    install_collection(&dir);
    let inv = fleet(&dir, 1, 1..=1);
    let inv = inv.to_str().unwrap();
    let before = cron_invocation(1);
    std::fs::write(
        dir.join("c.yml"),
        "drain: {command: 'sleep 8', timeout: 30}\nundrain: {command: 'true'}\n",
    )
    .unwrap();
    let known = tb(&["known-hosts"]);
    let campaign = Command::new(env!("CARGO_BIN_EXE_fleetrestart"))
        .arg("restart")
        .args(["--known-hosts", known.trim()])
        .arg("--scanner-dir")
        .arg(common::scanner_dir())
        .args([
            "-i",
            inv,
            "--campaign",
            "c.yml",
            "--journal",
            "c.journal",
            "--json",
        ])
        .current_dir(&dir)
        .env_remove("SSH_AUTH_SOCK")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let jpath = dir.join("c.journal");
    common::wait_for(
        "the campaign in its drain (cron still stale)",
        std::time::Duration::from_secs(120),
        || {
            common::journal(&jpath)
                .iter()
                .any(|r| r["phase"] == "draining")
        },
    );
    let playbook = repo().join("playbooks/rolling_restart.yml");
    let o = ansible(
        &dir,
        "ansible-playbook",
        &["-i", inv, playbook.to_str().unwrap(), "-e", "target=h1"],
        &[("ANSIBLE_STDOUT_CALLBACK", "fr_json".to_string())],
    );
    let c = campaign.wait_with_output().unwrap();
    assert_eq!(c.status.code(), Some(0), "{}", text(&c));
    assert!(o.status.success(), "{}", text(&o));
    let doc: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    let task = |name: &str| -> Value {
        doc["plays"][0]["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["task"]["name"] == name)
            .map(|t| t["hosts"]["h1"].clone())
            .unwrap_or_else(|| panic!("no task {name:?}: {doc}"))
    };
    // it saw the host held, waited, then took the lease
    let lease = task("Take the host's lease");
    assert!(lease["attempts"].as_u64().unwrap_or(1) > 1, "{lease}");
    assert!(
        lease["stdout"].as_str().unwrap().starts_with("taken"),
        "{lease}"
    );
    // and restarted nothing: the campaign had
    let r = task("Restart the services that use stale files (and rescan)");
    assert_eq!(r["restarted"], serde_json::json!([]), "{r}");
    let after = cron_invocation(1);
    assert_ne!(after, before, "the campaign restarted cron");
    let c: Value = serde_json::from_slice(&c.stdout).unwrap();
    assert!(c["hosts"][0]["restarted"]
        .to_string()
        .contains("cron.service"));
    // the lease is released at the end
    let held = common::testbed(&["exec", "1", "cat", "/run/fleetrestart/lease"]);
    assert!(!held.status.success(), "the playbook released the lease");
}
