//! `fleetrestart reboot` / `resume` on testbed hosts that really reboot (systemd-nspawn exits
//! 133 on a reboot and testbed.sh boots the host again on the same disk; each boot is counted).
//! A host needs a reboot when `/run/reboot-required` exists (a fresh /run after the reboot
//! clears it, as on a real host). Needs root and the testbed image: `#[ignore]`d in a plain
//! `cargo test`; `cargo xtask test` runs them with `--ignored --test-threads=1`.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{journal, testbed_ok as tb, text, wait_for};

fn cmd(dir: &Path, sub: &str, args: &[&str]) -> Command {
    common::controller(dir, sub, &tb(&["known-hosts"]), args)
}

/// `fleetrestart reboot -i INV ARGS` in `dir`, with nothing on its standard input.
fn reboot(dir: &Path, inv: &str, args: &[&str]) -> Command {
    let mut c = cmd(dir, "reboot", &[&["-i", inv][..], args].concat());
    c.stdin(Stdio::null());
    c
}

/// Boots hosts 1..=n fresh; hosts `needing` get /run/reboot-required; the inventory's path.
fn fleet(dir: &Path, n: u32, needing: impl Iterator<Item = u32>) -> PathBuf {
    tb(&["stopall"]);
    tb(&["start", &n.to_string()]);
    for i in needing {
        tb(&["exec", &i.to_string(), "touch", "/run/reboot-required"]);
    }
    let inv = dir.join("inventory.yml");
    tb(&["inventory", inv.to_str().unwrap()]);
    inv
}

/// The directory the drain and undrain hooks write each host's state to (`lb/HOST`).
fn load_balancer(dir: &Path) -> PathBuf {
    let lb = dir.join("lb");
    std::fs::create_dir_all(&lb).unwrap();
    lb
}

fn boots(i: u32) -> usize {
    tb(&["boots", &i.to_string()]).trim().parse().unwrap()
}

fn phases(j: &[Value], host: &str) -> Vec<String> {
    j.iter()
        .filter(|r| r["record"] == "host" && r["host"] == host)
        .map(|r| r["phase"].as_str().unwrap_or("").to_string())
        .collect()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

/// The boot id and active enabled units each host had before, and the new boot id, from the
/// journal.
fn reboot_records(j: &[Value], host: &str) -> (String, Vec<String>, String) {
    let rec = |p: &str| {
        j.iter()
            .rfind(|r| r["record"] == "host" && r["host"] == host && r["phase"] == p)
            .unwrap_or_else(|| panic!("{host}: no {p} record"))
    };
    let before = &rec("rebooting")["before"];
    let active = before["active"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    (
        before["boot_id"].as_str().unwrap().to_string(),
        active,
        rec("rebooted")["boot_id"].as_str().unwrap().to_string(),
    )
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn six_hosts_needing_a_reboot_batch_two_each_rebooted_once_and_verified() {
    let dir = common::scratch("reboot6");
    let inv = fleet(&dir, 7, 1..=6);
    let inv = inv.to_str().unwrap();
    // the plan: hosts 1-6 in three batches of two, host 7 clean
    let plan = reboot(&dir, inv, &["--batch", "2", "--plan", "--json"])
        .output()
        .unwrap();
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let plan = json(&plan)["plan"].clone();
    let planned: Vec<(String, u64)> = plan["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["host"].as_str().unwrap().into(),
                h["batch"].as_u64().unwrap(),
            )
        })
        .collect();
    let expect: Vec<(String, u64)> = (1..=6).map(|i| (format!("h{i}"), (i - 1) / 2)).collect();
    assert_eq!(planned, expect);
    assert_eq!(plan["clean"], serde_json::json!(["h7"]));
    for h in plan["hosts"].as_array().unwrap() {
        assert!(
            h["reboot"][0]
                .as_str()
                .unwrap()
                .contains("/run/reboot-required"),
            "{h}"
        );
    }
    // nothing happened yet
    assert!((1..=7).all(|i| boots(i) == 1));

    let out = reboot(
        &dir,
        inv,
        &[
            "--batch",
            "2",
            "--strategy",
            "discrete",
            "--journal",
            "r.journal",
            "--json",
            "--reboot-timeout",
            "120",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc = json(&out);
    assert_eq!(doc["summary"]["ok"], 6, "{doc}");
    for i in 1..=6 {
        assert_eq!(boots(i), 2, "h{i} booted once more");
    }
    assert_eq!(boots(7), 1, "h7 needed no reboot");
    let j = journal(&dir.join("r.journal"));
    // the journal's plan is the one --plan printed (but for the time of each audit)
    let untimed = |v: &Value| {
        let mut v = v.clone();
        for h in v.as_array_mut().unwrap() {
            h.as_object_mut().unwrap().remove("audited_at");
        }
        v
    };
    assert_eq!(untimed(&j[0]["plan"]["hosts"]), untimed(&plan["hosts"]));
    for i in 1..=6 {
        let h = format!("h{i}");
        assert_eq!(
            phases(&j, &h),
            ["started", "rebooting", "rebooted", "checking", "finished"],
            "{h}"
        );
        let (old, active, new) = reboot_records(&j, &h);
        assert_ne!(old, new, "{h}: the boot id changed");
        for u in ["ssh.service", "cron.service", "lighttpd.service"] {
            assert!(
                active.iter().any(|a| a == u),
                "{h}: {u} recorded: {active:?}"
            );
        }
        // the host's own boot id is the one the journal says it came back with
        let now = tb(&[
            "exec",
            &i.to_string(),
            "cat",
            "/proc/sys/kernel/random/boot_id",
        ]);
        assert_eq!(now.trim(), new, "{h}");
        // verified: not needing a reboot any more
        assert!(!common::host_root(&i.to_string())
            .join("run/reboot-required")
            .exists());
    }
    // discrete batches of two: a batch starts once the previous one finished
    let order: Vec<(String, String)> = j
        .iter()
        .filter(|r| r["record"] == "host" && (r["phase"] == "started" || r["phase"] == "finished"))
        .map(|r| {
            (
                r["host"].as_str().unwrap().into(),
                r["phase"].as_str().unwrap().into(),
            )
        })
        .collect();
    for b in 1..3 {
        let first_start = order
            .iter()
            .position(|(h, p)| {
                p == "started" && [2 * b + 1, 2 * b + 2].map(|i| format!("h{i}")).contains(h)
            })
            .unwrap();
        let prev_done = (2 * b - 1..=2 * b)
            .map(|i| {
                order
                    .iter()
                    .position(|(h, p)| p == "finished" && *h == format!("h{i}"))
                    .unwrap()
            })
            .max()
            .unwrap();
        assert!(
            prev_done < first_start,
            "batch {b} started early: {order:?}"
        );
    }
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn degraded_and_never_returning_hosts_fail_and_the_budget_stops_the_campaign() {
    let dir = common::scratch("reboot-fail");
    let inv = fleet(&dir, 4, 1..=4);
    // h1: an enabled unit that fails at the next boot (it ran fine before) → degraded
    tb(&[
        "exec",
        "1",
        "sh",
        "-c",
        "printf '[Service]\\nType=oneshot\\nRemainAfterExit=yes\\nExecStart=/bin/sh -c \"! test -e /var/lib/fr-fail-next-boot\"\\n[Install]\\nWantedBy=multi-user.target\\n' > /etc/systemd/system/fr-flaky.service \
         && systemctl daemon-reload && systemctl enable --now fr-flaky.service && touch /var/lib/fr-fail-next-boot",
    ]);
    // h3: powered off during its reboot: never comes back
    tb(&["no-return", "3"]);
    let t0 = Instant::now();
    let out = reboot(
        &dir,
        inv.to_str().unwrap(),
        &[
            "--batch",
            "1",
            "--max-failures",
            "1",
            "--reboot-timeout",
            "25",
            "--journal",
            "f.journal",
            "--json",
        ],
    )
    .output()
    .unwrap();
    let took = t0.elapsed();
    assert_eq!(out.status.code(), Some(5), "budget spent: {}", text(&out));
    let doc = json(&out);
    let by: std::collections::BTreeMap<String, Value> = doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["host"].as_str().unwrap().to_string(), h.clone()))
        .collect();
    let reason = |h: &str| by[h]["reason"].as_str().unwrap_or("").to_string();
    assert_eq!(by["h1"]["status"], "failed", "{doc}");
    assert!(
        reason("h1").contains("degraded") && reason("h1").contains("fr-flaky.service"),
        "{}",
        reason("h1")
    );
    assert_eq!(by["h2"]["status"], "ok", "{doc}");
    assert_eq!(by["h3"]["status"], "failed", "{doc}");
    assert!(
        reason("h3").contains("did not come back within the reboot timeout of 25s"),
        "{}",
        reason("h3")
    );
    assert_eq!(by["h4"]["status"], "not_started", "{doc}");
    assert_eq!((boots(1), boots(2), boots(4)), (2, 2, 1));
    // h3 failed within its timeout (plus a probe's connect timeout), not later
    assert!(took < Duration::from_secs(120), "took {took:?}");
    let j = journal(&dir.join("f.journal"));
    assert_eq!(
        phases(&j, "h3"),
        ["started", "rebooting", "finished"],
        "no rebooted record for a host that never came back"
    );
    assert!(phases(&j, "h4").is_empty());
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn sigkill_mid_reboot_then_resume_reboots_no_host_twice() {
    let dir = common::scratch("reboot-kill");
    let inv = fleet(&dir, 4, 1..=4);
    let jpath = dir.join("k.journal");
    let mut child = reboot(
        &dir,
        inv.to_str().unwrap(),
        &["--batch", "2", "--journal", "k.journal"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // killed as soon as the first reboot is journaled: its command was or was not sent
    wait_for("a host rebooting", Duration::from_secs(120), || {
        journal(&jpath).iter().any(|r| r["phase"] == "rebooting")
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at: Vec<String> = journal(&jpath)
        .iter()
        .filter(|r| r["phase"] == "rebooting")
        .map(|r| r["host"].as_str().unwrap().to_string())
        .collect();
    let out = common::controller(&dir, "resume", "", &["k.journal", "--json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["summary"]["ok"], 4);
    for i in 1..=4 {
        assert_eq!(
            boots(i),
            2,
            "h{i} rebooted exactly once (killed at {killed_at:?})"
        );
    }
    let j = journal(&jpath);
    for h in &killed_at {
        let p = phases(&j, h);
        assert_eq!(
            p.iter().filter(|p| *p == "rebooted").count(),
            1,
            "{h}: {p:?}"
        );
        let (old, _, new) = reboot_records(&j, h);
        assert_ne!(old, new);
    }
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn outside_the_reboot_windows_no_host_starts() {
    let dir = common::scratch("reboot-window");
    let inv = fleet(&dir, 1, 1..=1);
    // a window on the day after tomorrow (UTC): closed now
    let today: usize = String::from_utf8(
        Command::new("date")
            .args(["-u", "+%u"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    let day = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][(today - 1 + 2) % 7];
    let window = format!("{day} 00:00-24:00");
    let child = reboot(
        &dir,
        inv.to_str().unwrap(),
        &[
            "--reboot-window",
            &window,
            "--journal",
            "w.journal",
            "--json",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let jpath = dir.join("w.journal");
    wait_for("the journal", Duration::from_secs(60), || jpath.exists());
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !journal(&jpath).iter().any(|r| r["record"] == "host"),
        "a host started outside the window"
    );
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT); // pause: nothing in flight, so it ends
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("outside the reboot windows"),
        "{}",
        text(&out)
    );
    assert_eq!(json(&out)["hosts"][0]["status"], "not_started");
    assert_eq!(boots(1), 1);
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn aborted_while_rebooting_then_resumed_is_verified_not_rebooted_again() {
    let dir = common::scratch("reboot-abort");
    let inv = fleet(&dir, 2, 1..=2);
    let jpath = dir.join("a.journal");
    let child = reboot(
        &dir,
        inv.to_str().unwrap(),
        &["--batch", "1", "--journal", "a.journal", "--json"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    wait_for("h1 rebooting", Duration::from_secs(120), || {
        journal(&jpath).iter().any(|r| r["phase"] == "rebooting")
    });
    // Ctrl-C twice: pause, then abort the host in flight (its reboot was sent)
    for _ in 0..2 {
        unsafe {
            libc::kill(child.id() as i32, libc::SIGINT);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let doc = json(&out);
    assert_eq!(doc["hosts"][0]["status"], "aborted", "{doc}");
    assert_eq!(doc["hosts"][1]["status"], "not_started", "{doc}");
    let out = common::controller(&dir, "resume", "", &["a.journal", "--json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["summary"]["ok"], 2);
    assert_eq!((boots(1), boots(2)), (2, 2), "each rebooted exactly once");
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn a_jump_host_is_rebooted_after_the_hosts_behind_it() {
    let dir = common::scratch("reboot-bastion");
    tb(&["stopall"]);
    tb(&["start", "1"]);
    tb(&["bastion", "1"]);
    tb(&["start-private", "3"]);
    for i in ["1", "3"] {
        tb(&["exec", i, "touch", "/run/reboot-required"]);
    }
    let inv = dir.join("inventory.yml");
    tb(&["inventory", inv.to_str().unwrap()]);
    let inv = inv.to_str().unwrap();
    let plan = reboot(&dir, inv, &["--plan", "--json"]).output().unwrap();
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let plan = json(&plan)["plan"].clone();
    let order: Vec<&str> = plan["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["h3", "h1"], "{plan}");
    assert!(
        plan["hosts"][1]["reboot"]
            .to_string()
            .contains("rebooted last: jump host of 1 other host(s)"),
        "{plan}"
    );
    // review R6: the jump written as the bastion's inventory name, not its address, is still
    // the bastion (it was rebooted mid-campaign, silently)
    let text_inv = std::fs::read_to_string(inv).unwrap();
    let ip1 = tb(&["ip", "1"]).trim().to_string();
    let by_name = dir.join("by-name.yml");
    std::fs::write(
        &by_name,
        text_inv.replace(&format!("ProxyJump=root@{ip1}"), "ProxyJump=root@h1"),
    )
    .unwrap();
    // (h3 is not audited through a name this machine cannot resolve; the plan still knows
    // which host the hop is)
    let plan = reboot(&dir, by_name.to_str().unwrap(), &["--plan", "--json"])
        .output()
        .unwrap();
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let plan = json(&plan)["plan"].clone();
    let h1 = plan["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "h1")
        .unwrap_or_else(|| panic!("{plan}"));
    assert!(
        h1["reboot"]
            .to_string()
            .contains("rebooted last: jump host of 1 other host(s)"),
        "{plan}"
    );
    // and the jump host of a hook host that is not itself in the campaign
    std::fs::write(
        dir.join("hook.yml"),
        "drain: {command: 'true', on: h3}\nundrain: {command: 'true', on: h3}\n",
    )
    .unwrap();
    let plan = reboot(
        &dir,
        inv,
        &["h1", "--campaign", "hook.yml", "--plan", "--json"],
    )
    .output()
    .unwrap();
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let plan = json(&plan)["plan"].clone();
    assert!(
        plan["hosts"][0]["reboot"]
            .to_string()
            .contains("rebooted last: jump host of 1 other host(s)"),
        "{plan}"
    );
    // and for real: h3 through the bastion, then the bastion
    let out = reboot(&dir, inv, &["--journal", "b.journal", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["summary"]["ok"], 2);
    assert_eq!((boots(1), boots(3)), (2, 2));
    let j = journal(&dir.join("b.journal"));
    let fin_h3 = j
        .iter()
        .position(|r| r["host"] == "h3" && r["phase"] == "finished")
        .unwrap();
    let start_h1 = j
        .iter()
        .position(|r| r["host"] == "h1" && r["phase"] == "started")
        .unwrap();
    assert!(fin_h3 < start_h1, "the bastion started before h3 finished");
    tb(&["stopall"]);
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn a_slow_reboot_is_bounded_by_the_reboot_timeout_not_the_host_timeout() {
    // a unit that takes 12 s to stop: the reboot outlasts --host-timeout 8, which must bound
    // the steps before the reboot and those after it, not the wait between
    let dir = common::scratch("reboot-slow");
    let inv = fleet(&dir, 1, 1..=1);
    tb(&[
        "exec",
        "1",
        "sh",
        "-c",
        "printf '[Service]\\nType=oneshot\\nRemainAfterExit=yes\\nExecStart=/bin/true\\nExecStop=/bin/sleep 12\\nTimeoutStopSec=60\\n[Install]\\nWantedBy=multi-user.target\\n' > /etc/systemd/system/fr-slow-stop.service \
         && systemctl daemon-reload && systemctl enable --now fr-slow-stop.service",
    ]);
    let t0 = Instant::now();
    let out = reboot(
        &dir,
        inv.to_str().unwrap(),
        &[
            "--host-timeout",
            "8",
            "--reboot-timeout",
            "120",
            "--journal",
            "s.journal",
            "--json",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        t0.elapsed() > Duration::from_secs(12),
        "the stop took its time"
    );
    assert_eq!(boots(1), 2);
    let (_, active, _) = reboot_records(&journal(&dir.join("s.journal")), "h1");
    assert!(
        active.iter().any(|u| u == "fr-slow-stop.service"),
        "{active:?}"
    );
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn a_host_rebooted_by_hand_after_the_audit_is_not_rebooted_again() {
    // review R2: the plan is the audit's; a host that rebooted since (unattended-upgrades, an
    // operator, another campaign) was rebooted a second time
    let dir = common::scratch("reboot-since-audit");
    let inv = fleet(&dir, 2, 1..=2);
    let inv = inv.to_str().unwrap();
    let audit = cmd(&dir, "audit", &["-i", inv, "--json"]).output().unwrap();
    let saved = dir.join("audit.json");
    std::fs::write(&saved, &audit.stdout).unwrap();
    let doc: Value =
        serde_json::from_slice(&audit.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&audit)));
    assert!(
        doc.to_string().contains("boot_id"),
        "the audit has boot ids"
    );
    // h1 is rebooted by hand: its need (/run/reboot-required) goes with the reboot
    let _ = common::testbed(&["exec", "1", "systemctl", "reboot"]);
    wait_for("h1 booted again", Duration::from_secs(120), || {
        boots(1) == 2
    });
    tb(&["wait-running", "1"]);
    let out = reboot(
        &dir,
        inv,
        &[
            "--from-audit",
            saved.to_str().unwrap(),
            "--journal",
            "s.journal",
            "--json",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc = json(&out);
    assert_eq!(doc["summary"]["ok"], 2, "{doc}");
    let h1 = doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "h1")
        .unwrap()
        .clone();
    assert!(
        h1["notes"].to_string().contains("no longer needs a reboot"),
        "{h1}"
    );
    assert_eq!(boots(1), 2, "h1 booted once by hand, never by the campaign");
    assert_eq!(boots(2), 2, "h2 rebooted once by the campaign");
    let j = journal(&dir.join("s.journal"));
    assert!(
        !j.iter()
            .any(|r| r["host"] == "h1" && r["phase"] == "rebooting"),
        "no reboot was journaled for h1"
    );
    tb(&["stopall"]);
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn an_abort_during_the_drain_reboots_nothing_and_undrains() {
    // review R5: the abort was first looked at after `systemctl reboot` was sent, and the host
    // was then undrained while it went down
    let dir = common::scratch("reboot-abort-drain");
    let inv = fleet(&dir, 1, 1..=1);
    let lb = load_balancer(&dir);
    std::fs::write(
        dir.join("c.yml"),
        format!(
            "drain: {{command: 'echo drain > {d}/{{host}}; sleep 4'}}\nundrain: {{command: 'echo ready > {d}/{{host}}'}}\n",
            d = lb.display()
        ),
    )
    .unwrap();
    let jpath = dir.join("d.journal");
    let child = reboot(
        &dir,
        inv.to_str().unwrap(),
        &["--campaign", "c.yml", "--journal", "d.journal", "--json"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    wait_for("h1 draining", Duration::from_secs(120), || {
        journal(&jpath).iter().any(|r| r["phase"] == "draining")
    });
    for _ in 0..2 {
        unsafe {
            libc::kill(child.id() as i32, libc::SIGINT);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let doc = json(&out);
    assert_eq!(doc["hosts"][0]["status"], "aborted", "{doc}");
    assert!(
        doc["hosts"][0]["reason"]
            .to_string()
            .contains("before its reboot was sent"),
        "{doc}"
    );
    let j = journal(&jpath);
    assert!(!j.iter().any(|r| r["phase"] == "rebooting"), "{j:?}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(boots(1), 1, "not rebooted");
    let lbstate = std::fs::read_to_string(lb.join("h1")).unwrap();
    assert_eq!(lbstate.trim(), "ready", "untouched: undrained");
    // resume takes it from the start (and reboots it once)
    let out = common::controller(&dir, "resume", "", &["d.journal", "--json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(boots(1), 2, "rebooted once by the resume");
    tb(&["stopall"]);
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn a_window_that_closes_during_the_drain_reboots_nothing() {
    // review R17: the window gated the host's start only; a drain that outlived it rebooted the
    // host outside the window
    let dir = common::scratch("reboot-window-drain");
    let inv = fleet(&dir, 1, 1..=1);
    let now = |f: &str| -> u32 {
        String::from_utf8(
            Command::new("date")
                .args(["-u", f])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim()
        .parse()
        .unwrap()
    };
    // leave time for the audit inside the window: start in the first 40 s of a minute
    while now("+%S") > 40 {
        std::thread::sleep(Duration::from_secs(1));
    }
    let (h, m) = (now("+%H"), now("+%M"));
    let end = (h * 60 + m + 1) % (24 * 60);
    let window = format!("daily {h:02}:{m:02}-{:02}:{:02}", end / 60, end % 60);
    // the drain outlasts the minute
    std::fs::write(
        dir.join("c.yml"),
        "drain: {command: 'sleep $((62 - $(date -u +%-S)))', timeout: 90}\nundrain: {command: 'true'}\n",
    )
    .unwrap();
    let out = reboot(
        &dir,
        inv.to_str().unwrap(),
        &[
            "--campaign",
            "c.yml",
            "--reboot-window",
            &window,
            "--journal",
            "w.journal",
            "--json",
            "--host-timeout",
            "300",
        ],
    )
    .output()
    .unwrap();
    let doc = json(&out);
    assert_eq!(doc["hosts"][0]["status"], "aborted", "{}", text(&out));
    assert!(
        doc["hosts"][0]["reason"]
            .to_string()
            .contains("window closed"),
        "{doc}"
    );
    assert_eq!(boots(1), 1, "not rebooted outside its window");
    tb(&["stopall"]);
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn a_slow_shutdown_at_the_reboot_timeout_is_still_going_down_and_stays_drained() {
    // review R9: at the timeout a host whose reboot was still pending was failed like one whose
    // reboot never happened, and undrained: it then rebooted in rotation
    let dir = common::scratch("reboot-slow-stop");
    let inv = fleet(&dir, 1, 1..=1);
    // a unit that takes 30 s to stop, ordered after ssh (so ssh is stopped after it: the host
    // still answers while its shutdown waits)
    tb(&[
        "exec",
        "1",
        "sh",
        "-c",
        "printf '[Unit]\\nAfter=ssh.service\\n[Service]\\nType=oneshot\\nRemainAfterExit=yes\\nExecStart=/bin/true\\nExecStop=/bin/sleep 30\\nTimeoutStopSec=60\\n' \
         > /etc/systemd/system/fr-slow-stop.service && systemctl daemon-reload && systemctl start fr-slow-stop.service",
    ]);
    let lb = load_balancer(&dir);
    std::fs::write(
        dir.join("c.yml"),
        format!(
            "drain: {{command: 'echo drain > {d}/{{host}}'}}\nundrain: {{command: 'echo ready > {d}/{{host}}'}}\n",
            d = lb.display()
        ),
    )
    .unwrap();
    let out = reboot(
        &dir,
        inv.to_str().unwrap(),
        &[
            "--campaign",
            "c.yml",
            "--reboot-timeout",
            "10",
            "--journal",
            "s.journal",
            "--json",
        ],
    )
    .output()
    .unwrap();
    // (its failure spends the default budget of 0: exit 5)
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let h1 = json(&out)["hosts"][0].clone();
    assert_eq!(h1["status"], "failed", "{h1}");
    assert!(
        h1["reason"].to_string().contains("still going down"),
        "{h1}"
    );
    assert!(h1["left_drained"].is_string(), "{h1}");
    let state = std::fs::read_to_string(lb.join("h1")).unwrap();
    assert_eq!(
        state.trim(),
        "drain",
        "not undrained while its reboot is pending"
    );
    // and the reboot does go through, later
    wait_for("h1 rebooted", Duration::from_secs(120), || boots(1) == 2);
    tb(&["stopall"]);
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn an_instance_that_ran_before_and_fails_after_the_reboot_fails_the_host_even_when_degraded_is_allowed(
) {
    // review R18: only enabled ∩ active units were compared; an instance enabled through its
    // template failing after the reboot passed with --allow-degraded
    let dir = common::scratch("reboot-instance");
    let inv = fleet(&dir, 1, 1..=1);
    tb(&[
        "exec",
        "1",
        "sh",
        "-c",
        "printf '[Unit]\\nDescription=fr %%i\\n[Service]\\nType=oneshot\\nRemainAfterExit=yes\\nExecStart=/bin/sh -c \"test ! -e /etc/fr-broken\"\\n[Install]\\nWantedBy=multi-user.target\\n' \
         > /etc/systemd/system/fr-inst@.service && systemctl daemon-reload && systemctl enable --now fr-inst@a.service \
         && touch /etc/fr-broken",
    ]);
    assert_eq!(
        tb(&["exec", "1", "systemctl", "is-active", "fr-inst@a.service"]).trim(),
        "active"
    );
    let out = reboot(
        &dir,
        inv.to_str().unwrap(),
        &["--allow-degraded", "--journal", "i.journal", "--json"],
    )
    .output()
    .unwrap();
    let h1 = json(&out)["hosts"][0].clone();
    assert_eq!(h1["status"], "failed", "{}", text(&out));
    assert!(
        h1["reason"]
            .to_string()
            .contains("failed after the reboot, active before it: fr-inst@a.service"),
        "{h1}"
    );
    assert_eq!(boots(1), 2, "rebooted once");
    tb(&["stopall"]);
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn a_reboot_command_that_never_started_is_not_taken_for_a_reboot() {
    // review R20: every transport error of `systemctl reboot` counted as "the connection closed
    // by the reboot": a command that never started (no channel, or no time left of the turn
    // after a long drain) was followed by the whole reboot timeout's wait and "did not come
    // back". Here the drain hook (run on h1 itself) makes h1's sshd refuse every new session
    // (MaxSessions 0, in a file read before the testbed's own: sshd keeps the first value;
    // sessions already open go on): the reboot's own connection opens, its channel is refused.
    let dir = common::scratch("reboot-never-started");
    let inv = fleet(&dir, 1, 1..=1);
    let lb = load_balancer(&dir);
    std::fs::write(
        dir.join("c.yml"),
        format!(
            "drain: {{command: 'echo MaxSessions 0 > /etc/ssh/sshd_config.d/00-r20.conf && systemctl reload ssh', on: h1}}\n\
             undrain: {{command: 'echo ready > {d}/{{host}}'}}\nreboot: {{timeout: 300}}\n",
            d = lb.display()
        ),
    )
    .unwrap();
    let t0 = Instant::now();
    let out = reboot(
        &dir,
        inv.to_str().unwrap(),
        &["--campaign", "c.yml", "--journal", "n.journal", "--json"],
    )
    .output()
    .unwrap();
    eprintln!("campaign took {:?}", t0.elapsed());
    tb(&[
        "exec",
        "1",
        "rm",
        "-f",
        "/etc/ssh/sshd_config.d/00-r20.conf",
    ]);
    tb(&["exec", "1", "systemctl", "reload", "ssh"]);
    let doc = json(&out);
    let h1 = &doc["hosts"][0];
    assert_eq!(h1["status"], "failed", "{}", text(&out));
    let why = h1["reason"].as_str().unwrap_or("");
    assert!(
        why.contains("was never started") && why.contains("not rebooted"),
        "{why}"
    );
    assert!(!why.contains("did not come back"), "{why}");
    assert_eq!(boots(1), 1, "not rebooted");
    // nothing was touched: it is undrained
    let lbstate = std::fs::read_to_string(lb.join("h1")).unwrap_or_default();
    assert_eq!(lbstate.trim(), "ready", "untouched: undrained");
    assert!(h1["left_drained"].is_null(), "{h1}");
    tb(&["stopall"]);
}
