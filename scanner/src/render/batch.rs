//! needrestart-compatible batch lines (`needrestart -b`, the apt-dater protocol), so that tools
//! reading needrestart's batch output read ours unchanged.

use crate::report::{KernelState, Report, SessionKind};
use std::fmt::Write;

/// needrestart's `NEEDRESTART-KSTA` codes.
pub fn ksta(s: KernelState) -> u8 {
    match s {
        KernelState::Unknown | KernelState::NotApplicable => 0,
        KernelState::Current => 1,
        KernelState::AbiUpgrade => 2,
        KernelState::VersionUpgrade => 3,
    }
}

pub fn batch(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "NEEDRESTART-VER: {}", r.scanner.version);
    let _ = writeln!(o, "NEEDRESTART-KCUR: {}", r.kernel.running);
    if let Some(e) = &r.kernel.expected {
        let _ = writeln!(o, "NEEDRESTART-KEXP: {e}");
    }
    let _ = writeln!(o, "NEEDRESTART-KSTA: {}", ksta(r.kernel.status));
    for s in r.services.iter().chain(r.never_restart.iter()) {
        let _ = writeln!(o, "NEEDRESTART-SVC: {}", s.name);
    }
    for c in &r.containers {
        let _ = writeln!(o, "NEEDRESTART-CONT: {} {}", c.kind, c.id);
    }
    // needrestart names everything inside user@UID.service "user manager service", once per user
    let mut seen = std::collections::BTreeSet::new();
    for s in &r.sessions {
        let what = match s.kind {
            SessionKind::Login => format!("session #{}", s.id),
            SessionKind::Tty => s.id.clone(),
            SessionKind::UserManager | SessionKind::UserService => "user manager service".into(),
        };
        let line = format!("NEEDRESTART-SESS: {} @ {}", s.user, what);
        if seen.insert(line.clone()) {
            let _ = writeln!(o, "{line}");
        }
    }
    o
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_match_needrestart_keys() {
        let out = super::batch(&crate::render::sample::report());
        assert_eq!(
            out,
            "NEEDRESTART-VER: 0.1.0\nNEEDRESTART-KCUR: 6.1.0-9-amd64\nNEEDRESTART-KEXP: 6.1.0-26-amd64\nNEEDRESTART-KSTA: 3\n\
             NEEDRESTART-SVC: cron.service\nNEEDRESTART-SVC: dbus.service\nNEEDRESTART-SESS: root @ session #3\n"
        );
    }
}
