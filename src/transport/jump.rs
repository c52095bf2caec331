//! ProxyJump: one SSH connection to a jump host, shared by every target behind it.
//!
//! A [`Mux`] owns the jump host's session on its own thread, in non-blocking mode. Each target
//! asks it for a stream to `host:port`: the thread opens a direct-tcpip channel on the shared
//! connection and pumps it to one end of a socketpair, whose other end the target's own SSH
//! session runs over (libssh2 needs a file descriptor). Hundreds of targets behind one bastion
//! are then one TCP connection, one handshake and one login there (sshd's MaxStartups and the
//! bastion's CPU would not bear one each), and a second hop is a `Mux` whose connection runs
//! over a channel of the first.
//!
//! Opens are served in order, one at a time: libssh2 keeps one channel open in progress per
//! session, so that is the cap on concurrent opens; each request waits at most until its
//! deadline. sshd answers a `direct-tcpip` open only once its own connect to the target is
//! done: for a target whose packets are dropped, minutes. So a connection whose head open has
//! been in progress for [`STALL`] says it is stalled ([`Mux::stalled`]): the requests queued
//! behind it are handed back ([`BUSY`]) and go to another connection of the same chain's small
//! pool (`SshContext::jump`), and new ones go there directly. The thread ends, and
//! says goodbye to the jump host, when its last handle is dropped and every channel has closed;
//! when the connection breaks, every channel fails and the `Mux` reports itself dead, with why
//! ([`Mux::why`]), so that the next target connects again.
//!
//! A jump host that stops answering while its kernel still acknowledges (a frozen or wedged
//! sshd, a failover that keeps the TCP path) is found by its silence: keepalives
//! that ask for a reply go out every [`KEEPALIVE`], and a first hop whose socket has received
//! nothing for [`SILENT`] (TCP_INFO's `last_data_recv`) is dead. I/O.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::libssh::{is_code, poll_events, LIBSSH2_ERROR_EAGAIN};

/// libssh2: the server refused to open a channel (SSH_MSG_CHANNEL_OPEN_FAILURE).
const LIBSSH2_ERROR_CHANNEL_FAILURE: i32 = -21;

/// Bytes buffered per direction per channel before reading from that side pauses.
const MAX_BUFFERED: usize = 1 << 20;
/// Keepalive to the jump host while the connection idles (with TCP_USER_TIMEOUT on the first
/// hop's socket, a path that died silently is noticed within seconds).
const KEEPALIVE: Duration = Duration::from_secs(5);
/// A first hop that received nothing for this long, although it was sent keepalives that
/// ask for a reply, has stopped answering (three keepalives unanswered).
pub const SILENT: Duration = Duration::from_secs(15);
/// A head open in progress this long marks the connection stalled.
pub const STALL: Duration = Duration::from_secs(2);
/// The answer to a request handed back because its connection stalled: ask another one.
pub const BUSY: &str = "the jump host's connection is stalled on an earlier channel open";

/// What a session runs over.
pub enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

struct Request {
    host: String,
    port: u16,
    deadline: Instant,
    reply: SyncSender<Result<UnixStream, String>>,
}

/// A shared connection to one jump host.
pub struct Mux {
    requests: Mutex<Sender<Request>>,
    /// Written to after each request: wakes the thread's poll.
    waker: UnixStream,
    /// What the thread says of the connection.
    state: Arc<State>,
    label: String,
    /// The mux this connection runs through (a second hop keeps its first alive).
    _outer: Option<Arc<Mux>>,
}

impl Mux {
    /// Takes over `session` (authenticated to the jump host `label`) on a new thread.
    pub fn start(
        session: ssh2::Session,
        label: &str,
        outer: Option<Arc<Mux>>,
    ) -> Result<Arc<Mux>, String> {
        let (tx, rx) = mpsc::channel();
        let (waker, wakee) = UnixStream::pair().map_err(|e| e.to_string())?;
        wakee.set_nonblocking(true).map_err(|e| e.to_string())?;
        waker.set_nonblocking(true).map_err(|e| e.to_string())?;
        let state = Arc::new(State {
            silent_ms: AtomicU64::new(u64::MAX),
            ..State::default()
        });
        let (shared, name) = (state.clone(), label.to_string());
        std::thread::Builder::new()
            .name(format!("jump-{label}"))
            .spawn(move || Pump::new(session, rx, wakee, shared).run(&name))
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(Mux {
            requests: Mutex::new(tx),
            waker,
            state,
            label: label.to_string(),
            _outer: outer,
        }))
    }

    /// The connection still works (its thread has not ended).
    pub fn alive(&self) -> bool {
        !self.state.dead.load(Ordering::SeqCst)
    }

    /// Why the connection ended (`None` while it works, or when it ended because it was no
    /// longer needed): said with the error of every session that ran through it.
    pub fn why(&self) -> Option<String> {
        if self.alive() {
            return None;
        }
        let why = self
            .state
            .why
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        why.or_else(|| self._outer.as_ref().and_then(|o| o.why()))
    }

    /// Why a command through this connection got no answer: the connection ended ([`Self::why`]),
    /// or the jump host has sent nothing since a keepalive it should have answered (a command
    /// can time out before the connection is declared dead).
    pub fn silence(&self) -> Option<String> {
        if let Some(why) = self.why() {
            return Some(why);
        }
        let ms = self.state.silent_ms.load(Ordering::SeqCst);
        let quiet = Duration::from_millis(ms);
        (ms != u64::MAX && quiet >= KEEPALIVE + Duration::from_secs(2))
            .then(|| {
                format!(
                    "the jump host {} has stopped answering: nothing received from it for {} s",
                    self.label,
                    quiet.as_secs()
                )
            })
            .or_else(|| self._outer.as_ref().and_then(|o| o.silence()))
    }

    /// Its head open has been in progress for [`STALL`]: new requests should go elsewhere.
    pub fn stalled(&self) -> bool {
        self.state.stalled.load(Ordering::SeqCst)
    }

    /// A stream to `host:port` opened by the jump host, by `deadline`.
    pub fn open(&self, host: &str, port: u16, deadline: Instant) -> Result<UnixStream, String> {
        let (reply, answer) = mpsc::sync_channel(1);
        let req = Request {
            host: host.to_string(),
            port,
            deadline,
            reply,
        };
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(req)
            .map_err(|_| "the connection to the jump host is closed".to_string())?;
        let _ = (&self.waker).write(&[1]);
        // the thread answers every request, at the latest just after its deadline
        let wait = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(2);
        match answer.recv_timeout(wait) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => {
                Err("the jump host did not open a connection to it in time".into())
            }
            Err(RecvTimeoutError::Disconnected) => {
                Err("the connection to the jump host is closed".into())
            }
        }
    }
}

/// What the thread tells the handles of its connection.
#[derive(Default)]
struct State {
    /// The thread has ended (set, with `why`, before its channels close: a session that sees
    /// its channel end finds the reason).
    dead: AtomicBool,
    /// Why the connection ended, when it was not simply no longer needed.
    why: Mutex<Option<String>>,
    /// Its head open has been in progress for [`STALL`] or more.
    stalled: AtomicBool,
    /// Milliseconds since the first hop's socket last received data, as the thread last saw
    /// it (`u64::MAX`: not known, a second hop).
    silent_ms: AtomicU64,
}

/// One channel and its socket.
struct Pipe {
    ch: ssh2::Channel,
    sock: UnixStream,
    to_sock: Vec<u8>,
    to_ch: Vec<u8>,
    sock_eof: bool,
    eof_sent: bool,
}

/// The jump session's thread: serves opens and moves bytes.
struct Pump {
    js: ssh2::Session,
    requests: Receiver<Request>,
    wakee: UnixStream,
    queue: VecDeque<Request>,
    pipes: Vec<Pipe>,
    closing: Vec<(ssh2::Channel, u8)>,
    buf: Vec<u8>,
    hung_up: bool,
    /// libssh2 has the head request's open in progress (it must be finished, not dropped).
    opening: bool,
    /// Since when the head open has been in progress.
    open_since: Option<Instant>,
    state: Arc<State>,
}

fn would_block(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock
}

/// One step of one direction: what `from` has into `pending` (bounded, until its end of file),
/// and what `pending` holds into `to`. Whether anything moved; `Err` when a side failed.
fn shuttle(
    from: &mut impl Read,
    to: &mut impl Write,
    pending: &mut Vec<u8>,
    buf: &mut [u8],
    eof: &mut bool,
) -> Result<bool, ()> {
    let mut progress = false;
    if !*eof && pending.len() < MAX_BUFFERED {
        match from.read(buf) {
            Ok(0) => *eof = true,
            Ok(n) => {
                pending.extend_from_slice(&buf[..n]);
                progress = true;
            }
            Err(e) if would_block(&e) => {}
            Err(_) => return Err(()),
        }
    }
    if !pending.is_empty() {
        match to.write(pending) {
            Ok(n) => {
                pending.drain(..n);
                progress = true;
            }
            Err(e) if would_block(&e) => {}
            Err(_) => return Err(()),
        }
    }
    Ok(progress)
}

impl Pipe {
    /// Moves what can move; `Ok(true)` on progress, `Err` when the pipe is finished.
    fn step(&mut self, buf: &mut [u8]) -> Result<bool, ()> {
        // the channel's end is read from ch.eof(): a zero read does not stop its reads
        let mut ch_zero = false;
        let a = shuttle(
            &mut self.ch,
            &mut self.sock,
            &mut self.to_sock,
            buf,
            &mut ch_zero,
        )?;
        let b = shuttle(
            &mut self.sock,
            &mut self.ch,
            &mut self.to_ch,
            buf,
            &mut self.sock_eof,
        )?;
        if self.sock_eof && self.to_ch.is_empty() {
            if !self.eof_sent {
                match self.ch.send_eof() {
                    Ok(()) => self.eof_sent = true,
                    Err(e) if is_code(&e, LIBSSH2_ERROR_EAGAIN) => {}
                    Err(_) => return Err(()),
                }
            }
            // the target's session closed its end: nothing more will be read from it
            return Err(());
        }
        if self.ch.eof() && self.to_sock.is_empty() {
            return Err(());
        }
        Ok(a || b)
    }

    /// Data buffered in libssh2 for this channel (no socket I/O): polling would not see it.
    fn has_buffered(&self) -> bool {
        self.to_sock.len() < MAX_BUFFERED && self.ch.read_window().available > 0
    }
}

impl Pump {
    fn new(
        js: ssh2::Session,
        requests: Receiver<Request>,
        wakee: UnixStream,
        state: Arc<State>,
    ) -> Pump {
        js.set_blocking(false);
        Pump {
            js,
            requests,
            wakee,
            queue: VecDeque::new(),
            pipes: Vec::new(),
            closing: Vec::new(),
            buf: vec![0u8; 64 << 10],
            hung_up: false,
            opening: false,
            open_since: None,
            state,
        }
    }

    /// Serves until the last handle is dropped or the connection ends; says which, and why (as
    /// the jump host `label`), in its [`State`] before the channels close.
    fn run(mut self, label: &str) {
        // every keepalive asks for a reply: a live sshd answers each (SSH_MSG_REQUEST_FAILURE)
        self.js.set_keepalive(true, 1);
        let mut last_alive = Instant::now();
        let ended = loop {
            self.take_requests();
            let mut progress = match self.serve_open() {
                Ok(p) => p,
                Err(()) => break Some("broke".to_string()),
            };
            let buf = &mut self.buf;
            let before = self.pipes.len();
            let mut finished = Vec::new();
            for (i, p) in self.pipes.iter_mut().enumerate() {
                match p.step(buf) {
                    Ok(moved) => progress |= moved,
                    Err(()) => finished.push(i),
                }
            }
            for i in finished.into_iter().rev() {
                let p = self.pipes.swap_remove(i);
                self.closing.push((p.ch, 0));
            }
            progress |= self.pipes.len() != before;
            progress |= self.close_some();
            if self.hung_up
                && self.queue.is_empty()
                && self.pipes.is_empty()
                && self.closing.is_empty()
            {
                break None;
            }
            let quiet = silent_for(&self.js);
            let ms = quiet.map_or(u64::MAX, |q| q.as_millis() as u64);
            self.state.silent_ms.store(ms, Ordering::SeqCst);
            // busy or idle: a connection that only sends must still hear back
            if last_alive.elapsed() >= KEEPALIVE {
                // only on a socket with room: a keepalive sent in part would hold every later
                // packet until it is sent again (libssh2 finishes a packet before the next)
                if self.writable() {
                    let _ = self.js.keepalive_send();
                }
                last_alive = Instant::now();
                if let Some(quiet) = quiet.filter(|q| *q >= SILENT) {
                    break Some(format!(
                        "stopped answering: nothing received from it for {} s, keepalives \
                         every {} s unanswered",
                        quiet.as_secs(),
                        KEEPALIVE.as_secs()
                    ));
                }
            }
            if progress || self.pipes.iter().any(Pipe::has_buffered) {
                continue;
            }
            if self.broken() {
                break Some("broke".to_string());
            }
            self.wait();
        };
        let why = match &ended {
            Some(m) => format!("the connection to the jump host {m}"),
            None => "the connection to the jump host is closed".to_string(),
        };
        *self.state.why.lock().unwrap_or_else(|e| e.into_inner()) =
            ended.map(|m| format!("the jump host {label} {m}"));
        self.state.dead.store(true, Ordering::SeqCst);
        self.fail_all(&why);
        self.pipes.clear();
        self.js.set_blocking(true);
        self.js.set_timeout(1000);
        let _ = self.js.disconnect(None, "fleetrestart done", None);
    }

    fn take_requests(&mut self) {
        let mut byte = [0u8; 64];
        while matches!((&self.wakee).read(&mut byte), Ok(n) if n > 0) {}
        loop {
            match self.requests.try_recv() {
                Ok(r) => self.queue.push_back(r),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.hung_up = true;
                    break;
                }
            }
        }
    }

    /// Advances the open at the head of the queue; `Err` when the session is broken.
    fn serve_open(&mut self) -> Result<bool, ()> {
        let now = Instant::now();
        let mut progress = false;
        // requests whose time ran out while queued fail without an open; the head too, unless
        // libssh2 has its open in progress (that one must be finished)
        let keep = usize::from(self.opening);
        let before = self.queue.len();
        let mut i = keep;
        while i < self.queue.len() {
            if now > self.queue[i].deadline {
                let r = self.queue.remove(i).expect("index");
                let _ = r.reply.send(Err(
                    "timed out waiting for the jump host's earlier channel opens".into(),
                ));
            } else {
                i += 1;
            }
        }
        // a head open in progress for STALL: the others go to another connection
        let stalled = self.open_since.is_some_and(|t| t.elapsed() >= STALL);
        self.state.stalled.store(stalled, Ordering::SeqCst);
        if stalled {
            for r in self.queue.drain(keep..) {
                let _ = r.reply.send(Err(BUSY.into()));
            }
        }
        progress |= self.queue.len() != before;
        let Some(req) = self.queue.front() else {
            return Ok(progress);
        };
        let r = self.js.channel_direct_tcpip(&req.host, req.port, None);
        self.opening = matches!(&r, Err(e) if is_code(e, LIBSSH2_ERROR_EAGAIN));
        if !self.opening {
            self.open_since = None;
        } else if self.open_since.is_none() {
            self.open_since = Some(Instant::now());
        }
        match r {
            Ok(ch) => {
                let req = self.queue.pop_front().expect("head");
                let late = Instant::now() > req.deadline;
                match UnixStream::pair() {
                    Ok((ours, theirs)) if !late && theirs.set_nonblocking(true).is_ok() => {
                        // a requester that gave up drops `ours`: the pipe then ends at once
                        if req.reply.send(Ok(ours)).is_ok() {
                            self.pipes.push(Pipe {
                                ch,
                                sock: theirs,
                                to_sock: Vec::new(),
                                to_ch: Vec::new(),
                                sock_eof: false,
                                eof_sent: false,
                            });
                        } else {
                            self.closing.push((ch, 0));
                        }
                    }
                    Ok(_) if late => {
                        let _ = req
                            .reply
                            .send(Err("the jump host opened it too late".into()));
                        self.closing.push((ch, 0));
                    }
                    other => {
                        let m = other.err().map(|e| e.to_string()).unwrap_or_default();
                        let _ = req.reply.send(Err(format!("socketpair: {m}")));
                        self.closing.push((ch, 0));
                    }
                }
                Ok(true)
            }
            // in progress: libssh2 keeps its state; the same call resumes it
            Err(e) if is_code(&e, LIBSSH2_ERROR_EAGAIN) => Ok(progress),
            Err(e) => {
                let req = self.queue.pop_front().expect("head");
                let msg = format!(
                    "the jump host could not open a connection to it: {}",
                    e.message()
                );
                let _ = req.reply.send(Err(msg));
                // a refused channel (the jump host could not connect, or forwarding is
                // forbidden) is the target's problem; any other error is the session's
                if is_code(&e, LIBSSH2_ERROR_CHANNEL_FAILURE) && !self.broken() {
                    Ok(true)
                } else {
                    Err(())
                }
            }
        }
    }

    /// Closes finished channels (non-blocking, a few tries each).
    fn close_some(&mut self) -> bool {
        let before = self.closing.len();
        self.closing.retain_mut(|(ch, tries)| {
            *tries += 1;
            match ch.close() {
                Err(e) if is_code(&e, LIBSSH2_ERROR_EAGAIN) => *tries < 50,
                _ => false,
            }
        });
        self.closing.len() != before
    }

    /// Nothing of libssh2's is waiting to be sent and the socket has room (poll's POLLOUT: at
    /// least a third of its send buffer free).
    fn writable(&self) -> bool {
        if self.js.block_directions() == ssh2::BlockDirections::Outbound
            || self.js.block_directions() == ssh2::BlockDirections::Both
        {
            return false;
        }
        let mut pfd = libc::pollfd {
            fd: self.js.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        unsafe { libc::poll(&mut pfd, 1, 0) };
        pfd.revents & libc::POLLOUT != 0
    }

    /// The session's socket has failed or been closed by the jump host.
    fn broken(&self) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.js.as_raw_fd(),
            events: 0,
            revents: 0,
        };
        unsafe { libc::poll(&mut pfd, 1, 0) };
        pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0
    }

    /// Until the jump host, a target's socket or a new request has something (50 ms at most:
    /// queued opens and closes are retried then).
    fn wait(&self) {
        let mut fds = Vec::with_capacity(self.pipes.len() + 2);
        fds.push(libc::pollfd {
            fd: self.js.as_raw_fd(),
            events: poll_events(&self.js),
            revents: 0,
        });
        fds.push(libc::pollfd {
            fd: self.wakee.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        for p in &self.pipes {
            let mut events = 0;
            if !p.sock_eof && p.to_ch.len() < MAX_BUFFERED {
                events |= libc::POLLIN;
            }
            if !p.to_sock.is_empty() {
                events |= libc::POLLOUT;
            }
            fds.push(libc::pollfd {
                fd: p.sock.as_raw_fd(),
                events,
                revents: 0,
            });
        }
        let ms = if self.queue.is_empty() && self.closing.is_empty() {
            50
        } else {
            5
        };
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    }

    /// Every waiting request fails with `why`; the open pipes end when the thread drops them.
    fn fail_all(&mut self, why: &str) {
        for r in self.queue.drain(..) {
            let _ = r.reply.send(Err(why.to_string()));
        }
        // late requests, sent before the handle saw the thread end
        while let Ok(r) = self.requests.try_recv() {
            let _ = r.reply.send(Err(why.to_string()));
        }
    }
}

/// How long ago the jump host's TCP socket last received data (TCP_INFO); `None` when the
/// session does not run over TCP (a second hop runs over a channel of the first).
fn silent_for(js: &ssh2::Session) -> Option<Duration> {
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    let r = unsafe {
        libc::getsockopt(
            js.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            &mut info as *mut libc::tcp_info as *mut libc::c_void,
            &mut len,
        )
    };
    (r == 0).then(|| Duration::from_millis(u64::from(info.tcpi_last_data_recv)))
}
