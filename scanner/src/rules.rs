//! The rules file: (exe or interpreter, user, cmdline, unit) → service, restart method, policy.
//!
//! Pure (the caller reads the user's file and passes its text). The defaults (`default_rules.yaml`) are built in; a
//! user file is merged over them ([`RuleSet::merge`]). Errors name file:line:column and what was
//! expected; unknown keys are errors, so a typo never silently disables a rule.

use regex_lite::Regex;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

pub const DEFAULT_RULES: &str = include_str!("default_rules.yaml");

/// What a campaign may do about a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Restarted by campaigns.
    #[default]
    Auto,
    /// Restarted only when the operator asks for it by name (PID 1 re-exec).
    Manual,
    /// Reported, never restarted (needrestart's override_rc list).
    Never,
    /// Only a reboot helps (restarting it would end every session).
    Reboot,
    /// A login session: reported with its user, never killed.
    Session,
    /// Not reported at all.
    Ignore,
}

impl Policy {
    /// The name the documents and the campaign file use (its serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Auto => "auto",
            Policy::Manual => "manual",
            Policy::Never => "never",
            Policy::Reboot => "reboot",
            Policy::Session => "session",
            Policy::Ignore => "ignore",
        }
    }
}

/// How a service is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// `systemctl restart UNIT`, or the init script on sysv hosts.
    #[default]
    Restart,
    /// Stop, kill the leftovers of the service, start (dovecot).
    StopKillStart,
    /// `systemctl daemon-reexec` (PID 1).
    DaemonReexec,
    /// Re-exec of a user manager (`systemctl --user daemon-reexec` / SIGRTMIN+25).
    UserReexec,
    /// Nothing can be done but wait or log out.
    None,
}

impl Method {
    /// The name the documents and the campaign file use (its serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Restart => "restart",
            Method::StopKillStart => "stop-kill-start",
            Method::DaemonReexec => "daemon-reexec",
            Method::UserReexec => "user-reexec",
            Method::None => "none",
        }
    }
}

/// A compiled regex that deserialises from a string (errors carry the YAML location).
#[derive(Clone)]
pub struct Pattern(pub Regex);

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}/", self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Regex::new(&s)
            .map(Pattern)
            .map_err(|e| serde::de::Error::custom(format!("invalid regex {s:?}: {e}")))
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Match {
    pub unit: Option<Pattern>,
    pub exe: Option<Pattern>,
    pub script: Option<Pattern>,
    pub user: Option<String>,
    pub cmdline: Option<Pattern>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    #[serde(rename = "match")]
    pub matches: Match,
    pub service: Option<String>,
    #[serde(default)]
    pub method: Option<Method>,
    #[serde(default)]
    pub policy: Option<Policy>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    version: u32,
    #[serde(default = "yes")]
    defaults: bool,
    #[serde(default)]
    disable: Vec<String>,
    #[serde(default)]
    ignore_paths: Vec<Pattern>,
    #[serde(default)]
    rules: Vec<Rule>,
}

fn yes() -> bool {
    true
}

/// The facts of a process that rules look at.
#[derive(Debug, Default)]
pub struct Facts<'a> {
    pub unit: Option<&'a str>,
    pub exe: &'a str,
    pub script: Option<&'a str>,
    pub user: &'a str,
    pub cmdline: &'a str,
}

/// A rules-file error, located.
pub type RulesError = crate::located::Located;

/// The effective rules: user rules first, then the built-in ones not disabled.
#[derive(Debug, Clone)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub ignore_paths: Vec<Regex>,
}

/// The rules a scan classifies with: the given set, or the built-in rules, parsed at their
/// first use. A host with nothing stale never needs them, and parsing them (YAML, regexes) was
/// half of the scanner's own work on such a host. The built-in rules add no ignore patterns
/// (a unit test holds it), so a scan reads those from the given set alone.
pub struct Rules<'a> {
    given: Option<&'a RuleSet>,
    builtin: std::cell::OnceCell<RuleSet>,
}

impl<'a> Rules<'a> {
    pub fn new(given: Option<&'a RuleSet>) -> Self {
        Rules {
            given,
            builtin: std::cell::OnceCell::new(),
        }
    }

    pub fn get(&self) -> &RuleSet {
        match self.given {
            Some(r) => r,
            None => self.builtin.get_or_init(RuleSet::defaults),
        }
    }

    /// The ignore patterns the rules add to the scan's filters.
    pub fn ignore_paths(&self) -> &[Regex] {
        self.given.map_or(&[], |r| &r.ignore_paths)
    }
}

impl RuleSet {
    /// The built-in rules alone.
    pub fn defaults() -> RuleSet {
        let f = parse_file("<built-in rules>", DEFAULT_RULES).expect("built-in rules parse");
        RuleSet {
            rules: f.rules,
            ignore_paths: f.ignore_paths.into_iter().map(|p| p.0).collect(),
        }
    }

    /// The built-in rules with a user file (its text, and its name for errors) merged over them.
    pub fn with_user_file(name: &str, text: &str) -> Result<RuleSet, RulesError> {
        let user = parse_file(name, text)?;
        let mut set = if user.defaults {
            RuleSet::defaults()
        } else {
            RuleSet {
                rules: vec![],
                ignore_paths: vec![],
            }
        };
        for d in &user.disable {
            if user.defaults && !set.rules.iter().any(|r| &r.name == d) {
                return Err(RulesError::at(
                    name,
                    1,
                    1,
                    format!("`disable` names {d:?}, which is not a built-in rule"),
                ));
            }
        }
        set.rules.retain(|r| !user.disable.contains(&r.name));
        let mut rules = user.rules;
        rules.append(&mut set.rules);
        set.rules = rules;
        set.ignore_paths
            .extend(user.ignore_paths.into_iter().map(|p| p.0));
        Ok(set)
    }

    /// The first rule that matches, if any.
    pub fn find(&self, facts: &Facts) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matches(facts))
    }
}

impl Rule {
    pub fn matches(&self, f: &Facts) -> bool {
        let m = &self.matches;
        let re = |p: &Option<Pattern>, v: Option<&str>| match p {
            None => true,
            Some(p) => v.is_some_and(|v| p.0.is_match(v)),
        };
        re(&m.unit, f.unit)
            && re(&m.exe, Some(f.exe))
            && re(&m.script, f.script)
            && re(&m.cmdline, Some(f.cmdline))
            && m.user.as_deref().is_none_or(|u| u == f.user)
    }
}

fn parse_file(name: &str, text: &str) -> Result<RulesFile, RulesError> {
    let located =
        |line: usize, column: usize, message: String| RulesError::at(name, line, column, message);
    let f: RulesFile = serde_norway::from_str(text).map_err(|e| {
        let mut l = RulesError::yaml(name, "", &e);
        l.line = l.line.or(Some(1));
        l.column = l.column.or(Some(1));
        l
    })?;
    if f.version != 1 {
        return Err(located(
            1,
            1,
            format!("unsupported rules version {}, expected 1", f.version),
        ));
    }
    for (i, r) in f.rules.iter().enumerate() {
        let m = &r.matches;
        if m.unit.is_none()
            && m.exe.is_none()
            && m.script.is_none()
            && m.user.is_none()
            && m.cmdline.is_none()
        {
            let line = line_of_rule(text, &r.name);
            return Err(located(line, 1, format!("rules[{i}] ({:?}): `match` needs at least one of unit, exe, script, user, cmdline", r.name)));
        }
        if let Some(s) = &r.service {
            if !crate::names::is_valid_service(s) {
                let line = line_of_rule(text, &r.name);
                return Err(located(
                    line,
                    1,
                    format!(
                        "rules[{i}] ({:?}): service {s:?} is not a valid service name",
                        r.name
                    ),
                ));
            }
        }
    }
    Ok(f)
}

/// Best-effort line of a rule for errors found after parsing (by its `name:`).
fn line_of_rule(text: &str, name: &str) -> usize {
    text.lines()
        .position(|l| l.contains("name:") && l.contains(name))
        .map(|i| i + 1)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_is_the_documents_name() {
        use Method::*;
        use Policy::*;
        for p in [Auto, Manual, Never, Reboot, Policy::Session, Ignore] {
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        for m in [
            Restart,
            StopKillStart,
            DaemonReexec,
            UserReexec,
            Method::None,
        ] {
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
    }

    #[test]
    fn built_in_rules_are_parsed_at_first_use_and_add_no_ignore_patterns() {
        // a scan takes its ignore patterns from the given rules alone (Rules::ignore_paths):
        // an ignore pattern added to the built-in file would be silently skipped
        assert!(RuleSet::defaults().ignore_paths.is_empty());
        let r = Rules::new(None);
        assert!(r.ignore_paths().is_empty());
        assert!(r.builtin.get().is_none(), "not parsed before use");
        assert!(!r.get().rules.is_empty());
        assert!(r.builtin.get().is_some());
        let mine =
            RuleSet::with_user_file("u", "version: 1\ndefaults: false\nignore_paths: ['^/x/']\n")
                .unwrap();
        let r = Rules::new(Some(&mine));
        assert_eq!(r.ignore_paths().len(), 1);
        assert!(r.get().rules.is_empty());
        assert!(r.builtin.get().is_none());
    }

    #[test]
    fn defaults_parse_and_match_octopuce_cases() {
        let set = RuleSet::defaults();
        let f = Facts {
            exe: "/usr/bin/lua5.1",
            user: "prosody",
            cmdline: "lua5.1 /usr/bin/prosody",
            ..Default::default()
        };
        assert_eq!(set.find(&f).unwrap().service.as_deref(), Some("prosody"));
        let f = Facts {
            exe: "/usr/bin/python3.11",
            user: "root",
            cmdline: "/usr/bin/python3 /usr/bin/fail2ban-server -xf start",
            ..Default::default()
        };
        assert_eq!(set.find(&f).unwrap().name, "fail2ban");
        let f = Facts {
            exe: "/usr/lib/dovecot/imap-login",
            user: "dovenull",
            cmdline: "dovecot/imap-login",
            ..Default::default()
        };
        assert_eq!(set.find(&f).unwrap().method, Some(Method::StopKillStart));
        let f = Facts {
            unit: Some("dbus.service"),
            exe: "/usr/bin/dbus-daemon",
            user: "messagebus",
            cmdline: "",
            ..Default::default()
        };
        assert_eq!(set.find(&f).unwrap().policy, Some(Policy::Reboot));
        let f = Facts {
            unit: Some("getty@tty1.service"),
            exe: "/sbin/agetty",
            user: "root",
            cmdline: "",
            ..Default::default()
        };
        assert_eq!(set.find(&f).unwrap().policy, Some(Policy::Never));
        let f = Facts {
            unit: Some("cron.service"),
            exe: "/usr/sbin/cron",
            user: "root",
            cmdline: "/usr/sbin/cron -f",
            ..Default::default()
        };
        assert!(set.find(&f).is_none());
    }

    #[test]
    fn user_rules_come_first_and_can_disable_defaults() {
        let text = "version: 1\ndisable: [dbus]\nignore_paths: ['^/opt/scratch/']\nrules:\n  - name: myapp\n    match: { exe: '^/opt/myapp/bin/run$', user: app }\n    service: myapp\n    method: stop-kill-start\n";
        let set = RuleSet::with_user_file("u.yaml", text).unwrap();
        assert_eq!(set.rules[0].name, "myapp");
        assert!(!set.rules.iter().any(|r| r.name == "dbus"));
        assert!(set
            .ignore_paths
            .iter()
            .any(|r| r.is_match("/opt/scratch/x")));
        let f = Facts {
            unit: Some("dbus.service"),
            exe: "/usr/bin/dbus-daemon",
            user: "messagebus",
            cmdline: "",
            ..Default::default()
        };
        assert!(set.find(&f).is_none());
    }

    #[test]
    fn errors_name_file_line_column() {
        let text = "version: 1\nrules:\n  - name: x\n    mach: { exe: 'a' }\n";
        let e = RuleSet::with_user_file("r.yaml", text).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("r.yaml", Some(4)), "{e}");
        assert!(e.message.contains("unknown field `mach`"), "{e}");
        assert!(e.to_string().starts_with("r.yaml:4:"), "{e}");

        let e = RuleSet::with_user_file(
            "r.yaml",
            "version: 1\nrules:\n  - name: x\n    match: { exe: '(' }\n",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("invalid regex"), "{e}");

        let e = RuleSet::with_user_file(
            "r.yaml",
            "version: 1\nrules:\n  - name: x\n    match: { exe: a }\n    policy: sometimes\n",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.message.contains("unknown variant `sometimes`"), "{e}");

        let e = RuleSet::with_user_file("r.yaml", "version: 2\n").unwrap_err();
        assert!(e.message.contains("unsupported rules version 2"), "{e}");

        let e = RuleSet::with_user_file(
            "r.yaml",
            "version: 1\nrules:\n  - name: empty\n    match: {}\n",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");

        let e = RuleSet::with_user_file("r.yaml", "version: 1\nrules:\n  - name: bad\n    match: { exe: a }\n    service: 'x; rm -rf /'\n").unwrap_err();
        assert!(e.message.contains("not a valid service name"), "{e}");

        let e = RuleSet::with_user_file("r.yaml", "version: 1\ndisable: [nosuch]\n").unwrap_err();
        assert!(e.message.contains("nosuch"), "{e}");

        let e = RuleSet::with_user_file("r.yaml", "version: 1\nrules: [\n").unwrap_err();
        assert!(e.line >= Some(2), "{e}");
    }
}
