//! One command's exchange over an SSH channel, turn by turn: what may be sent now (sudo's
//! password first, the input once the sudo gate is open and the command asked for it, then the
//! EOF) and what was received (both streams, bounded reads per turn, through the gate and the
//! asking-line watcher, kept within each stream's bound). The session's loop
//! ([`super::ssh`]) owns the deadline, cancel and keepalives; this owns the bytes. I/O only
//! through the channel it is handed.

use super::gate::{Gate, GateEvent, Handshake};
use super::input::{Asking, Input};
use super::libssh::{is_code, LIBSSH2_ERROR_EAGAIN};
use super::{io_fail, ExecLimits, TransportError};
use std::borrow::Cow;
use std::io::{Read, Write};

/// Reads of one output stream per turn of the command loop.
const READS_PER_TURN: usize = 16;

/// One command's exchange over its channel: the input to send (held back until the command
/// asks, or sudo's password first), the output gathered within its bounds, the sudo gate.
pub(super) struct Exchange<'i, 'h> {
    pub(super) gate: Option<Gate<'h>>,
    /// With `Input::Reply`, nothing is sent before the asking line is answered.
    awaiting: Option<Asking<'i>>,
    input: Cow<'i, [u8]>,
    in_pos: usize,
    eof_sent: bool,
    /// The sudo password while it is being sent (wiped as it goes, and at the end).
    pub(super) password: Vec<u8>,
    handshake: Option<&'h Handshake>,
    limits: ExecLimits,
    pub(super) out: Vec<u8>,
    pub(super) err: Vec<u8>,
    pub(super) truncated: bool,
}

impl<'i, 'h> Exchange<'i, 'h> {
    pub(super) fn new(
        stdin: Input<'i>,
        limits: ExecLimits,
        handshake: Option<&'h Handshake>,
    ) -> Self {
        Exchange {
            gate: handshake.map(Gate::new),
            awaiting: stdin.asking(),
            input: match stdin {
                Input::Now(b) => Cow::Borrowed(b),
                Input::Reply { .. } => Cow::Borrowed(&[][..]),
            },
            in_pos: 0,
            eof_sent: false,
            password: Vec::new(),
            handshake,
            limits,
            out: Vec::new(),
            err: Vec::new(),
            truncated: false,
        }
    }

    /// Sends what may go now: the password, else the input once the gate is open and nothing
    /// is awaited, else the EOF. Whether anything moved.
    pub(super) fn send(&mut self, ch: &mut ssh2::Channel) -> Result<bool, TransportError> {
        let may_send = self.gate.as_ref().is_none_or(|g| g.is_open()) && self.awaiting.is_none();
        if !self.password.is_empty() {
            match ch.write(&self.password) {
                Ok(n) => {
                    self.password[..n].fill(0);
                    self.password.drain(..n);
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(io_fail("sending to the command", e)),
            }
        } else if may_send && self.in_pos < self.input.len() {
            match ch.write(&self.input[self.in_pos..]) {
                Ok(n) => {
                    self.in_pos += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // the command may exit without reading its input: not an error
                Err(_) => self.in_pos = self.input.len(),
            }
        } else if may_send && !self.eof_sent {
            match ch.send_eof() {
                Err(e) if is_code(&e, LIBSSH2_ERROR_EAGAIN) => {}
                _ => {
                    self.eof_sent = true;
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Reads both output streams, at most [`READS_PER_TURN`] reads each (the other stream and
    /// the timers get their turn). Whether anything moved, and the gate's last event.
    pub(super) fn receive(
        &mut self,
        ch: &mut ssh2::Channel,
        buf: &mut [u8],
    ) -> Result<(bool, GateEvent), TransportError> {
        let mut progress = false;
        let mut event = GateEvent::Nothing;
        for stream_id in [0, 1] {
            for _ in 0..READS_PER_TURN {
                let r = if stream_id == 0 {
                    ch.read(buf)
                } else {
                    ch.stderr().read(buf)
                };
                match r {
                    Ok(0) => break,
                    Ok(n) => {
                        progress = true;
                        let ev = self.take(stream_id, &buf[..n]);
                        if ev != GateEvent::Nothing {
                            event = ev;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(io_fail("reading the command's output", e)),
                }
            }
        }
        Ok((progress, event))
    }

    /// Output of stream 0 (stdout) or 1 (stderr): through the gate, to the asking-line watcher
    /// (stdout), and kept within the stream's bound.
    fn take(&mut self, stream_id: u8, data: &[u8]) -> GateEvent {
        let mut tmp = Vec::new();
        let ev = match (&mut self.gate, stream_id) {
            (Some(g), 0) => g.stdout(data, &mut tmp),
            (Some(g), _) => g.stderr(data, &mut tmp),
            (None, _) => {
                tmp.extend_from_slice(data);
                GateEvent::Nothing
            }
        };
        if let (Some(a), 0) = (&mut self.awaiting, stream_id) {
            if let Some(bytes) = a.feed(&tmp) {
                self.input = bytes;
                self.awaiting = None;
            }
        }
        let (sink, max) = if stream_id == 0 {
            (&mut self.out, self.limits.max_stdout)
        } else {
            (&mut self.err, self.limits.max_stderr)
        };
        let room = max.saturating_sub(sink.len());
        if tmp.len() > room {
            self.truncated = true;
        }
        sink.extend_from_slice(&tmp[..tmp.len().min(room)]);
        ev
    }

    /// What the gate's event means: the password to send, or the end of a refused become.
    pub(super) fn on_gate(&mut self, event: GateEvent) -> Result<(), TransportError> {
        match event {
            GateEvent::SendPassword => {
                if let Some(h) = self.handshake {
                    self.password = format!("{}\n", h.password.expose()).into_bytes();
                }
                Ok(())
            }
            GateEvent::Refused => Err(TransportError::Become("sudo refused the password".into())),
            GateEvent::NoMarker => Err(TransportError::Become(format!(
                "no sudo start marker within the first {} KiB of output",
                super::gate::OUT_WINDOW >> 10
            ))),
            _ => Ok(()),
        }
    }
}
