//! One campaign at a time per host: a lease on the host, `/run/fleetrestart/lease`, naming the
//! campaign, the controller and when it expires. Taken before the drain, released after the
//! undrain; a holder that dies leaves a lease that expires (`/run` is also emptied by a reboot).
//! Another campaign (another controller, or a second one on the same machine) that finds it
//! held waits, then looks at the host again before it acts: it never restarts what the holder
//! has just restarted (two controllers started a second apart restarted every service twice).
//! Releasing leaves `/run/fleetrestart/released` (campaign, time), so that a campaign that did
//! not have to wait still knows another one worked on the host since its audit.
//!
//! Pure: the scripts (every value validated, then quoted) and the parser of their answers.

use crate::shell::quote;

/// Where the lease lives on a host (tmpfs: cleared by a reboot).
pub const DIR: &str = "/run/fleetrestart";

/// What taking the lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// Ours now. `released`: the last campaign that released it and when (host's clock).
    Ours { released: Option<(String, u64)> },
    /// Held by another campaign until `until` (host's clock, Unix seconds).
    Held {
        campaign: String,
        controller: String,
        until: u64,
    },
    /// Another controller took it between our look and our write: look again.
    Raced,
}

/// A campaign id or a controller name: letters, digits and `._:@-`, at most 100 (what reaches
/// the host's shell, quoted besides).
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:@-".contains(&b))
}

/// The script that takes the lease for `campaign` (held by `controller`) for `ttl` seconds: a
/// lease of the same campaign is taken again (a resume), an expired one taken over, a live one
/// of another campaign reported. The write is exclusive (`set -C`): of two controllers that
/// both saw it free, one gets it and the other is told it raced.
pub fn take_script(campaign: &str, controller: &str, ttl: u64) -> Result<String, String> {
    for v in [campaign, controller] {
        if !valid_name(v) {
            return Err(format!("refusing {v:?} as a lease holder's name"));
        }
    }
    Ok(format!(
        "umask 077; d={DIR}; f=$d/lease; me={}; who={}
mkdir -p \"$d\" || exit 3
now=$(date +%s)
if [ -f \"$f\" ]; then
  c=; w=; u=; read -r c w u _ < \"$f\"
  if [ \"$c\" != \"$me\" ] && [ \"$u\" -gt \"$now\" ] 2>/dev/null; then echo \"held $c $w $u\"; exit 0; fi
  rm -f \"$f\"
fi
if (set -C; echo \"$me $who $((now + {ttl}))\" > \"$f\") 2>/dev/null; then
  r=; [ -f \"$d/released\" ] && read -r r < \"$d/released\"; echo \"taken $r\"
else echo raced; fi
",
        quote(campaign),
        quote(controller)
    ))
}

/// The script that releases `campaign`'s lease (only its own) and records the release.
pub fn release_script(campaign: &str) -> Result<String, String> {
    if !valid_name(campaign) {
        return Err(format!("refusing {campaign:?} as a lease holder's name"));
    }
    Ok(format!(
        "d={DIR}; f=$d/lease; me={}
c=; [ -f \"$f\" ] && read -r c _ < \"$f\"
if [ \"$c\" = \"$me\" ]; then echo \"$me $(date +%s)\" > \"$d/released\"; rm -f \"$f\"; fi
exit 0
",
        quote(campaign)
    ))
}

/// Parses [`take_script`]'s answer (bounded, validated: a name that is not valid is not
/// believed).
pub fn parse_take(out: &str) -> Result<Taken, String> {
    let line = out.lines().next().unwrap_or("").trim();
    let w: Vec<&str> = line.split_whitespace().collect();
    match w.as_slice() {
        ["taken"] => Ok(Taken::Ours { released: None }),
        ["taken", c, t] if valid_name(c) => Ok(Taken::Ours {
            released: t.parse().ok().map(|t| (c.to_string(), t)),
        }),
        ["taken", ..] => Ok(Taken::Ours { released: None }),
        ["held", c, w, u] if valid_name(c) && valid_name(w) => Ok(Taken::Held {
            campaign: c.to_string(),
            controller: w.to_string(),
            until: u
                .parse()
                .map_err(|_| format!("a lease with no expiry: {line:?}"))?,
        }),
        ["raced"] => Ok(Taken::Raced),
        _ => Err(format!(
            "unexpected answer while taking the lease: {:?}",
            line.chars().take(200).collect::<String>()
        )),
    }
}

/// Whether another campaign worked on the host since `audited_at` (the host's clock at its
/// audit), so that what the audit saw may be stale: look again.
pub fn touched_since(taken: &Taken, me: &str, audited_at: Option<u64>) -> bool {
    match (taken, audited_at) {
        (
            Taken::Ours {
                released: Some((c, t)),
            },
            Some(a),
        ) => c != me && *t >= a,
        // no audit time (an older plan): any release by another campaign counts
        (
            Taken::Ours {
                released: Some((c, _)),
            },
            None,
        ) => c != me,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn sh(script: &str, root: &std::path::Path) -> String {
        // the scripts run against a scratch directory instead of /run
        let s = script.replace(DIR, root.to_str().unwrap());
        let o = Command::new("sh").arg("-c").arg(s).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    #[test]
    fn one_campaign_at_a_time_and_an_expired_lease_is_taken_over() {
        let root = std::env::temp_dir().join(format!("fr-lease-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let take = |c: &str, ttl| sh(&take_script(c, "ctl1:42", ttl).unwrap(), &root);
        assert_eq!(
            parse_take(&take("aaa", 600)),
            Ok(Taken::Ours { released: None })
        );
        // a resume of the same campaign takes it again
        assert_eq!(
            parse_take(&take("aaa", 600)),
            Ok(Taken::Ours { released: None })
        );
        let Ok(Taken::Held {
            campaign,
            controller,
            ..
        }) = parse_take(&take("bbb", 600))
        else {
            panic!("bbb must find it held")
        };
        assert_eq!((campaign.as_str(), controller.as_str()), ("aaa", "ctl1:42"));
        // another campaign's release does nothing; the holder's leaves a record
        sh(&release_script("bbb").unwrap(), &root);
        assert!(matches!(
            parse_take(&take("bbb", 600)),
            Ok(Taken::Held { .. })
        ));
        sh(&release_script("aaa").unwrap(), &root);
        let t = parse_take(&take("bbb", 0)).unwrap();
        let Taken::Ours {
            released: Some((c, at)),
        } = &t
        else {
            panic!("{t:?}")
        };
        assert_eq!(c, "aaa");
        assert!(touched_since(&t, "bbb", Some(*at)));
        assert!(!touched_since(&t, "bbb", Some(at + 1)));
        assert!(!touched_since(&t, "aaa", Some(0)));
        // bbb's lease had a ttl of 0: expired, taken over
        assert!(matches!(
            parse_take(&take("ccc", 600)),
            Ok(Taken::Ours { .. })
        ));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn names_and_answers_are_checked() {
        assert!(take_script("a b", "c", 1).is_err());
        assert!(take_script("abc", "x;reboot", 1).is_err());
        assert!(release_script("$(id)").is_err());
        assert_eq!(parse_take("raced\n"), Ok(Taken::Raced));
        assert!(parse_take("held a b\n").is_err());
        assert!(parse_take("held a b never\n").is_err());
        assert!(parse_take("Could not chdir to home directory\n").is_err());
        assert_eq!(
            parse_take("taken a;b 12\n"),
            Ok(Taken::Ours { released: None })
        );
    }

    /// The script lines of the playbook task named `task` (its `shell: |` block).
    fn playbook_script(yaml: &str, task: &str) -> String {
        let mut lines = yaml.lines().skip_while(|l| !l.contains(task)).skip(1);
        assert!(
            lines
                .next()
                .is_some_and(|l| l.trim() == "ansible.builtin.shell: |"),
            "{task}: a shell block"
        );
        let body: Vec<&str> = lines
            .take_while(|l| l.starts_with("            "))
            .map(|l| &l[12..])
            .collect();
        body.join("\n") + "\n"
    }

    #[test]
    fn the_playbook_takes_and_releases_the_same_lease() {
        // rolling_restart.yml holds the controller's scripts, with Jinja for the values
        let yaml = include_str!("../../playbooks/rolling_restart.yml");
        let jinja = |s: String| {
            s.replace("{{ fleetrestart_lease_id | quote }}", "<ME>")
                .replace("{{ fleetrestart_lease_holder | quote }}", "<WHO>")
                .replace("{{ lease_ttl | default(1800) | int }}", "<TTL>")
        };
        let ours = |s: String| {
            s.replace(&quote("CAMP"), "<ME>")
                .replace(&quote("ctl:1"), "<WHO>")
                .replace("+ 1800))", "+ <TTL>))")
        };
        assert_eq!(
            jinja(playbook_script(yaml, "Take the host's lease")),
            ours(take_script("CAMP", "ctl:1", 1800).unwrap())
        );
        assert_eq!(
            jinja(playbook_script(yaml, "Release the host's lease")),
            ours(release_script("CAMP").unwrap())
        );
    }
}
