//! Moves sealed spool segments into the store, oldest first, in batches. A segment is deleted
//! only after every batch of it was confirmed. Each batch carries an insert deduplication token
//! derived from its segment and position, so a batch re-sent after a crash or a failed
//! acknowledgement is stored once. While the store is down, the batch is retried with backoff
//! and the spool grows (up to its cap, then beacons get 503).
//!
//! A batch the store refuses as invalid data (see `REJECTED_DATA_CODES`) is not retried: it
//! is split in halves until the records the store refuses on their own are found; the others
//! are stored and those are set aside in `<spool dir>/rejected/` for inspection and replay
//! (`Spool::set_aside`), counted and logged once. One bad record never stalls the spool.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use prometheus::{IntCounter, IntGauge};

use super::spool::{read_segment, Spool};
use bytes::Bytes;

use super::record::{
    split_record, SpooledRows, RECORD_EVENT_THROUGH, RECORD_ROWBINARY_THROUGH, SESSION_COLUMNS,
};
use super::row;
use crate::store::{InsertOptions, Store, StoreError};

pub struct BatcherMetrics {
    pub rows: IntCounter,
    pub batches: IntCounter,
    pub failures: IntCounter,
    pub torn: IntCounter,
    pub spool_bytes: IntGauge,
    pub spool_segments: IntGauge,
    /// Batches the store refused as invalid data (each then split to find the bad records).
    pub rejected_batches: IntCounter,
    /// Records set aside in `<spool dir>/rejected/`.
    pub rejected_records: IntCounter,
}

/// ClickHouse error codes that say the inserted *data* is invalid: the same bytes fail the
/// same way however often they are retried. Only these set a record aside. Everything else —
/// `StoreError::Unavailable` (network, closed engine), timeouts (159 TIMEOUT_EXCEEDED), memory
/// (241 MEMORY_LIMIT_EXCEEDED), too many parts (252), readonly or missing tables after a bad
/// deploy, codes the engine did not give — is taken as transient and retried forever, as
/// before. Kept narrow on purpose: a code listed here by mistake would set good records aside
/// (still kept and replayable, but out of the reports until replayed), a code missing only
/// stalls the spool as it always did. Deliberately absent: 36 BAD_ARGUMENTS and 43
/// ILLEGAL_TYPE_OF_ARGUMENT (also raised by bad settings or SQL, not only by data), 16
/// NO_SUCH_COLUMN_IN_TABLE (a schema problem that affects every record alike).
/// The names are checked against the engine's `system.error_codes` in `tests/poison.rs`.
pub const REJECTED_DATA_CODES: &[(u32, &str)] = &[
    (6, "CANNOT_PARSE_TEXT"),
    (25, "CANNOT_PARSE_ESCAPE_SEQUENCE"),
    (26, "CANNOT_PARSE_QUOTED_STRING"),
    (27, "CANNOT_PARSE_INPUT_ASSERTION_FAILED"),
    (32, "ATTEMPT_TO_READ_AFTER_EOF"),
    (33, "CANNOT_READ_ALL_DATA"),
    (38, "CANNOT_PARSE_DATE"),
    (41, "CANNOT_PARSE_DATETIME"),
    (53, "TYPE_MISMATCH"),
    (69, "ARGUMENT_OUT_OF_BOUND"),
    (70, "CANNOT_CONVERT_TYPE"),
    (72, "CANNOT_PARSE_NUMBER"),
    (117, "INCORRECT_DATA"),
    (128, "TOO_LARGE_ARRAY_SIZE"),
    (130, "CANNOT_READ_ARRAY_FROM_TEXT"),
    (131, "TOO_LARGE_STRING_SIZE"),
    (321, "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE"),
    (349, "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN"),
    (376, "CANNOT_PARSE_UUID"),
    (377, "ILLEGAL_SYNTAX_FOR_DATA_TYPE"),
    (441, "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING"),
    (467, "CANNOT_PARSE_BOOL"),
    (691, "UNKNOWN_ELEMENT_OF_ENUM"),
];

/// Whether the store refused a batch because of the data in it (never retried as is).
pub fn rejects_data(e: &StoreError) -> bool {
    matches!(e, StoreError::Query { code: Some(code), .. }
        if REJECTED_DATA_CODES.iter().any(|(c, _)| c == code))
}

/// After this many records of one batch were refused one by one, refused ranges are set aside
/// whole instead of being split further: a batch of 10,000 bad records (say, after a bad
/// deploy) costs about `SPLIT_LIMIT * log2(batch)` inserts, not 20,000.
const SPLIT_LIMIT: usize = 64;

pub struct Batcher {
    pub store: Arc<dyn Store>,
    pub spool: Spool,
    pub batch_rows: usize,
    pub metrics: Arc<BatcherMetrics>,
    pub stop: Arc<AtomicBool>,
    /// Set when the store refused a batch as a Native block and took the same rows as
    /// RowBinary (a ClickHouse server that cannot convert the block's types): every later
    /// batch then goes row-wise, as before Native blocks.
    pub row_wise: AtomicBool,
}

/// What became of one insert.
enum Outcome {
    Stored,
    /// The store refused the data itself (`rejects_data`).
    Rejected(StoreError),
    /// Asked to stop while the store keeps failing.
    Stopping,
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
        // Records set aside, with the reason: undecodable ones (no version wrote them) and
        // those the store refused on their own.
        let mut rejected: Vec<(&[u8], String)> = Vec::new();
        let mut records: Vec<(&[u8], SpooledRows<'_>)> = Vec::with_capacity(segment.len());
        for p in segment.records() {
            match split_record(p) {
                Some(split) => records.push((p, split)),
                None => rejected.push((p, "undecodable spool record".into())),
            }
        }
        for (i, chunk) in records.chunks(self.batch_rows.max(1)).enumerate() {
            // The spooled rows are ready to insert: concatenate, don't re-encode. Records of
            // earlier formats (an upgrade with segments left on disk) go in as they were
            // always inserted, under the tokens they always had.
            let mut formats: Vec<Format> = chunk.iter().map(|(_, r)| Format::of(r)).collect();
            formats.sort_unstable();
            formats.dedup();
            for format in formats {
                let members: Vec<&(&[u8], SpooledRows<'_>)> = chunk
                    .iter()
                    .filter(|(_, r)| Format::of(r) == format)
                    .collect();
                // Ranges of `members` still to insert, the next one last. The whole batch
                // goes first under its usual token; a refused range is split in halves, each
                // with a token naming its range, so a replay after a crash mid-split lands
                // every half once.
                let mut todo = vec![(0, members.len())];
                let mut refused = 0usize;
                while let Some((lo, hi)) = todo.pop() {
                    let whole = lo == 0 && hi == members.len();
                    let token = || {
                        if whole {
                            format!("{seq:016x}-{i:06x}{}", format.token_suffix())
                        } else {
                            format!(
                                "{seq:016x}-{i:06x}-{lo:06x}-{hi:06x}{}",
                                format.token_suffix()
                            )
                        }
                    };
                    let native = !self.row_wise.load(Ordering::Relaxed);
                    let batch = Batch::of(format, &members[lo..hi], native, token);
                    let mut outcome = self.insert(&batch, seq, i).await;
                    if batch.events_format == "Native" && matches!(outcome, Outcome::Rejected(_)) {
                        // Refused as a block: the same rows as RowBinary, under the same
                        // token, tell whether the data or the block was at fault.
                        let rows = Batch::of(format, &members[lo..hi], false, token);
                        outcome = self.insert(&rows, seq, i).await;
                        if matches!(outcome, Outcome::Stored) {
                            self.row_wise.store(true, Ordering::Relaxed);
                            tracing::warn!("the store refused a batch as a Native block and took the same rows as RowBinary; inserting row-wise from now on (slower; a ClickHouse server that cannot convert String to LowCardinality(String) in Native input?)");
                        }
                    }
                    match outcome {
                        Outcome::Stored => {}
                        Outcome::Stopping => return false,
                        Outcome::Rejected(e) => {
                            if whole {
                                self.metrics.rejected_batches.inc();
                            }
                            if hi - lo == 1 {
                                rejected.push((members[lo].0, e.to_string()));
                                refused += 1;
                            } else if refused >= SPLIT_LIMIT {
                                // Many bad records: stop paying two inserts per record and
                                // set the refused range aside whole (good ones in it too —
                                // kept and replayable, never dropped).
                                let why = format!("in a refused range of {} records: {e}", hi - lo);
                                rejected.extend(members[lo..hi].iter().map(|m| (m.0, why.clone())));
                            } else {
                                let mid = lo + (hi - lo) / 2;
                                todo.push((mid, hi));
                                todo.push((lo, mid));
                            }
                        }
                    }
                }
            }
        }
        if !rejected.is_empty() && !self.set_aside(seq, path, &rejected).await {
            return !self.stop.load(Ordering::Acquire);
        }
        if let Err(e) = self.spool.remove(path) {
            tracing::error!(segment = %path.display(), error = %e, "cannot delete a delivered spool segment");
        }
        true
    }

    /// Writes refused records to `rejected/` and says so once. False when they could not be
    /// written: the segment then stays where it is and is tried again.
    async fn set_aside(
        &self,
        seq: u64,
        path: &std::path::Path,
        rejected: &[(&[u8], String)],
    ) -> bool {
        let records: Vec<&[u8]> = rejected.iter().map(|(r, _)| *r).collect();
        let reasons: String = rejected
            .iter()
            .enumerate()
            .map(|(n, (_, why))| format!("record {n}: {why}\n"))
            .collect();
        match self.spool.set_aside(&records, &reasons) {
            Ok(to) => {
                self.metrics.rejected_records.inc_by(rejected.len() as u64);
                // Records hold no IP address or user agent (only their keyed hashes), so the
                // engine's message may be logged as it is.
                tracing::error!(
                    segment = seq,
                    records = rejected.len(),
                    moved_to = %to.display(),
                    reason = %rejected[0].1,
                    "the store refused spooled records as invalid; set them aside (the rest of the segment is stored). Inspect the file; move it back into the spool directory to replay it at the next start"
                );
                true
            }
            Err(e) => {
                tracing::error!(segment = %path.display(), error = %e, "cannot set refused records aside; leaving the segment to try again");
                tokio::time::sleep(Duration::from_secs(1)).await;
                false
            }
        }
    }

    /// Inserts one batch into both tables, retrying with backoff while the store fails for a
    /// reason other than the data itself.
    async fn insert(&self, batch: &Batch, seq: u64, i: usize) -> Outcome {
        let mut backoff = Duration::from_millis(100);
        loop {
            let opts = InsertOptions {
                dedup_token: Some(batch.token.clone()),
            };
            // The error, and whether the `events` rows were stored before it (records of the
            // earlier formats are two inserts).
            let result = match self
                .store
                .insert("events", batch.events_format, batch.events.clone(), &opts)
                .await
            {
                Err(e) => Err((e, false)),
                Ok(()) => match batch.format.sessions_table() {
                    Some((table, format)) => self
                        .store
                        .insert(table, format, batch.sessions.clone(), &opts)
                        .await
                        .map_err(|e| (e, true)),
                    None => Ok(()),
                },
            };
            match result {
                Ok(()) => {
                    self.metrics.rows.inc_by(batch.rows);
                    self.metrics.batches.inc();
                    return Outcome::Stored;
                }
                // Only when nothing of the batch was stored: splitting a batch whose `events`
                // rows are in would store them again under the halves' tokens. That case (an
                // earlier format's `sessions` rows refused, their `events` rows accepted) is
                // retried as before.
                Err((e, false)) if rejects_data(&e) => {
                    self.metrics.failures.inc();
                    tracing::debug!(error = %e, segment = seq, batch = i, rows = batch.rows, "the store refused the batch's data");
                    return Outcome::Rejected(e);
                }
                Err((e, _)) => {
                    self.metrics.failures.inc();
                    tracing::warn!(error = %e, segment = seq, batch = i, "store insert failed; will retry");
                    if self.stop.load(Ordering::Acquire) && backoff >= Duration::from_secs(2) {
                        tracing::warn!("stopping with undelivered spool segments; they are replayed at next start");
                        return Outcome::Stopping;
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
    /// The format of `events`: Native for the current record formats (`Batch::of`).
    events_format: &'static str,
    events: Bytes,
    /// The `sessions` rows of the earlier formats; empty for `Format::Event`.
    sessions: Bytes,
    rows: u64,
}

impl Batch {
    /// The batch of `members` (records of `format`), under the token `token` makes.
    fn of(
        format: Format,
        members: &[&(&[u8], SpooledRows<'_>)],
        native: bool,
        token: impl FnOnce() -> String,
    ) -> Batch {
        // Rows of the current formats go in as one Native block (unless `native` is off): the
        // engine takes it a column at a time, for a fraction of the CPU row-wise parsing costs
        // (`store::native`).
        if let Some(through) = format
            .through()
            .filter(|_| native && format.sessions_table().is_none())
        {
            let rows: Vec<&[u8]> = members
                .iter()
                .filter_map(|(_, r)| match r {
                    SpooledRows::Event(e) | SpooledRows::Versioned { row: e, .. } => Some(*e),
                    _ => None,
                })
                .collect();
            if rows.len() == members.len() {
                if let Some(block) = row::native_block(through, &rows) {
                    return Batch {
                        token: token(),
                        format,
                        events_format: "Native",
                        events: block.into(),
                        sessions: Bytes::new(),
                        rows: members.len() as u64,
                    };
                }
            }
        }
        // Otherwise (records of the earlier formats, or rows that do not read as their
        // columns) RowBinaryWithNamesAndTypes, or JSONEachRow for the first format: the header
        // names and types the columns the rows hold, so the engine refuses rows that do not
        // match the table instead of storing shifted data.
        let mut events = format.through().map(row::header).unwrap_or_default();
        let mut sessions = Vec::new();
        for (_, r) in members {
            match r {
                SpooledRows::Event(e) | SpooledRows::Versioned { row: e, .. } => {
                    events.extend_from_slice(e)
                }
                SpooledRows::RowBinary(e, s) | SpooledRows::Json(e, s) => {
                    events.extend_from_slice(e);
                    sessions.extend_from_slice(s);
                }
            }
        }
        Batch {
            token: token(),
            format,
            events_format: format.events_format(),
            events: events.into(),
            sessions: sessions.into(),
            rows: members.len() as u64,
        }
    }
}

/// The spool record formats (see `record`), each inserted as it was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Format {
    /// Format 2: `events` rows with the visit columns; sessions derive from them in the store.
    Event,
    /// Format 3: `events` rows of the columns through a migration version.
    Versioned(u32),
    /// Format 1: `events` and `sessions` rows in RowBinary.
    RowBinary,
    /// The first format: `events` and `sessions` rows in JSONEachRow.
    Json,
}

impl Format {
    fn of(r: &SpooledRows<'_>) -> Format {
        match r {
            SpooledRows::Event(_) => Format::Event,
            SpooledRows::Versioned { through, .. } => Format::Versioned(*through),
            SpooledRows::RowBinary(..) => Format::RowBinary,
            SpooledRows::Json(..) => Format::Json,
        }
    }

    /// The `events` columns the rows hold, when they are RowBinary.
    fn through(self) -> Option<u32> {
        match self {
            Format::Event => Some(RECORD_EVENT_THROUGH),
            Format::Versioned(through) => Some(through),
            Format::RowBinary => Some(RECORD_ROWBINARY_THROUGH),
            Format::Json => None,
        }
    }

    fn events_format(self) -> &'static str {
        match self {
            Format::Json => "JSONEachRow",
            _ => "RowBinaryWithNamesAndTypes",
        }
    }

    fn sessions_table(self) -> Option<(&'static str, &'static str)> {
        match self {
            Format::Event | Format::Versioned(_) => None,
            Format::RowBinary => Some((SESSIONS_ROWBINARY.as_str(), "RowBinary")),
            Format::Json => Some(("sessions", "JSONEachRow")),
        }
    }

    /// Tokens of the earlier formats are unchanged, so a batch inserted half before an
    /// upgrade and again after it still lands once.
    fn token_suffix(self) -> String {
        match self {
            Format::Event => "-02".into(),
            Format::Versioned(through) => format!("-03-{through:04x}"),
            Format::RowBinary => "-01".into(),
            Format::Json => String::new(),
        }
    }
}

static SESSIONS_ROWBINARY: LazyLock<String> =
    LazyLock::new(|| format!("sessions ({SESSION_COLUMNS})"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_invalid_data_is_refused_for_good_and_everything_else_retries() {
        let code = |c| StoreError::Query {
            code: Some(c),
            message: String::new(),
        };
        for c in [6, 27, 33, 53, 117, 131, 376] {
            assert!(rejects_data(&code(c)), "code {c}");
        }
        for e in [
            StoreError::Unavailable("connection refused".into()),
            StoreError::Unavailable("timed out".into()),
            code(159), // TIMEOUT_EXCEEDED
            code(241), // MEMORY_LIMIT_EXCEEDED
            code(252), // TOO_MANY_PARTS
            code(164), // READONLY
            code(60),  // UNKNOWN_TABLE
            code(16),  // NO_SUCH_COLUMN_IN_TABLE
            StoreError::Query {
                code: None,
                message: "boom".into(),
            },
            StoreError::Decode("?".into()),
        ] {
            assert!(!rejects_data(&e), "{e:?}");
        }
    }
}
