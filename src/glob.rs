//! Pure: the one glob matcher. [`wildcard`] takes `*` and `?` (campaign service globs,
//! known_hosts host patterns, as OpenSSH has no classes); [`fnmatch`] adds `[seq]` and
//! `[!seq]` with ranges (inventory host patterns, as Ansible's fnmatch). Both run the same
//! linear-time matcher with one backtrack point, so operator patterns with many `*` against
//! names from hosts cannot blow up.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Star,
    One,
    Char(char),
    /// `[seq]` / `[!seq]`: inclusive ranges (a single character is `(c, c)`).
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Tok {
    fn matches(&self, c: char) -> bool {
        match self {
            Tok::Star => false,
            Tok::One => true,
            Tok::Char(x) => *x == c,
            Tok::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

fn tokens(pattern: &str, classes: bool) -> Vec<Tok> {
    let p: Vec<char> = pattern.chars().collect();
    let mut out = Vec::with_capacity(p.len());
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '*' => out.push(Tok::Star),
            '?' => out.push(Tok::One),
            '[' if classes => match class(&p[i + 1..]) {
                Some((tok, used)) => {
                    out.push(tok);
                    i += used;
                }
                // an unclosed `[` is itself, as in fnmatch
                None => out.push(Tok::Char('[')),
            },
            c => out.push(Tok::Char(c)),
        }
        i += 1;
    }
    out
}

/// The class after a `[`: the token and how many characters it used (up to its `]`).
fn class(p: &[char]) -> Option<(Tok, usize)> {
    let negated = p.first() == Some(&'!');
    let start = usize::from(negated);
    // a `]` right after `[` or `[!` is a member, as in fnmatch
    let end = p
        .iter()
        .enumerate()
        .skip(start + 1)
        .find(|(_, c)| **c == ']')
        .map(|(i, _)| i)?;
    let body = &p[start..end];
    let mut ranges = Vec::new();
    let mut j = 0;
    while j < body.len() {
        if j + 2 < body.len() && body[j + 1] == '-' {
            ranges.push((body[j], body[j + 2]));
            j += 3;
        } else {
            ranges.push((body[j], body[j]));
            j += 1;
        }
    }
    Some((Tok::Class { negated, ranges }, end + 1))
}

fn matches(p: &[Tok], text: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && p[pi] != Tok::Star && p[pi].matches(t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == Tok::Star {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|t| *t == Tok::Star)
}

/// Does `pattern` (`*` any run, `?` any one character, anything else itself) match all of
/// `text`?
pub fn wildcard(pattern: &str, text: &str) -> bool {
    matches(&tokens(pattern, false), text)
}

/// [`wildcard`] with fnmatch's classes: `[abc]`, `[a-z]`, `[!0-9]`.
pub fn fnmatch(pattern: &str, text: &str) -> bool {
    matches(&tokens(pattern, true), text)
}

#[cfg(test)]
mod tests {
    use super::{fnmatch, wildcard};

    #[test]
    fn matches_as_fnmatch_does_for_star_and_question_mark() {
        assert!(wildcard("ssh*", "ssh.service"));
        assert!(wildcard("*.service", "cron.service"));
        assert!(wildcard("cr?n", "cron"));
        assert!(!wildcard("cron", "crond"));
        assert!(wildcard("*", ""));
        assert!(wildcard("a*b*c", "aXXbYYc"));
        assert!(!wildcard("a*b*c", "aXXbYY"));
        assert!(!wildcard("?b", "b"));
        assert!(wildcard("?é", "xé"));
        // no classes for OpenSSH patterns: `[` is itself
        assert!(wildcard("[10.0.0.1]:2222", "[10.0.0.1]:2222"));
    }

    #[test]
    fn classes_as_python_fnmatch() {
        assert!(fnmatch("web[0-9]", "web7"));
        assert!(!fnmatch("web[0-9]", "webx"));
        assert!(fnmatch("web[!0-9]", "webx"));
        assert!(!fnmatch("web[!0-9]", "web1"));
        assert!(fnmatch("db[ab]*", "dbb-1"));
        assert!(fnmatch("a[]]b", "a]b"));
        assert!(fnmatch("a[!]]b", "axb"));
        assert!(fnmatch("x[", "x["), "an unclosed class is literal");
        assert!(fnmatch("*[0-9][0-9]", "web01"));
        assert!(!fnmatch("*[0-9][0-9]", "web1"));
    }

    #[test]
    fn many_stars_against_a_long_name_stay_linear() {
        // the recursive matcher took O(n^k) for k stars (40 stars, 255 bytes:
        // longer than the universe)
        let name = "a".repeat(255);
        assert!(!wildcard(&("*a".repeat(40) + "*b"), &name));
        assert!(wildcard(&"*a".repeat(40), &name));
        assert!(!fnmatch(&("*[a]".repeat(40) + "*b"), &name));
    }
}
