//! known_hosts files (user and global files: partly written by accept-new from host keys):
//! parse, then look up a few names and keys, and the algorithm preference.
#![no_main]
use fleetrestart::transport::hostfile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (entries, _warnings) = hostfile::parse(&text, "fuzz");
    let keys: Vec<Vec<u8>> = entries.iter().map(|e| e.key.clone()).collect();
    // looked up through the index the controller builds once per parse
    let known = hostfile::Known::new(entries);
    let ed = [
        &[0, 0, 0, 11][..],
        b"ssh-ed25519",
        &[0, 0, 0, 32],
        &[7u8; 32],
    ]
    .concat();
    for name in ["h", "[h]:2222", "web1.example.org", "10.0.0.1"] {
        // twice: the second lookup of a name comes from the index's memo
        for _ in 0..2 {
            let _ = hostfile::verdict(&known, name, &ed);
            for k in &keys {
                let _ = hostfile::verdict(&known, name, k);
            }
            let _ = hostfile::algorithm_preference(&known, name);
        }
    }
});
