//! A secret (sudo password, key passphrase): never printed, wiped when dropped.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // overwrite the whole allocation (a trimmed tail too) before it is freed
        // SAFETY: only writes, within the allocation's capacity.
        unsafe {
            let v = self.0.as_mut_vec();
            let p = v.as_mut_ptr();
            for i in 0..v.capacity() {
                std::ptr::write_volatile(p.add(i), 0);
            }
        }
    }
}

impl Secret {
    /// The first line of `self` (without its end), the rest wiped.
    pub fn first_line(mut self) -> Secret {
        let end = self.0.find(['\n', '\r']).unwrap_or(self.0.len());
        self.0.truncate(end);
        self
    }
}

/// 16 random hex digits from the kernel (nonces for sudo prompts, jitter).
pub fn random_hex() -> String {
    let mut b = [0u8; 8];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if !ok {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        b = (t ^ u64::from(std::process::id()) << 32).to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Reads a line from the terminal with echo off (`/dev/tty`, not standard input).
pub fn prompt_tty(prompt: &str) -> Result<Secret, String> {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| format!("no terminal to ask for it ({e})"))?;
    let fd = tty.as_raw_fd();
    let mut term: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut term) } != 0 {
        return Err("cannot read terminal settings".into());
    }
    let saved = term;
    term.c_lflag &= !libc::ECHO;
    term.c_lflag |= libc::ECHONL;
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &term) };
    let mut w = &tty;
    let _ = w.write_all(prompt.as_bytes());
    let _ = w.flush();
    // byte by byte into the secret itself: no reader buffer keeps a copy
    let mut line = Secret::new(String::with_capacity(256));
    let mut r: std::io::Result<()> = Ok(());
    let mut byte = [0u8; 1];
    let mut raw = Vec::with_capacity(256);
    loop {
        match std::io::Read::read(&mut &tty, &mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) if raw.len() < 4096 => raw.push(byte[0]),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                r = Err(e);
                break;
            }
        }
    }
    unsafe { std::ptr::write_volatile(&mut byte[0], 0) };
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    line.0.push_str(&String::from_utf8_lossy(&raw));
    raw.iter_mut()
        .for_each(|b| unsafe { std::ptr::write_volatile(b, 0) });
    r.map_err(|e| e.to_string())?;
    Ok(line.first_line())
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_hides_it() {
        let s = super::Secret::new("hunter2".into());
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn first_line_keeps_only_the_line() {
        let s = super::Secret::new("pw\r\nrest".into()).first_line();
        assert_eq!(s.expose(), "pw");
        assert_eq!(super::Secret::new("pw".into()).first_line().expose(), "pw");
    }

    #[test]
    fn random_hex_differs() {
        assert_eq!(super::random_hex().len(), 16);
        assert_ne!(super::random_hex(), super::random_hex());
    }
}
