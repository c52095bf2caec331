//! The campaign journal: one JSON record per line, appended and fsynced before the step it
//! announces is taken, so that `fleetrestart resume` knows what happened before a crash.
//!
//! [`replay`] is pure (text in, [`Replayed`] out) and strict: the first record must be the
//! campaign header, every record must carry the header's campaign id, host records must name
//! planned hosts and follow the host state machine ([`allowed`]). A last line cut short by a
//! crash (no newline) is dropped with a warning; anything else malformed is an error, and nothing
//! is restarted. [`Writer`] is the I/O edge: exclusive lock, append, fsync.

use super::plan::Plan;
use super::schedule::Outcome;
use super::scripts::UnitState;
use super::spec::{Budget, Spec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

pub const JOURNAL_VERSION: u32 = 2;

/// What a campaign needs to be resumed: where it ran, how it reached the hosts, what it does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub version: u32,
    pub campaign: String,
    pub started_unix_ms: u64,
    /// The controller's working directory (relative inventory paths are read from there).
    pub cwd: String,
    /// The connection options (`TargetArgs`) of the command line, as JSON.
    pub args: serde_json::Value,
    pub spec: Spec,
    pub plan: Plan,
}

/// A host's step. The engine writes one before taking the step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    Started,
    Draining,
    /// The restart is about to be sent; `before` is the units' state just before it.
    Restarting {
        before: BTreeMap<String, UnitState>,
    },
    /// Reboot campaigns: the reboot command is about to be sent; the host as it was before.
    Rebooting {
        before: RebootBefore,
    },
    /// Reboot campaigns: the host came back with this new boot id.
    Rebooted {
        boot_id: String,
    },
    Checking,
    /// The undrain hook is about to run; the host's result so far.
    Undraining {
        outcome: Outcome,
        reason: Option<String>,
    },
    Finished {
        outcome: Outcome,
        reason: Option<String>,
        /// The undrain hook failed (its own error: the host may still be out of rotation); owed:
        /// `resume` tries it again.
        undrain_failed: Option<String>,
        /// Drained and not undrained on purpose (why): it failed after its services were
        /// touched, or was aborted before they were verified.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        left_drained: Option<String>,
        /// Units started again after their restart left them down, services stopped since the
        /// audit (not started): what the operator must know.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        notes: Vec<String>,
    },
}

impl Phase {
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Started => "started",
            Phase::Draining => "draining",
            Phase::Restarting { .. } => "restarting",
            Phase::Rebooting { .. } => "rebooting",
            Phase::Rebooted { .. } => "rebooted",
            Phase::Checking => "checking",
            Phase::Undraining { .. } => "undraining",
            Phase::Finished { .. } => "finished",
        }
    }
}

/// A host just before its reboot: what the reboot is verified against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebootBefore {
    /// `/proc/sys/kernel/random/boot_id` (a validated UUID).
    pub boot_id: String,
    /// `uname -r`.
    pub kernel: String,
    /// Enabled units that were active: each must be active again.
    pub active: Vec<String>,
    /// Every unit that was active (none in journals written before it was recorded): one of
    /// them failed after the reboot fails the host, degraded allowed or not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub was_active: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CampaignEvent {
    /// The controller (re)started work on this journal; with the failure budget the operator
    /// set for this and later runs (`resume --max-failures ...`).
    Resumed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        budget: Option<Budget>,
    },
    /// The operator paused (Ctrl-C) or the budget stopped the campaign.
    Stopped { reason: String },
    /// Every host is finished or will not be started.
    Ended,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    Campaign(Box<Header>),
    Host {
        campaign: String,
        t: u64,
        host: String,
        #[serde(flatten)]
        phase: Phase,
    },
    Event {
        campaign: String,
        t: u64,
        #[serde(flatten)]
        event: CampaignEvent,
    },
}

/// Whether a host may go from `from` (none = never started) to `to`. Re-entering the same phase
/// is allowed only after a resume (`resumed`).
pub fn allowed(from: Option<&Phase>, to: &Phase, resumed: bool) -> bool {
    use Phase::*;
    match (from, to) {
        (None, Started) => true,
        // an aborted host's checks run again on resume (it was restarted and undrained)
        (
            Some(Finished {
                outcome: Outcome::Aborted,
                ..
            }),
            Checking,
        ) => resumed,
        // a host aborted before its restart or reboot was sent (waiting for another campaign's
        // lease, or in its drain) starts its turn again on resume
        (
            Some(Finished {
                outcome: Outcome::Aborted,
                ..
            }),
            Draining | Restarting { .. } | Rebooting { .. },
        ) => resumed,
        // a resumed host that was aborted, or whose undrain is owed, may end again (
        // an aborted host that fails before its checks on resume writes `finished` again)
        (
            Some(Finished {
                outcome,
                undrain_failed,
                ..
            }),
            Undraining { .. } | Finished { .. },
        ) => resumed && (*outcome == Outcome::Aborted || undrain_failed.is_some()),
        (Some(Finished { .. }), _) => false,
        (Some(a), b) if std::mem::discriminant(a) == std::mem::discriminant(b) => resumed,
        (Some(Started), Draining | Restarting { .. } | Rebooting { .. } | Finished { .. }) => true,
        (
            Some(Draining),
            Restarting { .. } | Rebooting { .. } | Undraining { .. } | Finished { .. },
        ) => true,
        (Some(Rebooting { .. }), Rebooted { .. } | Undraining { .. } | Finished { .. }) => true,
        (Some(Rebooted { .. }), Checking | Undraining { .. } | Finished { .. }) => true,
        (Some(Restarting { .. }), Checking | Undraining { .. } | Finished { .. }) => true,
        (Some(Checking), Undraining { .. } | Finished { .. }) => true,
        (Some(Undraining { .. }), Finished { .. }) => true,
        _ => false,
    }
}

/// A journal that cannot be replayed, at its line.
pub type JournalError = fleetrestart_scan::located::Located;

/// A host's progress as the journal tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostProgress {
    pub last: Phase,
    /// The state of its units before the restart (when the restart was reached).
    pub before: Option<BTreeMap<String, UnitState>>,
    /// The host before its reboot (reboot campaigns, when the reboot was reached).
    pub reboot: Option<RebootBefore>,
    /// Index of the controller run that wrote the last record (0 = the first run).
    pub run: usize,
    pub t: u64,
}

impl HostProgress {
    /// Has this host work left for a resume: interrupted mid-way, aborted by the operator
    /// before its checks passed, or owed an undrain that failed?
    pub fn resumable(&self) -> bool {
        match &self.last {
            Phase::Finished {
                outcome,
                undrain_failed,
                ..
            } => *outcome == Outcome::Aborted || undrain_failed.is_some(),
            _ => true,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Replayed {
    pub header: Header,
    pub hosts: BTreeMap<String, HostProgress>,
    /// Controller runs so far (1 + resumes).
    pub runs: usize,
    pub ended: bool,
    /// The failure budget of the last resume that set one (it replaces the header's).
    pub budget: Option<Budget>,
    pub warnings: Vec<String>,
    /// Bytes of complete lines: a torn last line after this is cut before appending.
    pub valid_len: usize,
}

/// Reads a journal. Pure.
pub fn replay(file: &str, text: &str) -> Result<Replayed, JournalError> {
    let err = |line: usize, message: String| {
        JournalError::new(&format!("journal {file}"), Some(line), None, message)
    };
    let mut warnings = Vec::new();
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    if complete.len() < text.len() {
        let n = complete.lines().count() + 1;
        warnings.push(format!(
            "{file}:{n}: the last line was cut short (the controller died while writing it); ignored"
        ));
    }
    let mut lines = complete.lines().enumerate().map(|(i, l)| (i + 1, l));
    let (n, first) = lines
        .next()
        .ok_or_else(|| err(1, "empty journal: no campaign header".into()))?;
    let header = read_header(first).map_err(|m| err(n, m))?;
    let mut state = Replay {
        header,
        hosts: BTreeMap::new(),
        runs: 1,
        ended: false,
        budget: None,
    };
    for (n, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let rec: Record =
            serde_json::from_str(line).map_err(|e| err(n, format!("corrupt record: {e}")))?;
        state.apply(rec).map_err(|m| err(n, m))?;
    }
    Ok(Replayed {
        header: state.header,
        hosts: state.hosts,
        runs: state.runs,
        ended: state.ended,
        budget: state.budget,
        warnings,
        valid_len: complete.len(),
    })
}

/// The campaign header, the journal's first line, of this controller's journal version.
fn read_header(line: &str) -> Result<Header, String> {
    let header = match serde_json::from_str::<Record>(line) {
        Ok(Record::Campaign(h)) => *h,
        Ok(_) => return Err("the first record is not a campaign header".into()),
        Err(e) => return Err(format!("not a fleetrestart journal: {e}")),
    };
    if header.version != JOURNAL_VERSION {
        return Err(format!(
            "journal version {} (this controller reads {JOURNAL_VERSION})",
            header.version
        ));
    }
    Ok(header)
}

/// What a replay has read so far.
struct Replay {
    header: Header,
    hosts: BTreeMap<String, HostProgress>,
    runs: usize,
    ended: bool,
    budget: Option<Budget>,
}

impl Replay {
    /// One record after the header: of this campaign, in an order its host may take.
    fn apply(&mut self, rec: Record) -> Result<(), String> {
        if let Record::Host { campaign, .. } | Record::Event { campaign, .. } = &rec {
            if *campaign != self.header.campaign {
                return Err(format!(
                    "record of campaign {campaign}, not {}: another campaign's journal",
                    self.header.campaign
                ));
            }
        }
        match rec {
            Record::Campaign(_) => {
                Err("a second campaign header: journals of two campaigns mixed".into())
            }
            Record::Event { event, .. } => {
                match event {
                    CampaignEvent::Resumed { budget: b } => {
                        self.runs += 1;
                        self.ended = false;
                        self.budget = b.or(self.budget.take());
                    }
                    CampaignEvent::Ended => self.ended = true,
                    CampaignEvent::Stopped { .. } => {}
                }
                Ok(())
            }
            Record::Host { t, host, phase, .. } => self.host(t, host, phase),
        }
    }

    /// A host's step: the host is in the plan and the step follows its last one.
    fn host(&mut self, t: u64, host: String, phase: Phase) -> Result<(), String> {
        if !self.header.plan.hosts.iter().any(|h| h.host == host) {
            return Err(format!("host {host:?} is not in this campaign's plan"));
        }
        let runs = self.runs;
        let prev = self.hosts.get(&host);
        let resumed = prev.is_some_and(|p| p.run < runs - 1);
        if !allowed(prev.map(|p| &p.last), &phase, resumed) {
            return Err(format!(
                "host {host:?} cannot go from {} to {}: the journal is corrupt",
                prev.map(|p| p.last.name()).unwrap_or("not started"),
                phase.name()
            ));
        }
        let before = match &phase {
            Phase::Restarting { before } => Some(before.clone()),
            _ => prev.and_then(|p| p.before.clone()),
        };
        let reboot = match &phase {
            Phase::Rebooting { before } => Some(before.clone()),
            _ => prev.and_then(|p| p.reboot.clone()),
        };
        self.hosts.insert(
            host,
            HostProgress {
                last: phase,
                before,
                reboot,
                run: runs - 1,
                t,
            },
        );
        Ok(())
    }
}

/// Appends records, each fsynced, to a journal held under an exclusive lock.
#[derive(Debug)]
pub struct Writer {
    file: std::fs::File,
    campaign: String,
    /// The file's length after the last complete record: a failed append is cut back to it.
    len: u64,
    /// An append failed: every later one is refused (no record may follow a torn one).
    failed: bool,
    /// Tests: the next append writes this many bytes, then fails (a disk that fills up).
    #[cfg(test)]
    fail_after: Option<usize>,
    /// Time spent writing and fsyncing, and how many records (benchmarks).
    pub spent: std::time::Duration,
    pub writes: usize,
}

#[cfg(test)]
pub(crate) fn test_header() -> Header {
    tests::header()
}

/// A journal opened for `resume`: locked first, then read, so no other controller can append
/// between the read and the repair.
#[derive(Debug)]
pub struct Locked {
    file: std::fs::File,
    path: std::path::PathBuf,
    /// The bytes read under the lock.
    len: u64,
}

impl Locked {
    /// Opens and locks the journal, then reads it whole; a last line torn in the middle of a
    /// character is decoded lossily (replay drops a torn last line anyway).
    pub fn open(path: &Path) -> Result<(Locked, String), String> {
        use std::io::Read;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open journal {}: {e}", path.display()))?;
        lock(&file, path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read journal {}: {e}", path.display()))?;
        let cut = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let mut text = String::from_utf8(bytes[..cut].to_vec()).map_err(|e| {
            format!(
                "journal {}: not UTF-8 at byte {}",
                path.display(),
                e.utf8_error().valid_up_to()
            )
        })?;
        text.push_str(&String::from_utf8_lossy(&bytes[cut..]));
        let len = bytes.len() as u64;
        Ok((
            Locked {
                file,
                path: path.to_path_buf(),
                len,
            },
            text,
        ))
    }

    /// Continues the journal: cuts a torn last line and appends `Resumed` (with the budget the
    /// operator set for this run, if any).
    pub fn resume(self, replayed: &Replayed, budget: Option<Budget>) -> Result<Writer, String> {
        let valid = replayed.valid_len as u64;
        if valid > self.len {
            return Err(format!(
                "journal {}: replayed past what was read",
                self.path.display()
            ));
        }
        // appends go to the (new) end, so cutting the torn line first is enough
        self.file
            .set_len(valid)
            .map_err(|e| format!("cannot repair journal {}: {e}", self.path.display()))?;
        let mut w = Writer {
            file: self.file,
            campaign: replayed.header.campaign.clone(),
            len: valid,
            failed: false,
            #[cfg(test)]
            fail_after: None,
            spent: Default::default(),
            writes: 0,
        };
        w.event(CampaignEvent::Resumed { budget })?;
        Ok(w)
    }
}

impl Writer {
    /// A new journal (the file must not exist): writes the header, and makes the new file's
    /// directory entry durable (the directory is fsynced; `.` for a bare file name).
    pub fn create(path: &Path, header: &Header) -> Result<Writer, String> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => format!(
                    "journal {} exists already: continue that campaign with `fleetrestart resume {}`, or choose another --journal",
                    path.display(),
                    path.display()
                ),
                _ => format!("cannot create journal {}: {e}", path.display()),
            })?;
        lock(&file, path)?;
        let mut w = Writer {
            file,
            campaign: header.campaign.clone(),
            len: 0,
            failed: false,
            #[cfg(test)]
            fail_after: None,
            spent: Default::default(),
            writes: 0,
        };
        w.append(&Record::Campaign(Box::new(header.clone())))?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| format!("cannot sync the journal's directory {}: {e}", dir.display()))?;
        Ok(w)
    }

    /// Appends `r` and fsyncs it.
    pub fn append(&mut self, r: &Record) -> Result<(), String> {
        self.write_record(r, true).map(|_| ())
    }

    /// Appends `r` without an fsync (the caller makes it durable: [`super::commit`]); its
    /// sequence number.
    fn write_record(&mut self, r: &Record, sync: bool) -> Result<u64, String> {
        if self.failed {
            return Err("the journal could not be written earlier: no record may follow".into());
        }
        let t = std::time::Instant::now();
        let mut line = serde_json::to_string(r).map_err(|e| e.to_string())?;
        line.push('\n');
        let r = self
            .write_line(line.as_bytes(), sync)
            .map_err(|e| format!("cannot write the journal: {e}"));
        match r {
            Ok(()) => self.len += line.len() as u64,
            Err(_) => {
                // a half-written line must not be followed by a whole one
                self.failed = true;
                let _ = self.file.set_len(self.len);
            }
        }
        self.spent += t.elapsed();
        self.writes += 1;
        r.map(|()| self.writes as u64)
    }

    fn write_line(&mut self, bytes: &[u8], sync: bool) -> std::io::Result<()> {
        #[cfg(test)]
        if let Some(n) = self.fail_after.take() {
            self.file.write_all(&bytes[..n])?;
            return Err(std::io::Error::other("no space left on device (test)"));
        }
        self.file.write_all(bytes)?;
        if sync {
            self.file.sync_data()?;
        }
        Ok(())
    }

    /// Records written so far (the sequence number of the last one).
    pub fn written(&self) -> u64 {
        self.writes as u64
    }

    /// After a failed fsync: no record may follow.
    pub fn refuse_more(&mut self) {
        self.failed = true;
    }

    /// A second handle on the journal's file (for fsyncs by [`super::commit`]).
    pub fn file_handle(&self) -> std::io::Result<std::fs::File> {
        self.file.try_clone()
    }

    fn host_record(&self, host: &str, phase: Phase) -> Record {
        Record::Host {
            campaign: self.campaign.clone(),
            t: unix_ms(),
            host: host.into(),
            phase,
        }
    }

    fn event_record(&self, event: CampaignEvent) -> Record {
        Record::Event {
            campaign: self.campaign.clone(),
            t: unix_ms(),
            event,
        }
    }

    /// [`Writer::host`] without the fsync; the record's sequence number.
    pub fn host_unsynced(&mut self, host: &str, phase: Phase) -> Result<u64, String> {
        let r = self.host_record(host, phase);
        self.write_record(&r, false)
    }

    /// [`Writer::event`] without the fsync; the record's sequence number.
    pub fn event_unsynced(&mut self, event: CampaignEvent) -> Result<u64, String> {
        let r = self.event_record(event);
        self.write_record(&r, false)
    }

    pub fn host(&mut self, host: &str, phase: Phase) -> Result<(), String> {
        let r = self.host_record(host, phase);
        self.append(&r)
    }

    pub fn event(&mut self, event: CampaignEvent) -> Result<(), String> {
        let r = self.event_record(event);
        self.append(&r)
    }
}

fn lock(file: &std::fs::File, path: &Path) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(format!(
            "journal {} is locked: another fleetrestart is running this campaign",
            path.display()
        ));
    }
    Ok(())
}

pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::plan::{build, Audited};

    pub(super) fn header() -> Header {
        let r = crate::campaign::plan::tests_support::cron_report();
        let a = [
            Audited {
                host: "h1",
                groups: vec![],
                report: Ok(&r),
            },
            Audited {
                host: "h2",
                groups: vec![],
                report: Ok(&r),
            },
        ];
        let spec = Spec::default();
        let plan = build(&a, &spec, &Default::default()).unwrap();
        Header {
            version: JOURNAL_VERSION,
            campaign: "c1".into(),
            started_unix_ms: 1,
            cwd: "/".into(),
            args: serde_json::json!({}),
            spec,
            plan,
        }
    }

    fn line(r: &Record) -> String {
        serde_json::to_string(r).unwrap() + "\n"
    }

    fn host(c: &str, h: &str, phase: Phase) -> String {
        line(&Record::Host {
            campaign: c.into(),
            t: 5,
            host: h.into(),
            phase,
        })
    }

    fn fin(o: Outcome) -> Phase {
        Phase::Finished {
            outcome: o,
            reason: None,
            undrain_failed: None,
            left_drained: None,
            notes: vec![],
        }
    }

    #[test]
    fn replays_progress_and_resumes() {
        let before: BTreeMap<String, UnitState> = [(
            "cron.service".to_string(),
            UnitState {
                invocation: "a".into(),
                ..Default::default()
            },
        )]
        .into();
        let mut t = line(&Record::Campaign(Box::new(header())));
        t += &host("c1", "h1", Phase::Started);
        t += &host(
            "c1",
            "h1",
            Phase::Restarting {
                before: before.clone(),
            },
        );
        t += &host("c1", "h1", Phase::Checking);
        t += &host("c1", "h1", fin(Outcome::Ok));
        t += &host("c1", "h2", Phase::Started);
        t += &host(
            "c1",
            "h2",
            Phase::Restarting {
                before: before.clone(),
            },
        );
        let r = replay("j", &t).unwrap();
        assert_eq!(r.hosts["h1"].last, fin(Outcome::Ok));
        assert_eq!(r.hosts["h2"].before.as_ref(), Some(&before));
        assert_eq!(r.runs, 1);
        // the same phase again is legal only after a resume
        let again = host(
            "c1",
            "h2",
            Phase::Restarting {
                before: before.clone(),
            },
        );
        assert!(replay("j", &(t.clone() + &again)).is_err());
        // an older journal's resume line has no budget
        let resumed = "{\"record\":\"event\",\"campaign\":\"c1\",\"t\":6,\"event\":\"resumed\"}\n";
        let r = replay(
            "j",
            &(t.clone() + resumed + &again + &host("c1", "h2", Phase::Checking)),
        )
        .unwrap();
        assert_eq!(r.runs, 2);
        assert_eq!(r.hosts["h2"].last, Phase::Checking);
        assert_eq!(r.hosts["h2"].before.as_ref(), Some(&before));
        assert_eq!(r.budget, None);
        // a resume that sets a budget: it holds for later runs that set none
        let raised = Budget {
            max_failures: Some(3),
            ..Default::default()
        };
        let resumed_with = |budget: Option<Budget>| {
            line(&Record::Event {
                campaign: "c1".into(),
                t: 7,
                event: CampaignEvent::Resumed { budget },
            })
        };
        let r = replay(
            "j",
            &(t.clone() + resumed + &resumed_with(Some(raised.clone())) + &resumed_with(None)),
        )
        .unwrap();
        assert_eq!((r.runs, r.budget), (4, Some(raised)));
        // a torn last line is dropped with a warning
        let torn = t.clone() + "{\"record\":\"host\",\"camp";
        let r = replay("j", &torn).unwrap();
        assert_eq!(r.warnings.len(), 1);
        assert_eq!(r.valid_len, t.len());
    }

    #[test]
    fn refuses_corrupt_or_foreign_journals() {
        let h = line(&Record::Campaign(Box::new(header())));
        let e = replay("j", "").unwrap_err();
        assert!(e.message.contains("empty"), "{e}");
        let e = replay("j", "hello\n").unwrap_err();
        assert!(e.message.contains("not a fleetrestart journal"), "{e}");
        let e = replay("j", &(h.clone() + &host("c2", "h1", Phase::Started))).unwrap_err();
        assert!(e.message.contains("another campaign"), "{e}");
        assert_eq!(e.line, Some(2));
        let e = replay("j", &(h.clone() + &host("c1", "h9", Phase::Started))).unwrap_err();
        assert!(e.message.contains("not in this campaign"), "{e}");
        let e = replay("j", &(h.clone() + &host("c1", "h1", Phase::Checking))).unwrap_err();
        assert!(
            e.message.contains("cannot go from not started to checking"),
            "{e}"
        );
        let e = replay(
            "j",
            &(h.clone() + "{\"record\": 3}\n" + &host("c1", "h1", Phase::Started)),
        )
        .unwrap_err();
        assert!(e.message.contains("corrupt"), "{e}");
        assert_eq!(e.line, Some(2));
        let e = replay("j", &(h.clone() + &h)).unwrap_err();
        assert!(e.message.contains("two campaigns"), "{e}");
        let done =
            h.clone() + &host("c1", "h1", Phase::Started) + &host("c1", "h1", fin(Outcome::Failed));
        let e = replay("j", &(done + &host("c1", "h1", Phase::Started))).unwrap_err();
        assert!(e.message.contains("from finished"), "{e}");
    }

    #[test]
    fn a_resumed_aborted_host_that_fails_before_its_checks_can_be_resumed_again() {
        // finished{aborted} → resumed → finished{failed} → resumed must replay
        let h = line(&Record::Campaign(Box::new(header())));
        let ev = |e: CampaignEvent| {
            line(&Record::Event {
                campaign: "c1".into(),
                t: 6,
                event: e,
            })
        };
        let text = h
            + &host("c1", "h1", Phase::Started)
            + &host("c1", "h1", fin(Outcome::Aborted))
            + &ev(CampaignEvent::Resumed { budget: None })
            + &host("c1", "h1", fin(Outcome::Failed))
            + &ev(CampaignEvent::Resumed { budget: None });
        let r = replay("j", &text).unwrap();
        assert!(!r.hosts["h1"].resumable());
        // an owed undrain may be tried again, and end again
        let owed = Phase::Finished {
            outcome: Outcome::Failed,
            reason: None,
            undrain_failed: Some("undrain failed".into()),
            left_drained: None,
            notes: vec![],
        };
        assert!(allowed(
            Some(&owed),
            &Phase::Undraining {
                outcome: Outcome::Ok,
                reason: None
            },
            true
        ));
        assert!(!allowed(
            Some(&owed),
            &Phase::Undraining {
                outcome: Outcome::Ok,
                reason: None
            },
            false
        ));
        assert!(!allowed(
            Some(&fin(Outcome::Failed)),
            &fin(Outcome::Failed),
            true
        ));
    }

    #[test]
    fn an_aborted_host_is_resumable_at_its_checks() {
        let aborted = Phase::Finished {
            outcome: Outcome::Aborted,
            reason: Some("aborted by the operator".into()),
            undrain_failed: None,
            left_drained: None,
            notes: vec![],
        };
        assert!(allowed(Some(&aborted), &Phase::Checking, true));
        assert!(!allowed(Some(&aborted), &Phase::Checking, false));
        // a host aborted before its restart or reboot was sent starts its turn again
        assert!(allowed(Some(&aborted), &Phase::Draining, true));
        assert!(!allowed(Some(&aborted), &Phase::Draining, false));
        assert!(!allowed(
            Some(&aborted),
            &Phase::Restarting {
                before: BTreeMap::new()
            },
            false
        ));
        assert!(!allowed(
            Some(&fin(Outcome::Failed)),
            &Phase::Checking,
            true
        ));
        let p = |last| HostProgress {
            last,
            before: None,
            reboot: None,
            run: 0,
            t: 0,
        };
        assert!(p(aborted).resumable());
        assert!(p(Phase::Checking).resumable());
        assert!(!p(fin(Outcome::Failed)).resumable());
    }

    /// Every phase sequence the engine can write is accepted; every jump backwards is refused.
    #[test]
    fn state_machine() {
        use Phase::*;
        let r = || Restarting {
            before: BTreeMap::new(),
        };
        let u = || Undraining {
            outcome: Outcome::Ok,
            reason: None,
        };
        let paths: Vec<Vec<Phase>> = vec![
            vec![Started, fin(Outcome::Unreachable)],
            vec![Started, r(), Checking, fin(Outcome::Ok)],
            vec![Started, Draining, r(), Checking, u(), fin(Outcome::Ok)],
            vec![Started, Draining, u(), fin(Outcome::Failed)],
            vec![Started, Draining, r(), u(), fin(Outcome::Failed)],
            vec![Started, r(), fin(Outcome::Failed)],
        ];
        for p in &paths {
            let mut prev: Option<&Phase> = None;
            for ph in p {
                assert!(allowed(prev, ph, false), "{prev:?} -> {ph:?}");
                prev = Some(ph);
            }
        }
        let order = [Started, Draining, r(), Checking, u(), fin(Outcome::Ok)];
        for (i, a) in order.iter().enumerate() {
            for b in &order[..i] {
                assert!(
                    !allowed(Some(a), b, true)
                        || std::mem::discriminant(a) == std::mem::discriminant(b),
                    "{a:?} -> {b:?}"
                );
            }
        }
    }

    /// [`Locked::open`] once the lock is free: a child forked by another test thread holds
    /// the lock's open file description until its exec closes it (a moment).
    fn open_when_free(p: &Path) -> (Locked, String) {
        for _ in 0..100 {
            match Locked::open(p) {
                Err(e) if e.contains("locked") => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                r => return r.unwrap(),
            }
        }
        Locked::open(p).unwrap()
    }

    #[test]
    fn writer_locks_and_repairs() {
        let dir = std::env::temp_dir().join(format!("frj-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.journal");
        let mut w = Writer::create(&p, &header()).unwrap();
        w.host("h1", Phase::Started).unwrap();
        assert!(Writer::create(&p, &header())
            .unwrap_err()
            .contains("exists already"));
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(Locked::open(&p).unwrap_err().contains("locked"));
        drop(w);
        // a torn last line, cut in the middle of a character (read_to_string
        // refused the whole journal)
        let mut torn = (text.clone() + "{\"torn\": \"é").into_bytes();
        torn.pop();
        std::fs::write(&p, torn).unwrap();
        let (l, t) = open_when_free(&p);
        let r = replay("j", &t).unwrap();
        let mut w = l.resume(&r, None).unwrap();
        w.host("h1", Phase::Draining).unwrap();
        drop(w);
        let (l, t) = open_when_free(&p);
        let r = replay("j", &t).unwrap();
        assert!(r.warnings.is_empty());
        assert_eq!(r.runs, 2);
        assert_eq!(r.hosts["h1"].last, Phase::Draining);
        drop(l);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn resume_reads_under_the_lock_and_keeps_what_another_controller_wrote() {
        // resume read and replayed the journal, then locked it and cut it to the
        // length it had read: records another controller appended in between were lost
        let dir = std::env::temp_dir().join(format!("frj-m2-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.journal");
        let mut other = Writer::create(&p, &header()).unwrap();
        other.host("h1", Phase::Started).unwrap();
        // while the other controller runs, resume cannot even read
        assert!(Locked::open(&p).unwrap_err().contains("locked"));
        other.host("h1", fin(Outcome::Ok)).unwrap();
        drop(other);
        let (l, t) = Locked::open(&p).unwrap();
        let r = replay("j", &t).unwrap();
        assert_eq!(r.hosts["h1"].last, fin(Outcome::Ok));
        let w = l.resume(&r, None).unwrap();
        drop(w);
        let r = replay("j", &std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(r.hosts["h1"].last, fin(Outcome::Ok), "kept");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_append_is_cut_back_and_no_record_follows_it() {
        // a half-written line was followed by the next worker's whole one, and
        // replay then refused the journal
        let dir = std::env::temp_dir().join(format!("frj-l2-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.journal");
        let mut w = Writer::create(&p, &header()).unwrap();
        w.host("h1", Phase::Started).unwrap();
        let good = std::fs::metadata(&p).unwrap().len();
        // the disk fills in the middle of the next line: half of it is written, then an error
        w.fail_after = Some(7);
        let e = w.host("h1", Phase::Draining);
        assert!(e.is_err(), "{e:?}");
        assert_eq!(std::fs::metadata(&p).unwrap().len(), good, "cut back");
        assert!(w
            .host("h1", Phase::Draining)
            .unwrap_err()
            .contains("earlier"));
        let r = replay("j", &std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(r.hosts["h1"].last, Phase::Started);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
