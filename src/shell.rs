//! POSIX shell quoting for the few commands fleetrestart sends to a host's shell.
//!
//! Every value that is not a literal of ours goes through [`quote`]; nothing is pasted raw.

/// Quotes `s` as one word for a POSIX shell (single quotes; `'` becomes `'\''`).
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quoting() {
        assert_eq!(quote("abc/def-1.2"), "abc/def-1.2");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(quote("`x`;y"), "'`x`;y'");
    }

    #[test]
    fn quoted_words_round_trip_through_sh() {
        for s in [
            "plain",
            "a b",
            "it's",
            "$(echo pwned)",
            "`id`",
            "a\nb",
            "\\",
            "*",
            "-n",
        ] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", quote(s)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), s);
        }
    }
}
