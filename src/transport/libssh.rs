//! Small facts about libssh2 that the SSH session ([`super::ssh`]) and the jump-host tunnels
//! ([`super::jump`]) both need: its error codes, its millisecond timeouts, and what to poll a
//! non-blocking session's socket for. Pure.

use std::time::Duration;

pub(super) const LIBSSH2_ERROR_TIMEOUT: i32 = -9;
pub(super) const LIBSSH2_ERROR_EAGAIN: i32 = -37;

/// A timeout as libssh2 takes it: milliseconds, at least 1 (0 would mean "no timeout").
pub(super) fn ms(d: Duration) -> u32 {
    d.as_millis().clamp(1, u128::from(u32::MAX)) as u32
}

/// Is `e` libssh2's session error `code`?
pub(super) fn is_code(e: &ssh2::Error, code: i32) -> bool {
    e.code() == ssh2::ErrorCode::Session(code)
}

/// What to poll a non-blocking session's socket for: always input, output when libssh2 is
/// waiting to send.
pub(super) fn poll_events(sess: &ssh2::Session) -> libc::c_short {
    match sess.block_directions() {
        ssh2::BlockDirections::Outbound | ssh2::BlockDirections::Both => {
            libc::POLLIN | libc::POLLOUT
        }
        _ => libc::POLLIN,
    }
}
