//! `~/.ssh/config` (operator input): `Match` blocks blanked out, then ssh2-config's parser, then
//! a target built for a few host names from it.
#![no_main]
use fleetrestart::reach::ssh_config::{parse_ssh_config, without_match_blocks};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (clean, _) = without_match_blocks(text);
    if let Ok(cfg) = parse_ssh_config(&clean, std::path::Path::new("/home/fuzz")) {
        for h in ["web1", "10.0.0.1", "bastion"] {
            let _ = cfg.query(h);
        }
    }
});
