//! Daily rollups: unfiltered reports read whole finished UTC days from pre-aggregated rows,
//! and only the rest of the range (today, and the partial days at the edges of a range in
//! a time zone other than UTC) from the raw tables.
//!
//! Why the sums are exact: visitor ids are salted per UTC day (`privacy::salts`), so one
//! person on two days has two ids, and a period's unique visitors are exactly the sum of its
//! days' unique visitors. A visit belongs to one visitor id, so it starts and ends on its
//! UTC day, and visits, bounces, durations and page views add up by day too. Each day's
//! rows are computed by the report engine itself (`Engine::raw_groups` over that day), so a
//! rolled-up answer is by construction the sum of the answers the raw tables give day by
//! day.
//!
//! Freshness: a day is rolled up once it has ended (plus a grace period for the spool).
//! The builder compares each day's events and session events with the counts its build
//! recorded and rebuilds a day whose counts changed (events that arrived late, after a store
//! outage) or whose site changed its goals. Counting every day on every pass would scan the
//! whole history each time, work that grows with the store; so each pass counts only the
//! last `RECENT_DAYS` days afresh and reuses the last full count for older days, which is
//! renewed every `FULL_RECOUNT_EVERY` (late events that old come only from an outage longer
//! than `RECENT_DAYS`, and are picked up within the hour).
//!
//! Every build has its own id; `rollup_days` names the current build of each day and readers
//! take only that build's rows, so a rebuild never mixes with the old one. Superseded rows
//! are deleted a few passes later, once every collector's index (it is refreshed with the
//! other caches) has moved on.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{Datelike, Days, NaiveDate, Offset, TimeZone};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::dates::{first_of_month, Bucket, Range};
use super::engine::{as_f64, as_u64, Engine, Query, Raw, ReportError};
use super::goals::{Goal, Goals};
use super::model::{Dimension, Metric, VISIT_COLUMNS};
use crate::sites::Site;
use crate::store::{fetch, fetch_compact, insert_rows, InsertOptions, Params, Store, StoreError};

const DAY: i64 = 86_400;

/// A day is rolled up this long after it ended, so the spool has handed its events over.
pub const GRACE: i64 = 10 * 60;

/// Days counted afresh on every builder pass (older days: see `FULL_RECOUNT_EVERY`).
const RECENT_DAYS: i64 = 7;

/// Every day of the history is counted again this often (seconds).
const FULL_RECOUNT_EVERY: i64 = 3600;

/// Superseded builds are deleted once they have been superseded this long (every
/// collector refreshes its index far more often).
const KEEP_SUPERSEDED: i64 = 120;

/// The dimensions rolled up per day, besides the totals (dimension `""`): every breakdown
/// the dashboard and the v1 API offer except custom properties and hours.
pub fn rolled_dimensions() -> Vec<Dimension> {
    let mut dims = vec![
        Dimension::Page,
        Dimension::Name,
        Dimension::Goal,
        Dimension::Hostname,
        Dimension::EntryPage,
        Dimension::ExitPage,
    ];
    dims.extend(VISIT_COLUMNS.iter().map(|(_, col)| Dimension::Visit(col)));
    dims
}

/// The current build of one site's day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Built {
    pub build: u64,
    pub events: u64,
    pub session_events: u64,
    /// Fingerprint of the goals the `event:goal` rows were computed with.
    pub goals: u64,
}

/// Days since 1970-01-01 of a UTC day.
fn day_number(d: NaiveDate) -> i64 {
    d.signed_duration_since(NaiveDate::default()).num_days()
}

fn day_date(n: i64) -> NaiveDate {
    NaiveDate::default() + chrono::Duration::days(n)
}

/// A stable fingerprint of a site's goal definitions (order does not matter).
pub fn goals_fingerprint(goals: &[Goal]) -> u64 {
    let mut defs: Vec<String> = goals
        .iter()
        .map(|g| {
            serde_json::to_string(&(&g.display_name, &g.event_name, &g.page_path))
                .unwrap_or_default()
        })
        .collect();
    defs.sort();
    let digest = ring::digest::digest(&ring::digest::SHA256, defs.join("\n").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest.as_ref()[..8]);
    u64::from_be_bytes(b) >> 1
}

/// Whether local days in `tz` coincide with UTC day `n` (offset 0 at both ends), so the
/// day's totals can fill a local day, week or month bucket.
fn utc_aligned(tz: &chrono_tz::Tz, n: i64) -> bool {
    [n * DAY, (n + 1) * DAY - 1].iter().all(|t| {
        chrono::DateTime::from_timestamp(*t, 0).is_some_and(|u| {
            tz.offset_from_utc_datetime(&u.naive_utc())
                .fix()
                .local_minus_utc()
                == 0
        })
    })
}

/// How a query is answered with rollups: the rolled-up days, and the raw rest of the range.
pub struct Plan {
    /// `(day, build)` of each day read from the rollup.
    days: Vec<(i64, u64)>,
    /// The parts of the range not covered by `days`, each within its own UTC days.
    pub rest: Vec<Range>,
    /// The stored dimension name (`""` for totals and time buckets).
    dimension: String,
    bucket: Option<Bucket>,
    from: NaiveDate,
}

impl Plan {
    /// The rolled-up days' sums per group.
    pub(crate) async fn read(
        &self,
        store: &dyn Store,
        q: &Query,
    ) -> Result<HashMap<String, Raw>, ReportError> {
        let keys: Vec<String> = self
            .days
            .iter()
            .map(|(d, b)| format!("{}:{b}", day_date(*d)))
            .collect();
        let first = self.days.iter().map(|d| d.0).min().unwrap_or(0);
        let last = self.days.iter().map(|d| d.0).max().unwrap_or(0);
        let group = if self.bucket.is_some() {
            "toString(day)"
        } else {
            "value"
        };
        let rows = fetch_compact(
            store,
            &format!(
                "SELECT {group} AS g, sum(visitors), sum(pageviews), sum(events), sum(visits), sum(bounces),
                        sum(duration), sum(session_pageviews)
                 FROM rollups
                 WHERE site = {{site:String}} AND dimension = {{dimension:String}}
                   AND day >= {{first:Date}} AND day <= {{last:Date}}
                   AND concat(toString(day), ':', toString(build)) IN {{keys:Array(String)}}
                 GROUP BY g"
            ),
            &Params::new()
                .with("site", q.site.as_str())
                .with("dimension", self.dimension.as_str())
                .with("first", day_date(first).to_string())
                .with("last", day_date(last).to_string())
                .with("keys", keys),
        )
        .await?;
        let mut out: HashMap<String, Raw> = HashMap::new();
        for r in rows.into_iter().filter(|r| r.len() == 8) {
            let dims = match (self.bucket, &r[0]) {
                (None, _) if self.dimension.is_empty() => Vec::new(),
                (None, Value::String(v)) => {
                    vec![serde_json::from_str(v).map_err(|e| StoreError::Decode(e.to_string()))?]
                }
                (Some(b), Value::String(d)) => {
                    let day = super::dates::parse_date(d)
                        .ok_or_else(|| StoreError::Decode(format!("rollup day {d:?}")))?;
                    vec![Value::String(bucket_label(b, day, self.from))]
                }
                _ => continue,
            };
            let raw = Raw {
                dims,
                visitors: as_u64(&r[1]),
                pageviews: as_u64(&r[2]),
                events: as_u64(&r[3]),
                visits: as_u64(&r[4]),
                bounces: as_u64(&r[5]),
                duration: as_f64(&r[6]),
                session_pageviews: as_u64(&r[7]),
            };
            Raw::slot(&mut out, &raw.dims).add(&raw);
        }
        Ok(out)
    }
}

/// The engine's label of the bucket holding a UTC-aligned local day (same text as its SQL).
fn bucket_label(bucket: Bucket, day: NaiveDate, from: NaiveDate) -> String {
    match bucket {
        Bucket::Day | Bucket::Hour => day.to_string(),
        Bucket::Week => {
            let monday = day - Days::new(u64::from(day.weekday().num_days_from_monday()));
            monday.max(from).to_string()
        }
        Bucket::Month => first_of_month(day).to_string(),
    }
}

/// Makes `built` the day's current build unless a newer one is known; returns the build it
/// replaced.
fn install(
    index: &mut HashMap<String, BTreeMap<i64, Built>>,
    site: String,
    day: i64,
    built: Built,
) -> Option<Built> {
    let days = index.entry(site).or_default();
    match days.get(&day) {
        Some(current) if current.build >= built.build => None,
        _ => days.insert(day, built),
    }
}

#[derive(Deserialize)]
struct DayRow {
    site: String,
    day: String,
    current: u64,
    events: u64,
    session_events: u64,
    goals: u64,
}

#[derive(Serialize)]
struct RollupRow<'a> {
    site: &'a str,
    day: String,
    build: u64,
    dimension: String,
    value: String,
    visitors: u64,
    pageviews: u64,
    events: u64,
    visits: u64,
    bounces: u64,
    duration: f64,
    session_pageviews: u64,
    retention_days: u16,
}

#[derive(Serialize)]
struct RollupDayRow<'a> {
    site: &'a str,
    day: String,
    build: u64,
    events: u64,
    session_events: u64,
    goals: u64,
    retention_days: u16,
}

#[derive(Deserialize)]
struct Count {
    site: String,
    d: String,
    n: u64,
}

/// (events, session events) per (site, day number).
type DayCounts = HashMap<(String, i64), (u64, u64)>;

/// What a builder pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Days (re)built.
    pub built: usize,
    /// Days that still need a build (the pass ran out of time, or was deferred).
    pub pending: usize,
    /// The pass did not run: the spool still held events the store had not confirmed.
    pub deferred: bool,
}

/// The rollup index (current build per site and day) and the builder.
pub struct Rollups {
    store: Arc<dyn Store>,
    index: RwLock<HashMap<String, BTreeMap<i64, Built>>>,
    /// Builds replaced by a newer one: (site, day, build, superseded at).
    superseded: Mutex<Vec<(String, i64, u64, i64)>>,
    last_build: Mutex<u64>,
    /// The last full count of every finished day, and when it was taken.
    counted: Mutex<Option<(i64, DayCounts)>>,
    /// One builder pass at a time (the background task, tests, benchmarks).
    pass: tokio::sync::Mutex<()>,
}

impl Rollups {
    pub async fn load(store: Arc<dyn Store>) -> Result<Rollups, StoreError> {
        let r = Rollups {
            store,
            index: RwLock::new(HashMap::new()),
            superseded: Mutex::new(Vec::new()),
            last_build: Mutex::new(0),
            counted: Mutex::new(None),
            pass: tokio::sync::Mutex::new(()),
        };
        r.refresh().await?;
        Ok(r)
    }

    /// Reloads the index from `rollup_days` (builds by other collectors appear here). The
    /// newest build of a day wins, so a build this collector installed while the rows were
    /// being read is kept.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let rows: Vec<DayRow> = fetch(
            self.store.as_ref(),
            "SELECT site, toString(day) AS day, max(build) AS current, argMax(events, build) AS events,
                    argMax(session_events, build) AS session_events, argMax(goals, build) AS goals
             FROM rollup_days GROUP BY site, day",
            &Params::new(),
        )
        .await?;
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        for r in rows {
            let Some(day) = super::dates::parse_date(&r.day) else {
                continue;
            };
            install(
                &mut index,
                r.site,
                day_number(day),
                Built {
                    build: r.current,
                    events: r.events,
                    session_events: r.session_events,
                    goals: r.goals,
                },
            );
        }
        Ok(())
    }

    /// The current builds of a site's days.
    pub fn days(&self, site: &str) -> BTreeMap<i64, Built> {
        self.index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(site)
            .cloned()
            .unwrap_or_default()
    }

    /// How to answer `q` over `range` with rollups, if they can answer part of it: no
    /// filters, at most one dimension, rolled up (or a day, week or month bucket whose local
    /// days are UTC days), not realtime, and at least one whole rolled-up day in the range.
    pub fn plan(&self, q: &Query, range: &Range, goals: &[Goal]) -> Option<Plan> {
        if range.live || !q.filters.is_empty() || q.dimensions.len() > 1 {
            return None;
        }
        let (dimension, bucket) = match q.dimensions.first() {
            None => (String::new(), None),
            Some(Dimension::Time(Bucket::Hour)) => return None,
            Some(Dimension::Time(b)) => (String::new(), Some(*b)),
            Some(d) if rolled_dimensions().contains(d) => (d.name(), None),
            Some(_) => return None,
        };
        let needs_goals = q.dimensions.first() == Some(&Dimension::Goal);
        let fingerprint = goals_fingerprint(goals);
        let first = range.start.div_euclid(DAY) + i64::from(range.start.rem_euclid(DAY) != 0);
        let end_day = range.end.div_euclid(DAY);
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        let days: Vec<(i64, u64)> = index
            .get(&q.site)?
            .range(first..end_day)
            .filter(|(_, b)| !needs_goals || b.goals == fingerprint)
            .map(|(d, b)| (*d, b.build))
            .collect();
        drop(index);
        if days.is_empty() {
            return None;
        }
        if bucket.is_some() && !days.iter().all(|(d, _)| utc_aligned(&q.tz, *d)) {
            return None;
        }
        let mut rest = Vec::new();
        let mut cursor = range.start;
        for (d, _) in &days {
            if d * DAY > cursor {
                rest.push(range.between(cursor, d * DAY));
            }
            cursor = (d + 1) * DAY;
        }
        if cursor < range.end {
            rest.push(range.between(cursor, range.end));
        }
        Some(Plan {
            days,
            rest,
            dimension,
            bucket,
            from: range.from,
        })
    }

    /// A build id: microseconds since the epoch, increasing within this process.
    fn next_build(&self) -> u64 {
        let now = u64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros())
                .unwrap_or(0),
        )
        .unwrap_or(u64::MAX);
        let mut last = self.last_build.lock().unwrap_or_else(|e| e.into_inner());
        *last = now.max(*last + 1);
        *last
    }

    /// Events and session events per (site, finished day): the last `RECENT_DAYS` days as
    /// stored now, older days as of the last full count (taken again when it is older than
    /// `FULL_RECOUNT_EVERY`).
    async fn counts(&self, cutoff: i64, now: i64) -> Result<DayCounts, StoreError> {
        let last = self
            .counted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .filter(|(at, _)| (0..FULL_RECOUNT_EVERY).contains(&(now - at)));
        let (at, counts) = match last {
            None => (now, self.count_days(0, cutoff).await?),
            Some((at, mut counts)) => {
                let since = cutoff - RECENT_DAYS * DAY;
                counts.retain(|(_, day), _| *day < since.div_euclid(DAY));
                counts.extend(self.count_days(since, cutoff).await?);
                (at, counts)
            }
        };
        *self.counted.lock().unwrap_or_else(|e| e.into_inner()) = Some((at, counts.clone()));
        Ok(counts)
    }

    /// Events and session events per (site, day) from `since` to `cutoff` (day boundaries,
    /// Unix seconds), as stored now.
    async fn count_days(&self, since: i64, cutoff: i64) -> Result<DayCounts, StoreError> {
        let p = Params::new().with("since", since).with("cutoff", cutoff);
        let events: Vec<Count> = fetch(
            self.store.as_ref(),
            "SELECT site, toString(toDate(timestamp)) AS d, count() AS n FROM events
             WHERE timestamp >= toDateTime({since:Int64}) AND timestamp < toDateTime({cutoff:Int64})
             GROUP BY site, d",
            &p,
        )
        .await?;
        let sessions: Vec<Count> = fetch(
            self.store.as_ref(),
            "SELECT site, toString(day) AS d, sum(events) AS n FROM sessions
             WHERE day >= toDate(toDateTime({since:Int64})) AND day < toDate(toDateTime({cutoff:Int64}))
             GROUP BY site, d",
            &p,
        )
        .await?;
        let mut out = DayCounts::new();
        for (rows, second) in [(events, false), (sessions, true)] {
            for c in rows {
                let Some(d) = super::dates::parse_date(&c.d) else {
                    continue;
                };
                let e = out.entry((c.site, day_number(d))).or_default();
                if second {
                    e.1 = c.n;
                } else {
                    e.0 = c.n;
                }
            }
        }
        Ok(out)
    }

    /// One builder pass at `now`: (re)builds, newest first, every finished day within each
    /// site's retention whose rollup is missing or out of date, until `budget` is spent;
    /// then deletes builds superseded long enough ago.
    pub async fn build_pending(
        &self,
        sites: &[Site],
        goals: &Goals,
        now: i64,
        budget: Duration,
    ) -> Result<Pass, ReportError> {
        let _one_pass = self.pass.lock().await;
        let started = Instant::now();
        self.delete_superseded(now).await?;
        let cutoff = (now - GRACE).div_euclid(DAY) * DAY;
        let last_day = cutoff / DAY - 1;
        let counts = self.counts(cutoff, now).await?;
        // Per site: its goals and their fingerprint; then (day, site, counts) to build.
        let mut site_goals: Vec<(Vec<Goal>, u64)> = Vec::new();
        let mut todo: Vec<(i64, usize, (u64, u64))> = Vec::new();
        for (i, site) in sites.iter().enumerate() {
            let name = site.domain.to_string();
            let list = goals.list(&name);
            let fingerprint = goals_fingerprint(&list);
            site_goals.push((list, fingerprint));
            let built = self.days(&name);
            let oldest = last_day - i64::from(site.retention_days) + 1;
            // From the first day anything was stored (or built) to the last finished day:
            // days without events get an empty build, so rolled-up days stay contiguous.
            let first = counts
                .keys()
                .filter(|(s, _)| *s == name)
                .map(|(_, d)| *d)
                .chain(built.keys().copied())
                .min();
            let Some(first) = first else { continue };
            for day in first.max(oldest)..=last_day {
                let now_counts = counts.get(&(name.clone(), day)).copied().unwrap_or((0, 0));
                let stale = match built.get(&day) {
                    None => true,
                    Some(b) => (b.events, b.session_events) != now_counts || b.goals != fingerprint,
                };
                if stale {
                    todo.push((day, i, now_counts));
                }
            }
        }
        todo.sort_by_key(|t| std::cmp::Reverse(t.0));
        let mut pass = Pass::default();
        for (n, (day, i, counts)) in todo.iter().enumerate() {
            if started.elapsed() > budget {
                pass.pending = todo.len() - n;
                break;
            }
            let (list, fingerprint) = &site_goals[*i];
            self.build_day(&sites[*i], *day, *counts, list, *fingerprint, now)
                .await?;
            pass.built += 1;
        }
        Ok(pass)
    }

    /// Computes and stores one site's day, then makes it the current build.
    async fn build_day(
        &self,
        site: &Site,
        day: i64,
        counts: (u64, u64),
        goals: &[Goal],
        fingerprint: u64,
        now: i64,
    ) -> Result<(), ReportError> {
        let name = site.domain.to_string();
        let date = day_date(day);
        let build = self.next_build();
        let mut rows = Vec::new();
        if counts != (0, 0) {
            let engine = Engine {
                store: self.store.as_ref(),
                goals,
                rollups: None,
            };
            let range = Range::utc_day(date);
            let mut q = Query {
                site: name.clone(),
                tz: chrono_tz::UTC,
                range: range.clone(),
                metrics: vec![Metric::Visitors, Metric::Visits],
                dimensions: Vec::new(),
                filters: Vec::new(),
                order_by: Vec::new(),
                limit: usize::MAX,
                offset: 0,
                time_labels: false,
                total_rows: false,
                compare_previous: false,
            };
            let dims: Vec<Option<Dimension>> = std::iter::once(None)
                .chain(rolled_dimensions().into_iter().map(Some))
                .collect();
            for dim in dims {
                q.dimensions = dim.iter().cloned().collect();
                let groups = engine.raw_groups(&q, &range, &q.metrics).await?;
                for raw in groups.into_values() {
                    let value = match raw.dims.first() {
                        Some(v) => serde_json::to_string(v).unwrap_or_default(),
                        None => String::new(),
                    };
                    rows.push(RollupRow {
                        site: &name,
                        day: date.to_string(),
                        build,
                        dimension: dim.as_ref().map(Dimension::name).unwrap_or_default(),
                        value,
                        visitors: raw.visitors,
                        pageviews: raw.pageviews,
                        events: raw.events,
                        visits: raw.visits,
                        bounces: raw.bounces,
                        duration: raw.duration,
                        session_pageviews: raw.session_pageviews,
                        retention_days: site.retention_days,
                    });
                }
            }
        }
        let store = self.store.as_ref();
        insert_rows(store, "rollups", &rows, &InsertOptions::default()).await?;
        // The day row goes in last: a reader that sees this build finds all its rows.
        insert_rows(
            store,
            "rollup_days",
            &[RollupDayRow {
                site: &name,
                day: date.to_string(),
                build,
                events: counts.0,
                session_events: counts.1,
                goals: fingerprint,
                retention_days: site.retention_days,
            }],
            &InsertOptions::default(),
        )
        .await?;
        let written = rows.len();
        drop(rows);
        let previous = install(
            &mut self.index.write().unwrap_or_else(|e| e.into_inner()),
            name.clone(),
            day,
            Built {
                build,
                events: counts.0,
                session_events: counts.1,
                goals: fingerprint,
            },
        );
        if let Some(p) = previous {
            self.superseded
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((name, day, p.build, now));
        }
        tracing::debug!(site = %site.domain, day = %date, rows = written, "rolled up a day");
        Ok(())
    }

    /// Deletes the rows of builds superseded at least `KEEP_SUPERSEDED` seconds ago.
    async fn delete_superseded(&self, now: i64) -> Result<(), StoreError> {
        let due: Vec<(String, i64, u64, i64)> = {
            let mut s = self.superseded.lock().unwrap_or_else(|e| e.into_inner());
            let (due, keep) = s.drain(..).partition(|x| now - x.3 >= KEEP_SUPERSEDED);
            *s = keep;
            due
        };
        for (site, day, build, _) in due {
            self.store
                .execute(
                    "DELETE FROM rollups WHERE site = {site:String} AND day = {day:Date} AND build = {build:UInt64}",
                    &Params::new()
                        .with("site", site.as_str())
                        .with("day", day_date(day).to_string())
                        .with("build", build),
                )
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_round_trip() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        assert_eq!(day_date(day_number(d)), d);
        assert_eq!(day_number(d) * DAY, 1_795_478_400);
    }

    #[test]
    fn bucket_labels_match_the_engine() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(); // a Thursday
        let from = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        assert_eq!(bucket_label(Bucket::Day, d, from), "2026-11-26");
        assert_eq!(bucket_label(Bucket::Week, d, from), "2026-11-25");
        assert_eq!(
            bucket_label(
                Bucket::Week,
                d,
                NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
            ),
            "2026-11-23"
        );
        assert_eq!(bucket_label(Bucket::Month, d, from), "2026-11-01");
    }

    #[test]
    fn only_zero_offset_days_are_aligned() {
        let n = day_number(NaiveDate::from_ymd_opt(2026, 1, 15).unwrap());
        assert!(utc_aligned(&chrono_tz::UTC, n));
        assert!(utc_aligned(&chrono_tz::Europe::London, n));
        assert!(!utc_aligned(&chrono_tz::Europe::Berlin, n));
        // London's clocks go forward at 01:00 UTC on 2026-03-29.
        let dst = day_number(NaiveDate::from_ymd_opt(2026, 3, 29).unwrap());
        assert!(!utc_aligned(&chrono_tz::Europe::London, dst));
    }

    #[test]
    fn goal_fingerprints_ignore_order() {
        let g = |name: &str| Goal {
            id: name.into(),
            site: "a.example".into(),
            goal_type: "event",
            event_name: Some(name.into()),
            page_path: None,
            display_name: name.into(),
            created_at: 0,
        };
        let a = goals_fingerprint(&[g("Signup"), g("Download")]);
        assert_eq!(a, goals_fingerprint(&[g("Download"), g("Signup")]));
        assert_ne!(a, goals_fingerprint(&[g("Signup")]));
    }
}
