//! The read side of rollups: for a query and a range, which whole UTC days come from the
//! current rollup builds and which parts of the range stay with the raw tables. Pure: it
//! reads only the in-memory index; `engine` runs the resulting statement.

use chrono::{NaiveDate, Offset, TimeZone};

use super::{
    build, day_date, filter_key, goals_fingerprint, rolled_dimensions, stored_dimension, Rollups,
    DAY,
};
use crate::reports::dates::{Bucket, Range};
use crate::reports::goals::Goal;
use crate::reports::model::{Dimension, Metric};
use crate::reports::query::Query;
use crate::reports::sql::{self, Statement};

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
    /// The key of the query's filter (`filter_key`), if it has one.
    filter: Option<String>,
    bucket: Option<Bucket>,
    from: NaiveDate,
}

impl Plan {
    /// The statement that sums the rolled-up days per group (see `shape::rollup_sums`).
    pub fn statement(&self, site: &str) -> Statement {
        let days: Vec<(NaiveDate, u64)> =
            self.days.iter().map(|(d, b)| (day_date(*d), *b)).collect();
        let stored = stored_dimension(&self.dimension, self.filter.as_deref());
        sql::rollups::read(site, &stored, self.bucket.is_some(), &days)
    }

    /// The rows are a filter's (`shape::keep_asked`).
    pub fn filtered(&self) -> bool {
        self.filter.is_some()
    }

    /// The rows are the totals (no dimension, no time bucket).
    pub fn totals(&self) -> bool {
        self.dimension.is_empty()
    }

    /// The time bucket the rolled-up days are labelled with, if the query is a time series.
    pub fn bucket(&self) -> Option<Bucket> {
        self.bucket
    }

    /// The range's first local day (where its first week bucket starts).
    pub fn from(&self) -> NaiveDate {
        self.from
    }
}

impl Rollups {
    /// How to answer `q` over `range` with rollups, if they can answer part of it: no
    /// filters, or one filter that every built day of the range holds (`filter_key`); at
    /// most one dimension, rolled up (or a day, week or month bucket whose local days are
    /// UTC days); not realtime; and at least one whole rolled-up day in the range.
    pub fn plan(&self, q: &Query, range: &Range, goals: &[Goal]) -> Option<Plan> {
        if range.live || q.dimensions.len() > 1 {
            return None;
        }
        let filter = match q.filters.as_slice() {
            [] => None,
            [f] => {
                // What filtered builds leave out (`build::filtered_metrics`).
                let held = build::filtered_metrics(q.dimensions.first());
                let mut asked = q.metrics.iter().map(|m| match m {
                    m if m.needs_leads() => Metric::Leads,
                    m if m.is_session() => Metric::Visits,
                    _ => Metric::Visitors,
                });
                if asked.any(|m| !held.contains(&m)) {
                    return None;
                }
                Some(filter_key(f)?)
            }
            _ => return None,
        };
        let (dimension, bucket) = match q.dimensions.first() {
            None => (String::new(), None),
            Some(Dimension::Time(Bucket::Hour)) => return None,
            Some(Dimension::Time(b)) => (String::new(), Some(*b)),
            Some(d) if rolled_dimensions().contains(d) => (d.name(), None),
            Some(_) => return None,
        };
        // Goal rows, and rows under a goal filter, hold only on days built with the site's
        // current goals; the other days of the range read the raw tables.
        let needs_goals = q.dimensions.first() == Some(&Dimension::Goal)
            || q.filters
                .iter()
                .any(|f| f.dimensions().contains(&&Dimension::Goal));
        let fingerprint = goals_fingerprint(goals);
        let first = range.start.div_euclid(DAY) + i64::from(range.start.rem_euclid(DAY) != 0);
        let end_day = range.end.div_euclid(DAY);
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        let built = index.get(&q.site)?.range(first..end_day);
        if let Some(key) = &filter {
            if built.clone().any(|(_, b)| !b.filters.contains(key)) {
                return None;
            }
        }
        let days: Vec<(i64, u64)> = built
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
            filter,
            bucket,
            from: range.from,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::rollups::day_number;

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
}
