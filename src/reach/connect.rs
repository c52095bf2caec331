//! Opening a host's session: one home for it, used by the audit, campaign hosts, their hooks'
//! hosts, health checks and rescans. The transport for the target's connection (this machine,
//! or SSH through its jump hosts, bounded by the host's deadline), then privilege escalation
//! when the login user is not the become user. I/O (connects).

use crate::reach::targets::{Connection, Target};
use crate::transport::local::LocalSession;
use crate::transport::privilege::BecomeSession;
use crate::transport::ssh::{self, SshContext};
use crate::transport::Session;
use std::time::{Duration, Instant};

/// How sessions are opened: SSH settings, and the time a host's whole turn may take.
pub struct Connector {
    pub ssh: SshContext,
    /// Whole-host time limit (connect and every command), from the turn's start.
    pub host_timeout: Duration,
}

impl Connector {
    /// A session to `target` for a turn that began at `t0` (its commands end by
    /// `t0 + host_timeout`); the error says why the host cannot be reached.
    pub fn open(&self, target: &Target, t0: Instant) -> Result<Box<dyn Session + Send>, String> {
        let session: Box<dyn Session + Send> = match &target.connection {
            Connection::Local => Box::new(LocalSession::default()),
            Connection::Ssh(s) => {
                let mut sess = ssh::connect(s, &self.ssh).map_err(|e| e.to_string())?;
                sess.set_host_deadline(t0 + self.host_timeout);
                Box::new(sess)
            }
        };
        let login_is = |u: &str| match &target.connection {
            Connection::Local => u == "root" && unsafe { libc::geteuid() } == 0,
            Connection::Ssh(s) => s.hop.user == u,
        };
        Ok(match &target.become_ {
            Some(b) if !login_is(&b.user) => Box::new(BecomeSession::new(
                session,
                b.user.clone(),
                b.password.clone(),
            )),
            _ => session,
        })
    }
}
