//! A Nagios/Icinga plugin line with performance data; the state is the plugin's exit code.
//!
//! States: services to restart or sessions → WARNING; a reboot needed (kernel, reboot-class
//! service, `/run/reboot-required`) → CRITICAL; not root or some processes unreadable → UNKNOWN
//! (a partial scan must not read as OK).

use crate::report::{KernelState, Report};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NagiosState {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl NagiosState {
    pub fn label(self) -> &'static str {
        match self {
            NagiosState::Ok => "OK",
            NagiosState::Warning => "WARNING",
            NagiosState::Critical => "CRITICAL",
            NagiosState::Unknown => "UNKNOWN",
        }
    }
}

pub fn nagios(r: &Report) -> (NagiosState, String) {
    let services = r.services.len() + r.never_restart.len() + r.unattributed.len();
    let sessions = r.sessions.len();
    let containers = r.containers.len();
    let kernel_bad = matches!(
        r.kernel.status,
        KernelState::AbiUpgrade | KernelState::VersionUpgrade
    );
    let state = if r.partial {
        NagiosState::Unknown
    } else if r.reboot.needed {
        NagiosState::Critical
    } else if services > 0 || sessions > 0 {
        NagiosState::Warning
    } else {
        NagiosState::Ok
    };
    let mark = |n: usize| if n > 0 { " (!)" } else { "" };
    let kernel = match &r.kernel.expected {
        Some(e) if kernel_bad && e != &r.kernel.running => {
            format!("{}!={e} (!!)", r.kernel.running)
        }
        _ if kernel_bad => format!("{} (!!)", r.kernel.running),
        _ => r.kernel.running.clone(),
    };
    let mut line = format!(
        "{} - Kernel: {kernel}, Services: {services}{}, Containers: {containers}, Sessions: {sessions}{}, Reboot: {}",
        state.label(),
        mark(services),
        mark(sessions),
        if r.reboot.needed { "yes (!!)" } else { "no" },
    );
    if r.partial {
        line.push_str(", partial scan: not root or processes unreadable");
    }
    let kcode = if kernel_bad { 2 } else { 0 };
    line.push_str(&format!(
        "|Kernel={kcode};0;;0;2 Services={services};0;;0 Containers={containers};;;0 Sessions={sessions};0;;0 Reboot={}\n",
        u8::from(r.reboot.needed)
    ));
    // the long output names everything the status line counts (newcomer E7)
    for s in r.services.iter().chain(r.never_restart.iter()) {
        line.push_str(&format!("- {}\n", s.name));
    }
    for u in &r.unattributed {
        line.push_str(&format!(
            "- {} process(es) of no service: {}\n",
            u.process_count, u.reason
        ));
    }
    for s in &r.sessions {
        line.push_str(&format!("- session {} of {}\n", s.id, s.user));
    }
    (state, line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_line() {
        let mut r = crate::render::sample::report();
        let (st, line) = nagios(&r);
        assert_eq!(st, NagiosState::Critical);
        assert!(line.starts_with("CRITICAL - Kernel: 6.1.0-9-amd64!=6.1.0-26-amd64 (!!), Services: 2 (!), Containers: 0, Sessions: 1 (!), Reboot: yes (!!)|Kernel=2;0;;0;2 Services=2;0;;0"), "{line}");
        // every counted service, group of processes of no service and session is named
        let listed = line.lines().filter(|l| l.starts_with("- ")).count();
        assert_eq!(listed, 2 + r.sessions.len(), "{line}");
        r.unattributed.push(crate::report::Unattributed {
            reason: "no systemd cgroup".into(),
            process_count: 2,
            processes: vec![],
        });
        let (_, line) = nagios(&r);
        assert!(line.contains("Services: 3 (!)"), "{line}");
        assert!(
            line.contains("- 2 process(es) of no service: no systemd cgroup\n"),
            "{line}"
        );
        r.unattributed.clear();
        r.reboot.needed = false;
        r.kernel.status = KernelState::Current;
        assert_eq!(nagios(&r).0, NagiosState::Warning);
        r.services.clear();
        r.never_restart.clear();
        r.sessions.clear();
        assert_eq!(nagios(&r).0, NagiosState::Ok);
        r.partial = true;
        assert_eq!(nagios(&r).0, NagiosState::Unknown);
    }
}
