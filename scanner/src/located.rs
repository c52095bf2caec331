//! [`Located`]: the one error type for every input file the project reads (rules, inventories,
//! campaign files, journals): the file, the line and column when known, and what was expected.
//! Displayed as `file:line:column: message`. Pure.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub file: String,
    /// 1-based, when known.
    pub line: Option<usize>,
    /// 1-based, when known (only with a line).
    pub column: Option<usize>,
    pub message: String,
}

impl Located {
    pub fn new(
        file: &str,
        line: Option<usize>,
        column: Option<usize>,
        message: impl Into<String>,
    ) -> Located {
        Located {
            file: file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }

    /// At a line and column.
    pub fn at(file: &str, line: usize, column: usize, message: impl Into<String>) -> Located {
        Located::new(file, Some(line), Some(column), message)
    }

    /// A YAML error at its place, its message without serde_norway's own " at line …" suffix,
    /// after `context`.
    pub fn yaml(file: &str, context: &str, e: &serde_norway::Error) -> Located {
        let loc = e.location();
        let text = e.to_string();
        let msg = text.split(" at line ").next().unwrap_or_default();
        Located::new(
            file,
            loc.as_ref().map(|l| l.line()),
            loc.as_ref().map(|l| l.column()),
            format!("{context}{}", in_words(msg)),
        )
    }

    /// A JSON error at its place, its message without serde_json's own " at line …" suffix,
    /// after `context`.
    pub fn json(file: &str, context: &str, e: &serde_json::Error) -> Located {
        let text = e.to_string();
        let msg = text.split(" at line ").next().unwrap_or_default();
        let line = (e.line() > 0).then_some(e.line());
        Located::new(
            file,
            line,
            line.map(|_| e.column()),
            format!("{context}{}", in_words(msg)),
        )
    }
}

/// A serde message in the operator's words: what was expected, never a Rust type name.
pub fn in_words(msg: &str) -> String {
    const TYPES: [(&str, &str); 11] = [
        ("u8", "a whole number from 0 to 255"),
        ("u16", "a whole number from 0 to 65535"),
        ("u32", "a whole number from 0 to 4294967295"),
        ("u64", "a whole number, 0 or more"),
        ("usize", "a whole number, 0 or more"),
        ("i8", "a whole number"),
        ("i16", "a whole number"),
        ("i32", "a whole number"),
        ("i64", "a whole number"),
        ("f32", "a number"),
        ("f64", "a number"),
    ];
    let mut m = msg.to_string();
    for (t, words) in TYPES {
        let end = format!("expected {t}");
        if m.ends_with(&end) {
            m.truncate(m.len() - end.len());
            m.push_str("expected ");
            m.push_str(words);
        }
    }
    m.replace("invalid type: Option value", "nothing (an empty value)")
        .replace("invalid type: enum", "a tagged value (`!tag`)")
        .replace("invalid type: integer", "the number")
        .replace("invalid value: integer", "the number")
        .replace("invalid type: floating point", "the number")
        .replace("invalid type: string", "the text")
        .replace("invalid type: sequence", "a list")
        .replace("invalid type: map", "a mapping")
        .replace("invalid type: boolean", "the boolean")
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for Located {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_and_messages() {
        assert_eq!(
            Located::at("r.yml", 3, 5, "bad").to_string(),
            "r.yml:3:5: bad"
        );
        assert_eq!(
            Located::new("inv", Some(2), None, "x").to_string(),
            "inv:2: x"
        );
        assert_eq!(Located::new("j", None, None, "x").to_string(), "j: x");
        let e = serde_norway::from_str::<std::collections::BTreeMap<String, u32>>("a: 1\nb: x\n")
            .unwrap_err();
        let l = Located::yaml("f.yml", "in f: ", &e);
        assert_eq!((l.line, l.column), (Some(2), Some(4)), "{l}");
        assert!(
            l.message.starts_with("in f: ") && !l.message.contains(" at line "),
            "{l}"
        );
        let e = serde_json::from_str::<u32>("\n  \"x\"").unwrap_err();
        let l = Located::json("f.json", "", &e);
        assert_eq!(l.line, Some(2), "{l}");
        assert!(!l.message.contains(" at line "), "{l}");
    }

    #[test]
    fn messages_say_what_is_expected_in_words() {
        // the newcomer study's D3 and B5: negative and out-of-range numbers, an empty file
        let msg = |text: &str| {
            #[derive(serde::Deserialize, Debug)]
            #[allow(dead_code)]
            struct S {
                window: Option<usize>,
                port: Option<u16>,
                retries: Option<u32>,
            }
            let e = serde_norway::from_str::<S>(text).unwrap_err();
            Located::yaml("c.yml", "", &e).message
        };
        assert_eq!(
            msg("window: -3\n"),
            "window: the number `-3`, expected a whole number, 0 or more"
        );
        assert_eq!(
            msg("port: 70000\n"),
            "port: the number `70000`, expected a whole number from 0 to 65535"
        );
        assert_eq!(
            msg("retries: x\n"),
            "retries: the text \"x\", expected a whole number from 0 to 4294967295"
        );
        assert_eq!(
            in_words("invalid type: Option value, expected a mapping of group names"),
            "nothing (an empty value), expected a mapping of group names"
        );
        for m in [msg("window: -3\n"), msg("port: 70000\n")] {
            for jargon in ["usize", "u16", "u32", "invalid type", "invalid value"] {
                assert!(!m.contains(jargon), "{m}");
            }
        }
    }
}
