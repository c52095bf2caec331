//! The rules file (operator input, also sent to every host): parsed and merged over the
//! built-in rules, with located errors.
#![no_main]
use fleetrestart_scan::rules::RuleSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = RuleSet::with_user_file("fuzz.yml", text);
});
