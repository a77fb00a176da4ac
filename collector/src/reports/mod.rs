//! Reports: Plausible's Stats API v2 (`POST /api/v2/query`) as the one query engine, the
//! legacy v1 GET endpoints on top of it, and goals.
//!
//! A report flows `query` (validated request) → `sql` (pure statement builders) →
//! `execute` (runs them on the store) → `shape` (rows to the response), orchestrated by
//! `engine`, which asks `rollups` (`plan`: read side, `build`: background builder) which
//! whole days come from daily rollups. Nothing below `engine` imports it.

pub mod batch;
pub mod dates;
pub mod engine;
mod execute;
pub mod goals;
pub mod imported;
pub mod model;
pub mod query;
pub mod rollups;
mod shape;
pub mod sql;
pub mod v1;

use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use dates::{parse_date, Period, Range};
use engine::{invalid, OrderKey, Output, Query, ReportError};
use model::{Dimension, Filter, Metric, Op};

use crate::sites::Site;

/// The largest page a report returns.
pub const MAX_LIMIT: usize = 10_000;

/// A v2 request body, as Plausible documents it (plus `date`: the reference day for
/// relative ranges, default today in the site's time zone).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    pub site_id: String,
    pub metrics: Vec<String>,
    pub date_range: Value,
    #[serde(default)]
    pub dimensions: Vec<String>,
    #[serde(default)]
    pub filters: Vec<Value>,
    #[serde(default)]
    pub order_by: Vec<(String, String)>,
    #[serde(default)]
    pub include: Include,
    #[serde(default)]
    pub pagination: Option<Pagination>,
    #[serde(default)]
    pub date: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Include {
    #[serde(default)]
    pub time_labels: bool,
    #[serde(default)]
    pub total_rows: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparisons: Option<Comparisons>,
    /// Merge imported history (`crate::imports`) where the question allows it, as Plausible
    /// does; the response's `meta` says whether it was merged and why not.
    #[serde(default)]
    pub imports: bool,
}

#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Comparisons {
    /// `previous_period`, `year_over_year` or `custom` (with `date_range`).
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_range: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub match_day_of_week: bool,
}

#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pagination {
    #[serde(default = "default_limit")]
    pub limit: usize,
    #[serde(default)]
    pub offset: usize,
}

fn default_limit() -> usize {
    MAX_LIMIT
}

pub fn site_tz(site: &Site) -> Tz {
    site.timezone.parse().unwrap_or(Tz::UTC)
}

pub fn site_created(site: &Site) -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp(i64::from(site.created_at), 0)
        .map(|d| d.with_timezone(&site_tz(site)).date_naive())
        .unwrap_or_default()
}

/// The reference day: `date` (YYYY-MM-DD) or today (at `now`) in the site's time zone.
pub fn reference_day(
    date: Option<&str>,
    tz: &Tz,
    now: i64,
) -> Result<chrono::NaiveDate, ReportError> {
    match date {
        Some(d) => parse_date(d)
            .filter(|_| d.len() == 10)
            .ok_or_else(|| invalid("date", format!("date must be YYYY-MM-DD, got {d:?}"))),
        None => Ok(dates::today(tz, now)),
    }
}

fn parse_date_range(
    v: &Value,
    site: &Site,
    date: Option<&str>,
    now: i64,
) -> Result<Range, ReportError> {
    let tz = site_tz(site);
    match v {
        Value::String(s) => {
            // Plausible's wording (its own tests check it); the valid forms are in the README.
            let period = Period::parse(s).ok_or_else(|| {
                invalid(
                    "date_range",
                    format!("#/date_range: Invalid date range {s:?}"),
                )
            })?;
            Ok(Range::resolve(
                &period,
                &tz,
                reference_day(date, &tz, now)?,
                site_created(site),
                now,
            ))
        }
        Value::Array(a) if a.len() == 2 => {
            let (Some(a0), Some(a1)) = (a[0].as_str(), a[1].as_str()) else {
                return Err(invalid("date_range", "date_range entries must be strings"));
            };
            if a0.len() == 10 && a1.len() == 10 {
                let (Some(from), Some(to)) = (parse_date(a0), parse_date(a1)) else {
                    return Err(invalid("date_range", "dates must be YYYY-MM-DD"));
                };
                if from > to {
                    return Err(invalid("date_range", "the range ends before it starts"));
                }
                if (to - from).num_days() > 3660 {
                    return Err(invalid("date_range", "at most ten years"));
                }
                return Ok(Range::resolve(
                    &Period::Custom(from, to),
                    &tz,
                    to,
                    from,
                    now,
                ));
            }
            let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
            let (Some(start), Some(end)) = (parse(a0), parse(a1)) else {
                return Err(invalid(
                    "date_range",
                    "use two dates (YYYY-MM-DD) or two ISO 8601 date-times with offsets",
                ));
            };
            if start > end {
                return Err(invalid("date_range", "the range ends before it starts"));
            }
            let mut r = Range::dates(
                &tz,
                start.with_timezone(&tz).date_naive(),
                end.with_timezone(&tz).date_naive(),
            );
            r.start = start.timestamp();
            r.end = end.timestamp() + 1;
            Ok(r)
        }
        _ => Err(invalid(
            "date_range",
            "date_range must be a period name or [from, to]",
        )),
    }
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One v2 filter: `[op, dimension, [values], {modifiers}]`, or `["and"|"or", [...]]`,
/// `["not", filter]`.
pub fn parse_filter(v: &Value) -> Result<Filter, ReportError> {
    let bad = |m: &str| invalid("filters", m.to_string());
    let a = v.as_array().ok_or_else(|| {
        bad("each filter is an array like [\"is\", \"visit:source\", [\"Google\"]]")
    })?;
    let op = a
        .first()
        .and_then(Value::as_str)
        .ok_or_else(|| bad("a filter starts with its operator"))?;
    match op {
        "and" | "or" => {
            let list = a
                .get(1)
                .and_then(Value::as_array)
                .filter(|l| !l.is_empty() && a.len() == 2)
                .ok_or_else(|| bad("and/or take one non-empty list of filters"))?;
            let fs = list
                .iter()
                .map(parse_filter)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if op == "and" {
                Filter::And(fs)
            } else {
                Filter::Or(fs)
            })
        }
        "not" => {
            let inner = a
                .get(1)
                .filter(|_| a.len() == 2)
                .ok_or_else(|| bad("not takes one filter"))?;
            Ok(Filter::Not(Box::new(parse_filter(inner)?)))
        }
        _ => {
            // Plausible's dashboard operators for page patterns (`*` within a segment, `**`
            // across): the same as `matches` with the pattern as an anchored expression.
            let wildcard = matches!(op, "matches_wildcard" | "matches_wildcard_not");
            let op = Op::parse(op).ok_or_else(|| {
                invalid(
                    "filters",
                    format!("unknown filter operator {op:?}: use is, is_not, contains, contains_not, matches, matches_not, and, or, not"),
                )
            })?;
            if !(3..=4).contains(&a.len()) {
                return Err(bad(
                    "a filter is [operator, dimension, [values]] with optional modifiers",
                ));
            }
            let name = a[1]
                .as_str()
                .ok_or_else(|| bad("the filter's dimension must be a string"))?;
            let dim = Dimension::parse(name)
                .ok_or_else(|| invalid("filters", format!("unknown dimension {name:?}")))?;
            let mut values = a[2]
                .as_array()
                .ok_or_else(|| bad("filter values are a list"))?
                .iter()
                .map(|x| value_text(x).ok_or_else(|| bad("filter values are strings or numbers")))
                .collect::<Result<Vec<_>, _>>()?;
            if wildcard {
                values = values
                    .iter()
                    .map(|v| crate::path_pattern::to_regex(v))
                    .collect();
            }
            let case_sensitive = match a.get(3) {
                None => true,
                Some(Value::Object(m)) => match m.get("case_sensitive") {
                    None => true,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => return Err(bad("case_sensitive is true or false")),
                },
                Some(_) => return Err(bad("filter modifiers are an object")),
            };
            let two_letters =
                |v: &String| v.len() == 2 && v.chars().all(|c| c.is_ascii_alphabetic());
            if dim == Dimension::Visit("country_code")
                && matches!(op, Op::Is | Op::IsNot)
                && !values.iter().all(two_letters)
            {
                return Err(invalid(
                    "filters",
                    "Invalid visit:country filter, visit:country needs to be a valid 2-letter country code",
                ));
            }
            Ok(Filter::Cond {
                op,
                dim,
                values,
                case_sensitive,
            })
        }
    }
}

/// Turns a v2 body into a validated query for `site` (already authorised); relative periods
/// are resolved at `now` (Unix seconds, the application's `Clock`).
pub fn parse_query(req: &QueryRequest, site: &Site, now: i64) -> Result<Query, ReportError> {
    // Errors name the JSON pointer of the bad item, in Plausible's words.
    let metrics = req
        .metrics
        .iter()
        .enumerate()
        .map(|(i, m)| {
            Metric::parse(m)
                .ok_or_else(|| invalid("metrics", format!("#/metrics/{i}: Invalid metric {m:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if (1..metrics.len()).any(|i| metrics[..i].contains(&metrics[i])) {
        return Err(invalid(
            "metrics",
            "#/metrics: Expected items to be unique but they were not.",
        ));
    }
    let dimensions = req
        .dimensions
        .iter()
        .enumerate()
        .map(|(i, d)| {
            Dimension::parse(d).ok_or_else(|| {
                invalid(
                    "dimensions",
                    format!("#/dimensions/{i}: Invalid dimension {d:?}"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let filters = req
        .filters
        .iter()
        .map(parse_filter)
        .collect::<Result<Vec<_>, _>>()?;
    let order_by = req
        .order_by
        .iter()
        .map(|(key, dir)| {
            let desc = match dir.as_str() {
                "desc" => true,
                "asc" => false,
                other => {
                    return Err(invalid(
                        "order_by",
                        format!("order direction must be asc or desc, got {other:?}"),
                    ))
                }
            };
            if let Some(m) = Metric::parse(key).filter(|m| metrics.contains(m)) {
                return Ok((OrderKey::Metric(m), desc));
            }
            let i = Dimension::parse(key)
                .and_then(|d| dimensions.iter().position(|x| *x == d))
                .ok_or_else(|| {
                    invalid(
                        "order_by",
                        format!("{key:?} is neither a requested metric nor a requested dimension"),
                    )
                })?;
            Ok((OrderKey::Dimension(i), desc))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (limit, offset) = match &req.pagination {
        Some(p) if p.limit == 0 || p.limit > MAX_LIMIT => {
            return Err(invalid(
                "pagination",
                format!("limit must be 1 to {MAX_LIMIT}"),
            ))
        }
        Some(p) => (p.limit, p.offset),
        None => (MAX_LIMIT, 0),
    };
    let range = parse_date_range(&req.date_range, site, req.date.as_deref(), now)?;
    let tz = site_tz(site);
    let comparison = match &req.include.comparisons {
        None => None,
        Some(c) => {
            let mode = match (c.mode.as_str(), &c.date_range) {
                ("previous_period", None) => dates::CompareMode::PreviousPeriod,
                ("year_over_year", None) => dates::CompareMode::YearOverYear,
                ("custom", Some(d)) => {
                    let day = |s: &str| parse_date(s).filter(|_| s.len() == 10);
                    match (d.as_slice(), d.first().and_then(|a| day(a)), d.get(1).and_then(|b| day(b))) {
                        ([_, _], Some(a), Some(b)) if a <= b => dates::CompareMode::Custom(a, b),
                        _ => {
                            return Err(invalid(
                                "include",
                                "a custom comparison takes date_range: [\"YYYY-MM-DD\", \"YYYY-MM-DD\"], in order",
                            ))
                        }
                    }
                }
                ("custom", None) => {
                    return Err(invalid(
                        "include",
                        "a custom comparison needs its date_range",
                    ))
                }
                (_, Some(_)) => {
                    return Err(invalid(
                        "include",
                        "date_range is for the custom comparison mode only",
                    ))
                }
                (other, None) => {
                    return Err(invalid(
                        "include",
                        format!(
                            "comparison mode {other:?} is not supported; use previous_period, year_over_year or custom"
                        ),
                    ))
                }
            };
            Some(range.comparison(
                &tz,
                dates::today(&tz, now),
                &dates::Compare {
                    mode,
                    match_day_of_week: c.match_day_of_week,
                },
            ))
        }
    };
    Ok(Query {
        site: site.domain.to_string(),
        tz,
        range,
        metrics,
        dimensions,
        filters,
        order_by,
        limit,
        offset,
        time_labels: req.include.time_labels,
        total_rows: req.include.total_rows,
        comparison,
    })
}

/// The v2 response body.
pub fn v2_response(req: &QueryRequest, q: &Query, out: Output) -> Value {
    let results: Vec<Value> = out
        .results
        .into_iter()
        .map(|r| {
            let mut o = Map::new();
            o.insert("metrics".into(), Value::Array(r.metrics));
            o.insert("dimensions".into(), Value::Array(r.dimensions));
            if let Some(c) = r.comparison {
                o.insert(
                    "comparison".into(),
                    json!({"dimensions": c.dimensions, "metrics": c.metrics, "change": c.change}),
                );
            }
            Value::Object(o)
        })
        .collect();
    let mut meta = Map::new();
    if let Some(labels) = out.time_labels {
        meta.insert("time_labels".into(), json!(labels));
    }
    if q.total_rows {
        meta.insert("total_rows".into(), json!(out.total_rows));
    }
    if let Some(r) = &out.comparison_range {
        meta.insert("comparison_date_range".into(), json!(r.iso(&q.tz)));
    }
    json!({
        "results": results,
        "meta": meta,
        "query": {
            "site_id": q.site,
            "metrics": req.metrics,
            "date_range": q.range.iso(&q.tz),
            "dimensions": req.dimensions,
            "filters": req.filters,
            "order_by": req.order_by,
            "include": req.include,
            "pagination": {"limit": q.limit, "offset": q.offset},
        }
    })
}
