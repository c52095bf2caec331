//! Transport: a session on one host that runs shell commands with standard input.
//!
//! The audit and delivery code sees only [`Session`]; `local` runs `sh -c` on this machine, the
//! SSH transport (ssh2) runs the same command strings over one authenticated connection per host.
//! Output is bounded and every command has a deadline.

mod exchange;
pub mod gate;
pub mod hostcert;
pub mod hostfile;
pub mod input;
pub mod jump;
mod keyfile;
pub mod known_hosts;
mod libssh;
pub mod local;
pub mod privilege;
pub mod ssh;
pub mod target;

use gate::Handshake;
pub use input::Input;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// What says a local file (known_hosts, an identity file) is unchanged since it was read:
/// size, modification time in ns, inode.
pub(crate) type FileStamp = (u64, i128, u64);

/// The [`FileStamp`] of a file's metadata.
pub(crate) fn file_stamp(m: &std::fs::Metadata) -> FileStamp {
    use std::os::unix::fs::MetadataExt;
    (
        m.len(),
        i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        m.ino(),
    )
}

/// Limits of one command.
#[derive(Debug, Clone, Copy)]
pub struct ExecLimits {
    pub timeout: Duration,
    pub max_stdout: usize,
    pub max_stderr: usize,
}

impl Default for ExecLimits {
    fn default() -> Self {
        ExecLimits {
            timeout: Duration::from_secs(60),
            max_stdout: 32 << 20,
            max_stderr: 64 << 10,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExecOutput {
    /// Exit status; `None` when killed by a signal.
    pub status: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Output beyond the limits was dropped.
    pub truncated: bool,
}

/// Why a command could not run to completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The command did not finish within its timeout (it was killed).
    Timeout(Duration),
    /// The connection broke or the command could not be started.
    Failed(String),
    /// Privilege escalation (sudo) did not work.
    Become(String),
    /// The cancel flag was raised while the command ran (its channel was closed).
    Cancelled,
    /// The command was certainly never started: no channel could be opened for it (a reboot
    /// command that failed this way did not go through; one lost later may have).
    NotStarted(String),
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportError::Timeout(d) => {
                write!(f, "command timed out after {:.1} s", d.as_secs_f64())
            }
            TransportError::Failed(m) => f.write_str(m),
            TransportError::Become(m) => write!(f, "become: {m}"),
            TransportError::Cancelled => f.write_str("cancelled by the operator"),
            TransportError::NotStarted(m) => f.write_str(m),
        }
    }
}

/// A byte stream to a TCP port (a socket, or a tunnel through a session).
pub trait Stream: std::io::Read + std::io::Write {}
impl<T: std::io::Read + std::io::Write> Stream for T {}

/// A session on one host. Commands are shell command lines: callers quote every value with
/// [`crate::shell::quote`].
pub trait Session {
    /// A TCP connection to `host:port` opened *from this session's host* (ssh: a direct-tcpip
    /// channel; local: a socket from here), every read and write bounded by `timeout`.
    fn connect_tcp(
        &mut self,
        host: &str,
        port: u16,
        _timeout: Duration,
    ) -> Result<Box<dyn Stream + '_>, TransportError> {
        Err(TransportError::Failed(format!(
            "this session cannot connect to {host}:{port}"
        )))
    }

    /// Runs `command`; with a `gate`, standard input is held back until the sudo handshake
    /// has passed (see [`gate`]), and then [`Input`] says when it is sent.
    fn exec_gated(
        &mut self,
        command: &str,
        stdin: Input<'_>,
        limits: ExecLimits,
        gate: Option<&Handshake>,
    ) -> Result<ExecOutput, TransportError>;

    fn exec(
        &mut self,
        command: &str,
        stdin: &[u8],
        limits: ExecLimits,
    ) -> Result<ExecOutput, TransportError> {
        self.exec_gated(command, Input::Now(stdin), limits, None)
    }

    /// From now on, a command that is running when `flag` is raised is stopped and fails with
    /// [`TransportError::Cancelled`]; `None` ends that. (Transports that cannot stop a command
    /// ignore it.)
    fn set_cancel(&mut self, _flag: Option<Arc<AtomicBool>>) {}

    /// Runs `command` whose standard input depends on its first line of output.
    fn exec_input(
        &mut self,
        command: &str,
        stdin: Input<'_>,
        limits: ExecLimits,
    ) -> Result<ExecOutput, TransportError> {
        self.exec_gated(command, stdin, limits, None)
    }
}

/// A failed step of a command (`what`: "reading the command's output", ...) with its cause.
pub(crate) fn io_fail(what: &str, e: impl std::fmt::Display) -> TransportError {
    TransportError::Failed(format!("{what}: {e}"))
}
