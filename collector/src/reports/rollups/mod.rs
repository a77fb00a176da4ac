//! Daily rollups: unfiltered reports read whole finished UTC days from pre-aggregated rows,
//! and only the rest of the range (today, and the partial days at the edges of a range in
//! a time zone other than UTC) from the raw tables. This module holds the index of current
//! builds that both sides share; `plan` is the read side, `build` the background builder.
//!
//! Why the sums are exact: visitor ids are salted per UTC day (`privacy::salts`), so one
//! person on two days has two ids, and a period's unique visitors are exactly the sum of its
//! days' unique visitors. A visit belongs to one visitor id, so it starts and ends on its
//! UTC day, and visits, bounces, durations and page views add up by day too. Each day's
//! rows are computed by the same raw-table path reports use (`execute::raw_groups` over that
//! day), so a rolled-up answer is by construction the sum of the answers the raw tables give
//! day by day.
//!
//! Filtered rollups: a page, a custom property value, a source or a country that is common
//! on a day (see `build::FILTER_SHARE`, `FILTERED_VISIT_COLUMNS`), and each of the site's
//! goals, also get that day's rows under the filter `is <value>`, computed the same way with
//! the filter added, under the stored dimension `<dimension>|<filter>`. The argument above
//! holds under an event filter too: the events that match it on a UTC day, and the visits
//! that contain them, belong to that day; and under a visit filter, as a visit and all its
//! events belong to one UTC day. The day's build lists the filters it holds; a filtered
//! query uses rollups only if every built day of its range holds its filter, so a value that
//! is common on some days only stays on the raw tables. A goal filter, like a goal
//! breakdown, reads only days built with the site's current goals.
//! Filtered rows hold no leads: lead metrics under a filter read the raw tables.
//!
//! Every build has its own id; `rollup_days` names the current build of each day and readers
//! take only that build's rows, so a rebuild never mixes with the old one. Superseded rows
//! are deleted a few passes later, once every collector's index (it is refreshed with the
//! other caches) has moved on.

mod build;
mod plan;

pub use build::{Pass, GRACE};
pub use plan::Plan;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use chrono::NaiveDate;
use serde::Deserialize;

use super::goals::Goal;
use super::model::{Dimension, Filter, Op, VISIT_COLUMNS};
use super::sql;
use crate::store::{fetch, Store, StoreError};

const DAY: i64 = 86_400;

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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Built {
    pub build: u64,
    pub events: u64,
    pub session_events: u64,
    /// Fingerprint of the goals the `event:goal` rows were computed with.
    pub goals: u64,
    /// The filters the build also holds rows under (`filter_key`).
    pub filters: Vec<String>,
    /// How those filters were chosen (`build::FILTER_RULE`; 0: before filtered rollups).
    pub filter_rule: u8,
}

/// The visit properties whose common values are rolled up under a filter, as their
/// `events` columns: the source and the country, the visit breakdowns a dashboard user
/// clicks most. Each value costs its day a build of every rolled-up report, so the other
/// visit properties (rarer clicks, or values too spread to be common) stay on the raw tables.
pub const FILTERED_VISIT_COLUMNS: [&str; 2] = ["referrer_source", "country_code"];

/// The key a filter is rolled up under, if it is one that can be: `is` one value of the
/// page, of a custom property, of a visit property in `FILTERED_VISIT_COLUMNS` or of the
/// goal, case-sensitive (the dashboard's filter for a clicked row).
pub fn filter_key(f: &Filter) -> Option<String> {
    match f {
        Filter::Cond {
            op: Op::Is,
            dim,
            values,
            case_sensitive: true,
        } if values.len() == 1 && rolled_filter(dim) => {
            serde_json::to_string(&(dim.name(), &values[0])).ok()
        }
        _ => None,
    }
}

/// Whether a dimension's values may be rolled up under a filter.
fn rolled_filter(dim: &Dimension) -> bool {
    match dim {
        Dimension::Page | Dimension::Prop(_) | Dimension::Goal => true,
        Dimension::Visit(column) => FILTERED_VISIT_COLUMNS.contains(column),
        _ => false,
    }
}

/// The filter `<dimension> is <value>` (case-sensitive).
fn value_filter(dimension: &str, value: String) -> Option<Filter> {
    Some(Filter::Cond {
        op: Op::Is,
        dim: Dimension::parse(dimension)?,
        values: vec![value],
        case_sensitive: true,
    })
}

/// The filter a key names (the inverse of `filter_key`).
#[cfg(test)]
fn key_filter(key: &str) -> Option<Filter> {
    let (dim, value): (String, String) = serde_json::from_str(key).ok()?;
    value_filter(&dim, value)
}

/// The `dimension` rollup rows are stored under: the dimension's name (`""` for totals),
/// followed by `|` and the filter's key for filtered rows.
fn stored_dimension(dimension: &str, filter: Option<&str>) -> String {
    match filter {
        None => dimension.to_string(),
        Some(key) => format!("{dimension}|{key}"),
    }
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

/// Current builds per site and day number.
type Index = HashMap<String, BTreeMap<i64, Built>>;

/// Makes `built` the day's current build unless a newer one is known; returns the build it
/// replaced.
fn install(index: &mut Index, site: String, day: i64, built: Built) -> Option<Built> {
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
    filters: Vec<String>,
    filter_rule: u8,
}

/// (events, session events) per (site, day number).
type DayCounts = HashMap<(String, i64), (u64, u64)>;

/// The rollup index (current build per site and day), read by the planner and written by
/// the builder, and the builder's state.
pub struct Rollups {
    store: Arc<dyn Store>,
    index: RwLock<Index>,
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
        let s = sql::rollups::index();
        let rows: Vec<DayRow> = fetch(self.store.as_ref(), &s.text, &s.params).await?;
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
                    filters: r.filters,
                    filter_rule: r.filter_rule,
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
    fn filter_keys_name_one_value_of_a_page_a_property_a_source_a_country_or_a_goal_and_round_trip()
    {
        let page = |op, values: &[&str], case_sensitive| Filter::Cond {
            op,
            dim: Dimension::Page,
            values: values.iter().map(|v| v.to_string()).collect(),
            case_sensitive,
        };
        let key = filter_key(&page(Op::Is, &["/a|b\"c"], true)).unwrap();
        assert_eq!(key, r#"["event:page","/a|b\"c"]"#);
        assert_eq!(key_filter(&key), Some(page(Op::Is, &["/a|b\"c"], true)));
        let prop = Filter::Cond {
            op: Op::Is,
            dim: Dimension::Prop("author".into()),
            values: vec!["alice".into()],
            case_sensitive: true,
        };
        assert_eq!(key_filter(&filter_key(&prop).unwrap()), Some(prop.clone()));
        assert_eq!(
            stored_dimension("visit:source", Some(&key)),
            format!("visit:source|{key}")
        );
        assert_eq!(stored_dimension("", None), "");
        let visit = |name: &str, value: &str| Filter::Cond {
            op: Op::Is,
            dim: Dimension::parse(name).unwrap(),
            values: vec![value.into()],
            case_sensitive: true,
        };
        for f in [
            visit("visit:source", "Google"),
            visit("visit:country", "DE"),
            visit("event:goal", "Visit /page/1"),
        ] {
            assert_eq!(key_filter(&filter_key(&f).unwrap()), Some(f));
        }
        // Anything else stays on the raw tables.
        for f in [
            page(Op::IsNot, &["/a"], true),
            page(Op::Is, &["/a", "/b"], true),
            page(Op::Is, &["/a"], false),
            page(Op::Contains, &["/a"], true),
            visit("visit:browser", "Chrome"),
            visit("visit:channel", "Organic Search"),
            Filter::Cond {
                op: Op::Is,
                dim: Dimension::parse("visit:source").unwrap(),
                values: vec!["Google".into()],
                case_sensitive: false,
            },
            Filter::Not(Box::new(prop)),
        ] {
            assert_eq!(filter_key(&f), None, "{f:?}");
        }
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
