//! Wall-clock helpers shared by the modules that stamp rows.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

pub fn unix_seconds() -> u32 {
    (unix_millis() / 1000) as u32
}

/// A row version for ReplacingMergeTree tables: milliseconds, strictly increasing within this
/// process so two updates in the same millisecond still order correctly.
pub fn version() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = unix_millis();
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}
