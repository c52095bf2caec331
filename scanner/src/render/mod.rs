//! Output formats of a host report: JSON, a human table, needrestart-compatible batch lines,
//! a Nagios/Icinga plugin line, and OpenMetrics text. All pure: report in, text out.

mod batch;
mod human;
mod nagios;
mod openmetrics;

pub use batch::batch;
pub use human::human;
pub use nagios::{nagios, NagiosState};
pub use openmetrics::{label as openmetrics_label, openmetrics};

use crate::report::{Process, Report};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Human,
    Batch,
    Nagios,
    OpenMetrics,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "json" => Format::Json,
            "human" | "table" => Format::Human,
            "batch" => Format::Batch,
            "nagios" => Format::Nagios,
            "openmetrics" | "metrics" => Format::OpenMetrics,
            _ => return None,
        })
    }
}

/// Distinct `path (package)` causes of a group's processes, sorted.
pub fn causes(procs: &[Process]) -> Vec<String> {
    let mut v: Vec<String> = procs
        .iter()
        .flat_map(|p| p.files.iter())
        .map(|f| {
            let maybe = if f.reason == crate::report::Reason::MayHaveChanged {
                " [may be stale]"
            } else {
                ""
            };
            match &f.package {
                Some(pkg) => format!("{} ({pkg}){maybe}", f.path),
                None => format!("{}{maybe}", f.path),
            }
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Renders a report; the JSON form is one line.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string(report).expect("report serialises");
            s.push('\n');
            s
        }
        // text formats carry strings from the host (paths, comm, command lines) that any user
        // of the host can choose: control characters are shown, never sent to a terminal
        Format::Human => terminal_safe(&human(report)).into_owned(),
        Format::Batch => terminal_safe(&batch(report)).into_owned(),
        Format::Nagios => terminal_safe(&nagios(report).1).into_owned(),
        Format::OpenMetrics => terminal_safe(&openmetrics(report)).into_owned(),
    }
}

/// Text made safe for a terminal: every control character but newline and tab (C0, DEL, C1:
/// escape sequences, carriage returns, bells) is replaced by its visible `\u{..}` escape.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod terminal_tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_sent() {
        assert_eq!(terminal_safe("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(
            terminal_safe("/opt/\u{1b}[2J\u{1b}]0;pwned\u{7}x\r\u{9b}y\u{7f}"),
            "/opt/\\u{1b}[2J\\u{1b}]0;pwned\\u{7}x\\u{d}\\u{9b}y\\u{7f}"
        );
    }

    #[test]
    fn a_hostile_path_reaches_the_human_view_escaped() {
        let mut r = sample::report();
        r.services[0].processes[0].files[0].path = "/usr/lib/\u{1b}[31mlibx.so".into();
        r.services[0].processes[0].cmdline = "evil \u{1b}]2;title\u{7}".into();
        for f in [
            Format::Human,
            Format::Batch,
            Format::Nagios,
            Format::OpenMetrics,
        ] {
            let text = render(&r, f);
            assert!(
                !text.contains('\u{1b}') && !text.contains('\u{7}'),
                "{f:?}: {text}"
            );
        }
        assert!(render(&r, Format::Human).contains("\\u{1b}[31mlibx.so"));
    }
}

#[cfg(test)]
pub(crate) mod sample {
    use crate::report::*;
    use crate::rules::{Method, Policy};

    pub fn process(pid: i32, path: &str, package: Option<&str>) -> Process {
        Process {
            pid,
            ppid: 1,
            uid: 0,
            user: "root".into(),
            comm: "cron".into(),
            exe: "/usr/sbin/cron".into(),
            cmdline: "/usr/sbin/cron -f".into(),
            started_at: 1_700_000_000,
            cgroup: Some("/system.slice/cron.service".into()),
            files: vec![StaleFile {
                path: path.into(),
                kind: FileKind::Library,
                reason: Reason::Deleted,
                package: package.map(String::from),
            }],
            files_omitted: 0,
        }
    }

    pub fn report() -> Report {
        let lib = "/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0.10.4";
        Report {
            schema_version: SCHEMA_VERSION,
            scanner: ScannerInfo {
                name: "fleetrestart-scan".into(),
                version: "0.1.0".into(),
            },
            host: HostInfo {
                hostname: "web01".into(),
                machine_id: None,
                arch: "x86_64".into(),
                init: Init::Systemd,
                container: None,
                boot_id: None,
            },
            started_at: 1_700_000_100,
            duration_ms: 12,
            privileged: true,
            partial: false,
            processes_scanned: 120,
            processes_unreadable: 0,
            kernel: Kernel {
                status: KernelState::VersionUpgrade,
                running: "6.1.0-9-amd64".into(),
                running_build: "#1 SMP".into(),
                expected: Some("6.1.0-26-amd64".into()),
            },
            reboot: Reboot {
                needed: true,
                reasons: vec![
                    "kernel 6.1.0-9-amd64 is running, 6.1.0-26-amd64 is installed".into(),
                ],
                packages: vec![],
            },
            services: vec![Service {
                name: "cron.service".into(),
                kind: ServiceKind::Systemd,
                method: Method::Restart,
                policy: Policy::Auto,
                rule: None,
                process_count: 1,
                processes: vec![process(20, lib, Some("libpcre2-8-0"))],
            }],
            never_restart: vec![Service {
                name: "dbus.service".into(),
                kind: ServiceKind::Systemd,
                method: Method::Restart,
                policy: Policy::Reboot,
                rule: Some("dbus".into()),
                process_count: 1,
                processes: vec![process(30, lib, Some("libpcre2-8-0"))],
            }],
            sessions: vec![Session {
                kind: SessionKind::Login,
                uid: 0,
                user: "root".into(),
                id: "3".into(),
                process_count: 1,
                processes: vec![process(50, lib, None)],
            }],
            containers: vec![],
            unattributed: vec![],
            warnings: vec![],
            limitations: vec![
                "only executable mappings are checked; data files a process maps are not".into(),
            ],
        }
    }
}
