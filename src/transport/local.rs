//! The local transport: runs commands with `sh -c` on this machine, as the SSH transport runs
//! them on a remote host, so that auditing this machine takes the same code path.

use super::gate::Handshake;
use super::{ExecLimits, ExecOutput, Session, TransportError};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::time::Instant;

pub struct LocalSession;

fn read_bounded(mut r: impl Read, max: usize) -> (Vec<u8>, bool) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let mut truncated = false;
    loop {
        match r.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
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

impl Session for LocalSession {
    fn exec_gated(
        &mut self,
        command: &str,
        stdin: &[u8],
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
        let input = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = sin.write_all(&input);
        });
        let out = child.stdout.take().expect("piped");
        let err = child.stderr.take().expect("piped");
        let (max_out, max_err) = (limits.max_stdout, limits.max_stderr);
        let out_t = std::thread::spawn(move || read_bounded(out, max_out));
        let err_t = std::thread::spawn(move || read_bounded(err, max_err));
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) if start.elapsed() >= limits.timeout => {
                    // kill the whole process group: the command and anything it started
                    let pgid = child.id() as i32;
                    if pgid > 1 {
                        // SAFETY: kill(2) with a negative pid signals exactly that process group,
                        // which process_group(0) made the child's own.
                        unsafe { libc::kill(-pgid, libc::SIGKILL) };
                    }
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(TransportError::Timeout(limits.timeout));
                }
                Ok(None) => std::thread::sleep(std::time::Duration::from_millis(5)),
                Err(e) => return Err(TransportError::Failed(format!("waiting for command: {e}"))),
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn runs_with_stdin_and_bounds_output() {
        let mut s = LocalSession;
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
        let mut s = LocalSession;
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
}
