//! Moves sealed spool segments into the store, oldest first, in batches. A segment is deleted
//! only after every batch of it was confirmed. Each batch carries an insert deduplication token
//! derived from its segment and position, so a batch re-sent after a crash or a failed
//! acknowledgement is stored once. While the store is down, the batch is retried with backoff
//! and the spool grows (up to its cap, then beacons get 503).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus::{IntCounter, IntGauge};

use super::spool::{read_segment, Spool};
use bytes::Bytes;

use super::split_record;
use crate::store::{InsertOptions, Store};

pub struct BatcherMetrics {
    pub rows: IntCounter,
    pub batches: IntCounter,
    pub failures: IntCounter,
    pub torn: IntCounter,
    pub spool_bytes: IntGauge,
    pub spool_segments: IntGauge,
}

pub struct Batcher {
    pub store: Arc<dyn Store>,
    pub spool: Spool,
    pub batch_rows: usize,
    pub metrics: Arc<BatcherMetrics>,
    pub stop: Arc<AtomicBool>,
}

impl Batcher {
    /// Runs until `stop` is set and every sealed segment is drained (or the store is down at
    /// stop time, in which case the segments stay on disk for the next start).
    pub async fn run(self) {
        loop {
            let segments = self.spool.sealed_segments();
            self.metrics.spool_segments.set(segments.len() as i64);
            self.metrics.spool_bytes.set(self.spool.bytes() as i64);
            if segments.is_empty() {
                if self.stop.load(Ordering::Acquire) {
                    return;
                }
                self.spool.wait_sealed(Duration::from_millis(250)).await;
                continue;
            }
            for (seq, path) in segments {
                if !self.drain_segment(seq, &path).await {
                    return; // stopping while the store is down
                }
            }
        }
    }

    /// Returns false only when asked to stop while the store keeps failing.
    async fn drain_segment(&self, seq: u64, path: &std::path::Path) -> bool {
        let (payloads, torn) = match read_segment(path) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(segment = %path.display(), error = %e, "cannot read spool segment; leaving it");
                tokio::time::sleep(Duration::from_secs(1)).await;
                return !self.stop.load(Ordering::Acquire);
            }
        };
        if torn {
            self.metrics.torn.inc();
            tracing::warn!(segment = %path.display(), records = payloads.len(), "spool segment has a torn tail (crash during write); skipped the incomplete record");
        }
        let records: Vec<(&[u8], &[u8])> = payloads
            .iter()
            .filter_map(|p| {
                let split = split_record(p);
                if split.is_none() {
                    tracing::error!("undecodable spool record skipped");
                }
                split
            })
            .collect();
        for (i, chunk) in records.chunks(self.batch_rows.max(1)).enumerate() {
            let token = format!("{seq:016x}-{i:06x}");
            // The spooled lines are already JSONEachRow: concatenate, don't re-encode.
            let events: Bytes = chunk
                .iter()
                .flat_map(|(e, _)| e.iter().copied())
                .collect::<Vec<u8>>()
                .into();
            let sessions: Bytes = chunk
                .iter()
                .flat_map(|(_, s)| s.iter().copied())
                .collect::<Vec<u8>>()
                .into();
            let mut backoff = Duration::from_millis(100);
            loop {
                let opts = InsertOptions {
                    dedup_token: Some(token.clone()),
                };
                let result = async {
                    self.store
                        .insert("events", "JSONEachRow", events.clone(), &opts)
                        .await?;
                    self.store
                        .insert("sessions", "JSONEachRow", sessions.clone(), &opts)
                        .await
                }
                .await;
                match result {
                    Ok(()) => {
                        self.metrics.rows.inc_by(chunk.len() as u64);
                        self.metrics.batches.inc();
                        break;
                    }
                    Err(e) => {
                        self.metrics.failures.inc();
                        tracing::warn!(error = %e, segment = seq, batch = i, "store insert failed; will retry");
                        if self.stop.load(Ordering::Acquire) && backoff >= Duration::from_secs(2) {
                            tracing::warn!("stopping with undelivered spool segments; they are replayed at next start");
                            return false;
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
        if let Err(e) = self.spool.remove(path) {
            tracing::error!(segment = %path.display(), error = %e, "cannot delete a delivered spool segment");
        }
        true
    }
}
