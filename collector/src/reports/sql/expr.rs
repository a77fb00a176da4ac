//! SQL expressions shared by the report statements: dimension values, filter conditions,
//! goal conditions, time buckets, and the folded `sessions` subquery.

use std::collections::BTreeSet;

use super::Binder;
use crate::reports::dates::Bucket;
use crate::reports::goals::Goal;
use crate::reports::model::{wildcard_regex, Dimension, Filter, Op};
use crate::reports::query::{invalid, ReportError};

/// Which rows an expression is evaluated against.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Ctx {
    /// Rows of `events`.
    Events,
    /// Raw `sessions` delta rows: visit attributes under their own names, `start`.
    RawSessions,
    /// Sessions folded by `folded_sessions`: `s_<attribute>`, `st`, `entry`, `exit_page`.
    Sessions,
}

/// A site's events in the range, less lead identifications (`ingest::LEAD_EVENT`): those
/// count only as `leads`, read with `LEADS_IN_RANGE`.
pub(super) const EVENTS_IN_RANGE: &str = "site = {site:String} AND timestamp >= toDateTime({start:Int64}) AND timestamp < toDateTime({end:Int64}) AND name != 'candor:lead'";

/// Engagement beacons: Candor's snippet's `pageleave` and Plausible's tracker's `engagement`.
/// They carry time on the page, not an action: not `events`, not an `event:name`.
pub(super) const NOT_ENGAGEMENT: &str = "name NOT IN ('pageleave', 'engagement')";

/// A site's lead identifications in the range.
pub(super) const LEADS_IN_RANGE: &str = "site = {site:String} AND timestamp >= toDateTime({start:Int64}) AND timestamp < toDateTime({end:Int64}) AND name = 'candor:lead'";

pub(super) fn goal_condition(sql: &mut Binder, goal: &Goal) -> String {
    match (&goal.event_name, &goal.page_path) {
        (Some(name), _) => format!("name = {}", sql.bind("String", name.as_str())),
        // A path without wildcards matches only itself: compared as it is, the engine skips
        // the regular expression on every page view.
        (None, Some(path)) if !path.contains('*') => format!(
            "(name = 'pageview' AND pathname = {})",
            sql.bind("String", path.as_str())
        ),
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

/// A visit property's stored column in `ctx`.
fn visit_column(col: &str, ctx: Ctx) -> String {
    match ctx {
        Ctx::Sessions => format!("s_{col}"),
        _ => col.to_string(),
    }
}

/// A visit property's value in `ctx`: its column, with a blank value under the label
/// Plausible shows for it (`Dimension::blank_label`), if it has one.
pub(super) fn visit_expr(col: &'static str, ctx: Ctx) -> String {
    let name = visit_column(col, ctx);
    match Dimension::Visit(col).blank_label() {
        Some(label) => format!("if({name} = '', '{label}', {name})"),
        None => name,
    }
}

/// A dimension's value expression. Event dimensions only exist in `Ctx::Events`.
pub(super) fn dim_expr(sql: &mut Binder, dim: &Dimension, ctx: Ctx, goals: &[Goal]) -> String {
    match dim {
        Dimension::Page => "pathname".into(),
        Dimension::Name => "name".into(),
        Dimension::Hostname => "hostname".into(),
        // Events without the property are "(none)", as Plausible names them (breakdowns show
        // them, filters can match them).
        Dimension::Prop(key) => {
            let key = sql.bind("String", key.as_str());
            format!("if(mapContains(props, {key}), props[{key}], '(none)')")
        }
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
        Dimension::Visit(col) => visit_expr(col, ctx),
        Dimension::CountryName => {
            let column = match ctx {
                Ctx::Sessions => "s_country_code",
                _ => "country_code",
            };
            let (codes, names): (Vec<&str>, Vec<&str>) = crate::enrich::geo::country_names()
                .iter()
                .map(|(c, n)| (c.as_str(), n.as_str()))
                .unzip();
            format!(
                "transform({column}, {}, {}, {column})",
                sql.bind("Array(String)", codes),
                sql.bind("Array(String)", names)
            )
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
pub(super) fn filter_expr(
    sql: &mut Binder,
    f: &Filter,
    ctx: Ctx,
    goals: &[Goal],
) -> Result<String, ReportError> {
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
            // `is` on a column whose blank value has a label ("Direct / None"): compared on the
            // stored column itself, which the engine reads without building the labelled
            // column first; the label stands for the blank value there.
            if let (Op::Is | Op::IsNot, true, Dimension::Visit(col), Some(label)) =
                (op, *case_sensitive, dim, dim.blank_label())
            {
                let column = visit_column(col, ctx);
                let stored = stored_values(values, label);
                let positive = if stored.is_empty() {
                    "0".to_string()
                } else {
                    format!("{column} IN {}", sql.bind("Array(String)", stored))
                };
                return Ok(signed(*op, positive));
            }
            // `is` on a property whose values name neither events without it (`(none)`) nor
            // the empty value: the value itself, which is blank exactly when the event lacks
            // the property or has it blank, neither of which can match. The engine then skips
            // `mapContains` on every event (a scan a third faster).
            if let (Op::Is | Op::IsNot, true, Dimension::Prop(key)) = (op, *case_sensitive, dim) {
                if values.iter().all(|v| !v.is_empty() && v != "(none)") {
                    let key = sql.bind("String", key.as_str());
                    let positive = format!(
                        "props[{key}] IN {}",
                        sql.bind("Array(String)", values.clone())
                    );
                    return Ok(signed(*op, positive));
                }
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
            let cond = signed(*op, positive);
            match dim {
                // Plausible's rule: only `is`/`is_not` see events without the property (as
                // "(none)"); the pattern operators match only events that have it.
                Dimension::Prop(key) if !matches!(op, Op::Is | Op::IsNot) => {
                    let key = sql.bind("String", key.as_str());
                    format!("(mapContains(props, {key}) AND {cond})")
                }
                _ => cond,
            }
        }
    })
}

/// A condition under `op`: the positive one, or its negation for the `*_not` operators.
fn signed(op: Op, positive: String) -> String {
    if op.negated() {
        format!("NOT ({positive})")
    } else {
        positive
    }
}

/// The stored values that `if(column = '', label, column) IN values` matches: the label
/// matches the blank value and a stored value equal to the label; the blank value itself
/// matches nothing else (a blank is always shown as the label).
fn stored_values(values: &[String], label: &str) -> Vec<String> {
    let mut stored: Vec<String> = values
        .iter()
        .filter(|v| !v.is_empty() && v.as_str() != label)
        .cloned()
        .collect();
    if values.iter().any(|v| v == label) {
        stored.push(String::new());
        stored.push(label.to_string());
    }
    stored
}

/// The `sessions` rows of a site around a range: with `in_range`, of sessions that start in
/// it; otherwise of sessions whose events may fall in it (started up to a day before).
pub(super) fn sessions_where(pushdown: &[String], in_range: bool) -> String {
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
pub(super) fn folded_sessions(
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

pub(super) fn visit_columns<'a>(
    dims: impl IntoIterator<Item = &'a Dimension>,
) -> BTreeSet<&'static str> {
    dims.into_iter()
        .filter_map(|d| match d {
            Dimension::Visit(c) => Some(*c),
            Dimension::CountryName => Some("country_code"),
            _ => None,
        })
        .collect()
}

pub(super) fn group_by(n: usize) -> String {
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
