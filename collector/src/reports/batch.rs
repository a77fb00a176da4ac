//! A batch of reports answered together: what the dashboard asks for one view (the top
//! stats, the chart and a dozen breakdowns of the same range under the same filters).
//! `prefetch` finds the statements of the batch that differ only in their grouping
//! dimension, answers each such family with one grouping-sets statement (`sql::sets`), and
//! leaves every member's rows in a `Memo`; each report then runs through the engine as it
//! would alone, taking those statements' rows from the memo instead of the store. A
//! statement that fits no family, or whose family's statement failed, runs on its own, so a
//! batch answers exactly what its reports answer one by one.

use std::collections::HashMap;

use super::dates::Range;
use super::engine::group_requests;
use super::execute;
use super::goals::Goal;
use super::model::Metric;
use super::query::{validate, Query};
use super::rollups::Rollups;
use super::sql::sets::{member, Member, Part, Sets};
use super::sql::{raw_statements, Statement};

pub use super::execute::Memo;
use crate::store::Store;

/// One statement of one report, as a member of a family.
struct Entry<'a> {
    member: Member,
    own: Statement,
    query: Query,
    range: Range,
    goals: &'a [Goal],
}

/// Answers ahead of time the statements of `reports` (each with its site's goals) that
/// share a grouping-sets statement with others.
pub async fn prefetch(
    store: &dyn Store,
    rollups: Option<&Rollups>,
    reports: &[(&Query, &[Goal])],
) -> Memo {
    let memo = Memo::default();
    let mut families: HashMap<String, Vec<Entry>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for (q, goals) in reports {
        if validate(q).is_err() {
            continue;
        }
        for (rq, range, metrics) in group_requests(q) {
            let ranges = match rollups.and_then(|r| r.plan(&rq, &range, goals)) {
                Some(plan) => plan.rest,
                None => vec![range],
            };
            for range in ranges {
                for entry in entries(&rq, &range, &metrics, goals) {
                    let family = families.entry(entry.member.key.clone()).or_default();
                    if family.is_empty() {
                        order.push(entry.member.key.clone());
                    }
                    family.push(entry);
                }
            }
        }
    }
    for key in order {
        let family = &families[&key];
        let first = &family[0];
        let members: Vec<&Member> = family.iter().map(|e| &e.member).collect();
        let sets = match Sets::build(&first.query, &first.range, &members, first.goals) {
            Ok(Some(sets)) => sets,
            _ => continue,
        };
        let rows = match execute::rows(store, &sets.statement).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::debug!(error = %e, "a grouping-sets statement failed; its reports run alone");
                continue;
            }
        };
        for e in family {
            memo.put(&e.own, sets.member_rows(&e.member, &rows));
        }
    }
    memo
}

/// The statements `execute::raw_groups` runs for `q` over `range` that may join a family.
fn entries<'a>(q: &Query, range: &Range, metrics: &[Metric], goals: &'a [Goal]) -> Vec<Entry<'a>> {
    let Ok(plan) = raw_statements(q, range, metrics, goals) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (own, part) in [
        (plan.events, Part::Events),
        (plan.sessions, Part::sessions(q, range, metrics)),
    ] {
        if let (Some(own), Some(member)) = (own, member(q, range, part)) {
            out.push(Entry {
                member,
                own,
                query: q.clone(),
                range: range.clone(),
                goals,
            });
        }
    }
    out
}
