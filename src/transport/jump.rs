//! ProxyJump: the next hop's TCP stream carried by a direct-tcpip channel of the jump session.
//!
//! libssh2 needs a real file descriptor for a session, so the channel is pumped to one end of a
//! socketpair by a thread that owns the jump session (in non-blocking mode: a blocking read
//! would hold the session's lock against writes). The thread ends when either side closes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::libssh::{is_code, ms, poll_events, LIBSSH2_ERROR_EAGAIN};

const MAX_BUFFERED: usize = 1 << 20;

/// What a session runs over.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// A running tunnel; dropping it detaches the pump, which ends when the session's end closes.
pub struct Tunnel {
    _pump: JoinHandle<()>,
}

/// Opens a channel from `js` to `host:port` and returns the local end of its stream.
pub fn tunnel(
    js: ssh2::Session,
    host: &str,
    port: u16,
    deadline: Instant,
) -> Result<(UnixStream, Tunnel), String> {
    js.set_blocking(true);
    js.set_timeout(ms(deadline.saturating_duration_since(Instant::now())));
    let ch = js.channel_direct_tcpip(host, port, None).map_err(|e| {
        format!(
            "the jump host could not open a connection to it: {}",
            e.message()
        )
    })?;
    let (ours, theirs) = UnixStream::pair().map_err(|e| e.to_string())?;
    let pump = std::thread::Builder::new()
        .name(format!("jump-{host}"))
        .spawn(move || pump(js, ch, theirs))
        .map_err(|e| e.to_string())?;
    Ok((ours, Tunnel { _pump: pump }))
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

fn pump(js: ssh2::Session, mut ch: ssh2::Channel, mut sock: UnixStream) {
    js.set_blocking(false);
    if sock.set_nonblocking(true).is_err() {
        return;
    }
    let mut to_sock: Vec<u8> = Vec::new();
    let mut to_ch: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut sock_eof = false;
    let mut last_alive = Instant::now();
    loop {
        // the channel's end is read from ch.eof() below: a zero read does not stop its reads
        let mut ch_zero = false;
        let Ok(to_sock_moved) = shuttle(&mut ch, &mut sock, &mut to_sock, &mut buf, &mut ch_zero)
        else {
            break;
        };
        let Ok(to_ch_moved) = shuttle(&mut sock, &mut ch, &mut to_ch, &mut buf, &mut sock_eof)
        else {
            break;
        };
        let progress = to_sock_moved || to_ch_moved;
        if sock_eof && to_ch.is_empty() {
            break;
        }
        if ch.eof() && to_sock.is_empty() {
            break;
        }
        if !progress {
            if last_alive.elapsed() >= Duration::from_secs(10) {
                let _ = js.keepalive_send();
                last_alive = Instant::now();
            }
            let mut fds = [
                libc::pollfd {
                    fd: sock.as_raw_fd(),
                    events: libc::POLLIN | if to_sock.is_empty() { 0 } else { libc::POLLOUT },
                    revents: 0,
                },
                libc::pollfd {
                    fd: js.as_raw_fd(),
                    events: poll_events(&js),
                    revents: 0,
                },
            ];
            unsafe { libc::poll(fds.as_mut_ptr(), 2, 50) };
        }
    }
    drop(sock);
    // best effort: close the channel and say goodbye to the jump host
    for _ in 0..20 {
        match ch.close() {
            Err(e) if is_code(&e, LIBSSH2_ERROR_EAGAIN) => {
                std::thread::sleep(Duration::from_millis(5))
            }
            _ => break,
        }
    }
    js.set_blocking(true);
    js.set_timeout(1000);
    let _ = js.disconnect(None, "fleetrestart done", None);
}
