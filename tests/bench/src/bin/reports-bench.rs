//! `make bench-reports`: seeds `events` and `sessions` in embedded chDB with N events (default
//! 10 million) over the last 30 days from 50,000 visitors, shaped like real traffic (visits
//! of 1 to 15 events with one source, location and device each; log-uniform page
//! popularity; one sessions delta row per event, as the collector writes them), then times
//! the dashboard's full query set for the 30-day period through the report engine.
//!
//!   reports-bench <data-dir> [events]

use std::time::{Duration, Instant};

use candor::config::SqlLimits;
use candor::migrations::{migrate, Topology};
use candor::reports::engine::{Engine, Output, Query};
use candor::reports::goals::{GoalRequest, Goals};
use candor::reports::rollups::Rollups;
use candor::reports::{parse_query, QueryRequest};
use candor::sites::Site;
use candor::store::synthetic::{self, Traffic};
use candor::store::{fetch, ChdbStore, Params, Store};
use serde_json::{json, Value};

const SITE: &str = "bench.example";

async fn count(store: &dyn Store, sql: &str) -> anyhow::Result<u64> {
    let rows: Vec<Value> = fetch(store, sql, &Params::new()).await?;
    Ok(rows.first().and_then(|r| r["c"].as_u64()).unwrap_or(0))
}

async fn seed(store: &ChdbStore, events: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    synthetic::seed(
        store,
        &Traffic {
            site: SITE,
            events,
            people: 50_000,
            end: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs() as i64,
            days: 30,
        },
    )
    .await?;
    let n = count(store, "SELECT count() AS c FROM events").await?;
    println!(
        "- seeded {n} events ({} sessions delta rows) from 50,000 visitors over 30 days in {:.1} s ({})",
        count(store, "SELECT count() AS c FROM sessions").await?,
        started.elapsed().as_secs_f64(),
        memory()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .get(1)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("usage: reports-bench <data-dir> [events]"))?;
    let events: u64 = args
        .get(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000_000);
    let path = std::path::Path::new(&dir).join("clickhouse");
    std::fs::create_dir_all(&path)?;
    // The engine's memory bound as `candor serve` takes it (CANDOR_STORE_MEMORY_MB, else the
    // default). Seeding 100 million events at once needs more than the default bound; the
    // seed can run in its own process (BENCH_SEED_ONLY) with a larger one.
    let bound = match std::env::var("CANDOR_STORE_MEMORY_MB") {
        Ok(mb) => candor::config::EngineMemory {
            total_bytes: mb.parse::<u64>()? << 20,
        },
        Err(_) => candor::config::EngineMemory::default(),
    };
    let store = ChdbStore::open_with(&candor_bench::libchdb(), &path, SqlLimits::default(), bound)?;
    migrate(&store, &Topology::default()).await?;
    println!("- store open and migrated ({})", memory());
    if count(&store, "SELECT count() AS c FROM events").await? == 0 {
        seed(&store, events).await?;
    }
    // BENCH_SEED_ONLY: leave the seeded store for another benchmark (`under-load.sh`).
    if std::env::var_os("BENCH_SEED_ONLY").is_some() {
        return Ok(());
    }
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(store);
    let goals = Goals::load(store.clone()).await?;
    if goals.list(SITE).is_empty() {
        for (e, p) in [(Some("Signup"), None), (None, Some("/page/1"))] {
            goals
                .create(
                    SITE,
                    GoalRequest {
                        event_name: e.map(String::from),
                        page_path: p.map(String::from),
                        display_name: None,
                    },
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    let site = candor_bench::site(SITE)?;
    let goal_list = goals.list(SITE);
    let queries = candor_bench::dashboard_queries(SITE);
    let raw = Engine {
        store: store.as_ref(),
        goals: &goal_list,
        rollups: None,
        imports: None,
        memo: None,
    };
    let (raw_totals, raw_means, raw_out) = time_queries(&raw, &site, &queries).await?;
    report("raw tables only", &raw_totals);

    let rollups = Rollups::load(store.clone()).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let started = Instant::now();
    let pass = rollups
        .build_pending(
            std::slice::from_ref(&site),
            &goals,
            now,
            Duration::from_secs(3600),
        )
        .await?;
    println!(
        "- daily rollups of the finished days: {} days built in {:.1} s ({})",
        pass.built,
        started.elapsed().as_secs_f64(),
        memory()
    );
    let rolled = Engine {
        store: store.as_ref(),
        goals: &goal_list,
        rollups: Some(&rollups),
        imports: None,
        memo: None,
    };
    let (totals, means, out) = time_queries(&rolled, &site, &queries).await?;
    report("with daily rollups", &totals);
    let (totals, batched) = time_batched(&rolled, &site, &queries).await?;
    report("with daily rollups, as one batch", &totals);
    println!(
        "- answers that differ between one by one and the batch: {:?}",
        differing(&queries, &out, &batched)
    );
    // Clicks on a row: every panel filtered. One source (the first figure kept since
    // session 3), a page, a country, a goal, a property value, and two filters at once. Each
    // of the single filters has filtered rollups: their visitors are also counted exactly,
    // with the filter as the SQL condition beside it.
    let filter_sets: Vec<(&str, Value, Option<&str>)> = vec![
        (
            "one source",
            json!([["is", "visit:source", ["Google"]]]),
            Some("referrer_source = 'Google'"),
        ),
        (
            "one page",
            json!([["is", "event:page", ["/page/1"]]]),
            Some("pathname = '/page/1'"),
        ),
        (
            "one country",
            json!([["is", "visit:country", ["DE"]]]),
            Some("country_code = 'DE'"),
        ),
        (
            "one goal",
            json!([["is", "event:goal", ["Signup"]]]),
            Some("name = 'Signup'"),
        ),
        (
            "one property value",
            json!([["is", "event:props:author", ["alice"]]]),
            Some("props['author'] = 'alice'"),
        ),
        (
            "a source and a country",
            json!([
                ["is", "visit:source", ["Google"]],
                ["is", "visit:country", ["DE"]]
            ]),
            None,
        ),
    ];
    let only: Option<String> = std::env::var("BENCH_FILTERS").ok();
    let mut filtered_means = vec![0f64; queries.len()];
    let mut per_set: Vec<(&str, Vec<f64>)> = Vec::new();
    for (i, (name, filters, condition)) in filter_sets.iter().enumerate() {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|x| x.trim() == *name))
            && i > 0
        {
            continue;
        }
        let filtered: Vec<(&'static str, Value)> = queries
            .iter()
            .map(|(label, body)| {
                let mut body = body.clone();
                body["filters"] = filters.clone();
                (*label, body)
            })
            .collect();
        // The raw tables as one batch, then with rollups (common values have filtered
        // rollups) as one batch, and one query at a time with rollups.
        let (totals, raw_batched) = time_batched(&raw, &site, &filtered).await?;
        report(
            &format!("filtered by {name}, raw tables, as one batch"),
            &totals,
        );
        let (totals, batched) = time_batched(&rolled, &site, &filtered).await?;
        report(
            &format!("filtered by {name}, with rollups, as one batch"),
            &totals,
        );
        println!(
            "- reports that read filtered rollups: {}/{}",
            planned(&rolled, &site, &filtered)?,
            filtered.len()
        );
        println!(
            "- answers that differ between the raw tables and rollups: {:?}",
            differing(&filtered, &raw_batched, &batched)
        );
        // Where they differ it is `uniq` again: the filtered visitors, counted exactly.
        if let Some(condition) = condition {
            let range = parse(&site, &filtered[0], unix_now())?.range;
            let exact = exact_visitors(
                store.as_ref(),
                &format!("FROM events WHERE timestamp >= toDateTime({{start:Int64}}) AND timestamp < toDateTime({{end:Int64}}) AND {condition}"),
                &range,
            )
            .await?;
            println!(
                "- visitors in 30 days under the filter: exact (uniqExact) {}, raw tables (uniq) {}, with rollups {}",
                exact,
                raw_batched[0].results[0].metrics[0],
                batched[0].results[0].metrics[0]
            );
        }
        let (totals, means, alone) = time_queries(&rolled, &site, &filtered).await?;
        report(
            &format!("filtered by {name}, with rollups, one query at a time"),
            &totals,
        );
        println!(
            "- answers that differ between one by one and the batch: {:?}",
            differing(&filtered, &alone, &batched)
        );
        // BENCH_ANSWERS=<dir>: each set's answers as text, to compare two builds' answers.
        if let Some(dir) = std::env::var_os("BENCH_ANSWERS") {
            let text: String = filtered
                .iter()
                .zip(&batched)
                .filter(|((label, _), _)| comparable(label))
                .map(|((label, _), out)| format!("## {label}\n{out:#?}\n"))
                .collect();
            std::fs::write(std::path::Path::new(&dir).join(format!("{name}.txt")), text)?;
        }
        if i == 0 {
            filtered_means = means.clone();
        }
        per_set.push((name, means));
    }
    // Same answers either way.
    println!(
        "- answers that differ between the two: {:?}",
        differing(&queries, &raw_out, &out)
    );
    // Where they differ it is ClickHouse's `uniq`: exact up to 65,536 distinct ids, an
    // estimate above. Each day's visitors (rolled up) are below that; a whole month's are not.
    let range = parse(&site, &queries[0], unix_now())?.range;
    let exact = exact_visitors(
        store.as_ref(),
        "FROM sessions WHERE start >= toDateTime({start:Int64}) AND start < toDateTime({end:Int64})",
        &range,
    )
    .await?;
    println!(
        "- visitors in 30 days: exact (uniqExact) {exact}, raw tables (uniq) {}, with rollups {}",
        raw_out[0].results[0].metrics[0], out[0].results[0].metrics[0]
    );
    println!();
    println!("| query | raw tables (ms) | with rollups (ms) | filtered by a source (ms) |");
    println!("|---|---|---|---|");
    for (i, (label, _)) in queries.iter().enumerate() {
        println!(
            "| {label} | {:.1} | {:.1} | {:.1} |",
            raw_means[i], means[i], filtered_means[i]
        );
    }
    println!();
    println!(
        "| query (ms, mean of warm runs) | {} |",
        per_set
            .iter()
            .map(|(n, _)| format!("filtered by {n}"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|{}", "---|".repeat(per_set.len()));
    for (i, (label, _)) in queries.iter().enumerate() {
        println!(
            "| {label} | {} |",
            per_set
                .iter()
                .map(|(_, m)| format!("{:.1}", m[i]))
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    Ok(())
}

/// One of the bench's request bodies as the engine's query at `now` (an error names its label).
fn parse(site: &Site, (label, body): &(&str, Value), now: i64) -> anyhow::Result<Query> {
    let req: QueryRequest = serde_json::from_value(body.clone())?;
    parse_query(&req, site, now).map_err(|e| anyhow::anyhow!("{label}: {e}"))
}

/// The clock's now, in Unix seconds.
fn unix_now() -> i64 {
    i64::from(candor::clock::Clock::system().unix_seconds())
}

/// `uniqExact(visitor_id)` of the bench site's rows of `from` (`FROM <table> WHERE <condition>`
/// with `{start:Int64}` and `{end:Int64}`) over `range`.
async fn exact_visitors(
    store: &dyn Store,
    from: &str,
    range: &candor::reports::dates::Range,
) -> anyhow::Result<u64> {
    let rows: Vec<Value> = fetch(
        store,
        &format!("SELECT uniqExact(visitor_id) AS c {from} AND site = {{site:String}}"),
        &Params::new()
            .with("site", SITE)
            .with("start", range.start)
            .with("end", range.end),
    )
    .await?;
    Ok(rows.first().and_then(|r| r["c"].as_u64()).unwrap_or(0))
}

/// How many of the queries read rollups for their main range.
fn planned(
    engine: &Engine<'_>,
    site: &Site,
    queries: &[(&'static str, Value)],
) -> anyhow::Result<usize> {
    let now = unix_now();
    let mut n = 0;
    for query in queries {
        let q = parse(site, query, now)?;
        if engine
            .rollups
            .and_then(|r| r.plan(&q, &q.range, engine.goals))
            .is_some()
        {
            n += 1;
        }
    }
    Ok(n)
}

/// BENCH_RUNS (default 5): the first run and the warm ones after it.
fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|r| *r >= 2)
        .unwrap_or(5)
}

/// Whether a query's answers can be compared between runs: realtime moves on between them.
fn comparable(label: &str) -> bool {
    label != "current visitors"
}

/// The labels of the comparable queries whose answers differ.
fn differing(queries: &[(&'static str, Value)], a: &[Output], b: &[Output]) -> Vec<&'static str> {
    queries
        .iter()
        .zip(a.iter().zip(b))
        .filter(|((label, _), (a, b))| comparable(label) && a != b)
        .map(|((label, _), _)| *label)
        .collect()
}

/// Runs the query set as one batch (`reports::batch`, as `POST /api/v2/query/batch` runs
/// it) BENCH_RUNS times; returns each run's total (s) and the last run's answers.
async fn time_batched(
    engine: &Engine<'_>,
    site: &Site,
    queries: &[(&'static str, Value)],
) -> anyhow::Result<(Vec<f64>, Vec<Output>)> {
    let runs = runs();
    let mut totals = Vec::new();
    let mut answers = Vec::new();
    let mut shared = (0, 0);
    for _ in 0..runs {
        answers.clear();
        let started = Instant::now();
        let now = unix_now();
        let parsed = queries
            .iter()
            .map(|query| parse(site, query, now))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let reports: Vec<_> = parsed.iter().map(|q| (q, engine.goals)).collect();
        let memo = candor::reports::batch::prefetch(engine.store, engine.rollups, &reports).await;
        let with_memo = Engine {
            memo: Some(&memo),
            ..*engine
        };
        for (q, (label, _)) in parsed.iter().zip(queries) {
            answers.push(
                with_memo
                    .run(q)
                    .await
                    .map_err(|e| anyhow::anyhow!("{label}: {e}"))?,
            );
        }
        totals.push(started.elapsed().as_secs_f64());
        shared = (memo.len(), memo.hits());
    }
    println!(
        "- the batch answered {} statements ahead, and the queries took {} answers from it",
        shared.0, shared.1
    );
    Ok((totals, answers))
}

/// Runs the query set five times; returns each run's total (s), each query's mean over the
/// warm runs (ms), and the last run's answers.
async fn time_queries(
    engine: &Engine<'_>,
    site: &Site,
    queries: &[(&'static str, Value)],
) -> anyhow::Result<(Vec<f64>, Vec<f64>, Vec<Output>)> {
    let runs = runs();
    let mut totals = Vec::new();
    let mut per_query = vec![0f64; queries.len()];
    let mut answers = Vec::new();
    for run in 0..runs {
        answers.clear();
        let started = Instant::now();
        for (i, query @ (label, _)) in queries.iter().enumerate() {
            let q = parse(site, query, unix_now())?;
            let t = Instant::now();
            let out = engine
                .run(&q)
                .await
                .map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
            if run > 0 {
                per_query[i] += t.elapsed().as_secs_f64() * 1000.0;
            }
            if run == 0 && i == 0 {
                println!("- top stats for 30 days: {:?}", out.results[0].metrics);
            }
            answers.push(out);
        }
        totals.push(started.elapsed().as_secs_f64());
    }
    let means = per_query.iter().map(|t| t / (runs - 1) as f64).collect();
    Ok((totals, means, answers))
}

fn report(label: &str, totals: &[f64]) {
    println!(
        "- full dashboard query set, 30 days, {label}: first run {:.3} s; then {} ({})",
        totals[0],
        totals[1..]
            .iter()
            .map(|t| format!("{t:.3} s"))
            .collect::<Vec<_>>()
            .join(", "),
        memory()
    );
}

/// The process's resident size now and at its peak so far (`VmRSS`, `VmHWM`).
fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            .map(|kb| format!("{} MB", kb / 1024))
            .unwrap_or_else(|| "?".into())
    };
    format!("RSS {}, peak so far {}", field("VmRSS:"), field("VmHWM:"))
}
