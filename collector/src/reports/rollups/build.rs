//! The rollup builder: a background pass that computes finished days through the raw-table
//! path (`execute::raw_groups`), writes them as a new build and makes it current.
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
//! Filtered rows: a build also holds the day under each common page, custom property value,
//! source and country (`FILTER_SHARE`, `FILTER_LIMIT`, `FILTERED_VISIT_COLUMNS`), and under
//! each of the site's goals. A filtered view spends its time reading the
//! filtered column of every event and grouping the matching visits, so a value few events
//! carry is answered fast from the raw tables; a common one is what a user clicks on. Each
//! day's filtered reports go through `batch::prefetch`, as a dashboard view does, so a filter
//! costs a few statements over one day.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{
    day_date, day_number, filter_key, goals_fingerprint, install, rolled_dimensions,
    stored_dimension, value_filter, Built, DayCounts, Rollups, DAY, FILTERED_VISIT_COLUMNS,
};
use crate::reports::batch;
use crate::reports::dates::Range;
use crate::reports::execute;
use crate::reports::goals::{Goal, Goals};
use crate::reports::model::{Dimension, Kind, Metric};
use crate::reports::query::{Query, ReportError};
use crate::reports::sql;
use crate::sites::Site;
use crate::store::{fetch, insert_rows, InsertOptions, StoreError};

/// A day is rolled up this long after it ended, so the spool has handed its events over.
pub const GRACE: i64 = 10 * 60;

/// Days counted afresh on every builder pass (older days: see `FULL_RECOUNT_EVERY`).
const RECENT_DAYS: i64 = 7;

/// Every day of the history is counted again this often (seconds).
const FULL_RECOUNT_EVERY: i64 = 3600;

/// A page, custom property or visit property value is rolled up under its filter on a day
/// when at least this share of the day's events carry it.
const FILTER_SHARE: f64 = 0.01;

/// At most this many values of each kind (pages, custom property values, the values of each
/// visit property in `FILTERED_VISIT_COLUMNS`, the site's goals) per day.
const FILTER_LIMIT: u64 = 10;

/// The rule the filters of a build were chosen by. A build made under an older rule is
/// built again. 1: pages and custom property values; 2: also sources, countries and goals.
pub const FILTER_RULE: u8 = 2;

/// The metrics a filtered build computes for a breakdown (unfiltered, it computes them all).
/// Leads stay unfiltered: they would be a statement per breakdown and filter. So do visits
/// broken down by an event property (page, goal, event name, hostname): each is a statement
/// of its own, a join of the visits with their events, and together they were most of a
/// filtered build's time. `Plan` leaves both to the raw tables under a filter.
pub(super) fn filtered_metrics(dim: Option<&Dimension>) -> Vec<Metric> {
    match dim.map(Dimension::kind) {
        Some(Kind::Event) => vec![Metric::Visitors],
        _ => vec![Metric::Visitors, Metric::Visits],
    }
}

/// Superseded builds are deleted once they have been superseded this long (every
/// collector refreshes its index far more often).
const KEEP_SUPERSEDED: i64 = 120;

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
    leads: u64,
    bounce_visits: u64,
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
    filters: Vec<String>,
    filter_rule: u8,
    retention_days: u16,
}

#[derive(Deserialize)]
struct Common {
    k: String,
    v: String,
}

#[derive(Deserialize)]
struct Count {
    site: String,
    d: String,
    n: u64,
}

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

impl Rollups {
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
        let store = self.store.as_ref();
        let s = sql::rollups::count_events(since, cutoff);
        let events: Vec<Count> = fetch(store, &s.text, &s.params).await?;
        let s = sql::rollups::count_session_events(since, cutoff);
        let sessions: Vec<Count> = fetch(store, &s.text, &s.params).await?;
        let mut out = DayCounts::new();
        for (rows, second) in [(events, false), (sessions, true)] {
            for c in rows {
                let Some(d) = crate::reports::dates::parse_date(&c.d) else {
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
                    Some(b) => {
                        (b.events, b.session_events) != now_counts
                            || b.goals != fingerprint
                            || b.filter_rule != FILTER_RULE
                    }
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
        let store = self.store.as_ref();
        let mut rows = Vec::new();
        let mut filters = Vec::new();
        if counts != (0, 0) {
            let range = Range::utc_day(date);
            let s = sql::rollups::common_values(
                &name,
                date,
                FILTER_SHARE,
                FILTER_LIMIT,
                &FILTERED_VISIT_COLUMNS,
            );
            let common: Vec<Common> = fetch(store, &s.text, &s.params).await?;
            // The common values, and the site's goals whatever their share: a goal filter
            // reads the visits that converted, which the raw tables find slowly even for a
            // rare goal.
            let goal_values = goals
                .iter()
                .take(FILTER_LIMIT as usize)
                .map(|g| (Dimension::Goal.name(), g.display_name.clone()));
            filters = common
                .into_iter()
                .map(|c| (c.k, c.v))
                .chain(goal_values)
                .filter_map(|(k, v)| {
                    let f = value_filter(&k, v)?;
                    Some((filter_key(&f)?, f))
                })
                .collect::<Vec<_>>();
            let base = Query {
                site: name.clone(),
                tz: chrono_tz::UTC,
                range: range.clone(),
                metrics: vec![Metric::Visitors, Metric::Visits, Metric::Leads],
                dimensions: Vec::new(),
                filters: Vec::new(),
                order_by: Vec::new(),
                limit: usize::MAX,
                offset: 0,
                time_labels: false,
                total_rows: false,
                comparison: None,
            };
            let dims: Vec<Option<Dimension>> = std::iter::once(None)
                .chain(rolled_dimensions().into_iter().map(Some))
                .collect();
            // (filter key, query): the day unfiltered, then under each common value.
            let mut queries: Vec<(Option<&str>, Query)> = Vec::new();
            for filter in std::iter::once(None).chain(filters.iter().map(Some)) {
                for dim in &dims {
                    queries.push((
                        filter.map(|(key, _)| key.as_str()),
                        Query {
                            dimensions: dim.iter().cloned().collect(),
                            filters: filter.map(|(_, f)| f.clone()).into_iter().collect(),
                            metrics: match filter {
                                None => base.metrics.clone(),
                                Some(_) => filtered_metrics(dim.as_ref()),
                            },
                            ..base.clone()
                        },
                    ));
                }
            }
            let reports: Vec<(&Query, &[Goal])> = queries.iter().map(|(_, q)| (q, goals)).collect();
            let memo = batch::prefetch(store, None, &reports).await;
            for (key, q) in &queries {
                let groups =
                    execute::raw_groups(store, Some(&memo), goals, q, &range, &q.metrics).await?;
                let dimension = q
                    .dimensions
                    .first()
                    .map(Dimension::name)
                    .unwrap_or_default();
                for raw in groups.into_values() {
                    let value = match raw.dims.first() {
                        Some(v) => serde_json::to_string(v).unwrap_or_default(),
                        None => String::new(),
                    };
                    rows.push(RollupRow {
                        site: &name,
                        day: date.to_string(),
                        build,
                        dimension: stored_dimension(&dimension, *key),
                        value,
                        visitors: raw.visitors,
                        pageviews: raw.pageviews,
                        events: raw.events,
                        visits: raw.visits,
                        bounces: raw.bounces,
                        duration: raw.duration,
                        session_pageviews: raw.session_pageviews,
                        leads: raw.leads,
                        bounce_visits: raw.bounce_visits,
                        retention_days: site.retention_days,
                    });
                }
            }
        }
        let filters: Vec<String> = filters.into_iter().map(|(key, _)| key).collect();
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
                filters: filters.clone(),
                filter_rule: FILTER_RULE,
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
                filters,
                filter_rule: FILTER_RULE,
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
            let s = sql::rollups::delete_build(&site, day_date(day), build);
            self.store.execute(&s.text, &s.params).await?;
        }
        Ok(())
    }
}
