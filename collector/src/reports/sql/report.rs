//! The two grouped statements a report is answered with: event metrics from `events`, and
//! session metrics from `sessions` (see `reports::engine` for when each is used). Each row
//! is the group's dimension values (`_d0`, `_d1`, ...) followed by the metric sums.

use std::collections::BTreeSet;

use super::expr::{
    dim_expr, filter_expr, folded_sessions, goal_condition, group_by, sessions_where,
    visit_columns, Ctx, EVENTS_IN_RANGE, LEADS_IN_RANGE, NOT_ENGAGEMENT,
};
use super::{Binder, Statement};
use crate::reports::dates::Range;
use crate::reports::goals::Goal;
use crate::reports::model::{Dimension, Filter, Kind, Metric};
use crate::reports::query::{invalid, Query, ReportError};

/// Metric columns after the dimensions in an `event_metrics` row: visitors, pageviews,
/// events.
pub const EVENT_METRICS: usize = 3;

/// Metric columns after the dimensions in a `lead_metrics` row: leads.
pub const LEAD_METRICS: usize = 1;

/// Metric columns after the dimensions in a `session_metrics` row: visitors, pageviews,
/// events, visits, bounces, duration sum, the visits bounces are counted of.
pub const SESSION_METRICS: usize = 7;

/// The settings of a statement that selects visits from `sessions` through the set of those
/// with a matching event (see `visitors_statement`).
pub(super) const MATCHING_SETTINGS: &str =
    " SETTINGS use_index_for_in_with_subqueries = 0, distributed_product_mode = 'global'";

/// The statements that answer `q` over `range` from the raw tables.
#[derive(Clone, Debug)]
pub struct RawStatements {
    /// Event metrics (`event_metrics`), when an event metric is asked for and the question
    /// is not visit-level.
    pub events: Option<Statement>,
    /// Session metrics (`session_metrics`), when the question is visit-level or asks for a
    /// session metric.
    pub sessions: Option<Statement>,
    /// The session statement's rows are the whole answer, its visitor, pageview and event
    /// sums included: the question is visit-level, or its visitors come from the visits
    /// with a matching event (`visitors_from_sessions`).
    pub visit_level: bool,
    /// Leads (`lead_metrics`), when a lead metric is asked for.
    pub leads: Option<Statement>,
}

/// Which statements answer `q` over `range` from the raw tables. Visit-level questions
/// (visit dimensions and filters, time) are answered from `sessions` alone, as Plausible
/// answers them from its sessions table: far fewer rows than events. Visits count in the
/// range where they start.
pub fn raw_statements(
    q: &Query,
    range: &Range,
    metrics: &[Metric],
    goals: &[Goal],
) -> Result<RawStatements, ReportError> {
    let visit_level = !range.live
        && q.dimensions.iter().all(|d| d.kind() != Kind::Event)
        && !q.filters.iter().any(Filter::is_event);
    let sessions =
        |metrics: &[Metric]| session_metrics(q, range, &q.dimensions, &q.filters, metrics, goals);
    // Leads are not events of any name the site sends: broken down by event name, none.
    let leads =
        if metrics.iter().any(|m| m.needs_leads()) && !q.dimensions.contains(&Dimension::Name) {
            Some(lead_metrics(q, range, &q.dimensions, &q.filters, goals)?)
        } else {
            None
        };
    if visitors_from_sessions(q, range, metrics) {
        return Ok(RawStatements {
            events: None,
            sessions: Some(visitors_statement(
                Binder::new(q, range),
                &q.dimensions,
                &q.filters,
                goals,
                Grouping::Plain,
            )?),
            visit_level: true,
            leads,
        });
    }
    if visit_level {
        return Ok(RawStatements {
            events: None,
            sessions: Some(sessions(metrics)?),
            visit_level,
            leads,
        });
    }
    let events = if metrics.iter().any(|m| !m.is_session()) {
        Some(event_metrics(q, range, &q.dimensions, &q.filters, goals)?)
    } else {
        None
    };
    let sessions = if metrics.iter().any(|m| m.is_session()) {
        Some(sessions(metrics)?)
    } else {
        None
    };
    Ok(RawStatements {
        events,
        sessions,
        visit_level,
        leads,
    })
}

/// Whether `q`'s visitors per visit attribute under an event filter are read from
/// `sessions` through the visits with a matching event (`visitors_statement`) instead of
/// from the matching events themselves. Both give `uniq` the same visitor ids per group:
/// every event carries its visit's visitor id and first-touch attributes, as the visit's
/// rows in `sessions` do. But a visit is one short row there, where its events are many
/// wide ones, and a popular page or goal matches events in every granule of `events`.
///
/// Only for visitors alone (and what is derived from them), broken down by visit
/// attributes only (time buckets stay on events: a visit can cross a local midnight), and
/// no entry or exit page filter (those need the visits folded).
pub(super) fn visitors_from_sessions(q: &Query, range: &Range, metrics: &[Metric]) -> bool {
    let derived = |m: &Metric| {
        matches!(
            m,
            Metric::Visitors
                | Metric::Percentage
                | Metric::ConversionRate
                | Metric::GroupConversionRate
        )
    };
    let filter_fits = |f: &Filter| matches!(f.kind(), Ok(Kind::Visit | Kind::Event));
    !range.live
        && metrics.iter().all(derived)
        && !q.dimensions.is_empty()
        && q.dimensions.iter().all(|d| d.kind() == Kind::Visit)
        && q.filters.iter().any(Filter::is_event)
        && q.filters.iter().all(filter_fits)
}

/// Visitors per group of visit attributes `dims` over `range`, from the `sessions` rows of
/// the visits with an event in the range that matches the event filters (see
/// `visitors_from_sessions`). Visits count whenever they started: their events decide.
/// The other metric columns are 0. The set of matching visits is large, and letting the
/// engine analyse the primary key with it costs more than it skips (1.4 s against 0.2 s
/// for the 720 k visits of a popular page), hence the first setting. On a cluster the set
/// is made once and sent to every shard (`sessions` and `events` are sharded by different
/// keys, so a shard's own events would miss visits); elsewhere the second does nothing.
/// As a part of a shared statement (`sql` reads the visits from a CTE) the shared statement
/// carries those settings.
pub(super) fn visitors_statement(
    mut sql: Binder,
    dims: &[Dimension],
    filters: &[Filter],
    goals: &[Goal],
    grouping: Grouping,
) -> Result<Statement, ReportError> {
    let mut select = dimension_columns(&mut sql, dims, Ctx::RawSessions, goals);
    let mut wheres = Vec::new();
    let mut event_filters = Vec::new();
    for f in filters {
        match f.kind().map_err(|m| invalid("filters", m))? {
            Kind::Visit => wheres.push(filter_expr(&mut sql, f, Ctx::RawSessions, goals)?),
            _ => event_filters.push(f),
        }
    }
    wheres.push(visits_with_event(&mut sql, &event_filters, goals)?);
    let (set_column, group) = grouping.clauses(dims.len());
    select.extend(set_column);
    select.extend(["uniq(visitor_id)", "0", "0", "0", "0", "0", "0"].map(String::from));
    let settings = match sql.matching() {
        Some(_) => "",
        None => MATCHING_SETTINGS,
    };
    let text = format!(
        "SELECT {} FROM sessions WHERE {}{group}{settings}",
        select.join(", "),
        sessions_where(&wheres, false)
    );
    Ok(sql.finish(text))
}

/// Leads per group of `dims` over `range`: the identification events (`LEADS_IN_RANGE`),
/// each carrying the attributes of the visit it happened in, its page and its time. Filters
/// on the page or hostname apply to the identification itself (the page it happened on);
/// other event filters (goals, event names, properties) to its visit, as they restrict
/// visitors to those with such an event; entry and exit page filters to its visit.
pub fn lead_metrics(
    q: &Query,
    range: &Range,
    dims: &[Dimension],
    filters: &[Filter],
    goals: &[Goal],
) -> Result<Statement, ReportError> {
    let mut sql = Binder::new(q, range);
    let mut select = dimension_columns(&mut sql, dims, Ctx::Events, goals);
    let mut wheres = vec![LEADS_IN_RANGE.to_string()];
    let mut on_visit = Vec::new();
    for f in filters {
        let own = f
            .dimensions()
            .iter()
            .all(|d| matches!(d, Dimension::Page | Dimension::Hostname));
        match f.kind().map_err(|m| invalid("filters", m))? {
            Kind::Session => wheres.push(sessions_matching(&mut sql, f, goals)?),
            Kind::Event if !own => on_visit.push(f),
            _ => wheres.push(filter_expr(&mut sql, f, Ctx::Events, goals)?),
        }
    }
    if !on_visit.is_empty() {
        wheres.push(visits_with_event(&mut sql, &on_visit, goals)?);
    }
    let join = entry_exit_join(dims);
    select.push("count()".to_string());
    let text = format!(
        "SELECT {} FROM events{join} WHERE {}{}",
        select.join(", "),
        wheres.join(" AND "),
        group_by(dims.len())
    );
    Ok(sql.finish(text))
}

/// Event metrics per group of `dims` over `range`, from `events`.
pub fn event_metrics(
    q: &Query,
    range: &Range,
    dims: &[Dimension],
    filters: &[Filter],
    goals: &[Goal],
) -> Result<Statement, ReportError> {
    event_statement(
        Binder::new(q, range),
        dims,
        filters,
        goals,
        Grouping::Plain,
        false,
    )
}

/// The goals' labels as an `event:goal` breakdown names them, each once, in order: two goals
/// of the same display name are one group.
pub(super) fn goal_labels(goals: &[Goal]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for g in goals {
        if !out.contains(&g.display_name.as_str()) {
            out.push(g.display_name.as_str());
        }
    }
    out
}

/// Metric columns after the event metrics for each of `goal_labels` when an
/// `event_statement` carries the goals breakdown (`goal_columns`): events, visitors,
/// pageviews and events of the events that complete a goal of that label.
pub(super) const GOAL_COLUMNS: usize = 4;

/// The `event:goal` breakdown as aggregate columns, `GOAL_COLUMNS` per label of
/// `goal_labels`: what `arrayJoin` over the goals gives each label (an event counts once
/// per goal it completes; its visitor once per label), without a statement of its own.
fn goal_columns(sql: &mut Binder, goals: &[Goal]) -> Vec<String> {
    let mut out = Vec::new();
    for label in goal_labels(goals) {
        let conds: Vec<String> = goals
            .iter()
            .filter(|g| g.display_name == label)
            .map(|g| goal_condition(sql, g))
            .collect();
        let sum = |extra: &str| {
            conds
                .iter()
                .map(|c| format!("countIf({c}{extra})"))
                .collect::<Vec<_>>()
                .join(" + ")
        };
        out.push(sum(""));
        out.push(format!("uniqIf(visitor_id, {})", conds.join(" OR ")));
        out.push(sum(" AND name = 'pageview'"));
        out.push(sum(&format!(" AND {NOT_ENGAGEMENT}")));
    }
    out
}

/// How a statement groups its rows by its dimension columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Grouping {
    /// `GROUP BY _d0, _d1, ...`: one group per combination.
    Plain,
    /// `GROUP BY GROUPING SETS ((_d0), (_d1), ..., ())`: each dimension on its own, then
    /// the totals when `true`, with `grouping(_d0, ...) AS _g` after the dimensions saying
    /// which set a row belongs to (see `sets`).
    Sets { totals: bool },
}

impl Grouping {
    /// The grouping clause, and the `_g` column when there are sets.
    fn clauses(self, dims: usize) -> (Option<String>, String) {
        let names: Vec<String> = (0..dims).map(|i| format!("_d{i}")).collect();
        match self {
            Grouping::Plain => (None, group_by(dims)),
            Grouping::Sets { totals } => {
                let mut sets: Vec<String> = names.iter().map(|n| format!("({n})")).collect();
                if totals {
                    sets.push("()".into());
                }
                (
                    Some(format!("grouping({}) AS _g", names.join(", "))),
                    format!(" GROUP BY GROUPING SETS ({})", sets.join(", ")),
                )
            }
        }
    }
}

/// `event_metrics` grouped as `grouping` says; with `with_goals`, the goals breakdown's
/// columns (`goal_columns`) follow the metrics.
pub(super) fn event_statement(
    mut sql: Binder,
    dims: &[Dimension],
    filters: &[Filter],
    goals: &[Goal],
    grouping: Grouping,
    with_goals: bool,
) -> Result<Statement, ReportError> {
    let mut select = dimension_columns(&mut sql, dims, Ctx::Events, goals);
    let mut wheres = vec![EVENTS_IN_RANGE.to_string()];
    if dims.contains(&Dimension::Name) {
        wheres.push(NOT_ENGAGEMENT.to_string());
    }
    if dims.contains(&Dimension::Goal) && !goals.is_empty() {
        // Only events that complete some goal can have a goal value.
        let any: Vec<String> = goals.iter().map(|g| goal_condition(&mut sql, g)).collect();
        wheres.push(format!("({})", any.join(" OR ")));
    }
    for f in filters {
        match f.kind().map_err(|m| invalid("filters", m))? {
            Kind::Session => wheres.push(sessions_matching(&mut sql, f, goals)?),
            _ => wheres.push(filter_expr(&mut sql, f, Ctx::Events, goals)?),
        }
    }
    let join = entry_exit_join(dims);
    let (set_column, group) = grouping.clauses(dims.len());
    select.extend(set_column);
    select.extend([
        "uniq(visitor_id)".to_string(),
        "countIf(name = 'pageview')".to_string(),
        format!("countIf({NOT_ENGAGEMENT})"),
    ]);
    if with_goals {
        select.extend(goal_columns(&mut sql, goals));
    }
    let text = format!(
        "SELECT {} FROM events{join} WHERE {}{group}",
        select.join(", "),
        wheres.join(" AND ")
    );
    Ok(sql.finish(text))
}

/// The dimension columns (`_d0`, `_d1`, ...) of a statement over the rows `ctx` names.
fn dimension_columns(
    sql: &mut Binder,
    dims: &[Dimension],
    ctx: Ctx,
    goals: &[Goal],
) -> Vec<String> {
    dims.iter()
        .enumerate()
        .map(|(i, d)| format!("{} AS _d{i}", dim_expr(sql, d, ctx, goals)))
        .collect()
}

/// Event filters on visits: the visits with an event in the range that matches all of them
/// (one event, as `visitors` counts them: a page and a goal filter mean a conversion on that
/// page, for visits as for visitors).
///
/// In a part of a shared statement (`sets::Shared`) the visits come from the CTE it
/// defines with `matching_events` for the same filters.
fn visits_with_event(
    sql: &mut Binder,
    filters: &[&Filter],
    goals: &[Goal],
) -> Result<String, ReportError> {
    let visits = match sql.matching() {
        Some(cte) => format!("SELECT session_id FROM {cte}"),
        None => matching_events(sql, filters, goals)?,
    };
    Ok(format!("session_id IN ({visits})"))
}

/// The session ids of the events in the range that match all of `filters` (event filters).
pub(super) fn matching_events(
    sql: &mut Binder,
    filters: &[&Filter],
    goals: &[Goal],
) -> Result<String, ReportError> {
    let conds = filters
        .iter()
        .map(|f| filter_expr(sql, f, Ctx::Events, goals))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(format!(
        "SELECT session_id FROM events WHERE {EVENTS_IN_RANGE} AND {}",
        conds.join(" AND ")
    ))
}

/// An entry or exit page filter on events: the events of the visits that match it.
fn sessions_matching(sql: &mut Binder, f: &Filter, goals: &[Goal]) -> Result<String, ReportError> {
    let inner = folded_sessions(&visit_columns(f.dimensions()), &[], false);
    let cond = filter_expr(sql, f, Ctx::Sessions, goals)?;
    Ok(format!(
        "session_id IN (SELECT session_id FROM ({inner}) WHERE {cond})"
    ))
}

/// The join that gives events their visit's entry and exit page, when a dimension needs them.
fn entry_exit_join(dims: &[Dimension]) -> String {
    if dims
        .iter()
        .any(|d| matches!(d, Dimension::EntryPage | Dimension::ExitPage))
    {
        let inner = folded_sessions(&BTreeSet::new(), &[], false);
        format!(" INNER JOIN (SELECT session_id, entry, exit_page FROM ({inner})) AS x USING session_id")
    } else {
        String::new()
    }
}

/// Whether `session_metrics` folds the delta rows to one row per session first: for
/// session-only metrics, and for dimensions and filters that are not visit attributes.
pub(super) fn folds(dims: &[Dimension], filters: &[Filter], metrics: &[Metric]) -> bool {
    metrics.iter().any(|m| m.is_session())
        || dims
            .iter()
            .any(|d| matches!(d.kind(), Kind::Session | Kind::Event))
        || filters.iter().any(|f| !matches!(f.kind(), Ok(Kind::Visit)))
}

/// Metrics from `sessions` per group of `dims` over `range`. Without session-only metrics,
/// dimensions or filters the delta rows are aggregated directly (sums and visitor counts
/// are the same either way, and the visit/bounce/duration columns are 0); otherwise they are
/// folded to one row per session first.
pub fn session_metrics(
    q: &Query,
    range: &Range,
    dims: &[Dimension],
    filters: &[Filter],
    metrics: &[Metric],
    goals: &[Goal],
) -> Result<Statement, ReportError> {
    let fold = folds(dims, filters, metrics);
    session_statement(
        Binder::new(q, range),
        dims,
        filters,
        goals,
        fold,
        Grouping::Plain,
    )
}

/// `session_metrics` with the fold decided by the caller (`folds` of the statements it
/// stands for: grouping sets share one fold).
pub(super) fn session_statement(
    mut sql: Binder,
    dims: &[Dimension],
    filters: &[Filter],
    goals: &[Goal],
    fold: bool,
    grouping: Grouping,
) -> Result<Statement, ReportError> {
    let ctx = if fold {
        Ctx::Sessions
    } else {
        Ctx::RawSessions
    };
    let mut columns = visit_columns(dims);
    let mut pushdown = Vec::new();
    let mut outer = Vec::new();
    let mut event_filters = Vec::new();
    for f in filters {
        match f.kind().map_err(|m| invalid("filters", m))? {
            Kind::Visit => pushdown.push(filter_expr(&mut sql, f, Ctx::RawSessions, goals)?),
            Kind::Session => {
                columns.extend(visit_columns(f.dimensions()));
                outer.push(filter_expr(&mut sql, f, Ctx::Sessions, goals)?)
            }
            _ => event_filters.push(f),
        }
    }
    if !event_filters.is_empty() {
        outer.push(visits_with_event(&mut sql, &event_filters, goals)?);
    }
    // Plausible's bounce rate under a page filter: of the visits that entered on a matching
    // page (the first top-level `event:page` filter, applied to the entry page).
    let entry_cond = match filters.iter().find_map(|f| match f {
        Filter::Cond {
            op,
            dim: Dimension::Page,
            values,
            case_sensitive,
        } => Some(Filter::Cond {
            op: *op,
            dim: Dimension::EntryPage,
            values: values.clone(),
            case_sensitive: *case_sensitive,
        }),
        _ => None,
    }) {
        Some(f) if fold => {
            columns.extend(visit_columns(f.dimensions()));
            Some(filter_expr(&mut sql, &f, Ctx::Sessions, goals)?)
        }
        _ => None,
    };
    let mut select = Vec::new();
    let mut event_dims = Vec::new();
    let mut event_aliases = Vec::new();
    for (i, d) in dims.iter().enumerate() {
        if d.kind() == Kind::Event {
            event_dims.push(format!(
                "{} AS _e{i}",
                dim_expr(&mut sql, d, Ctx::Events, goals)
            ));
            event_aliases.push(format!("_e{i}"));
            select.push(format!("_e{i} AS _d{i}"));
        } else {
            select.push(format!("{} AS _d{i}", dim_expr(&mut sql, d, ctx, goals)));
        }
    }
    let (set_column, group) = grouping.clauses(dims.len());
    select.extend(set_column);
    // The visit's (session, value) pairs as a GROUP BY, not a DISTINCT: over a month of a busy
    // site they are millions, and a GROUP BY spills to disk past half of `store.memory_mb`
    // where a DISTINCT fails. They are the join's left side: its right side, which the engine
    // holds in memory, is the smaller one, a row per visit.
    let pairs = (!event_dims.is_empty()).then(|| {
        let engagement = if dims.contains(&Dimension::Name) {
            format!(" AND {NOT_ENGAGEMENT}")
        } else {
            String::new()
        };
        format!(
            "SELECT session_id, {} FROM events WHERE {EVENTS_IN_RANGE}{engagement} GROUP BY session_id, {}",
            event_dims.join(", "),
            event_aliases.join(", ")
        )
    });
    let from = if fold {
        let (bounces, bounce_visits) = match &entry_cond {
            Some(c) => (format!("countIf(pv <= 1 AND {c})"), format!("countIf({c})")),
            None => ("countIf(pv <= 1)".to_string(), "count()".to_string()),
        };
        select.extend([
            "uniq(vid)".to_string(),
            "sum(pv)".to_string(),
            "sum(ev)".to_string(),
            "count()".to_string(),
            bounces,
            "sum(ended - st)".to_string(),
            bounce_visits,
        ]);
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
    // Event dimensions imply the fold (`folds`): `from` is the folded visits here.
    let from = match pairs {
        Some(pairs) => format!("({pairs}) AS e INNER JOIN {from} USING session_id"),
        None => from,
    };
    let text = format!("SELECT {} FROM {from}{wheres}{group}", select.join(", "));
    Ok(sql.finish(text))
}
