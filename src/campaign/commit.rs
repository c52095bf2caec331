//! The journal as the engine and the host workers share it: each record is written in order
//! and is durable before its writer goes on (write-ahead, as before), but records written while
//! an fsync runs are made durable together by the next one (group commit). With 50 hosts in
//! flight, one fsync per record (~1–15 ms on common disks) serialized every host's progress:
//! at 1000 hosts the journal's fsyncs were half the campaign's time. I/O.

use super::journal::{CampaignEvent, Phase, Writer};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The shared journal.
pub struct Journal {
    writer: Mutex<Writer>,
    /// A second handle on the file, for fsyncs outside the writer's lock.
    sync_file: std::fs::File,
    synced: Mutex<Synced>,
}

#[derive(Default)]
struct Synced {
    /// Records durable so far (their sequence numbers, from 1).
    upto: u64,
    /// An fsync failed: nothing written since is known to be durable, and nothing more may be.
    failed: Option<String>,
    syncs: usize,
    spent: Duration,
}

/// The journal's cost, for the campaign's timing.
pub struct Cost {
    pub spent: Duration,
    pub writes: usize,
    pub syncs: usize,
}

impl Journal {
    pub fn new(writer: Writer) -> Result<Journal, String> {
        let sync_file = writer
            .file_handle()
            .map_err(|e| format!("cannot duplicate the journal's file handle: {e}"))?;
        Ok(Journal {
            writer: Mutex::new(writer),
            sync_file,
            synced: Mutex::new(Synced::default()),
        })
    }

    pub fn host(&self, host: &str, phase: Phase) -> Result<(), String> {
        self.commit(|w| w.host_unsynced(host, phase))
    }

    pub fn event(&self, event: CampaignEvent) -> Result<(), String> {
        self.commit(|w| w.event_unsynced(event))
    }

    /// Writes a record (`write` returns its sequence number), then returns once it is durable:
    /// either an fsync that began after it was written has ended, or this call runs one.
    fn commit(&self, write: impl FnOnce(&mut Writer) -> Result<u64, String>) -> Result<(), String> {
        let seq = {
            let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
            write(&mut w)?
        };
        let mut s = self.synced.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = &s.failed {
            return Err(e.clone());
        }
        if s.upto >= seq {
            return Ok(());
        }
        // everything written so far goes with this fsync
        let upto = self
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .written();
        let t = Instant::now();
        let r = self.sync_file.sync_data();
        s.spent += t.elapsed();
        s.syncs += 1;
        match r {
            Ok(()) => {
                s.upto = upto;
                Ok(())
            }
            Err(e) => {
                let m = format!("cannot write the journal: fsync: {e}");
                s.failed = Some(m.clone());
                self.writer
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .refuse_more();
                Err(m)
            }
        }
    }

    /// What the journal cost so far (writes and fsyncs).
    pub fn cost(&self) -> Cost {
        let w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let s = self.synced.lock().unwrap_or_else(|e| e.into_inner());
        Cost {
            spent: w.spent + s.spent,
            writes: w.writes,
            syncs: s.syncs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_records_are_all_durable_in_order_with_fewer_fsyncs() {
        let dir = std::env::temp_dir().join(format!("fr-commit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("j");
        let w = Writer::create(&path, &crate::campaign::journal::test_header()).unwrap();
        let j = Journal::new(w).unwrap();
        std::thread::scope(|s| {
            for t in 0..8 {
                let j = &j;
                s.spawn(move || {
                    for i in 0..25 {
                        j.host(&format!("h{t}-{i}"), Phase::Started).unwrap();
                    }
                });
            }
        });
        let cost = j.cost();
        assert_eq!(cost.writes, 1 + 200, "the header and every record");
        assert!(cost.syncs <= 200, "{} fsyncs", cost.syncs);
        // every record is whole, once, in its writer's order
        let text = std::fs::read_to_string(&path).unwrap();
        let hosts: Vec<String> = text
            .lines()
            .skip(1)
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["host"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(hosts.len(), 200);
        for t in 0..8 {
            let mine: Vec<&String> = hosts
                .iter()
                .filter(|h| h.starts_with(&format!("h{t}-")))
                .collect();
            let want: Vec<String> = (0..25).map(|i| format!("h{t}-{i}")).collect();
            assert_eq!(mine, want.iter().collect::<Vec<_>>());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
