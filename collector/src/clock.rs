//! Time. Two kinds, on purpose:
//!
//! - **`Clock`**, the application's one time source for what "now" *means*: the day of a
//!   visitor salt, which visit an event belongs to and when idle visits end, which days are
//!   finished and rolled up, and what "today" and "realtime" are in a report. It lives in the
//!   application state; tests freeze it and move it (`set`, `advance`), so nothing they assert
//!   depends on when they run (a run that straddles midnight UTC answers the same).
//! - **Stamps** (`unix_millis`, `version`, …): when a row was written and the order of row
//!   versions. They always read the system clock, because collectors sharing a store must
//!   agree on them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The application's time source: the system clock, or a time set by a test. Clones share
/// one source, so a test that moves the state's clock moves it for every part of the app.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Milliseconds since the epoch while frozen; 0 follows the system clock.
    fixed_ms: Arc<AtomicU64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    pub fn unix_millis(&self) -> u64 {
        match self.fixed_ms.load(Ordering::Relaxed) {
            0 => unix_millis(),
            fixed => fixed,
        }
    }

    pub fn unix_seconds(&self) -> u32 {
        (self.unix_millis() / 1000) as u32
    }

    /// Days since 1970-01-01 (UTC): the day of a visitor-id salt.
    pub fn day(&self) -> i64 {
        (self.unix_millis() / 86_400_000) as i64
    }

    /// Freezes the clock at `unix_ms` (tests).
    pub fn set(&self, unix_ms: u64) {
        self.fixed_ms.store(unix_ms.max(1), Ordering::Relaxed);
    }

    /// Moves the clock on by `ms`, freezing it first if it follows the system clock (tests).
    pub fn advance(&self, ms: u64) {
        self.set(self.unix_millis() + ms);
    }
}

/// When a row is written: the system clock (see the module comment).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_a_clock_that_tests_can_freeze_and_move() {
        let clock = Clock::system();
        let shared = clock.clone();
        assert!(shared.unix_millis().abs_diff(unix_millis()) < 60_000);
        clock.set(1_795_564_799_500); // 2026-11-24 23:59:59.5 UTC
        assert_eq!(shared.unix_seconds(), 1_795_564_799);
        assert_eq!(shared.day(), 20_781);
        shared.advance(500);
        assert_eq!(clock.day(), 20_782);
        assert_eq!(clock.unix_millis(), 1_795_564_800_000);
    }
}
