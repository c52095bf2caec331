//! The sudo password handshake, as a pure state machine over the bytes a command prints.
//!
//! The command is `sudo -S -p PROMPT ... sh -c 'echo MARKER; SCRIPT'`. When PROMPT shows on
//! standard error the password is written (once) to standard input; when the MARKER line shows
//! on standard output, privileges are held and the command's real input may follow. A second
//! prompt means the password was refused. The prompt and marker are removed from the output;
//! the password never enters any buffer that is logged or returned.

use crate::secret::Secret;

/// What the transport must do for a command gated by sudo.
#[derive(Debug, Clone)]
pub struct Handshake {
    pub prompt: String,
    pub marker: String,
    pub password: Secret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateEvent {
    Nothing,
    /// Write the password and a newline to standard input now.
    SendPassword,
    /// Privileges held: send the command's own standard input.
    Open,
    /// sudo asked again: the password was wrong.
    Refused,
    /// More than [`OUT_WINDOW`] bytes of output and still no marker: give up (a chatty or
    /// hostile host must not fill the controller's memory).
    NoMarker,
}

pub struct Gate<'a> {
    hs: &'a Handshake,
    /// Standard output before the marker line.
    pending_out: Vec<u8>,
    /// Standard error not yet passed on: a possible partial prompt.
    err_held: Vec<u8>,
    prompts: usize,
    open: bool,
}

const ERR_WINDOW: usize = 64 << 10;
/// Standard output held before the marker, at most (a login shell's chatter is far less).
pub const OUT_WINDOW: usize = 64 << 10;

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

impl<'a> Gate<'a> {
    pub fn new(hs: &'a Handshake) -> Self {
        Gate {
            hs,
            pending_out: Vec::new(),
            err_held: Vec::new(),
            prompts: 0,
            open: false,
        }
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Standard output bytes: appended to `out` once the marker has passed.
    pub fn stdout(&mut self, data: &[u8], out: &mut Vec<u8>) -> GateEvent {
        if self.open {
            out.extend_from_slice(data);
            return GateEvent::Nothing;
        }
        let line = format!("{}\n", self.hs.marker);
        // only the new bytes, and the held tail a marker split across reads may start in
        let from = self.pending_out.len().saturating_sub(line.len() - 1);
        self.pending_out.extend_from_slice(data);
        if let Some(j) = find(&self.pending_out[from..], line.as_bytes()) {
            let i = from + j;
            self.open = true;
            out.extend_from_slice(&self.pending_out[..i]);
            out.extend_from_slice(&self.pending_out[i + line.len()..]);
            self.pending_out = Vec::new();
            return GateEvent::Open;
        }
        if self.pending_out.len() > OUT_WINDOW {
            self.pending_out = Vec::new();
            return GateEvent::NoMarker;
        }
        GateEvent::Nothing
    }

    /// Standard error bytes: prompts are removed, the rest appended to `err` (a tail that may
    /// be the start of a prompt is held back until the next read).
    pub fn stderr(&mut self, data: &[u8], err: &mut Vec<u8>) -> GateEvent {
        if self.open {
            // privileges are held: a prompt-like text now is the command's own output, never
            // a reason to send the password again or to call it refused
            let room = ERR_WINDOW.saturating_sub(err.len());
            err.extend_from_slice(&self.err_held[..self.err_held.len().min(room)]);
            self.err_held.clear();
            let room = ERR_WINDOW.saturating_sub(err.len());
            err.extend_from_slice(&data[..data.len().min(room)]);
            return GateEvent::Nothing;
        }
        self.err_held.extend_from_slice(data);
        let p = self.hs.prompt.as_bytes();
        let text = &self.err_held;
        let hold = (1..p.len())
            .rev()
            .find(|&k| k <= text.len() && text.ends_with(&p[..k]))
            .unwrap_or(0);
        let ready = text.len() - hold;
        let mut count = 0;
        let mut i = 0;
        while i < ready {
            if text[i..ready].starts_with(p) {
                count += 1;
                i += p.len();
            } else {
                if err.len() < ERR_WINDOW {
                    err.push(text[i]);
                }
                i += 1;
            }
        }
        self.err_held.drain(..ready);
        if count == 0 {
            return GateEvent::Nothing;
        }
        self.prompts += count;
        if self.prompts == 1 {
            GateEvent::SendPassword
        } else {
            GateEvent::Refused
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hs() -> Handshake {
        Handshake {
            prompt: "[fr-sudo-ab12] ".into(),
            marker: "FR-BECOME-ab12".into(),
            password: Secret::new("pw".into()),
        }
    }

    #[test]
    fn prompt_then_marker() {
        let h = hs();
        let mut g = Gate::new(&h);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(g.stderr(b"[fr-sudo", &mut err), GateEvent::Nothing);
        assert_eq!(g.stderr(b"-ab12] ", &mut err), GateEvent::SendPassword);
        assert_eq!(g.stdout(b"FR-BECOME-ab", &mut out), GateEvent::Nothing);
        assert_eq!(g.stdout(b"12\n{\"a\":1}", &mut out), GateEvent::Open);
        assert_eq!(g.stdout(b"\n", &mut out), GateEvent::Nothing);
        assert_eq!(out, b"{\"a\":1}\n");
        assert!(!String::from_utf8_lossy(&err).contains("fr-sudo"));
    }

    #[test]
    fn cached_credentials_need_no_password() {
        let h = hs();
        let mut g = Gate::new(&h);
        let mut out = Vec::new();
        assert_eq!(g.stdout(b"FR-BECOME-ab12\nx", &mut out), GateEvent::Open);
        assert_eq!(out, b"x");
    }

    #[test]
    fn output_before_the_marker_is_bounded_and_scanned_once() {
        // everything before the marker was kept and rescanned on every read
        let h = hs();
        let mut g = Gate::new(&h);
        let mut out = Vec::new();
        let chunk = vec![b'x'; 64 << 10];
        let mut reads = 0;
        let ev = loop {
            reads += 1;
            assert!(reads <= 4096, "256 MiB read and no verdict");
            let ev = g.stdout(&chunk, &mut out);
            assert!(g.pending_out.len() <= OUT_WINDOW + chunk.len());
            if ev != GateEvent::Nothing {
                break ev;
            }
        };
        assert_eq!(ev, GateEvent::NoMarker);
        assert_eq!(reads, 2);
        assert!(out.is_empty());
        // a marker split across reads after chatter is still found
        let mut g = Gate::new(&h);
        assert_eq!(g.stdout(&vec![b'y'; 1000], &mut out), GateEvent::Nothing);
        assert_eq!(g.stdout(b"motd\nFR-BEC", &mut out), GateEvent::Nothing);
        assert_eq!(g.stdout(b"OME-ab12\nz", &mut out), GateEvent::Open);
        assert!(out.ends_with(b"motd\nz"));
    }

    #[test]
    fn a_prompt_after_the_marker_is_output() {
        // it sent the password again, or called it refused
        let h = hs();
        let mut g = Gate::new(&h);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(
            g.stderr(b"[fr-sudo-ab12] ", &mut err),
            GateEvent::SendPassword
        );
        assert_eq!(g.stdout(b"FR-BECOME-ab12\n", &mut out), GateEvent::Open);
        assert_eq!(g.stderr(b"[fr-sudo-ab12] ", &mut err), GateEvent::Nothing);
        assert_eq!(g.stderr(b"[fr-sudo-ab12] ", &mut err), GateEvent::Nothing);
        assert_eq!(
            String::from_utf8_lossy(&err),
            "[fr-sudo-ab12] [fr-sudo-ab12] "
        );
    }

    #[test]
    fn a_second_prompt_is_a_refusal() {
        let h = hs();
        let mut g = Gate::new(&h);
        let mut err = Vec::new();
        assert_eq!(
            g.stderr(b"[fr-sudo-ab12] ", &mut err),
            GateEvent::SendPassword
        );
        assert_eq!(
            g.stderr(b"Sorry, try again.\n", &mut err),
            GateEvent::Nothing
        );
        assert_eq!(g.stderr(b"[fr-sudo-ab12] ", &mut err), GateEvent::Refused);
        assert_eq!(String::from_utf8_lossy(&err), "Sorry, try again.\n");
    }
}
