//! The scheduler: which hosts start when. Sliding window or discrete batches, the caps (window,
//! hosts down, per group), barriers (canary soak, pauses, group-order tiers), the failure budget,
//! and operator pause/stop.
//!
//! Pure and deterministic: time is a number of milliseconds passed in by the caller, hosts are
//! plan indices. The engine asks [`Scheduler::next`] what to do and reports each host's end with
//! [`Scheduler::finished`]; the same calls replayed from a journal rebuild the same state.

use super::plan::Plan;
use super::spec::{BudgetScope, Spec, Strategy, UnreachablePolicy};
pub use super::stop::{Stop, StopReason};
use serde::{Deserialize, Serialize};

/// How a host ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Failed,
    Unreachable,
    /// The operator aborted it (second Ctrl-C) after its restart, before its checks passed:
    /// not a failure (neither the budget nor a canary counts it); `resume` runs its checks.
    Aborted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostState {
    Pending,
    Running,
    Done(Outcome),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Start these hosts now.
    Start(Vec<usize>),
    /// Nothing to start before this time (ms), unless a host finishes first.
    WaitUntil(u64),
    /// Wait for a running host to finish.
    WaitForHosts,
    /// Nothing runs and nothing more will start.
    Done,
}

struct Host {
    batch: usize,
    canary: bool,
    groups: Vec<String>,
}

pub struct Scheduler {
    hosts: Vec<Host>,
    batch_sizes: Vec<usize>,
    gates: Vec<bool>,
    /// Per batch: it is the canaries.
    canary_batch: Vec<bool>,
    state: Vec<HostState>,
    finished_at: Vec<u64>,
    strategy: Strategy,
    window: Option<usize>,
    max_down: Option<usize>,
    group_caps: Vec<(String, usize)>,
    soak_ms: u64,
    pause_ms: u64,
    budget: super::spec::Budget,
    stop: Option<Stop>,
    /// No host starts before this time (outside a reboot window); running ones go on.
    held_until: Option<u64>,
}

impl Scheduler {
    pub fn new(plan: &Plan, spec: &Spec) -> Scheduler {
        Scheduler {
            hosts: plan
                .hosts
                .iter()
                .map(|h| Host {
                    batch: h.batch,
                    canary: h.canary,
                    groups: h.groups.clone(),
                })
                .collect(),
            batch_sizes: plan.batch_sizes.clone(),
            gates: plan.gates.clone(),
            canary_batch: (0..plan.batch_sizes.len())
                .map(|b| plan.hosts.iter().any(|h| h.batch == b && h.canary))
                .collect(),
            state: vec![HostState::Pending; plan.hosts.len()],
            finished_at: vec![0; plan.hosts.len()],
            strategy: spec.strategy,
            window: spec.window,
            max_down: spec.max_down,
            group_caps: spec
                .group_caps
                .iter()
                .map(|(g, k)| (g.clone(), *k))
                .collect(),
            soak_ms: (spec.soak * 1000.0) as u64,
            pause_ms: (spec.pause * 1000.0) as u64,
            budget: spec.budget.clone(),
            stop: None,
            held_until: None,
        }
    }

    /// Holds new starts until `t` (none: release). Hosts in flight are not affected.
    pub fn hold_until(&mut self, t: Option<u64>) {
        self.held_until = t;
    }

    pub fn stopped(&self) -> Option<&Stop> {
        self.stop.as_ref()
    }

    pub fn running(&self) -> usize {
        self.state
            .iter()
            .filter(|s| **s == HostState::Running)
            .count()
    }

    fn count(&self, o: Outcome, batch: Option<usize>) -> usize {
        (0..self.hosts.len())
            .filter(|&i| self.state[i] == HostState::Done(o))
            .filter(|&i| batch.is_none_or(|b| self.hosts[i].batch == b))
            .count()
    }

    /// Is a barrier between batch `b - 1` and batch `b`?
    fn barrier_before(&self, b: usize) -> Option<u64> {
        if b == 0 {
            return None;
        }
        if self.canary_batch[b - 1] {
            Some(self.soak_ms)
        } else if self.strategy == Strategy::Discrete
            || self.pause_ms > 0
            || self.gates.get(b) == Some(&true)
        {
            Some(self.pause_ms)
        } else {
            None
        }
    }

    /// What to do now.
    // one decision read top to bottom, in the order the rules apply (stop, caps, gates, soak,
    // batch boundaries): split, the order would be harder to see
    #[allow(clippy::too_many_lines)]
    pub fn next(&mut self, now: u64) -> Next {
        let running = self.running();
        let any_pending = self.state.contains(&HostState::Pending);
        if self.stop.is_some() || !any_pending {
            return if running > 0 {
                Next::WaitForHosts
            } else {
                Next::Done
            };
        }
        if let Some(t) = self.held_until.filter(|&t| t > now) {
            return Next::WaitUntil(t);
        }
        let failed = self.count(Outcome::Failed, None);
        let mut in_flight = running;
        let mut start = Vec::new();
        let mut wait = None;
        // per batch (batches are contiguous runs of the plan order): started, all finished,
        // and its last finish; then whether everything before each batch is finished, and when
        let nb = self.batch_sizes.len();
        let mut started = vec![false; nb];
        let mut all_done = vec![true; nb];
        let mut last = vec![0u64; nb];
        for (h, (st, t)) in self
            .hosts
            .iter()
            .zip(self.state.iter().zip(&self.finished_at))
        {
            started[h.batch] |= *st != HostState::Pending;
            all_done[h.batch] &= matches!(st, HostState::Done(_));
            last[h.batch] = last[h.batch].max(*t);
        }
        let mut done_before = vec![true; nb];
        let mut last_before = vec![0u64; nb];
        for b in 1..nb {
            done_before[b] = done_before[b - 1] && all_done[b - 1];
            last_before[b] = last_before[b - 1].max(last[b - 1]);
        }
        let mut group_load: Vec<usize> = self
            .group_caps
            .iter()
            .map(|(g, _)| {
                (0..self.hosts.len())
                    .filter(|&i| {
                        self.state[i] == HostState::Running && self.hosts[i].groups.contains(g)
                    })
                    .count()
            })
            .collect();
        for i in 0..self.hosts.len() {
            if self.state[i] != HostState::Pending {
                continue;
            }
            let b = self.hosts[i].batch;
            if !started[b] {
                if let Some(delay) = self.barrier_before(b) {
                    // every earlier host must be finished, then the delay must have passed
                    if !done_before[b] || !start.is_empty() {
                        break;
                    }
                    if now < last_before[b] + delay {
                        wait = Some(last_before[b] + delay);
                        break;
                    }
                }
            }
            let limit = self.window.unwrap_or(self.batch_sizes[b]);
            if in_flight >= limit {
                break;
            }
            if self.max_down.is_some_and(|m| in_flight + failed >= m) {
                break;
            }
            // a group at its cap holds this host back, not the hosts behind it
            let capped = self
                .group_caps
                .iter()
                .zip(&group_load)
                .any(|((g, k), load)| self.hosts[i].groups.contains(g) && load >= k);
            if capped {
                continue;
            }
            for ((g, _), load) in self.group_caps.iter().zip(group_load.iter_mut()) {
                if self.hosts[i].groups.contains(g) {
                    *load += 1;
                }
            }
            in_flight += 1;
            started[b] = true;
            start.push(i);
        }
        for &i in &start {
            self.state[i] = HostState::Running;
        }
        if !start.is_empty() {
            Next::Start(start)
        } else if let Some(t) = wait {
            Next::WaitUntil(t)
        } else if running > 0 {
            Next::WaitForHosts
        } else {
            // nothing running, nothing startable: only a cap of 0 left (max_down reached by
            // failures): the campaign cannot go on
            self.stop(Stop::new(
                StopReason::Budget,
                format!(
                    "{failed} failed host(s) reach max_down {}: no host may go down",
                    self.max_down.unwrap_or(0)
                ),
            ));
            Next::Done
        }
    }

    /// Marks host `i` as running without asking (journal replay of a started host).
    pub fn mark_running(&mut self, i: usize) {
        self.state[i] = HostState::Running;
    }

    /// Host `i` ended at `now`; the budget is checked.
    pub fn finished(&mut self, i: usize, outcome: Outcome, now: u64) {
        self.state[i] = HostState::Done(outcome);
        self.finished_at[i] = now;
        let failed = matches!(outcome, Outcome::Failed | Outcome::Unreachable);
        if failed && self.hosts[i].canary {
            self.stop(Stop::new(
                StopReason::Canary,
                format!("canary host #{} did not pass: the campaign stops", i + 1),
            ));
            return;
        }
        if let Some(reason) = self.budget_spent(self.hosts[i].batch) {
            self.stop(Stop::new(StopReason::Budget, reason));
        }
    }

    fn budget_spent(&self, batch: usize) -> Option<String> {
        let b = &self.budget;
        let scope = match b.per {
            BudgetScope::Campaign => None,
            BudgetScope::Batch => Some(batch),
        };
        let total = match scope {
            None => self.hosts.len(),
            Some(k) => self.batch_sizes[k],
        };
        let unreachable = self.count(Outcome::Unreachable, scope);
        let mut failures = self.count(Outcome::Failed, scope);
        if b.unreachable == UnreachablePolicy::Failure {
            failures += unreachable;
        } else if let Some(m) = b.max_unreachable {
            if unreachable > m {
                return Some(format!(
                    "{unreachable} unreachable host(s) exceed max_unreachable {m}"
                ));
            }
        }
        let what = if scope.is_some() {
            "in this batch"
        } else {
            "in the campaign"
        };
        if let Some(m) = b.max_failures {
            if failures > m {
                return Some(format!(
                    "{failures} failed host(s) {what} exceed max_failures {m}"
                ));
            }
        }
        if let Some(p) = b.max_failure_percent {
            if failures as f64 * 100.0 > p * total as f64 {
                return Some(format!(
                    "{failures} failed host(s) of {total} {what} exceed max_failure_percent {p}"
                ));
            }
        }
        None
    }

    /// Start nothing more: the stronger of this reason and any earlier one is kept ([`Stop::merge`]).
    pub fn stop(&mut self, why: Stop) {
        Stop::merge(&mut self.stop, why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::plan::Plan;
    use crate::campaign::spec::{Budget, Ramp, Size};

    fn plan(n: usize, spec: &Spec, groups: impl Fn(usize) -> Vec<String>) -> Plan {
        // the planner's batching, on hosts that all restart one service
        let r = crate::campaign::plan::tests_support::cron_report();
        let names: Vec<String> = (0..n).map(|i| format!("h{i}")).collect();
        let audited: Vec<crate::campaign::plan::Audited> = names
            .iter()
            .enumerate()
            .map(|(i, h)| crate::campaign::plan::Audited {
                host: h,
                groups: groups(i),
                report: Ok(&r),
            })
            .collect();
        crate::campaign::plan::build(&audited, spec, &Default::default()).unwrap()
    }

    /// Runs a campaign where every host takes `dur(i)` ms and ends with `outcome(i)`; returns
    /// (start, end) times per started host and the stop reason.
    fn simulate(
        p: &Plan,
        spec: &Spec,
        dur: impl Fn(usize) -> u64,
        outcome: impl Fn(usize) -> Outcome,
    ) -> (Vec<Option<(u64, u64)>>, Option<Stop>) {
        let mut s = Scheduler::new(p, spec);
        let mut now = 0u64;
        let mut running: Vec<(u64, usize)> = Vec::new();
        let mut spans = vec![None; p.hosts.len()];
        for _ in 0..10_000 {
            match s.next(now) {
                Next::Start(v) => {
                    for i in v {
                        running.push((now + dur(i), i));
                        spans[i] = Some((now, 0));
                    }
                    continue;
                }
                Next::Done => return (spans, s.stopped().cloned()),
                Next::WaitUntil(t) => {
                    let first = running.iter().map(|r| r.0).min();
                    if first.is_none_or(|f| t < f) {
                        assert!(t > now, "WaitUntil in the past");
                        now = t;
                        continue;
                    }
                }
                Next::WaitForHosts => assert!(!running.is_empty(), "waits for nothing"),
            }
            running.sort();
            let (t, i) = running.remove(0);
            now = t;
            spans[i].as_mut().unwrap().1 = t;
            s.finished(i, outcome(i), now);
        }
        panic!("simulation did not end");
    }

    fn max_overlap(spans: &[Option<(u64, u64)>]) -> usize {
        let mut pts: Vec<(u64, i32)> = Vec::new();
        for (a, b) in spans.iter().flatten() {
            pts.push((*a, 1));
            pts.push((*b, -1));
        }
        pts.sort_by_key(|p| (p.0, p.1));
        let (mut cur, mut max) = (0i32, 0i32);
        for (_, d) in pts {
            cur += d;
            max = max.max(cur);
        }
        max as usize
    }

    #[test]
    fn sliding_window_never_exceeds_its_width_and_does_everything() {
        let spec = Spec {
            batch: Ramp(vec![Size::Percent(25.0)]),
            window: Some(3),
            ..Default::default()
        };
        let p = plan(20, &spec, |_| vec![]);
        let (spans, stop) = simulate(&p, &spec, |i| 10 + (i as u64 * 7) % 13, |_| Outcome::Ok);
        assert!(stop.is_none());
        assert!(spans.iter().all(|s| s.is_some()));
        assert_eq!(max_overlap(&spans), 3);
        // sliding: some host starts before an earlier batch has finished
        let end_b0 = (0..5).map(|i| spans[i].unwrap().1).max().unwrap();
        assert!((5..20).any(|i| spans[i].unwrap().0 < end_b0));
    }

    #[test]
    fn discrete_batches_wait_for_each_other_and_pause() {
        let spec = Spec {
            batch: Ramp(vec![Size::Count(4)]),
            strategy: Strategy::Discrete,
            pause: 0.5,
            ..Default::default()
        };
        let p = plan(10, &spec, |_| vec![]);
        let (spans, _) = simulate(&p, &spec, |i| 100 + i as u64, |_| Outcome::Ok);
        for b in 1..p.batch_sizes.len() {
            let prev_end = p
                .hosts
                .iter()
                .enumerate()
                .filter(|(_, h)| h.batch == b - 1)
                .map(|(i, _)| spans[i].unwrap().1)
                .max()
                .unwrap();
            for (i, h) in p.hosts.iter().enumerate() {
                if h.batch == b {
                    assert_eq!(spans[i].unwrap().0, prev_end + 500, "host {i}");
                }
            }
        }
        assert_eq!(max_overlap(&spans), 4);
    }

    #[test]
    fn ramp_widens_the_window() {
        let spec = Spec {
            batch: Ramp(vec![Size::Count(1), Size::Count(3)]),
            ..Default::default()
        };
        let p = plan(7, &spec, |_| vec![]);
        let (spans, _) = simulate(&p, &spec, |_| 10, |_| Outcome::Ok);
        // the ramp's step is a gate: batch 1 waits for the single first host
        assert_eq!(spans[0], Some((0, 10)));
        assert_eq!(spans[1].unwrap().0, 10);
        assert_eq!(spans[3].unwrap().0, 10);
        assert_eq!(max_overlap(&spans), 3);
        // from there on, equal batches slide: host 4 starts as soon as host 1 is done
        assert_eq!(spans[4].unwrap().0, 20);
    }

    #[test]
    fn canary_soak_and_canary_failure() {
        let spec = Spec {
            batch: Ramp(vec![Size::Count(5)]),
            canary: Some(crate::campaign::spec::Canary::Count(1)),
            soak: 2.0,
            budget: Budget {
                max_failures: Some(5),
                ..Default::default()
            },
            ..Default::default()
        };
        let p = plan(6, &spec, |_| vec![]);
        let (spans, stop) = simulate(&p, &spec, |_| 10, |_| Outcome::Ok);
        assert!(stop.is_none());
        assert!((1..6).all(|i| spans[i].unwrap().0 == 2010));
        let (spans, stop) = simulate(
            &p,
            &spec,
            |_| 10,
            |i| if i == 0 { Outcome::Failed } else { Outcome::Ok },
        );
        assert!(matches!(
            stop,
            Some(Stop {
                reason: StopReason::Canary,
                ..
            })
        ));
        assert!((1..6).all(|i| spans[i].is_none()));
    }

    #[test]
    fn an_aborted_host_spends_no_budget_and_fails_no_canary() {
        // an operator's abort was recorded as the host's failure, so a resume
        // stopped at once ("canary host did not pass", or the default budget of 0)
        let spec = Spec {
            batch: Ramp(vec![Size::Count(2)]),
            canary: Some(crate::campaign::spec::Canary::Count(1)),
            ..Default::default()
        };
        let p = plan(4, &spec, |_| vec![]);
        let mut s = Scheduler::new(&p, &spec);
        s.mark_running(0);
        s.finished(0, Outcome::Aborted, 0);
        assert_eq!(s.stopped(), None);
        let mut s = Scheduler::new(&p, &spec);
        s.mark_running(1);
        s.finished(1, Outcome::Aborted, 0);
        assert_eq!(
            s.stopped(),
            None,
            "the default budget (0 failures) is not spent"
        );
        s.mark_running(2);
        s.finished(2, Outcome::Failed, 0);
        assert!(matches!(
            s.stopped(),
            Some(Stop {
                reason: StopReason::Budget,
                ..
            })
        ));
    }

    #[test]
    fn budget_stops_new_hosts_lets_in_flight_finish() {
        let spec = Spec {
            batch: Ramp(vec![Size::Count(3)]),
            budget: Budget {
                max_failures: Some(1),
                ..Default::default()
            },
            ..Default::default()
        };
        let p = plan(12, &spec, |_| vec![]);
        let fail = |i: usize| {
            if i == 1 || i == 4 {
                Outcome::Failed
            } else {
                Outcome::Ok
            }
        };
        let (spans, stop) = simulate(&p, &spec, |i| 10 + i as u64, fail);
        assert!(
            matches!(stop, Some(Stop { reason: StopReason::Budget, ref detail }) if detail.contains("2 failed")),
            "{stop:?}"
        );
        let t_stop = spans[4].unwrap().1;
        for (i, s) in spans.iter().enumerate() {
            if let Some((a, b)) = s {
                assert!(*a <= t_stop, "host {i} started after the budget was spent");
                assert!(*b >= *a);
            }
        }
        assert!(spans.iter().filter(|s| s.is_none()).count() >= 5);
        // percent budget, per batch; strict >
        let spec = Spec {
            batch: Ramp(vec![Size::Count(4)]),
            strategy: Strategy::Discrete,
            budget: Budget {
                max_failures: None,
                max_failure_percent: Some(25.0),
                per: BudgetScope::Batch,
                ..Default::default()
            },
            ..Default::default()
        };
        let p = plan(12, &spec, |_| vec![]);
        let (spans, stop) = simulate(
            &p,
            &spec,
            |_| 10,
            |i| {
                if i % 4 == 0 {
                    Outcome::Failed
                } else {
                    Outcome::Ok
                }
            },
        );
        assert!(stop.is_none(), "1 of 4 is not more than 25%");
        assert!(spans.iter().all(|s| s.is_some()));
        let (_, stop) = simulate(
            &p,
            &spec,
            |_| 10,
            |i| if i < 2 { Outcome::Failed } else { Outcome::Ok },
        );
        assert!(stop.is_some());
    }

    #[test]
    fn unreachable_counted_apart_or_as_failures() {
        let mut spec = Spec {
            batch: Ramp(vec![Size::Count(2)]),
            budget: Budget {
                max_failures: Some(0),
                max_unreachable: Some(2),
                ..Default::default()
            },
            ..Default::default()
        };
        let p = plan(8, &spec, |_| vec![]);
        let unr = |i: usize| {
            if i < 2 {
                Outcome::Unreachable
            } else {
                Outcome::Ok
            }
        };
        let (spans, stop) = simulate(&p, &spec, |_| 10, unr);
        assert!(stop.is_none() && spans.iter().all(|s| s.is_some()));
        spec.budget.unreachable = UnreachablePolicy::Failure;
        let (_, stop) = simulate(&p, &spec, |_| 10, unr);
        assert!(stop.is_some());
        spec.budget.unreachable = UnreachablePolicy::Separate;
        spec.budget.max_unreachable = Some(1);
        let (_, stop) = simulate(&p, &spec, |_| 10, unr);
        assert!(
            matches!(stop, Some(Stop { reason: StopReason::Budget, ref detail }) if detail.contains("max_unreachable"))
        );
    }

    #[test]
    fn group_caps_order_and_max_down() {
        let spec = Spec {
            batch: Ramp(vec![Size::Count(4)]),
            group_caps: [("web".to_string(), 1)].into(),
            group_order: vec!["db".into(), "web".into()],
            ..Default::default()
        };
        let g = |i: usize| {
            vec![if i < 6 {
                "web".to_string()
            } else {
                "db".to_string()
            }]
        };
        let p = plan(10, &spec, g);
        let (spans, _) = simulate(&p, &spec, |_| 10, |_| Outcome::Ok);
        let web: Vec<Option<(u64, u64)>> = p
            .hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| h.groups[0] == "web")
            .map(|(i, _)| spans[i])
            .collect();
        assert_eq!(max_overlap(&web), 1);
        let last_db = p
            .hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| h.groups[0] == "db")
            .map(|(i, _)| spans[i].unwrap().1)
            .max()
            .unwrap();
        let first_web = web.iter().map(|s| s.unwrap().0).min().unwrap();
        assert!(first_web >= last_db, "db before web");
        // max_down counts failed hosts as down
        let spec = Spec {
            batch: Ramp(vec![Size::Count(3)]),
            max_down: Some(3),
            budget: Budget {
                max_failures: Some(10),
                ..Default::default()
            },
            ..Default::default()
        };
        let p = plan(9, &spec, |_| vec![]);
        let (spans, _) = simulate(
            &p,
            &spec,
            |_| 10,
            |i| if i == 0 { Outcome::Failed } else { Outcome::Ok },
        );
        let at = |t: u64| {
            spans
                .iter()
                .flatten()
                .filter(|(a, b)| *a <= t && t < *b)
                .count()
        };
        assert!((0..200).all(|t| at(t) <= 3));
        assert!(
            (11..200).all(|t| at(t) <= 2),
            "one failed host holds a slot"
        );
        let (_, stop) = simulate(
            &p,
            &spec,
            |_| 10,
            |i| if i < 3 { Outcome::Failed } else { Outcome::Ok },
        );
        assert!(
            matches!(stop, Some(Stop { reason: StopReason::Budget, ref detail }) if detail.contains("max_down"))
        );
    }

    #[test]
    fn operator_stop() {
        let spec = Spec {
            batch: Ramp(vec![Size::Count(2)]),
            ..Default::default()
        };
        let p = plan(6, &spec, |_| vec![]);
        let mut s = Scheduler::new(&p, &spec);
        assert_eq!(s.next(0), Next::Start(vec![0, 1]));
        s.stop(Stop::new(StopReason::Paused, "paused"));
        assert_eq!(s.next(1), Next::WaitForHosts);
        s.stop(Stop::new(StopReason::Aborted, "aborted"));
        assert_eq!(
            s.stopped(),
            Some(&Stop::new(StopReason::Aborted, "aborted")),
            "the abort is reported"
        );
        s.finished(0, Outcome::Ok, 2);
        s.finished(1, Outcome::Ok, 3);
        assert_eq!(s.next(4), Next::Done);
        // a spent budget is not overwritten by the operator
        let mut s = Scheduler::new(&p, &spec);
        s.stop(Stop::new(StopReason::Budget, "max_failures 0"));
        s.stop(Stop::new(StopReason::Paused, "paused"));
        assert_eq!(
            s.stopped(),
            Some(&Stop::new(StopReason::Budget, "max_failures 0"))
        );
        // and a budget spent by hosts that finish after a pause is reported over the pause
        let mut s = Scheduler::new(&p, &spec);
        assert_eq!(s.next(0), Next::Start(vec![0, 1]));
        s.stop(Stop::new(StopReason::Paused, "paused"));
        s.finished(0, Outcome::Failed, 1);
        assert_eq!(s.stopped().map(|s| s.reason), Some(StopReason::Budget));
    }

    /// Exhaustive over small shapes: every host starts at most once, the window and group caps
    /// hold at every moment, and without failures every host is done.
    #[test]
    fn invariants_over_many_shapes() {
        for n in 1..=9 {
            for size in 1..=4 {
                for window in [None, Some(1), Some(2), Some(5)] {
                    for strategy in [Strategy::Window, Strategy::Discrete] {
                        for canary in [None, Some(crate::campaign::spec::Canary::Count(1))] {
                            let spec = Spec {
                                batch: Ramp(vec![Size::Count(size)]),
                                window,
                                strategy,
                                canary,
                                group_caps: [("odd".to_string(), 1)].into(),
                                ..Default::default()
                            };
                            let g = |i: usize| {
                                if i % 2 == 1 {
                                    vec!["odd".to_string()]
                                } else {
                                    vec![]
                                }
                            };
                            let p = plan(n, &spec, g);
                            let (spans, stop) =
                                simulate(&p, &spec, |i| 5 + (i as u64 * 3) % 7, |_| Outcome::Ok);
                            assert!(stop.is_none());
                            assert!(spans.iter().all(|s| s.is_some()), "{n} {size} {window:?}");
                            let cap = window.unwrap_or(size).max(1);
                            assert!(
                                max_overlap(&spans)
                                    <= cap.max(if p.hosts[0].canary { 1 } else { 0 })
                            );
                            let odd: Vec<_> = p
                                .hosts
                                .iter()
                                .enumerate()
                                .filter(|(_, h)| !h.groups.is_empty())
                                .map(|(i, _)| spans[i])
                                .collect();
                            assert!(max_overlap(&odd) <= 1);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_hold_delays_new_starts_only() {
        let spec = Spec::default();
        let plan = plan(3, &spec, |_| Vec::new());
        let mut s = Scheduler::new(&plan, &spec);
        assert_eq!(s.next(0), Next::Start(vec![0]));
        s.hold_until(Some(1000));
        assert_eq!(s.next(10), Next::WaitUntil(1000));
        s.finished(0, Outcome::Ok, 20);
        assert_eq!(s.next(30), Next::WaitUntil(1000));
        assert_eq!(s.next(1000), Next::Start(vec![1]));
        s.hold_until(None);
        s.finished(1, Outcome::Ok, 1100);
        assert_eq!(s.next(1100), Next::Start(vec![2]));
    }
}
