//! Why a campaign stops starting hosts: one ordered reason (nextest's `CancelReason` is the
//! model). A stronger reason replaces a weaker one, never the reverse, so the reason reported at
//! the end, and the exit code it maps to, is the most serious thing that happened. Pure.

use serde::{Deserialize, Serialize};

/// Weakest first: the derived order is the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The operator paused (first Ctrl-C): in-flight hosts finish, `resume` continues.
    Paused,
    /// A canary host did not pass.
    Canary,
    /// The failure budget is spent (it outranks a pause: resuming would stop again at once
    /// unless the budget is raised, which is what the operator must be told).
    Budget,
    /// The operator aborted (second Ctrl-C): in-flight hosts stop after their undrain.
    Aborted,
    /// The journal could not be written: nothing more may run unrecorded.
    JournalFailed,
}

/// A reason and what happened, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stop {
    pub reason: StopReason,
    pub detail: String,
}

impl Stop {
    pub fn new(reason: StopReason, detail: impl Into<String>) -> Stop {
        Stop {
            reason,
            detail: detail.into(),
        }
    }

    /// The line for the operator.
    pub fn describe(&self) -> String {
        match self.reason {
            StopReason::Budget => format!("failure budget spent: {}", self.detail),
            _ => self.detail.clone(),
        }
    }

    /// `current` after `new` arrives: the stronger of the two (the first of equals).
    pub fn merge(current: &mut Option<Stop>, new: Stop) {
        if current.as_ref().is_none_or(|c| new.reason > c.reason) {
            *current = Some(new);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stronger_reason_stays() {
        use StopReason::*;
        let mut s = None;
        Stop::merge(&mut s, Stop::new(Paused, "paused"));
        Stop::merge(&mut s, Stop::new(Paused, "paused again"));
        assert_eq!(s.as_ref().unwrap().detail, "paused", "the first of equals");
        Stop::merge(&mut s, Stop::new(Budget, "max_failures 0"));
        assert_eq!(
            s.as_ref().unwrap().describe(),
            "failure budget spent: max_failures 0"
        );
        Stop::merge(&mut s, Stop::new(Canary, "canary"));
        Stop::merge(&mut s, Stop::new(Paused, "paused"));
        assert_eq!(s.as_ref().unwrap().reason, Budget);
        Stop::merge(&mut s, Stop::new(Aborted, "aborted"));
        Stop::merge(&mut s, Stop::new(JournalFailed, "disk full"));
        Stop::merge(&mut s, Stop::new(Aborted, "aborted"));
        assert_eq!(s.unwrap().reason, JournalFailed);
    }
}
