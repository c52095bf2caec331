//! systemd units as `systemctl show` describes them, and what their state says after a
//! restart: up, down and why ("main process killed by SIGPIPE"), restarted or not, settled or
//! not. One home for both faces: the controller's campaigns and the Ansible restart module.
//!
//! Pure: `systemctl show` text in, [`UnitState`]s and [`Verdict`]s out.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// journald and its instances (`systemd-journald@NS.service`): restarted alone and first, and
/// checked active before any other unit is touched. A unit started while the old journald is
/// shutting down can lose its stdout stream mid-header; a unit with `IgnoreSIGPIPE=no` (Debian's
/// cron) is then killed by SIGPIPE before it ever runs, and systemd counts that as a clean exit:
/// left `inactive`, never restarted (measured on the testbed with the race widened by a delay
/// after `connect()`: cron left down in 42 of 120 runs of one `systemctl restart` with journald
/// among the units, 0 of 120 with journald alone first).
pub fn is_journald(unit: &str) -> bool {
    unit == "systemd-journald.service"
        || unit
            .strip_prefix("systemd-journald@")
            .is_some_and(|r| r.ends_with(".service"))
}

/// A unit's state as `systemctl show` gives it. The fields after `active_since` came later:
/// journals written before them read them as empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct UnitState {
    pub invocation: String,
    pub active: String,
    pub main_pid: u32,
    /// ActiveEnterTimestampMonotonic (µs since boot).
    pub active_since: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sub: String,
    /// `Result`: success, exit-code, signal, core-dump, timeout, ...
    #[serde(skip_serializing_if = "String::is_empty")]
    pub result: String,
    /// `ExecMainCode`: how the main process ended (1 exited, 2 killed, 3 dumped core).
    #[serde(skip_serializing_if = "is_zero")]
    pub exec_main_code: u32,
    /// `ExecMainStatus`: its exit status, or the signal's number.
    #[serde(skip_serializing_if = "is_zero")]
    pub exec_main_status: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

pub const SHOW_PROPERTIES: &str = "Id,InvocationID,ActiveState,SubState,Result,MainPID,\
     ExecMainCode,ExecMainStatus,ActiveEnterTimestampMonotonic";

/// Parses `systemctl show` output: blocks separated by blank lines, keyed by `Id`.
pub fn parse_show(text: &str) -> BTreeMap<String, UnitState> {
    text.split("\n\n").filter_map(parse_unit).collect()
}

/// One unit's block of `systemctl show` output: its `Id` and state.
pub fn parse_unit(block: &str) -> Option<(String, UnitState)> {
    {
        let mut id = None;
        let mut st = UnitState::default();
        for line in block.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            match k {
                "Id" => id = Some(v.to_string()),
                "InvocationID" => st.invocation = v.to_string(),
                "ActiveState" => st.active = v.to_string(),
                "MainPID" => st.main_pid = v.parse().unwrap_or(0),
                "ActiveEnterTimestampMonotonic" => st.active_since = v.parse().unwrap_or(0),
                "SubState" => st.sub = word(v),
                "Result" => st.result = word(v),
                "ExecMainCode" => st.exec_main_code = v.parse().unwrap_or(0),
                "ExecMainStatus" => st.exec_main_status = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        id.map(|id| (id, st))
    }
}

/// A short word from the host (a state or result name): letters, digits and dashes, bounded.
fn word(v: &str) -> String {
    v.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(32)
        .collect()
}

/// Whether a unit is up: active, or reloading while active.
pub fn is_up(st: &UnitState) -> bool {
    matches!(st.active.as_str(), "active" | "reloading")
}

/// Whether a unit is down: inactive or failed (not on its way anywhere).
pub fn is_down(st: &UnitState) -> bool {
    matches!(st.active.as_str(), "inactive" | "failed")
}

/// A signal's name, for the causes the operator reads.
fn signal_name(n: u32) -> String {
    const NAMES: [&str; 16] = [
        "", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
        "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM",
    ];
    NAMES
        .get(n as usize)
        .filter(|s| !s.is_empty())
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("signal {n}"))
}

/// Why a unit is down, in words: `main process killed by SIGPIPE (Result=success)`.
pub fn cause(st: &UnitState) -> String {
    let main = match st.exec_main_code {
        1 => format!("main process exited with status {}", st.exec_main_status),
        2 => format!(
            "main process killed by {}",
            signal_name(st.exec_main_status)
        ),
        3 => format!(
            "main process dumped core ({})",
            signal_name(st.exec_main_status)
        ),
        _ => "main process not running".to_string(),
    };
    if st.result.is_empty() {
        main
    } else {
        format!("{main} (Result={})", st.result)
    }
}

/// What one look at the restarted units says ([`judge`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every unit active, with the same invocation as at the look before: done.
    Stable,
    /// Some unit is still on its way (activating, deactivating) or changed since the last look:
    /// look again after a pause.
    Again,
    /// These units were up before and are down now (with their cause): start each once, then
    /// look again.
    Start(Vec<(String, String)>),
    /// The host fails: a unit down after it was started again, or not restarted at all.
    Fail(String),
}

/// What one look says of one unit ([`judge_one`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum One {
    Stable,
    Again,
    /// Down: start it once (the cause).
    Start(String),
    Fail(String),
}

/// Judges one look (`now`) at one unit `u` restarted from `before`, against the previous look
/// (`prev`) and whether it was already started again once. Done only when the same invocation
/// is active at two looks in a row (a daemon that dies a moment after its restart is not
/// "done" because one look caught it alive). Pure.
pub fn judge_one(
    u: &str,
    before: Option<&UnitState>,
    prev: Option<&UnitState>,
    now: &UnitState,
    started: bool,
) -> One {
    // not up before its restart (a oneshot that was running, a unit on its way up): down now
    // is not the restart's doing, and it is never started again (that would run it twice)
    if before.is_some_and(|b| !is_up(b)) && is_down(now) {
        return One::Stable;
    }
    if is_down(now) {
        let why = format!("{} after the restart, {}", now.active, cause(now));
        return if started {
            One::Fail(format!("{u}: {why}; started again once: still down"))
        } else {
            One::Start(why)
        };
    }
    let same = prev
        .is_some_and(|p| is_up(p) && p.invocation == now.invocation && p.main_pid == now.main_pid);
    if !is_up(now) || !same {
        return One::Again;
    }
    match before {
        Some(b) if !started && !restarted(b, now) => One::Fail(format!(
            "{u} was not restarted (same invocation and main PID as before)"
        )),
        _ => One::Stable,
    }
}

/// [`judge_one`] over `units`: a failure wins, then units to start, then any unit not yet
/// stable. Pure.
pub fn judge(
    before: &BTreeMap<String, UnitState>,
    units: &[&str],
    prev: Option<&BTreeMap<String, UnitState>>,
    now: &BTreeMap<String, UnitState>,
    started: &std::collections::BTreeSet<String>,
) -> Verdict {
    let mut start = Vec::new();
    let mut stable = true;
    for &u in units {
        let Some(st) = now.get(u) else {
            return Verdict::Fail(format!("{u}: not reported by systemctl"));
        };
        let p = prev.and_then(|p| p.get(u));
        match judge_one(u, before.get(u), p, st, started.contains(u)) {
            One::Fail(m) => return Verdict::Fail(m),
            One::Start(why) => start.push((u.to_string(), why)),
            One::Again => stable = false,
            One::Stable => {}
        }
    }
    if !start.is_empty() {
        Verdict::Start(start)
    } else if stable {
        Verdict::Stable
    } else {
        Verdict::Again
    }
}

/// Whether a unit was restarted since `before`: a new invocation, or (on systemd without
/// InvocationID) a new main PID or a later activation.
pub fn restarted(before: &UnitState, now: &UnitState) -> bool {
    if !before.invocation.is_empty() || !now.invocation.is_empty() {
        return before.invocation != now.invocation && !now.invocation.is_empty();
    }
    now.main_pid != before.main_pid || now.active_since > before.active_since
}
