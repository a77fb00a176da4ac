//! Statements over the daily rollups (`rollups`, `rollup_days`): the planner's read of
//! rolled-up days, the index both sides load, and the builder's day counts and clean-up.

use chrono::NaiveDate;

use super::expr::{self, Ctx};
use super::Statement;
use crate::reports::model::Dimension;
use crate::store::Params;

fn statement(text: &str, params: Params) -> Statement {
    Statement {
        text: text.to_string(),
        params,
    }
}

/// Sums per group over the given `(UTC day, build)` of a site's rollups for `dimension`
/// (`""`: totals). Groups are the stored values, or with `by_day` the days (for time
/// buckets). Rows: `[group, visitors, pageviews, events, visits, bounces, duration,
/// session_pageviews, leads, bounce_visits]`.
pub fn read(site: &str, dimension: &str, by_day: bool, days: &[(NaiveDate, u64)]) -> Statement {
    let keys: Vec<String> = days.iter().map(|(d, b)| format!("{d}:{b}")).collect();
    let first = days.iter().map(|d| d.0).min().unwrap_or_default();
    let last = days.iter().map(|d| d.0).max().unwrap_or_default();
    let group = if by_day { "toString(day)" } else { "value" };
    Statement {
        text: format!(
            "SELECT {group} AS g, sum(visitors), sum(pageviews), sum(events), sum(visits), sum(bounces),
                        sum(duration), sum(session_pageviews), sum(leads), sum(bounce_visits)
                 FROM rollups
                 WHERE site = {{site:String}} AND dimension = {{dimension:String}}
                   AND day >= {{first:Date}} AND day <= {{last:Date}}
                   AND concat(toString(day), ':', toString(build)) IN {{keys:Array(String)}}
                 GROUP BY g"
        ),
        params: Params::new()
            .with("site", site)
            .with("dimension", dimension)
            .with("first", first.to_string())
            .with("last", last.to_string())
            .with("keys", keys),
    }
}

/// The newest build of every site's day, with the counts and goal fingerprint it was built
/// with.
pub fn index() -> Statement {
    statement(
        "SELECT site, toString(day) AS day, max(build) AS current, argMax(events, build) AS events,
                    argMax(session_events, build) AS session_events, argMax(goals, build) AS goals,
                    argMax(filters, build) AS filters, argMax(filter_rule, build) AS filter_rule
             FROM rollup_days GROUP BY site, day",
        Params::new(),
    )
}

/// The page, custom property and visit property (`visit_columns`, `events` columns) values
/// of a site's events on one UTC day that at least `share` of the day's events carry, the
/// most common first, at most `limit` of each kind (pages, custom properties, each visit
/// property). A blank visit property counts under its label ("Direct / None" for a source),
/// which is how a click on its row filters it; a blank one without a label is left out.
/// Rows: `[dimension name, value]`.
pub fn common_values(
    site: &str,
    day: NaiveDate,
    share: f64,
    limit: u64,
    visit_columns: &[&'static str],
) -> Statement {
    let mut params = Params::new()
        .with("site", site)
        .with("day", day.to_string())
        .with("share", share)
        .with("limit", limit);
    let mut visits = String::new();
    for (i, column) in visit_columns.iter().enumerate() {
        let dim = Dimension::Visit(column);
        let value = expr::visit_expr(column, Ctx::Events);
        // A blank value with a label is a row a user clicks; one without is no row.
        let clicked = match dim.blank_label() {
            Some(_) => String::new(),
            None => format!(" WHERE {column} != ''"),
        };
        params = params.with(&format!("visit{i}"), dim.name());
        visits.push_str(&format!(
            " UNION ALL
             SELECT {{visit{i}:String}} AS k, {value} AS v, count() AS n FROM day{clicked} GROUP BY v"
        ));
    }
    let columns: String = visit_columns.iter().map(|c| format!(", {c}")).collect();
    statement(
        &format!(
            "WITH day AS (
                 SELECT pathname, props{columns} FROM events
                 WHERE site = {{site:String}} AND toDate(timestamp) = {{day:Date}}
             ),
             (SELECT count() FROM day) AS total
         SELECT k, v FROM (
             SELECT 'event:page' AS k, pathname AS v, count() AS n FROM day GROUP BY v
             UNION ALL
             SELECT concat('event:props:', p.1) AS k, p.2 AS v, count() AS n
             FROM day ARRAY JOIN CAST(props, 'Array(Tuple(String, String))') AS p GROUP BY k, v{visits}
         )
         WHERE n >= total * {{share:Float64}}
         ORDER BY if(startsWith(k, 'event:props:'), 'event:props', k) AS kind, n DESC, k, v
         LIMIT {{limit:UInt64}} BY kind"
        ),
        params,
    )
}

/// Events per (site, UTC day) stored from `since` to `cutoff` (Unix seconds).
pub fn count_events(since: i64, cutoff: i64) -> Statement {
    statement(
        "SELECT site, toString(toDate(timestamp)) AS d, count() AS n FROM events
             WHERE timestamp >= toDateTime({since:Int64}) AND timestamp < toDateTime({cutoff:Int64})
             GROUP BY site, d",
        Params::new().with("since", since).with("cutoff", cutoff),
    )
}

/// Session events per (site, UTC day of the session's start) from `since` to `cutoff`.
pub fn count_session_events(since: i64, cutoff: i64) -> Statement {
    statement(
        "SELECT site, toString(day) AS d, sum(events) AS n FROM sessions
             WHERE day >= toDate(toDateTime({since:Int64})) AND day < toDate(toDateTime({cutoff:Int64}))
             GROUP BY site, d",
        Params::new().with("since", since).with("cutoff", cutoff),
    )
}

/// Deletes the rows of one superseded build of a site's day.
pub fn delete_build(site: &str, day: NaiveDate, build: u64) -> Statement {
    statement(
        "DELETE FROM rollups WHERE site = {site:String} AND day = {day:Date} AND build = {build:UInt64}",
        Params::new()
            .with("site", site)
            .with("day", day.to_string())
            .with("build", build),
    )
}
