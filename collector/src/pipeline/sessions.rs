//! Sessions. A visit ends after 30 minutes of inactivity.
//!
//! Design: the collector keeps each live session in memory (keyed by site and visitor id) and
//! gives every event its visit's id, start, page-view sequence and first-touch attributes.
//! From each stored event the store derives a small *delta* row in `sessions` (a materialized
//! view, `SESSIONS_FROM_EVENTS` in `migrations`), an AggregatingMergeTree of
//! SimpleAggregateFunction columns (min start, max end, summed page views, entry page, exit
//! page as max((sequence, path)), first-touch attributes). ClickHouse folds the deltas in the
//! background and reports fold the rest with a GROUP BY, so bounce rate, visit duration, entry
//! and exit pages read one row per session instead of re-sessionising events at query time —
//! that is what keeps the reports issue's query set under a second on 10 million events.
//! Nothing rescans history per batch: the only read is a one-off warm-up at start, so a
//! restart does not split visits that are in progress. (Collectors before the view wrote the
//! delta rows themselves, beside each event; their spool records still replay that way.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::store::{fetch, Params, Store, StoreError};

pub const TIMEOUT_SECS: u32 = 30 * 60;

/// What a session remembers from its first event (first-touch attribution).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Attribution {
    pub hostname: String,
    pub referrer: String,
    pub referrer_source: String,
    pub channel: String,
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
    pub utm_content: String,
    pub utm_term: String,
    pub country_code: String,
    pub region: String,
    pub city: String,
    pub org: String,
    /// What kind of network `org` is, where the database says (`isp`, `mobile`, `hosting`,
    /// `business`, …).
    pub org_type: String,
    pub browser: String,
    pub browser_version: String,
    pub os: String,
    pub os_version: String,
    pub device: String,
}

struct Live {
    session_id: u64,
    start: u32,
    last: u32,
    seq: u32,
    entry: Arc<str>,
    attribution: Arc<Attribution>,
}

/// What one event adds to its visit: the `sessions` delta row, less the columns the event row
/// already holds (site, visitor id and key, retention), which the spool record takes from it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionDelta {
    pub session_id: u64,
    /// The visit's start; its UTC day is the partition and sort key.
    pub start: u32,
    pub end: u32,
    pub pageviews: u64,
    pub events: u64,
    pub engaged_ms: u64,
    pub entry_page: Arc<str>,
    /// (sequence of the page view in the session, path); the max is the exit page.
    pub exit: (u32, String),
    /// The visit's first-touch attributes, shared with the visit (and the event row).
    pub attribution: Arc<Attribution>,
}

/// Live visits by site, then visitor id (two levels, so a lookup needs no allocation).
type LiveVisits = HashMap<String, HashMap<u64, Live>>;

pub struct Tracker {
    live: Mutex<LiveVisits>,
    rng: SystemRandom,
}

/// One event as the tracker needs it.
pub struct Touch<'a> {
    pub site: &'a str,
    pub visitor_id: u64,
    pub at: u32,
    pub is_pageview: bool,
    pub pathname: &'a str,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker::new()
    }
}

impl Tracker {
    pub fn new() -> Tracker {
        Tracker {
            live: Mutex::new(HashMap::new()),
            rng: SystemRandom::new(),
        }
    }

    fn new_id(&self) -> u64 {
        let mut b = [0u8; 8];
        let _ = self.rng.fill(&mut b);
        u64::from_be_bytes(b) >> 1 // positive when read as a signed integer, too
    }

    /// Assigns the event to the visitor's live session (or a new one) and returns its delta.
    /// `first_touch` computes the attribution of a new visit; it is called only when the
    /// event starts one, since every later event of the visit carries the first touch.
    pub fn touch(&self, t: Touch<'_>, first_touch: impl FnOnce() -> Attribution) -> SessionDelta {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if !live.contains_key(t.site) {
            live.insert(t.site.to_string(), HashMap::new());
        }
        let visits = live.get_mut(t.site).expect("inserted above");
        let expired = visits
            .get(&t.visitor_id)
            .is_none_or(|s| t.at.saturating_sub(s.last) > TIMEOUT_SECS);
        if expired {
            visits.insert(
                t.visitor_id,
                Live {
                    session_id: self.new_id(),
                    start: t.at,
                    last: t.at,
                    seq: 0,
                    entry: Arc::from(""),
                    attribution: Arc::new(first_touch()),
                },
            );
        }
        let s = visits.get_mut(&t.visitor_id).expect("inserted above");
        s.last = s.last.max(t.at);
        let mut exit = (0, String::new());
        if t.is_pageview {
            s.seq += 1;
            if s.entry.is_empty() {
                s.entry = Arc::from(t.pathname);
            }
            exit = (s.seq, t.pathname.to_string());
        }
        SessionDelta {
            session_id: s.session_id,
            start: s.start,
            end: t.at,
            pageviews: u64::from(t.is_pageview),
            events: 1,
            engaged_ms: 0,
            entry_page: s.entry.clone(),
            exit,
            attribution: s.attribution.clone(),
        }
    }

    /// Forgets sessions idle for longer than the timeout.
    pub fn sweep(&self, now: u32) -> usize {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        for visits in live.values_mut() {
            visits.retain(|_, s| now.saturating_sub(s.last) <= TIMEOUT_SECS);
        }
        live.retain(|_, visits| !visits.is_empty());
        live.values().map(HashMap::len).sum()
    }

    pub fn len(&self) -> usize {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Restores sessions still live at `now` from the store (once, at start). Only the visits
    /// with a delta row in the last `TIMEOUT_SECS` are folded: folding every visit of the last
    /// two days held their attributes for each in the engine at once (137 MB at start on a
    /// store of 15 M events). A visit's rows live on one shard (`sessions` is sharded by
    /// session), so on a cluster each shard selects its own.
    pub async fn warm_up(&self, store: &dyn Store, now: u32) -> Result<usize, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            site: String,
            visitor_id: u64,
            session_id: u64,
            started: u32,
            last_seen: u32,
            seq: u32,
            entry: String,
            #[serde(flatten)]
            attribution: Attribution,
        }
        let since = now.saturating_sub(TIMEOUT_SECS);
        let rows: Vec<Row> = fetch(
            store,
            "SELECT site, any(visitor_id) AS visitor_id, session_id, toUnixTimestamp(min(start)) AS started,
                    toUnixTimestamp(max(end)) AS last_seen, max(exit).1 AS seq, max(entry_page) AS entry,
                    any(hostname) AS hostname, any(referrer) AS referrer, any(referrer_source) AS referrer_source,
                    any(channel) AS channel, any(utm_source) AS utm_source, any(utm_medium) AS utm_medium,
                    any(utm_campaign) AS utm_campaign, any(utm_content) AS utm_content, any(utm_term) AS utm_term,
                    any(country_code) AS country_code, any(region) AS region, any(city) AS city, any(org) AS org, any(org_type) AS org_type,
                    any(browser) AS browser, any(browser_version) AS browser_version, any(os) AS os,
                    any(os_version) AS os_version, any(device) AS device
             FROM sessions WHERE day >= toDate({since:UInt32}) - 1
               AND session_id IN (SELECT session_id FROM sessions
                                  WHERE day >= toDate({since:UInt32}) - 1 AND end >= toDateTime({since:UInt32}))
             GROUP BY site, day, session_id HAVING max(end) >= toDateTime({since:UInt32})
             SETTINGS distributed_product_mode = 'local'",
            &Params::new().with("since", since),
        )
        .await?;
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let n = rows.len();
        for r in rows {
            live.entry(r.site).or_default().insert(
                r.visitor_id,
                Live {
                    session_id: r.session_id,
                    start: r.started,
                    last: r.last_seen,
                    seq: r.seq,
                    entry: Arc::from(r.entry),
                    attribution: Arc::new(r.attribution),
                },
            );
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(t: &Tracker, visitor: u64, at: u32, path: &str, pageview: bool) -> SessionDelta {
        t.touch(
            Touch {
                site: "x.com",
                visitor_id: visitor,
                at,
                is_pageview: pageview,
                pathname: path,
            },
            || Attribution {
                referrer_source: format!("src{at}"),
                ..Default::default()
            },
        )
    }

    #[test]
    fn thirty_minutes_of_inactivity_ends_a_visit() {
        let t = Tracker::new();
        let a = touch(&t, 1, 1000, "/", true);
        let b = touch(&t, 1, 1000 + TIMEOUT_SECS, "/pricing", true);
        assert_eq!(
            a.session_id, b.session_id,
            "exactly 30 minutes later is the same visit"
        );
        assert_eq!(&*b.entry_page, "/");
        assert_eq!(b.exit, (2, "/pricing".to_string()));
        assert_eq!(
            b.attribution.referrer_source, "src1000",
            "first touch is kept"
        );
        let c = touch(&t, 1, 1000 + 2 * TIMEOUT_SECS + 1, "/blog", true);
        assert_ne!(c.session_id, a.session_id);
        assert_eq!(&*c.entry_page, "/blog");
        let other = touch(&t, 2, 1000, "/", true);
        assert_ne!(other.session_id, a.session_id, "two visitors, two visits");
    }

    #[test]
    fn custom_events_do_not_move_the_exit_page() {
        let t = Tracker::new();
        touch(&t, 1, 10, "/a", true);
        let e = touch(&t, 1, 20, "/a", false);
        assert_eq!((e.pageviews, e.events, e.exit.0), (0, 1, 0));
    }

    #[test]
    fn sweep_forgets_idle_visits() {
        let t = Tracker::new();
        touch(&t, 1, 10, "/", true);
        touch(&t, 2, 5000, "/", true);
        assert_eq!(t.sweep(10 + TIMEOUT_SECS + 1), 1);
    }
}
