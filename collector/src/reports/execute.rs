//! Execution against the store: runs the statements `sql` builds and hands the rows to
//! `shape`. Which statements a question needs is decided by `sql::raw_statements`; which
//! whole days come from rollups instead by `rollups::plan`, combined in `engine`.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

use super::dates::Range;
use super::goals::Goal;
use super::model::Metric;
use super::query::{Query, ReportError};
use super::shape::{self, key_of, Raw};
use super::sql::{self, Statement};
use crate::store::{fetch_report, Store};

/// Rows of statements answered ahead of time (`reports::batch`), by statement text and
/// parameters: a statement found here is not sent to the store.
#[derive(Default)]
pub struct Memo {
    rows: Mutex<HashMap<String, Vec<Vec<Value>>>>,
    /// How many statements were taken from it (benchmarks check that none was wasted).
    hits: std::sync::atomic::AtomicUsize,
    /// How many statements answered several families at once (`sql::sets::Shared`).
    shared: std::sync::atomic::AtomicUsize,
}

impl Memo {
    fn key(statement: &Statement) -> String {
        let mut key = statement.text.clone();
        for (name, value) in statement.params.iter() {
            key.push('\u{1}');
            key.push_str(name);
            key.push('\u{2}');
            key.push_str(value);
        }
        key
    }

    pub(crate) fn put(&self, statement: &Statement, rows: Vec<Vec<Value>>) {
        self.rows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(Memo::key(statement), rows);
    }

    fn get(&self, statement: &Statement) -> Option<Vec<Vec<Value>>> {
        let rows = self
            .rows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&Memo::key(statement))
            .cloned();
        if rows.is_some() {
            self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        rows
    }

    /// How many times a statement was answered from it.
    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn count_shared(&self) {
        self.shared
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many shared statements (`sql::sets::Shared`) answered its families.
    pub fn shared(&self) -> usize {
        self.shared.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many statements it answers.
    pub fn len(&self) -> usize {
        self.rows.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every row of a statement as a JSON array of its values.
pub(crate) async fn rows(
    store: &dyn Store,
    statement: &Statement,
) -> Result<Vec<Vec<Value>>, ReportError> {
    Ok(fetch_report(store, &statement.text, &statement.params).await?)
}

/// `rows`, from `memo` when it has the statement.
async fn rows_via(
    store: &dyn Store,
    memo: Option<&Memo>,
    statement: &Statement,
) -> Result<Vec<Vec<Value>>, ReportError> {
    match memo.and_then(|m| m.get(statement)) {
        Some(rows) => Ok(rows),
        None => rows(store, statement).await,
    }
}

/// Raw groups for a range from the raw tables, keyed by their dimension values.
pub(crate) async fn raw_groups(
    store: &dyn Store,
    memo: Option<&Memo>,
    goals: &[Goal],
    q: &Query,
    range: &Range,
    metrics: &[Metric],
) -> Result<HashMap<String, Raw>, ReportError> {
    let plan = sql::raw_statements(q, range, metrics, goals)?;
    let dims = q.dimensions.len();
    let mut out: HashMap<String, Raw> = HashMap::new();
    if let Some(s) = &plan.events {
        for r in shape::split(rows_via(store, memo, s).await?, dims, sql::EVENT_METRICS) {
            let r = shape::event_sums(r);
            out.insert(key_of(&r.dims), r);
        }
    }
    if let Some(s) = &plan.sessions {
        for r in shape::split(rows_via(store, memo, s).await?, dims, sql::SESSION_METRICS) {
            let r = shape::session_sums(r);
            if plan.visit_level {
                out.insert(key_of(&r.dims), r);
            } else {
                let e = Raw::slot(&mut out, &r.dims);
                e.visits = r.visits;
                e.bounces = r.bounces;
                e.bounce_visits = r.bounce_visits;
                e.duration = r.duration;
                e.session_pageviews = r.session_pageviews;
            }
        }
    }
    if let Some(s) = &plan.leads {
        for (dims, n) in shape::split(rows(store, s).await?, dims, sql::LEAD_METRICS)
            .into_iter()
            .map(shape::lead_counts)
        {
            Raw::slot(&mut out, &dims).leads = n;
        }
    }
    Ok(out)
}
