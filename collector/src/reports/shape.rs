//! Result shaping: rows read from the store become per-group sums (`Sums`), sums become
//! metric values (rates rounded as Plausible rounds them), and those become a sorted,
//! paged `Output` with comparisons and time labels. Pure: no SQL, no store.

use std::collections::HashMap;

use chrono::{Datelike, Days, NaiveDate};
use serde_json::{json, Value};

use super::dates::{first_of_month, labels, parse_date, Bucket, Range};
use super::model::{Dimension, Metric};
use super::query::{OrderKey, Query};
use crate::store::StoreError;

#[derive(Clone, Debug, PartialEq)]
pub struct ResultRow {
    pub dimensions: Vec<Value>,
    pub metrics: Vec<Value>,
    pub comparison: Option<Comparison>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub dimensions: Vec<Value>,
    pub metrics: Vec<Value>,
    pub change: Vec<Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    pub results: Vec<ResultRow>,
    pub total_rows: usize,
    pub time_labels: Option<Vec<String>>,
    pub comparison_range: Option<Range>,
}

/// Raw sums per group, before metrics are derived. Every field adds up across disjoint UTC
/// days (see `rollups`), which is what lets whole days come from daily rollups.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Raw {
    pub dims: Vec<Value>,
    pub visitors: u64,
    pub pageviews: u64,
    pub events: u64,
    pub visits: u64,
    pub bounces: u64,
    /// The visits bounce rate divides by: all of them, or with a page filter only those that
    /// entered on a matching page (Plausible's bounce rate of a page).
    pub bounce_visits: u64,
    pub duration: f64,
    pub session_pageviews: u64,
    pub leads: u64,
    /// Visits without bounce or duration information (imported page rows): they count in
    /// `visits` and views per visit, not in the bounce rate's or visit duration's divisor.
    pub unrated_visits: u64,
}

impl Raw {
    /// The group of `dims` in `groups`, created empty if it is not there yet.
    pub fn slot<'m>(groups: &'m mut HashMap<String, Raw>, dims: &[Value]) -> &'m mut Raw {
        groups.entry(key_of(dims)).or_insert_with(|| Raw {
            dims: dims.to_vec(),
            ..Raw::default()
        })
    }

    /// Adds the sums of `other` (same group, a disjoint set of UTC days).
    pub fn add(&mut self, other: &Raw) {
        self.visitors += other.visitors;
        self.pageviews += other.pageviews;
        self.events += other.events;
        self.visits += other.visits;
        self.bounces += other.bounces;
        self.bounce_visits += other.bounce_visits;
        self.duration += other.duration;
        self.session_pageviews += other.session_pageviews;
        self.leads += other.leads;
        self.unrated_visits += other.unrated_visits;
    }

    /// The visits visit duration divides by.
    fn rated_visits(&self) -> f64 {
        self.visits.saturating_sub(self.unrated_visits) as f64
    }
}

/// A group's key: its dimension values as JSON text.
pub(crate) fn key_of(dims: &[Value]) -> String {
    serde_json::to_string(dims).unwrap_or_default()
}

pub(crate) fn as_u64(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n
            .as_u64()
            .unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as u64),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

pub(crate) fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Rows of a grouped statement split into `dims` dimension values and `metrics` values;
/// rows of another width are dropped.
pub(crate) fn split(
    rows: Vec<Vec<Value>>,
    dims: usize,
    metrics: usize,
) -> Vec<(Vec<Value>, Vec<Value>)> {
    rows.into_iter()
        .filter(|r| r.len() == dims + metrics)
        .map(|mut r| {
            let m = r.split_off(dims);
            (r, m)
        })
        .collect()
}

/// Sums of a `sql::event_metrics` row.
pub(crate) fn event_sums((dims, m): (Vec<Value>, Vec<Value>)) -> Raw {
    Raw {
        visitors: as_u64(&m[0]),
        pageviews: as_u64(&m[1]),
        events: as_u64(&m[2]),
        dims,
        ..Raw::default()
    }
}

/// Leads per group of a `sql::lead_metrics` result.
pub(crate) fn lead_counts((dims, m): (Vec<Value>, Vec<Value>)) -> (Vec<Value>, u64) {
    let n = as_u64(&m[0]);
    (dims, n)
}

/// Sums of a `sql::session_metrics` row.
pub(crate) fn session_sums((dims, m): (Vec<Value>, Vec<Value>)) -> Raw {
    Raw {
        visitors: as_u64(&m[0]),
        pageviews: as_u64(&m[1]),
        events: as_u64(&m[2]),
        visits: as_u64(&m[3]),
        bounces: as_u64(&m[4]),
        duration: as_f64(&m[5]),
        bounce_visits: as_u64(&m[6]),
        session_pageviews: as_u64(&m[1]),
        dims,
        ..Raw::default()
    }
}

/// Sums of a `sql::imported::imported_metrics` row.
pub(crate) fn imported_sums((dims, m): (Vec<Value>, Vec<Value>)) -> Raw {
    Raw {
        visitors: as_u64(&m[0]),
        pageviews: as_u64(&m[1]),
        events: as_u64(&m[2]),
        visits: as_u64(&m[3]),
        bounces: as_u64(&m[4]),
        duration: as_f64(&m[5]),
        session_pageviews: as_u64(&m[1]),
        unrated_visits: as_u64(&m[6]),
        bounce_visits: as_u64(&m[3]).saturating_sub(as_u64(&m[6])),
        dims,
        ..Raw::default()
    }
}

/// Sums per group of a `sql::rollups::read` result. `totals`: the rows are the totals (no
/// dimension); `bucket`: the groups are days, labelled as the time bucket holding them
/// (`from` is the range's first day, where the first week starts).
pub(crate) fn rollup_sums(
    rows: Vec<Vec<Value>>,
    totals: bool,
    bucket: Option<Bucket>,
    from: NaiveDate,
) -> Result<HashMap<String, Raw>, StoreError> {
    let mut out: HashMap<String, Raw> = HashMap::new();
    for r in rows.into_iter().filter(|r| r.len() == 10) {
        let dims = match (bucket, &r[0]) {
            (None, _) if totals => Vec::new(),
            (None, Value::String(v)) => {
                vec![serde_json::from_str(v).map_err(|e| StoreError::Decode(e.to_string()))?]
            }
            (Some(b), Value::String(d)) => {
                let day =
                    parse_date(d).ok_or_else(|| StoreError::Decode(format!("rollup day {d:?}")))?;
                vec![Value::String(bucket_label(b, day, from))]
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
            bounce_visits: as_u64(&r[9]),
            duration: as_f64(&r[6]),
            session_pageviews: as_u64(&r[7]),
            leads: as_u64(&r[8]),
            ..Raw::default()
        };
        Raw::slot(&mut out, &raw.dims).add(&raw);
    }
    Ok(out)
}

/// The engine's label of the bucket holding a UTC-aligned local day (same text as its SQL).
pub(crate) fn bucket_label(bucket: Bucket, day: NaiveDate, from: NaiveDate) -> String {
    match bucket {
        Bucket::Day | Bucket::Hour => day.to_string(),
        Bucket::Week => {
            let monday = day - Days::new(u64::from(day.weekday().num_days_from_monday()));
            monday.max(from).to_string()
        }
        Bucket::Month => first_of_month(day).to_string(),
    }
}

/// A group's dimension values and its metric values, in the order `q.metrics` asks.
pub(crate) type MetricRow = (Vec<Value>, Vec<f64>);

/// Conversion rate's denominator: the positions of the non-goal dimensions, and visitors
/// without goal filters per group of those dimensions.
pub(crate) type Baseline = (Vec<usize>, HashMap<String, u64>);

/// Leaves out groups that only leads made (a lead identified on a page nobody viewed in the
/// range) when no lead metric is asked for: their other metrics are all zero.
pub(crate) fn drop_lead_only(q: &Query, groups: &mut HashMap<String, Raw>) {
    if !q.metrics.iter().any(|m| m.needs_leads()) {
        groups.retain(|_, r| r.visitors > 0 || r.events > 0 || r.visits > 0 || r.leads == 0);
    }
}

/// Keeps of filtered rolled-up groups what the raw tables would answer for `metrics`. A
/// filtered day was built with every statement (events, sessions, leads), and under an
/// event filter they group differently: broken down by page, the sessions with a matching
/// event also count the other pages they contain, with no matching event of their own. Each
/// statement's groups are exactly those with its count above zero (`visitors`, `visits`,
/// `leads`), so the sums of the statements a query does not run are cleared, and the groups
/// only they held are left out.
pub(crate) fn keep_asked(groups: &mut HashMap<String, Raw>, metrics: &[Metric]) {
    let events = metrics.iter().any(|m| !m.is_session());
    let sessions = metrics.iter().any(|m| m.is_session());
    let leads = metrics.iter().any(|m| m.needs_leads());
    groups.retain(|_, r| {
        if !events {
            (r.visitors, r.pageviews, r.events) = (0, 0, 0);
        }
        if !sessions {
            (r.visits, r.bounces, r.bounce_visits, r.session_pageviews) = (0, 0, 0, 0);
            r.duration = 0.0;
        }
        if !leads {
            r.leads = 0;
        }
        r.visitors > 0 || r.visits > 0 || r.leads > 0
    });
}

/// Leaves out not-set values where Plausible leaves them out.
pub(crate) fn drop_not_set(q: &Query, groups: &mut HashMap<String, Raw>) {
    groups.retain(|_, r| {
        q.dimensions.iter().zip(&r.dims).all(|(d, v)| {
            !(d.skips_empty() && (v.is_null() || v.as_str().is_some_and(str::is_empty)))
        })
    });
}

/// Metric values per group. `conversion` is needed for `conversion_rate`, `group` for
/// `group_conversion_rate`, `total` (all visitors) for `percentage`.
pub(crate) fn metric_rows(
    q: &Query,
    groups: HashMap<String, Raw>,
    conversion: Option<&Baseline>,
    group: Option<&Baseline>,
    total: Option<u64>,
) -> Vec<MetricRow> {
    // Converting visitors ÷ the baseline of the row's group (its kept dimensions), one decimal.
    let rate = |baseline: Option<&Baseline>, r: &Raw| {
        let (keep, base) = baseline.expect("computed by the caller");
        let dims: Vec<Value> = keep.iter().map(|i| r.dims[*i].clone()).collect();
        let denominator = base.get(&key_of(&dims)).copied().unwrap_or(0);
        ratio(100.0 * r.visitors as f64, denominator as f64, 1)
    };
    let mut rows: Vec<MetricRow> = groups
        .into_values()
        .map(|r| {
            let values = q
                .metrics
                .iter()
                .map(|m| match m {
                    Metric::Visitors => r.visitors as f64,
                    Metric::Visits => r.visits as f64,
                    Metric::Pageviews => r.pageviews as f64,
                    Metric::Events => r.events as f64,
                    Metric::ViewsPerVisit => ratio(r.session_pageviews as f64, r.visits as f64, 2),
                    Metric::BounceRate => {
                        ratio(100.0 * r.bounces as f64, r.bounce_visits as f64, 0)
                    }
                    Metric::VisitDuration => ratio(r.duration, r.rated_visits(), 0),
                    Metric::Percentage => {
                        ratio(100.0 * r.visitors as f64, total.unwrap_or(0) as f64, 1)
                    }
                    Metric::ConversionRate => rate(conversion, &r),
                    Metric::GroupConversionRate => rate(group, &r),
                    Metric::Leads => r.leads as f64,
                    Metric::LeadConversionRate => {
                        ratio(100.0 * r.leads as f64, r.visitors as f64, 1)
                    }
                })
                .collect();
            (r.dims, values)
        })
        .collect();
    // An aggregate (no dimensions) always has its one row, zeros included.
    if q.dimensions.is_empty() && rows.is_empty() {
        rows.push((Vec::new(), vec![0.0; q.metrics.len()]));
    }
    rows
}

/// The response: `rows` sorted and paged, each compared with its group in `previous` (the
/// previous period's rows and range) when asked for, with time labels when asked for.
pub(crate) fn output(
    q: &Query,
    mut rows: Vec<MetricRow>,
    previous: Option<(Vec<MetricRow>, Range)>,
) -> Output {
    if let (Some((prev, range)), [Dimension::Time(bucket)]) = (&previous, q.dimensions.as_slice()) {
        return time_comparison(q, rows, prev, range, *bucket);
    }
    sort(&mut rows, q);
    let total_rows = rows.len();
    let page: Vec<MetricRow> = rows.into_iter().skip(q.offset).take(q.limit).collect();
    let (previous, comparison_range) = match previous {
        Some((prev, range)) => {
            let map: HashMap<String, Vec<f64>> =
                prev.into_iter().map(|(d, v)| (key_of(&d), v)).collect();
            (Some(map), Some(range))
        }
        None => (None, None),
    };
    let zeros = vec![0.0; q.metrics.len()];
    let results = page
        .into_iter()
        .map(|(dims, values)| {
            let comparison = previous.as_ref().map(|prev| {
                let before = prev.get(&key_of(&dims)).unwrap_or(&zeros);
                compared(q, dims.clone(), &values, before)
            });
            result_row(q, dims, &values, comparison)
        })
        .collect();
    Output {
        results,
        total_rows,
        time_labels: time_labels(q),
        comparison_range,
    }
}

/// A time series compared bucket by bucket, as Plausible does: every bucket of the range
/// (zeros included) with the bucket at the same position of the comparison range.
fn time_comparison(
    q: &Query,
    rows: Vec<MetricRow>,
    previous: &[MetricRow],
    range: &Range,
    bucket: Bucket,
) -> Output {
    let by_label = |rows: &[MetricRow]| -> HashMap<String, Vec<f64>> {
        rows.iter()
            .filter_map(|(d, v)| Some((d.first()?.as_str()?.to_string(), v.clone())))
            .collect()
    };
    let (now, then) = (by_label(&rows), by_label(previous));
    let then_labels = labels(range, &q.tz, bucket);
    let zeros = vec![0.0; q.metrics.len()];
    let all: Vec<ResultRow> = labels(&q.range, &q.tz, bucket)
        .into_iter()
        .enumerate()
        .map(|(i, label)| {
            let values = now.get(&label).unwrap_or(&zeros);
            let comparison = then_labels.get(i).map(|before_label| {
                let before = then.get(before_label).unwrap_or(&zeros);
                compared(q, vec![json!(before_label)], values, before)
            });
            result_row(q, vec![json!(label)], values, comparison)
        })
        .collect();
    Output {
        total_rows: all.len(),
        results: all.into_iter().skip(q.offset).take(q.limit).collect(),
        time_labels: time_labels(q),
        comparison_range: Some(range.clone()),
    }
}

fn compared(q: &Query, dimensions: Vec<Value>, now: &[f64], before: &[f64]) -> Comparison {
    Comparison {
        dimensions,
        change: q
            .metrics
            .iter()
            .zip(now.iter().zip(before))
            .map(|(m, (now, then))| change(*m, *now, *then))
            .collect(),
        metrics: q
            .metrics
            .iter()
            .zip(before)
            .map(|(m, v)| metric_value(*m, *v))
            .collect(),
    }
}

fn result_row(
    q: &Query,
    dimensions: Vec<Value>,
    values: &[f64],
    comparison: Option<Comparison>,
) -> ResultRow {
    ResultRow {
        metrics: q
            .metrics
            .iter()
            .zip(values)
            .map(|(m, v)| metric_value(*m, *v))
            .collect(),
        dimensions,
        comparison,
    }
}

fn time_labels(q: &Query) -> Option<Vec<String>> {
    q.time_labels.then(|| {
        q.dimensions
            .iter()
            .find_map(|d| match d {
                Dimension::Time(b) => Some(labels(&q.range, &q.tz, *b)),
                _ => None,
            })
            .unwrap_or_default()
    })
}

fn round_to(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

fn ratio(a: f64, b: f64, places: i32) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        round_to(a / b, places)
    }
}

/// Integers as JSON integers, rates as JSON numbers with their decimals.
fn metric_value(m: Metric, v: f64) -> Value {
    match m {
        Metric::ViewsPerVisit
        | Metric::ConversionRate
        | Metric::GroupConversionRate
        | Metric::LeadConversionRate
        | Metric::Percentage => json!(v),
        _ => json!(v.round() as i64),
    }
}

/// Plausible's change (its `Stats.Compare`): percentage points for the bounce rate (none
/// against a previous rate of 0) and for conversion rates (one decimal); percent for
/// everything else, `percentage` included (100 from zero).
fn change(m: Metric, now: f64, then: f64) -> Value {
    match m {
        Metric::BounceRate if then > 0.0 => json!((now - then).round() as i64),
        Metric::BounceRate => Value::Null,
        Metric::ConversionRate | Metric::LeadConversionRate => json!(round_to(now - then, 1)),
        _ => {
            if then == 0.0 {
                json!(if now > 0.0 { 100 } else { 0 })
            } else {
                json!(((now - then) / then * 100.0).round() as i64)
            }
        }
    }
}

/// By `q.order_by`, or by time for a time series, or by the first metric descending; ties
/// by dimension values, so pages never shuffle between requests.
fn sort(rows: &mut [MetricRow], q: &Query) {
    let order: Vec<(OrderKey, bool)> = if q.order_by.is_empty() {
        match q
            .dimensions
            .iter()
            .position(|d| matches!(d, Dimension::Time(_)))
        {
            // Plausible's default: by time, then by the first metric, largest first.
            Some(i) => vec![
                (OrderKey::Dimension(i), false),
                (OrderKey::Metric(q.metrics[0]), true),
            ],
            None => vec![(OrderKey::Metric(q.metrics[0]), true)],
        }
    } else {
        q.order_by.clone()
    };
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    rows.sort_by(|a, b| {
        for (key, desc) in &order {
            let o = match key {
                OrderKey::Metric(m) => {
                    let i = q.metrics.iter().position(|x| x == m).unwrap_or(0);
                    a.1[i].total_cmp(&b.1[i])
                }
                OrderKey::Dimension(i) => text(&a.0[*i]).cmp(&text(&b.0[*i])),
            };
            let o = if *desc { o.reverse() } else { o };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        let ka: Vec<String> = a.0.iter().map(text).collect();
        let kb: Vec<String> = b.0.iter().map(text).collect();
        ka.cmp(&kb)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn changes_are_points_for_rates_and_percent_otherwise() {
        assert_eq!(change(Metric::Visitors, 150.0, 100.0), json!(50));
        assert_eq!(change(Metric::Visitors, 5.0, 0.0), json!(100));
        assert_eq!(change(Metric::Visitors, 0.0, 0.0), json!(0));
        assert_eq!(change(Metric::BounceRate, 40.0, 55.0), json!(-15));
        assert_eq!(change(Metric::BounceRate, 40.0, 0.0), Value::Null);
        assert_eq!(change(Metric::ConversionRate, 2.5, 1.2), json!(1.3));
        // Plausible's percentage changes in percent: 12.5 % of visitors → 50 % is +300.
        assert_eq!(change(Metric::Percentage, 50.0, 12.5), json!(300));
    }

    #[test]
    fn pages_are_cut_after_sorting_and_compared_by_group() {
        let q = Query {
            site: "shop.example".into(),
            tz: chrono_tz::UTC,
            range: Range::dates(&chrono_tz::UTC, NaiveDate::default(), NaiveDate::default()),
            metrics: vec![Metric::Visitors],
            dimensions: vec![Dimension::Page],
            filters: Vec::new(),
            order_by: Vec::new(),
            limit: 1,
            offset: 1,
            time_labels: false,
            total_rows: true,
            comparison: Some(Range::dates(
                &chrono_tz::UTC,
                NaiveDate::default(),
                NaiveDate::default(),
            )),
        };
        let row = |page: &str, v: f64| (vec![json!(page)], vec![v]);
        let rows = vec![
            row("/a", 1.0),
            row("/b", 3.0),
            row("/c", 2.0),
            row("/d", 2.0),
        ];
        let previous = (vec![row("/c", 4.0)], q.range.clone());
        let out = output(&q, rows, Some(previous));
        assert_eq!(out.total_rows, 4);
        // By visitors descending, ties by page: /b, /c, /d, /a; the second page of one.
        assert_eq!(
            out.results,
            vec![ResultRow {
                dimensions: vec![json!("/c")],
                metrics: vec![json!(2)],
                comparison: Some(Comparison {
                    dimensions: vec![json!("/c")],
                    metrics: vec![json!(4)],
                    change: vec![json!(-50)],
                }),
            }]
        );
        assert_eq!(out.comparison_range, Some(q.range.clone()));
        assert_eq!(out.time_labels, None);
    }

    #[test]
    fn rates_keep_decimals_and_counts_are_integers() {
        assert_eq!(metric_value(Metric::Visitors, 3.0), json!(3));
        assert_eq!(metric_value(Metric::ViewsPerVisit, 1.5), json!(1.5));
        assert_eq!(ratio(1.0, 3.0, 2), 0.33);
        assert_eq!(ratio(1.0, 0.0, 2), 0.0);
    }
}
