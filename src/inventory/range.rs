//! Ansible host ranges: `web[01:50]`, `web[01:50:2]`, `db-[a:f].example.com`.
//!
//! Pure. Like Ansible: numeric bounds keep the width of the start (`[01:10]` → `01`…`10`), the
//! end is inclusive, a step is optional, letters go from one letter to another; several ranges in
//! one name multiply out. Errors say what was expected.

/// Largest number of names one pattern may expand to (a typo like `[0:99999999]` is refused).
pub const MAX_EXPANSION: usize = 100_000;

fn expand_one(spec: &str) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (start, end, step) = match parts.as_slice() {
        [s, e] => (*s, *e, 1usize),
        [s, e, st] => {
            let step: usize = st
                .parse()
                .map_err(|_| format!("range step {st:?} is not a positive number"))?;
            if step == 0 {
                return Err("range step must be at least 1".into());
            }
            (*s, *e, step)
        }
        _ => {
            return Err(format!(
                "range [{spec}] must be [start:end] or [start:end:step]"
            ))
        }
    };
    if start.is_empty() || end.is_empty() {
        return Err(format!("range [{spec}] needs a start and an end"));
    }
    let alpha = |s: &str| s.len() == 1 && s.as_bytes()[0].is_ascii_alphabetic();
    if alpha(start) && alpha(end) {
        let (a, b) = (start.as_bytes()[0], end.as_bytes()[0]);
        if a > b {
            return Err(format!("range [{spec}] goes backwards"));
        }
        return Ok((a..=b)
            .step_by(step)
            .map(|c| (c as char).to_string())
            .collect());
    }
    let a: u64 = start
        .parse()
        .map_err(|_| format!("range start {start:?} is not a number or a letter"))?;
    let b: u64 = end
        .parse()
        .map_err(|_| format!("range end {end:?} is not a number or a letter"))?;
    if a > b {
        return Err(format!("range [{spec}] goes backwards"));
    }
    if (b - a) as usize / step >= MAX_EXPANSION {
        return Err(format!(
            "range [{spec}] expands to more than {MAX_EXPANSION} hosts"
        ));
    }
    let width = start.len();
    Ok((a..=b)
        .step_by(step)
        .map(|n| format!("{n:0width$}"))
        .collect())
}

/// Expands every `[...]` range in a host name; a name without ranges is returned as is.
pub fn expand(pattern: &str) -> Result<Vec<String>, String> {
    let Some(open) = pattern.find('[') else {
        return Ok(vec![pattern.to_string()]);
    };
    let close = pattern[open..]
        .find(']')
        .map(|i| open + i)
        .ok_or_else(|| format!("{pattern:?}: '[' without ']'"))?;
    let (head, spec, tail) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    let middles = expand_one(spec).map_err(|e| format!("{pattern:?}: {e}"))?;
    let tails = expand(tail)?;
    if middles.len().saturating_mul(tails.len()) > MAX_EXPANSION {
        return Err(format!(
            "{pattern:?} expands to more than {MAX_EXPANSION} hosts"
        ));
    }
    let mut out = Vec::with_capacity(middles.len() * tails.len());
    for m in &middles {
        for t in &tails {
            out.push(format!("{head}{m}{t}"));
        }
    }
    Ok(out)
}

/// Folds host names for display: `web01 web02 web03 web05 db1` → `db1, web[01-03,05]`.
/// Names are grouped by their text around the last run of digits; widths are kept.
pub fn fold(names: &[&str]) -> String {
    use std::collections::BTreeMap;
    // (head, tail, digits) of every name that ends its last digit run with a number
    let mut split: Vec<(String, String, &str)> = Vec::new();
    let mut plain: Vec<String> = Vec::new();
    for n in names {
        let bytes = n.as_bytes();
        let Some(end) = bytes
            .iter()
            .rposition(|b| b.is_ascii_digit())
            .map(|e| e + 1)
        else {
            plain.push(n.to_string());
            continue;
        };
        let start = bytes[..end]
            .iter()
            .rposition(|b| !b.is_ascii_digit())
            .map(|i| i + 1)
            .unwrap_or(0);
        if end - start > 18 {
            plain.push(n.to_string());
            continue;
        }
        split.push((n[..start].to_string(), n[end..].to_string(), &n[start..end]));
    }
    // zero-padded numbers keep their width; an unpadded number joins a padded group of its
    // width (`web10` with `web01`), else the unpadded group (`h10` with `h1`)
    let padded: std::collections::BTreeSet<(String, String, usize)> = split
        .iter()
        .filter(|(_, _, d)| d.len() > 1 && d.starts_with('0'))
        .map(|(h, t, d)| (h.clone(), t.clone(), d.len()))
        .collect();
    let mut groups: BTreeMap<(String, String, usize), Vec<u64>> = BTreeMap::new();
    for (head, tail, digits) in split {
        let key = (head, tail, digits.len());
        let width = if padded.contains(&key) {
            digits.len()
        } else {
            0
        };
        let value: u64 = digits.parse().unwrap_or(0);
        groups.entry((key.0, key.1, width)).or_default().push(value);
    }
    let mut parts: Vec<String> = plain;
    for ((head, tail, width), mut nums) in groups {
        nums.sort_unstable();
        nums.dedup();
        if nums.len() == 1 {
            parts.push(format!("{head}{:0width$}{tail}", nums[0]));
            continue;
        }
        let mut runs: Vec<String> = Vec::new();
        let mut i = 0;
        while i < nums.len() {
            let mut j = i;
            while j + 1 < nums.len() && nums[j + 1] == nums[j] + 1 {
                j += 1;
            }
            runs.push(if i == j {
                format!("{:0width$}", nums[i])
            } else {
                format!("{:0width$}-{:0width$}", nums[i], nums[j])
            });
            i = j + 1;
        }
        parts.push(format!("{head}[{}]{tail}", runs.join(",")));
    }
    parts.sort();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansible_documented_ranges() {
        assert_eq!(
            expand("www[01:03].example.com").unwrap(),
            [
                "www01.example.com",
                "www02.example.com",
                "www03.example.com"
            ]
        );
        assert_eq!(expand("www[01:10:4]").unwrap(), ["www01", "www05", "www09"]);
        assert_eq!(
            expand("db-[a:c]-node").unwrap(),
            ["db-a-node", "db-b-node", "db-c-node"]
        );
        assert_eq!(expand("h[1:2][a:b]").unwrap(), ["h1a", "h1b", "h2a", "h2b"]);
        assert_eq!(expand("plain").unwrap(), ["plain"]);
        assert_eq!(
            expand("web[8:11]").unwrap(),
            ["web8", "web9", "web10", "web11"]
        );
    }

    #[test]
    fn bad_ranges_say_what_was_expected() {
        for (p, want) in [
            ("web[1:", "without ']'"),
            ("web[1]", "must be [start:end]"),
            ("web[5:1]", "goes backwards"),
            ("web[1:x]", "not a number"),
            ("web[1:5:0]", "at least 1"),
            ("web[0:99999999]", "more than"),
            ("web[:3]", "needs a start"),
        ] {
            let e = expand(p).unwrap_err();
            assert!(e.contains(want), "{p}: {e}");
        }
    }

    #[test]
    fn folding_is_the_inverse_for_display() {
        let names = expand("web[01:12]").unwrap();
        let mut v: Vec<&str> = names.iter().map(String::as_str).collect();
        v.push("web15");
        v.push("db1");
        v.push("bastion");
        assert_eq!(fold(&v), "bastion, db1, web[01-12,15]");
        assert_eq!(fold(&["h1", "h2", "h3", "h10"]), "h[1-3,10]");
        assert_eq!(fold(&["a1.x", "a2.x"]), "a[1-2].x");
        assert_eq!(fold(&[]), "");
    }
}
