//! Events the audit emits while it runs; reporters (progress, NDJSON stream) render them.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    HostStarted {
        host: String,
    },
    HostConnected {
        host: String,
        elapsed_ms: u64,
    },
    ScannerUploaded {
        host: String,
        bytes: u64,
    },
    ScannerReused {
        host: String,
    },
    ScannerInstalled {
        host: String,
    },
    HostScanned {
        host: String,
        needs_action: bool,
        elapsed_ms: u64,
    },
    HostUnreachable {
        host: String,
        reason: String,
        elapsed_ms: u64,
    },
    HostFailed {
        host: String,
        reason: String,
        elapsed_ms: u64,
    },
}
