//! The one query engine behind the v2 and v1 stats APIs and the dashboard: for each range a
//! report needs, it asks `rollups` which whole days come from daily rollups, has `execute`
//! read the rest from the raw tables, and has `shape` turn the sums into the response.
//!
//! A report is answered by at most two grouped SQL statements (built in `sql`), merged by
//! dimension values:
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
//! page filters restrict event metrics to events of matching sessions. Visitors alone by
//! visit attributes under event filters are read from the rows of those sessions
//! (`sql::report::visitors_from_sessions`): the same visitor ids, far fewer rows. Event dimensions
//! (page, goal, props) break session metrics down by the sessions that contain the value.
//! Every value from a request travels as a `{name:Type}` parameter.
//!
//! Dependencies run one way: `engine` → `rollups` → `execute` → `sql` and `shape`; nothing
//! below imports `engine`. One exception: the rollup builder batches a day's reports through
//! `batch::prefetch`, as a dashboard view is batched (the reader side of `rollups` does not).

use std::collections::HashMap;

use super::dates::Range;
use super::execute::{self, Memo};
use super::goals::Goal;
use super::imported;
use super::model::{Dimension, Filter, Metric};
use super::rollups::Rollups;
use super::shape::{self, Baseline, MetricRow, Raw};
use crate::imports::ImportSet;
use crate::store::Store;

// The types a caller of the engine needs, at the paths they have always had.
pub use super::query::{invalid, OrderKey, Query, ReportError};
pub use super::shape::{Comparison, Output, ResultRow};

/// ClickHouse's error code for a regular expression it cannot compile.
const CANNOT_COMPILE_REGEXP: u32 = 427;

#[derive(Clone, Copy)]
pub struct Engine<'a> {
    pub store: &'a dyn Store,
    pub goals: &'a [Goal],
    /// Daily rollups to read whole finished days from; `None` reads only the raw tables.
    pub rollups: Option<&'a Rollups>,
    /// Imported history to merge (`reports::imported`); `None` reports native data only.
    pub imports: Option<&'a ImportSet>,
    /// Statements answered ahead of time for a batch of queries (`reports::batch`).
    pub memo: Option<&'a Memo>,
}

/// The query behind a conversion rate's denominator, as Plausible defines it: visitors
/// without the goal filters and the top-level property filters — in total, or per group of
/// the non-goal dimensions (`per_group`). Also the positions of the dimensions kept.
fn baseline_query(q: &Query, per_group: bool) -> (Vec<usize>, Query) {
    let keep: Vec<usize> = (0..q.dimensions.len())
        .filter(|i| per_group && q.dimensions[*i] != Dimension::Goal)
        .collect();
    let dims: Vec<Dimension> = keep.iter().map(|i| q.dimensions[*i].clone()).collect();
    let filters: Vec<Filter> = q
        .filters
        .iter()
        .filter(|f| !f.mentions_goal() && !f.is_property())
        .cloned()
        .collect();
    let base = Query {
        dimensions: dims,
        filters,
        ..q.clone()
    };
    (keep, base)
}

/// The query behind `percentage`: all visitors, no dimensions.
fn total_query(q: &Query) -> Query {
    Query {
        dimensions: Vec::new(),
        ..q.clone()
    }
}

/// Every (query, range, metrics) whose groups `Engine::run` asks for to answer `q`, in
/// the order it asks: what `reports::batch` answers ahead of time.
pub(crate) fn group_requests(q: &Query) -> Vec<(Query, Range, Vec<Metric>)> {
    let mut out = Vec::new();
    for range in std::iter::once(&q.range).chain(q.comparison.as_ref()) {
        out.push((q.clone(), range.clone(), q.metrics.clone()));
        if q.metrics.contains(&Metric::ConversionRate) {
            out.push((
                baseline_query(q, false).1,
                range.clone(),
                vec![Metric::Visitors],
            ));
        }
        if q.metrics.contains(&Metric::GroupConversionRate) {
            out.push((
                baseline_query(q, true).1,
                range.clone(),
                vec![Metric::Visitors],
            ));
        }
        if q.metrics.contains(&Metric::Percentage) {
            out.push((total_query(q), range.clone(), vec![Metric::Visitors]));
        }
    }
    out
}

impl Engine<'_> {
    /// Raw groups for a range, keyed by their dimension values, with the imported sums of
    /// the same groups added when the report includes imports.
    async fn groups(
        &self,
        q: &Query,
        range: &Range,
        metrics: &[Metric],
    ) -> Result<HashMap<String, Raw>, ReportError> {
        let mut out = self.native_groups(q, range, metrics).await?;
        if let Some(set) = self.imports {
            for r in imported::groups(self.store, set, self.goals, q, range, metrics).await? {
                Raw::slot(&mut out, &r.dims).add(&r);
            }
        }
        Ok(out)
    }

    /// Native groups: whole UTC days that have a current daily rollup from it, the rest of
    /// the range from the raw tables.
    async fn native_groups(
        &self,
        q: &Query,
        range: &Range,
        metrics: &[Metric],
    ) -> Result<HashMap<String, Raw>, ReportError> {
        let Some(plan) = self.rollups.and_then(|r| r.plan(q, range, self.goals)) else {
            return execute::raw_groups(self.store, self.memo, self.goals, q, range, metrics).await;
        };
        let rows = execute::rows(self.store, &plan.statement(&q.site)).await?;
        let mut out = shape::rollup_sums(rows, plan.totals(), plan.bucket(), plan.from())?;
        if plan.filtered() {
            shape::keep_asked(&mut out, metrics);
        }
        for part in &plan.rest {
            for r in execute::raw_groups(self.store, self.memo, self.goals, q, part, metrics)
                .await?
                .into_values()
            {
                Raw::slot(&mut out, &r.dims).add(&r);
            }
        }
        Ok(out)
    }

    /// A conversion rate's denominator, as Plausible defines it: visitors without the goal
    /// filters and the top-level property filters — in total (`conversion_rate`), or per
    /// group of the non-goal dimensions (`group_conversion_rate`, `per_group`).
    async fn baseline(
        &self,
        q: &Query,
        range: &Range,
        per_group: bool,
    ) -> Result<Baseline, ReportError> {
        let (keep, base) = baseline_query(q, per_group);
        let groups = self.groups(&base, range, &[Metric::Visitors]).await?;
        Ok((
            keep,
            groups.into_iter().map(|(k, r)| (k, r.visitors)).collect(),
        ))
    }

    async fn total_visitors(&self, q: &Query, range: &Range) -> Result<u64, ReportError> {
        let groups = self
            .groups(&total_query(q), range, &[Metric::Visitors])
            .await?;
        Ok(groups.values().next().map(|r| r.visitors).unwrap_or(0))
    }

    /// Metric values per group for a range.
    async fn compute(&self, q: &Query, range: &Range) -> Result<Vec<MetricRow>, ReportError> {
        let mut groups = self.groups(q, range, &q.metrics).await?;
        shape::drop_not_set(q, &mut groups);
        shape::drop_lead_only(q, &mut groups);
        let conversion = if q.metrics.contains(&Metric::ConversionRate) {
            Some(self.baseline(q, range, false).await?)
        } else {
            None
        };
        let group = if q.metrics.contains(&Metric::GroupConversionRate) {
            Some(self.baseline(q, range, true).await?)
        } else {
            None
        };
        let total = if q.metrics.contains(&Metric::Percentage) {
            Some(self.total_visitors(q, range).await?)
        } else {
            None
        };
        Ok(shape::metric_rows(
            q,
            groups,
            conversion.as_ref(),
            group.as_ref(),
            total,
        ))
    }

    /// Has the engine compile every `matches` pattern once: its RE2 refuses some expressions
    /// that the check at parse time lets through (`**`), and an empty range would never
    /// evaluate them, so the same request would answer 200 or fail by the data.
    async fn check_patterns(&self, q: &Query) -> Result<(), ReportError> {
        let patterns: Vec<String> = q
            .filters
            .iter()
            .flat_map(|f| f.patterns())
            .map(str::to_string)
            .collect();
        if patterns.is_empty() {
            return Ok(());
        }
        let params = crate::store::Params::new().with("patterns", patterns);
        let checked = self
            .store
            .report(
                "SELECT arrayMap(p -> match('', p), {patterns:Array(String)}) AS m",
                &params,
                "JSONEachRow",
            )
            .await;
        match checked {
            Err(e) if e.code() == Some(CANNOT_COMPILE_REGEXP) => Err(super::query::invalid(
                "filters",
                "invalid regular expression in a matches filter (RE2 syntax)",
            )),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(()),
        }
    }

    pub async fn run(&self, q: &Query) -> Result<Output, ReportError> {
        super::query::validate(q)?;
        self.check_patterns(q).await?;
        let rows = self.compute(q, &q.range).await?;
        let previous = match &q.comparison {
            Some(range) => Some((self.compute(q, range).await?, range.clone())),
            None => None,
        };
        Ok(shape::output(q, rows, previous))
    }
}
