//! The plan: which hosts a campaign restarts, what on each, in which order and batches.
//!
//! Pure: audit reports and the [`Spec`] in, [`Plan`] out. `--plan` prints it, the journal stores
//! it, and the engine executes exactly it (resume reads it back from the journal instead of
//! auditing again). Order: canaries first, then hosts by `group_order` tier, then inventory
//! order; batches never span a tier.

use super::spec::{Canary, Check, Spec};
use fleetrestart_scan::report::{KernelState, Report, ServiceKind};
use fleetrestart_scan::restart::{self, Ask, Selected, Skip};
use fleetrestart_scan::rules::Method;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One service restarted on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub service: String,
    pub kind: ServiceKind,
    pub method: Method,
    /// sysv services: the executables of its stale processes as the audit saw them, to tell
    /// whether the daemon runs when its init script has no `status` action.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exes: Vec<String>,
}

/// The distinct executables of a service's processes that are safe to compare with a
/// process's `exe` link on the host (absolute, printable, bounded), at most 4.
fn daemon_exes(procs: &[fleetrestart_scan::report::Process]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in procs {
        let e = &p.exe;
        let ok = e.starts_with('/') && e.len() <= 4096 && !e.chars().any(char::is_control);
        if ok && !out.contains(e) && out.len() < 4 {
            out.push(e.clone());
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedHost {
    pub host: String,
    pub groups: Vec<String>,
    pub batch: usize,
    /// Index in `group_order` (hosts in none of those groups come last).
    pub tier: usize,
    pub canary: bool,
    pub actions: Vec<Action>,
    /// The health checks run after the restart or reboot, as they run (`--plan` prints
    /// them; a reboot's own verification is not among them).
    pub checks: Vec<PlannedCheck>,
    /// Reboot campaigns: this host is rebooted, for these reasons (its audit's, or `--all`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot: Option<Vec<String>>,
    /// Reboot campaigns: the boot id its audit saw. At its turn a host that booted since (by
    /// unattended-upgrades, an operator, another campaign) is audited again, and skipped when
    /// it no longer needs a reboot: never rebooted twice for one need.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_boot_id: Option<String>,
    /// When its audit ran (the host's clock, Unix seconds): a campaign that released the host's
    /// lease after it may have done what the plan says ([`super::lease`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audited_at: Option<u64>,
    /// Reboot campaigns: the newest kernel installed when its audit found it running an older
    /// one. After the reboot, a host that runs an older kernel than this has failed, whether
    /// or not it is rescanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_expected: Option<String>,
}

/// A health check of a host: host-wide, or for one of its services (left out at the host's
/// turn when that service was found stopped, as the service is not restarted then).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedCheck {
    pub check: Check,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

impl PlannedCheck {
    fn host(check: Check) -> PlannedCheck {
        PlannedCheck {
            check,
            service: None,
        }
    }
}

/// Two checks are the same when they are described the same (every field is in the text).
impl PartialEq for PlannedCheck {
    fn eq(&self, other: &Self) -> bool {
        self.service == other.service && self.check.describe() == other.check.describe()
    }
}

/// The checks of a host that restarts `actions`: systemd's (when a systemd unit is restarted),
/// the campaign's host-wide ones, each restarted service's own, and the rescan.
fn restart_checks(spec: &Spec, actions: &[Action]) -> Vec<PlannedCheck> {
    let mut checks = Vec::new();
    if spec.verify.systemd && actions.iter().any(|x| x.kind == ServiceKind::Systemd) {
        checks.push(PlannedCheck::host(Check::systemd()));
    }
    // in the order of the actions, each service once
    let mut services: Vec<&str> = Vec::new();
    for a in actions {
        if !services.contains(&a.service.as_str()) {
            services.push(&a.service);
        }
    }
    checks.extend(
        spec.checks_for(services.into_iter())
            .into_iter()
            .map(|(c, s)| PlannedCheck {
                check: c.clone(),
                service: s.map(String::from),
            }),
    );
    if spec.verify.rescan {
        checks.push(PlannedCheck::host(Check::rescan()));
    }
    checks
}

/// Something the plan leaves alone, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Untouched {
    pub host: String,
    pub what: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub hosts: Vec<PlannedHost>,
    /// Batch sizes as computed (host counts), in order.
    pub batch_sizes: Vec<usize>,
    /// Per batch: it waits until every earlier host has finished (after the canaries, at a step
    /// of the ramp, at a change of `group_order` tier). Other batches slide in window mode.
    pub gates: Vec<bool>,
    pub untouched: Vec<Untouched>,
    pub reboot_needed: Vec<String>,
    /// Hosts with nothing to restart.
    pub clean: Vec<String>,
    /// Hosts the audit could not scan: not in the campaign.
    pub not_audited: Vec<Untouched>,
}

/// An audited host as the planner sees it.
pub struct Audited<'a> {
    pub host: &'a str,
    pub groups: Vec<String>,
    pub report: Result<&'a Report, String>,
}

/// Which services the operator asked for (fnmatch globs; empty include = all).
#[derive(Debug, Clone, Default)]
pub struct ServiceFilter {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

/// `name`s within one edit (two for names over 4 letters) of `term` or containing it (or contained in it), at most three:
/// what the operator may have meant. Pure.
pub fn close_matches<'a>(term: &str, names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let t = term.to_ascii_lowercase();
    let t = t.strip_suffix(".service").unwrap_or(&t).to_string();
    let mut out: Vec<&str> = names
        .filter(|n| {
            let l = n.to_ascii_lowercase();
            let s = l.strip_suffix(".service").unwrap_or(&l);
            // a short name allows one slip, a longer one two
            let most = if t.len() <= 4 { 1 } else { 2 };
            edits(&t, s) <= most || (t.len() >= 3 && (s.contains(&t) || t.contains(s)))
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out.truncate(3);
    out
}

/// Levenshtein distance, bounded work (names are short).
fn edits(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) =
        (a.chars().take(64).collect(), b.chars().take(64).collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The `--services`/`--exclude-services` terms that select no service any audited host needs
/// to restart (a typo, most often), each with its close matches. Pure.
pub fn unmatched_service_terms<'a>(
    filter: &'a ServiceFilter,
    audited: &[Audited],
) -> Vec<(&'a str, Vec<String>)> {
    let names: std::collections::BTreeSet<&str> = audited
        .iter()
        .filter_map(|a| a.report.as_ref().ok())
        .flat_map(|r| r.services.iter().chain(&r.never_restart))
        .map(|s| s.name.as_str())
        .collect();
    let hit = |g: &str, n: &str| {
        let short = n.strip_suffix(".service").unwrap_or(n);
        crate::glob::wildcard(g, n) || crate::glob::wildcard(g, short)
    };
    filter
        .include
        .iter()
        .chain(&filter.exclude)
        .filter(|g| !names.iter().any(|n| hit(g, n)))
        .map(|g| {
            let close = close_matches(g, names.iter().copied());
            (g.as_str(), close.into_iter().map(String::from).collect())
        })
        .collect()
}

/// How a campaign names the operator's options in the reasons it gives.
const WORDS: restart::Words = restart::Words {
    services: "--services",
    daemon_reexec: "--daemon-reexec",
};

impl ServiceFilter {
    fn selected(&self, name: &str) -> Selected {
        let short = name.strip_suffix(".service").unwrap_or(name);
        let hit = |g: &String| crate::glob::wildcard(g, name) || crate::glob::wildcard(g, short);
        if self.exclude.iter().any(hit) {
            Selected::Excluded
        } else if self.include.is_empty() || self.include.iter().any(hit) {
            Selected::Yes
        } else {
            Selected::NotListed
        }
    }
    fn names(&self, name: &str) -> bool {
        let short = name.strip_suffix(".service").unwrap_or(name);
        self.include
            .iter()
            .any(|g| !g.contains(['*', '?', '[']) && (g == name || g == short))
    }
}

/// Decides what to restart on one host; everything else goes to `untouched`.
fn host_actions(
    host: &str,
    report: &Report,
    spec: &Spec,
    filter: &ServiceFilter,
    untouched: &mut Vec<Untouched>,
) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut skip = |what: &str, reason: String| {
        untouched.push(Untouched {
            host: host.into(),
            what: what.into(),
            reason,
        })
    };
    for s in &report.services {
        let ask = Ask {
            selected: filter.selected(&s.name),
            named: filter.names(&s.name),
            daemon_reexec: spec.daemon_reexec,
            method: spec.services.get(&s.name).and_then(|p| p.method),
        };
        let skipped = spec.services.get(&s.name).is_some_and(|p| p.skip);
        let method = match restart::eligible(s, &ask) {
            Err(e @ (Skip::InvalidName | Skip::Excluded | Skip::NotListed)) => {
                skip(&s.name, e.reason(&WORDS));
                continue;
            }
            _ if skipped => {
                skip(&s.name, "skip: true in the campaign file".into());
                continue;
            }
            Err(e) => {
                skip(&s.name, e.reason(&WORDS));
                continue;
            }
            Ok(m) => m,
        };
        actions.push(Action {
            service: s.name.clone(),
            kind: s.kind,
            method,
            exes: if s.kind == ServiceKind::Sysv {
                daemon_exes(&s.processes)
            } else {
                Vec::new()
            },
        });
    }
    for s in &report.never_restart {
        skip(
            &s.name,
            format!("policy {}: never restarted by campaigns", s.policy.as_str()),
        );
    }
    for s in &report.sessions {
        skip(
            &format!("session {} of {}", s.id, s.user),
            "sessions are never restarted: the user must log out".into(),
        );
    }
    for c in &report.containers {
        skip(
            &format!("container {}", c.id),
            "restart it inside the container".into(),
        );
    }
    for u in &report.unattributed {
        skip(
            &format!("{} unattributed process(es)", u.process_count),
            u.reason.clone(),
        );
    }
    actions
}

/// A host's place in `group_order` (hosts in none of those groups come last).
fn tier(spec: &Spec, groups: &[String]) -> usize {
    spec.group_order
        .iter()
        .position(|g| groups.contains(g))
        .unwrap_or(spec.group_order.len())
}

/// Builds the plan. `audited` is in inventory order.
pub fn build(audited: &[Audited], spec: &Spec, filter: &ServiceFilter) -> Result<Plan, String> {
    let mut plan = Plan::default();
    let mut hosts = Vec::new();
    for a in audited {
        let report = match &a.report {
            Ok(r) => *r,
            Err(e) => {
                plan.not_audited.push(Untouched {
                    host: a.host.into(),
                    what: "host".into(),
                    reason: e.clone(),
                });
                continue;
            }
        };
        if report.reboot.needed {
            plan.reboot_needed.push(a.host.into());
        }
        let actions = host_actions(a.host, report, spec, filter, &mut plan.untouched);
        if actions.is_empty() {
            plan.clean.push(a.host.into());
            continue;
        }
        let tier = tier(spec, &a.groups);
        let checks = restart_checks(spec, &actions);
        hosts.push(PlannedHost {
            host: a.host.into(),
            groups: a.groups.clone(),
            batch: 0,
            tier,
            canary: false,
            actions,
            checks,
            reboot: None,
            audit_boot_id: None,
            kernel_expected: None,
            audited_at: Some(report.started_at),
        });
    }
    order_and_batch(&mut plan, hosts, spec)?;
    Ok(plan)
}

/// Why a host cannot be in a reboot campaign, if it cannot: a campaign tells a reboot from no
/// reboot, and a host rebooted since its audit, by the boot id, so a host needs one of its own
/// (an LXC or OpenVZ container shows its host kernel's, which never changes when the
/// container restarts; a resume would reboot it again), and an audit that saw it.
fn no_boot_id(report: &Report) -> Option<String> {
    let c = report.host.container.as_deref();
    if !fleetrestart_scan::report::own_boot_id(c) {
        return Some(format!(
            "a container ({}) without a boot id of its own: a campaign could not tell whether it rebooted; restart it from its host",
            c.unwrap_or("?")
        ));
    }
    if report.host.boot_id.is_none() {
        return Some(
            "its audit has no boot id (a scanner older than 2026-12, or unreadable): audit it again"
                .into(),
        );
    }
    None
}

/// The plan of a reboot campaign: every audited host whose audit says a reboot is needed (with
/// `reboot.all`, every audited host). A host that could not be audited is never rebooted: its
/// need is unknown (fail closed). Hosts in `last` (jump hosts and hook hosts of the campaign,
/// with why) are rebooted after every other host has finished, so that no host loses its way
/// in or its drain while they are down.
pub fn build_reboot(
    audited: &[Audited],
    spec: &Spec,
    last: &BTreeMap<String, String>,
) -> Result<Plan, String> {
    let mut plan = Plan::default();
    let mut hosts = Vec::new();
    for a in audited {
        let report = match &a.report {
            Ok(r) => *r,
            Err(e) => {
                plan.not_audited.push(Untouched {
                    host: a.host.into(),
                    what: "host".into(),
                    reason: format!("{e} (its reboot need is unknown: not rebooted)"),
                });
                continue;
            }
        };
        if report.reboot.needed || spec.reboot.all {
            if let Some(why) = no_boot_id(report) {
                plan.untouched.push(Untouched {
                    host: a.host.into(),
                    what: "reboot".into(),
                    reason: why,
                });
                if report.reboot.needed {
                    plan.reboot_needed.push(a.host.into());
                }
                continue;
            }
        }
        let mut reasons = if report.reboot.needed {
            plan.reboot_needed.push(a.host.into());
            report.reboot.reasons.clone()
        } else if spec.reboot.all {
            vec!["--all: every audited host".into()]
        } else {
            plan.clean.push(a.host.into());
            continue;
        };
        let tier = match last.get(a.host) {
            Some(why) => {
                reasons.push(format!("rebooted last: {why}"));
                spec.group_order.len() + 1
            }
            None => tier(spec, &a.groups),
        };
        let checks = spec
            .checks
            .iter()
            .cloned()
            .map(PlannedCheck::host)
            .collect();
        hosts.push(PlannedHost {
            host: a.host.into(),
            groups: a.groups.clone(),
            batch: 0,
            tier,
            canary: false,
            actions: Vec::new(),
            checks,
            reboot: Some(reasons),
            audit_boot_id: report.host.boot_id.clone(),
            audited_at: Some(report.started_at),
            kernel_expected: match report.kernel.status {
                KernelState::VersionUpgrade => report.kernel.expected.clone(),
                _ => None,
            },
        });
    }
    order_and_batch(&mut plan, hosts, spec)?;
    Ok(plan)
}

/// Orders `hosts` (by `group_order` tier, canaries first) and cuts them into batches.
fn order_and_batch(
    plan: &mut Plan,
    mut hosts: Vec<PlannedHost>,
    spec: &Spec,
) -> Result<(), String> {
    // order: stable by tier (inventory order inside a tier), canaries pulled to the front
    hosts.sort_by_key(|h| h.tier);
    // hosts rebooted last (jump and hook hosts) are never canaries, and go one at a time, each
    // after everything before it finished (a canary bastion, or a batch of two,
    // rebooted together with the hosts that need it)
    let last_tier = spec.group_order.len() + 1;
    match &spec.canary {
        None => {}
        Some(Canary::Count(n)) => hosts
            .iter_mut()
            .filter(|h| h.tier < last_tier)
            .take(*n)
            .for_each(|h| h.canary = true),
        Some(Canary::Hosts(names)) => {
            for n in names {
                match hosts.iter_mut().find(|h| &h.host == n) {
                    Some(h) if h.tier >= last_tier => {
                        return Err(format!(
                            "canary host {n:?} is rebooted last (other hosts need it while they reboot): it cannot be a canary"
                        ))
                    }
                    Some(h) => h.canary = true,
                    None => {
                        return Err(format!(
                            "canary host {n:?} is not among the hosts of the campaign"
                        ))
                    }
                }
            }
        }
    }
    hosts.sort_by_key(|h| !h.canary);
    // batches: the canaries are batch 0; then the ramp, restarting a batch at each tier change
    let total = hosts.len();
    let sizes = spec
        .batch
        .0
        .iter()
        .map(|s| s.hosts(total))
        .collect::<Vec<_>>();
    let last = *sizes.last().unwrap_or(&1);
    let mut ramp_at = 0;
    let mut next_size = || {
        let s = sizes.get(ramp_at).copied().unwrap_or(last);
        ramp_at += 1;
        s
    };
    let mut i = 0;
    let mut prev_size: Option<usize> = None;
    while i < hosts.len() {
        let b = plan.batch_sizes.len();
        let (size, canary) = if hosts[i].canary {
            (hosts.iter().filter(|h| h.canary).count(), true)
        } else if hosts[i].tier >= last_tier {
            (1, false)
        } else {
            (next_size(), false)
        };
        let tier = hosts[i].tier;
        let ramp_step = !canary && prev_size.is_some_and(|p| p != size);
        let gate = b > 0
            && (hosts[i - 1].canary || hosts[i - 1].tier != tier || ramp_step || tier >= last_tier);
        plan.gates.push(gate);
        if !canary {
            prev_size = Some(size);
        }
        let mut n = 0;
        while i < hosts.len()
            && n < size
            && hosts[i].canary == canary
            && (canary || hosts[i].tier == tier)
        {
            hosts[i].batch = b;
            i += 1;
            n += 1;
        }
        plan.batch_sizes.push(n);
    }
    plan.hosts = hosts;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests_support {
    use fleetrestart_scan::report::{Report, Service, ServiceKind};
    use fleetrestart_scan::rules::{Method, Policy};

    pub(crate) fn report_with(services: &[(&str, ServiceKind, Method, Policy)]) -> Report {
        let text = include_str!("../../tests/fixtures/report-clean.json");
        let mut r: Report = serde_json::from_str(text).unwrap();
        r.services = services
            .iter()
            .map(|(n, k, m, p)| Service {
                name: n.to_string(),
                kind: *k,
                method: *m,
                policy: *p,
                rule: None,
                process_count: 1,
                processes: vec![],
            })
            .collect();
        r
    }

    pub(crate) fn cron_report() -> Report {
        report_with(&[(
            "cron.service",
            ServiceKind::Systemd,
            Method::Restart,
            Policy::Auto,
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::{cron_report as cron, report_with};
    use super::*;
    use fleetrestart_scan::rules::Policy;

    #[test]
    fn the_campaign_and_the_ansible_module_restart_the_same_services_the_same_way() {
        use fleetrestart_scan::ansible::{commands, restart_plan, ModuleArgs};
        use Method::*;
        use Policy::*;
        use ServiceKind::*;
        let r = report_with(&[
            ("cron.service", Systemd, Restart, Auto),
            ("dovecot.service", Systemd, StopKillStart, Auto),
            ("systemd-journald.service", Systemd, Restart, Auto),
            ("dbus.service", Systemd, Restart, Manual),
            ("systemd-manager", Manager, DaemonReexec, Manual),
            ("bad;x.service", Systemd, Restart, Auto),
            ("exim4", Sysv, Restart, Auto),
            ("apache2", Sysv, StopKillStart, Auto),
            ("user@1000.service", Systemd, UserReexec, Auto),
            ("odd.service", Systemd, Restart, Reboot),
        ]);
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // (campaign: --services, --exclude-services, --daemon-reexec) = (module: services,
        // exclude, daemon_reexec)
        let asks: [(Vec<String>, Vec<String>, bool); 5] = [
            (vec![], vec![], false),
            (vec![], vec![], true),
            (names(&["dbus.service", "systemd-manager"]), vec![], false),
            (names(&["cron.service", "exim4"]), names(&["exim4"]), false),
            (vec![], names(&["dovecot.service", "apache2"]), true),
        ];
        for (services, exclude, daemon_reexec) in asks {
            let spec = Spec {
                daemon_reexec,
                ..Spec::default()
            };
            let filter = ServiceFilter {
                include: services.clone(),
                exclude: exclude.clone(),
            };
            let mut untouched = Vec::new();
            let campaign = host_actions("h", &r, &spec, &filter, &mut untouched);
            let args = ModuleArgs {
                restart: true,
                services: (!services.is_empty()).then(|| services.clone()),
                exclude,
                daemon_reexec,
                ..Default::default()
            };
            let (module, left) = restart_plan(&r, &args);
            let chosen: Vec<(&str, Method)> = campaign
                .iter()
                .map(|a| (a.service.as_str(), a.method))
                .collect();
            let asked: Vec<(&str, Method)> = module
                .iter()
                .map(|p| (p.service.as_str(), p.method))
                .collect();
            assert_eq!(chosen, asked, "services {services:?}");
            // what one leaves, the other leaves, for the same reason (each in its own words)
            let words = |r: &str| {
                r.replace("--daemon-reexec", "daemon_reexec")
                    .replace("--services", "services")
            };
            for (service, reason) in &left {
                let ours = untouched.iter().find(|u| &u.what == service);
                let ours = ours.unwrap_or_else(|| panic!("{service}: left by the module only"));
                assert_eq!(words(&ours.reason), *reason, "{service}");
            }
            // and the commands: the module's argument vectors are the campaign's, quoted
            for a in &campaign {
                let p = module.iter().find(|p| p.service == a.service).unwrap();
                let argv = commands(p, "systemctl");
                let step = crate::campaign::scripts::steps(&[a])
                    .unwrap()
                    .remove(0)
                    .script;
                let quoted: Vec<String> = argv
                    .iter()
                    .map(|c| {
                        c.iter()
                            .map(|w| crate::shell::quote(w))
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .collect();
                assert!(
                    step.contains(&crate::shell::quote(&quoted.join("; ")))
                        || step == quoted.join("; "),
                    "{}: {step:?} runs {quoted:?}",
                    a.service
                );
            }
            if daemon_reexec || services.iter().any(|s| s == "systemd-manager") {
                assert!(
                    chosen.contains(&("systemd-manager", DaemonReexec)),
                    "PID 1 asked for"
                );
            } else {
                assert!(
                    chosen.iter().all(|(s, _)| *s != "systemd-manager"),
                    "PID 1 not asked for"
                );
            }
        }
    }

    #[test]
    fn service_terms_that_match_nothing_are_found_with_what_is_close() {
        let r = report_with(&[
            (
                "cron.service",
                ServiceKind::Systemd,
                Method::Restart,
                Policy::Auto,
            ),
            (
                "nginx.service",
                ServiceKind::Systemd,
                Method::Restart,
                Policy::Auto,
            ),
        ]);
        let audited = [Audited {
            host: "h1",
            groups: vec![],
            report: Ok(&r),
        }];
        let filter = ServiceFilter {
            include: vec!["cron".into(), "ngnix".into(), "web*".into()],
            exclude: vec!["nginx.service".into(), "crond".into()],
        };
        let found = unmatched_service_terms(&filter, &audited);
        assert_eq!(
            found,
            [
                ("ngnix", vec!["nginx.service".to_string()]),
                ("web*", vec![]),
                ("crond", vec!["cron.service".to_string()]),
            ]
        );
        assert_eq!(
            close_matches("dbb", ["db", "web", "dns"].into_iter()),
            ["db"]
        );
    }

    #[test]
    fn the_plan_carries_the_checks_each_host_runs_and_shows_them() {
        use super::super::spec::CheckType;
        use ServiceKind::Systemd;
        let spec = Spec::parse(
            "c.yml",
            "checks:\n  - {type: tcp, port: 22}\nservices:\n  lighttpd.service:\n    checks:\n      - {type: http, port: 80, path: /}\n  exim4:\n    checks:\n      - {type: command, command: 'exim -bV'}\n",
        )
        .unwrap();
        let r = report_with(&[
            ("lighttpd.service", Systemd, Method::Restart, Policy::Auto),
            ("cron.service", Systemd, Method::Restart, Policy::Auto),
        ]);
        let audited = [Audited {
            host: "h1",
            groups: vec![],
            report: Ok(&r),
        }];
        let p = build(&audited, &spec, &ServiceFilter::default()).unwrap();
        let checks: Vec<(CheckType, Option<&str>)> = p.hosts[0]
            .checks
            .iter()
            .map(|c| (c.check.kind, c.service.as_deref()))
            .collect();
        assert_eq!(
            checks,
            [
                (CheckType::Systemd, None),
                (CheckType::Tcp, None),
                (CheckType::Http, Some("lighttpd.service")),
                (CheckType::Rescan, None),
            ],
            "exim4's check is not this host's: it restarts no exim4"
        );
        // --plan shows each of them, and only them
        let text = crate::campaign::output::plan_text(&p, &spec);
        for c in &p.hosts[0].checks {
            assert!(text.contains(&c.check.describe()), "{text}");
        }
        assert_eq!(text.matches("    then ").count(), 4, "{text}");
        // the journal keeps them typed, and gives them back as they were
        let back: PlannedHost =
            serde_json::from_str(&serde_json::to_string(&p.hosts[0]).unwrap()).unwrap();
        assert_eq!(back, p.hosts[0]);
    }

    #[test]
    fn reboot_plans_take_needing_hosts_and_put_jump_and_hook_hosts_last() {
        let mut needs = tests_support::cron_report();
        needs.services.clear();
        needs.reboot.needed = true;
        needs.reboot.reasons = vec!["/run/reboot-required exists".into()];
        needs.host.container = None;
        needs.host.boot_id = Some("28bb4ab7-8cbb-4713-b854-2428ddf1eefe".into());
        needs.kernel.status = KernelState::VersionUpgrade;
        needs.kernel.running = "6.1.0-17-amd64".into();
        needs.kernel.expected = Some("6.1.0-18-amd64".into());
        let mut clean = needs.clone();
        clean.reboot = Default::default();
        let names = ["bastion", "a", "b", "c", "lost"];
        let audited: Vec<Audited> = names
            .iter()
            .map(|h| Audited {
                host: h,
                groups: vec![],
                report: match *h {
                    "c" => Ok(&clean),
                    "lost" => Err("audit: unreachable".into()),
                    _ => Ok(&needs),
                },
            })
            .collect();
        let spec = Spec::default();
        let last = BTreeMap::from([(
            "bastion".to_string(),
            "jump host of 2 other host(s)".to_string(),
        )]);
        let p = build_reboot(&audited, &spec, &last).unwrap();
        let order: Vec<&str> = p.hosts.iter().map(|h| h.host.as_str()).collect();
        assert_eq!(order, ["a", "b", "bastion"]);
        assert_eq!(p.clean, ["c"]);
        assert_eq!(p.not_audited[0].host, "lost"); // never rebooted, even with --all
        assert!(p.hosts[2]
            .reboot
            .as_ref()
            .unwrap()
            .iter()
            .any(|r| r.contains("rebooted last")));
        assert!(
            *p.gates.last().unwrap(),
            "the bastion waits for everything before it"
        );
        let mut all = spec.clone();
        all.reboot.all = true;
        let p = build_reboot(&audited, &all, &BTreeMap::new()).unwrap();
        assert_eq!(p.hosts.len(), 4);
        assert!(p.not_audited.iter().any(|u| u.host == "lost"));
        assert_eq!(
            p.hosts[0].audit_boot_id.as_deref(),
            Some("28bb4ab7-8cbb-4713-b854-2428ddf1eefe"),
            "the plan carries the boot id its audit saw"
        );
        assert_eq!(
            p.hosts[0].kernel_expected.as_deref(),
            Some("6.1.0-18-amd64"),
            "and the kernel it should boot"
        );
    }

    #[test]
    fn hosts_rebooted_last_are_never_canaries_and_go_one_at_a_time() {
        // `--canary 3` pulled the bastion into batch 0 beside the hosts behind it;
        // `canary: [web1, lb1]` named the load balancer; `--batch 2` rebooted bastion and lb1
        // together
        let mut needs = tests_support::cron_report();
        needs.services.clear();
        needs.reboot.needed = true;
        needs.host.container = None;
        needs.host.boot_id = Some("28bb4ab7-8cbb-4713-b854-2428ddf1eefe".into());
        let names = ["web1", "web2", "bastion", "lb1"];
        let audited: Vec<Audited> = names
            .iter()
            .map(|h| Audited {
                host: h,
                groups: vec![],
                report: Ok(&needs),
            })
            .collect();
        let last = BTreeMap::from([
            (
                "bastion".to_string(),
                "jump host of 2 other host(s)".to_string(),
            ),
            ("lb1".to_string(), "the drain hook runs on it".to_string()),
        ]);
        let mut spec = Spec {
            canary: Some(Canary::Count(3)),
            ..Default::default()
        };
        let p = build_reboot(&audited, &spec, &last).unwrap();
        let batch = |h: &str| p.hosts.iter().find(|x| x.host == h).unwrap().batch;
        let canaries: Vec<&str> = p
            .hosts
            .iter()
            .filter(|h| h.canary)
            .map(|h| h.host.as_str())
            .collect();
        assert_eq!(canaries, ["web1", "web2"]);
        assert_ne!(batch("bastion"), batch("web1"));
        assert_ne!(batch("bastion"), batch("lb1"));
        spec.canary = Some(Canary::Hosts(vec!["web1".into(), "lb1".into()]));
        let e = build_reboot(&audited, &spec, &last).unwrap_err();
        assert!(e.contains("\"lb1\" is rebooted last"), "{e}");
        spec.canary = None;
        spec.batch = Ramp(vec![Size::Count(2)]);
        let p = build_reboot(&audited, &spec, &last).unwrap();
        assert_eq!(p.batch_sizes, [2, 1, 1]);
        assert_eq!(p.gates, [false, true, true]);
    }

    #[test]
    fn reboot_plans_refuse_hosts_without_a_boot_id_of_their_own() {
        // an LXC container shows its host kernel's boot id (a restart of it never
        // changes it); an audit without a boot id cannot tell a reboot since it
        let mut needs = tests_support::cron_report();
        needs.services.clear();
        needs.reboot.needed = true;
        needs.host.boot_id = Some("28bb4ab7-8cbb-4713-b854-2428ddf1eefe".into());
        let mut lxc = needs.clone();
        lxc.host.container = Some("lxc".into());
        let mut nspawn = needs.clone();
        nspawn.host.container = Some("systemd-nspawn".into());
        let mut old = needs.clone();
        old.host.container = None;
        old.host.boot_id = None;
        let audited = [
            Audited {
                host: "lxc1",
                groups: vec![],
                report: Ok(&lxc),
            },
            Audited {
                host: "ns1",
                groups: vec![],
                report: Ok(&nspawn),
            },
            Audited {
                host: "old1",
                groups: vec![],
                report: Ok(&old),
            },
        ];
        let mut spec = Spec::default();
        spec.reboot.all = true;
        let p = build_reboot(&audited, &spec, &BTreeMap::new()).unwrap();
        let planned: Vec<&str> = p.hosts.iter().map(|h| h.host.as_str()).collect();
        assert_eq!(planned, ["ns1"]);
        let why = |h: &str| {
            p.untouched
                .iter()
                .find(|u| u.host == h)
                .map(|u| u.reason.clone())
                .unwrap_or_default()
        };
        assert!(
            why("lxc1").contains("without a boot id of its own"),
            "{:?}",
            p.untouched
        );
        assert!(why("old1").contains("no boot id"), "{:?}", p.untouched);
        assert_eq!(p.reboot_needed, ["lxc1", "ns1", "old1"]);
    }
    use crate::campaign::spec::{Ramp, Size};

    #[test]
    fn batches_ramp_tiers_and_canaries() {
        let r = cron();
        let names: Vec<String> = (1..=20).map(|i| format!("h{i}")).collect();
        let audited: Vec<Audited> = names
            .iter()
            .enumerate()
            .map(|(i, n)| Audited {
                host: n,
                groups: vec![if i % 2 == 0 {
                    "web".into()
                } else {
                    "db".into()
                }],
                report: Ok(&r),
            })
            .collect();
        let mut spec = Spec {
            batch: Ramp(vec![Size::Percent(25.0)]),
            ..Default::default()
        };
        let p = build(&audited, &spec, &ServiceFilter::default()).unwrap();
        assert_eq!(p.batch_sizes, vec![5, 5, 5, 5]);
        spec.batch = Ramp(vec![Size::Count(1), Size::Count(5), Size::Percent(20.0)]);
        let p = build(&audited, &spec, &ServiceFilter::default()).unwrap();
        assert_eq!(p.batch_sizes, vec![1, 5, 4, 4, 4, 2]);
        // db before web: no batch mixes them; canary first
        spec.group_order = vec!["db".into(), "web".into()];
        spec.canary = Some(Canary::Hosts(vec!["h3".into()]));
        spec.batch = Ramp(vec![Size::Count(4)]);
        let p = build(&audited, &spec, &ServiceFilter::default()).unwrap();
        assert_eq!(p.hosts[0].host, "h3");
        assert!(p.hosts[0].canary);
        assert_eq!(p.hosts[1].host, "h2");
        assert_eq!(p.batch_sizes, vec![1, 4, 4, 2, 4, 4, 1]);
        assert_eq!(p.gates, vec![false, true, false, false, true, false, false]);
        for b in 0..p.batch_sizes.len() {
            let tiers: std::collections::BTreeSet<usize> = p
                .hosts
                .iter()
                .filter(|h| h.batch == b && !h.canary)
                .map(|h| h.tier)
                .collect();
            assert!(tiers.len() <= 1);
        }
        spec.canary = Some(Canary::Hosts(vec!["nope".into()]));
        assert!(build(&audited, &spec, &ServiceFilter::default()).is_err());
    }

    #[test]
    fn what_is_restarted() {
        let r = report_with(&[
            (
                "cron.service",
                ServiceKind::Systemd,
                Method::Restart,
                Policy::Auto,
            ),
            (
                "ssh.service",
                ServiceKind::Systemd,
                Method::Restart,
                Policy::Auto,
            ),
            (
                "bad;rm -rf /.service",
                ServiceKind::Systemd,
                Method::Restart,
                Policy::Auto,
            ),
            (
                "systemd-manager",
                ServiceKind::Manager,
                Method::DaemonReexec,
                Policy::Manual,
            ),
            (
                "dovecot.service",
                ServiceKind::Systemd,
                Method::StopKillStart,
                Policy::Auto,
            ),
        ]);
        let a = [Audited {
            host: "h1",
            groups: vec![],
            report: Ok(&r),
        }];
        let spec = Spec::default();
        let p = build(&a, &spec, &ServiceFilter::default()).unwrap();
        let names: Vec<&str> = p.hosts[0]
            .actions
            .iter()
            .map(|a| a.service.as_str())
            .collect();
        assert_eq!(names, ["cron.service", "ssh.service", "dovecot.service"]);
        assert!(p
            .untouched
            .iter()
            .any(|u| u.what.starts_with("bad;") && u.reason.contains("refused")));
        assert!(p.untouched.iter().any(|u| u.what == "systemd-manager"));
        let f = ServiceFilter {
            include: vec!["ssh".into(), "systemd-manager".into()],
            exclude: vec![],
        };
        let p = build(&a, &spec, &f).unwrap();
        let names: Vec<&str> = p.hosts[0]
            .actions
            .iter()
            .map(|a| a.service.as_str())
            .collect();
        assert_eq!(names, ["ssh.service", "systemd-manager"]);
        let f = ServiceFilter {
            include: vec![],
            exclude: vec!["*.service".into()],
        };
        let p = build(&a, &spec, &f).unwrap();
        assert!(p.hosts.is_empty());
        assert_eq!(p.clean, ["h1"]);
        let bad = [Audited {
            host: "h2",
            groups: vec![],
            report: Err("unreachable".into()),
        }];
        let p = build(&bad, &spec, &ServiceFilter::default()).unwrap();
        assert_eq!(p.not_audited[0].host, "h2");
    }
}
