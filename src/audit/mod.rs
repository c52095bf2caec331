//! The audit: for each target, open a session, deliver and run the scanner, collect the result.
//!
//! Runs the targets on the [`executor`](crate::audit::executor) and emits [`Event`]s as it goes; never
//! drops a host: every target ends as a [`HostResult`] that is either a report or the reason it
//! failed (unreachable hosts apart from hosts that failed after connecting).
//!
//! Its parts: [`delivery`] (the scanner onto the host, once per version, and its report back),
//! [`scanners`] (the binaries this controller holds), [`executor`] (the bounded pool the hosts
//! run on) and [`events`] (what the audit tells its reporters as it goes).

pub mod delivery;
pub mod events;
pub mod executor;
pub mod scanners;

use crate::reach::connect::Connector;
use crate::reach::targets::Target;
use delivery::{Delivery, DeliveryConfig, HostError, HostScan};
use events::Event;
use scanners::ScannerSet;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct HostResult {
    pub host: String,
    pub outcome: Result<HostScan, HostError>,
    pub elapsed: Duration,
}

/// How a host's audit ended: one classification for every output (fleet view, JSON document,
/// Ansible inventory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostStatus {
    Ok,
    /// No session could be opened.
    Unreachable,
    /// Reached, but no report.
    Failed,
}

impl HostStatus {
    /// Its name in the documents (`status`).
    pub fn as_str(self) -> &'static str {
        match self {
            HostStatus::Ok => "ok",
            HostStatus::Unreachable => "unreachable",
            HostStatus::Failed => "failed",
        }
    }
}

impl HostResult {
    pub fn status(&self) -> HostStatus {
        match &self.outcome {
            Ok(_) => HostStatus::Ok,
            Err(HostError::Unreachable(_)) => HostStatus::Unreachable,
            Err(_) => HostStatus::Failed,
        }
    }
}

pub struct AuditContext {
    pub scanners: ScannerSet,
    pub delivery: DeliveryConfig,
    /// The user's rules file text, validated already; sent to each scanner on standard input.
    pub rules: Option<String>,
    /// How each host's session is opened (SSH settings, the whole-host time limit).
    pub connector: Connector,
    pub forks: usize,
}

impl AuditContext {
    /// The delivery settings for one host: its inventory's `fleetrestart_scanner` (an
    /// installed scanner) wins over the command line's.
    pub fn delivery_for(&self, target: &Target) -> DeliveryConfig {
        let mut cfg = self.delivery.clone();
        if target.installed_scanner.is_some() {
            cfg.installed_scanner = target.installed_scanner.clone();
        }
        cfg
    }
}

pub fn audit_one(target: &Target, ctx: &AuditContext, emit: &(dyn Fn(Event) + Sync)) -> HostResult {
    let t0 = Instant::now();
    let host = target.name.clone();
    emit(Event::HostStarted { host: host.clone() });
    let cfg = ctx.delivery_for(target);
    let outcome = ctx
        .connector
        .open(target, t0)
        .map_err(HostError::Unreachable)
        .and_then(|mut session| {
            emit(Event::HostConnected {
                host: host.clone(),
                elapsed_ms: t0.elapsed().as_millis() as u64,
            });
            delivery::scan_host(session.as_mut(), &ctx.scanners, &cfg, ctx.rules.as_deref())
        });
    let elapsed = t0.elapsed();
    let elapsed_ms = elapsed.as_millis() as u64;
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
                elapsed_ms,
            });
        }
        Err(HostError::Unreachable(reason)) => emit(Event::HostUnreachable {
            host: host.clone(),
            reason: reason.clone(),
            elapsed_ms,
        }),
        Err(e) => emit(Event::HostFailed {
            host: host.clone(),
            reason: e.to_string(),
            elapsed_ms,
        }),
    }
    HostResult {
        host,
        outcome,
        elapsed,
    }
}

/// Audits every target, at most `ctx.forks` at once; results in target order.
pub fn audit(
    targets: &[Target],
    ctx: &AuditContext,
    emit: &(dyn Fn(Event) + Sync),
) -> Vec<HostResult> {
    executor::run(
        targets,
        ctx.forks,
        |t| audit_one(t, ctx, emit),
        |t, msg| {
            emit(Event::HostFailed {
                host: t.name.clone(),
                reason: msg.clone(),
                elapsed_ms: 0,
            });
            HostResult {
                host: t.name.clone(),
                outcome: Err(HostError::Internal(msg)),
                elapsed: Duration::ZERO,
            }
        },
    )
}

/// The benchmark floor: the same sessions and pool, running `true` on every host instead of the
/// scanner. Each host's outcome, in target order.
pub fn floor(targets: &[Target], ctx: &AuditContext) -> Vec<Result<(), String>> {
    let limits = crate::transport::ExecLimits {
        timeout: ctx.delivery.command_timeout,
        ..Default::default()
    };
    executor::run(
        targets,
        ctx.forks,
        |t| {
            let out = ctx
                .connector
                .open(t, Instant::now())?
                .exec("true", b"", limits)
                .map_err(|e| e.to_string())?;
            match out.status {
                Some(0) => Ok(()),
                s => Err(format!("`true` exited with {s:?}")),
            }
        },
        |_, m| Err(m),
    )
}
