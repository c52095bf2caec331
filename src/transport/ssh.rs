//! The SSH transport (libssh2 through the ssh2 crate): one authenticated session per host,
//! reused for every command on it.
//!
//! Connect: TCP with a timeout (behind jump hosts: a direct-tcpip channel of the one connection
//! shared by every host behind them, see
//! [`super::jump`]), SSH handshake bounded by the same connect deadline, host key checked
//! ([`super::known_hosts`]), then ssh-agent keys and key files (an encrypted key's passphrase is
//! asked once per run on the terminal). Commands run in non-blocking mode in a poll loop, so a
//! deadline, bounded output, keepalives and the sudo handshake ([`super::gate`]) all hold.

use super::exchange::Exchange;
use super::gate::Handshake;
use super::input::Input;
use super::jump;
use super::known_hosts;
use super::libssh::{is_code, ms, poll_events, LIBSSH2_ERROR_EAGAIN, LIBSSH2_ERROR_TIMEOUT};
use super::{io_fail, ExecLimits, ExecOutput, Session, TransportError};
use crate::secret::Secret;
use crate::transport::target::{Hop, HostKeyPolicy, SshTarget};
use std::collections::HashMap;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Shared by every connection of a run.
pub struct SshContext {
    pub connect_timeout: Duration,
    pub keepalive: Duration,
    pub use_agent: bool,
    /// May ask key passphrases on the terminal.
    pub can_prompt: bool,
    passphrases: Mutex<HashMap<PathBuf, Option<Secret>>>,
    /// One shared connection per jump-host chain (see [`jump::Mux`]).
    jumps: Mutex<HashMap<String, Arc<Mutex<JumpState>>>>,
    known_hosts: known_hosts::Cache,
    keys: super::keyfile::KeyFiles,
}

impl SshContext {
    pub fn new(connect_timeout: Duration, can_prompt: bool) -> Self {
        SshContext {
            connect_timeout,
            keepalive: Duration::from_secs(15),
            use_agent: std::env::var_os("SSH_AUTH_SOCK").is_some(),
            can_prompt,
            passphrases: Mutex::new(HashMap::new()),
            jumps: Mutex::new(HashMap::new()),
            known_hosts: known_hosts::Cache::default(),
            keys: Default::default(),
        }
    }

    /// The passphrase of an encrypted key: asked once, remembered for the run.
    fn passphrase(&self, key: &Path) -> Option<Secret> {
        let mut map = self.passphrases.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = map.get(key) {
            return p.clone();
        }
        let p = if self.can_prompt {
            crate::secret::prompt_tty(&format!("Enter passphrase for key {}: ", key.display())).ok()
        } else {
            None
        };
        map.insert(key.to_path_buf(), p.clone());
        p
    }

    /// The shared connection through `chain` (outermost first) for `t`'s settings: made by
    /// the first target that needs it (the others wait for it), made again once broken. A
    /// failure to make it is remembered for [`JUMP_RETRY`], so that the hosts behind a dead
    /// bastion fail at once instead of each waiting out a connect timeout in turn. A chain has
    /// a small pool of connections ([`JUMP_POOL`]): one whose head open stalled (a target that
    /// drops packets) is passed over, and another is made while the pool has room.
    fn jump(
        &self,
        chain: &[Hop],
        t: &SshTarget,
        deadline: Instant,
    ) -> Result<Arc<jump::Mux>, ConnectError> {
        let key = format!("{chain:?} {:?} {:?}", t.known_hosts, t.host_key_policy);
        let slot = self
            .jumps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_insert_with(|| Arc::new(Mutex::new(JumpState::None)))
            .clone();
        let mut state = slot.lock().unwrap_or_else(|e| e.into_inner());
        let mut pool = match &*state {
            JumpState::Live(pool) => {
                let alive: Vec<Arc<jump::Mux>> =
                    pool.iter().filter(|m| m.alive()).cloned().collect();
                if let Some(m) = alive.iter().find(|m| !m.stalled()) {
                    return Ok(m.clone());
                }
                if !alive.is_empty() && alive.len() >= JUMP_POOL {
                    // every connection is stalled and the pool is full: the first one
                    return Ok(alive[0].clone());
                }
                alive
            }
            JumpState::Failed(e, until) if Instant::now() < *until => return Err(e.clone()),
            _ => Vec::new(),
        };
        match self.jump_connect(chain, t, deadline) {
            Ok(m) => {
                pool.push(m.clone());
                *state = JumpState::Live(pool);
                Ok(m)
            }
            // a stalled connection is still a connection
            Err(_) if !pool.is_empty() => {
                let m = pool[0].clone();
                *state = JumpState::Live(pool);
                Ok(m)
            }
            Err(e) => {
                *state = JumpState::Failed(e.clone(), Instant::now() + JUMP_RETRY);
                Err(e)
            }
        }
    }

    fn jump_connect(
        &self,
        chain: &[Hop],
        t: &SshTarget,
        deadline: Instant,
    ) -> Result<Arc<jump::Mux>, ConnectError> {
        let (hop, outer_chain) = chain.split_last().expect("a jump chain is not empty");
        let label = format!("{}@{}:{}", hop.user, hop.address, hop.port);
        let wrap = |e: ConnectError| ConnectError::Jump(label.clone(), Box::new(e));
        let (sess, outer) = if outer_chain.is_empty() {
            let sess = open_first_hop(hop, t, self, deadline).map_err(wrap)?;
            user_timeout(&sess, JUMP_DEAD_AFTER);
            (sess, None)
        } else {
            let outer = self.jump(outer_chain, t, deadline)?;
            let stream = outer.open(&hop.address, hop.port, deadline).map_err(|m| {
                wrap(ConnectError::Connect(
                    format!("{}:{}", hop.address, hop.port),
                    m,
                ))
            })?;
            let sess =
                open_hop(jump::Socket::Unix(stream), hop, t, self, deadline).map_err(wrap)?;
            (sess, Some(outer))
        };
        jump::Mux::start(sess, &label, outer).map_err(|m| {
            wrap(ConnectError::Connect(
                format!("{}:{}", hop.address, hop.port),
                m,
            ))
        })
    }
}

/// How long a failure to reach a jump host is given to every host behind it before one of
/// them tries again.
const JUMP_RETRY: Duration = Duration::from_secs(5);

/// A jump host whose TCP path stops acknowledging for this long is dead: with
/// keepalives every few seconds, the kernel notices a path that died silently (NAT timeout,
/// a failover behind the same name) in seconds instead of TCP's retransmission timeout
/// (about 15 minutes), and the connection is made again.
const JUMP_DEAD_AFTER: Duration = Duration::from_secs(15);

/// Sets TCP_USER_TIMEOUT on a session's socket (best effort).
fn user_timeout(sess: &ssh2::Session, after: Duration) {
    use std::os::fd::AsRawFd;
    let ms = after.as_millis() as libc::c_uint;
    unsafe {
        libc::setsockopt(
            sess.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_USER_TIMEOUT,
            &ms as *const libc::c_uint as *const libc::c_void,
            std::mem::size_of::<libc::c_uint>() as libc::socklen_t,
        );
    }
}

/// At most this many connections to one jump-host chain (still far below one per host).
const JUMP_POOL: usize = 4;

enum JumpState {
    None,
    Live(Vec<Arc<jump::Mux>>),
    Failed(ConnectError, Instant),
}

/// Why no session could be opened; every variant is a distinct, stated reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    Resolve(String),
    ConnectTimeout(String, Duration),
    /// On this machine's own network, and the address never answered ARP.
    NoArp(String, Duration),
    Connect(String, String),
    HandshakeTimeout(String, Duration),
    Handshake(String, String),
    HostKey(String, known_hosts::KeyProblem),
    Auth(String, String),
    Jump(String, Box<ConnectError>),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Resolve(m) => write!(f, "cannot resolve {m}"),
            ConnectError::ConnectTimeout(a, d) => write!(f, "connect to {a} timed out after {:.1} s (host down or network partitioned?)", d.as_secs_f64()),
            ConnectError::NoArp(a, d) => write!(f, "connect to {a} timed out after {:.1} s: no ARP answer on the local network (host powered off or disconnected?)", d.as_secs_f64()),
            ConnectError::Connect(a, m) => write!(f, "connect to {a}: {m}"),
            ConnectError::HandshakeTimeout(a, d) => write!(f, "SSH handshake with {a} timed out after {:.1} s (TCP connected but no SSH answer: host frozen or overloaded?)", d.as_secs_f64()),
            ConnectError::Handshake(a, m) => write!(f, "SSH handshake with {a} failed: {m}"),
            ConnectError::HostKey(a, p) => write!(f, "{a}: {p}"),
            ConnectError::Auth(a, m) => write!(f, "authentication to {a} failed: {m}"),
            ConnectError::Jump(j, e) => write!(f, "via jump host {j}: {e}"),
        }
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

fn tcp_connect(hop: &Hop, deadline: Instant) -> Result<TcpStream, ConnectError> {
    let label = format!("{}:{}", hop.address, hop.port);
    let addrs: Vec<_> = (hop.address.as_str(), hop.port)
        .to_socket_addrs()
        .map_err(|e| ConnectError::Resolve(format!("{}: {e}", hop.address)))?
        .collect();
    let mut last = ConnectError::Resolve(format!("{}: no addresses", hop.address));
    for a in addrs {
        let left = remaining(deadline);
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&a, left) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = match arp_unanswered(&a.ip()) {
                    true => ConnectError::NoArp(label.clone(), left),
                    false => ConnectError::ConnectTimeout(label.clone(), left),
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::EHOSTUNREACH) => {
                last = ConnectError::Connect(
                    label.clone(),
                    format!(
                        "{e} (no ARP answer or an ICMP unreachable: host off or network down?)"
                    ),
                )
            }
            Err(e) => last = ConnectError::Connect(label.clone(), e.to_string()),
        }
    }
    Err(last)
}

/// True when the kernel's ARP table holds an unresolved entry for `ip` (an on-link neighbour
/// that never answered): tells "powered off" apart from "packets lost further away".
fn arp_unanswered(ip: &std::net::IpAddr) -> bool {
    let std::net::IpAddr::V4(v4) = ip else {
        return false;
    };
    let Ok(table) = std::fs::read_to_string("/proc/net/arp") else {
        return false;
    };
    let want = v4.to_string();
    table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() >= 3 && f[0] == want && f[2] == "0x0"
    })
}

fn authenticate(
    sess: &ssh2::Session,
    hop: &Hop,
    ctx: &SshContext,
    deadline: Instant,
) -> Result<(), String> {
    let mut tried: Vec<String> = Vec::new();
    // named key files first, the default ones after the agent's keys
    let order: [bool; 2] = if hop.keys_named {
        [false, true]
    } else {
        [true, false]
    };
    for agent_turn in order {
        let done = if agent_turn {
            ctx.use_agent && try_agent(sess, hop, deadline, &mut tried)
        } else {
            try_key_files(sess, hop, ctx, deadline, &mut tried)
        };
        if done {
            return Ok(());
        }
    }
    if tried.is_empty() {
        tried.push("no ssh-agent and no key files found".into());
    }
    Err(format!("user {}: tried {}", hop.user, tried.join(", ")))
}

/// Bounds the next libssh2 call by what is left of the connect deadline (each call would
/// otherwise get the whole budget); false when nothing is left.
fn bound(sess: &ssh2::Session, deadline: Instant) -> bool {
    let left = remaining(deadline);
    sess.set_timeout(ms(left));
    !left.is_zero()
}

/// Each key of the ssh-agent; true once authenticated.
fn try_agent(sess: &ssh2::Session, hop: &Hop, deadline: Instant, tried: &mut Vec<String>) -> bool {
    match sess.agent() {
        Ok(mut agent) => {
            if agent.connect().is_ok() && agent.list_identities().is_ok() {
                let ids = agent.identities().unwrap_or_default();
                for id in &ids {
                    if !bound(sess, deadline) {
                        break;
                    }
                    if agent.userauth(&hop.user, id).is_ok() && sess.authenticated() {
                        let _ = agent.disconnect();
                        return true;
                    }
                }
                tried.push(format!("ssh-agent ({} keys)", ids.len()));
                let _ = agent.disconnect();
            } else {
                tried.push("ssh-agent (not reachable)".into());
            }
        }
        Err(e) => tried.push(format!("ssh-agent ({})", e.message())),
    }
    false
}

/// Each key file that exists (an encrypted one's passphrase asked once); true once
/// authenticated.
fn try_key_files(
    sess: &ssh2::Session,
    hop: &Hop,
    ctx: &SshContext,
    deadline: Instant,
    tried: &mut Vec<String>,
) -> bool {
    for key in &hop.identity_files {
        if !key.is_file() {
            continue;
        }
        if !bound(sess, deadline) {
            break;
        }
        let file = match ctx.keys.get(key) {
            Ok(f) => f,
            Err(e) => {
                tried.push(format!("{} ({e})", key.display()));
                continue;
            }
        };
        let pass = match file.encrypted {
            true => match ctx.passphrase(key) {
                Some(p) => Some(p),
                None => {
                    tried.push(format!(
                        "{} (encrypted, and no terminal to ask its passphrase: load it into ssh-agent)",
                        key.display()
                    ));
                    continue;
                }
            },
            false => None,
        };
        // from memory, with its public key: libssh2 would decode the private key once more
        // to derive it (super::keyfile)
        match sess.userauth_pubkey_memory(
            &hop.user,
            file.public.as_deref(),
            file.private.expose(),
            pass.as_ref().map(|p| p.expose()),
        ) {
            Ok(()) if sess.authenticated() => return true,
            Ok(()) => tried.push(format!("{} (partial success only)", key.display())),
            Err(e) => tried.push(format!("{} ({})", key.display(), e.message())),
        }
    }
    false
}

/// TCP (or tunnel) → handshake → host key → auth, for one hop.
fn open_hop(
    stream: jump::Socket,
    hop: &Hop,
    t: &SshTarget,
    ctx: &SshContext,
    deadline: Instant,
) -> Result<ssh2::Session, ConnectError> {
    let label = format!("{}:{}", hop.address, hop.port);
    let mut sess = ssh2::Session::new()
        .map_err(|e| ConnectError::Handshake(label.clone(), e.message().to_string()))?;
    let left = remaining(deadline);
    sess.set_timeout(ms(left));
    let entries = match t.host_key_policy {
        HostKeyPolicy::Off => Arc::new(super::hostfile::Known::new(Vec::new())),
        _ => ctx
            .known_hosts
            .load(&t.known_hosts)
            .map_err(|p| ConnectError::HostKey(label.clone(), p))?,
    };
    known_hosts::steer(&sess, &entries, &hop.address, hop.port)
        .map_err(|m| ConnectError::Handshake(label.clone(), m))?;
    match stream {
        jump::Socket::Tcp(s) => sess.set_tcp_stream(s),
        jump::Socket::Unix(s) => sess.set_tcp_stream(s),
    }
    sess.handshake().map_err(|e| {
        if is_code(&e, LIBSSH2_ERROR_TIMEOUT) || remaining(deadline).is_zero() {
            ConnectError::HandshakeTimeout(label.clone(), left)
        } else {
            ConnectError::Handshake(label.clone(), e.message().to_string())
        }
    })?;
    known_hosts::check(
        sess.host_key().map(|(k, _)| k),
        &hop.address,
        hop.port,
        &entries,
        &t.known_hosts,
        t.host_key_policy,
    )
    .map_err(|p| ConnectError::HostKey(label.clone(), p))?;
    sess.set_timeout(ms(remaining(deadline)));
    authenticate(&sess, hop, ctx, deadline).map_err(|m| {
        if remaining(deadline).is_zero() {
            ConnectError::HandshakeTimeout(label.clone(), left)
        } else {
            ConnectError::Auth(label.clone(), m)
        }
    })?;
    sess.set_keepalive(false, ctx.keepalive.as_secs().max(1) as u32);
    Ok(sess)
}

/// First hop with retries: sshd drops connections beyond MaxStartups with a reset or no
/// banner; try again after a jittered pause while the deadline allows.
fn open_first_hop(
    hop: &Hop,
    t: &SshTarget,
    ctx: &SshContext,
    deadline: Instant,
) -> Result<ssh2::Session, ConnectError> {
    let mut attempt = 0u32;
    loop {
        let r = tcp_connect(hop, deadline)
            .and_then(|s| open_hop(jump::Socket::Tcp(s), hop, t, ctx, deadline));
        match r {
            Err(ConnectError::Handshake(_, ref m))
                if attempt < 3
                    && remaining(deadline) > Duration::from_millis(500)
                    && (m.contains("banner") || m.contains("reset") || m.contains("closed")) =>
            {
                attempt += 1;
                let jitter =
                    u64::from_str_radix(&crate::secret::random_hex()[..4], 16).unwrap_or(0) % 300;
                std::thread::sleep(Duration::from_millis(100 * u64::from(attempt) + jitter));
            }
            r => return r,
        }
    }
}

/// An open, authenticated session on a host.
pub struct SshSession {
    sess: ssh2::Session,
    /// The jump hosts' shared connection this session runs through.
    via: Option<Arc<jump::Mux>>,
    /// No command runs past this instant (the whole-host time limit).
    host_deadline: Option<Instant>,
    /// Raised: the running command is stopped (see [`Session::set_cancel`]).
    cancel: Option<Arc<AtomicBool>>,
}

/// Opens a session on `t` (through its jump hosts' shared connections), within the connect
/// timeout.
pub fn connect(t: &SshTarget, ctx: &SshContext) -> Result<SshSession, ConnectError> {
    let deadline = Instant::now() + ctx.connect_timeout;
    if t.jumps.is_empty() {
        return Ok(SshSession::new(
            open_first_hop(&t.hop, t, ctx, deadline)?,
            None,
        ));
    }
    let label = format!("{}:{}", t.hop.address, t.hop.port);
    let mut tries = 0;
    let mut busy = 0;
    let (stream, via) = loop {
        let mux = ctx.jump(&t.jumps, t, deadline)?;
        match mux.open(&t.hop.address, t.hop.port, deadline) {
            Ok(s) => break (s, mux),
            // the shared connection broke under us: once more, on a new one
            Err(_) if !mux.alive() && tries == 0 => tries += 1,
            // handed back by a stalled connection: another one of the pool
            Err(m) if m == jump::BUSY && busy < 2 * JUMP_POOL && Instant::now() < deadline => {
                busy += 1;
            }
            Err(m) => return Err(ConnectError::Connect(label, m)),
        }
    };
    let sess = open_hop(jump::Socket::Unix(stream), &t.hop, t, ctx, deadline)?;
    Ok(SshSession::new(sess, Some(via)))
}

impl SshSession {
    fn new(sess: ssh2::Session, via: Option<Arc<jump::Mux>>) -> SshSession {
        SshSession {
            sess,
            via,
            host_deadline: None,
            cancel: None,
        }
    }

    pub fn set_host_deadline(&mut self, d: Instant) {
        self.host_deadline = Some(d);
    }

    fn wait(&self, max: Duration) {
        let mut pfd = libc::pollfd {
            fd: self.sess.as_raw_fd(),
            events: poll_events(&self.sess),
            revents: 0,
        };
        unsafe { libc::poll(&mut pfd, 1, max.as_millis().clamp(1, 100) as i32) };
    }
}

impl Drop for SshSession {
    fn drop(&mut self) {
        self.sess.set_blocking(true);
        self.sess.set_timeout(1000);
        let _ = self.sess.disconnect(None, "fleetrestart done", None);
    }
}

impl Session for SshSession {
    fn connect_tcp(
        &mut self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<Box<dyn super::Stream + '_>, TransportError> {
        // blocking, every libssh2 call bounded by the timeout (exec_gated sets its own mode)
        self.sess.set_blocking(true);
        self.sess.set_timeout(ms(timeout));
        let ch = self
            .sess
            .channel_direct_tcpip(host, port, None)
            .map_err(|e| {
                io_fail(
                    &format!("connecting to {host}:{port} from the host"),
                    e.message(),
                )
            })?;
        Ok(Box::new(ch))
    }

    fn set_cancel(&mut self, flag: Option<Arc<AtomicBool>>) {
        self.cancel = flag;
    }

    fn exec_gated(
        &mut self,
        command: &str,
        stdin: Input<'_>,
        limits: ExecLimits,
        handshake: Option<&Handshake>,
    ) -> Result<ExecOutput, TransportError> {
        self.exec_once(command, stdin, limits, handshake)
            .map_err(|e| self.explained(e))
    }
}

impl SshSession {
    /// `e` with the reason the jump hosts' connection it ran through ended or went silent, if it
    /// did: "the jump host … stopped answering" instead of a bare timeout or lost connection
    ///.
    fn explained(&self, e: TransportError) -> TransportError {
        let Some(why) = self.via.as_ref().and_then(|m| m.silence()) else {
            return e;
        };
        match e {
            TransportError::NotStarted(m) => TransportError::NotStarted(format!("{m} ({why})")),
            TransportError::Failed(m) => TransportError::Failed(format!("{m} ({why})")),
            // the command may still run on the host: not the timeout that killed it
            TransportError::Timeout(d) => {
                TransportError::Failed(format!("no answer within {:.1} s ({why})", d.as_secs_f64()))
            }
            other => other,
        }
    }

    fn exec_once(
        &mut self,
        command: &str,
        stdin: Input<'_>,
        limits: ExecLimits,
        handshake: Option<&Handshake>,
    ) -> Result<ExecOutput, TransportError> {
        let mut timeout = limits.timeout;
        if let Some(hd) = self.host_deadline {
            timeout = timeout.min(remaining(hd));
        }
        let deadline = Instant::now() + timeout;
        let mut ch = self.start(command, deadline, timeout)?;
        self.sess.set_blocking(false);
        let mut x = Exchange::new(stdin, limits, handshake);
        let result = self.pump(&mut ch, &mut x, deadline, timeout);
        // every way out of the loop passes here: the password is wiped
        x.password.fill(0);
        result?;
        if let Err(e) = self.wait_exit(&mut ch, deadline, timeout) {
            let _ = ch.close();
            return Err(e);
        }
        let signalled = ch.exit_signal().ok().and_then(|s| s.exit_signal).is_some();
        let status = if signalled {
            None
        } else {
            ch.exit_status().ok()
        };
        if x.gate.as_ref().is_some_and(|g| !g.is_open()) && status == Some(0) {
            return Err(TransportError::Become(
                "sudo did not run the command".into(),
            ));
        }
        Ok(ExecOutput {
            status,
            stdout: x.out,
            stderr: x.err,
            truncated: x.truncated,
        })
    }

    /// A channel running `command` (blocking, bounded by the deadline).
    fn start(
        &mut self,
        command: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<ssh2::Channel, TransportError> {
        let timed_out = || TransportError::Timeout(timeout);
        self.sess.set_blocking(true);
        self.sess.set_timeout(ms(remaining(deadline)));
        let t0 = Instant::now();
        // no channel: the command was never sent
        let mut ch = self.sess.channel_session().map_err(|e| {
            // (libssh2 also gives up after its keepalive interval: the time is measured)
            TransportError::NotStarted(if is_code(&e, LIBSSH2_ERROR_TIMEOUT) {
                format!(
                    "opening a channel: no answer after {:.1} s",
                    t0.elapsed().as_secs_f64()
                )
            } else {
                format!("opening a channel: {}", e.message())
            })
        })?;
        ch.exec(command).map_err(|e| {
            if is_code(&e, LIBSSH2_ERROR_TIMEOUT) {
                timed_out()
            } else {
                io_fail("starting the command", e.message())
            }
        })?;
        Ok(ch)
    }

    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::SeqCst))
    }

    /// The non-blocking exchange until the command closes its output. Every turn, busy or idle,
    /// checks the deadline, the cancel flag and the keepalive: a host that streams output as
    /// fast as it is read still meets them.
    fn pump(
        &mut self,
        ch: &mut ssh2::Channel,
        x: &mut Exchange,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), TransportError> {
        let mut buf = vec![0u8; 64 << 10];
        let mut last_alive = Instant::now();
        let stop = |ch: &mut ssh2::Channel, e: TransportError| {
            let _ = ch.close();
            Err(e)
        };
        loop {
            if Instant::now() >= deadline {
                return stop(ch, TransportError::Timeout(timeout));
            }
            if self.cancelled() {
                return stop(ch, TransportError::Cancelled);
            }
            if last_alive.elapsed() >= Duration::from_secs(10) {
                let _ = self.sess.keepalive_send();
                last_alive = Instant::now();
            }
            let sent = x.send(ch)?;
            let (received, event) = match x.receive(ch, &mut buf) {
                Ok(r) => r,
                Err(e) => return stop(ch, e),
            };
            if let Err(e) = x.on_gate(event) {
                return stop(ch, e);
            }
            if ch.eof() {
                return Ok(());
            }
            if !sent && !received {
                self.wait(remaining(deadline));
            }
        }
    }

    /// EOF only means the command closed its output; its exit status comes with the close.
    /// libssh2 reports status 0 when none arrived, so a command still running at the deadline,
    /// or a connection lost before the close, is an error, never a success.
    fn wait_exit(
        &mut self,
        ch: &mut ssh2::Channel,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), TransportError> {
        loop {
            match ch.wait_close() {
                Ok(()) => return Ok(()),
                Err(e) if is_code(&e, LIBSSH2_ERROR_EAGAIN) => {
                    if Instant::now() >= deadline {
                        return Err(TransportError::Timeout(timeout));
                    }
                    if self.cancelled() {
                        return Err(TransportError::Cancelled);
                    }
                    self.wait(remaining(deadline))
                }
                Err(e) => {
                    return Err(TransportError::Failed(format!(
                        "connection lost before the command's exit status arrived: {e}"
                    )))
                }
            }
        }
    }
}
