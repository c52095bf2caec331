//! Health checks after a restart: tcp, http, command, systemd and rescan, each with an initial
//! delay, attempts every `interval`, a per-attempt timeout and `retries` more attempts.
//!
//! tcp and http connect from this machine to the host's address (or the check's `address`),
//! or, for a host behind a jump host, from the host itself through its session; command and
//! systemd run over the host's session; rescan runs the scanner over a *new*
//! session, which also proves that SSH still works after sshd was restarted.

use super::scripts::{self, UnitState};
use super::spec::{Check, CheckType};
use crate::transport::{local, ExecLimits, Session, Stream};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What a check may use on the host.
pub trait Probe {
    /// Runs a command on the host (with become).
    fn run(&mut self, command: &str, timeout: Duration) -> Result<(Option<i32>, String), String>;
    /// Services the scanner still finds stale (over a new session).
    fn rescan(&mut self) -> Result<Vec<String>, String>;
    /// The address tcp and http checks connect to by default (the host's).
    fn address(&self) -> String;
    /// A TCP connection for a tcp or http check, with every read and write bounded.
    fn connect(
        &mut self,
        addr: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<Box<dyn Stream + '_>, String>;
}

/// A session-backed probe; `rescan` is given by the caller.
pub struct SessionProbe<'a> {
    pub session: &'a mut dyn Session,
    pub address: String,
    /// tcp and http checks connect from the host itself, through its session: for a host
    /// behind a jump host, whose address this machine cannot reach, or might reach on the
    /// wrong network. Otherwise they connect from this machine.
    pub from_host: bool,
    pub rescan: &'a mut dyn FnMut() -> Result<Vec<String>, String>,
}

impl Probe for SessionProbe<'_> {
    fn run(&mut self, command: &str, timeout: Duration) -> Result<(Option<i32>, String), String> {
        let limits = ExecLimits {
            timeout,
            max_stdout: 1 << 20,
            max_stderr: 64 << 10,
        };
        let out = self
            .session
            .exec(command, b"", limits)
            .map_err(|e| e.to_string())?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status != Some(0) {
            text.push_str(String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok((out.status, text))
    }
    fn rescan(&mut self) -> Result<Vec<String>, String> {
        (self.rescan)()
    }
    fn address(&self) -> String {
        self.address.clone()
    }
    fn connect(
        &mut self,
        addr: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<Box<dyn Stream + '_>, String> {
        if self.from_host {
            self.session
                .connect_tcp(addr, port, timeout)
                .map_err(|e| e.to_string())
        } else {
            Ok(Box::new(local::tcp_connect(addr, port, timeout)?))
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

/// One HTTP/1.1 GET on `s` (plain HTTP; use a command check with curl for TLS). Returns status,
/// body.
/// The whole exchange must end within `timeout` (each read had it, so a server
/// dripping a byte at a time held the check for hours), and it ends as soon as the headers and
/// a `Content-Length` body are in (a keep-alive server that ignores `Connection: close` does
/// not fail a good answer).
fn http_get(
    s: &mut dyn Stream,
    addr: &str,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let deadline = std::time::Instant::now() + timeout;
    let host = if addr.contains(':') {
        format!("[{addr}]")
    } else {
        addr.to_string()
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: fleetrestart\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    loop {
        if std::time::Instant::now() >= deadline {
            return Err(format!(
                "no whole answer within {:.1} s",
                timeout.as_secs_f64()
            ));
        }
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
        if buf.len() >= 256 << 10 || answer_complete(&buf) {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| "not an HTTP response".to_string())?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    Ok((status, body))
}

/// Headers in, and as many body bytes as `Content-Length` says (when it says).
fn answer_complete(buf: &[u8]) -> bool {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    head.lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .is_some_and(|n| buf.len() >= end + 4 + n)
}

/// One attempt of a check; a systemd check's passing look (what a second look must match).
fn attempt(
    check: &Check,
    probe: &mut dyn Probe,
    units: &BTreeMap<String, UnitState>,
    services: &[String],
) -> Result<Option<BTreeMap<String, UnitState>>, String> {
    if check.kind == CheckType::Systemd {
        return systemd_look(check, probe, units).map(Some);
    }
    attempt_other(check, probe, services).map(|()| None)
}

/// One look of the systemd check: every unit active, with a new invocation.
fn systemd_look(
    check: &Check,
    probe: &mut dyn Probe,
    units: &BTreeMap<String, UnitState>,
) -> Result<BTreeMap<String, UnitState>, String> {
    let names: Vec<&str> = units.keys().map(String::as_str).collect();
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    let (status, out) = probe.run(&scripts::show_script(&names)?, secs(check.timeout))?;
    if status != Some(0) {
        return Err(format!("systemctl show failed: {}", out.trim()));
    }
    let now = scripts::parse_show(&out);
    for (u, before) in units {
        let Some(st) = now.get(u) else {
            return Err(format!("{u}: not reported by systemctl"));
        };
        if st.active != "active" {
            let why = if scripts::is_down(st) {
                format!(", {}", scripts::cause(st))
            } else {
                String::new()
            };
            return Err(format!("{u} is {}{why}", st.active));
        }
        if !scripts::restarted(before, st) {
            return Err(format!(
                "{u} was not restarted (same invocation and main PID)"
            ));
        }
    }
    Ok(now)
}

/// Two looks that agree: each unit with the same invocation and main PID.
fn same_look(a: &BTreeMap<String, UnitState>, b: &BTreeMap<String, UnitState>) -> bool {
    a.len() == b.len()
        && a.iter().all(|(u, x)| {
            b.get(u)
                .is_some_and(|y| x.invocation == y.invocation && x.main_pid == y.main_pid)
        })
}

/// One attempt of a check other than systemd.
fn attempt_other(check: &Check, probe: &mut dyn Probe, services: &[String]) -> Result<(), String> {
    let timeout = secs(check.timeout);
    let addr = check.address.clone().unwrap_or_else(|| probe.address());
    match check.kind {
        CheckType::Tcp => probe
            .connect(&addr, check.port.unwrap_or(0), timeout)
            .map(|_| ()),
        CheckType::Http => {
            let port = check.port.unwrap_or(0);
            let mut s = probe.connect(&addr, port, timeout)?;
            let (status, body) = http_get(s.as_mut(), &addr, port, &check.path, timeout)?;
            if !check.status.contains(&status) {
                return Err(format!(
                    "http status {status}, expected one of {:?}",
                    check.status
                ));
            }
            match &check.body {
                Some(re) if !re.is_match(&body) => {
                    Err(format!("http body does not match /{}/", re.as_str()))
                }
                _ => Ok(()),
            }
        }
        CheckType::Command => {
            let cmd = check.command.as_deref().unwrap_or("false");
            let (status, out) = probe.run(cmd, timeout)?;
            if status != Some(0) {
                return Err(format!("exit status {status:?}: {}", out.trim()));
            }
            match &check.body {
                Some(re) if !re.is_match(&out) => {
                    Err(format!("output does not match /{}/", re.as_str()))
                }
                _ => Ok(()),
            }
        }
        CheckType::Systemd => unreachable!("systemd_look"),
        CheckType::Rescan => {
            let stale = probe.rescan()?;
            let left: Vec<&String> = services.iter().filter(|s| stale.contains(s)).collect();
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "still stale after the restart: {}",
                    left.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                ))
            }
        }
    }
}

/// Runs a check to its end: initial delay, then up to `1 + retries` attempts `interval` apart.
/// `abort` cuts the waiting short (the check then fails).
pub fn run(
    check: &Check,
    probe: &mut dyn Probe,
    units: &BTreeMap<String, UnitState>,
    services: &[String],
    abort: &AtomicBool,
) -> Result<u32, String> {
    let sleep = |d: Duration| -> bool {
        let end = std::time::Instant::now() + d;
        while std::time::Instant::now() < end {
            if abort.load(Ordering::SeqCst) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50).min(end - std::time::Instant::now()));
        }
        true
    };
    if !sleep(secs(check.initial_delay)) {
        return Err("aborted".into());
    }
    let mut last = String::new();
    // a systemd check passes on two looks in a row that agree (a daemon that dies a moment
    // after one good look is not healthy): its last attempt may take one more look
    let mut good: Option<BTreeMap<String, UnitState>> = None;
    let mut n = 0;
    while n <= check.retries || good.is_some() {
        if n > 0 && !sleep(secs(check.interval)) {
            return Err("aborted".into());
        }
        n += 1;
        match attempt(check, probe, units, services) {
            Ok(None) => return Ok(n),
            Ok(Some(look)) if good.as_ref().is_some_and(|g| same_look(g, &look)) => return Ok(n),
            Ok(Some(_)) if n > check.retries + 1 => {
                last = "the units changed between two looks (restarted on their own?)".into();
                break;
            }
            Ok(Some(look)) => good = Some(look),
            Err(e) => {
                good = None;
                last = e;
            }
        }
    }
    Err(format!(
        "{} failed after {n} attempt(s): {last}",
        name(check.kind),
    ))
}

fn name(k: CheckType) -> &'static str {
    match k {
        CheckType::Tcp => "tcp check",
        CheckType::Http => "http check",
        CheckType::Command => "command check",
        CheckType::Systemd => "systemd check",
        CheckType::Rescan => "rescan",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    struct Fake {
        show: String,
        stale: Vec<String>,
        calls: usize,
    }

    impl Fake {
        /// A probe with no unit state and nothing stale.
        fn idle() -> Fake {
            Fake {
                show: String::new(),
                stale: vec![],
                calls: 0,
            }
        }
    }

    impl Probe for Fake {
        fn run(&mut self, cmd: &str, _: Duration) -> Result<(Option<i32>, String), String> {
            self.calls += 1;
            if cmd.starts_with("systemctl show") {
                return Ok((Some(0), self.show.clone()));
            }
            Ok((Some(if cmd == "true" { 0 } else { 1 }), "out".into()))
        }
        fn rescan(&mut self) -> Result<Vec<String>, String> {
            self.calls += 1;
            Ok(self.stale.clone())
        }
        fn address(&self) -> String {
            "127.0.0.1".into()
        }
        fn connect(
            &mut self,
            addr: &str,
            port: u16,
            timeout: Duration,
        ) -> Result<Box<dyn Stream + '_>, String> {
            Ok(Box::new(local::tcp_connect(addr, port, timeout)?))
        }
    }

    /// A host session whose TCP connections (from the host) answer one HTTP response.
    struct TunnelSession(Vec<(String, u16)>);

    /// A canned response; what is written is dropped.
    struct Canned(std::io::Cursor<&'static [u8]>);

    impl Read for Canned {
        fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
            self.0.read(b)
        }
    }
    impl Write for Canned {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Session for TunnelSession {
        fn exec_gated(
            &mut self,
            _: &str,
            _: crate::transport::Input<'_>,
            _: ExecLimits,
            _: Option<&crate::transport::gate::Handshake>,
        ) -> Result<crate::transport::ExecOutput, crate::transport::TransportError> {
            unreachable!("no command in this test")
        }
        fn connect_tcp(
            &mut self,
            host: &str,
            port: u16,
            _: Duration,
        ) -> Result<Box<dyn Stream + '_>, crate::transport::TransportError> {
            self.0.push((host.to_string(), port));
            Ok(Box::new(Canned(std::io::Cursor::new(
                b"HTTP/1.1 200 OK\r\n\r\nall ok",
            ))))
        }
    }

    #[test]
    fn checks_of_a_host_behind_a_jump_host_connect_from_the_host() {
        // they connected from this machine to the inner address, which fails for
        // no reason, or reaches another machine with the same private address
        let no = AtomicBool::new(false);
        // a port nothing listens on here: only a connection from the host can pass
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut rescan = || Ok(vec![]);
        let mut session = TunnelSession(Vec::new());
        for (from_host, ok) in [(true, true), (false, false)] {
            let mut probe = SessionProbe {
                session: &mut session,
                address: "127.0.0.1".into(),
                from_host,
                rescan: &mut rescan,
            };
            for c in [
                format!("{{type: http, port: {port}, body: 'ok$', retries: 0, timeout: 1}}"),
                format!("{{type: tcp, port: {port}, retries: 0, timeout: 1}}"),
            ] {
                let r = run(&check(&c), &mut probe, &BTreeMap::new(), &[], &no);
                assert_eq!(r.is_ok(), ok, "from_host {from_host}: {c}: {r:?}");
            }
        }
        assert_eq!(
            session.0,
            [
                ("127.0.0.1".to_string(), port),
                ("127.0.0.1".to_string(), port)
            ]
        );
    }

    fn check(yaml: &str) -> Check {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn retries_then_fails() {
        let no = AtomicBool::new(false);
        let mut f = Fake::idle();
        let c = check("{type: command, command: 'false', retries: 2, interval: 0}");
        let e = run(&c, &mut f, &BTreeMap::new(), &[], &no).unwrap_err();
        assert!(e.contains("after 3 attempt"), "{e}");
        assert_eq!(f.calls, 3);
        let c = check("{type: command, command: 'true', body: '^out$'}");
        assert_eq!(run(&c, &mut f, &BTreeMap::new(), &[], &no), Ok(1));
        let c = check("{type: rescan, retries: 0}");
        f.stale = vec!["cron.service".into()];
        assert!(
            run(&c, &mut f, &BTreeMap::new(), &["cron.service".into()], &no)
                .unwrap_err()
                .contains("still stale")
        );
        assert!(run(&c, &mut f, &BTreeMap::new(), &["ssh.service".into()], &no).is_ok());
        let yes = AtomicBool::new(true);
        let c = check("{type: command, command: 'true', initial_delay: 5}");
        assert_eq!(
            run(&c, &mut f, &BTreeMap::new(), &[], &yes),
            Err("aborted".into())
        );
    }

    #[test]
    fn systemd_needs_a_new_invocation() {
        let no = AtomicBool::new(false);
        let before: BTreeMap<String, UnitState> = [(
            "cron.service".to_string(),
            UnitState {
                invocation: "a".into(),
                active: "active".into(),
                main_pid: 1,
                active_since: 1,
                ..Default::default()
            },
        )]
        .into();
        let c = check("{type: systemd, retries: 0}");
        let mut f = Fake {
            show: "Id=cron.service\nInvocationID=a\nActiveState=active\nMainPID=1\n".into(),
            stale: vec![],
            calls: 0,
        };
        assert!(run(&c, &mut f, &before, &[], &no)
            .unwrap_err()
            .contains("not restarted"));
        f.show = "Id=cron.service\nInvocationID=b\nActiveState=failed\nMainPID=0\n".into();
        assert!(run(&c, &mut f, &before, &[], &no)
            .unwrap_err()
            .contains("is failed"));
        f.show = "Id=cron.service\nInvocationID=b\nActiveState=active\nMainPID=9\n".into();
        // two looks that agree
        assert_eq!(run(&c, &mut f, &before, &[], &no), Ok(2));
    }

    /// A probe whose `systemctl show` answers change from one call to the next.
    struct Shows(Vec<&'static str>);

    impl Probe for Shows {
        fn run(&mut self, _: &str, _: Duration) -> Result<(Option<i32>, String), String> {
            let s = if self.0.len() > 1 {
                self.0.remove(0)
            } else {
                self.0[0]
            };
            Ok((Some(0), s.to_string()))
        }
        fn rescan(&mut self) -> Result<Vec<String>, String> {
            Ok(vec![])
        }
        fn address(&self) -> String {
            "127.0.0.1".into()
        }
        fn connect(
            &mut self,
            _: &str,
            _: u16,
            _: Duration,
        ) -> Result<Box<dyn Stream + '_>, String> {
            Err("no".into())
        }
    }

    #[test]
    fn systemd_passes_only_on_a_state_that_holds() {
        let no = AtomicBool::new(false);
        let before: BTreeMap<String, UnitState> = [(
            "cron.service".to_string(),
            UnitState {
                invocation: "a".into(),
                active: "active".into(),
                main_pid: 1,
                ..Default::default()
            },
        )]
        .into();
        let c = check("{type: systemd, retries: 1, interval: 0}");
        let up = "Id=cron.service\nInvocationID=b\nActiveState=active\nMainPID=9\n";
        let dead = "Id=cron.service\nInvocationID=b\nActiveState=inactive\nResult=success\nExecMainCode=2\nExecMainStatus=13\nMainPID=0\n";
        // one good look, then dead: the first good look no longer passes the check
        let e = run(&c, &mut Shows(vec![up, dead]), &before, &[], &no).unwrap_err();
        assert!(
            e.contains("inactive, main process killed by SIGPIPE"),
            "{e}"
        );
        // restarted on its own between looks (a new invocation each time): never stable
        let up2 = "Id=cron.service\nInvocationID=c\nActiveState=active\nMainPID=10\n";
        let up3 = "Id=cron.service\nInvocationID=d\nActiveState=active\nMainPID=11\n";
        let e = run(&c, &mut Shows(vec![up, up2, up3]), &before, &[], &no).unwrap_err();
        assert!(e.contains("changed between two looks"), "{e}");
        // a late first good look gets its confirming look
        assert_eq!(
            run(&c, &mut Shows(vec![dead, up, up]), &before, &[], &no),
            Ok(3)
        );
    }

    #[test]
    fn an_http_answer_ends_at_its_length_and_a_slow_drip_at_the_timeout() {
        // the timeout was per read (a server dripping bytes held the check), and a
        // keep-alive server that ignored `Connection: close` failed a good answer
        let no = AtomicBool::new(false);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let mut held = Vec::new();
            for (i, s) in l.incoming().take(2).enumerate() {
                let mut s = s.unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                if i == 0 {
                    // a whole answer, then the connection stays open
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nall ok");
                    held.push(s);
                } else {
                    // one byte every 200 ms, for ever (until the client leaves)
                    for b in b"HTTP/1.1 200 OK\r\n\r\n".iter().cycle() {
                        std::thread::sleep(Duration::from_millis(200));
                        if s.write_all(&[*b]).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let mut f = Fake::idle();
        let c = check(&format!(
            "{{type: http, port: {port}, retries: 0, timeout: 5}}"
        ));
        assert_eq!(run(&c, &mut f, &BTreeMap::new(), &[], &no), Ok(1));
        let c = check(&format!(
            "{{type: http, port: {port}, retries: 0, timeout: 1}}"
        ));
        let e = run(&c, &mut f, &BTreeMap::new(), &[], &no).unwrap_err();
        assert!(e.contains("no whole answer within 1.0 s"), "{e}");
        server.join().unwrap();
    }

    #[test]
    fn tcp_and_http_against_a_real_listener() {
        let no = AtomicBool::new(false);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            for (i, s) in l.incoming().take(3).enumerate() {
                let mut s = s.unwrap();
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let resp = if i == 0 {
                    "HTTP/1.1 503 Busy\r\n\r\nno"
                } else {
                    "HTTP/1.1 200 OK\r\n\r\nall ok"
                };
                let _ = s.write_all(resp.as_bytes());
            }
        });
        let mut f = Fake::idle();
        let c = check(&format!(
            "{{type: http, port: {port}, body: 'ok$', interval: 0, retries: 1}}"
        ));
        assert_eq!(
            run(&c, &mut f, &BTreeMap::new(), &[], &no),
            Ok(2),
            "503 then 200"
        );
        let c = check(&format!("{{type: tcp, port: {port}}}"));
        assert_eq!(run(&c, &mut f, &BTreeMap::new(), &[], &no), Ok(1));
        server.join().unwrap();
        // nothing listens there any more
        let c = check(&format!(
            "{{type: tcp, port: {port}, retries: 0, timeout: 1}}"
        ));
        assert!(run(&c, &mut f, &BTreeMap::new(), &[], &no).is_err());
    }
}
