//! `fleetrestart restart` / `resume` on the testbed's real hosts: services made stale by a real
//! `dpkg -i`, restarted in rolling campaigns and checked on the hosts through their units'
//! invocation IDs (a new one at every start). Needs root and the testbed image: `#[ignore]`d in a
//! plain `cargo test`; `cargo xtask test` runs them with `--ignored --test-threads=1`.

mod common;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{fleet, journal, testbed_ok as tb, text, wait_for};

const UNITS: [&str; 3] = ["cron.service", "ssh.service", "lighttpd.service"];

fn cmd(dir: &Path, sub: &str, args: &[&str]) -> Command {
    common::controller(dir, sub, &tb(&["known-hosts"]), args)
}

fn run(dir: &Path, sub: &str, args: &[&str]) -> Output {
    cmd(dir, sub, args).output().unwrap()
}

fn spawn(dir: &Path, sub: &str, args: &[&str]) -> Child {
    cmd(dir, sub, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Writes `campaign.yml` and starts `restart` on every host of `inv` in the background, with the
/// journal `journal` in `dir`; its path.
fn start_campaign(
    dir: &Path,
    inv: &Path,
    yaml: &str,
    journal: &str,
    extra: &[&str],
) -> (Child, PathBuf) {
    std::fs::write(dir.join("campaign.yml"), yaml).unwrap();
    let args = [
        &[
            "-i",
            inv.to_str().unwrap(),
            "--campaign",
            "campaign.yml",
            "--journal",
            journal,
            "--json",
        ][..],
        extra,
    ]
    .concat();
    (spawn(dir, "restart", &args), dir.join(journal))
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}\n{}", text(o)))
}

/// Invocation ID of each unit of host i (a new one every time systemd starts the unit).
fn invocations(i: u32) -> BTreeMap<String, String> {
    let out = tb(&[
        "exec",
        &i.to_string(),
        "systemctl",
        "show",
        "-p",
        "Id,InvocationID",
        UNITS[0],
        UNITS[1],
        UNITS[2],
    ]);
    let mut m = BTreeMap::new();
    for block in out.split("\n\n") {
        let get = |k: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap_or("")
                .to_string()
        };
        if !get("Id=").is_empty() {
            m.insert(get("Id="), get("InvocationID="));
        }
    }
    assert_eq!(m.len(), 3, "{out}");
    m
}

fn host_records<'a>(j: &'a [Value], host: &str) -> Vec<&'a Value> {
    j.iter()
        .filter(|r| r["record"] == "host" && r["host"] == host)
        .collect()
}

/// The most hosts between `started` and `finished` at once, in journal order.
fn max_in_flight(j: &[Value]) -> usize {
    let (mut cur, mut max) = (0usize, 0usize);
    for r in j.iter().filter(|r| r["record"] == "host") {
        match r["phase"].as_str() {
            Some("started") => cur += 1,
            Some("finished") => cur -= 1,
            _ => {}
        }
        max = max.max(cur);
    }
    max
}

fn by_host(doc: &Value) -> BTreeMap<String, Value> {
    doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["host"].as_str().unwrap().to_string(), h.clone()))
        .collect()
}

/// Waits until a host of the campaign journaling to `jpath` is in its checks; how many started.
fn wait_until_checking(jpath: &Path) -> usize {
    wait_for(
        "the first hosts in their checks",
        Duration::from_secs(120),
        || journal(jpath).iter().any(|r| r["phase"] == "checking"),
    );
    journal(jpath)
        .iter()
        .filter(|r| r["phase"] == "started")
        .count()
}

/// Sends SIGINT (a Ctrl-C) to the campaign and waits until it was delivered (no longer pending
/// in /proc/PID/status), so that two presses in a row never merge into one.
fn interrupt(child: &std::process::Child) {
    let pid = child.id();
    unsafe {
        libc::kill(pid as i32, libc::SIGINT);
    }
    let sigint = 1u64 << (libc::SIGINT - 1);
    wait_for("SIGINT delivered", Duration::from_secs(10), || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .filter(|l| l.starts_with("SigPnd:") || l.starts_with("ShdPnd:"))
            .all(|l| {
                let mask = u64::from_str_radix(l.split_whitespace().nth(1).unwrap_or("0"), 16);
                mask.map_or(true, |m| m & sigint == 0)
            })
    });
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn twenty_stale_hosts_batch_25_percent_window_3_as_planned() {
    let dir = common::scratch("campaign20");
    let inv = fleet(&dir, 20, 1..=20);
    let inv = inv.to_str().unwrap();
    let before: Vec<_> = (1..=20).map(invocations).collect();
    // one saved audit feeds both the plan and the run
    let o = run(&dir, "audit", &["-i", inv, "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    std::fs::write(dir.join("audit.json"), &o.stdout).unwrap();
    let common_args = [
        "-i",
        inv,
        "--from-audit",
        "audit.json",
        "--batch",
        "25%",
        "--window",
        "3",
    ];
    let o = run(
        &dir,
        "restart",
        &[&common_args[..], &["--plan", "--json"]].concat(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let plan = json(&o)["plan"].clone();
    assert_eq!(plan["batch_sizes"], serde_json::json!([5, 5, 5, 5]));
    let planned: Vec<&Value> = plan["hosts"].as_array().unwrap().iter().collect();
    assert_eq!(planned.len(), 20);
    // the plan changed nothing
    assert_eq!(invocations(1), before[0]);

    let o = run(
        &dir,
        "restart",
        &[&common_args[..], &["--journal", "c.journal", "--json"]].concat(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc = json(&o);
    assert_eq!(doc["summary"]["ok"], 20, "{}", text(&o));
    let j = journal(&dir.join("c.journal"));
    assert_eq!(
        max_in_flight(&j),
        3,
        "never more than 3 hosts in restart at once, and 3 used"
    );
    // what ran is what was planned: same hosts, in plan order, the planned services
    let started: Vec<&str> = j
        .iter()
        .filter(|r| r["phase"] == "started")
        .map(|r| r["host"].as_str().unwrap())
        .collect();
    let order: Vec<&str> = planned
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(started, order);
    let results = by_host(&doc);
    for h in &planned {
        let name = h["host"].as_str().unwrap();
        let mut want: Vec<&str> = h["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["service"].as_str().unwrap())
            .collect();
        let mut got: Vec<&str> = results[name]["restarted"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{name}");
        for u in UNITS {
            assert!(want.contains(&u), "{name} plans {u}");
        }
    }
    // on the hosts: every unit has a new invocation, and a rescan finds nothing left to restart
    for i in 1..=20u32 {
        let now = invocations(i);
        for u in UNITS {
            assert_ne!(now[u], before[i as usize - 1][u], "h{i} {u} restarted");
        }
    }
    let o = run(&dir, "audit", &["-i", inv, "--json"]);
    for h in json(&o)["hosts"].as_array().unwrap() {
        let left: Vec<&str> = h["report"]["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .filter(|s| *s != "systemd-manager")
            .collect();
        assert!(left.is_empty(), "{}: {left:?}", h["host"]);
    }
    // a second campaign on the same journal is refused
    let o = run(
        &dir,
        "restart",
        &[&common_args[..], &["--journal", "c.journal"]].concat(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("exists already"));
    tb(&["stopall"]);
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn failing_health_checks_spend_a_budget_of_one_and_leave_their_hosts_drained() {
    let dir = common::scratch("campaign-budget");
    // h10 is the load balancer: the hooks run there, it is not restarted
    let inv = fleet(&dir, 10, 1..=9);
    for i in ["2", "4"] {
        tb(&["exec", i, "touch", "/etc/fr-unhealthy"]);
    }
    std::fs::write(
        dir.join("campaign.yml"),
        "batch: 2\nbudget: {max_failures: 1}\nverify: {rescan: false}\n\
         checks:\n  - {type: command, command: 'test ! -e /etc/fr-unhealthy', retries: 1, interval: 0.2}\n  - {type: tcp, port: 80}\n  - {type: http, port: 80, status: [200, 403, 404]}\n\
         drain: {command: 'mkdir -p /root/lb && echo drain > /root/lb/{host}', on: h10}\n\
         undrain: {command: 'echo ready > /root/lb/{host}', on: h10}\n",
    )
    .unwrap();
    let before: Vec<_> = (1..=9).map(invocations).collect();
    let o = run(
        &dir,
        "restart",
        &[
            "all:!h10",
            "-i",
            inv.to_str().unwrap(),
            "--campaign",
            "campaign.yml",
            "--journal",
            "b.journal",
            "--json",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(5),
        "stopped by the budget: {}",
        text(&o)
    );
    let doc = json(&o);
    assert!(
        doc["stopped"].as_str().unwrap().contains("max_failures 1"),
        "{}",
        doc["stopped"]
    );
    let res = by_host(&doc);
    for h in ["h2", "h4"] {
        assert_eq!(res[h]["status"], "failed", "{}", res[h]);
        assert!(
            res[h]["reason"]
                .as_str()
                .unwrap()
                .contains("command check failed"),
            "{}",
            res[h]
        );
    }
    let j = journal(&dir.join("b.journal"));
    // after the second failure, no host starts
    let second = j
        .iter()
        .position(|r| r["phase"] == "finished" && r["host"] == "h4")
        .unwrap();
    assert!(
        !j[second..].iter().any(|r| r["phase"] == "started"),
        "a host started after the budget was spent"
    );
    let untouched: Vec<u32> = (1..=9)
        .filter(|i| res[&format!("h{i}")]["status"] == "not_started")
        .collect();
    assert!(untouched.len() >= 3, "{untouched:?}");
    for i in 1..=9u32 {
        let name = format!("h{i}");
        let restarted = invocations(i) != before[i as usize - 1];
        assert_eq!(
            restarted,
            !untouched.contains(&i),
            "{name}: restarted {restarted}"
        );
        assert_eq!(host_records(&j, &name).is_empty(), untouched.contains(&i));
        let drained = host_records(&j, &name)
            .iter()
            .any(|r| r["phase"] == "draining");
        let lb = String::from_utf8_lossy(
            &common::testbed(&["exec", "10", "cat", &format!("/root/lb/{name}")]).stdout,
        )
        .trim()
        .to_string();
        if drained && res[&name]["status"] == "failed" {
            // unhealthy after its restart: it stays out of rotation, and says so
            assert_eq!(
                lb, "drain",
                "{name} failed its checks and must stay drained"
            );
            assert!(res[&name]["left_drained"].is_string(), "{}", res[&name]);
        } else if drained {
            assert_eq!(lb, "ready", "{name} was drained and must be undrained");
            assert!(res[&name]["left_drained"].is_null(), "{}", res[&name]);
        } else {
            assert_eq!(lb, "", "{name} was never drained");
        }
    }
    // resuming a budget-stopped campaign stops again at once: the budget is in the journal
    let jpath = dir.join("b.journal");
    let jp = jpath.to_str().unwrap();
    let o = run(&dir, "resume", &[jp]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    // unless the operator raises it: the rest runs, the two failed hosts stay failed
    let o = run(&dir, "resume", &[jp, "--max-failures", "2", "--json"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let doc = json(&o);
    assert_eq!(doc["summary"]["ok"], 7, "{}", doc["summary"]);
    assert_eq!(doc["summary"]["failed"], 2, "{}", doc["summary"]);
    assert_eq!(doc["summary"]["left_drained"], 2, "{}", doc["summary"]);
    assert_eq!(doc["summary"]["not_started"], 0, "{}", doc["summary"]);
    let resumes: Vec<Value> = journal(&jpath)
        .into_iter()
        .filter(|r| r["event"] == "resumed")
        .collect();
    assert_eq!(resumes.len(), 2);
    assert_eq!(resumes[0].get("budget"), None, "a plain resume sets none");
    assert_eq!(
        resumes[1]["budget"]["max_failures"], 2,
        "the new budget is journaled"
    );
    tb(&["stopall"]);
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn sigkill_mid_campaign_then_resume_restarts_every_host_exactly_once() {
    let dir = common::scratch("campaign-kill");
    let inv = fleet(&dir, 8, 1..=8);
    // slow hosts so that the kill lands mid-campaign
    std::fs::write(
        dir.join("campaign.yml"),
        "batch: 2\nchecks:\n  - {type: command, command: 'sleep 1'}\n",
    )
    .unwrap();
    let before: Vec<_> = (1..=8).map(invocations).collect();
    let jpath = dir.join("k.journal");
    let mut child = spawn(
        &dir,
        "restart",
        &[
            "-i",
            inv.to_str().unwrap(),
            "--campaign",
            "campaign.yml",
            "--journal",
            "k.journal",
        ],
    );
    wait_for(
        "two finished hosts and one mid-way",
        Duration::from_secs(120),
        || {
            let j = journal(&jpath);
            let fin = j.iter().filter(|r| r["phase"] == "finished").count();
            fin >= 2
                && max_in_flight(&j) > 0
                && j.iter().filter(|r| r["phase"] == "started").count() > fin
        },
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // what the killed controller already sent may still be running on a host: wait until no
    // host has a systemctl running or a systemd job queued, so the state read next is final
    wait_for(
        "hosts settled after the kill",
        Duration::from_secs(60),
        || {
            (1..=8u32).all(|i| {
                let busy = tb(&[
                    "exec",
                    &i.to_string(),
                    "sh",
                    "-c",
                    "pgrep -x systemctl; systemctl list-jobs --no-legend",
                ]);
                busy.trim().is_empty()
            })
        },
    );
    let at_kill: Vec<_> = (1..=8).map(invocations).collect();
    let j = journal(&jpath);
    assert!(
        j.iter().filter(|r| r["phase"] == "finished").count() < 8,
        "the kill came too late"
    );
    let o = run(&dir, "resume", &[jpath.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json(&o)["summary"]["ok"], 8, "{}", text(&o));
    let j = journal(&jpath);
    for i in 1..=8u32 {
        let name = format!("h{i}");
        let after = invocations(i);
        for u in UNITS {
            let b = &before[i as usize - 1][u];
            let k = &at_kill[i as usize - 1][u];
            assert_ne!(&after[u], b, "{name} {u} never restarted");
            if k != b {
                assert_eq!(&after[u], k, "{name} {u} restarted again after the resume");
            }
        }
        let fins = host_records(&j, &name)
            .iter()
            .filter(|r| r["phase"] == "finished")
            .count();
        assert_eq!(fins, 1, "{name} finished once");
    }
    assert!(j.iter().any(|r| r["event"] == "resumed"));
    // a corrupt journal is refused and nothing runs
    let bad = dir.join("bad.journal");
    let mut t = std::fs::read_to_string(&jpath).unwrap();
    t.insert_str(t.find('\n').unwrap() + 1, "{\"record\":\"host\",\"campaign\":\"other\",\"t\":1,\"host\":\"h1\",\"phase\":\"started\"}\n");
    std::fs::write(&bad, t).unwrap();
    let o = run(&dir, "resume", &[bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("another campaign"),
        "{}",
        text(&o)
    );
    tb(&["stopall"]);
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn a_host_powered_off_mid_restart_is_unreachable_and_the_campaign_goes_on() {
    let dir = common::scratch("campaign-off");
    let inv = fleet(&dir, 6, 1..=6);
    let (child, jpath) = start_campaign(
        &dir,
        &inv,
        "batch: 2\nbudget: {max_failures: 0}\nchecks:\n  - {type: command, command: 'sleep 3', timeout: 6, retries: 0}\n",
        "o.journal",
        &["--connect-timeout", "3"],
    );
    wait_for("h2 in its checks", Duration::from_secs(120), || {
        journal(&jpath)
            .iter()
            .any(|r| r["host"] == "h2" && r["phase"] == "checking")
    });
    tb(&["down", "2"]);
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "failures within the budget: {}",
        text(&o)
    );
    let doc = json(&o);
    let res = by_host(&doc);
    assert_eq!(res["h2"]["status"], "unreachable", "{}", res["h2"]);
    for i in [1, 3, 4, 5, 6] {
        assert_eq!(
            res[&format!("h{i}")]["status"],
            "ok",
            "{}",
            res[&format!("h{i}")]
        );
    }
    assert!(doc["stopped"].is_null());
    tb(&["stopall"]);
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn ctrl_c_pauses_after_in_flight_hosts_and_resume_finishes() {
    let dir = common::scratch("campaign-pause");
    let inv = fleet(&dir, 6, 1..=6);
    let (child, jpath) = start_campaign(
        &dir,
        &inv,
        "batch: 2\nchecks:\n  - {type: command, command: 'sleep 2'}\n",
        "p.journal",
        &[],
    );
    let started_before = wait_until_checking(&jpath);
    interrupt(&child);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(6), "paused: {}", text(&o));
    let doc = json(&o);
    let j = journal(&jpath);
    let started = j.iter().filter(|r| r["phase"] == "started").count();
    assert_eq!(started, started_before, "no host starts after the pause");
    assert_eq!(
        doc["summary"]["ok"],
        started,
        "in-flight hosts finished: {}",
        text(&o)
    );
    assert_eq!(doc["summary"]["not_started"], 6 - started);
    let o = run(&dir, "resume", &[jpath.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json(&o)["summary"]["ok"], 6);
    tb(&["stopall"]);
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn a_second_ctrl_c_aborts_the_checks_and_resume_verifies_then_undrains() {
    let dir = common::scratch("campaign-abort");
    let inv = fleet(&dir, 4, 1..=4);
    let lb = dir.join("lb");
    std::fs::create_dir_all(&lb).unwrap();
    // the in-flight hosts run a long check command: the abort stops it mid-run. (Were it not
    // stopped, it would succeed after 600 s, within the raised host timeout, and those hosts
    // would end ok, not aborted.) Once /root/fr-pass exists on a host, its check passes at once.
    let yaml = format!(
        "batch: 2\nchecks:\n  - {{type: command, command: 'test -e /root/fr-pass || sleep 600', timeout: 900}}\n\
         drain: {{command: 'echo drain > {d}/{{host}}'}}\nundrain: {{command: 'echo ready > {d}/{{host}}'}}\n",
        d = lb.display()
    );
    let (child, jpath) =
        start_campaign(&dir, &inv, &yaml, "a.journal", &["--host-timeout", "1200"]);
    let started_before = wait_until_checking(&jpath);
    for _ in 0..2 {
        interrupt(&child);
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(6), "aborted: {}", text(&o));
    let doc = json(&o);
    assert!(
        doc["stopped"].as_str().unwrap_or("").contains("aborted"),
        "{}",
        doc["stopped"]
    );
    let j = journal(&jpath);
    let started: Vec<String> = j
        .iter()
        .filter(|r| r["phase"] == "started")
        .map(|r| r["host"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(started.len(), started_before, "no host starts after Ctrl-C");
    assert_eq!(doc["summary"]["not_started"], 4 - started.len());
    let res = by_host(&doc);
    for h in &started {
        // the operator's abort, not the host's failure (review M3)
        assert_eq!(res[h]["status"], "aborted", "{}", res[h]);
        assert!(
            res[h]["reason"].as_str().unwrap().contains("aborted"),
            "{}",
            res[h]
        );
        // restarted but not verified: out of rotation until resume verified it
        let state = std::fs::read_to_string(lb.join(h)).unwrap_or_default();
        assert_eq!(state.trim(), "drain", "{h} was aborted unverified: drained");
        assert!(res[h]["left_drained"].is_string(), "{}", res[h]);
        assert_eq!(
            host_records(&j, h)
                .iter()
                .filter(|r| r["phase"] == "finished")
                .count(),
            1,
            "{h} finished once"
        );
    }
    // a plain resume (default budget 0, a canary-free plan) runs the aborted hosts' checks
    // without restarting them again, then the hosts not started
    for h in &started {
        tb(&["exec", &h[1..], "touch", "/root/fr-pass"]);
    }
    for h in res.keys().filter(|h| !started.contains(h)) {
        tb(&["exec", &h[1..], "touch", "/root/fr-pass"]);
    }
    let o = run(&dir, "resume", &[jpath.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc = json(&o);
    assert_eq!(doc["summary"]["ok"], 4, "{}", doc["summary"]);
    let j = journal(&jpath);
    for h in &started {
        let recs = host_records(&j, h);
        let n = |p: &str| recs.iter().filter(|r| r["phase"] == p).count();
        assert_eq!(n("restarting"), 1, "{h} restarted once: {recs:?}");
        // aborted before or during its checks; the resumed run checks it, then it is ok
        let aborted = recs
            .iter()
            .position(|r| r["phase"] == "finished" && r["outcome"] == "aborted")
            .unwrap_or_else(|| panic!("{h} aborted: {recs:?}"));
        let after: Vec<&str> = recs[aborted + 1..]
            .iter()
            .map(|r| r["phase"].as_str().unwrap())
            .collect();
        assert_eq!(
            after,
            ["checking", "undraining", "finished"],
            "{h}: {recs:?}"
        );
        assert_eq!(recs.last().unwrap()["outcome"], "ok", "{recs:?}");
        let state = std::fs::read_to_string(lb.join(h)).unwrap_or_default();
        assert_eq!(state.trim(), "ready", "{h} verified by resume: undrained");
    }
    tb(&["stopall"]);
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn a_closed_stderr_panics_no_worker_and_every_drained_host_is_undrained() {
    // review M10: progress lines went through eprintln!, which panics on EPIPE, and a worker
    // that panicked between its drain and its undrain left the host drained
    let dir = common::scratch("campaign-epipe");
    let inv = fleet(&dir, 3, 1..=2);
    let yaml = "batch: 1\nverify: {rescan: false}\n\
         drain: {command: 'mkdir -p /root/lb && echo drain > /root/lb/{host}', on: h3}\n\
         undrain: {command: 'echo ready > /root/lb/{host}', on: h3}\n";
    std::fs::write(dir.join("campaign.yml"), yaml).unwrap();
    let mut child = cmd(
        &dir,
        "restart",
        &[
            "all:!h3",
            "-i",
            inv.to_str().unwrap(),
            "--campaign",
            "campaign.yml",
            "--journal",
            "e.journal",
            "--json",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    drop(child.stderr.take()); // the reading end is gone: every progress line meets EPIPE
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc = json(&o);
    assert_eq!(doc["summary"]["ok"], 2, "{doc}");
    for h in ["h1", "h2"] {
        let state = tb(&["exec", "3", "cat", &format!("/root/lb/{h}")]);
        assert_eq!(state.trim(), "ready", "{h} was undrained");
    }
    tb(&["stopall"]);
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn checks_of_a_host_behind_a_jump_host_run_from_that_host() {
    // review M4: tcp and http checks connected from this machine to the inner address, which
    // this machine cannot reach (the testbed routes the private network nowhere)
    let dir = common::scratch("campaign-jump");
    tb(&["stopall"]);
    tb(&["start", "1"]);
    tb(&["bastion", "1"]);
    tb(&["start-private", "2"]);
    tb(&["upgrade", "2", "libpcre2-8-0"]);
    let inv = dir.join("inventory.yml");
    tb(&["inventory", inv.to_str().unwrap()]);
    // (lighttpd was just restarted: a few attempts, as an operator would give it)
    let yaml = "checks:\n  - {type: tcp, port: 22, retries: 10, interval: 0.5}\n  \
                - {type: http, port: 80, path: /, status: [200, 403, 404], retries: 10, interval: 0.5}\n";
    std::fs::write(dir.join("campaign.yml"), yaml).unwrap();
    let o = run(
        &dir,
        "restart",
        &[
            "h2",
            "-i",
            inv.to_str().unwrap(),
            "--campaign",
            "campaign.yml",
            "--journal",
            "j.journal",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc = json(&o);
    let res = by_host(&doc);
    assert_eq!(res["h2"]["status"], "ok", "{}", res["h2"]);
    assert!(
        !res["h2"]["restarted"].as_array().unwrap().is_empty(),
        "{}",
        res["h2"]
    );
    tb(&["stopall"]);
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn a_journal_that_cannot_be_written_stops_the_campaign_with_its_own_exit_code() {
    // the drain hook (run on the controller, a child of it) caps the controller's file size at
    // the journal's size: the next record fails (EFBIG). Before: recorded as an operator stop,
    // exit 6 ("paused or aborted by the operator"); a controller without SIGXFSZ ignored died.
    let dir = common::scratch("campaign-journal");
    let inv = fleet(&dir, 2, 1..=2);
    let lb = dir.join("lb");
    std::fs::create_dir_all(&lb).unwrap();
    let jpath = dir.join("j.journal");
    let yaml = format!(
        "batch: 1\n\
         drain: {{command: 'echo drain > {d}/{{host}} && prlimit --pid $PPID --fsize=$(stat -c %s {j})'}}\n\
         undrain: {{command: 'echo ready > {d}/{{host}}'}}\n",
        d = lb.display(),
        j = jpath.display()
    );
    let before = invocations(1);
    let (child, _) = start_campaign(&dir, &inv, &yaml, "j.journal", &[]);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(7), "journal failed: {}", text(&o));
    let doc = json(&o);
    let stopped = doc["stopped"].as_str().unwrap_or("");
    assert!(
        stopped.contains("journal could not be written"),
        "{stopped}"
    );
    let res = by_host(&doc);
    let first = doc["hosts"][0]["host"].as_str().unwrap().to_string();
    assert_eq!(res[&first]["status"], "failed", "{}", res[&first]);
    assert_eq!(doc["summary"]["not_started"], 1, "{}", doc["summary"]);
    // not recorded, not run: no restart after the failed `restarting` record; and the host
    // the drain took out of rotation is put back though the journal cannot say so
    let i: u32 = first[1..].parse().unwrap();
    if i == 1 {
        assert_eq!(invocations(1), before, "h1 was not restarted");
    }
    let state = std::fs::read_to_string(lb.join(&first)).unwrap_or_default();
    assert_eq!(state.trim(), "ready", "{first} must be undrained");
    let j = journal(&jpath);
    assert!(
        !host_records(&j, &first)
            .iter()
            .any(|r| r["phase"] == "restarting"),
        "{j:?}"
    );
    tb(&["stopall"]);
}

/// `systemctl show -p P --value UNIT` on host i.
fn unit_prop(i: u32, unit: &str, p: &str) -> String {
    tb(&[
        "exec",
        &i.to_string(),
        "systemctl",
        "show",
        "-p",
        p,
        "--value",
        unit,
    ])
    .trim()
    .to_string()
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn a_service_killed_right_after_its_restart_leaves_its_host_failed_and_drained() {
    let dir = common::scratch("campaign-killed");
    let inv = fleet(&dir, 2, 1..=2);
    // on h1, every start of cron is followed 0.3 s later by a SIGTERM to its main process: a
    // clean exit to systemd (inactive, Result=success, no Restart=on-failure), as the journald
    // race leaves it; the campaign's start-once is killed the same way
    tb(&[
        "exec",
        "1",
        "sh",
        "-c",
        "mkdir -p /etc/systemd/system/cron.service.d && printf '[Service]\\nExecStartPost=/bin/sh -c \"(sleep 0.3; kill -TERM $$MAINPID) >/dev/null 2>&1 </dev/null &\"\\n' \
         > /etc/systemd/system/cron.service.d/fr-kill.conf && systemctl daemon-reload",
    ]);
    let lb = dir.join("lb");
    std::fs::create_dir_all(&lb).unwrap();
    let yaml = format!(
        "batch: 1\nbudget: {{max_failures: 1}}\n\
         drain: {{command: 'echo drain > {d}/{{host}}'}}\nundrain: {{command: 'echo ready > {d}/{{host}}'}}\n",
        d = lb.display()
    );
    let (child, jpath) = start_campaign(&dir, &inv, &yaml, "k.journal", &[]);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(3), "a host failed: {}", text(&o));
    let doc = json(&o);
    let res = by_host(&doc);
    let h1 = &res["h1"];
    assert_eq!(h1["status"], "failed", "{h1}");
    let reason = h1["reason"].as_str().unwrap();
    assert!(
        reason.contains("cron.service") && reason.contains("started again once: still down"),
        "{reason}"
    );
    let notes = h1["notes"].to_string();
    assert!(
        notes.contains("cron.service: inactive after the restart"),
        "{notes}"
    );
    assert!(h1["left_drained"].is_string(), "{h1}");
    assert_eq!(doc["summary"]["left_drained"], 1, "{}", doc["summary"]);
    let state = |h: &str| {
        std::fs::read_to_string(lb.join(h))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    assert_eq!(state("h1"), "drain", "h1 failed: it stays out of rotation");
    assert_eq!(res["h2"]["status"], "ok", "{}", res["h2"]);
    assert_eq!(state("h2"), "ready");
    assert_eq!(unit_prop(2, "cron.service", "ActiveState"), "active");
    // the journal says it too
    let j = journal(&jpath);
    let fin = host_records(&j, "h1")
        .into_iter()
        .rfind(|r| r["phase"] == "finished")
        .unwrap()
        .clone();
    assert!(fin["left_drained"].is_string(), "{fin}");
    assert!(fin["notes"].to_string().contains("started again"), "{fin}");
    tb(&["stopall"]);
}

/// Attaches strace to host i's PID 1: every connect() it and its new children make returns
/// 300 ms late, which widens the journald restart race (restart-race-2026-12.md: about a third
/// of `systemctl restart cron … systemd-journald` runs leave cron killed by SIGPIPE). Stopped
/// (SIGINT, detaching cleanly) when dropped.
struct Widened(Child);

impl Widened {
    fn attach(i: u32) -> Widened {
        let pid = tb(&["leader", &i.to_string()]).trim().to_string();
        let c = Command::new("strace")
            .args(["-f", "-qq", "-o", "/dev/null", "-p", &pid])
            .args([
                "-e",
                "trace=connect",
                "-e",
                "inject=connect:delay_exit=300000",
            ])
            .stdin(Stdio::null())
            .spawn()
            .expect("strace (cargo xtask deps installs it)");
        std::thread::sleep(Duration::from_secs(1));
        Widened(c)
    }
}

impl Drop for Widened {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGINT);
        }
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn journald_restarted_with_its_clients_under_a_widened_race_leaves_no_unit_down() {
    let dir = common::scratch("campaign-journald");
    let inv = fleet(&dir, 1, 1..=1);
    let lib = tb(&[
        "exec",
        "1",
        "readlink",
        "-f",
        "/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0",
    ]);
    std::fs::write(dir.join("campaign.yml"), "batch: 1\n").unwrap();
    for round in 0..4 {
        if round > 0 {
            // stale again: the library replaced as dpkg replaces it
            tb(&["replace-file", "1", lib.trim()]);
        }
        let plan = run(
            &dir,
            "restart",
            &[
                "-i",
                inv.to_str().unwrap(),
                "--campaign",
                "campaign.yml",
                "--plan",
                "--json",
            ],
        );
        let plan = text(&plan);
        assert!(
            plan.contains("systemd-journald.service") && plan.contains("cron.service"),
            "journald and cron are both restarted: {plan}"
        );
        let widened = Widened::attach(1);
        let journal = format!("w{round}.journal");
        let o = run(
            &dir,
            "restart",
            &[
                "-i",
                inv.to_str().unwrap(),
                "--campaign",
                "campaign.yml",
                "--journal",
                &journal,
                "--json",
            ],
        );
        drop(widened);
        assert_eq!(o.status.code(), Some(0), "round {round}: {}", text(&o));
        let doc = json(&o);
        let h1 = &by_host(&doc)["h1"];
        assert_eq!(h1["status"], "ok", "{h1}");
        // journald first and alone: nothing fell into its restart, nothing had to be started
        assert_eq!(h1["notes"], serde_json::json!([]), "{h1}");
        for u in ["cron.service", "systemd-journald.service", "ssh.service"] {
            assert_eq!(
                unit_prop(1, u, "ActiveState"),
                "active",
                "round {round}: {u}"
            );
        }
    }
    tb(&["stopall"]);
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn two_controllers_on_the_same_hosts_never_work_on_one_host_at_once() {
    // two campaigns started a second apart on the same stale hosts restarted every service
    // twice and drained hosts under each other; each host's lease now serialises them, and the
    // second looks again before it acts
    let dir = common::scratch("campaign-two");
    let inv = fleet(&dir, 3, 1..=3);
    let log = dir.join("hooks.log");
    let yaml = |who: &str| {
        format!(
            "batch: 3\nchecks:\n  - {{type: command, command: 'sleep 3'}}\n\
             drain: {{command: 'echo \"$(date +%s.%N) drain {who} {{host}}\" >> {l}'}}\n\
             undrain: {{command: 'echo \"$(date +%s.%N) undrain {who} {{host}}\" >> {l}'}}\n",
            l = log.display()
        )
    };
    std::fs::write(dir.join("a.yml"), yaml("A")).unwrap();
    std::fs::write(dir.join("b.yml"), yaml("B")).unwrap();
    let start = |file: &str, journal: &str| {
        spawn(
            &dir,
            "restart",
            &[
                "-i",
                inv.to_str().unwrap(),
                "--campaign",
                file,
                "--journal",
                journal,
                "--json",
            ],
        )
    };
    let a = start("a.yml", "a.journal");
    std::thread::sleep(Duration::from_secs(1));
    let b = start("b.yml", "b.journal");
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(a.status.code(), Some(0), "A: {}", text(&a));
    assert_eq!(b.status.code(), Some(0), "B: {}", text(&b));
    let (ra, rb) = (by_host(&json(&a)), by_host(&json(&b)));
    for h in ["h1", "h2", "h3"] {
        let names = |r: &BTreeMap<String, Value>| -> Vec<String> {
            r[h]["restarted"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        };
        let (x, y) = (names(&ra), names(&rb));
        assert!(
            x.iter().all(|s| !y.contains(s)),
            "{h}: restarted by both campaigns: {x:?} {y:?}"
        );
        assert!(
            x.contains(&"cron.service".to_string()) || y.contains(&"cron.service".to_string()),
            "{h}: cron restarted by neither: {x:?} {y:?}"
        );
        // the campaign that came second waited for the lease and looked again
        let second = if x.is_empty() { &rb[h] } else { &ra[h] };
        let other = if x.is_empty() { &ra[h] } else { &rb[h] };
        if names(&ra).is_empty() || names(&rb).is_empty() {
            let notes = second["notes"].to_string() + &other["notes"].to_string();
            assert!(notes.contains("looked again"), "{h}: {notes}");
        }
    }
    // drain..undrain of one campaign never overlaps the other's on a host
    let text_log = std::fs::read_to_string(&log).unwrap();
    for h in ["h1", "h2", "h3"] {
        let mut spans: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
        for l in text_log.lines() {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w.len() == 4 && w[3] == h {
                let t: f64 = w[0].parse().unwrap();
                let e = spans.entry(w[2]).or_insert((f64::MAX, 0.0));
                if w[1] == "drain" {
                    e.0 = e.0.min(t);
                } else {
                    e.1 = e.1.max(t);
                }
            }
        }
        let (sa, sb) = (spans["A"], spans["B"]);
        assert!(
            sa.1 <= sb.0 || sb.1 <= sa.0,
            "{h}: drained by both at once: A {sa:?} B {sb:?}\n{text_log}"
        );
    }
    tb(&["stopall"]);
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn a_service_stopped_since_the_audit_is_not_started() {
    // review R7: `systemctl restart` of a unit an operator stopped after the audit started it
    let dir = common::scratch("campaign-stopped");
    let inv = fleet(&dir, 1, 1..=1);
    let inv = inv.to_str().unwrap();
    let audit = run(&dir, "audit", &["-i", inv, "--json"]);
    std::fs::write(dir.join("audit.json"), &audit.stdout).unwrap();
    assert!(text(&audit).contains("cron.service"), "{}", text(&audit));
    tb(&["exec", "1", "systemctl", "stop", "cron.service"]);
    std::fs::write(dir.join("c.yml"), "batch: 1\n").unwrap();
    let o = run(
        &dir,
        "restart",
        &[
            "-i",
            inv,
            "--from-audit",
            "audit.json",
            "--campaign",
            "c.yml",
            "--journal",
            "s.journal",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let h1 = by_host(&json(&o))["h1"].clone();
    assert_eq!(h1["status"], "ok", "{h1}");
    assert!(
        h1["notes"]
            .to_string()
            .contains("cron.service: stopped since the audit"),
        "{h1}"
    );
    assert!(
        !h1["restarted"].to_string().contains("cron.service"),
        "{h1}"
    );
    assert_eq!(unit_prop(1, "cron.service", "ActiveState"), "inactive");
    assert_eq!(unit_prop(1, "ssh.service", "ActiveState"), "active");
    tb(&["stopall"]);
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn an_undrain_is_retried_and_resume_finishes_one_still_owed() {
    // review R21: the undrain was tried once; a transient failure left the host drained
    let dir = common::scratch("campaign-undrain");
    let inv = fleet(&dir, 2, 1..=2);
    let lb = dir.join("lb");
    std::fs::create_dir_all(&lb).unwrap();
    // h1's undrain fails twice, then works; h2's fails until the file `ok` exists
    let yaml = format!(
        "batch: 1\nbudget: {{max_failures: 1}}\nverify: {{rescan: false}}\n\
         drain: {{command: 'echo drain > {d}/{{host}}'}}\n\
         undrain: {{command: 'n=$(cat {d}/{{host}}.tries 2>/dev/null || echo 0); echo $((n+1)) > {d}/{{host}}.tries; \
         if [ {{host}} = h1 ] && [ $n -lt 2 ]; then exit 1; fi; \
         if [ {{host}} = h2 ] && [ ! -e {d}/ok ]; then exit 1; fi; echo ready > {d}/{{host}}'}}\n",
        d = lb.display()
    );
    let (child, jpath) = start_campaign(&dir, &inv, &yaml, "u.journal", &[]);
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "h2's undrain failed: {}",
        text(&o)
    );
    let res = by_host(&json(&o));
    let state = |h: &str| {
        std::fs::read_to_string(lb.join(h))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let tries = |h: &str| {
        std::fs::read_to_string(lb.join(format!("{h}.tries")))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    assert_eq!(res["h1"]["status"], "ok", "{}", res["h1"]);
    assert_eq!((state("h1"), tries("h1")), ("ready".into(), "3".into()));
    assert!(res["h2"]["undrain_failed"].is_string(), "{}", res["h2"]);
    assert_eq!((state("h2"), tries("h2")), ("drain".into(), "4".into()));
    // the undrain is owed: resume tries it again (and restarts nothing)
    std::fs::write(lb.join("ok"), "").unwrap();
    let o = run(&dir, "resume", &[jpath.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(state("h2"), "ready");
    let recs = host_records(&journal(&jpath), "h2")
        .iter()
        .map(|r| r["phase"].as_str().unwrap().to_string())
        .collect::<Vec<_>>();
    assert_eq!(
        recs.iter().filter(|p| *p == "restarting").count(),
        1,
        "restarted once: {recs:?}"
    );
    assert_eq!(
        recs.last().map(String::as_str),
        Some("finished"),
        "{recs:?}"
    );
    tb(&["stopall"]);
}

#[test]
#[ignore = "needs root and the testbed image: run by `cargo xtask test`"]
fn an_encrypted_keys_passphrase_is_asked_once_per_campaign() {
    // the audit and the campaign's steps share one SSH context (Settings builds it once): a
    // second one asked the passphrase again when the campaign reached the host after its audit
    let dir = common::scratch("passphrase-once");
    let inv = fleet(&dir, 1, 1..=1);
    let key = dir.join("enc");
    let st = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "pass phrase",
            "-C",
            "enc",
            "-f",
        ])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    let public = std::fs::read_to_string(dir.join("enc.pub")).unwrap();
    tb(&[
        "exec",
        "1",
        "sh",
        "-c",
        &format!("echo '{}' >> /root/.ssh/authorized_keys", public.trim()),
    ]);
    let text_inv = std::fs::read_to_string(&inv).unwrap();
    let ours: String = text_inv
        .lines()
        .map(|l| match l.split_once("ansible_ssh_private_key_file:") {
            Some((indent, _)) => {
                format!("{indent}ansible_ssh_private_key_file: {}\n", key.display())
            }
            None => format!("{l}\n"),
        })
        .collect();
    assert_ne!(ours, text_inv, "the inventory names our key");
    std::fs::write(&inv, ours).unwrap();
    // on a terminal (the passphrase is asked there), typed ahead three times over
    let c = cmd(
        &dir,
        "restart",
        &[
            "-i",
            inv.to_str().unwrap(),
            "--journal",
            "p.journal",
            "--json",
        ],
    );
    let line: Vec<String> = std::iter::once(c.get_program())
        .chain(c.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy().replace('\'', r"'\''")))
        .collect();
    let mut script = Command::new("script");
    script
        .args(["-qfec", &line.join(" "), "/dev/null"])
        .current_dir(&dir)
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = script.spawn().unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        input
            .write_all(b"pass phrase\npass phrase\npass phrase\n")
            .unwrap();
        // kept open until the campaign ends: an end of input would reach it as one
        std::mem::forget(input);
    }
    let out = child.wait_with_output().unwrap();
    let all = String::from_utf8_lossy(&out.stdout);
    let asked = all.matches("Enter passphrase for key").count();
    assert!(
        all.contains("\"status\": \"ok\""),
        "the campaign ran: {all}"
    );
    assert_eq!(asked, 1, "asked once for the audit and the campaign: {all}");
    tb(&["stopall"]);
}
