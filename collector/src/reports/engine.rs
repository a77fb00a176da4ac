//! The one query engine behind the v2 and v1 stats APIs and the dashboard.
//!
//! A report is answered by at most two grouped SQL statements, merged here by dimension
//! values:
//!
//! - **event metrics** (`visitors`, `pageviews`, `events`) from `events`, which carries each
//!   visit's first-touch attributes on every row, so visit filters and visit dimensions need
//!   no join;
//! - **session metrics** (`visits`, `bounce_rate`, `visit_duration`, `views_per_visit`) from
//!   `sessions`, whose per-event delta rows are folded to one row per session with a
//!   GROUP BY (the attributes are constant within a session, so visit filters are pushed
//!   below the fold). Sessions count in the range where they start.
//!
//! Event filters restrict session metrics to sessions with a matching event; entry and exit
//! page filters restrict event metrics to events of matching sessions. Event dimensions
//! (page, goal, props) break session metrics down by the sessions that contain the value.
//! Every value from a request travels as a `{name:Type}` parameter.

use std::collections::{BTreeSet, HashMap};

use chrono_tz::Tz;
use serde_json::{json, Value};

use super::dates::{labels, Bucket, Range};
use super::goals::Goal;
use super::model::{wildcard_regex, Dimension, Filter, Kind, Metric, Op};
use super::rollups::Rollups;
use crate::store::{fetch_compact, ParamValue, Params, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn invalid(field: &str, message: impl Into<String>) -> ReportError {
    ReportError::Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

/// What to sort by.
#[derive(Clone, Debug, PartialEq)]
pub enum OrderKey {
    Metric(Metric),
    Dimension(usize),
}

/// A validated report request.
#[derive(Clone, Debug)]
pub struct Query {
    pub site: String,
    pub tz: Tz,
    pub range: Range,
    pub metrics: Vec<Metric>,
    pub dimensions: Vec<Dimension>,
    pub filters: Vec<Filter>,
    /// (key, descending)
    pub order_by: Vec<(OrderKey, bool)>,
    pub limit: usize,
    pub offset: usize,
    pub time_labels: bool,
    pub total_rows: bool,
    pub compare_previous: bool,
}

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
    pub duration: f64,
    pub session_pageviews: u64,
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
        self.duration += other.duration;
        self.session_pageviews += other.session_pageviews;
    }
}

/// Statement text and its parameters, with fresh names for each bound value.
struct Sql {
    params: Params,
    next: usize,
}

impl Sql {
    fn new(q: &Query, range: &Range) -> Sql {
        let params = Params::new()
            .with("site", q.site.as_str())
            .with("start", range.start)
            .with("end", range.end)
            .with("tz", q.tz.name())
            .with("from_date", range.from.to_string());
        Sql { params, next: 0 }
    }

    fn bind(&mut self, ty: &str, value: impl ParamValue) -> String {
        let name = format!("p{}", self.next);
        self.next += 1;
        self.params.push(&name, value);
        format!("{{{name}:{ty}}}")
    }
}

/// Which rows an expression is evaluated against.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// Rows of `events`.
    Events,
    /// Raw `sessions` delta rows: visit attributes under their own names, `start`.
    RawSessions,
    /// Sessions folded by `folded_sessions`: `s_<attribute>`, `st`, `entry`, `exit_page`.
    Sessions,
}

const EVENTS_IN_RANGE: &str = "site = {site:String} AND timestamp >= toDateTime({start:Int64}) AND timestamp < toDateTime({end:Int64})";

fn goal_condition(sql: &mut Sql, goal: &Goal) -> String {
    match (&goal.event_name, &goal.page_path) {
        (Some(name), _) => format!("name = {}", sql.bind("String", name.as_str())),
        (None, Some(path)) => format!(
            "(name = 'pageview' AND match(pathname, {}))",
            sql.bind("String", wildcard_regex(path))
        ),
        (None, None) => "0".into(),
    }
}

fn bucket_expr(bucket: Bucket, ts: &str) -> String {
    match bucket {
        Bucket::Hour => {
            format!("formatDateTime(toStartOfHour({ts}, {{tz:String}}), '%Y-%m-%d %H:00:00')")
        }
        Bucket::Day => format!("toString(toDate({ts}, {{tz:String}}))"),
        Bucket::Week => {
            format!(
                "toString(greatest(toMonday({ts}, {{tz:String}}), toDate({{from_date:String}})))"
            )
        }
        Bucket::Month => format!("toString(toStartOfMonth({ts}, {{tz:String}}))"),
    }
}

/// A dimension's value expression. Event dimensions only exist in `Ctx::Events`.
fn dim_expr(sql: &mut Sql, dim: &Dimension, ctx: Ctx, goals: &[Goal]) -> String {
    match dim {
        Dimension::Page => "pathname".into(),
        Dimension::Name => "name".into(),
        Dimension::Hostname => "hostname".into(),
        Dimension::Prop(key) => format!("props[{}]", sql.bind("String", key.as_str())),
        Dimension::Goal => {
            if goals.is_empty() {
                return "arrayJoin(CAST([], 'Array(String)'))".into();
            }
            let items: Vec<String> = goals
                .iter()
                .map(|g| {
                    let cond = goal_condition(sql, g);
                    format!(
                        "if({cond}, {}, '')",
                        sql.bind("String", g.display_name.as_str())
                    )
                })
                .collect();
            format!(
                "arrayJoin(arrayFilter(g -> g != '', [{}]))",
                items.join(", ")
            )
        }
        Dimension::EntryPage => "entry".into(),
        Dimension::ExitPage => "exit_page".into(),
        Dimension::Visit(col) => {
            let name = match ctx {
                Ctx::Sessions => format!("s_{col}"),
                _ => (*col).to_string(),
            };
            if matches!(*col, "referrer_source" | "referrer") {
                format!("if({name} = '', 'Direct / None', {name})")
            } else {
                name
            }
        }
        Dimension::Time(b) => bucket_expr(
            *b,
            match ctx {
                Ctx::Events => "timestamp",
                Ctx::RawSessions => "start",
                Ctx::Sessions => "st",
            },
        ),
    }
}

/// A filter as a boolean SQL expression in `ctx`.
fn filter_expr(sql: &mut Sql, f: &Filter, ctx: Ctx, goals: &[Goal]) -> Result<String, ReportError> {
    Ok(match f {
        Filter::And(fs) | Filter::Or(fs) => {
            if fs.is_empty() {
                return Err(invalid("filters", "and/or need at least one filter"));
            }
            let parts = fs
                .iter()
                .map(|x| filter_expr(sql, x, ctx, goals))
                .collect::<Result<Vec<_>, _>>()?;
            let joiner = if matches!(f, Filter::And(_)) {
                " AND "
            } else {
                " OR "
            };
            format!("({})", parts.join(joiner))
        }
        Filter::Not(inner) => format!("NOT ({})", filter_expr(sql, inner, ctx, goals)?),
        Filter::Cond {
            op,
            dim: Dimension::Goal,
            values,
            case_sensitive,
        } => {
            let fold = |s: &str| {
                if *case_sensitive {
                    s.to_string()
                } else {
                    s.to_lowercase()
                }
            };
            let patterns = if matches!(op, Op::Matches | Op::MatchesNot) {
                values
                    .iter()
                    .map(|v| regex::Regex::new(&fold(v)))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| invalid("filters", format!("invalid regular expression: {e}")))?
            } else {
                Vec::new()
            };
            let chosen: Vec<&Goal> = goals
                .iter()
                .filter(|g| {
                    let name = fold(&g.display_name);
                    match op {
                        Op::Is | Op::IsNot => values.iter().any(|v| fold(v) == name),
                        Op::Contains | Op::ContainsNot => {
                            values.iter().any(|v| name.contains(&fold(v)))
                        }
                        Op::Matches | Op::MatchesNot => patterns.iter().any(|p| p.is_match(&name)),
                    }
                })
                .collect();
            let positive = if chosen.is_empty() {
                "0".to_string()
            } else {
                let conds: Vec<String> = chosen.iter().map(|g| goal_condition(sql, g)).collect();
                format!("({})", conds.join(" OR "))
            };
            if op.negated() {
                format!("NOT {positive}")
            } else {
                positive
            }
        }
        Filter::Cond {
            op,
            dim,
            values,
            case_sensitive,
        } => {
            if values.is_empty() || values.len() > 100 {
                return Err(invalid(
                    "filters",
                    format!("{} needs 1 to 100 values", dim.name()),
                ));
            }
            let mut expr = dim_expr(sql, dim, ctx, goals);
            let values: Vec<String> = if *case_sensitive {
                values.clone()
            } else {
                expr = format!("lowerUTF8({expr})");
                values.iter().map(|v| v.to_lowercase()).collect()
            };
            let positive = match op {
                Op::Is | Op::IsNot => {
                    format!("{expr} IN {}", sql.bind("Array(String)", values))
                }
                Op::Contains | Op::ContainsNot => {
                    format!(
                        "multiSearchAny({expr}, {})",
                        sql.bind("Array(String)", values)
                    )
                }
                Op::Matches | Op::MatchesNot => {
                    let mut parts = Vec::new();
                    for v in &values {
                        regex::Regex::new(v).map_err(|e| {
                            invalid("filters", format!("invalid regular expression: {e}"))
                        })?;
                        parts.push(format!("match({expr}, {})", sql.bind("String", v.as_str())));
                    }
                    format!("({})", parts.join(" OR "))
                }
            };
            if op.negated() {
                format!("NOT ({positive})")
            } else {
                positive
            }
        }
    })
}

/// The `sessions` rows of a site around a range: with `in_range`, of sessions that start in
/// it; otherwise of sessions whose events may fall in it (started up to a day before).
fn sessions_where(pushdown: &[String], in_range: bool) -> String {
    let mut cond = String::from(
        "site = {site:String} AND day >= toDate(toDateTime({start:Int64})) - 1 AND day <= toDate(toDateTime({end:Int64}))",
    );
    if in_range {
        cond.push_str(
            " AND start >= toDateTime({start:Int64}) AND start < toDateTime({end:Int64})",
        );
    }
    for p in pushdown {
        cond.push_str(" AND ");
        cond.push_str(p);
    }
    cond
}

/// `sessions` folded to one row per session. Every delta row of a session has the same
/// sorting key (site, day of its start, session id), so `FINAL` folds them with the
/// columns' own aggregate functions as a streaming merge of sorted parts: far cheaper than
/// a hash GROUP BY over session ids, and exact whether background merges ran or not.
/// `columns` are the visit attributes needed, as `s_<name>`; `pushdown` are visit filters
/// (constant within a session, so filtering before the fold is the same as after).
fn folded_sessions(
    columns: &BTreeSet<&'static str>,
    pushdown: &[String],
    in_range: bool,
) -> String {
    let attrs: String = columns.iter().map(|c| format!(", {c} AS s_{c}")).collect();
    format!(
        "SELECT session_id, visitor_id AS vid, start AS st{attrs}, end AS ended, pageviews AS pv,
                events AS ev, entry_page AS entry, exit.2 AS exit_page
         FROM sessions FINAL WHERE {}",
        sessions_where(pushdown, in_range)
    )
}

fn visit_columns<'a>(dims: impl IntoIterator<Item = &'a Dimension>) -> BTreeSet<&'static str> {
    dims.into_iter()
        .filter_map(|d| match d {
            Dimension::Visit(c) => Some(*c),
            _ => None,
        })
        .collect()
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

fn key_of(dims: &[Value]) -> String {
    serde_json::to_string(dims).unwrap_or_default()
}

pub struct Engine<'a> {
    pub store: &'a dyn Store,
    pub goals: &'a [Goal],
    /// Daily rollups to read whole finished days from; `None` reads only the raw tables.
    pub rollups: Option<&'a Rollups>,
}

impl Engine<'_> {
    /// Event metrics per group: `[dims..., visitors, pageviews, events]`.
    async fn event_query(
        &self,
        q: &Query,
        range: &Range,
        dims: &[Dimension],
        filters: &[Filter],
    ) -> Result<Vec<Raw>, ReportError> {
        let mut sql = Sql::new(q, range);
        let mut select = Vec::new();
        for (i, d) in dims.iter().enumerate() {
            select.push(format!(
                "{} AS _d{i}",
                dim_expr(&mut sql, d, Ctx::Events, self.goals)
            ));
        }
        let mut wheres = vec![EVENTS_IN_RANGE.to_string()];
        if dims.contains(&Dimension::Goal) && !self.goals.is_empty() {
            // Only events that complete some goal can have a goal value.
            let any: Vec<String> = self
                .goals
                .iter()
                .map(|g| goal_condition(&mut sql, g))
                .collect();
            wheres.push(format!("({})", any.join(" OR ")));
        }
        for f in filters {
            match f.kind().map_err(|m| invalid("filters", m))? {
                Kind::Session => {
                    let inner = folded_sessions(&visit_columns(f.dimensions()), &[], false);
                    let cond = filter_expr(&mut sql, f, Ctx::Sessions, self.goals)?;
                    wheres.push(format!(
                        "session_id IN (SELECT session_id FROM ({inner}) WHERE {cond})"
                    ));
                }
                _ => wheres.push(filter_expr(&mut sql, f, Ctx::Events, self.goals)?),
            }
        }
        let join = if dims
            .iter()
            .any(|d| matches!(d, Dimension::EntryPage | Dimension::ExitPage))
        {
            let inner = folded_sessions(&BTreeSet::new(), &[], false);
            format!(" INNER JOIN (SELECT session_id, entry, exit_page FROM ({inner})) AS x USING session_id")
        } else {
            String::new()
        };
        select.extend([
            "uniq(visitor_id)".to_string(),
            "countIf(name = 'pageview')".to_string(),
            "count()".to_string(),
        ]);
        let group = group_by(dims.len());
        let text = format!(
            "SELECT {} FROM events{join} WHERE {}{group}",
            select.join(", "),
            wheres.join(" AND ")
        );
        Ok(self
            .grouped(&text, &sql.params, dims.len(), 3)
            .await?
            .into_iter()
            .map(|(dims, m)| Raw {
                visitors: as_u64(&m[0]),
                pageviews: as_u64(&m[1]),
                events: as_u64(&m[2]),
                dims,
                ..Raw::default()
            })
            .collect())
    }

    /// Metrics from `sessions` per group: `[dims..., visitors, pageviews, events, visits,
    /// bounces, duration sum]`. Without session-only metrics, dimensions or filters the
    /// delta rows are aggregated directly (sums and visitor counts are the same either
    /// way); otherwise they are folded to one row per session first.
    async fn session_query(
        &self,
        q: &Query,
        range: &Range,
        dims: &[Dimension],
        filters: &[Filter],
        metrics: &[Metric],
    ) -> Result<Vec<Raw>, ReportError> {
        let mut sql = Sql::new(q, range);
        let fold = metrics.iter().any(|m| m.is_session())
            || dims
                .iter()
                .any(|d| matches!(d.kind(), Kind::Session | Kind::Event))
            || filters.iter().any(|f| !matches!(f.kind(), Ok(Kind::Visit)));
        let ctx = if fold {
            Ctx::Sessions
        } else {
            Ctx::RawSessions
        };
        let mut columns = visit_columns(dims);
        let mut pushdown = Vec::new();
        let mut outer = Vec::new();
        for f in filters {
            match f.kind().map_err(|m| invalid("filters", m))? {
                Kind::Visit => {
                    pushdown.push(filter_expr(&mut sql, f, Ctx::RawSessions, self.goals)?)
                }
                Kind::Session => {
                    columns.extend(visit_columns(f.dimensions()));
                    outer.push(filter_expr(&mut sql, f, Ctx::Sessions, self.goals)?)
                }
                _ => {
                    let cond = filter_expr(&mut sql, f, Ctx::Events, self.goals)?;
                    outer.push(format!(
                        "session_id IN (SELECT session_id FROM events WHERE {EVENTS_IN_RANGE} AND {cond})"
                    ));
                }
            }
        }
        let mut select = Vec::new();
        let mut event_dims = Vec::new();
        for (i, d) in dims.iter().enumerate() {
            if d.kind() == Kind::Event {
                event_dims.push(format!(
                    "{} AS _e{i}",
                    dim_expr(&mut sql, d, Ctx::Events, self.goals)
                ));
                select.push(format!("_e{i} AS _d{i}"));
            } else {
                select.push(format!(
                    "{} AS _d{i}",
                    dim_expr(&mut sql, d, ctx, self.goals)
                ));
            }
        }
        let join = if event_dims.is_empty() {
            String::new()
        } else {
            format!(
                " INNER JOIN (SELECT DISTINCT session_id, {} FROM events WHERE {EVENTS_IN_RANGE}) AS e USING session_id",
                event_dims.join(", ")
            )
        };
        let from = if fold {
            select.extend(
                [
                    "uniq(vid)",
                    "sum(pv)",
                    "sum(ev)",
                    "count()",
                    "countIf(pv <= 1)",
                    "sum(ended - st)",
                ]
                .map(String::from),
            );
            format!("({}) AS s", folded_sessions(&columns, &pushdown, true))
        } else {
            select.extend(
                [
                    "uniq(visitor_id)",
                    "sum(pageviews)",
                    "sum(events)",
                    "0",
                    "0",
                    "0",
                ]
                .map(String::from),
            );
            format!("sessions WHERE {}", sessions_where(&pushdown, true))
        };
        let wheres = if outer.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", outer.join(" AND "))
        };
        let text = format!(
            "SELECT {} FROM {from}{join}{wheres}{}",
            select.join(", "),
            group_by(dims.len())
        );
        Ok(self
            .grouped(&text, &sql.params, dims.len(), 6)
            .await?
            .into_iter()
            .map(|(dims, m)| Raw {
                visitors: as_u64(&m[0]),
                pageviews: as_u64(&m[1]),
                events: as_u64(&m[2]),
                visits: as_u64(&m[3]),
                bounces: as_u64(&m[4]),
                duration: as_f64(&m[5]),
                session_pageviews: as_u64(&m[1]),
                dims,
            })
            .collect())
    }

    /// Runs a grouped statement whose rows are `dims` dimension values then `metrics`
    /// values; returns each row split in two.
    async fn grouped(
        &self,
        text: &str,
        params: &Params,
        dims: usize,
        metrics: usize,
    ) -> Result<Vec<(Vec<Value>, Vec<Value>)>, ReportError> {
        Ok(fetch_compact(self.store, text, params)
            .await?
            .into_iter()
            .filter(|r| r.len() == dims + metrics)
            .map(|mut r| {
                let m = r.split_off(dims);
                (r, m)
            })
            .collect())
    }

    /// Raw groups for a range, keyed by their dimension values: whole UTC days that have a
    /// current daily rollup from it, the rest of the range from the raw tables.
    async fn groups(
        &self,
        q: &Query,
        range: &Range,
        metrics: &[Metric],
    ) -> Result<HashMap<String, Raw>, ReportError> {
        let Some(plan) = self.rollups.and_then(|r| r.plan(q, range, self.goals)) else {
            return self.raw_groups(q, range, metrics).await;
        };
        let mut out = plan.read(self.store, q).await?;
        for part in &plan.rest {
            for r in self.raw_groups(q, part, metrics).await?.into_values() {
                Raw::slot(&mut out, &r.dims).add(&r);
            }
        }
        Ok(out)
    }

    /// Raw groups for a range from the raw tables, keyed by their dimension values.
    pub(crate) async fn raw_groups(
        &self,
        q: &Query,
        range: &Range,
        metrics: &[Metric],
    ) -> Result<HashMap<String, Raw>, ReportError> {
        let mut out: HashMap<String, Raw> = HashMap::new();
        // Visit-level questions (visit dimensions and filters, time) are answered from
        // `sessions` alone, as Plausible answers them from its sessions table: far fewer
        // rows than events. Visits count in the range where they start.
        let visit_level = !range.live
            && q.dimensions.iter().all(|d| d.kind() != Kind::Event)
            && q.filters
                .iter()
                .all(|f| !matches!(f.kind(), Ok(Kind::Event)));
        if visit_level {
            for r in self
                .session_query(q, range, &q.dimensions, &q.filters, metrics)
                .await?
            {
                out.insert(key_of(&r.dims), r);
            }
            return Ok(out);
        }
        if metrics.iter().any(|m| !m.is_session()) {
            for r in self
                .event_query(q, range, &q.dimensions, &q.filters)
                .await?
            {
                out.insert(key_of(&r.dims), r);
            }
        }
        if metrics.iter().any(|m| m.is_session()) {
            for r in self
                .session_query(q, range, &q.dimensions, &q.filters, metrics)
                .await?
            {
                let e = Raw::slot(&mut out, &r.dims);
                e.visits = r.visits;
                e.bounces = r.bounces;
                e.duration = r.duration;
                e.session_pageviews = r.session_pageviews;
            }
        }
        Ok(out)
    }

    /// Visitors without goal filters, per group of the non-goal dimensions (conversion rate's
    /// denominator).
    async fn baseline(
        &self,
        q: &Query,
        range: &Range,
    ) -> Result<(Vec<usize>, HashMap<String, u64>), ReportError> {
        let keep: Vec<usize> = (0..q.dimensions.len())
            .filter(|i| q.dimensions[*i] != Dimension::Goal)
            .collect();
        let dims: Vec<Dimension> = keep.iter().map(|i| q.dimensions[*i].clone()).collect();
        let filters: Vec<Filter> = q
            .filters
            .iter()
            .filter(|f| !f.mentions_goal())
            .cloned()
            .collect();
        let base = Query {
            dimensions: dims,
            filters,
            ..q.clone()
        };
        let groups = self.groups(&base, range, &[Metric::Visitors]).await?;
        Ok((
            keep,
            groups.into_iter().map(|(k, r)| (k, r.visitors)).collect(),
        ))
    }

    async fn total_visitors(&self, q: &Query, range: &Range) -> Result<u64, ReportError> {
        let total = Query {
            dimensions: Vec::new(),
            ..q.clone()
        };
        let groups = self.groups(&total, range, &[Metric::Visitors]).await?;
        Ok(groups.values().next().map(|r| r.visitors).unwrap_or(0))
    }

    /// Metric values per group for a range.
    async fn compute(
        &self,
        q: &Query,
        range: &Range,
    ) -> Result<Vec<(Vec<Value>, Vec<f64>)>, ReportError> {
        let mut groups = self.groups(q, range, &q.metrics).await?;
        // Not-set values are left out where Plausible leaves them out.
        groups.retain(|_, r| {
            q.dimensions.iter().zip(&r.dims).all(|(d, v)| {
                !(d.skips_empty() && (v.is_null() || v.as_str().is_some_and(str::is_empty)))
            })
        });
        let conversion = if q.metrics.contains(&Metric::ConversionRate) {
            Some(self.baseline(q, range).await?)
        } else {
            None
        };
        let total = if q.metrics.contains(&Metric::Percentage) {
            Some(self.total_visitors(q, range).await?)
        } else {
            None
        };
        let mut rows: Vec<(Vec<Value>, Vec<f64>)> = groups
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
                        Metric::ViewsPerVisit => {
                            ratio(r.session_pageviews as f64, r.visits as f64, 2)
                        }
                        Metric::BounceRate => ratio(100.0 * r.bounces as f64, r.visits as f64, 0),
                        Metric::VisitDuration => ratio(r.duration, r.visits as f64, 0),
                        Metric::Percentage => {
                            ratio(100.0 * r.visitors as f64, total.unwrap_or(0) as f64, 1)
                        }
                        Metric::ConversionRate => {
                            let (keep, base) = conversion.as_ref().expect("computed above");
                            let dims: Vec<Value> =
                                keep.iter().map(|i| r.dims[*i].clone()).collect();
                            let denominator = base.get(&key_of(&dims)).copied().unwrap_or(0);
                            ratio(100.0 * r.visitors as f64, denominator as f64, 2)
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
        Ok(rows)
    }

    pub async fn run(&self, q: &Query) -> Result<Output, ReportError> {
        validate(q)?;
        let mut rows = self.compute(q, &q.range).await?;
        sort(&mut rows, q);
        let total_rows = rows.len();
        let page: Vec<(Vec<Value>, Vec<f64>)> =
            rows.into_iter().skip(q.offset).take(q.limit).collect();
        let (previous, comparison_range) = if q.compare_previous {
            let prev_range = q.range.previous(&q.tz);
            let prev = self.compute(q, &prev_range).await?;
            let map: HashMap<String, Vec<f64>> =
                prev.into_iter().map(|(d, v)| (key_of(&d), v)).collect();
            (Some(map), Some(prev_range))
        } else {
            (None, None)
        };
        let results = page
            .into_iter()
            .map(|(dims, values)| {
                let comparison = previous.as_ref().map(|prev| {
                    let before = prev
                        .get(&key_of(&dims))
                        .cloned()
                        .unwrap_or_else(|| vec![0.0; q.metrics.len()]);
                    Comparison {
                        dimensions: dims.clone(),
                        change: q
                            .metrics
                            .iter()
                            .zip(values.iter().zip(&before))
                            .map(|(m, (now, then))| change(*m, *now, *then))
                            .collect(),
                        metrics: q
                            .metrics
                            .iter()
                            .zip(&before)
                            .map(|(m, v)| metric_value(*m, *v))
                            .collect(),
                    }
                });
                ResultRow {
                    metrics: q
                        .metrics
                        .iter()
                        .zip(&values)
                        .map(|(m, v)| metric_value(*m, *v))
                        .collect(),
                    dimensions: dims,
                    comparison,
                }
            })
            .collect();
        let time_labels = q.time_labels.then(|| {
            q.dimensions
                .iter()
                .find_map(|d| match d {
                    Dimension::Time(b) => Some(labels(&q.range, &q.tz, *b)),
                    _ => None,
                })
                .unwrap_or_default()
        });
        Ok(Output {
            results,
            total_rows,
            time_labels,
            comparison_range,
        })
    }
}

fn group_by(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(
            " GROUP BY {}",
            (0..n)
                .map(|i| format!("_d{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
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
        Metric::ViewsPerVisit | Metric::ConversionRate | Metric::Percentage => json!(v),
        _ => json!(v.round() as i64),
    }
}

/// Plausible's change: percentage points for rates, otherwise percent (100 from zero).
fn change(m: Metric, now: f64, then: f64) -> Value {
    match m {
        Metric::BounceRate => json!((now - then).round() as i64),
        Metric::ConversionRate | Metric::Percentage => json!(round_to(now - then, 2)),
        _ => {
            if then == 0.0 {
                json!(if now > 0.0 { 100 } else { 0 })
            } else {
                json!(((now - then) / then * 100.0).round() as i64)
            }
        }
    }
}

fn validate(q: &Query) -> Result<(), ReportError> {
    if q.metrics.is_empty() {
        return Err(invalid("metrics", "at least one metric is required"));
    }
    let times = q
        .dimensions
        .iter()
        .filter(|d| matches!(d, Dimension::Time(_)))
        .count();
    if times > 1 {
        return Err(invalid("dimensions", "at most one time dimension"));
    }
    let mut seen = BTreeSet::new();
    for d in &q.dimensions {
        if !seen.insert(d.name()) {
            return Err(invalid(
                "dimensions",
                format!("{} is listed twice", d.name()),
            ));
        }
    }
    if q.metrics.contains(&Metric::ConversionRate)
        && !q.dimensions.contains(&Dimension::Goal)
        && !q.filters.iter().any(Filter::mentions_goal)
    {
        return Err(invalid(
            "metrics",
            "conversion_rate needs an event:goal filter or the event:goal dimension",
        ));
    }
    if q.compare_previous && times > 0 {
        return Err(invalid(
            "include",
            "comparisons are available for aggregates and breakdowns, not time series",
        ));
    }
    for f in &q.filters {
        f.kind().map_err(|m| invalid("filters", m))?;
    }
    Ok(())
}

fn sort(rows: &mut [(Vec<Value>, Vec<f64>)], q: &Query) {
    let order: Vec<(OrderKey, bool)> = if q.order_by.is_empty() {
        match q
            .dimensions
            .iter()
            .position(|d| matches!(d, Dimension::Time(_)))
        {
            Some(i) => vec![(OrderKey::Dimension(i), false)],
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
        // Ties: by dimension values, so pages never shuffle between requests.
        let ka: Vec<String> = a.0.iter().map(text).collect();
        let kb: Vec<String> = b.0.iter().map(text).collect();
        ka.cmp(&kb)
    });
}
