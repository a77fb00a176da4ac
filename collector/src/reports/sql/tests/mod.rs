//! The statements reports run, checked as text and parameters: no store, no engine.

use chrono::NaiveDate;
use serde_json::json;

use super::{event_metrics, raw_statements, rollups, session_metrics, RawStatements, Statement};
use crate::reports::dates::{Period, Range};
use crate::reports::goals::Goal;
use crate::reports::model::{wildcard_regex, Dimension, Filter, Metric};
use crate::reports::parse_filter;
use crate::reports::query::{OrderKey, Query};

const EVENTS_IN_RANGE: &str = "site = {site:String} AND timestamp >= toDateTime({start:Int64}) AND timestamp < toDateTime({end:Int64}) AND name != 'candor:lead'";
const SESSIONS_AROUND: &str = "site = {site:String} AND day >= toDate(toDateTime({start:Int64})) - 1 AND day <= toDate(toDateTime({end:Int64}))";
const STARTED_IN_RANGE: &str =
    " AND start >= toDateTime({start:Int64}) AND start < toDateTime({end:Int64})";

/// 2026-11-01 00:00 UTC and 2026-11-08 00:00 UTC.
const NOV_1: i64 = 1_793_491_200;
const NOV_8: i64 = 1_794_096_000;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

fn query(metrics: &[Metric], dims: &[&str], filters: &[serde_json::Value]) -> Query {
    Query {
        site: "shop.example".into(),
        tz: chrono_tz::UTC,
        range: Range::dates(&chrono_tz::UTC, day(1), day(7)),
        metrics: metrics.to_vec(),
        dimensions: dims.iter().map(|d| Dimension::parse(d).unwrap()).collect(),
        filters: filters.iter().map(|f| parse_filter(f).unwrap()).collect(),
        order_by: Vec::new(),
        limit: 10_000,
        offset: 0,
        time_labels: false,
        total_rows: false,
        comparison: None,
    }
}

fn statements(q: &Query, goals: &[Goal]) -> RawStatements {
    raw_statements(q, &q.range, &q.metrics, goals).unwrap()
}

fn params(s: &Statement) -> Vec<(String, String)> {
    s.params
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// The value of parameter `name`.
fn param(s: &Statement, name: &str) -> String {
    params(s)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no parameter {name} in {:?}", params(s)))
        .1
}

/// The parameters every report statement has, for the first week of November 2026 (UTC).
fn range_params() -> Vec<(String, String)> {
    [
        ("site", "shop.example"),
        ("start", "1793491200"),
        ("end", "1794096000"),
        ("tz", "UTC"),
        ("from_date", "2026-11-01"),
    ]
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .to_vec()
}

/// The only filter of a visit-level question, pushed below the session fold (raw sessions).
fn pushed_down(filter: serde_json::Value) -> (String, Statement) {
    let q = query(&[Metric::Visitors], &[], &[filter]);
    let s = statements(&q, &[]).sessions.unwrap();
    let prefix = format!("{SESSIONS_AROUND}{STARTED_IN_RANGE} AND ");
    let cond = s
        .text
        .split_once(&prefix)
        .unwrap_or_else(|| panic!("no pushed-down filter in {}", s.text))
        .1
        .to_string();
    (cond, s)
}

fn goal(name: &str, event: Option<&str>, page: Option<&str>) -> Goal {
    Goal {
        id: name.into(),
        site: "shop.example".into(),
        goal_type: if event.is_some() { "event" } else { "page" },
        event_name: event.map(str::to_string),
        page_path: page.map(str::to_string),
        display_name: name.into(),
        created_at: 0,
    }
}

mod filters;
mod statements;
