//! Store benchmarks on embedded chDB:
//!   store-bench insert <data-dir> <rows>   batch insert rate through the Store API (`events`
//!                                          rows as spooled, turned into one Native block per
//!                                          batch of `spool.batch_rows` (`BENCH_BATCH`
//!                                          overrides), as the batcher inserts; the store
//!                                          derives the sessions rows)
//!   store-bench insert-typed <data-dir> <rows>  the same rows as RowBinaryWithNamesAndTypes
//!                                          (the batcher's format until session 19)
//!   store-bench insert-plain <data-dir> <rows>  the same rows as plain RowBinary under a column
//!                                          list (the batcher's format before the typed header)
//!   store-bench insert-json <data-dir> <rows>  the same `events` rows as JSONEachRow (the format
//!                                          the batcher used before), for comparison
//!   store-bench seed <data-dir> <rows>     fills `events` and `sessions` with <rows> events over
//!                                          the last 30 days from 50,000 visitors (SQL-generated)
//!
//! `BENCH_TABLE_SETTINGS` is applied to `events` and `sessions` and `BENCH_SQL` (statements
//! separated by `;`) is run after the migrations, for experiments (e.g. `BENCH_SQL="DROP VIEW
//! sessions_from_events"` measures the insert without the sessions the store derives).

use std::sync::Arc;
use std::time::Instant;

use candor::config::{Config, Layers, SqlLimits};
use candor::migrations::{migrate, Topology};
use candor::pipeline::record::RECORD_EVENT_THROUGH;
use candor::pipeline::sessions::{Attribution, SessionDelta};
use candor::pipeline::{row, split_record, EventRow, Record, SpooledRows, EVENT_COLUMNS};
use candor::store::{insert_rows, ChdbStore, InsertOptions, Params, Store};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (cmd, dir, rows) = match args.as_slice() {
        [_, cmd, dir, rows] => (cmd.as_str(), dir.clone(), rows.parse::<u64>()?),
        _ => anyhow::bail!(
            "usage: store-bench insert|insert-typed|insert-plain|insert-json|seed <data-dir> <rows>"
        ),
    };
    let path = std::path::Path::new(&dir).join("clickhouse");
    std::fs::create_dir_all(&path)?;
    let store = ChdbStore::open(&candor_bench::libchdb(), &path, SqlLimits::default())?;
    migrate(&store, &Topology::default()).await?;
    if let Ok(settings) = std::env::var("BENCH_TABLE_SETTINGS") {
        for table in ["events", "sessions"] {
            store
                .execute(
                    &format!("ALTER TABLE {table} MODIFY SETTING {settings}"),
                    &Params::new(),
                )
                .await?;
        }
    }
    if let Ok(sql) = std::env::var("BENCH_SQL") {
        for statement in sql.split(';').filter(|s| !s.trim().is_empty()) {
            store.execute(statement, &Params::new()).await?;
        }
    }
    match cmd {
        "insert" => insert(&store, rows, Wire::Native).await,
        "insert-typed" => insert(&store, rows, Wire::Typed).await,
        "insert-plain" => insert(&store, rows, Wire::Plain).await,
        "insert-json" => insert_json(&store, rows).await,
        "seed" => seed(&store, rows).await,
        other => anyhow::bail!("unknown command {other}"),
    }
}

/// How a batch of spooled rows goes to the store.
#[derive(Clone, Copy, PartialEq)]
enum Wire {
    /// One Native block (`candor::store::native`), as the batcher inserts.
    Native,
    /// The rows behind the RowBinaryWithNamesAndTypes header (the batcher until session 19).
    Typed,
    /// Plain RowBinary under a column list.
    Plain,
}

/// The batcher's insert path: records encoded as the pipeline spools them (RowBinary), split
/// and gathered into batches of `BENCH_BATCH` rows (by default the batcher's own,
/// `spool.batch_rows`), sent as `wire` says.
async fn insert(store: &ChdbStore, rows: u64, wire: Wire) -> anyhow::Result<()> {
    let now = candor::clock::unix_seconds();
    let batch: u64 = match std::env::var("BENCH_BATCH")
        .ok()
        .and_then(|b| b.parse().ok())
    {
        Some(batch) => batch,
        None => Config::from_layers(&Layers::default())?.spool.batch_rows as u64,
    };
    let attribution = Arc::new(Attribution {
        hostname: "bench.example".into(),
        referrer: "google.com/search".into(),
        referrer_source: "Google".into(),
        channel: "search".into(),
        country_code: "DE".into(),
        region: "Berlin".into(),
        city: "Berlin".into(),
        browser: "Chrome".into(),
        browser_version: "131.0".into(),
        os: "Windows".into(),
        os_version: "10".into(),
        device: "desktop".into(),
        ..Default::default()
    });
    let (events_table, format) = match wire {
        Wire::Native => ("events".to_string(), "Native"),
        Wire::Typed => ("events".to_string(), "RowBinaryWithNamesAndTypes"),
        Wire::Plain => (format!("events ({EVENT_COLUMNS})"), "RowBinary"),
    };
    let started = Instant::now();
    let mut done = 0u64;
    while done < rows {
        let n = batch.min(rows - done);
        let mut events = if wire == Wire::Typed {
            row::header(RECORD_EVENT_THROUGH)
        } else {
            Vec::new()
        };
        let mut ends = Vec::with_capacity(n as usize);
        for i in done..done + n {
            let path = format!("/page/{}", i % 500);
            let record = Record {
                event: EventRow {
                    event_id: uuid::Uuid::from_u64_pair(0x4000, 0x8000_0000_0000_0000 | i),
                    timestamp: now - (i % 86_400) as u32,
                    site: "bench.example".into(),
                    name: "pageview".into(),
                    hostname: "bench.example".into(),
                    pathname: path.clone(),
                    attribution: attribution.clone(),
                    screen_width: 1920,
                    visitor_id: i % 50_000,
                    session_id: i % 200_000,
                    consent: "none",
                    retention_days: 400,
                    ..Default::default()
                },
                session: SessionDelta {
                    session_id: i % 200_000,
                    start: now - (i % 86_400) as u32,
                    end: now - (i % 86_400) as u32,
                    pageviews: 1,
                    events: 1,
                    entry_page: Arc::from(path.as_str()),
                    exit: (1, path),
                    attribution: attribution.clone(),
                    ..Default::default()
                },
            };
            let encoded = record.encode();
            let Some(SpooledRows::Event(e)) = split_record(&encoded) else {
                anyhow::bail!("a record did not split");
            };
            events.extend_from_slice(e);
            ends.push(events.len());
        }
        if wire == Wire::Native {
            let rows: Vec<&[u8]> = std::iter::once(0)
                .chain(ends.iter().copied())
                .zip(&ends)
                .map(|(from, to)| &events[from..*to])
                .collect();
            events = row::native_block(RECORD_EVENT_THROUGH, &rows)
                .ok_or_else(|| anyhow::anyhow!("the rows did not read as their columns"))?;
        }
        let opts = InsertOptions {
            dedup_token: Some(format!("{done:016x}")),
        };
        // One insert per batch: the store derives each event's session row itself.
        store
            .insert(&events_table, format, events.into(), &opts)
            .await?;
        done += n;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "inserted {rows} events (and the {rows} session rows the store derives from them) in {secs:.2} s: {:.0} events/s ({batch}-row {format} batches{})",
        rows as f64 / secs,
        if wire == Wire::Native {
            ", as the batcher inserts"
        } else {
            ""
        }
    );
    Ok(())
}

/// The batcher's insert path before RowBinary, for comparison: `events` rows only, as
/// JSONEachRow.
async fn insert_json(store: &ChdbStore, rows: u64) -> anyhow::Result<()> {
    let now = candor::clock::unix_seconds();
    let batch = 10_000u64;
    let started = Instant::now();
    let mut done = 0u64;
    while done < rows {
        let n = batch.min(rows - done);
        let events: Vec<serde_json::Value> = (done..done + n)
            .map(|i| {
                serde_json::json!({
                    "event_id": uuid_from(i), "timestamp": now - (i % 86_400) as u32, "site": "bench.example",
                    "name": "pageview", "hostname": "bench.example", "pathname": format!("/page/{}", i % 500),
                    "referrer": "google.com/search", "referrer_source": "Google", "channel": "search",
                    "utm_source": "", "utm_medium": "", "utm_campaign": "", "utm_content": "", "utm_term": "",
                    "country_code": "DE", "region": "Berlin", "city": "Berlin", "org": "",
                    "browser": "Chrome", "browser_version": "131.0", "os": "Windows", "os_version": "10",
                    "device": "desktop", "screen_width": 1920, "visitor_id": i % 50_000, "session_id": i % 200_000,
                    "visitor_key": "", "consent": "none", "engaged_ms": 0, "props": {}, "retention_days": 400
                })
            })
            .collect();
        let token = format!("{:016x}", done);
        insert_rows(
            store,
            "events",
            &events,
            &InsertOptions {
                dedup_token: Some(token),
            },
        )
        .await?;
        done += n;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "inserted {rows} rows in {secs:.2} s: {:.0} rows/s (events only, 10,000-row JSONEachRow batches)",
        rows as f64 / secs
    );
    Ok(())
}

fn uuid_from(i: u64) -> String {
    format!("00000000-0000-4000-8000-{:012x}", i)
}

async fn seed(store: &ChdbStore, rows: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    // Events spread over 30 days, 50,000 visitors, ~4 events per session.
    // Each seeded column and its generator; the others take their defaults. Named against
    // the row definition, so a renamed or dropped column fails here, not in the engine.
    let generated: &[(&str, &str)] = &[
        ("event_id", "generateUUIDv4(number)"),
        (
            "timestamp",
            "now() - toIntervalSecond(number % (30 * 86400))",
        ),
        ("site", "'bench.example'"),
        ("name", "if(number % 10 = 0, 'signup', 'pageview')"),
        ("hostname", "'bench.example'"),
        ("pathname", "concat('/page/', toString(number % 500))"),
        (
            "referrer",
            "['', 'google.com/search', 'news.ycombinator.com/item', 't.co/x'][1 + number % 4]",
        ),
        (
            "referrer_source",
            "['', 'Google', 'Hacker News', 'Twitter'][1 + number % 4]",
        ),
        (
            "channel",
            "['direct', 'search', 'social', 'social'][1 + number % 4]",
        ),
        ("utm_source", "if(number % 7 = 0, 'newsletter', '')"),
        (
            "country_code",
            "['DE', 'US', 'FR', 'JP', 'BR'][1 + number % 5]",
        ),
        (
            "browser",
            "['Chrome', 'Firefox', 'Safari', 'Edge'][1 + number % 4]",
        ),
        (
            "os",
            "['Windows', 'Mac OS X', 'iOS', 'Android'][1 + number % 4]",
        ),
        ("device", "['desktop', 'mobile', 'tablet'][1 + number % 3]"),
        ("visitor_id", "number % 50000"),
        ("session_id", "intDiv(number, 4)"),
        ("consent", "'none'"),
        ("retention_days", "400"),
    ];
    for (name, _) in generated {
        anyhow::ensure!(
            row::COLUMNS.iter().any(|c| c.name == *name),
            "{name} is not an events column"
        );
    }
    let names: Vec<&str> = generated.iter().map(|(n, _)| *n).collect();
    let values: Vec<&str> = generated.iter().map(|(_, v)| *v).collect();
    // A million rows per statement, for the same reason as the sessions below.
    const SLICE: u64 = 1_000_000;
    let mut first = 0;
    while first < rows {
        store
            .execute(
                &format!(
                    "INSERT INTO events ({}) SELECT {} FROM numbers({{first:UInt64}}, {{count:UInt64}})",
                    names.join(", "),
                    values.join(", ")
                ),
                &Params::new()
                    .with("first", first)
                    .with("count", SLICE.min(rows - first)),
            )
            .await?;
        first += SLICE;
    }
    // The sessions in ten slices: one grouping of all 2.5 million would pass the engine's
    // per-statement memory bound (`store.memory_mb`, 1 GiB by default).
    for slice in 0..10u64 {
        store
            .execute(
                "INSERT INTO sessions (site, day, session_id, visitor_id, start, end, pageviews, events, engaged_ms, entry_page, exit,
                                       visitor_key, hostname, referrer, referrer_source, channel, utm_source, utm_medium, utm_campaign,
                                       utm_content, utm_term, country_code, region, city, org, browser, browser_version, os, os_version,
                                       device, retention_days)
                 SELECT site, toDate(min(timestamp)), session_id, any(visitor_id), min(timestamp), max(timestamp), countIf(name = 'pageview'),
                        count(), 0, argMin(pathname, timestamp), (toUInt32(countIf(name = 'pageview')), argMax(pathname, timestamp)),
                        '', any(hostname), any(referrer), any(referrer_source), any(channel), any(utm_source), '', '', '', '',
                        any(country_code), '', '', '', any(browser), '', any(os), '', any(device), 400
                 FROM events WHERE site = 'bench.example' AND session_id % 10 = {slice:UInt64} GROUP BY site, session_id",
                &Params::new().with("slice", slice),
            )
            .await?;
    }
    let seeded = started.elapsed().as_secs_f64();
    // Let the merges the seeding started finish (up to 5 minutes), so the load that follows
    // measures ingestion with 10 million events stored, not the seeding's aftermath.
    let settling = Instant::now();
    while settling.elapsed().as_secs() < 300 {
        let running = store
            .query(
                "SELECT count() FROM system.merges",
                &Params::new(),
                "TabSeparated",
            )
            .await?;
        if String::from_utf8_lossy(&running).trim() == "0" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    println!(
        "seeded {rows} events in {seeded:.1} s; background merges settled {:.1} s later",
        settling.elapsed().as_secs_f64()
    );
    Ok(())
}
