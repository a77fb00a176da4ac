//! Plausible's legacy Stats API v1 (`GET /api/v1/stats/...`): its parameters and response
//! shapes, answered by the v2 engine.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::dates::{labels, parse_date, Bucket, Period, Range};
use super::engine::{invalid, Output, Query, ReportError};
use super::model::{wildcard_regex, Dimension, Filter, Metric, Op};
use super::{reference_day, site_created, site_tz};
use crate::sites::Site;

/// The query string every v1 endpoint accepts (each uses what it needs).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Params {
    pub site_id: Option<String>,
    pub period: Option<String>,
    pub date: Option<String>,
    pub metrics: Option<String>,
    pub filters: Option<String>,
    pub compare: Option<String>,
    pub interval: Option<String>,
    pub property: Option<String>,
    pub limit: Option<usize>,
    pub page: Option<usize>,
    /// `true`: include imported history where the question allows (Plausible's v1 flag).
    pub with_imported: Option<String>,
}

/// `visit:source==Google|Twitter;event:page!=/about;event:page~blog`: `==`, `!=`, `~`
/// (contains), `!~`; `|` separates alternatives (`\|` is a literal bar); `*` and `**`
/// are wildcards in `==`/`!=` values.
pub fn parse_filters(s: &str) -> Result<Vec<Filter>, ReportError> {
    let mut out = Vec::new();
    for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (at, op_text) = ["!=", "==", "!~", "~"]
            .iter()
            .filter_map(|op| part.find(op).map(|i| (i, *op)))
            .min_by_key(|(i, _)| *i)
            .ok_or_else(|| {
                invalid(
                    "filters",
                    format!("filter {part:?} needs an operator: ==, !=, ~ or !~"),
                )
            })?;
        let name = part[..at].trim();
        let dim = Dimension::parse(name)
            .ok_or_else(|| invalid("filters", format!("unknown property {name:?}")))?;
        let raw = part[at + op_text.len()..].trim();
        let mut values = Vec::new();
        let mut cur = String::new();
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&'|') => {
                    cur.push('|');
                    chars.next();
                }
                '|' => values.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        values.push(cur);
        let wildcard = values.iter().any(|v| v.contains('*'));
        let (op, values) = match (op_text, wildcard) {
            ("==", false) => (Op::Is, values),
            ("!=", false) => (Op::IsNot, values),
            ("==", true) => (
                Op::Matches,
                values.iter().map(|v| wildcard_regex(v)).collect(),
            ),
            ("!=", true) => (
                Op::MatchesNot,
                values.iter().map(|v| wildcard_regex(v)).collect(),
            ),
            ("~", _) => (Op::Contains, values),
            _ => (Op::ContainsNot, values),
        };
        out.push(Filter::Cond {
            op,
            dim,
            values,
            case_sensitive: op_text.contains('='),
        });
    }
    Ok(out)
}

fn metrics(p: &Params) -> Result<Vec<Metric>, ReportError> {
    p.metrics
        .as_deref()
        .unwrap_or("visitors")
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| {
            Metric::parse(m)
                .filter(|m| *m != Metric::Percentage)
                .ok_or_else(|| {
                    let valid: Vec<String> = Metric::ALL
                        .iter()
                        .filter(|m| **m != Metric::Percentage)
                        .map(|m| format!("`{m}`"))
                        .collect();
                    // Plausible's wording (its v1 tests check it), with Candor's metrics.
                    invalid(
                        "metrics",
                        format!(
                            "Error parsing `metrics` parameter: invalid metric `{m}`. Valid metrics are {}",
                            valid.join(", ")
                        ),
                    )
                })
        })
        .collect()
}

fn range(p: &Params, site: &Site, now: i64) -> Result<Range, ReportError> {
    let tz = site_tz(site);
    let period = p.period.as_deref().unwrap_or("30d");
    // Plausible's v1 wording throughout (its tests check it).
    const PERIODS: &str = "https://plausible.io/docs/stats-api#time-periods";
    if period == "custom" {
        let date = p.date.as_deref().ok_or_else(|| {
            invalid(
                "date",
                format!(
                    "The `date` parameter is required when using a custom period. See {PERIODS}"
                ),
            )
        })?;
        let (a, b) = date
            .split_once(',')
            .and_then(|(a, b)| Some((parse_date(a.trim())?, parse_date(b.trim())?)))
            .ok_or_else(|| {
                invalid(
                    "date",
                    format!("Invalid format for `date` parameter. When using a custom period, please include two ISO-8601 formatted dates joined by a comma. See {PERIODS}"),
                )
            })?;
        if a > b {
            return Err(invalid("date", "the range ends before it starts"));
        }
        return Ok(Range::resolve(&Period::Custom(a, b), &tz, b, a, now));
    }
    let parsed = Period::parse(period)
        .filter(|p| *p != Period::Realtime)
        .ok_or_else(|| {
            invalid(
                "period",
                format!("Error parsing `period` parameter: invalid period `{period}`. Please find accepted values in our docs: {PERIODS}"),
            )
        })?;
    if let Some(d) = p.date.as_deref() {
        if parse_date(d).is_none() || d.len() != 10 {
            return Err(invalid(
                "date",
                "Error parsing `date` parameter: invalid_format. Please specify a valid date in ISO-8601 format.",
            ));
        }
    }
    Ok(Range::resolve(
        &parsed,
        &tz,
        reference_day(p.date.as_deref(), &tz, now)?,
        site_created(site),
        now,
    ))
}

fn base(p: &Params, site: &Site, now: i64) -> Result<Query, ReportError> {
    Ok(Query {
        site: site.domain.to_string(),
        tz: site_tz(site),
        range: range(p, site, now)?,
        metrics: metrics(p)?,
        dimensions: Vec::new(),
        filters: parse_filters(p.filters.as_deref().unwrap_or(""))?,
        order_by: Vec::new(),
        limit: super::MAX_LIMIT,
        offset: 0,
        time_labels: false,
        total_rows: false,
        comparison: None,
    })
}

pub fn aggregate_query(p: &Params, site: &Site, now: i64) -> Result<Query, ReportError> {
    let mut q = base(p, site, now)?;
    q.comparison = match p.compare.as_deref() {
        None => None,
        Some("previous_period") => {
            let tz = site_tz(site);
            Some(q.range.comparison(
                &tz,
                super::dates::today(&tz, now),
                &super::dates::Compare {
                    mode: super::dates::CompareMode::PreviousPeriod,
                    match_day_of_week: false,
                },
            ))
        }
        Some(other) => {
            return Err(invalid(
                "compare",
                format!("compare={other} is not supported; use previous_period"),
            ))
        }
    };
    Ok(q)
}

pub fn aggregate_response(q: &Query, out: &Output) -> Value {
    let mut results = Map::new();
    if let Some(row) = out.results.first() {
        for (i, m) in q.metrics.iter().enumerate() {
            let mut v = Map::new();
            v.insert("value".into(), row.metrics[i].clone());
            if let Some(c) = &row.comparison {
                v.insert("change".into(), c.change[i].clone());
                v.insert("comparison_value".into(), c.metrics[i].clone());
            }
            results.insert(m.as_str().into(), Value::Object(v));
        }
    }
    json!({ "results": results })
}

pub fn timeseries_query(p: &Params, site: &Site, now: i64) -> Result<Query, ReportError> {
    let mut q = base(p, site, now)?;
    let bucket = match p.interval.as_deref() {
        Some("hour") => Bucket::Hour,
        Some("date") | Some("day") => Bucket::Day,
        Some("week") => Bucket::Week,
        Some("month") => Bucket::Month,
        Some(other) => {
            return Err(invalid(
                "interval",
                format!("unknown interval {other:?}: use hour, date, week or month"),
            ))
        }
        None => match p.period.as_deref() {
            Some("day") => Bucket::Hour,
            Some("6mo") | Some("12mo") | Some("year") => Bucket::Month,
            _ => Bucket::Day,
        },
    };
    if bucket == Bucket::Hour && q.range.days() > 31 {
        return Err(invalid("interval", "interval=hour covers at most 31 days"));
    }
    q.dimensions = vec![Dimension::Time(bucket)];
    Ok(q)
}

/// Every bucket, zeros included, as `{"date": ..., "<metric>": ...}`.
pub fn timeseries_response(q: &Query, out: &Output) -> Value {
    let Some(Dimension::Time(bucket)) = q.dimensions.first() else {
        return json!({"results": []});
    };
    let found: std::collections::HashMap<String, &Vec<Value>> = out
        .results
        .iter()
        .filter_map(|r| Some((r.dimensions.first()?.as_str()?.to_string(), &r.metrics)))
        .collect();
    let results: Vec<Value> = labels(&q.range, &q.tz, *bucket)
        .into_iter()
        .map(|label| {
            let mut o = Map::new();
            for (i, m) in q.metrics.iter().enumerate() {
                let v = found
                    .get(&label)
                    .map(|ms| ms[i].clone())
                    .unwrap_or_else(|| match m {
                        Metric::ViewsPerVisit
                        | Metric::ConversionRate
                        | Metric::GroupConversionRate
                        | Metric::LeadConversionRate => json!(0.0),
                        _ => json!(0),
                    });
                o.insert(m.as_str().into(), v);
            }
            o.insert("date".into(), json!(label));
            Value::Object(o)
        })
        .collect();
    json!({ "results": results })
}

pub fn breakdown_query(p: &Params, site: &Site, now: i64) -> Result<Query, ReportError> {
    let mut q = base(p, site, now)?;
    let property = p.property.as_deref().ok_or_else(|| {
        invalid(
            "property",
            "property is required, e.g. property=visit:source",
        )
    })?;
    let dim = Dimension::parse(property)
        .filter(|d| !matches!(d, Dimension::Time(_)))
        .ok_or_else(|| invalid("property", format!("unknown property {property:?}")))?;
    let limit = p.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(invalid("limit", "limit must be 1 to 1000"));
    }
    let page = p.page.unwrap_or(1);
    if page == 0 {
        return Err(invalid("page", "pages start at 1"));
    }
    q.dimensions = vec![dim];
    q.limit = limit;
    q.offset = (page - 1) * limit;
    Ok(q)
}

pub fn breakdown_response(q: &Query, out: &Output) -> Value {
    let key = q.dimensions[0].short_name();
    let results: Vec<Value> = out
        .results
        .iter()
        .map(|r| {
            let mut o = Map::new();
            o.insert(key.clone(), r.dimensions[0].clone());
            for (i, m) in q.metrics.iter().enumerate() {
                o.insert(m.as_str().into(), r.metrics[i].clone());
            }
            Value::Object(o)
        })
        .collect();
    json!({ "results": results })
}

/// The accounts report: visits grouped by organisation, leaving out networks the database
/// calls ISPs, mobile carriers or hosting. Aggregates only.
pub fn accounts_query(p: &Params, site: &Site, now: i64) -> Result<Query, ReportError> {
    let mut p = p.clone();
    p.property = Some("visit:org".into());
    if p.metrics.is_none() {
        p.metrics = Some("visitors,visits,pageviews,visit_duration,leads".into());
    }
    let mut q = breakdown_query(&p, site, now)?;
    q.filters.push(Filter::Cond {
        op: Op::IsNot,
        dim: Dimension::Visit("org_type"),
        values: crate::enrich::geo::NOT_ACCOUNTS.map(String::from).to_vec(),
        case_sensitive: true,
    });
    Ok(q)
}

/// Visitors in the last five minutes.
pub fn realtime_query(site: &Site, now: i64) -> Query {
    let tz = site_tz(site);
    Query {
        site: site.domain.to_string(),
        range: Range::resolve(
            &Period::Realtime,
            &tz,
            super::dates::today(&tz, now),
            site_created(site),
            now,
        ),
        tz,
        metrics: vec![Metric::Visitors],
        dimensions: Vec::new(),
        filters: Vec::new(),
        order_by: Vec::new(),
        limit: 1,
        offset: 0,
        time_labels: false,
        total_rows: false,
        comparison: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_filters_parse_into_conditions() {
        let f = parse_filters("visit:source==Google|Twitter;event:page!=/about;event:page~blog")
            .unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(
            f[0],
            Filter::Cond {
                op: Op::Is,
                dim: Dimension::Visit("referrer_source"),
                values: vec!["Google".into(), "Twitter".into()],
                case_sensitive: true
            }
        );
        assert!(
            matches!(&f[1], Filter::Cond { op: Op::IsNot, values, .. } if values == &vec!["/about".to_string()])
        );
        assert!(matches!(
            &f[2],
            Filter::Cond {
                op: Op::Contains,
                ..
            }
        ));
        let w = parse_filters("event:page==/blog/**").unwrap();
        assert!(
            matches!(&w[0], Filter::Cond { op: Op::Matches, values, .. } if values[0] == "^/blog/.*$")
        );
        let bar = parse_filters(r"event:props:q==a\|b").unwrap();
        assert!(
            matches!(&bar[0], Filter::Cond { values, .. } if values == &vec!["a|b".to_string()])
        );
        assert!(parse_filters("visit:nope==x").is_err());
        assert!(parse_filters("visit:source").is_err());
    }
}
