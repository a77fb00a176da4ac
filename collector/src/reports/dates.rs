//! Date ranges in a site's time zone: Plausible's periods resolved to local dates and to the
//! UTC instants the tables are filtered by.

use chrono::{Datelike, Days, LocalResult, Months, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// A period as a client names it.
#[derive(Clone, Debug, PartialEq)]
pub enum Period {
    /// The reference day.
    Day,
    /// The `n` whole days before the reference day (Plausible's `7d`, `30d`: they end
    /// yesterday, so every day in them is complete).
    Days(u32),
    /// The reference day's calendar month.
    Month,
    /// The `n` whole calendar months before the reference day's month (`6mo`, `12mo`).
    Months(u32),
    /// The reference day's calendar year.
    Year,
    /// From the site's creation to the reference day.
    All,
    /// Two local dates, both included.
    Custom(NaiveDate, NaiveDate),
    /// The last five minutes (Plausible's "current visitors").
    Realtime,
}

impl Period {
    /// Plausible's names: `day`, `7d`, `28d`, `30d`, `91d`, `month`, `6mo`, `12mo`, `year`,
    /// `all`, `realtime`; also any `<n>d` up to 3660 and `<n>mo` up to 120.
    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "day" | "today" => Some(Period::Day),
            "month" => Some(Period::Month),
            "year" => Some(Period::Year),
            "all" => Some(Period::All),
            "realtime" => Some(Period::Realtime),
            _ => {
                if let Some(n) = s.strip_suffix("mo") {
                    let n: u32 = n.parse().ok()?;
                    (1..=120).contains(&n).then_some(Period::Months(n))
                } else if let Some(n) = s.strip_suffix('d') {
                    let n: u32 = n.parse().ok()?;
                    (1..=3660).contains(&n).then_some(Period::Days(n))
                } else {
                    None
                }
            }
        }
    }
}

pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()
}

/// What a comparison compares with (Plausible's `include.comparisons`).
#[derive(Clone, Debug, PartialEq)]
pub enum CompareMode {
    PreviousPeriod,
    YearOverYear,
    Custom(NaiveDate, NaiveDate),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Compare {
    pub mode: CompareMode,
    pub match_day_of_week: bool,
}

/// A resolved range: local dates (both included) and UTC instants `[start, end)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub start: i64,
    pub end: i64,
    /// The last minutes (realtime): counted from events as they arrive, not by visit start.
    pub live: bool,
}

/// The first instant of a local date (midnight, or the first valid time after a DST gap).
pub fn local_midnight(tz: &Tz, d: NaiveDate) -> i64 {
    let naive = d.and_hms_opt(0, 0, 0).expect("midnight exists");
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.timestamp(),
        LocalResult::Ambiguous(a, _) => a.timestamp(),
        LocalResult::None => (1..=180)
            .find_map(|m| {
                tz.from_local_datetime(&(naive + chrono::Duration::minutes(m)))
                    .earliest()
            })
            .map(|t| t.timestamp())
            .unwrap_or_else(|| naive.and_utc().timestamp()),
    }
}

/// The local date in `tz` at `now` (Unix seconds, from the application's `Clock`).
pub fn today(tz: &Tz, now: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .with_timezone(tz)
        .date_naive()
}

pub(crate) fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).expect("day 1 exists")
}

fn last_of_month(d: NaiveDate) -> NaiveDate {
    first_of_month(d)
        .checked_add_months(Months::new(1))
        .and_then(|n| n.pred_opt())
        .unwrap_or(d)
}

impl Range {
    pub fn dates(tz: &Tz, from: NaiveDate, to: NaiveDate) -> Range {
        Range {
            from,
            to,
            start: local_midnight(tz, from),
            end: local_midnight(tz, to.succ_opt().unwrap_or(to)),
            live: false,
        }
    }

    /// Resolves `period` relative to the local date `today`; `realtime` is the five minutes
    /// before `now` (Unix seconds).
    pub fn resolve(
        period: &Period,
        tz: &Tz,
        today: NaiveDate,
        site_created: NaiveDate,
        now: i64,
    ) -> Range {
        let (from, to) = match period {
            Period::Day => (today, today),
            Period::Days(n) => (today - Days::new(u64::from(*n)), today - Days::new(1)),
            Period::Month => (first_of_month(today), last_of_month(today)),
            Period::Months(n) => {
                let first = first_of_month(today)
                    .checked_sub_months(Months::new(*n))
                    .unwrap_or(today);
                let last = first_of_month(today).pred_opt().unwrap_or(today);
                (first, last)
            }
            Period::Year => {
                let first = NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today);
                let last = NaiveDate::from_ymd_opt(today.year(), 12, 31).unwrap_or(today);
                (first, last)
            }
            Period::All => (site_created.min(today), today),
            Period::Custom(a, b) => (*a, *b),
            Period::Realtime => {
                return Range {
                    from: today,
                    to: today,
                    start: now - 300,
                    end: now + 1,
                    live: true,
                };
            }
        };
        Range::dates(tz, from, to)
    }

    /// The range a comparison reads, as Plausible's `Comparisons` computes it: the source
    /// range cut at `today` (a period still running is compared as far as it has run), then
    /// moved back by its own length (`PreviousPeriod`) or by 365 days (`YearOverYear`), or the
    /// dates given (`Custom`); with `match_day_of_week` the start moves to the nearest day with
    /// the source's weekday (the later one first, never the source's own start).
    pub fn comparison(&self, tz: &Tz, today: NaiveDate, compare: &Compare) -> Range {
        let last = self.to.min(today).max(self.from);
        let (first, last) = match compare.mode {
            CompareMode::PreviousPeriod => {
                let shift = (last - self.from).num_days() + 1;
                (
                    self.from - chrono::Duration::days(shift),
                    last - chrono::Duration::days(shift),
                )
            }
            CompareMode::YearOverYear => (
                self.from - chrono::Duration::days(365),
                last - chrono::Duration::days(365),
            ),
            CompareMode::Custom(a, b) => return Range::dates(tz, a, b),
        };
        let (first, last) = if compare.match_day_of_week {
            let want = self.from.weekday();
            let new_first = if first.weekday() == want {
                first
            } else {
                let ahead = (7 + want.num_days_from_monday() as i64
                    - first.weekday().num_days_from_monday() as i64)
                    % 7;
                let next = first + chrono::Duration::days(ahead);
                let previous = next - chrono::Duration::days(7);
                if next == self.from {
                    previous
                } else {
                    next
                }
            };
            let shifted = new_first - first;
            (new_first, last + shifted)
        } else {
            (first, last)
        };
        Range::dates(tz, first, last)
    }

    /// One whole UTC day (what a daily rollup covers).
    pub fn utc_day(day: NaiveDate) -> Range {
        Range::dates(&chrono_tz::UTC, day, day)
    }

    /// The same range cut to the instants `[start, end)` (local dates kept, for week labels).
    pub fn between(&self, start: i64, end: i64) -> Range {
        Range {
            start,
            end,
            ..self.clone()
        }
    }

    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// ISO 8601 instants with the site's offset, as Plausible echoes a resolved range.
    pub fn iso(&self, tz: &Tz) -> [String; 2] {
        let fmt = |t: i64| {
            Utc.timestamp_opt(t, 0)
                .single()
                .map(|u| {
                    u.with_timezone(tz)
                        .format("%Y-%m-%dT%H:%M:%S%:z")
                        .to_string()
                })
                .unwrap_or_default()
        };
        [fmt(self.start), fmt(self.end - 1)]
    }
}

/// A time bucket size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bucket {
    Hour,
    Day,
    Week,
    Month,
}

/// Every bucket label in a range, in the format the engine returns.
pub fn labels(range: &Range, tz: &Tz, bucket: Bucket) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    match bucket {
        Bucket::Hour => {
            let mut t = range.start - range.start.rem_euclid(3600);
            while t < range.end {
                if let Some(u) = Utc.timestamp_opt(t, 0).single() {
                    let l = u.with_timezone(tz);
                    let label = format!("{} {:02}:00:00", l.date_naive(), l.hour());
                    if out.last() != Some(&label) {
                        out.push(label);
                    }
                }
                t += 3600;
            }
        }
        Bucket::Day => {
            let mut d = range.from;
            while d <= range.to {
                out.push(d.to_string());
                d = match d.succ_opt() {
                    Some(n) => n,
                    None => break,
                };
            }
        }
        Bucket::Week => {
            let mut d = range.from;
            while d <= range.to {
                let monday = d - Days::new(u64::from(d.weekday().num_days_from_monday()));
                out.push(monday.max(range.from).to_string());
                d = monday + Days::new(7);
            }
        }
        Bucket::Month => {
            let mut d = first_of_month(range.from);
            while d <= range.to {
                out.push(d.to_string());
                d = match d.checked_add_months(Months::new(1)) {
                    Some(n) => n,
                    None => break,
                };
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    #[test]
    fn periods_resolve_in_the_site_time_zone() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let r = Range::resolve(
            &Period::Days(7),
            &berlin,
            d("2026-11-24"),
            d("2020-01-01"),
            0,
        );
        assert_eq!((r.from, r.to), (d("2026-11-17"), d("2026-11-23")));
        // Midnight in Berlin (UTC+1 in November) is 23:00 UTC the day before.
        assert_eq!(
            r.start,
            d("2026-11-16")
                .and_hms_opt(23, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp()
        );
        assert_eq!(r.end - r.start, 7 * 86_400);
        let m = Range::resolve(&Period::Month, &berlin, d("2026-02-10"), d("2020-01-01"), 0);
        assert_eq!((m.from, m.to), (d("2026-02-01"), d("2026-02-28")));
        // This month, ten days in: compared with the ten days before.
        let prev = Compare {
            mode: CompareMode::PreviousPeriod,
            match_day_of_week: false,
        };
        let p = m.comparison(&berlin, d("2026-02-10"), &prev);
        assert_eq!((p.from, p.to), (d("2026-01-22"), d("2026-01-31")));
        let six = Range::resolve(
            &Period::Months(6),
            &berlin,
            d("2026-11-24"),
            d("2020-01-01"),
            0,
        );
        assert_eq!((six.from, six.to), (d("2026-05-01"), d("2026-10-31")));
        let w = Range::resolve(
            &Period::Days(7),
            &berlin,
            d("2026-11-24"),
            d("2020-01-01"),
            0,
        );
        let p = w.comparison(&berlin, d("2026-11-24"), &prev);
        assert_eq!((p.from, p.to), (d("2026-11-10"), d("2026-11-16")));
    }

    /// The doctests of Plausible's `QueryPeriod` (lib/plausible/stats/query_period.ex).
    #[test]
    fn plausible_query_period_doctests() {
        let utc = chrono_tz::UTC;
        let tallinn: Tz = "Europe/Tallinn".parse().unwrap();
        let at = |s: &str| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                .unwrap()
                .and_utc()
                .timestamp()
        };
        let created = d("2020-01-01");
        // build_last_n_days_range("Etc/UTC", 7, ~D[2026-05-08])
        let r = Range::resolve(&Period::Days(7), &utc, d("2026-05-08"), created, 0);
        assert_eq!(
            (r.start, r.end - 1),
            (at("2026-05-01 00:00:00"), at("2026-05-07 23:59:59"))
        );
        // ... "Europe/Tallinn"
        let r = Range::resolve(&Period::Days(7), &tallinn, d("2026-05-08"), created, 0);
        assert_eq!(
            (r.start, r.end - 1),
            (at("2026-04-30 21:00:00"), at("2026-05-07 20:59:59"))
        );
        // build_last_n_months_range("Etc/UTC", 3, ~D[2026-05-15])
        let r = Range::resolve(&Period::Months(3), &utc, d("2026-05-15"), created, 0);
        assert_eq!(
            (r.start, r.end - 1),
            (at("2026-02-01 00:00:00"), at("2026-04-30 23:59:59"))
        );
        let r = Range::resolve(&Period::Months(3), &tallinn, d("2026-05-15"), created, 0);
        assert_eq!(
            (r.start, r.end - 1),
            (at("2026-01-31 22:00:00"), at("2026-04-30 20:59:59"))
        );
        // build_month_range("Etc/UTC", ~D[2026-05-15]) and Tallinn
        let r = Range::resolve(&Period::Month, &utc, d("2026-05-15"), created, 0);
        assert_eq!(
            (r.start, r.end - 1),
            (at("2026-05-01 00:00:00"), at("2026-05-31 23:59:59"))
        );
        let r = Range::resolve(&Period::Month, &tallinn, d("2026-01-15"), created, 0);
        assert_eq!(
            (r.start, r.end - 1),
            (at("2025-12-31 22:00:00"), at("2026-01-31 21:59:59"))
        );
        // build_year_range("Etc/UTC" and "Europe/Tallinn", ~D[2026-05-15])
        let r = Range::resolve(&Period::Year, &utc, d("2026-05-15"), created, 0);
        assert_eq!(
            (r.start, r.end - 1),
            (at("2026-01-01 00:00:00"), at("2026-12-31 23:59:59"))
        );
        let r = Range::resolve(&Period::Year, &tallinn, d("2026-05-15"), created, 0);
        assert_eq!(
            (r.start, r.end - 1),
            (at("2025-12-31 22:00:00"), at("2026-12-31 21:59:59"))
        );
        // build_date_range("Europe/Tallinn", ~D[2026-05-01], ~D[2026-05-10])
        let r = Range::dates(&tallinn, d("2026-05-01"), d("2026-05-10"));
        assert_eq!(
            (r.start, r.end - 1),
            (at("2026-04-30 21:00:00"), at("2026-05-10 20:59:59"))
        );
        // build_day_range("Europe/Tallinn", ~D[2026-01-15], far future)
        let r = Range::resolve(&Period::Day, &tallinn, d("2026-01-15"), created, 0);
        assert_eq!(
            (r.start, r.end - 1),
            (at("2026-01-14 22:00:00"), at("2026-01-15 21:59:59"))
        );
    }

    #[test]
    fn a_daylight_saving_day_has_23_hours() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let r = Range::dates(&berlin, d("2026-03-29"), d("2026-03-29"));
        assert_eq!(r.end - r.start, 23 * 3600);
        assert_eq!(labels(&r, &berlin, Bucket::Hour).len(), 23);
    }

    #[test]
    fn week_labels_start_on_monday_clipped_to_the_range() {
        let utc: Tz = "UTC".parse().unwrap();
        let r = Range::dates(&utc, d("2026-11-05"), d("2026-11-20"));
        assert_eq!(
            labels(&r, &utc, Bucket::Week),
            ["2026-11-05", "2026-11-09", "2026-11-16"]
        );
        assert_eq!(labels(&r, &utc, Bucket::Month), ["2026-11-01"]);
        assert_eq!(Period::parse("28d"), Some(Period::Days(28)));
        assert_eq!(Period::parse("12mo"), Some(Period::Months(12)));
        assert_eq!(Period::parse("0d"), None);
    }
}
