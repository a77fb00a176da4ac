//! Grouping sets: several reports' statements folded into one. A dashboard view asks a
//! dozen breakdowns of the same range under the same filters (sources, countries, devices,
//! ...), and each statement would read and filter the same rows again; on two cores that
//! repetition is most of a filtered view's time. Statements that differ only in their one
//! grouping dimension are answered by one `GROUP BY GROUPING SETS ((_d0), (_d1), ..., ())`
//! instead, and each member's rows are cut out of its answer (`Sets::member_rows`) exactly
//! as its own statement would have returned them.
//!
//! Which statements qualify (`member`): one dimension at most, and nothing about the
//! dimension that changes the rest of the statement: no joins (event dimensions of session
//! metrics, entry and exit pages of event metrics) and no `event:name` (it drops engagement
//! beacons). The key then names everything else a statement depends on: the table, the
//! site, range and time zone, the filters and, for `sessions`, whether it folds.
//!
//! `event:goal` is an `arrayJoin` over the goals, which would multiply the rows of every
//! other set; its family answers it with aggregate columns per goal instead
//! (`goal_columns`), read from the totals row.

use serde_json::Value;

use super::report::{
    event_statement, folds, goal_labels, matching_events, session_statement,
    visitors_from_sessions, visitors_statement, Grouping, EVENT_METRICS, GOAL_COLUMNS,
    MATCHING_SETTINGS,
};
use super::{Binder, Statement};
use crate::reports::dates::Range;
use crate::reports::goals::Goal;
use crate::reports::model::{Dimension, Filter, Kind, Metric};
use crate::reports::query::{Query, ReportError};

/// The table a member statement reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    /// `event_metrics`.
    Events,
    /// `session_metrics`, folded or not.
    Sessions { fold: bool },
    /// Visitors from `sessions` through the visits with a matching event
    /// (`visitors_statement`).
    Visitors,
}

impl Part {
    /// The statement `raw_statements` reads `sessions` with for `q` over `range` asking for
    /// `metrics`.
    pub fn sessions(q: &Query, range: &Range, metrics: &[Metric]) -> Part {
        if visitors_from_sessions(q, range, metrics) {
            Part::Visitors
        } else {
            Part::Sessions {
                fold: folds(&q.dimensions, &q.filters, metrics),
            }
        }
    }
}

/// A statement that may share a grouping-sets statement with others of the same `key`.
#[derive(Clone, Debug)]
pub struct Member {
    pub key: String,
    pub part: Part,
    pub dimension: Option<Dimension>,
}

/// `raw_statements`' `part` statement of `q` over `range`, as a member of grouping sets; `None`
/// when it must run on its own.
pub fn member(q: &Query, range: &Range, part: Part) -> Option<Member> {
    if q.dimensions.len() > 1 {
        return None;
    }
    let dimension = q.dimensions.first().cloned();
    let alone = match (&dimension, part) {
        (Some(Dimension::Name), _) => true,
        (Some(Dimension::Goal), part) => part != Part::Events,
        (Some(Dimension::EntryPage | Dimension::ExitPage), Part::Events) => true,
        (Some(d), Part::Sessions { .. } | Part::Visitors) => d.kind() == Kind::Event,
        _ => false,
    };
    if alone {
        return None;
    }
    let key = format!("{part:?}\u{1}{}", view_key(q, range));
    Some(Member {
        key,
        part,
        dimension,
    })
}

/// What the statements of one dashboard view have in common: the site, range, time zone
/// and filters.
pub fn view_key(q: &Query, range: &Range) -> String {
    format!(
        "{}\u{1}{}\u{1}{range:?}\u{1}{:?}",
        q.site,
        q.tz.name(),
        q.filters
    )
}

/// One statement for members of one key: each distinct dimension is a set, and the totals
/// one more when a member has no dimension.
pub struct Sets {
    pub statement: Statement,
    dimensions: Vec<Dimension>,
    totals: bool,
    /// The goals' labels when a member is the goals breakdown (`goal_labels`), whose
    /// columns follow the metrics.
    goals: Option<Vec<String>>,
}

impl Sets {
    /// The grouping-sets statement for `members` (all of one key; `q` is any of their
    /// queries: they share site, time zone and filters). `None` when one statement would
    /// serve them all anyway (a single set).
    pub fn build(
        q: &Query,
        range: &Range,
        members: &[&Member],
        goals: &[Goal],
    ) -> Result<Option<Sets>, ReportError> {
        Sets::build_with(Binder::new(q, range), q, members, goals)
    }

    /// `build`, with the statement's parameters and visits as `sql` says (`Binder::part`).
    fn build_with(
        sql: Binder,
        q: &Query,
        members: &[&Member],
        goals: &[Goal],
    ) -> Result<Option<Sets>, ReportError> {
        let Some(first) = members.first() else {
            return Ok(None);
        };
        let mut dimensions: Vec<Dimension> = Vec::new();
        let mut totals = false;
        let mut with_goals = false;
        for m in members {
            match &m.dimension {
                // Read from the totals row.
                Some(Dimension::Goal) => (with_goals, totals) = (true, true),
                Some(d) if !dimensions.contains(d) => dimensions.push(d.clone()),
                Some(_) => {}
                None => totals = true,
            }
        }
        // The set mask is a u64 with a bit per dimension.
        if dimensions.len() + usize::from(totals) < 2 || dimensions.len() > 60 {
            return Ok(None);
        }
        let filters: &[Filter] = &q.filters;
        let grouping = Grouping::Sets { totals };
        let statement = match first.part {
            Part::Events => {
                event_statement(sql, &dimensions, filters, goals, grouping, with_goals)?
            }
            Part::Sessions { fold } => {
                session_statement(sql, &dimensions, filters, goals, fold, grouping)?
            }
            Part::Visitors => visitors_statement(sql, &dimensions, filters, goals, grouping)?,
        };
        Ok(Some(Sets {
            statement,
            dimensions,
            totals,
            goals: with_goals.then(|| goal_labels(goals).into_iter().map(String::from).collect()),
        }))
    }

    /// The rows `member`'s own statement returns, cut out of the grouping-sets statement's
    /// `rows`: those of its set, with its dimension's column (or none) and the metrics.
    pub fn member_rows(&self, member: &Member, rows: &[Vec<Value>]) -> Vec<Vec<Value>> {
        let n = self.dimensions.len();
        let all = (1u64 << n) - 1;
        if member.dimension == Some(Dimension::Goal) {
            return self.goal_rows(rows, n, all);
        }
        let (mask, column) = match &member.dimension {
            None => (all, None),
            Some(d) => match self.dimensions.iter().position(|x| x == d) {
                // `grouping(_d0, ..., _dn-1)` has bit n-1-i clear for the set of `_di`.
                Some(i) => (all & !(1u64 << (n - 1 - i)), Some(i)),
                None => return Vec::new(),
            },
        };
        if member.dimension.is_none() && !self.totals {
            return Vec::new();
        }
        rows.iter()
            .filter(|r| r.get(n).and_then(as_u64) == Some(mask))
            .map(|r| {
                let mut out: Vec<Value> = column.map(|i| r[i].clone()).into_iter().collect();
                let end = match self.goals {
                    // The goals' columns are the goals member's alone.
                    Some(_) => (n + 1 + EVENT_METRICS).min(r.len()),
                    None => r.len(),
                };
                out.extend(r[(n + 1).min(end)..end].iter().cloned());
                out
            })
            .collect()
    }

    /// The goals breakdown's rows from the totals row: a label with no event that completes
    /// one of its goals has no row, as under `arrayJoin`.
    fn goal_rows(&self, rows: &[Vec<Value>], n: usize, all: u64) -> Vec<Vec<Value>> {
        let (Some(labels), Some(totals)) = (
            &self.goals,
            rows.iter().find(|r| r.get(n).and_then(as_u64) == Some(all)),
        ) else {
            return Vec::new();
        };
        let first = n + 1 + EVENT_METRICS;
        labels
            .iter()
            .enumerate()
            .filter_map(|(i, label)| {
                let at = first + i * GOAL_COLUMNS;
                let cols = totals.get(at..at + GOAL_COLUMNS)?;
                if as_u64(&cols[0]).unwrap_or(0) == 0 {
                    return None;
                }
                let mut row = vec![Value::String(label.clone())];
                row.extend(cols[1..].iter().cloned());
                Some(row)
            })
            .collect()
    }
}

/// The CTE a shared statement keeps the matching visits in, and the parameter prefixes of its
/// own condition and of its parts (one part per family of the view that reads `sessions`).
const MATCHING: &str = "matching";
const MATCHING_PREFIX: &str = "m";
const PART_PREFIXES: [&str; 4] = ["a", "b", "c", "d"];

/// Whether a family of `part` statements of `q` selects the visits with a matching event
/// (`visits_with_event`): statements over `sessions` under an event filter. The visit fold
/// and the visitors of one view then select the same visits, which `Shared` selects once.
pub fn selects_matching_visits(q: &Query, part: Part) -> bool {
    matches!(part, Part::Sessions { .. } | Part::Visitors) && q.filters.iter().any(Filter::is_event)
}

/// Grouping-sets statements of one view (same site, range, time zone and filters) that each
/// select the visits with a matching event, as one statement that selects them once: the
/// session ids of the matching events are a materialized CTE, and each family's statement is
/// one branch of a `UNION ALL` reading them from it, its rows as JSON text after the branch's
/// number. On a popular page about half of the visits match, and building that set from the
/// events is a third of each statement's time.
pub struct Shared {
    pub statement: Statement,
    /// Each branch's grouping sets, in branch order.
    pub parts: Vec<Sets>,
    /// Which of the given families each branch answers.
    pub families: Vec<usize>,
}

impl Shared {
    /// The shared statement for `families` (each one family's members) of `q` over `range`;
    /// `None` when fewer than two families would share it.
    pub fn build(
        q: &Query,
        range: &Range,
        families: &[Vec<&Member>],
        goals: &[Goal],
    ) -> Result<Option<Shared>, ReportError> {
        let filters: Vec<&Filter> = q.filters.iter().filter(|f| f.is_event()).collect();
        if filters.is_empty() {
            return Ok(None);
        }
        let mut sql = Binder::part(q, range, MATCHING_PREFIX, MATCHING);
        let cte = matching_events(&mut sql, &filters, goals)?;
        let mut params = sql.finish(String::new()).params;
        let (mut parts, mut branches, mut which) = (Vec::new(), Vec::new(), Vec::new());
        for (i, members) in families.iter().enumerate() {
            let Some(&prefix) = PART_PREFIXES.get(parts.len()) else {
                break;
            };
            let sql = Binder::part(q, range, prefix, MATCHING);
            let Some(sets) = Sets::build_with(sql, q, members, goals)? else {
                continue;
            };
            for (name, value) in sets.statement.params.iter() {
                let known = params
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v == value);
                match known {
                    // The range's and site's own parameters, the same in every part.
                    Some(same) => debug_assert!(same, "parameter {name} differs between parts"),
                    None => params.push_raw(name, value.to_string()),
                }
            }
            branches.push(format!(
                "SELECT {} AS _part, formatRowNoNewline('JSONCompactEachRow', *) AS _row FROM ({})",
                parts.len(),
                sets.statement.text
            ));
            parts.push(sets);
            which.push(i);
        }
        if parts.len() < 2 {
            return Ok(None);
        }
        let text = format!(
            "WITH {MATCHING} AS MATERIALIZED ({cte}) {}{MATCHING_SETTINGS}, enable_materialized_cte = 1",
            branches.join(" UNION ALL ")
        );
        Ok(Some(Shared {
            statement: Statement { text, params },
            parts,
            families: which,
        }))
    }

    /// The shared statement's rows split by branch, each row as its own statement returns
    /// it; `None` when a row is not a branch's number and a JSON array.
    pub fn part_rows(&self, rows: &[Vec<Value>]) -> Option<Vec<Vec<Vec<Value>>>> {
        let mut out = vec![Vec::new(); self.parts.len()];
        for r in rows {
            let part = r.first().and_then(as_u64)? as usize;
            let row: Vec<Value> = serde_json::from_str(r.get(1)?.as_str()?).ok()?;
            out.get_mut(part)?.push(row);
        }
        Some(out)
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}
