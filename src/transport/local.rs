//! The local transport: runs commands with `sh -c` on this machine, as the SSH transport runs
//! them on a remote host, so that auditing this machine takes the same code path.

use super::gate::Handshake;
use super::input::{Asking, Input};
use super::{ExecLimits, ExecOutput, Session, TransportError};
use std::borrow::Cow;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::Instant;

#[derive(Default)]
pub struct LocalSession {
    /// Raised: the running command's process group is killed (see [`Session::set_cancel`]).
    cancel: Option<Arc<AtomicBool>>,
}

/// An asking line being watched for, and where its answer goes.
type Reply<'a> = (Asking<'a>, Sender<Cow<'a, [u8]>>);

/// Reads a bounded output stream. With `reply`, the asking line is answered through its
/// sender; dropping the sender (answered, or end of output) releases the writer.
fn read_bounded(mut r: impl Read, max: usize, mut reply: Option<Reply<'_>>) -> (Vec<u8>, bool) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let mut truncated = false;
    loop {
        match r.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Some((a, tx)) = &mut reply {
                    if let Some(bytes) = a.feed(&chunk[..n]) {
                        let _ = tx.send(bytes);
                        reply = None;
                    }
                }
                let room = max.saturating_sub(buf.len());
                if n > room {
                    truncated = true;
                }
                buf.extend_from_slice(&chunk[..n.min(room)]);
            }
        }
    }
    (buf, truncated)
}

/// Kills the command's process group (which `process_group(0)` made its own) and reaps it.
fn kill_group(child: &mut std::process::Child) {
    let pgid = child.id() as i32;
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid signals exactly that process group.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Session for LocalSession {
    fn set_cancel(&mut self, flag: Option<Arc<AtomicBool>>) {
        self.cancel = flag;
    }

    fn exec_gated(
        &mut self,
        command: &str,
        stdin: Input<'_>,
        limits: ExecLimits,
        gate: Option<&Handshake>,
    ) -> Result<ExecOutput, TransportError> {
        if gate.is_some() {
            return Err(TransportError::Become(
                "a sudo password is not supported on local connections: run fleetrestart as root or use NOPASSWD sudo".into(),
            ));
        }
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| TransportError::Failed(format!("cannot start /bin/sh: {e}")))?;
        let mut sin = child.stdin.take().expect("piped");
        let out = child.stdout.take().expect("piped");
        let err = child.stderr.take().expect("piped");
        let (max_out, max_err) = (limits.max_stdout, limits.max_stderr);
        let cancel = self.cancel.as_deref();
        std::thread::scope(|sc| {
            let (tx, rx) = channel::<Cow<[u8]>>();
            let reply = stdin.asking().map(|a| (a, tx));
            let writer = sc.spawn(move || {
                let data = match stdin {
                    Input::Now(b) => Cow::Borrowed(b),
                    Input::Reply { .. } => rx.recv().unwrap_or(Cow::Borrowed(&[][..])),
                };
                let _ = sin.write_all(&data);
            });
            let out_t = sc.spawn(move || read_bounded(out, max_out, reply));
            let err_t = sc.spawn(move || read_bounded(err, max_err, None));
            let start = Instant::now();
            let status = loop {
                match child.try_wait() {
                    Ok(Some(st)) => break st,
                    Ok(None) if start.elapsed() >= limits.timeout => {
                        // the whole process group: the command and anything it started
                        kill_group(&mut child);
                        return Err(TransportError::Timeout(limits.timeout));
                    }
                    Ok(None) if cancel.is_some_and(|c| c.load(Ordering::SeqCst)) => {
                        kill_group(&mut child);
                        return Err(TransportError::Cancelled);
                    }
                    Ok(None) => std::thread::sleep(std::time::Duration::from_millis(5)),
                    Err(e) => {
                        return Err(TransportError::Failed(format!("waiting for command: {e}")))
                    }
                }
            };
            let _ = writer.join();
            let (stdout, t1) = out_t.join().unwrap_or_default();
            let (stderr, t2) = err_t.join().unwrap_or_default();
            Ok(ExecOutput {
                status: status.code(),
                stdout,
                stderr,
                truncated: t1 || t2,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn runs_with_stdin_and_bounds_output() {
        let mut s = LocalSession::default();
        let out = s
            .exec("cat; echo err >&2; exit 3", b"hello", ExecLimits::default())
            .unwrap();
        assert_eq!(
            (out.status, out.stdout.as_slice(), out.stderr.as_slice()),
            (Some(3), &b"hello"[..], &b"err\n"[..])
        );
        let lim = ExecLimits {
            max_stdout: 10,
            ..Default::default()
        };
        let out = s.exec("head -c 100000 /dev/zero", b"", lim).unwrap();
        assert_eq!(out.stdout.len(), 10);
        assert!(out.truncated);
    }

    #[test]
    fn timeout_kills_the_command() {
        let mut s = LocalSession::default();
        let lim = ExecLimits {
            timeout: Duration::from_millis(200),
            ..Default::default()
        };
        let r = s.exec("sleep 30", b"", lim);
        assert_eq!(
            r.unwrap_err(),
            TransportError::Timeout(Duration::from_millis(200))
        );
    }

    #[test]
    fn a_raised_cancel_flag_stops_the_command() {
        let mut s = LocalSession::default();
        let flag = Arc::new(AtomicBool::new(false));
        s.set_cancel(Some(flag.clone()));
        let raise = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            flag.store(true, Ordering::SeqCst);
        });
        let r = s.exec("sleep 30; echo done", b"", ExecLimits::default());
        raise.join().unwrap();
        assert_eq!(r.unwrap_err(), TransportError::Cancelled);
        s.set_cancel(None);
        assert_eq!(
            s.exec("echo ok", b"", ExecLimits::default())
                .unwrap()
                .stdout,
            b"ok\n"
        );
    }

    #[test]
    fn a_reply_answers_the_first_line() {
        let mut s = LocalSession::default();
        fn answer<'a>(l: &str) -> Cow<'a, [u8]> {
            Cow::Owned(format!("got {l}\n").into_bytes())
        }
        let out = s
            .exec_input(
                "echo hello; echo ASK one; read -r x; echo \"$x\"",
                Input::Reply {
                    prefix: "ASK",
                    answer: &answer,
                },
                ExecLimits::default(),
            )
            .unwrap();
        assert_eq!(out.stdout, b"hello\nASK one\ngot ASK one\n");
        // no line before the end of output: nothing is sent
        let out = s
            .exec_input(
                "printf partial",
                Input::Reply {
                    prefix: "ASK",
                    answer: &answer,
                },
                ExecLimits::default(),
            )
            .unwrap();
        assert_eq!(out.stdout, b"partial");
    }
}
