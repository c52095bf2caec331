//! Validation of names that may end up in a command line: systemd units, sysv services.
//!
//! Pure. Both the scanner (rules) and the controller (before anything reaches a remote shell)
//! use these; a name that fails is refused, never quoted into a command "just in case".

/// A systemd unit name: `name.type`, at most 255 bytes, from systemd's allowed characters
/// (`[A-Za-z0-9:_.\\@-]`), not starting with `-` or `.`.
pub fn is_valid_unit(name: &str) -> bool {
    const TYPES: &[&str] = &[
        ".service",
        ".scope",
        ".slice",
        ".socket",
        ".target",
        ".timer",
        ".mount",
        ".path",
        ".swap",
        ".device",
        ".automount",
    ];
    name.len() <= 255
        && TYPES
            .iter()
            .any(|t| name.len() > t.len() && name.ends_with(t))
        && !name.starts_with(['-', '.', '@'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":_.\\@-".contains(&b))
}

/// A service name as given to `systemctl` or `service`: a unit name, or a bare init-script name
/// (`[A-Za-z0-9_.@:+-]`, 1–128 bytes, not starting with `-` or `.`).
pub fn is_valid_service(name: &str) -> bool {
    is_valid_unit(name)
        || (!name.is_empty()
            && name.len() <= 128
            && !name.starts_with(['-', '.'])
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.@:+-".contains(&b)))
}

/// A boot id as the kernel prints it (`/proc/sys/kernel/random/boot_id`): `8-4-4-4-12` hex
/// digits, lower case.
pub fn is_boot_id(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        for ok in [
            "cron.service",
            "getty@tty1.service",
            "systemd-journald.service",
            "user@1000.service",
            "postgresql@15-main.service",
            "dev-disk-by\\x2duuid.swap",
            "session-3.scope",
        ] {
            assert!(is_valid_unit(ok), "{ok}");
        }
        for bad in [
            "",
            ".service",
            "cron",
            "-x.service",
            "a b.service",
            "a;b.service",
            "a$(x).service",
            "x.service\n",
            "ä.service",
            "x.servicex",
        ] {
            assert!(!is_valid_unit(bad), "{bad:?}");
        }
        assert!(!is_valid_unit(&format!("{}.service", "a".repeat(250))));
    }

    #[test]
    fn services() {
        for ok in [
            "cron",
            "mariadb",
            "dovecot",
            "nginx.service",
            "x11-common",
            "a+b",
        ] {
            assert!(is_valid_service(ok), "{ok}");
        }
        for bad in [
            "", "-rf", ".hidden", "a b", "a;b", "a/b", "$(x)", "`x`", "a\nb", "a'b",
        ] {
            assert!(!is_valid_service(bad), "{bad:?}");
        }
    }
}
