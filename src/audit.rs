//! The audit: for each target, open a session, deliver and run the scanner, collect the result.
//!
//! Emits [`Event`]s as it goes; never drops a host: every target ends as a [`HostResult`] that is
//! either a report or the reason it failed.

use crate::delivery::{self, Delivery, DeliveryConfig, HostError, HostScan};
use crate::events::Event;
use crate::scanners::ScannerSet;
use crate::transport::local::LocalSession;
use crate::transport::Session;
use std::time::{Duration, Instant};

/// How to reach a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// This machine, through `sh -c`.
    Local,
}

#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub connection: Connection,
}

#[derive(Debug)]
pub struct HostResult {
    pub host: String,
    pub outcome: Result<HostScan, HostError>,
    pub elapsed: Duration,
}

pub struct AuditContext<'a> {
    pub scanners: &'a ScannerSet,
    pub delivery: DeliveryConfig,
    /// The user's rules file text, validated already; sent to each scanner on standard input.
    pub rules: Option<String>,
}

fn open(target: &Target) -> Box<dyn Session> {
    match target.connection {
        Connection::Local => Box::new(LocalSession),
    }
}

pub fn audit_one(target: &Target, ctx: &AuditContext, emit: &dyn Fn(Event)) -> HostResult {
    let t0 = Instant::now();
    emit(Event::HostStarted {
        host: target.name.clone(),
    });
    let mut session = open(target);
    let outcome = delivery::scan_host(
        session.as_mut(),
        ctx.scanners,
        &ctx.delivery,
        ctx.rules.as_deref(),
    );
    let elapsed = t0.elapsed();
    let host = target.name.clone();
    match &outcome {
        Ok(scan) => {
            emit(match scan.delivery {
                Delivery::Uploaded(bytes) => Event::ScannerUploaded {
                    host: host.clone(),
                    bytes,
                },
                Delivery::Reused => Event::ScannerReused { host: host.clone() },
                Delivery::Installed => Event::ScannerInstalled { host: host.clone() },
            });
            emit(Event::HostScanned {
                host: host.clone(),
                needs_action: scan.report.needs_action(),
                elapsed_ms: elapsed.as_millis() as u64,
            });
        }
        Err(e) => emit(Event::HostFailed {
            host: host.clone(),
            reason: e.to_string(),
            elapsed_ms: elapsed.as_millis() as u64,
        }),
    }
    HostResult {
        host,
        outcome,
        elapsed,
    }
}

pub fn audit(targets: &[Target], ctx: &AuditContext, emit: &dyn Fn(Event)) -> Vec<HostResult> {
    targets.iter().map(|t| audit_one(t, ctx, emit)).collect()
}
