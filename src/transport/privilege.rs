//! Become: running our commands through sudo, as a [`Session`] wrapper.
//!
//! Without a password: `sudo -n -H -u USER -- /bin/sh -c SCRIPT` (fails at once if sudo wants
//! one). With a password: `sudo -S -p PROMPT ...` and the transport's [`Gate`] handshake writes
//! it on standard input when the prompt shows; it is never in argv, never logged, never in
//! output. The prompt and marker carry a per-run random nonce.
//!
//! [`Gate`]: crate::transport::gate::Gate

use crate::secret::{random_hex, Secret};
use crate::shell::quote;
use crate::transport::gate::Handshake;
use crate::transport::{ExecLimits, ExecOutput, Input, Session, TransportError};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The sudo command line for `script`.
pub fn wrap(script: &str, user: &str, hs: Option<&Handshake>) -> String {
    match hs {
        None => format!(
            "sudo -n -H -u {} -- /bin/sh -c {}",
            quote(user),
            quote(script)
        ),
        Some(h) => format!(
            "sudo -S -H -p {} -u {} -- /bin/sh -c {}",
            quote(&h.prompt),
            quote(user),
            quote(&format!("echo {}\n{script}", h.marker))
        ),
    }
}

/// A session whose commands run as another user through sudo.
pub struct BecomeSession {
    pub inner: Box<dyn Session + Send>,
    pub user: String,
    pub handshake: Option<Handshake>,
}

impl BecomeSession {
    pub fn new(inner: Box<dyn Session + Send>, user: String, password: Option<Secret>) -> Self {
        let n = random_hex();
        let handshake = password.map(|password| Handshake {
            prompt: format!("[fleetrestart-sudo-{n}] "),
            marker: format!("FLEETRESTART-BECOME-{n}"),
            password,
        });
        BecomeSession {
            inner,
            user,
            handshake,
        }
    }
}

impl Session for BecomeSession {
    fn connect_tcp(
        &mut self,
        host: &str,
        port: u16,
        timeout: std::time::Duration,
    ) -> Result<Box<dyn crate::transport::Stream + '_>, TransportError> {
        self.inner.connect_tcp(host, port, timeout)
    }

    fn set_cancel(&mut self, flag: Option<Arc<AtomicBool>>) {
        self.inner.set_cancel(flag);
    }

    fn exec_gated(
        &mut self,
        command: &str,
        stdin: Input<'_>,
        limits: ExecLimits,
        gate: Option<&Handshake>,
    ) -> Result<ExecOutput, TransportError> {
        if gate.is_some() {
            return Err(TransportError::Failed(
                "nested become is not supported".into(),
            ));
        }
        let wrapped = wrap(command, &self.user, self.handshake.as_ref());
        let out = self
            .inner
            .exec_gated(&wrapped, stdin, limits, self.handshake.as_ref())?;
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status == Some(1)
            && (err.contains("a password is required")
                || err.contains("sudo: a terminal is required"))
        {
            return Err(TransportError::Become(
                "sudo needs a password (give --ask-become-pass, --become-password-file or ansible_become_password)".into(),
            ));
        }
        if out.status == Some(1)
            && (err.contains("is not in the sudoers") || err.contains("not allowed to execute"))
        {
            return Err(TransportError::Become(format!(
                "sudo refused: {}",
                err.trim()
            )));
        }
        if out.status == Some(127) && err.contains("sudo") && err.contains("not found") {
            return Err(TransportError::Become(
                "sudo is not installed on the host".into(),
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_quoted_and_carry_no_password() {
        let hs = Handshake {
            prompt: "[p] ".into(),
            marker: "M".into(),
            password: Secret::new("s3cret'; rm".into()),
        };
        let c = wrap("exec scan --json", "root", Some(&hs));
        assert_eq!(
            c,
            "sudo -S -H -p '[p] ' -u root -- /bin/sh -c 'echo M\nexec scan --json'"
        );
        assert!(!c.contains("s3cret"));
        assert_eq!(
            wrap("a 'b'", "root", None),
            "sudo -n -H -u root -- /bin/sh -c 'a '\\''b'\\'''"
        );
    }
}
