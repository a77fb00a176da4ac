//! Moves sealed spool segments into the store, oldest first, in batches. A segment is deleted
//! only after every batch of it was confirmed. Each batch carries an insert deduplication token
//! derived from its segment and position, so a batch re-sent after a crash or a failed
//! acknowledgement is stored once. While the store is down, the batch is retried with backoff
//! and the spool grows (up to its cap, then beacons get 503).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use prometheus::{IntCounter, IntGauge};

use super::spool::{read_segment, Spool};
use bytes::Bytes;

use super::{split_record, SpooledRows, EVENT_COLUMNS, EVENT_COLUMNS_V1, SESSION_COLUMNS};
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
        let segment = match read_segment(path) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(segment = %path.display(), error = %e, "cannot read spool segment; leaving it");
                tokio::time::sleep(Duration::from_secs(1)).await;
                return !self.stop.load(Ordering::Acquire);
            }
        };
        if segment.torn {
            self.metrics.torn.inc();
            tracing::warn!(segment = %path.display(), records = segment.len(), "spool segment has a torn tail (crash during write); skipped the incomplete record");
        }
        let records: Vec<SpooledRows<'_>> = segment
            .records()
            .filter_map(|p| {
                let split = split_record(p);
                if split.is_none() {
                    tracing::error!("undecodable spool record skipped");
                }
                split
            })
            .collect();
        for (i, chunk) in records.chunks(self.batch_rows.max(1)).enumerate() {
            // The spooled rows are ready to insert: concatenate, don't re-encode. Records of
            // earlier formats (an upgrade with segments left on disk) go in as they were
            // always inserted, under the tokens they always had.
            for format in [Format::Event, Format::RowBinary, Format::Json] {
                let mut events = Vec::new();
                let mut sessions = Vec::new();
                let mut rows = 0u64;
                for r in chunk {
                    match (format, r) {
                        (Format::Event, SpooledRows::Event(e)) => events.extend_from_slice(e),
                        (Format::RowBinary, SpooledRows::RowBinary(e, s))
                        | (Format::Json, SpooledRows::Json(e, s)) => {
                            events.extend_from_slice(e);
                            sessions.extend_from_slice(s);
                        }
                        _ => continue,
                    }
                    rows += 1;
                }
                if rows == 0 {
                    continue;
                }
                let batch = Batch {
                    token: format!("{seq:016x}-{i:06x}{}", format.token_suffix()),
                    format,
                    events: events.into(),
                    sessions: sessions.into(),
                    rows,
                };
                if !self.insert(&batch, seq, i).await {
                    return false;
                }
            }
        }
        if let Err(e) = self.spool.remove(path) {
            tracing::error!(segment = %path.display(), error = %e, "cannot delete a delivered spool segment");
        }
        true
    }

    /// Inserts one batch into both tables, retrying with backoff while the store fails.
    /// Returns false only when asked to stop while the store keeps failing.
    async fn insert(&self, batch: &Batch, seq: u64, i: usize) -> bool {
        let mut backoff = Duration::from_millis(100);
        loop {
            let opts = InsertOptions {
                dedup_token: Some(batch.token.clone()),
            };
            let result = async {
                self.store
                    .insert(
                        batch.format.events_table(),
                        batch.format.name(),
                        batch.events.clone(),
                        &opts,
                    )
                    .await?;
                match batch.format.sessions_table() {
                    Some(table) => {
                        self.store
                            .insert(table, batch.format.name(), batch.sessions.clone(), &opts)
                            .await
                    }
                    None => Ok(()),
                }
            }
            .await;
            match result {
                Ok(()) => {
                    self.metrics.rows.inc_by(batch.rows);
                    self.metrics.batches.inc();
                    return true;
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
}

/// One insert into `events` (which feeds `sessions` through the store's materialized view)
/// or, for records of earlier formats, into `events` and `sessions`; with the deduplication
/// token that makes a re-sent batch land once.
struct Batch {
    token: String,
    format: Format,
    events: Bytes,
    /// The `sessions` rows of the earlier formats; empty for `Format::Event`.
    sessions: Bytes,
    rows: u64,
}

/// The spool record formats, each inserted as it was written.
#[derive(Clone, Copy)]
enum Format {
    /// `events` rows with the visit columns; sessions derive from them in the store.
    Event,
    /// The previous format: `events` and `sessions` rows in RowBinary.
    RowBinary,
    /// The first format: `events` and `sessions` rows in JSONEachRow.
    Json,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Event | Format::RowBinary => "RowBinary",
            Format::Json => "JSONEachRow",
        }
    }

    fn events_table(self) -> &'static str {
        match self {
            Format::Event => EVENTS_ROWBINARY.as_str(),
            Format::RowBinary => EVENTS_ROWBINARY_V1.as_str(),
            Format::Json => "events",
        }
    }

    fn sessions_table(self) -> Option<&'static str> {
        match self {
            Format::Event => None,
            Format::RowBinary => Some(SESSIONS_ROWBINARY.as_str()),
            Format::Json => Some("sessions"),
        }
    }

    /// Tokens of the earlier formats are unchanged, so a batch inserted half before an
    /// upgrade and again after it still lands once.
    fn token_suffix(self) -> &'static str {
        match self {
            Format::Event => "-02",
            Format::RowBinary => "-01",
            Format::Json => "",
        }
    }
}

static EVENTS_ROWBINARY: LazyLock<String> = LazyLock::new(|| format!("events ({EVENT_COLUMNS})"));
static EVENTS_ROWBINARY_V1: LazyLock<String> =
    LazyLock::new(|| format!("events ({EVENT_COLUMNS_V1})"));
static SESSIONS_ROWBINARY: LazyLock<String> =
    LazyLock::new(|| format!("sessions ({SESSION_COLUMNS})"));
