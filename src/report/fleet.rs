//! Aggregation: per-host results folded into the fleet view (by service, sessions, reboots,
//! failures) and the summary counts.
//!
//! Pure: results in, [`Fleet`] out; the renderers ([`crate::report::human`], [`crate::report::json`]) only format it.

use crate::audit::{HostResult, HostStatus};
use fleetrestart_scan::report::{Report, Service};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// What made a service stale: a file and the package that owns it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Cause {
    pub package: Option<String>,
    pub path: String,
}

/// One service (by name and how it is restarted) and every host that runs it stale.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceRow {
    pub service: String,
    pub method: String,
    pub policy: String,
    pub hosts: Vec<String>,
    pub causes: Vec<Cause>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostRow {
    pub host: String,
    pub services: Vec<String>,
    pub never_restart: Vec<String>,
    pub sessions: usize,
    pub containers: usize,
    pub unattributed: usize,
    pub reboot: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub host: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub hosts: usize,
    pub scanned: usize,
    pub clean: usize,
    pub needing_action: usize,
    pub restart_needed: usize,
    pub reboot_needed: usize,
    pub sessions: usize,
    pub failed: usize,
    pub unreachable: usize,
    /// Host × service pairs to restart.
    pub service_restarts: usize,
    pub partial: usize,
}

/// One thing scans do not see, with the hosts whose report says it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Limitation {
    pub text: String,
    pub hosts: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Fleet {
    pub services: Vec<ServiceRow>,
    pub never_restart: Vec<ServiceRow>,
    pub hosts: Vec<HostRow>,
    pub sessions: Vec<Problem>,
    /// Hosts with stale processes in containers (never restarted from the host).
    pub containers: Vec<Problem>,
    /// What the scans say they do not see, each with its hosts, in the order first seen.
    pub limitations: Vec<Limitation>,
    pub reboot: Vec<Problem>,
    pub failed: Vec<Problem>,
    pub unreachable: Vec<Problem>,
    pub clean: Vec<String>,
    pub counts: Counts,
}

fn causes(s: &Service) -> BTreeSet<Cause> {
    s.processes
        .iter()
        .flat_map(|p| p.files.iter())
        .map(|f| Cause {
            package: f.package.clone(),
            path: f.path.clone(),
        })
        .collect()
}

/// A service row being built, with the sets that keep adding to it linear.
struct RowBuilder {
    row: ServiceRow,
    hosts: HashSet<String>,
    causes: HashSet<Cause>,
}

type Rows = BTreeMap<(String, String), RowBuilder>;

fn add_services(rows: &mut Rows, host: &str, list: &[Service]) {
    for s in list {
        let method = s.method.as_str().to_string();
        let policy = s.policy.as_str().to_string();
        let b = rows
            .entry((s.name.clone(), method.clone()))
            .or_insert_with(|| RowBuilder {
                row: ServiceRow {
                    service: s.name.clone(),
                    method,
                    policy,
                    hosts: Vec::new(),
                    causes: Vec::new(),
                },
                hosts: HashSet::new(),
                causes: HashSet::new(),
            });
        if b.hosts.insert(host.to_string()) {
            b.row.hosts.push(host.to_string());
        }
        for c in causes(s) {
            if b.causes.insert(c.clone()) {
                b.row.causes.push(c);
            }
        }
    }
}

fn host_row(host: &str, r: &Report) -> HostRow {
    HostRow {
        host: host.to_string(),
        services: r.services.iter().map(|s| s.name.clone()).collect(),
        never_restart: r.never_restart.iter().map(|s| s.name.clone()).collect(),
        sessions: r.sessions.len(),
        containers: r.containers.len(),
        unattributed: r.unattributed.len(),
        reboot: r.reboot.needed,
    }
}

pub fn fleet(results: &[HostResult]) -> Fleet {
    let mut f = Fleet::default();
    let mut services = Rows::new();
    let mut never = Rows::new();
    f.counts.hosts = results.len();
    for r in results {
        match &r.outcome {
            Ok(scan) => {
                let rep = &scan.report;
                f.counts.scanned += 1;
                if rep.partial {
                    f.counts.partial += 1;
                }
                add_services(&mut services, &r.host, &rep.services);
                add_services(&mut never, &r.host, &rep.never_restart);
                f.counts.service_restarts += rep.services.len();
                if !rep.services.is_empty() {
                    f.counts.restart_needed += 1;
                }
                if !rep.sessions.is_empty() {
                    f.counts.sessions += 1;
                    let users: BTreeSet<&str> =
                        rep.sessions.iter().map(|s| s.user.as_str()).collect();
                    f.sessions.push(Problem {
                        host: r.host.clone(),
                        reason: format!(
                            "{} session(s) of {}",
                            rep.sessions.len(),
                            users.into_iter().collect::<Vec<_>>().join(", ")
                        ),
                    });
                }
                if !rep.containers.is_empty() {
                    let ids: Vec<&str> = rep.containers.iter().map(|c| c.id.as_str()).collect();
                    f.containers.push(Problem {
                        host: r.host.clone(),
                        reason: format!(
                            "{} container(s) with stale processes: {}",
                            ids.len(),
                            ids.join(", ")
                        ),
                    });
                }
                for text in &rep.limitations {
                    match f.limitations.iter_mut().find(|l| &l.text == text) {
                        Some(l) => l.hosts.push(r.host.clone()),
                        None => f.limitations.push(Limitation {
                            text: text.clone(),
                            hosts: vec![r.host.clone()],
                        }),
                    }
                }
                if rep.reboot.needed {
                    f.counts.reboot_needed += 1;
                    f.reboot.push(Problem {
                        host: r.host.clone(),
                        reason: rep.reboot.reasons.join("; "),
                    });
                }
                if rep.needs_action() {
                    f.counts.needing_action += 1;
                    f.hosts.push(host_row(&r.host, rep));
                } else {
                    f.counts.clean += 1;
                    f.clean.push(r.host.clone());
                }
            }
            Err(e) if r.status() == HostStatus::Unreachable => {
                f.counts.unreachable += 1;
                f.unreachable.push(Problem {
                    host: r.host.clone(),
                    reason: e.to_string(),
                });
            }
            Err(e) => {
                f.counts.failed += 1;
                f.failed.push(Problem {
                    host: r.host.clone(),
                    reason: e.to_string(),
                });
            }
        }
    }
    f.services = services.into_values().map(|b| b.row).collect();
    f.never_restart = never.into_values().map(|b| b.row).collect();
    // most widespread first, then by name
    f.services.sort_by(|a, b| {
        b.hosts
            .len()
            .cmp(&a.hosts.len())
            .then(a.service.cmp(&b.service))
    });
    f.never_restart.sort_by(|a, b| {
        b.hosts
            .len()
            .cmp(&a.hosts.len())
            .then(a.service.cmp(&b.service))
    });
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::delivery::{Delivery, HostError, HostScan};
    use std::time::Duration;

    fn report(services: serde_json::Value) -> Report {
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/report-clean.json")).unwrap();
        v["services"] = services;
        serde_json::from_value(v).unwrap()
    }

    fn svc(name: &str, path: &str, pkg: &str) -> serde_json::Value {
        serde_json::json!({"name": name, "kind": "systemd", "method": "restart", "policy": "auto", "rule": null, "process_count": 1,
          "processes": [{"pid": 10, "ppid": 1, "uid": 0, "user": "root", "comm": "x", "exe": "/usr/bin/x", "cmdline": "x", "started_at": 0, "cgroup": null,
             "files": [{"path": path, "kind": "library", "reason": "deleted", "package": pkg}], "files_omitted": 0}]})
    }

    fn ok(host: &str, services: serde_json::Value) -> HostResult {
        HostResult {
            host: host.into(),
            outcome: Ok(HostScan {
                report: report(services),
                delivery: Delivery::Reused,
            }),
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn folding_is_linear_in_hosts_and_causes() {
        // each new host and cause was compared with every earlier one (quadratic:
        // 2000 hosts x 64 distinct files was ~8e9 string comparisons)
        let base = report(serde_json::json!([svc("big.service", "/x", "p")]));
        let results: Vec<HostResult> = (0..2000)
            .map(|h| {
                let mut rep = base.clone();
                let s = &mut rep.services;
                let p = &mut s[0].processes[0];
                let f0 = p.files[0].clone();
                p.files = (0..64)
                    .map(|i| {
                        let mut f = f0.clone();
                        f.path = format!("/h{h}/l{i}");
                        f
                    })
                    .collect();
                s.push(s[0].clone());
                HostResult {
                    host: format!("h{h}"),
                    outcome: Ok(HostScan {
                        report: rep,
                        delivery: Delivery::Reused,
                    }),
                    elapsed: Duration::ZERO,
                }
            })
            .collect();
        let f = fleet(&results);
        assert_eq!(f.services.len(), 1);
        assert_eq!(f.services[0].hosts.len(), 2000);
        assert_eq!(f.services[0].causes.len(), 2000 * 64);
        assert_eq!(f.services[0].causes[64].path, "/h1/l0");
    }

    #[test]
    fn containers_limitations_and_services_that_may_be_stale_are_shown() {
        let mut may = svc("app.service", "/srv/app/mod.py", "app");
        may["policy"] = "manual".into();
        may["processes"][0]["files"][0]["reason"] = "may_have_changed".into();
        let mut with_container = ok("h2", serde_json::json!([]));
        if let Ok(scan) = &mut with_container.outcome {
            scan.report.containers = vec![fleetrestart_scan::report::Container {
                kind: "pid_namespace".into(),
                id: "machine-web.scope".into(),
                process_count: 1,
                processes: vec![],
            }];
            scan.report.limitations = vec!["lazy imports are not followed".into()];
        }
        let mut first = ok("h1", serde_json::json!([may]));
        if let Ok(scan) = &mut first.outcome {
            scan.report.limitations = vec!["lazy imports are not followed".into()];
        }
        let results = vec![first, with_container];
        let f = fleet(&results);
        assert_eq!(f.limitations[0].hosts, ["h1", "h2"]);
        let human = crate::report::human::human(&results, &f);
        assert!(
            human.contains("Containers with stale processes (never restarted from the host) (1):")
                && human.contains("h2: 1 container(s) with stale processes: machine-web.scope"),
            "{human}"
        );
        assert!(
            human.contains("  lazy imports are not followed (2 host(s): h[1-2])"),
            "{human}"
        );
        assert!(human.contains("app.service  restart (manual)"), "{human}");
    }

    #[test]
    fn services_fold_across_hosts_with_causes() {
        let lib = "/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0";
        let results = vec![
            ok(
                "h1",
                serde_json::json!([
                    svc("cron.service", lib, "libpcre2-8-0"),
                    svc("ssh.service", "/usr/sbin/sshd", "openssh-server")
                ]),
            ),
            ok(
                "h2",
                serde_json::json!([svc("cron.service", lib, "libpcre2-8-0")]),
            ),
            ok("h3", serde_json::json!([])),
            HostResult {
                host: "h4".into(),
                outcome: Err(HostError::Unreachable("connect timed out".into())),
                elapsed: Duration::ZERO,
            },
            HostResult {
                host: "h5".into(),
                outcome: Err(HostError::BadReport("not JSON".into())),
                elapsed: Duration::ZERO,
            },
        ];
        let f = fleet(&results);
        assert_eq!(f.services[0].service, "cron.service");
        assert_eq!(f.services[0].hosts, ["h1", "h2"]);
        assert_eq!(
            f.services[0].causes,
            [Cause {
                package: Some("libpcre2-8-0".into()),
                path: lib.into()
            }]
        );
        assert_eq!(f.services[1].hosts, ["h1"]);
        assert_eq!(f.clean, ["h3"]);
        assert_eq!(f.unreachable[0].host, "h4");
        assert_eq!(f.failed[0].reason, "invalid scanner report: not JSON");
        let c = &f.counts;
        assert_eq!(
            (
                c.hosts,
                c.scanned,
                c.clean,
                c.needing_action,
                c.failed,
                c.unreachable,
                c.service_restarts
            ),
            (5, 3, 1, 2, 1, 1, 3)
        );
    }
}
