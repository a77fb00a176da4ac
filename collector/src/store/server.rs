//! The server engine: a ClickHouse server or cluster over HTTP through the official
//! `clickhouse` crate, with its default LZ4 compression. Same SQL, same `{name:Type}`
//! parameters (sent as `param_*`), same formats as the embedded engine.

use async_trait::async_trait;
use bytes::Bytes;

use super::{
    analyst_database, analyst_settings, checked_table, checked_token, Engine, InsertOptions,
    Params, Store, StoreError, ANALYST_READONLY, INSPECT_READONLY, SESSION_SETTINGS,
};
use crate::config::{ClickHouseConfig, SqlLimits};

pub struct ServerStore {
    client: clickhouse::Client,
    /// Analysts' queries: the analyst database, and the restricted ClickHouse user when one
    /// is configured (`clickhouse.analyst_user`), so the server itself refuses what the
    /// allow-list might miss.
    analyst: clickhouse::Client,
    /// `Store::inspect`: the analyst database as the main user (a restricted analyst user's
    /// profile may pin `readonly=1`, under which the engine refuses EXPLAIN as a subquery).
    inspector: clickhouse::Client,
    limits: SqlLimits,
}

impl ServerStore {
    pub fn new(config: &ClickHouseConfig, limits: SqlLimits) -> ServerStore {
        let mut client = clickhouse::Client::default()
            .with_url(config.url.clone().unwrap_or_default())
            .with_user(config.user.clone())
            .with_database(config.database.clone());
        if !config.password.is_empty() {
            client = client.with_password(config.password.clone());
        }
        for (k, v) in SESSION_SETTINGS {
            client = client.with_setting(*k, *v);
        }
        let inspector = client
            .clone()
            .with_database(analyst_database(&config.database));
        let mut analyst = inspector.clone();
        if let Some(user) = &config.analyst_user {
            analyst = analyst
                .with_user(user.clone())
                .with_password(config.analyst_password.clone());
        }
        ServerStore {
            client,
            analyst,
            inspector,
            limits,
        }
    }

    fn prepared(&self, sql: &str, params: &Params) -> clickhouse::query::Query {
        bound(&self.client, sql, params)
    }
}

/// `sql` on `client` with its `{name:Type}` parameters bound server-side.
fn bound(client: &clickhouse::Client, sql: &str, params: &Params) -> clickhouse::query::Query {
    let mut q = client.query_raw(sql);
    for (name, value) in params.iter() {
        // `with_setting("param_x", ..)` passes our already-encoded value unchanged.
        q = q.with_setting(format!("param_{name}"), value);
    }
    q
}

fn map_error(e: clickhouse::error::Error) -> StoreError {
    use clickhouse::error::Error as E;
    match e {
        E::BadResponse(msg) => StoreError::from_engine_message(&msg),
        E::Network(err) => StoreError::Unavailable(err.to_string()),
        E::TimedOut => StoreError::Unavailable("timed out".into()),
        other => {
            let text = other.to_string();
            if text.contains("Code: ") {
                let at = text.find("Code: ").unwrap_or(0);
                StoreError::from_engine_message(&text[at..])
            } else {
                StoreError::Unavailable(text)
            }
        }
    }
}

#[async_trait]
impl Store for ServerStore {
    fn engine(&self) -> Engine {
        Engine::Server
    }

    async fn execute(&self, sql: &str, params: &Params) -> Result<(), StoreError> {
        self.prepared(sql, params)
            .execute()
            .await
            .map_err(map_error)
    }

    async fn query(&self, sql: &str, params: &Params, format: &str) -> Result<Bytes, StoreError> {
        let mut cursor = self
            .prepared(sql, params)
            .fetch_bytes(format)
            .map_err(map_error)?;
        cursor.collect().await.map_err(map_error)
    }

    async fn insert(
        &self,
        table: &str,
        format: &str,
        data: Bytes,
        options: &InsertOptions,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO {} FORMAT {}",
            checked_table(table)?,
            checked_table(format)?
        );
        let mut insert = self.client.insert_formatted_with(sql);
        if let Some(token) = &options.dedup_token {
            // The token also guards the rows a materialized view derives from the insert
            // (`sessions` from `events`), so a retried batch adds no session twice.
            insert = insert
                .with_setting("insert_deduplication_token", checked_token(token)?)
                .with_setting("deduplicate_blocks_in_dependent_materialized_views", "1");
        }
        insert.send(data).await.map_err(map_error)?;
        insert.end().await.map_err(map_error)
    }

    async fn query_readonly(
        &self,
        sql: &str,
        params: &Params,
        format: &str,
    ) -> Result<Bytes, StoreError> {
        self.analyst_query(&self.analyst, ANALYST_READONLY, sql, params, format)
            .await
    }

    async fn inspect(&self, sql: &str, params: &Params, format: &str) -> Result<Bytes, StoreError> {
        self.analyst_query(&self.inspector, INSPECT_READONLY, sql, params, format)
            .await
    }
}

impl ServerStore {
    async fn analyst_query(
        &self,
        client: &clickhouse::Client,
        readonly: u8,
        sql: &str,
        params: &Params,
        format: &str,
    ) -> Result<Bytes, StoreError> {
        let mut q = bound(client, sql, params);
        for (k, v) in analyst_settings(self.limits, readonly) {
            q = q.with_setting(k, v);
        }
        let mut cursor = q.fetch_bytes(format).map_err(map_error)?;
        cursor.collect().await.map_err(map_error)
    }
}
