//! The campaign file (YAML): batching, failure budget, health checks, hooks, per-service policy.
//!
//! Pure: text in, [`Spec`] out. Every key is optional; unknown keys and wrong types are errors
//! naming file:line:column (serde_norway's location), so a typo never silently weakens a safety
//! setting. Command-line flags override the file ([`Spec`] fields are public for that).

use regex_lite::Regex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One batch size: a host count or a percentage of the campaign's hosts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Size {
    Count(usize),
    /// Percent of all hosts of the campaign, floored, at least 1 (as Ansible's `serial`).
    Percent(f64),
}

impl Size {
    pub fn parse(s: &str) -> Result<Size, String> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            let v: f64 = p
                .trim()
                .parse()
                .map_err(|_| format!("{s:?} is not a percentage like \"25%\""))?;
            if !(v > 0.0 && v <= 100.0) {
                return Err(format!("{s:?}: a percentage must be in (0, 100]"));
            }
            return Ok(Size::Percent(v));
        }
        match s.parse::<usize>() {
            Ok(0) => Err("a batch size must be at least 1".into()),
            Ok(n) => Ok(Size::Count(n)),
            Err(_) => Err(format!(
                "{s:?} is not a batch size (a count like 5 or a percentage like \"25%\")"
            )),
        }
    }

    /// Hosts in a batch of this size, for a campaign of `total` hosts: floor, minimum 1.
    pub fn hosts(self, total: usize) -> usize {
        match self {
            Size::Count(n) => n.max(1),
            Size::Percent(p) => ((p / 100.0 * total as f64).floor() as usize).max(1),
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Size::Count(n) => write!(f, "{n}"),
            Size::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        let raw = Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected a batch size: a count like 5 or a percentage like \"25%\"",
            )
        })?;
        match raw {
            Raw::N(n) => Size::parse(&n.to_string()),
            Raw::S(s) => Size::parse(&s),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// Batch sizes: one size, or a ramp whose last entry repeats (`[1, 5, "20%"]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Ramp(pub Vec<Size>);

impl Ramp {
    pub fn parse(s: &str) -> Result<Ramp, String> {
        let sizes = s
            .split(',')
            .map(Size::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Ramp(sizes))
    }
}

impl<'de> Deserialize<'de> for Ramp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(Size),
            Many(Vec<Size>),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected a batch size (5, \"25%\") or a list of them ([1, 5, \"20%\"])",
            )
        })? {
            Raw::One(s) => Ok(Ramp(vec![s])),
            Raw::Many(v) if v.is_empty() => Err(serde::de::Error::custom("empty batch list")),
            Raw::Many(v) => Ok(Ramp(v)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The next host starts as soon as a slot frees (Salt's batch mode).
    #[default]
    Window,
    /// A batch starts when the previous one has finished (Ansible's `serial`).
    Discrete,
}

impl Strategy {
    /// The name the documents and the campaign file use (its serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Window => "window",
            Strategy::Discrete => "discrete",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BudgetScope {
    /// Failures count across the whole campaign.
    #[default]
    Campaign,
    /// Failures count per batch (Ansible's `max_fail_percentage` with `serial`).
    Batch,
}

impl BudgetScope {
    /// The name the documents and the campaign file use (its serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetScope::Campaign => "campaign",
            BudgetScope::Batch => "batch",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UnreachablePolicy {
    /// Counted apart, against `max_unreachable`.
    #[default]
    Separate,
    /// Counted as failures.
    Failure,
}

impl UnreachablePolicy {
    /// The name the documents and the campaign file use (its serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            UnreachablePolicy::Separate => "separate",
            UnreachablePolicy::Failure => "failure",
        }
    }
}

/// When the campaign stops starting hosts. Limits are strict: the budget is spent when failures
/// exceed `max_failures`, or exceed `max_failure_percent` of the hosts (campaign or batch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Budget {
    pub max_failures: Option<usize>,
    pub max_failure_percent: Option<f64>,
    pub per: BudgetScope,
    pub unreachable: UnreachablePolicy,
    /// Unreachable hosts tolerated (with `unreachable: separate`); none = no limit.
    pub max_unreachable: Option<usize>,
}

impl Budget {
    /// The command line's budget flags over this budget; whether they changed anything.
    /// Either failure limit given replaces both (a count and a percentage are one budget).
    pub fn override_with(
        &mut self,
        max_failures: Option<usize>,
        max_failure_percent: Option<f64>,
        max_unreachable: Option<usize>,
    ) -> bool {
        let before = self.clone();
        if max_failures.is_some() || max_failure_percent.is_some() {
            self.max_failures = max_failures;
            self.max_failure_percent = max_failure_percent;
        }
        self.max_unreachable = max_unreachable.or(self.max_unreachable);
        *self != before
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            // a careful default: the first failed host stops the campaign
            max_failures: Some(0),
            max_failure_percent: None,
            per: BudgetScope::Campaign,
            unreachable: UnreachablePolicy::Separate,
            max_unreachable: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckType {
    Tcp,
    Http,
    Command,
    Systemd,
    Rescan,
}

/// A health check; timing in seconds. Written to the journal in the file's own shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawCheck", into = "RawCheck")]
pub struct Check {
    #[serde(rename = "type")]
    pub kind: CheckType,
    /// tcp / http: the address to connect to (default: the host's address).
    pub address: Option<String>,
    pub port: Option<u16>,
    /// http: the path requested.
    pub path: String,
    /// http: accepted status codes.
    pub status: Vec<u16>,
    /// http / command: a regex the body / standard output must match.
    pub body: Option<Regex>,
    /// command: run on the host (`sh -c`, with become), must exit 0.
    pub command: Option<String>,
    pub initial_delay: f64,
    pub interval: f64,
    pub timeout: f64,
    pub retries: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    #[serde(rename = "type")]
    kind: CheckType,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<Vec<u16>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<String>,
    initial_delay: Option<f64>,
    interval: Option<f64>,
    timeout: Option<f64>,
    retries: Option<u32>,
}

impl From<Check> for RawCheck {
    fn from(c: Check) -> RawCheck {
        let http = c.kind == CheckType::Http;
        RawCheck {
            kind: c.kind,
            address: c.address,
            port: c.port,
            path: http.then_some(c.path),
            status: http.then_some(c.status),
            body: c.body.map(|r| r.as_str().to_string()),
            command: c.command,
            initial_delay: Some(c.initial_delay),
            interval: Some(c.interval),
            timeout: Some(c.timeout),
            retries: Some(c.retries),
        }
    }
}

impl TryFrom<RawCheck> for Check {
    type Error = String;
    fn try_from(r: RawCheck) -> Result<Check, String> {
        let name = format!("{:?}", r.kind).to_lowercase();
        let needs_port = matches!(r.kind, CheckType::Tcp | CheckType::Http);
        if needs_port && r.port.is_none() {
            return Err(format!("a {name} check needs `port`"));
        }
        if !needs_port && (r.port.is_some() || r.address.is_some()) {
            return Err(format!("a {name} check takes no `port` or `address`"));
        }
        if r.kind != CheckType::Http && (r.path.is_some() || r.status.is_some()) {
            return Err("only http checks take `path` and `status`".into());
        }
        if r.kind == CheckType::Command && r.command.is_none() {
            return Err("a command check needs `command`".into());
        }
        if r.kind != CheckType::Command && r.command.is_some() {
            return Err(format!("a {name} check takes no `command`"));
        }
        if !matches!(r.kind, CheckType::Http | CheckType::Command) && r.body.is_some() {
            return Err("only http and command checks take `body`".into());
        }
        if let Some(a) = &r.address {
            if !crate::inventory::is_valid_host_name(a) {
                return Err(format!("`address` {a:?} is not a host name or IP address"));
            }
        }
        let path = r.path.unwrap_or_else(|| "/".into());
        if !path.starts_with('/') || path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(format!(
                "`path` {path:?} must start with / and hold no spaces or control characters"
            ));
        }
        let body = r
            .body
            .map(|t| Regex::new(&t).map_err(|e| format!("bad `body` regex {t:?}: {e}")))
            .transpose()?;
        let secs = |v: Option<f64>, d: f64, what: &str| -> Result<f64, String> {
            let v = v.unwrap_or(d);
            if !(0.0..=86_400.0).contains(&v) {
                return Err(format!("`{what}` must be between 0 and 86400 seconds"));
            }
            Ok(v)
        };
        let timeout = secs(r.timeout, 5.0, "timeout")?;
        if timeout <= 0.0 {
            // a check given no time always fails (newcomer D10)
            return Err("`timeout` must be more than 0 seconds".into());
        }
        Ok(Check {
            kind: r.kind,
            address: r.address,
            port: r.port,
            path,
            status: r.status.unwrap_or_else(|| vec![200]),
            body,
            command: r.command,
            initial_delay: secs(r.initial_delay, 0.0, "initial_delay")?,
            interval: secs(r.interval, 1.0, "interval")?,
            timeout,
            retries: r.retries.unwrap_or(3),
        })
    }
}

impl Check {
    pub fn systemd() -> Check {
        Check::builtin(CheckType::Systemd)
    }
    pub fn rescan() -> Check {
        Check::builtin(CheckType::Rescan)
    }
    fn builtin(kind: CheckType) -> Check {
        Check {
            kind,
            address: None,
            port: None,
            path: "/".into(),
            status: vec![200],
            body: None,
            command: None,
            initial_delay: 0.0,
            interval: 1.0,
            timeout: 30.0,
            retries: 3,
        }
    }

    /// One line for `--plan` and the journal.
    pub fn describe(&self) -> String {
        let what = match self.kind {
            CheckType::Tcp => format!(
                "tcp {}:{}",
                self.address.as_deref().unwrap_or("HOST"),
                self.port.unwrap_or(0)
            ),
            CheckType::Http => format!(
                "http://{}:{}{} status {:?}{}",
                self.address.as_deref().unwrap_or("HOST"),
                self.port.unwrap_or(0),
                self.path,
                self.status,
                self.body
                    .as_ref()
                    .map(|b| format!(" body ~ /{}/", b.as_str()))
                    .unwrap_or_default()
            ),
            CheckType::Command => format!("command {:?}", self.command.as_deref().unwrap_or("")),
            CheckType::Systemd => "systemd: active with a new invocation".into(),
            CheckType::Rescan => "rescan: no stale files left".into(),
        };
        format!(
            "{what} (delay {}s, every {}s, timeout {}s, {} retries)",
            self.initial_delay, self.interval, self.timeout, self.retries
        )
    }
}

/// A drain or undrain hook: a shell command run on the controller, or on another inventory host.
/// `{host}` and `{address}` are replaced by the (shell-quoted) inventory name and address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    pub command: String,
    /// An inventory host to run it on (over SSH, with its become settings); none = this machine.
    #[serde(default)]
    pub on: Option<String>,
    #[serde(default = "default_hook_timeout")]
    pub timeout: f64,
}

fn default_hook_timeout() -> f64 {
    60.0
}

/// What to do about one service (by unit or init-script name).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServicePolicy {
    /// Never restart it in campaigns (reported as skipped).
    pub skip: bool,
    /// Override the rules' restart method.
    pub method: Option<fleetrestart_scan::rules::Method>,
    /// Checks run after restarting a host that runs this service.
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Verify {
    /// After `systemctl restart`, every restarted unit must be active with a new invocation.
    pub systemd: bool,
    /// Rescan the host (over a new connection) and require that the restarted services are no
    /// longer stale.
    pub rescan: bool,
}

impl Default for Verify {
    fn default() -> Self {
        Verify {
            systemd: true,
            rescan: true,
        }
    }
}

/// Canary hosts: the first N hosts of the order, or named hosts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Canary {
    Count(usize),
    Hosts(Vec<String>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Spec {
    pub batch: Ramp,
    pub strategy: Strategy,
    /// At most this many hosts in flight (default: the size of the current batch).
    pub window: Option<usize>,
    /// At most this many hosts down at once: in flight plus failed ones.
    pub max_down: Option<usize>,
    pub canary: Option<Canary>,
    /// Seconds to wait after the canary batch before going on.
    pub soak: f64,
    /// Seconds to wait between batches (a pause makes every batch boundary a barrier).
    pub pause: f64,
    /// Groups in order: hosts of an earlier group all finish before hosts of a later one start.
    pub group_order: Vec<String>,
    /// At most K hosts of group G in flight.
    pub group_caps: BTreeMap<String, usize>,
    pub budget: Budget,
    pub verify: Verify,
    /// Checks for every host.
    pub checks: Vec<Check>,
    pub services: BTreeMap<String, ServicePolicy>,
    pub drain: Option<Hook>,
    pub undrain: Option<Hook>,
    /// Undrain a host whose restart, reboot or checks failed too. By default such a host stays
    /// drained (it is unhealthy: that is what a cordon is for) and is named "left drained".
    pub undrain_on_failure: bool,
    /// Seconds a host waits for another campaign's lease on it (another controller, or the
    /// Ansible playbook) before it is failed untouched.
    pub lease_wait: f64,
    /// Allow `systemctl daemon-reexec` for PID 1 (policy manual otherwise).
    pub daemon_reexec: bool,
    /// Seconds one restart command may take.
    pub restart_timeout: f64,
    /// Reboot campaigns (`fleetrestart reboot`): which hosts, windows, timeouts, what passes.
    pub reboot: RebootSpec,
}

/// The `reboot:` section of a campaign file (used by `fleetrestart reboot` only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RebootSpec {
    /// Also hosts whose audit says no reboot is needed (never hosts that were not audited).
    pub all: bool,
    /// Seconds from the reboot command until the host is back and running.
    pub timeout: f64,
    /// A host that comes back `degraded` (a unit failed) passes.
    pub allow_degraded: bool,
    /// Windows hosts may start in (`Mon-Fri 02:00-05:00`; none: any time).
    pub windows: Vec<String>,
    /// Time zone of the windows: UTC, local, an IANA name or an offset (+02:00).
    pub timezone: String,
    /// Seconds to wait, once back, before verifying (units settle; `running` must hold).
    pub settle: f64,
}

impl RebootSpec {
    /// The reboot windows and their zone (none: no windows). Validated with the spec, so a
    /// parse error here means none.
    pub fn windows_in_zone(&self) -> Option<(super::window::Windows, super::clock::Zone)> {
        if self.windows.is_empty() {
            return None;
        }
        let w = super::window::Windows::parse(&self.windows).ok()?;
        let z = super::clock::Zone::parse(&self.timezone).ok()?;
        Some((w, z))
    }
}

impl Default for RebootSpec {
    fn default() -> Self {
        RebootSpec {
            all: false,
            timeout: 600.0,
            allow_degraded: false,
            windows: Vec::new(),
            timezone: "UTC".into(),
            settle: 0.0,
        }
    }
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            batch: Ramp(vec![Size::Count(1)]),
            strategy: Strategy::Window,
            window: None,
            max_down: None,
            canary: None,
            soak: 0.0,
            pause: 0.0,
            group_order: Vec::new(),
            group_caps: BTreeMap::new(),
            budget: Budget::default(),
            verify: Verify::default(),
            checks: Vec::new(),
            services: BTreeMap::new(),
            drain: None,
            undrain: None,
            undrain_on_failure: false,
            lease_wait: 600.0,
            daemon_reexec: false,
            restart_timeout: 300.0,
            reboot: RebootSpec::default(),
        }
    }
}

/// A campaign file error, located.
pub type SpecError = fleetrestart_scan::located::Located;

impl Spec {
    /// Seconds a host's lease lasts if its holder dies: the longest its turn can take, and then
    /// some (restart, hooks, the undrain's retries, a reboot's wait, checks).
    pub fn lease_ttl(&self, reboot: bool) -> u64 {
        let hooks: f64 = [&self.drain, &self.undrain]
            .into_iter()
            .flatten()
            .map(|h| h.timeout)
            .sum();
        let reboot = if reboot { self.reboot.timeout } else { 0.0 };
        (self.restart_timeout + 2.0 * hooks + reboot + 900.0).ceil() as u64
    }

    pub fn parse(file: &str, text: &str) -> Result<Spec, SpecError> {
        let err = |line, column, message: String| SpecError::new(file, line, column, message);
        if text.trim().is_empty() {
            return Ok(Spec::default());
        }
        let spec: Spec = serde_norway::from_str(text).map_err(|e| SpecError::yaml(file, "", &e))?;
        spec.validate().map_err(|m| {
            // point at the key's line when we can find it
            // (`reboot.timeout`: the `timeout:` line after the `reboot:` line)
            let key = m.split('`').nth(1).unwrap_or("");
            let (section, key) = key.rsplit_once('.').unwrap_or(("", key));
            let from = match section {
                "" => Some(0),
                s => text.lines().position(|l| l.starts_with(&format!("{s}:"))),
            };
            let line = from.and_then(|from| {
                text.lines()
                    .enumerate()
                    .skip(from)
                    .find(|(_, l)| {
                        !key.is_empty() && l.trim_start().starts_with(&format!("{key}:"))
                    })
                    .map(|(i, _)| i + 1)
            });
            err(line, line.map(|_| 1), m)
        })?;
        Ok(spec)
    }

    /// Checks that span keys (serde checked each value already).
    pub fn validate(&self) -> Result<(), String> {
        if self.window == Some(0) {
            return Err("`window` must be at least 1".into());
        }
        if self.max_down == Some(0) {
            return Err("`max_down` must be at least 1".into());
        }
        if let Some((g, _)) = self.group_caps.iter().find(|(_, k)| **k == 0) {
            return Err(format!("`group_caps`: the cap of {g:?} must be at least 1"));
        }
        for g in self.group_caps.keys().chain(&self.group_order) {
            if !crate::inventory::is_valid_group_name(g) {
                return Err(format!(
                    "`group_order`/`group_caps`: {g:?} is not a valid group name"
                ));
            }
        }
        if let Some(p) = self.budget.max_failure_percent {
            if !(0.0..=100.0).contains(&p) {
                return Err("`max_failure_percent` must be between 0 and 100".into());
            }
        }
        for (what, v) in [
            ("soak", self.soak),
            ("pause", self.pause),
            ("restart_timeout", self.restart_timeout),
            ("reboot.settle", self.reboot.settle),
        ] {
            if !(0.0..=86_400.0).contains(&v) {
                return Err(format!("`{what}` must be between 0 and 86400 seconds"));
            }
        }
        // a zero timeout fails every restart at once while systemctl goes on
        if self.restart_timeout <= 0.0 {
            return Err("`restart_timeout` must be more than 0 seconds".into());
        }
        for name in self.services.keys() {
            if !fleetrestart_scan::names::is_valid_service(name) {
                return Err(format!(
                    "`services`: {name:?} is not a valid unit or service name"
                ));
            }
        }
        if let Some(Canary::Count(0)) = self.canary {
            return Err("`canary` must be at least 1 host (or leave it out)".into());
        }
        for h in [&self.drain, &self.undrain].into_iter().flatten() {
            if let Some(on) = &h.on {
                if !crate::inventory::is_valid_host_name(on) {
                    return Err(format!("`on`: {on:?} is not a valid inventory host name"));
                }
            }
            if !(0.1..=86_400.0).contains(&h.timeout) {
                return Err("`timeout` of a hook must be between 0.1 and 86400 seconds".into());
            }
        }
        if !(1.0..=86_400.0).contains(&self.reboot.timeout) {
            return Err("`reboot.timeout` must be between 1 and 86400 seconds".into());
        }
        super::window::Windows::parse(&self.reboot.windows)?;
        super::clock::Zone::parse(&self.reboot.timezone)?;
        if self.drain.is_some() != self.undrain.is_some() {
            return Err("`drain` and `undrain` go together: give both or neither".into());
        }
        Ok(())
    }

    /// The checks for a host that restarts `services` (host-wide ones first), each with the
    /// service it is for (none: host-wide).
    pub fn checks_for<'a>(
        &'a self,
        services: impl Iterator<Item = &'a str>,
    ) -> Vec<(&'a Check, Option<&'a str>)> {
        let mut out: Vec<(&Check, Option<&str>)> = self.checks.iter().map(|c| (c, None)).collect();
        for s in services {
            if let Some(p) = self.services.get(s) {
                out.extend(p.checks.iter().map(|c| (c, Some(s))));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_is_the_campaign_files_name() {
        for s in [Strategy::Window, Strategy::Discrete] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for b in [BudgetScope::Campaign, BudgetScope::Batch] {
            assert_eq!(serde_json::to_value(b).unwrap(), b.as_str());
        }
        for u in [UnreachablePolicy::Separate, UnreachablePolicy::Failure] {
            assert_eq!(serde_json::to_value(u).unwrap(), u.as_str());
        }
    }

    #[test]
    fn sizes_floor_with_minimum_one() {
        assert_eq!(Size::parse("25%").unwrap().hosts(20), 5);
        assert_eq!(Size::parse("25%").unwrap().hosts(10), 2);
        assert_eq!(Size::parse("10%").unwrap().hosts(5), 1);
        assert_eq!(Size::parse("3").unwrap().hosts(2), 3);
        assert!(Size::parse("0").is_err());
        assert!(Size::parse("0%").is_err());
        assert!(Size::parse("150%").is_err());
        assert!(Size::parse("x").is_err());
        assert_eq!(Ramp::parse("1,5,20%").unwrap().0.len(), 3);
    }

    #[test]
    fn full_file() {
        let text = r#"
batch: [1, 5, "20%"]
strategy: discrete
window: 3
max_down: 4
canary: [web1]
soak: 30
pause: 2.5
group_order: [db, web]
group_caps: {web: 2}
budget: {max_failures: 1, max_failure_percent: 10, per: batch, unreachable: failure}
verify: {rescan: false}
checks:
  - type: tcp
    port: 80
  - {type: http, port: 8080, path: /health, status: [200, 204], body: "^ok", retries: 5}
services:
  dovecot.service: {method: stop-kill-start}
  lighttpd.service:
    checks: [{type: command, command: "curl -fs localhost"}]
drain: {command: "echo drain {host}", on: lb1}
undrain: {command: "echo ready {host}", on: lb1}
"#;
        let s = Spec::parse("c.yml", text).unwrap();
        assert_eq!(
            s.batch.0,
            vec![Size::Count(1), Size::Count(5), Size::Percent(20.0)]
        );
        assert_eq!(s.strategy, Strategy::Discrete);
        assert_eq!(s.canary, Some(Canary::Hosts(vec!["web1".into()])));
        assert_eq!(s.budget.max_failures, Some(1));
        assert_eq!(s.budget.per, BudgetScope::Batch);
        assert!(!s.verify.rescan && s.verify.systemd);
        assert_eq!(s.checks[1].status, vec![200, 204]);
        assert_eq!(s.checks[1].retries, 5);
        assert_eq!(s.checks[0].retries, 3);
        assert_eq!(
            s.services["dovecot.service"].method,
            Some(fleetrestart_scan::rules::Method::StopKillStart)
        );
        let c = s.checks_for(["lighttpd.service"].into_iter());
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn the_example_file_is_valid() {
        let s = Spec::parse("example.yml", include_str!("../../campaigns/example.yml")).unwrap();
        assert_eq!(s.group_order, ["db", "web"]);
        assert!(s.services["cron.service"].skip);
        assert_eq!(s.drain.unwrap().on.as_deref(), Some("lb1"));
        assert_eq!(s.reboot.windows.len(), 2);
        assert_eq!(s.reboot.timezone, "Europe/Paris");
    }

    #[test]
    fn reboot_settings_are_checked_and_located() {
        let e = Spec::parse(
            "c.yml",
            "batch: 1\nreboot:\n  windows: ['Mon 25:00-26:00']\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("Mon 25:00-26:00"), "{e}");
        let e = Spec::parse("c.yml", "reboot:\n  timezone: Mars/Olympus\n").unwrap_err();
        assert!(e.to_string().contains("Mars/Olympus"), "{e}");
        let e = Spec::parse("c.yml", "reboot:\n  timeout: 0\n").unwrap_err();
        assert!(e.to_string().contains("reboot.timeout"), "{e}");
        let e = Spec::parse("c.yml", "reboot:\n  allow_degradde: true\n").unwrap_err();
        assert!(e.to_string().contains("c.yml:2"), "{e}");
    }

    #[test]
    fn checks_survive_the_journal() {
        let s = Spec::parse("c.yml", "checks:\n  - {type: http, port: 80, body: ok}\n  - {type: command, command: 'true', retries: 0}\n").unwrap();
        let back: Spec = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back.checks[0].describe(), s.checks[0].describe());
        assert_eq!(back.checks[1].describe(), s.checks[1].describe());
    }

    #[test]
    fn errors_are_located() {
        let e = Spec::parse("c.yml", "batch: 2\nwindw: 3\n").unwrap_err();
        assert_eq!((e.line, e.file.as_str()), (Some(2), "c.yml"), "{e}");
        assert!(e.message.contains("unknown field `windw`"), "{e}");
        let e = Spec::parse("c.yml", "batch: 2\nbudget:\n  max_failures: many\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        let e = Spec::parse("c.yml", "checks:\n  - type: tcp\n    retries: 2\n").unwrap_err();
        assert!(e.message.contains("needs `port`"), "{e}");
        assert_eq!(e.line, Some(2), "{e}");
        let e = Spec::parse("c.yml", "checks:\n  - type: udp\n").unwrap_err();
        assert!(e.message.contains("unknown variant"), "{e}");
        let e = Spec::parse("c.yml", "batch: \"0%\"\n").unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
        let e = Spec::parse("c.yml", "services:\n  'a;b': {skip: true}\n").unwrap_err();
        assert!(e.message.contains("not a valid unit"), "{e}");
        assert_eq!(e.line, Some(1), "{e}");
        let e = Spec::parse("c.yml", "drain: {command: x}\n").unwrap_err();
        assert!(e.message.contains("go together"), "{e}");
        let e = Spec::parse("c.yml", "window: 0\n").unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
        // accepted, and every restart then "timed out" after 1 ms
        let e =
            Spec::parse("c.yml", "checks:\n  - {type: tcp, port: 22, timeout: 0}\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("`timeout` must be more than 0 seconds"),
            "{e}"
        );
        let e = Spec::parse("c.yml", "restart_timeout: 0\n").unwrap_err();
        assert!(e.message.contains("more than 0"), "{e}");
    }
}
