//! A scanner report as the controller gets it from a host it does not trust: parsed with its
//! schema version and bounds checked, then folded into the fleet view.
#![no_main]
use fleetrestart::audit::HostResult;
use fleetrestart::audit::delivery::{parse_report, Delivery, HostScan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = parse_report(data) {
        let r = HostResult {
            host: "h1".into(),
            outcome: Ok(HostScan {
                report,
                delivery: Delivery::Reused,
            }),
            elapsed: std::time::Duration::ZERO,
        };
        let f = fleetrestart::report::fleet::fleet(&[r]);
        let _ = serde_json::to_string(&f);
    }
});
