//! Host patterns and `--limit`, as Ansible reads them.
//!
//! Pure (the `@file` contents are read by the caller). Terms are split on `,` (or on `:` outside
//! brackets when there is no comma); `&term` intersects, `!term` excludes; all unions are taken
//! first, then intersections, then exclusions, whatever the written order. A term matches group
//! names first (`web*`, `~regex`, exact), then host names; `group[0]`, `group[-1]`, `group[0:2]`
//! (inclusive), `group[1:]` pick by position. A term that matches nothing is a warning.

use super::Inventory;
use std::collections::BTreeSet;

/// One term of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Union,
    Intersect,
    Exclude,
}

/// Splits a pattern like Ansible's `split_host_pattern`.
pub fn split(pattern: &str) -> Vec<String> {
    if pattern.contains(',') {
        return pattern
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    for c in pattern.trim().chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c)
            }
            ']' => {
                depth = depth.saturating_sub(1);
                cur.push(c)
            }
            ':' if depth == 0 && !cur.starts_with('~') => {
                out.push(std::mem::take(&mut cur));
            }
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// `(start, end)` of a subscript: `[i]` is `(i, None)`, `[i:j]` is `(i, Some(j))`, `[i:]` is
/// `(i, Some(-1))` (to the end).
fn split_subscript(term: &str) -> (&str, Option<(i64, Option<i64>)>) {
    if term.starts_with('~') || !term.ends_with(']') {
        return (term, None);
    }
    let Some(open) = term.rfind('[') else {
        return (term, None);
    };
    if open == 0 {
        return (term, None);
    }
    let inner = &term[open + 1..term.len() - 1];
    let base = &term[..open];
    if let Ok(i) = inner.parse::<i64>() {
        return (base, Some((i, None)));
    }
    let sep = inner.find([':', '-']);
    if let Some(p) = sep {
        let (a, b) = (&inner[..p], &inner[p + 1..]);
        if let Ok(a) = a.parse::<u64>() {
            if b.is_empty() {
                return (base, Some((a as i64, Some(-1))));
            }
            if let Ok(b) = b.parse::<u64>() {
                return (base, Some((a as i64, Some(b as i64))));
            }
        }
    }
    (term, None)
}

fn apply_subscript(hosts: Vec<String>, sub: Option<(i64, Option<i64>)>) -> Vec<String> {
    let Some((start, end)) = sub else {
        return hosts;
    };
    let n = hosts.len() as i64;
    match end {
        Some(e) if e != 0 => {
            let e = if e == -1 { n - 1 } else { e.min(n - 1) };
            if start > e || start >= n {
                return Vec::new();
            }
            hosts[start as usize..=e as usize].to_vec()
        }
        _ => {
            let i = if start < 0 { n + start } else { start };
            if i < 0 || i >= n {
                return Vec::new();
            }
            vec![hosts[i as usize].clone()]
        }
    }
}

/// One pattern term: a regex (`~re`), an fnmatch glob ([`crate::glob::fnmatch`]), or a name.
enum Matcher {
    Regex(regex_lite::Regex),
    Glob(String),
    Name(String),
}

impl Matcher {
    fn new(term: &str) -> Result<Matcher, String> {
        if let Some(re) = term.strip_prefix('~') {
            // Python's re.match: anchored at the start only
            let r = regex_lite::Regex::new(&format!("^(?:{re})"))
                .map_err(|e| format!("invalid regex in pattern {term:?}: {e}"))?;
            return Ok(Matcher::Regex(r));
        }
        if term.contains(['*', '?', '[']) {
            return Ok(Matcher::Glob(term.into()));
        }
        Ok(Matcher::Name(term.into()))
    }
    fn is_match(&self, s: &str) -> bool {
        match self {
            Matcher::Regex(r) => r.is_match(s),
            Matcher::Glob(g) => crate::glob::fnmatch(g, s),
            Matcher::Name(n) => n == s,
        }
    }
}

/// The hosts one term names, in inventory order.
fn match_term(inv: &Inventory, term: &str) -> Result<Vec<String>, String> {
    let (base, sub) = split_subscript(term);
    let base = if base == "*" { "all" } else { base };
    let m = Matcher::new(base)?;
    let mut out: Vec<String> = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let groups: Vec<&String> = inv.groups.keys().filter(|g| m.is_match(g)).collect();
    for g in &groups {
        for h in inv.group_hosts(g) {
            if seen.insert(h.clone()) {
                out.push(h);
            }
        }
    }
    if groups.is_empty() || base.starts_with('~') || base.contains(['.', '?', '*', '[']) {
        for h in inv.hosts.iter().filter(|h| m.is_match(h)) {
            if seen.insert(h.clone()) {
                out.push(h.clone());
            }
        }
    }
    Ok(apply_subscript(out, sub))
}

/// Evaluates patterns (each may hold several terms). Returns the hosts and warnings.
pub fn evaluate(
    inv: &Inventory,
    patterns: &[String],
) -> Result<(Vec<String>, Vec<String>), String> {
    let mut terms: Vec<(Op, String)> = Vec::new();
    for p in patterns {
        for t in split(p) {
            if let Some(x) = t.strip_prefix('&') {
                terms.push((Op::Intersect, x.to_string()));
            } else if let Some(x) = t.strip_prefix('!') {
                terms.push((Op::Exclude, x.to_string()));
            } else {
                terms.push((Op::Union, t));
            }
        }
    }
    if !terms.iter().any(|(o, _)| *o == Op::Union) {
        terms.insert(0, (Op::Union, "all".into()));
    }
    let mut warnings = Vec::new();
    let mut hosts: Vec<String> = Vec::new();
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for op in [Op::Union, Op::Intersect, Op::Exclude] {
        for (o, t) in terms.iter().filter(|(o, _)| *o == op) {
            let m = match_term(inv, t)?;
            if m.is_empty() {
                warnings.push(format!(
                    "Could not match supplied host pattern, ignoring: {t}"
                ));
            }
            match o {
                Op::Union => {
                    for h in m {
                        if seen.insert(h.clone()) {
                            hosts.push(h);
                        }
                    }
                }
                Op::Intersect => {
                    let s: BTreeSet<String> = m.into_iter().collect();
                    hosts.retain(|h| s.contains(h));
                }
                Op::Exclude => {
                    let s: BTreeSet<String> = m.into_iter().collect();
                    hosts.retain(|h| !s.contains(h));
                }
            }
        }
    }
    Ok((hosts, warnings))
}

/// The hosts of `pattern` restricted by `limit` (when given), in pattern order.
/// `limit` entries starting with `@` must already have been replaced by the file's lines.
pub fn select(
    inv: &Inventory,
    pattern: &[String],
    limit: Option<&[String]>,
) -> Result<(Vec<String>, Vec<String>), String> {
    let (mut hosts, mut warnings) = evaluate(inv, pattern)?;
    if let Some(limit) = limit {
        let (lim, w) = evaluate(inv, limit)?;
        warnings.extend(w);
        let s: BTreeSet<String> = lim.into_iter().collect();
        hosts.retain(|h| s.contains(h));
    }
    Ok((hosts, warnings))
}

/// Lines of an `@file` limit (Ansible's retry files): one host or pattern per line.
pub fn limit_file_terms(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{ini, Inventory};

    fn inv() -> Inventory {
        let mut inv = Inventory::new();
        ini::parse(
            &mut inv,
            "t",
            "[webservers]\nweb1.example.com\nweb2.example.com\nweb3.example.com\n[dbservers]\ndb1.example.com\nweb3.example.com\n[atlanta]\nweb1.example.com\ndb1.example.com\n[staging]\nweb2.example.com\nweb3.example.com\n[production]\nweb1.example.com\ndb1.example.com\n[other]\n192.0.2.10\n192.0.3.11\none.example.com\n",
        )
        .unwrap();
        inv.finish().unwrap();
        inv
    }

    fn sel(p: &str) -> Vec<String> {
        evaluate(&inv(), &[p.to_string()]).unwrap().0
    }

    #[test]
    fn splitting() {
        assert_eq!(split("a:b:&c:!d"), ["a", "b", "&c", "!d"]);
        assert_eq!(split("web[0:2]:db"), ["web[0:2]", "db"]);
        assert_eq!(split("a, b,!c"), ["a", "b", "!c"]);
    }

    /// The table of Ansible's patterns guide.
    #[test]
    fn ansible_guide_patterns() {
        assert_eq!(sel("all").len(), 7);
        assert_eq!(sel("*").len(), 7);
        assert_eq!(sel("web1.example.com"), ["web1.example.com"]);
        assert_eq!(
            sel("web1.example.com:db1.example.com"),
            ["web1.example.com", "db1.example.com"]
        );
        assert_eq!(
            sel("web1.example.com,db1.example.com"),
            ["web1.example.com", "db1.example.com"]
        );
        assert_eq!(
            sel("webservers"),
            ["web1.example.com", "web2.example.com", "web3.example.com"]
        );
        assert_eq!(sel("webservers:dbservers").len(), 4);
        assert_eq!(
            sel("webservers:!atlanta"),
            ["web2.example.com", "web3.example.com"]
        );
        assert_eq!(
            sel("webservers:&staging"),
            ["web2.example.com", "web3.example.com"]
        );
        assert_eq!(
            sel("webservers:dbservers:&staging:!web3.example.com"),
            ["web2.example.com"]
        );
        // order of writing does not matter: union, then intersection, then exclusion
        assert_eq!(
            sel("!web3.example.com:&staging:webservers:dbservers"),
            ["web2.example.com"]
        );
        assert_eq!(sel("192.0.*"), ["192.0.2.10", "192.0.3.11"]);
        assert_eq!(sel("*.example.com").len(), 5);
        assert_eq!(
            sel("one*.com:dbservers"),
            ["one.example.com", "db1.example.com", "web3.example.com"]
        );
        assert_eq!(sel("~(web|db).*\\.example\\.com").len(), 4);
        assert_eq!(sel("~web[12]"), ["web1.example.com", "web2.example.com"]);
    }

    #[test]
    fn subscripts_are_inclusive() {
        assert_eq!(sel("webservers[0]"), ["web1.example.com"]);
        assert_eq!(sel("webservers[-1]"), ["web3.example.com"]);
        assert_eq!(sel("webservers[0:2]").len(), 3);
        assert_eq!(
            sel("webservers[1:]"),
            ["web2.example.com", "web3.example.com"]
        );
        assert_eq!(
            sel("webservers[0:1]"),
            ["web1.example.com", "web2.example.com"]
        );
        assert_eq!(sel("webservers[7]"), Vec::<String>::new());
    }

    #[test]
    fn only_exclusions_start_from_all() {
        assert_eq!(sel("!webservers").len(), 4);
        assert_eq!(sel("&staging"), ["web2.example.com", "web3.example.com"]);
    }

    #[test]
    fn unknown_terms_warn_like_ansible() {
        let (h, w) = evaluate(&inv(), &["nosuchgroup:webservers".into()]).unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(
            w,
            ["Could not match supplied host pattern, ignoring: nosuchgroup"]
        );
        assert!(evaluate(&inv(), &["~(".into()])
            .unwrap_err()
            .contains("invalid regex"));
    }

    #[test]
    fn limit_and_retry_files() {
        let terms = limit_file_terms("web2.example.com\n\ndb1.example.com\n");
        let (h, _) = select(&inv(), &["all".into()], Some(&terms)).unwrap();
        assert_eq!(h, ["web2.example.com", "db1.example.com"]);
        let (h, _) = select(&inv(), &["webservers".into()], Some(&["atlanta".into()])).unwrap();
        assert_eq!(h, ["web1.example.com"]);
    }

    #[test]
    fn globs() {
        assert!(Matcher::new("w[12]").unwrap().is_match("w1"));
        assert!(!Matcher::new("w[12]").unwrap().is_match("w3"));
    }
}
