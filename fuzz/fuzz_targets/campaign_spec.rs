//! Campaign files (operator input): parsed with located errors, then validated.
#![no_main]
use fleetrestart::campaign::spec::Spec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = Spec::parse("fuzz.yml", text) {
        let _ = s.validate();
    }
});
