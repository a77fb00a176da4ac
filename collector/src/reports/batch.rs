//! A batch of reports answered together: what the dashboard asks for one view (the top
//! stats, the chart and a dozen breakdowns of the same range under the same filters).
//! `prefetch` finds the statements of the batch that differ only in their grouping
//! dimension, answers each such family with one grouping-sets statement (`sql::sets`), and
//! leaves every member's rows in a `Memo`; each report then runs through the engine as it
//! would alone, taking those statements' rows from the memo instead of the store. A
//! statement that fits no family, or whose family's statement failed, runs on its own, so a
//! batch answers exactly what its reports answer one by one. Under an event filter, the
//! families that read `sessions` (the visit fold, the visitors by visit attributes) select
//! the same visits with a matching event: on the embedded store they run as one statement
//! that selects those visits once (`share`, `sql::sets::Shared`).

use std::collections::{HashMap, HashSet};

use super::dates::Range;
use super::engine::group_requests;
use super::execute;
use super::goals::Goal;
use super::model::Metric;
use super::query::{validate, Query};
use super::rollups::Rollups;
use super::sql::sets::{member, selects_matching_visits, view_key, Member, Part, Sets, Shared};
use super::sql::{raw_statements, Statement};

pub use super::execute::Memo;
use crate::store::{Engine, Store};

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
    let shared = match store.engine() {
        Engine::Embedded => share(store, &memo, &families, &order).await,
        Engine::Server => HashSet::new(),
    };
    for key in order.iter().filter(|k| !shared.contains(*k)) {
        let family = &families[key];
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

/// Answers the families of one view that each select the visits with a matching event
/// with one statement (`Shared`) per view; returns the keys of the families it answered.
/// Only on the embedded store, where it was measured (a materialized CTE needs a recent
/// engine, and on a cluster its set would have to travel to every shard); a failed shared
/// statement leaves its families to run on their own.
async fn share(
    store: &dyn Store,
    memo: &Memo,
    families: &HashMap<String, Vec<Entry<'_>>>,
    order: &[String],
) -> HashSet<String> {
    let mut views: Vec<(String, Vec<&String>)> = Vec::new();
    for key in order {
        let first = &families[key][0];
        if !selects_matching_visits(&first.query, first.member.part) {
            continue;
        }
        let view = view_key(&first.query, &first.range);
        match views.iter_mut().find(|(v, _)| *v == view) {
            Some((_, keys)) => keys.push(key),
            None => views.push((view, vec![key])),
        }
    }
    let mut done = HashSet::new();
    for (_, keys) in views.iter().filter(|(_, keys)| keys.len() > 1) {
        let first = &families[keys[0]][0];
        let members: Vec<Vec<&Member>> = keys
            .iter()
            .map(|k| families[*k].iter().map(|e| &e.member).collect())
            .collect();
        let Ok(Some(shared)) = Shared::build(&first.query, &first.range, &members, first.goals)
        else {
            continue;
        };
        let parts = match execute::rows(store, &shared.statement).await {
            Ok(rows) => shared.part_rows(&rows),
            Err(e) => {
                tracing::debug!(error = %e, "a shared statement failed; its families run on their own");
                continue;
            }
        };
        let Some(parts) = parts else {
            continue;
        };
        memo.count_shared();
        for ((sets, rows), &i) in shared.parts.iter().zip(&parts).zip(&shared.families) {
            for e in &families[keys[i]] {
                memo.put(&e.own, sets.member_rows(&e.member, rows));
            }
            done.insert(keys[i].clone());
        }
    }
    done
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
