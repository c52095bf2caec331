//! Campaign journals (written by us, but read back after crashes, torn writes and hand edits):
//! strict replay.
#![no_main]
use fleetrestart::campaign::journal;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = journal::replay("fuzz.journal", &text);
});
