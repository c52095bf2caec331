//! Pure: the one `*`/`?` wildcard matcher (service globs in campaigns, known_hosts host
//! patterns). Linear time with one backtrack point, so operator patterns with many `*` against
//! names from hosts cannot blow up (review L14). Inventory patterns, which also take `[seq]`,
//! go through an anchored regex in `inventory::pattern`.

/// Does `pattern` (`*` any run, `?` any one character, anything else itself) match all of
/// `text`?
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
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
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::wildcard;

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
    }

    #[test]
    fn many_stars_against_a_long_name_stay_linear() {
        // review L14: the recursive matcher took O(n^k) for k stars (40 stars, 255 bytes:
        // longer than the universe)
        let name = "a".repeat(255);
        assert!(!wildcard(&("*a".repeat(40) + "*b"), &name));
        assert!(wildcard(&"*a".repeat(40), &name));
    }
}
