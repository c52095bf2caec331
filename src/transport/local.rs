//! The local transport: runs commands with `sh -c` on this machine, as the SSH transport runs
//! them on a remote host, so that auditing this machine takes the same code path.

use super::gate::Handshake;
use super::input::{Asking, Input};
use super::{ExecLimits, ExecOutput, Session, Stream, TransportError};
use std::borrow::Cow;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStdin};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct LocalSession {
    /// Raised: the running command's process group is killed (see [`Session::set_cancel`]).
    cancel: Option<Arc<AtomicBool>>,
}

/// An asking line being watched for, and where its answer goes.
type Reply<'a> = (Asking<'a>, Sender<Cow<'a, [u8]>>);

/// After the command exits, how long its output may still take to drain; a background process
/// that inherited the pipes and holds them open does not hold the caller longer.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(500);

fn set_nonblocking(fd: &impl AsRawFd) {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl(2) on a descriptor this process owns; only O_NONBLOCK is added.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

/// Waits up to 50 ms for `fd` to be ready for `events`.
fn poll_once(fd: &impl AsRawFd, events: libc::c_short) {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, 50) };
}

/// Reads a bounded output stream until its end or until `stop` is raised. With `reply`, the
/// asking line is answered through its sender; dropping the sender (answered, or end of output)
/// releases the writer.
fn read_bounded<R: Read + AsRawFd>(
    mut r: R,
    max: usize,
    mut reply: Option<Reply<'_>>,
    stop: &AtomicBool,
) -> (Vec<u8>, bool) {
    set_nonblocking(&r);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let mut truncated = false;
    while !stop.load(Ordering::SeqCst) {
        match r.read(&mut chunk) {
            Ok(0) => break,
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
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => poll_once(&r, libc::POLLIN),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    (buf, truncated)
}

/// Writes `data` until done, the reader end is gone, or `stop` is raised.
fn write_all_until(mut w: ChildStdin, data: &[u8], stop: &AtomicBool) {
    set_nonblocking(&w);
    let mut pos = 0;
    while pos < data.len() && !stop.load(Ordering::SeqCst) {
        match w.write(&data[pos..]) {
            Ok(n) => pos += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => poll_once(&w, libc::POLLOUT),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

/// A socket to `host:port` from this machine, reads and writes bounded by `timeout`.
pub fn tcp_connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last = format!("{host}:{port}: no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                s.set_read_timeout(Some(timeout)).ok();
                s.set_write_timeout(Some(timeout)).ok();
                return Ok(s);
            }
            Err(e) => last = format!("connect {a}: {e}"),
        }
    }
    Err(last)
}

/// Kills the command's process group (which `process_group(0)` made its own) and reaps it.
fn kill_group(child: &mut Child) {
    let pgid = child.id() as i32;
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid signals exactly that process group.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs `cmd` (its own process group, pipes on all three streams) with `stdin`, within
/// `limits`: the deadline holds whether or not the command's output ever ends.
pub fn run(
    mut cmd: Command,
    stdin: Input<'_>,
    limits: ExecLimits,
    cancel: Option<&AtomicBool>,
) -> Result<ExecOutput, TransportError> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| {
            TransportError::Failed(format!("cannot start {:?}: {e}", cmd.get_program()))
        })?;
    let sin = child.stdin.take().expect("piped");
    let out = child.stdout.take().expect("piped");
    let err = child.stderr.take().expect("piped");
    let (max_out, max_err) = (limits.max_stdout, limits.max_stderr);
    let stop = AtomicBool::new(false);
    let stop = &stop;
    std::thread::scope(|sc| {
        let (tx, rx) = channel::<Cow<[u8]>>();
        let reply = stdin.asking().map(|a| (a, tx));
        let writer = sc.spawn(move || {
            let data = match stdin {
                Input::Now(b) => Cow::Borrowed(b),
                Input::Reply { .. } => loop {
                    match rx.recv_timeout(Duration::from_millis(50)) {
                        Ok(d) => break d,
                        Err(RecvTimeoutError::Timeout) if !stop.load(Ordering::SeqCst) => {}
                        Err(_) => break Cow::Borrowed(&[][..]),
                    }
                },
            };
            write_all_until(sin, &data, stop);
        });
        let out_t = sc.spawn(move || read_bounded(out, max_out, reply, stop));
        let err_t = sc.spawn(move || read_bounded(err, max_err, None, stop));
        let start = Instant::now();
        let failed = |child: &mut Child, e: TransportError| {
            // the whole process group: the command and anything it started
            kill_group(child);
            stop.store(true, Ordering::SeqCst);
            Err(e)
        };
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) if start.elapsed() >= limits.timeout => {
                    return failed(&mut child, TransportError::Timeout(limits.timeout));
                }
                Ok(None) if cancel.is_some_and(|c| c.load(Ordering::SeqCst)) => {
                    return failed(&mut child, TransportError::Cancelled);
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => {
                    let m = format!("waiting for command: {e}");
                    return failed(&mut child, TransportError::Failed(m));
                }
            }
        };
        let exited = Instant::now();
        while !(out_t.is_finished() && err_t.is_finished())
            && exited.elapsed() < DRAIN_AFTER_EXIT
            && start.elapsed() < limits.timeout
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::SeqCst);
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

impl Session for LocalSession {
    fn connect_tcp(
        &mut self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<Box<dyn Stream + '_>, TransportError> {
        Ok(Box::new(
            tcp_connect(host, port, timeout).map_err(TransportError::Failed)?,
        ))
    }

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
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(command);
        run(cmd, stdin, limits, self.cancel.as_deref())
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
    fn a_background_process_holding_the_output_does_not_hold_the_caller() {
        // the readers waited for the end of output, which a background process
        // that inherited the pipes never gives
        let mut s = LocalSession::default();
        let t0 = Instant::now();
        let out = s
            .exec("sleep 30 & echo started", b"", ExecLimits::default())
            .unwrap();
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        assert_eq!(
            (out.status, out.stdout.as_slice()),
            (Some(0), &b"started\n"[..])
        );
        // and the deadline holds when the command is killed but a setsid'd process holds on
        let lim = ExecLimits {
            timeout: Duration::from_millis(300),
            ..Default::default()
        };
        let t0 = Instant::now();
        let r = s.exec("setsid sleep 30 & sleep 30", b"", lim);
        assert_eq!(r.unwrap_err(), TransportError::Timeout(lim.timeout));
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        // a command that never reads a large input does not block the writer
        let big = vec![b'x'; 4 << 20];
        let t0 = Instant::now();
        let out = s
            .exec(
                "exec 3<&0; sleep 30 0<&3 >/dev/null 2>&1 & exit 4",
                &big,
                ExecLimits::default(),
            )
            .unwrap();
        assert_eq!(out.status, Some(4));
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
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
