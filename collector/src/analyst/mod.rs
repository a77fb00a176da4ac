//! Analysts' ad-hoc SQL (`POST /api/v1/sql`): what may run is decided by an allow-list over the
//! statement as ClickHouse's own parser sees it, never by reading the text.
//!
//! 1. The engine formats the text, passed as a `{q:String}` parameter so nothing of it runs:
//!    this proves it is exactly one statement and gives its canonical form (no comments, every
//!    identifier quoted as the parser read it).
//! 2. The engine prints that form's syntax tree with `EXPLAIN AST` as a subquery, which runs
//!    nothing, takes only SELECT and refuses output options (`INTO OUTFILE`, `FORMAT`); the
//!    canonical form has balanced parentheses, so it cannot close the subquery early.
//! 3. `ast::check` walks the tree: node kinds, tables, databases and functions by allow-list.
//! 4. The canonical form runs, as a subquery, in the analyst database (views of `events`, `sessions`, `goals`
//!    only) on the read-only connection, under the engine's limits.

pub mod ast;
pub mod functions;

use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::Semaphore;

use crate::config::SqlLimits;
use crate::store::{Params, Store, StoreError};

/// Longest statement accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AnalystError {
    /// The allow-list or the engine's parser refused the statement (400).
    #[error("{0}")]
    Refused(String),
    /// The statement was allowed but the engine failed it: unknown column, a limit... (400).
    #[error("{0}")]
    Failed(String),
    /// Too many analyst queries at once (429).
    #[error("{0} analyst queries are already running; try again in a moment")]
    Busy(usize),
    /// The store itself is down or answered nonsense (503/500).
    #[error(transparent)]
    Store(StoreError),
}

impl From<ast::Refusal> for AnalystError {
    fn from(r: ast::Refusal) -> AnalystError {
        AnalystError::Refused(r.to_string())
    }
}

pub struct Analyst {
    store: Arc<dyn Store>,
    slots: Arc<Semaphore>,
    max_concurrent: usize,
}

impl Analyst {
    pub fn new(store: Arc<dyn Store>, limits: SqlLimits) -> Analyst {
        Analyst {
            store,
            slots: Arc::new(Semaphore::new(limits.max_concurrent)),
            max_concurrent: limits.max_concurrent,
        }
    }

    /// Checks `sql` and, when allowed, runs it; the output is in `format`.
    ///
    /// The work runs in a task of its own that holds the slot until the engine is done, so a
    /// client that hangs up cannot leave queries queued behind a free slot.
    pub async fn run(
        &self,
        sql: &str,
        params: &Params,
        format: &str,
    ) -> Result<Bytes, AnalystError> {
        let slot = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| AnalystError::Busy(self.max_concurrent))?;
        let (store, sql, params, format) = (
            self.store.clone(),
            sql.to_string(),
            params.clone(),
            format.to_string(),
        );
        tokio::spawn(async move {
            let _slot = slot;
            let canonical = check(store.as_ref(), &sql, &params).await?;
            // As a subquery: the engine checks its result limits on what a query reads, so
            // `SELECT arrayJoin(range(1e7))` (one row read) would pass them at the top level.
            store
                .query_readonly(
                    &format!("SELECT * FROM (\n{canonical}\n)"),
                    &params,
                    &format,
                )
                .await
                .map_err(engine_error)
        })
        .await
        .map_err(|e| {
            AnalystError::Store(StoreError::Unavailable(format!("analyst query task: {e}")))
        })?
    }
}

/// The canonical form of `sql` when the allow-list accepts it.
async fn check(store: &dyn Store, sql: &str, params: &Params) -> Result<String, AnalystError> {
    if sql.trim().is_empty() {
        return Err(AnalystError::Refused("query must not be empty".into()));
    }
    if sql.len() > MAX_QUERY_BYTES {
        return Err(AnalystError::Refused(format!(
            "query is longer than {MAX_QUERY_BYTES} bytes"
        )));
    }
    #[derive(Deserialize)]
    struct Formatted {
        q: String,
    }
    let canonical = inspect_rows::<Formatted>(
        store,
        "SELECT formatQuerySingleLine({q:String}) AS q",
        &Params::new().with("q", sql),
    )
    .await?
    .pop()
    .map(|f| f.q)
    .ok_or_else(|| AnalystError::Refused("the statement could not be parsed".into()))?;
    #[derive(Deserialize)]
    struct Line {
        explain: String,
    }
    let tree = inspect_rows::<Line>(
        store,
        &format!("SELECT explain FROM (EXPLAIN AST\n{canonical}\n)"),
        params,
    )
    .await?
    .into_iter()
    .map(|l| l.explain)
    .collect::<Vec<_>>()
    .join("\n");
    #[derive(Deserialize)]
    struct Database {
        name: String,
    }
    let mut databases: Vec<String> = ["default", "system", "information_schema"]
        .into_iter()
        .map(String::from)
        .collect();
    databases.extend(
        inspect_rows::<Database>(store, "SELECT name FROM system.databases", &Params::new())
            .await?
            .into_iter()
            .map(|d| d.name),
    );
    ast::check(&ast::parse(&tree)?, &databases)?;
    Ok(canonical)
}

/// The rows of one of Candor's own statements about an analyst's statement (`Store::inspect`);
/// an engine error is the engine refusing that statement.
async fn inspect_rows<T: serde::de::DeserializeOwned>(
    store: &dyn Store,
    sql: &str,
    params: &Params,
) -> Result<Vec<T>, AnalystError> {
    let out = store
        .inspect(sql, params, "JSONEachRow")
        .await
        .map_err(parse_error)?;
    crate::store::decode_lines(&out).map_err(AnalystError::Store)
}

/// The engine refused to parse or explain the statement.
fn parse_error(e: StoreError) -> AnalystError {
    match e {
        StoreError::Query { code, message } => AnalystError::Refused(match code {
            // BAD_ARGUMENTS from EXPLAIN-as-subquery: not a SELECT, or output options.
            Some(36) if message.contains("only SELECT") => ast::Refusal::NotSelect.to_string(),
            Some(62) if message.contains("Multi-statements") => {
                "only one statement may run: remove the ';' and what follows".into()
            }
            Some(36) if message.contains("output options") => {
                "INTO OUTFILE and FORMAT are not allowed in analyst SQL (results are JSON)".into()
            }
            _ => message,
        }),
        other => AnalystError::Store(other),
    }
}

/// The engine failed an allowed statement.
fn engine_error(e: StoreError) -> AnalystError {
    match e {
        StoreError::Query { message, .. } => AnalystError::Failed(message),
        other => AnalystError::Store(other),
    }
}
