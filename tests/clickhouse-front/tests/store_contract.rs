//! The store contract: the same suite runs on the embedded chDB engine and on the server
//! engine (the `clickhouse` crate over HTTP) — against `CANDOR_TEST_CLICKHOUSE_URL` when set,
//! otherwise against the test-only front in this crate, which executes on chDB.
//! cargo-nextest runs each test in its own process, which chDB (one storage path per process)
//! needs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use candor::config::{ClickHouseConfig, SqlLimits};
use candor::migrations::{all_statements, migrate, Topology, MIGRATIONS};
use candor::store::{
    fetch, insert_rows, ChdbStore, InsertOptions, Params, ServerStore, Store, StoreError,
};
use serde::{Deserialize, Serialize};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn libchdb() -> PathBuf {
    std::env::var_os("CANDOR_LIBCHDB")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(candor::config::default_libchdb_path()))
}

fn limits() -> SqlLimits {
    SqlLimits {
        max_rows: 100,
        timeout: std::time::Duration::from_secs(5),
        ..Default::default()
    }
}

/// An engine under test, plus what keeps it alive and lets a test reopen it.
struct Engine {
    store: Arc<dyn Store>,
    reopen: Box<dyn Fn() -> Arc<dyn Store>>,
    _dir: tempfile::TempDir,
    _front: Option<FrontProcess>,
}

fn chdb_engine() -> Engine {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let open = move || -> Arc<dyn Store> {
        Arc::new(ChdbStore::open(&libchdb(), &path, limits()).unwrap())
    };
    Engine {
        store: open(),
        reopen: Box::new(open),
        _dir: dir,
        _front: None,
    }
}

struct FrontProcess(Child);
impl Drop for FrontProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the test front on a free port and returns it with its URL.
fn start_front(data: &Path) -> (FrontProcess, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clickhouse-front"))
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .arg("--libchdb")
        .arg(libchdb())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start clickhouse-front");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .expect("front prints its address")
        .to_string();
    (FrontProcess(child), format!("http://{addr}"))
}

async fn http_engine() -> Engine {
    let dir = tempfile::tempdir().unwrap();
    let (front, url, database) = match std::env::var("CANDOR_TEST_CLICKHOUSE_URL") {
        Ok(url) => {
            // A real server: one fresh database per test.
            let db = format!("candor_test_{}", std::process::id());
            let admin = ServerStore::new(
                &ClickHouseConfig {
                    url: Some(url.clone()),
                    user: "default".into(),
                    database: "default".into(),
                    ..Default::default()
                },
                limits(),
            );
            admin
                .execute(
                    &format!("CREATE DATABASE IF NOT EXISTS {db}"),
                    &Params::new(),
                )
                .await
                .unwrap();
            (None, url, db)
        }
        Err(_) => {
            let (front, url) = start_front(&dir.path().join("front"));
            (Some(front), url, "default".to_string())
        }
    };
    let config = ClickHouseConfig {
        url: Some(url),
        user: "default".into(),
        database,
        ..Default::default()
    };
    let open = move || -> Arc<dyn Store> { Arc::new(ServerStore::new(&config, limits())) };
    Engine {
        store: open(),
        reopen: Box::new(open),
        _dir: dir,
        _front: front,
    }
}

// ---------------------------------------------------------------------------------------
// The suite. Each function takes an engine and must pass on both.

async fn migrations_are_idempotent_across_restarts(e: Engine) {
    let t = Topology::default();
    let first = migrate(e.store.as_ref(), &t).await.unwrap();
    assert_eq!(
        first,
        MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>()
    );
    assert!(
        migrate(e.store.as_ref(), &t).await.unwrap().is_empty(),
        "second run applies nothing"
    );
    let reopened = {
        drop(e.store);
        (e.reopen)()
    };
    assert!(
        migrate(reopened.as_ref(), &t).await.unwrap().is_empty(),
        "a restart applies nothing"
    );
    #[derive(Deserialize)]
    struct V {
        version: u32,
    }
    let recorded: Vec<V> = fetch(
        reopened.as_ref(),
        "SELECT version FROM schema_migrations FINAL ORDER BY version",
        &Params::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        recorded.iter().map(|v| v.version).collect::<Vec<_>>(),
        MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>()
    );
    #[derive(Deserialize)]
    struct T {
        name: String,
    }
    let tables: Vec<T> = fetch(
        reopened.as_ref(),
        "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name",
        &Params::new(),
    )
    .await
    .unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    for want in [
        "api_tokens",
        "events",
        "salts",
        "schema_migrations",
        "sites",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct EventRow {
    event_id: String,
    timestamp: String,
    site: String,
    name: String,
    hostname: String,
    pathname: String,
    referrer: String,
    referrer_source: String,
    channel: String,
    utm_source: String,
    utm_medium: String,
    utm_campaign: String,
    utm_content: String,
    utm_term: String,
    country_code: String,
    region: String,
    city: String,
    org: String,
    browser: String,
    browser_version: String,
    os: String,
    os_version: String,
    device: String,
    screen_width: u16,
    visitor_id: u64,
    session_id: u64,
    visitor_key: String,
    consent: String,
    engaged_ms: u32,
    props: std::collections::BTreeMap<String, String>,
    retention_days: u16,
}

fn sample_event(id: &str) -> EventRow {
    EventRow {
        event_id: id.into(),
        timestamp: "2026-11-24 10:11:12".into(),
        site: "example.com".into(),
        name: "pageview".into(),
        hostname: "www.example.com".into(),
        pathname: "/pricing/ünïcode".into(),
        referrer: "https://news.ycombinator.com/".into(),
        referrer_source: "Hacker News".into(),
        channel: "social".into(),
        utm_source: "newsletter".into(),
        utm_medium: "email".into(),
        utm_campaign: "launch".into(),
        utm_content: "hero".into(),
        utm_term: "analytics".into(),
        country_code: "DE".into(),
        region: "Berlin".into(),
        city: "Berlin".into(),
        org: "Example GmbH".into(),
        browser: "Firefox".into(),
        browser_version: "133.0".into(),
        os: "Linux".into(),
        os_version: "".into(),
        device: "desktop".into(),
        screen_width: 1920,
        visitor_id: u64::MAX - 7,
        session_id: 1 << 63,
        visitor_key: "".into(),
        consent: "none".into(),
        engaged_ms: 4_294_967_295,
        props: [
            ("plan".to_string(), "pro".to_string()),
            ("quote".to_string(), "it's \"x\"\n\\".to_string()),
        ]
        .into(),
        retention_days: 400,
    }
}

/// The select list of `EventRow` above: the `events` columns of migration 1, from the row
/// definition (`pipeline::row`), the UUID as text.
fn event_columns() -> String {
    candor::pipeline::row::columns(1)
        .map(|c| match c.name {
            "event_id" => "toString(event_id) AS event_id".to_string(),
            name => name.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn every_column_type_round_trips(e: Engine) {
    migrate(e.store.as_ref(), &Topology::default())
        .await
        .unwrap();
    let row = sample_event("5b1e3c9a-0000-4000-8000-000000000001");
    insert_rows(
        e.store.as_ref(),
        "events",
        std::slice::from_ref(&row),
        &InsertOptions::default(),
    )
    .await
    .unwrap();
    let back: Vec<EventRow> = fetch(
        e.store.as_ref(),
        &format!(
            "SELECT {} FROM events WHERE toString(events.event_id) = {{id:String}}",
            event_columns()
        ),
        &Params::new().with("id", &row.event_id),
    )
    .await
    .unwrap();
    assert_eq!(back, vec![row]);

    // Array(String) and Array(LowCardinality(String)) columns, through the tokens table.
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Token {
        id: String,
        name: String,
        token_hash: String,
        scopes: Vec<String>,
        sites: Vec<String>,
        created_at: u32,
        revoked: u8,
        version: u64,
    }
    let token = Token {
        id: "t1".into(),
        name: "n".into(),
        token_hash: "a".repeat(64),
        scopes: vec!["stats:read".into(), "leads:read".into()],
        sites: vec!["a.com".into(), "b'.com".into()],
        created_at: 1_700_000_000,
        revoked: 0,
        version: 42,
    };
    insert_rows(
        e.store.as_ref(),
        "api_tokens",
        std::slice::from_ref(&token),
        &InsertOptions::default(),
    )
    .await
    .unwrap();
    let back: Vec<Token> = fetch(
        e.store.as_ref(),
        "SELECT id, name, token_hash, scopes, sites, toUnixTimestamp(created_at) AS created_at, revoked, version FROM api_tokens",
        &Params::new(),
    )
    .await
    .unwrap();
    assert_eq!(back, vec![token]);
}

const HOSTILE: &[&str] = &[
    "'; DROP TABLE events; --",
    "\\",
    "\\'",
    "back\\slash\\n not a newline",
    "tab\there\nnewline\rreturn",
    "{s:String}",
    "? ?? ?fields",
    "\"double\" `back` 'single'",
    "ünïcödé ✓ 😀",
    "",
    "NUL\0byte",
];

async fn hostile_strings_bind_as_plain_values(e: Engine) {
    migrate(e.store.as_ref(), &Topology::default())
        .await
        .unwrap();
    #[derive(Deserialize)]
    struct S {
        s: String,
    }
    for h in HOSTILE {
        let back: Vec<S> = fetch(
            e.store.as_ref(),
            "SELECT {s:String} AS s",
            &Params::new().with("s", *h),
        )
        .await
        .unwrap();
        assert_eq!(back[0].s, *h, "scalar {h:?}");
    }
    #[derive(Deserialize)]
    struct A {
        a: Vec<String>,
    }
    let arr: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    let back: Vec<A> = fetch(
        e.store.as_ref(),
        "SELECT {a:Array(String)} AS a",
        &Params::new().with("a", &arr[..]),
    )
    .await
    .unwrap();
    assert_eq!(back[0].a, arr, "array");

    // As values in an INSERT and a WHERE.
    for (i, h) in HOSTILE.iter().enumerate() {
        e.store
            .execute(
                "INSERT INTO sites (domain, timezone, allowed_origins, created_at, version) VALUES ({d:String}, 'UTC', [], now(), {v:UInt64})",
                &Params::new().with("d", *h).with("v", i as u64),
            )
            .await
            .unwrap();
    }
    #[derive(Deserialize)]
    struct C {
        c: u64,
    }
    for h in HOSTILE {
        let c: Vec<C> = fetch(
            e.store.as_ref(),
            "SELECT count() AS c FROM sites WHERE domain = {d:String}",
            &Params::new().with("d", *h),
        )
        .await
        .unwrap();
        assert_eq!(c[0].c, 1, "exactly one row for {h:?}");
    }
    let c: Vec<C> = fetch(e.store.as_ref(), "SELECT count() AS c FROM system.tables WHERE database = currentDatabase() AND name = 'events'", &Params::new()).await.unwrap();
    assert_eq!(c[0].c, 1, "events table survived");
}

async fn ttls_are_declared(e: Engine) {
    migrate(e.store.as_ref(), &Topology::default())
        .await
        .unwrap();
    #[derive(Deserialize)]
    struct T {
        name: String,
        create_table_query: String,
    }
    let tables: Vec<T> = fetch(
        e.store.as_ref(),
        "SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase() AND name IN ('events', 'salts')",
        &Params::new(),
    )
    .await
    .unwrap();
    let ddl = |n: &str| {
        tables
            .iter()
            .find(|t| t.name == n)
            .map(|t| t.create_table_query.clone())
            .unwrap()
    };
    assert!(
        ddl("events").contains("TTL timestamp + toIntervalDay(retention_days)"),
        "{}",
        ddl("events")
    );
    assert!(ddl("events").contains("PARTITION BY toYYYYMM(timestamp)"));
    assert!(ddl("events").contains("LowCardinality(String)"));
    assert!(
        ddl("salts").contains("TTL day + toIntervalDay(2)"),
        "{}",
        ddl("salts")
    );
}

async fn analyst_sql_is_checked_alike(e: Engine) {
    migrate(e.store.as_ref(), &Topology::default())
        .await
        .unwrap();
    let analyst = candor::analyst::Analyst::new(e.store.clone(), limits());
    let out = analyst
        .run(
            "WITH t AS (SELECT site FROM events WHERE site = {s:String}) SELECT count() AS n FROM t",
            &Params::new().with("s", "example.com"),
            "JSONCompact",
        )
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&out).contains("\"data\""));
    for q in [
        "SELECT * FROM default.salts",
        "SELECT * FROM salts",
        "SELECT * FROM system.tables",
        "SELECT * FROM file('/etc/passwd')",
        "SELECT 1 INTO OUTFILE '/tmp/candor-contract-outfile'",
        "KILL QUERY WHERE 1",
    ] {
        let err = analyst
            .run(q, &Params::new(), "JSONCompact")
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                candor::analyst::AnalystError::Refused(_)
                    | candor::analyst::AnalystError::Failed(_)
            ),
            "{q}: {err}"
        );
    }
    assert!(!Path::new("/tmp/candor-contract-outfile").exists());
}

async fn engine_errors_are_mapped(e: Engine) {
    migrate(e.store.as_ref(), &Topology::default())
        .await
        .unwrap();
    let err = e
        .store
        .query("SELEC 1", &Params::new(), "JSON")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(62), "syntax: {err}");
    let err = e
        .store
        .query("SELECT * FROM no_such_table", &Params::new(), "JSON")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(60), "unknown table: {err}");
    let err = e
        .store
        .query(
            "SELECT {x:UInt8}",
            &Params::new().with("x", "not a number"),
            "JSON",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Query { .. }),
        "bad parameter: {err}"
    );
    let err = e
        .store
        .query_readonly("DROP TABLE events", &Params::new(), "JSON")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(164), "readonly: {err}");
    let err = e
        .store
        .query_readonly(
            "INSERT INTO default.sites (domain) VALUES ('x')",
            &Params::new(),
            "JSON",
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(164), "readonly insert: {err}");
    let err = e
        .store
        .query_readonly("SELECT number FROM numbers(1000)", &Params::new(), "JSON")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(396), "row limit: {err}");
    let ok = e
        .store
        .query_readonly("SELECT count() FROM events", &Params::new(), "JSONCompact")
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&ok).contains("\"data\""));
}

async fn cluster_ddl_parses_in_the_engine(e: Engine) {
    let t = Topology {
        cluster: Some("candor_cluster".into()),
    };
    for sql in all_statements(&t) {
        let formatted = e
            .store
            .query(
                "SELECT formatQuery({q:String})",
                &Params::new().with("q", &sql),
                "TabSeparatedRaw",
            )
            .await
            .unwrap_or_else(|err| panic!("{sql}\n→ {err}"));
        let text = String::from_utf8_lossy(&formatted);
        assert!(text.contains("ON CLUSTER candor_cluster"), "{text}");
    }
}

async fn dedup_token_stores_a_retried_batch_once(e: Engine) {
    migrate(e.store.as_ref(), &Topology::default())
        .await
        .unwrap();
    let rows: Vec<EventRow> = (0..3)
        .map(|i| sample_event(&format!("5b1e3c9a-0000-4000-8000-00000000000{i}")))
        .collect();
    let opts = InsertOptions {
        dedup_token: Some("0123456789abcdef".into()),
    };
    insert_rows(e.store.as_ref(), "events", &rows, &opts)
        .await
        .unwrap();
    insert_rows(e.store.as_ref(), "events", &rows, &opts)
        .await
        .unwrap();
    let other = InsertOptions {
        dedup_token: Some("fedcba9876543210".into()),
    };
    insert_rows(e.store.as_ref(), "events", &rows[..1], &other)
        .await
        .unwrap();
    #[derive(Deserialize)]
    struct C {
        c: u64,
    }
    let c: Vec<C> = fetch(
        e.store.as_ref(),
        "SELECT count() AS c FROM events",
        &Params::new(),
    )
    .await
    .unwrap();
    assert_eq!(c[0].c, 4);
}

/// The row definition (`pipeline::row`) is the `events` table the migrations make: every
/// column with its type and default, nothing more, nothing less.
async fn the_events_row_definition_is_the_stored_table(e: Engine) {
    use candor::pipeline::row;
    migrate(e.store.as_ref(), &Topology::default())
        .await
        .unwrap();
    #[derive(Deserialize, Debug, PartialEq, PartialOrd, Ord, Eq)]
    struct C {
        name: String,
        r#type: String,
        default_expression: String,
    }
    let mut stored: Vec<C> = fetch(
        e.store.as_ref(),
        "SELECT name, type, default_expression FROM system.columns WHERE database = currentDatabase() AND table = 'events'",
        &Params::new(),
    )
    .await
    .unwrap();
    stored.sort();
    let mut defined: Vec<C> = row::COLUMNS
        .iter()
        .map(|c| C {
            name: c.name.into(),
            r#type: c.ty.into(),
            default_expression: c.default.unwrap_or_default().into(),
        })
        .collect();
    defined.sort();
    assert_eq!(stored, defined);
}

/// Rows go in under a header naming and typing their columns: rows that do not match it are
/// refused as invalid data (set aside by the batcher), never stored shifted.
async fn a_row_that_does_not_match_its_header_is_refused(e: Engine) {
    use candor::pipeline::record::{RECORD_EVENT_THROUGH, RECORD_ROWBINARY_THROUGH};
    use candor::pipeline::{row, split_record, EventRow, Record, SpooledRows};
    migrate(e.store.as_ref(), &Topology::default())
        .await
        .unwrap();
    let record = Record {
        event: EventRow {
            timestamp: 1_764_000_000,
            site: "example.com".into(),
            name: "pageview".into(),
            pathname: "/typed".into(),
            consent: "none",
            retention_days: 400,
            ..Default::default()
        },
        session: Default::default(),
    };
    let encoded = record.encode();
    let Some(SpooledRows::Event(event)) = split_record(&encoded) else {
        panic!("not an event record");
    };
    let body = |through: u32| {
        let mut b = row::header(through);
        b.extend_from_slice(event);
        bytes::Bytes::from(b)
    };
    let opts = InsertOptions::default();
    let insert = |data| {
        e.store
            .insert("events", "RowBinaryWithNamesAndTypes", data, &opts)
    };
    insert(body(RECORD_EVENT_THROUGH)).await.unwrap();
    // The same bytes under the header of fewer columns: trailing data, refused.
    let refused = insert(body(RECORD_ROWBINARY_THROUGH)).await.unwrap_err();
    assert!(
        candor::pipeline::batcher::rejects_data(&refused),
        "{refused:?}"
    );
    #[derive(Deserialize)]
    struct C {
        c: u64,
        pathname: String,
    }
    let c: Vec<C> = fetch(
        e.store.as_ref(),
        "SELECT count() AS c, any(pathname) AS pathname FROM events",
        &Params::new(),
    )
    .await
    .unwrap();
    assert_eq!((c[0].c, c[0].pathname.as_str()), (1, "/typed"));
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod chdb {
            $(#[tokio::test] async fn $name() { super::$name(super::chdb_engine()).await })*
        }
        mod http {
            $(#[tokio::test] async fn $name() { super::$name(super::http_engine().await).await })*
        }
    };
}

contract!(
    migrations_are_idempotent_across_restarts,
    every_column_type_round_trips,
    hostile_strings_bind_as_plain_values,
    ttls_are_declared,
    engine_errors_are_mapped,
    analyst_sql_is_checked_alike,
    cluster_ddl_parses_in_the_engine,
    dedup_token_stores_a_retried_batch_once,
    the_events_row_definition_is_the_stored_table,
    a_row_that_does_not_match_its_header_is_refused,
);

/// The `clickhouse` crate's own typed path (RowBinaryWithNamesAndTypes in and out, LZ4 both
/// ways) through the front, so the front is proven to speak what the crate speaks.
#[tokio::test]
async fn front_speaks_rowbinary_and_lz4_to_the_clickhouse_crate() {
    let dir = tempfile::tempdir().unwrap();
    let (_front, url) = start_front(dir.path());
    let client = clickhouse::Client::default().with_url(url);
    client
        .query("CREATE TABLE t (id UInt64, name String, tags Array(String), at DateTime('UTC')) ENGINE = MergeTree ORDER BY id")
        .execute()
        .await
        .unwrap();
    #[derive(clickhouse::Row, Serialize, Deserialize, Debug, PartialEq)]
    struct R {
        id: u64,
        name: String,
        tags: Vec<String>,
        at: u32,
    }
    let rows: Vec<R> = (0..2000u64)
        .map(|i| R {
            id: i,
            name: format!("name {i} \u{1F600}"),
            tags: vec!["a".into(), format!("t{i}")],
            at: 1_700_000_000 + i as u32,
        })
        .collect();
    let mut insert = client.insert::<R>("t").await.unwrap();
    for r in &rows {
        insert.write(r).await.unwrap();
    }
    insert.end().await.unwrap();
    let back: Vec<R> = client
        .query("SELECT ?fields FROM t ORDER BY id")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(back, rows);
    let n: u64 = client
        .query("SELECT count() FROM t WHERE name LIKE ?")
        .bind("name 1%")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(n, 1111);
    let err = client
        .query("SELECT * FROM missing")
        .fetch_all::<R>()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("UNKNOWN_TABLE") || err.to_string().contains("Code: 60"),
        "{err}"
    );
}
