//! Standard input of a command, and the watcher of the line a command asks with.
//!
//! [`Input::Reply`] lets one command ask the controller a question without a second round
//! trip: the command prints a line starting with an agreed prefix, the controller answers on
//! its standard input. Scanner delivery uses it: the host says "run" (its cached copy
//! verified) or "upload ARCH", and only then are the scanner's bytes sent. Lines before it (a
//! login shell's chatter) are passed over. Pure: the transports feed [`Asking`] what they read.

use std::borrow::Cow;

/// The answer function of [`Input::Reply`]: the asking line (without its newline) → the input.
pub type Answer<'a> = dyn Fn(&str) -> Cow<'a, [u8]> + Sync + 'a;

/// What a command gets on standard input (end of file follows it).
#[derive(Clone, Copy)]
pub enum Input<'a> {
    /// Sent as soon as the command runs.
    Now(&'a [u8]),
    /// Held back until the command prints a line starting with `prefix` on standard output,
    /// then the answer to that line. Every line stays in the output. If the output ends, or
    /// passes [`MAX_ASK_BYTES`], without such a line, nothing is sent. The command must ask
    /// before it reads its input (else both sides wait until the timeout).
    Reply {
        prefix: &'a str,
        answer: &'a Answer<'a>,
    },
}

impl<'a> Input<'a> {
    /// What watches the output of an [`Input::Reply`] command (`None` for [`Input::Now`]).
    pub fn asking(&self) -> Option<Asking<'a>> {
        match *self {
            Input::Now(_) => None,
            Input::Reply { prefix, answer } => Some(Asking {
                line: AskedLine::new(prefix),
                answer,
            }),
        }
    }
}

/// An [`Input::Reply`] command being watched: its asking line and the answer function.
pub struct Asking<'a> {
    line: AskedLine<'a>,
    answer: &'a Answer<'a>,
}

impl<'a> Asking<'a> {
    /// Feeds standard output; once the wait is over, the input to send (the answer, or nothing
    /// when the output grew too long without the line). After that, stop feeding.
    pub fn feed(&mut self, data: &[u8]) -> Option<Cow<'a, [u8]>> {
        match self.line.feed(data) {
            Seen::Nothing => None,
            Seen::Line(l) => Some((self.answer)(&l)),
            Seen::TooLong => Some(Cow::Borrowed(&[])),
        }
    }
}

/// How much output may come before the asking line.
pub const MAX_ASK_BYTES: usize = 64 << 10;

/// What [`AskedLine::feed`] saw.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// Still waiting (or done before).
    Nothing,
    /// The asking line is complete: answer it now.
    Line(String),
    /// [`MAX_ASK_BYTES`] passed without it: stop waiting, send nothing.
    TooLong,
}

/// Watches standard output for the line that asks.
#[derive(Debug)]
struct AskedLine<'a> {
    prefix: &'a str,
    /// The current, incomplete line.
    line: Vec<u8>,
    seen: usize,
    done: bool,
}

impl<'a> AskedLine<'a> {
    fn new(prefix: &'a str) -> Self {
        AskedLine {
            prefix,
            line: Vec::new(),
            seen: 0,
            done: false,
        }
    }

    /// Feeds output bytes; reports the asking line once, when its newline arrives.
    fn feed(&mut self, data: &[u8]) -> Seen {
        if self.done {
            return Seen::Nothing;
        }
        let mut rest = data;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            self.line.extend_from_slice(&rest[..i]);
            if self.line.starts_with(self.prefix.as_bytes()) {
                self.done = true;
                return Seen::Line(String::from_utf8_lossy(&self.line).into_owned());
            }
            self.seen += self.line.len() + 1;
            self.line.clear();
            rest = &rest[i + 1..];
        }
        self.line.extend_from_slice(rest);
        if self.seen + self.line.len() > MAX_ASK_BYTES {
            self.done = true;
            return Seen::TooLong;
        }
        Seen::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_asking_line_may_come_in_pieces_after_other_lines() {
        let mut w = AskedLine::new("FR-");
        assert_eq!(w.feed(b"welcome\nFR-UP"), Seen::Nothing);
        assert_eq!(
            w.feed(b"LOAD x86_64\n{\"a\""),
            Seen::Line("FR-UPLOAD x86_64".into())
        );
        assert_eq!(w.feed(b"FR-again\n"), Seen::Nothing, "asks once");
    }

    #[test]
    fn asking_answers_the_line_or_nothing() {
        fn f<'a>(l: &str) -> Cow<'a, [u8]> {
            Cow::Owned(format!("for {l}").into_bytes())
        }
        let reply = Input::Reply {
            prefix: "FR-",
            answer: &f,
        };
        assert!(Input::Now(b"x").asking().is_none());
        let mut a = reply.asking().unwrap();
        assert_eq!(a.feed(b"hello\n"), None);
        assert_eq!(a.feed(b"FR-RUN\n").as_deref(), Some(&b"for FR-RUN"[..]));
        let mut a = reply.asking().unwrap();
        assert_eq!(
            a.feed(&[b'x'; MAX_ASK_BYTES + 1]).as_deref(),
            Some(&b""[..])
        );
    }

    #[test]
    fn too_much_output_stops_the_wait() {
        let mut w = AskedLine::new("FR-");
        assert_eq!(w.feed(&[b'x'; MAX_ASK_BYTES]), Seen::Nothing);
        assert_eq!(w.feed(b"\ny"), Seen::TooLong);
        assert_eq!(w.feed(b"\nFR-x\n"), Seen::Nothing);
    }
}
