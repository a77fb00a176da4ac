//! The write-ahead spool. A 202 means the event is here, on disk, fsynced: records are appended
//! to the active segment file as `[length u32 LE][crc32c u32 LE][payload]` by one writer thread
//! that commits in groups (every request waiting at that moment shares one `fdatasync`). The
//! active segment is sealed after `rotate_every`, `segment_records` or `segment_bytes`; the
//! batcher moves sealed segments into the store and deletes each one only after the store
//! confirmed it. A torn tail (a crash mid-write) fails its checksum and is skipped with a log
//! line. A group whose write fails (a full disk) is cut back off the segment and refused, so a
//! refused record is never replayed later.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Notify};

const EXT: &str = "spool";
const FRAME_HEADER: usize = 8;
/// Largest record accepted (a beacon is ≤ 8 KiB; enriched it stays far below this).
const MAX_RECORD: usize = 1 << 20;

#[derive(Clone, Debug)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    /// Refuse new events (503) once sealed + active segments reach this many bytes.
    pub max_bytes: u64,
    /// Seal the active segment at this size.
    pub segment_bytes: u64,
    /// A segment holds at most this many records (a commit group that would overfill it is
    /// split across two segments, and a full one is sealed at once): the batch size, so a
    /// segment under load is exactly one full store insert rather than a full one and a small
    /// remainder. Each insert costs the store a new part and a share of the merges that
    /// follow, whatever its size.
    pub segment_records: usize,
    /// Seal a non-empty active segment this often, so events reach the store promptly.
    pub rotate_every: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool full ({0} bytes)")]
    Full(u64),
    #[error("spool closed")]
    Closed,
    #[error("no space left on the spool's disk")]
    NoSpace,
    #[error("spool I/O error: {0}")]
    Io(String),
}

enum Request {
    Append {
        payload: Vec<u8>,
        reply: oneshot::Sender<Result<(), SpoolError>>,
    },
    Seal {
        reply: oneshot::Sender<()>,
    },
}

struct Shared {
    dir: PathBuf,
    max_bytes: u64,
    /// Bytes in every segment file (sealed and active).
    bytes: AtomicU64,
    /// Sequence number of the active segment; everything below it is sealed.
    active: AtomicU64,
    closed: AtomicBool,
    sealed: Notify,
    /// When a write last failed for want of space (milliseconds since the epoch; 0: never,
    /// or a write succeeded since).
    no_space_at: AtomicU64,
}

/// How long after a write failed for want of space the spool counts as full (readiness), if
/// no write succeeds in between.
const NO_SPACE_FOR: Duration = Duration::from_secs(10);

/// Handle to the spool, cheap to clone.
#[derive(Clone)]
pub struct Spool {
    tx: Arc<Mutex<Option<mpsc::Sender<Request>>>>,
    shared: Arc<Shared>,
    writer: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

pub fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.{EXT}"))
}

/// Sealed-or-not segment files, oldest first.
pub fn list_segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some(EXT) {
            continue;
        }
        if let Some(seq) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push((seq, path));
        }
    }
    out.sort();
    Ok(out)
}

impl Spool {
    pub fn open(config: SpoolConfig) -> Result<Spool, SpoolError> {
        std::fs::create_dir_all(&config.dir)
            .map_err(|e| SpoolError::Io(format!("{}: {e}", config.dir.display())))?;
        let existing = list_segments(&config.dir).map_err(|e| SpoolError::Io(e.to_string()))?;
        let bytes: u64 = existing
            .iter()
            .filter_map(|(_, p)| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        // Segments left by a previous run are all sealed; writing resumes in a new one. Segment
        // numbers name the store's insert deduplication tokens, so they must never repeat,
        // not even after a clean stop that left the directory empty: they continue from the
        // clock (microseconds) when that is ahead of the last segment.
        let next = existing
            .last()
            .map(|(s, _)| s + 1)
            .unwrap_or(1)
            .max(crate::clock::unix_micros());
        if !existing.is_empty() {
            tracing::info!(
                segments = existing.len(),
                bytes,
                "replaying spool segments left by the previous run"
            );
        }
        let shared = Arc::new(Shared {
            dir: config.dir.clone(),
            max_bytes: config.max_bytes,
            bytes: AtomicU64::new(bytes),
            active: AtomicU64::new(next),
            closed: AtomicBool::new(false),
            sealed: Notify::new(),
            no_space_at: AtomicU64::new(0),
        });
        let (tx, rx) = mpsc::channel();
        let writer = {
            let shared = shared.clone();
            let config = config.clone();
            std::thread::Builder::new()
                .name("spool-writer".into())
                .spawn(move || writer_loop(rx, shared, config))
                .map_err(|e| SpoolError::Io(e.to_string()))?
        };
        Ok(Spool {
            tx: Arc::new(Mutex::new(Some(tx))),
            shared,
            writer: Arc::new(Mutex::new(Some(writer))),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Bytes on disk (sealed and active segments).
    pub fn bytes(&self) -> u64 {
        self.shared.bytes.load(Ordering::Relaxed)
    }

    pub fn is_full(&self) -> bool {
        self.bytes() >= self.shared.max_bytes
    }

    /// A write failed for want of space on the spool's disk lately, and none succeeded since.
    pub fn disk_full(&self) -> bool {
        let at = self.shared.no_space_at.load(Ordering::Relaxed);
        at != 0 && crate::clock::unix_millis().saturating_sub(at) < NO_SPACE_FOR.as_millis() as u64
    }

    /// Appends one record; resolves once it is durable on disk.
    pub async fn append(&self, payload: Vec<u8>) -> Result<(), SpoolError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(SpoolError::Closed);
        }
        if self.is_full() {
            return Err(SpoolError::Full(self.bytes()));
        }
        let (reply, rx) = oneshot::channel();
        self.send(Request::Append { payload, reply })?;
        rx.await.map_err(|_| SpoolError::Closed)?
    }

    /// Seals the active segment now (used at shutdown and by tests).
    pub async fn seal(&self) {
        let (reply, rx) = oneshot::channel();
        if self.send(Request::Seal { reply }).is_ok() {
            let _ = rx.await;
        }
    }

    fn send(&self, r: Request) -> Result<(), SpoolError> {
        match self.tx.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(tx) => tx.send(r).map_err(|_| SpoolError::Closed),
            None => Err(SpoolError::Closed),
        }
    }

    /// Stops accepting, seals the active segment and stops the writer thread.
    pub async fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        self.seal().await;
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let handle = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }

    /// Segments the batcher may take (sealed), oldest first.
    pub fn sealed_segments(&self) -> Vec<(u64, PathBuf)> {
        let active = self.shared.active.load(Ordering::Acquire);
        list_segments(&self.shared.dir)
            .unwrap_or_default()
            .into_iter()
            .filter(|(seq, _)| *seq < active)
            .collect()
    }

    /// Seals the active segment and waits (up to `budget`) until the batcher has stored every
    /// segment sealed then: true when everything acknowledged so far is in the store.
    pub async fn handed_over(&self, budget: Duration) -> bool {
        self.seal().await;
        let waiting: Vec<u64> = self.sealed_segments().iter().map(|s| s.0).collect();
        let deadline = tokio::time::Instant::now() + budget;
        while self
            .sealed_segments()
            .iter()
            .any(|s| waiting.contains(&s.0))
        {
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }

    /// Waits until a segment is sealed or `timeout` passes.
    pub async fn wait_sealed(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.shared.sealed.notified()).await;
    }

    /// Deletes a segment the store has confirmed.
    pub fn remove(&self, path: &Path) -> std::io::Result<()> {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        std::fs::remove_file(path)?;
        self.shared
            .bytes
            .fetch_sub(len.min(self.bytes()), Ordering::Relaxed);
        Ok(())
    }
}

/// Where the batcher sets aside records the store refused as invalid (see `Spool::set_aside`).
pub const REJECTED_DIR: &str = "rejected";

impl Spool {
    /// Writes records the store refused as invalid to `<spool dir>/rejected/<seq>.spool`,
    /// framed exactly as the spool frames them (each frame is byte-for-byte the one in the
    /// segment it came from), with the store's reasons beside it in `<seq>.spool.txt`.
    ///
    /// The file is a spool segment: moved back into the spool directory it is replayed at the
    /// next start. Its number is fresh (the clock in microseconds, which the running spool's
    /// segment numbers never reach), so the replay inserts under deduplication tokens no earlier
    /// insert used and is not mistaken for a batch already stored. It is written to a temporary
    /// name, synced, then renamed, so a crash leaves either the whole file or none (a crash
    /// before the source segment is deleted sets the same records aside again on the next
    /// start: inspect before replaying twice).
    pub fn set_aside(&self, records: &[&[u8]], reasons: &str) -> std::io::Result<PathBuf> {
        let dir = self.shared.dir.join(REJECTED_DIR);
        std::fs::create_dir_all(&dir)?;
        let mut seq = crate::clock::unix_micros();
        while segment_path(&dir, seq).exists() {
            seq += 1;
        }
        let path = segment_path(&dir, seq);
        let tmp = path.with_extension("spool.tmp");
        let mut data = Vec::new();
        for r in records {
            data.extend_from_slice(&frame(r));
        }
        let mut f = File::create(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &path)?;
        std::fs::write(path.with_extension("spool.txt"), reasons)?;
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(path)
    }
}

/// One spool frame: `[length u32 LE][crc32c u32 LE][payload]`.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

struct Active {
    seq: u64,
    file: File,
    len: u64,
    records: usize,
    opened: Instant,
}

fn open_segment(dir: &Path, seq: u64) -> std::io::Result<Active> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(segment_path(dir, seq))?;
    // Make the new file's directory entry durable, so a sealed segment is never lost.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(Active {
        seq,
        file,
        len: 0,
        records: 0,
        opened: Instant::now(),
    })
}

/// Group commit: a group smaller than this waits `GROUP_WAIT` for more writers (only while
/// writes are concurrent), and no group is larger than `GROUP_MAX`.
const GROUP_TARGET: usize = 1024;
const GROUP_WAIT: Duration = Duration::from_millis(2);
const GROUP_MAX: usize = 4096;

fn take_waiting<T>(rx: &mpsc::Receiver<T>, batch: &mut Vec<T>) {
    while batch.len() < GROUP_MAX {
        match rx.try_recv() {
            Ok(r) => batch.push(r),
            Err(_) => break,
        }
    }
}

/// Group commit's gathering: `first` and everything already waiting, to be written and synced
/// once. When the last group (`last_group` requests) showed concurrent writers but few are
/// waiting now, it lingers a moment so more join this sync: fewer, larger syncs cost less CPU
/// and wake the HTTP workers less often. A lone writer never waits. (Public so the benchmark's
/// reference endpoint can wait for groups exactly as beacons do.)
pub fn gather<T>(rx: &mpsc::Receiver<T>, first: T, last_group: usize) -> Vec<T> {
    let mut batch = vec![first];
    take_waiting(rx, &mut batch);
    if last_group > 1 && batch.len() < GROUP_TARGET {
        std::thread::sleep(GROUP_WAIT);
        take_waiting(rx, &mut batch);
    }
    batch
}

fn writer_loop(rx: mpsc::Receiver<Request>, shared: Arc<Shared>, config: SpoolConfig) {
    let mut active: Option<Active> = None;
    let mut last_group = 0;
    let mut buf = Vec::with_capacity(256 * 1024);
    loop {
        let first = match rx.recv_timeout(config.rotate_every) {
            Ok(r) => Some(r),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let batch = match first {
            Some(first) => gather(&rx, first, last_group),
            None => Vec::new(),
        };
        let mut appends = Vec::with_capacity(batch.len());
        let mut seal_replies = Vec::new();
        last_group = batch.len();
        for r in batch {
            match r {
                Request::Append { payload, reply } if payload.len() > MAX_RECORD => {
                    let _ = reply.send(Err(SpoolError::Io("record too large".into())));
                }
                Request::Append { payload, reply } => appends.push((payload, reply)),
                Request::Seal { reply } => seal_replies.push(reply),
            }
        }
        // A group that would overfill the active segment is split: the first part completes
        // it (and seals it), the rest starts the next one.
        let mut appends = appends.into_iter().peekable();
        while appends.peek().is_some() {
            let room = config.segment_records.max(1) - active.as_ref().map_or(0, |a| a.records);
            buf.clear();
            let mut waiting = Vec::new();
            for (payload, reply) in appends.by_ref().take(room) {
                buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
                buf.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
                buf.extend_from_slice(&payload);
                waiting.push(reply);
            }
            commit(&mut active, &shared, &buf, waiting);
            if active
                .as_ref()
                .is_some_and(|a| a.records >= config.segment_records)
            {
                seal(&mut active, &shared);
            }
        }
        let due = active.as_ref().is_some_and(|a| {
            a.len > 0
                && (a.len >= config.segment_bytes || a.opened.elapsed() >= config.rotate_every)
        });
        if due || !seal_replies.is_empty() {
            seal(&mut active, &shared);
        }
        for r in seal_replies {
            let _ = r.send(());
        }
    }
    seal(&mut active, &shared);
}

/// Writes one group's frames to the active segment (opening one if needed), syncs once, and
/// answers every writer of the group.
fn commit(
    active: &mut Option<Active>,
    shared: &Shared,
    buf: &[u8],
    waiting: Vec<oneshot::Sender<Result<(), SpoolError>>>,
) {
    let result = (|| -> std::io::Result<()> {
        if active.is_none() {
            *active = Some(open_segment(
                &shared.dir,
                shared.active.load(Ordering::Acquire),
            )?);
        }
        let a = active.as_mut().expect("opened above");
        a.file.write_all(buf)?;
        a.file.sync_data()?;
        a.len += buf.len() as u64;
        a.records += waiting.len();
        Ok(())
    })();
    match result {
        Ok(()) => {
            shared.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
            shared.no_space_at.store(0, Ordering::Relaxed);
            for w in waiting {
                let _ = w.send(Ok(()));
            }
        }
        Err(e) => {
            let no_space = matches!(
                e.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            );
            if no_space {
                shared
                    .no_space_at
                    .store(crate::clock::unix_millis().max(1), Ordering::Relaxed);
                tracing::warn!(error = %e, "spool write failed: the disk is full; beacons get 503");
            } else {
                tracing::error!(error = %e, "spool write failed");
            }
            // Part of the group may be in the file: cut it back to the last committed record,
            // so that nothing refused here is replayed later (its sender was told 503 and sends
            // it again). If that fails too, seal the segment (a partial frame fails its
            // checksum on read) and write the next records to a fresh one.
            let cut_back = active
                .as_mut()
                .is_some_and(|a| a.file.set_len(a.len).is_ok());
            if !cut_back {
                seal(active, shared);
            }
            for w in waiting {
                let _ = w.send(Err(if no_space {
                    SpoolError::NoSpace
                } else {
                    SpoolError::Io(e.to_string())
                }));
            }
        }
    }
}

/// Seals the active segment, if any: the batcher may take it, the next write opens a new one.
fn seal(active: &mut Option<Active>, shared: &Shared) {
    if let Some(a) = active.take() {
        shared.active.store(a.seq + 1, Ordering::Release);
        shared.sealed.notify_one();
    }
}

/// A segment read back: its bytes and where each intact record lies in them.
pub struct Segment {
    data: Vec<u8>,
    records: Vec<std::ops::Range<usize>>,
    /// A torn tail (a crash mid-write) was skipped.
    pub torn: bool,
}

impl Segment {
    pub fn records(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.records.iter().map(|r| &self.data[r.clone()])
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// Reads a segment's records, stopping at the first frame that is incomplete or fails its
/// checksum (a torn tail).
pub fn read_segment(path: &Path) -> std::io::Result<Segment> {
    let mut data = Vec::new();
    File::open(path)?.read_to_end(&mut data)?;
    let mut records = Vec::new();
    let mut at = 0;
    let mut torn = false;
    while at < data.len() {
        if data.len() - at < FRAME_HEADER {
            torn = true;
            break;
        }
        let len = u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(data[at + 4..at + 8].try_into().expect("4 bytes"));
        let start = at + FRAME_HEADER;
        if len > MAX_RECORD
            || data.len() - start < len
            || crc32c::crc32c(&data[start..start + len]) != crc
        {
            torn = true;
            break;
        }
        records.push(start..start + len);
        at = start + len;
    }
    Ok(Segment {
        data,
        records,
        torn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> SpoolConfig {
        SpoolConfig {
            dir: dir.to_path_buf(),
            max_bytes: 1 << 20,
            segment_bytes: 1 << 20,
            segment_records: 10_000,
            rotate_every: Duration::from_millis(50),
        }
    }

    #[tokio::test]
    async fn appended_records_are_read_back_in_order_after_sealing() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(config(dir.path())).unwrap();
        let mut tasks = Vec::new();
        for i in 0..100 {
            let s = spool.clone();
            tasks.push(tokio::spawn(async move {
                s.append(format!("record {i}").into_bytes()).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        spool.seal().await;
        let segs = spool.sealed_segments();
        let mut all = Vec::new();
        for (_, p) in &segs {
            let segment = read_segment(p).unwrap();
            assert!(!segment.torn);
            all.extend(segment.records().map(<[u8]>::to_vec));
        }
        assert_eq!(all.len(), 100);
        assert!(spool.bytes() > 0);
        for (_, p) in segs {
            spool.remove(&p).unwrap();
        }
        assert_eq!(spool.bytes(), 0);
    }

    #[tokio::test]
    async fn segments_hold_at_most_one_batch_of_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path());
        c.segment_records = 7;
        c.rotate_every = Duration::from_secs(60);
        let spool = Spool::open(c).unwrap();
        // Concurrent writers commit in groups; no group may push a segment past 7 records.
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let s = spool.clone();
                tokio::spawn(async move { s.append(vec![i as u8; 3]).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        spool.seal().await;
        let sizes: Vec<usize> = spool
            .sealed_segments()
            .iter()
            .map(|(_, p)| read_segment(p).unwrap().len())
            .collect();
        // Groups that would overfill a segment are split, so every segment but the last is
        // full, however the writers happened to be grouped.
        assert_eq!(sizes, [7, 7, 7, 7, 7, 5]);
    }

    #[tokio::test]
    async fn a_torn_tail_is_skipped_and_earlier_records_survive() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(config(dir.path())).unwrap();
        spool.append(b"one".to_vec()).await.unwrap();
        spool.append(b"two".to_vec()).await.unwrap();
        spool.close().await;
        let (_, path) = list_segments(dir.path()).unwrap().pop().unwrap();
        // A crash mid-write: half a frame at the end.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
        let segment = read_segment(&path).unwrap();
        assert!(segment.torn);
        assert_eq!(
            segment.records().collect::<Vec<_>>(),
            vec![&b"one"[..], &b"two"[..]]
        );
        // And a corrupted byte inside a frame is caught by the checksum.
        let mut data = std::fs::read(&path).unwrap();
        data[FRAME_HEADER + 1] ^= 0xff;
        std::fs::write(&path, data).unwrap();
        let segment = read_segment(&path).unwrap();
        assert!(segment.torn);
        assert!(segment.is_empty());
    }

    #[tokio::test]
    async fn segment_numbers_never_repeat_after_a_clean_stop() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(config(dir.path())).unwrap();
        spool.append(b"one".to_vec()).await.unwrap();
        spool.close().await;
        let (first, path) = list_segments(dir.path()).unwrap().pop().unwrap();
        // Delivered and deleted: the directory is empty, as after a drained shutdown.
        std::fs::remove_file(path).unwrap();
        let spool = Spool::open(config(dir.path())).unwrap();
        spool.append(b"two".to_vec()).await.unwrap();
        spool.close().await;
        let (second, _) = list_segments(dir.path()).unwrap().pop().unwrap();
        assert!(
            second > first,
            "segment {second} reuses a number (and dedup token) at or below {first}"
        );
    }

    #[tokio::test]
    async fn a_full_spool_refuses_and_a_reopened_spool_finds_old_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path());
        c.max_bytes = 64;
        let spool = Spool::open(c.clone()).unwrap();
        spool.append(vec![7u8; 60]).await.unwrap();
        assert!(matches!(
            spool.append(vec![7u8; 10]).await,
            Err(SpoolError::Full(_))
        ));
        spool.close().await;
        let reopened = Spool::open(c).unwrap();
        assert_eq!(
            reopened.sealed_segments().len(),
            1,
            "the previous run's segment is sealed"
        );
        assert!(reopened.is_full());
    }
}
