//! The grouped statement over imported history (`crate::imports`). The stored rows are
//! presented under the names the `events` table uses (`pathname`, `referrer_source`,
//! `country_code`, a `timestamp` at the day's local midnight, ...), so dimensions, filters
//! and goals are the same expressions the native statements use.

use super::expr::{dim_expr, filter_expr, group_by, Ctx};
use super::{Binder, Statement};
use crate::reports::dates::Range;
use crate::reports::goals::Goal;
use crate::reports::model::Metric;
use crate::reports::query::{Query, ReportError};

/// Metric columns after the dimensions: visitors, pageviews, events, visits, bounces,
/// duration sum, and the visits that carry no bounce or duration (imported page rows: they
/// count as visits and in views per visit, not in bounce rate or visit duration).
pub const IMPORTED_METRICS: usize = 7;

/// The imported rows of `kinds` (tables of Plausible's export, e.g. `pages`) of the imports
/// `ids` in `range`'s days, as `events`-like columns.
const IMPORTED_ROWS: &str = "SELECT kind, toDateTime(date, {tz:String}) AS timestamp,
        page AS pathname, hostname, if(kind = 'pages', 'pageview', event_name) AS name,
        entry_page AS entry, exit_page, source AS referrer_source, referrer,
        utm_source, utm_medium, utm_campaign, utm_content, utm_term,
        country AS country_code, device, browser, browser_version, os, os_version,
        visitors, visits, pageviews, events, bounces, visit_duration
    FROM imported
    WHERE site = {site:String} AND import_id IN {imports:Array(String)}
        AND kind IN {kinds:Array(String)}
        AND date >= {from_day:Date} AND date <= {to_day:Date}";

/// Sums of the imported rows of `kinds` per group of `q`'s dimensions, filtered by `q`'s
/// filters, as Plausible merges them: in breakdowns only rows with visitors; when page views
/// are asked for (`metrics`: what this statement is for, which for a conversion rate's
/// divisor is not what the report asks for), only rows with page views (custom events aside); no unknown countries.
pub fn imported_metrics(
    q: &Query,
    range: &Range,
    metrics: &[Metric],
    ids: &[String],
    kinds: &[&str],
    goals: &[Goal],
) -> Result<Statement, ReportError> {
    let mut sql = Binder::new(q, range);
    let mut text = String::from("SELECT ");
    for (i, d) in q.dimensions.iter().enumerate() {
        text.push_str(&format!(
            "{} AS _d{i}, ",
            dim_expr(&mut sql, d, Ctx::Events, goals)
        ));
    }
    text.push_str(
        "sum(visitors), sum(pageviews), sum(events), sum(visits), sum(bounces), sum(visit_duration),
         sumIf(visits, kind = 'pages')",
    );
    text.push_str(&format!(
        " FROM ({IMPORTED_ROWS}) WHERE country_code != 'ZZ'"
    ));
    if !q.dimensions.is_empty() {
        text.push_str(" AND visitors > 0");
    }
    if metrics
        .iter()
        .any(|m| matches!(m, Metric::Pageviews | Metric::ViewsPerVisit))
    {
        text.push_str(" AND (pageviews > 0 OR kind = 'custom_events')");
    }
    for f in &q.filters {
        text.push_str(" AND ");
        text.push_str(&filter_expr(&mut sql, f, Ctx::Events, goals)?);
    }
    text.push_str(&group_by(q.dimensions.len()));
    let mut statement = sql.finish(text);
    statement.params.push("imports", ids);
    statement.params.push("kinds", kinds);
    statement.params.push("from_day", range.from.to_string());
    statement.params.push("to_day", range.to.to_string());
    Ok(statement)
}
