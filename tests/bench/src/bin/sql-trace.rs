//! Where a report's time goes, statement by statement, on a store `reports-bench` seeded.
//!
//!   sql-trace <data-dir> dump <filters-json> <out.jsonl>
//!       runs the dashboard's 18 queries (30 days, raw tables) with `filters` through the
//!       report engine and writes every statement it sends, with its parameters, the panel
//!       and its time, one JSON object per line;
//!   sql-trace <data-dir> run <in.jsonl> [runs]
//!       runs each statement of such a file `runs` times (default 5) and prints the median.
//!
//! The second mode lets a statement be rewritten by hand and timed without a rebuild.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use candor::config::SqlLimits;
use candor::reports::engine::Engine;
use candor::reports::goals::Goals;
use candor::reports::{parse_query, QueryRequest};
use candor::store::{ChdbStore, InsertOptions, Params, Store, StoreError};
use serde_json::{json, Value};

const SITE: &str = "bench.example";

/// A store that records each query's text, parameters and time.
struct Traced {
    inner: ChdbStore,
    log: Mutex<Vec<Value>>,
    panel: Mutex<String>,
}

#[async_trait]
impl Store for Traced {
    fn engine(&self) -> candor::store::Engine {
        self.inner.engine()
    }
    async fn execute(&self, sql: &str, params: &Params) -> Result<(), StoreError> {
        self.inner.execute(sql, params).await
    }
    async fn query(&self, sql: &str, params: &Params, format: &str) -> Result<Bytes, StoreError> {
        let t = Instant::now();
        let out = self.inner.query(sql, params, format).await;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.log.lock().unwrap().push(json!({
            "panel": self.panel.lock().unwrap().clone(),
            "ms": ms,
            "text": sql,
            "params": params,
        }));
        out
    }
    async fn insert(
        &self,
        table: &str,
        format: &str,
        data: Bytes,
        options: &InsertOptions,
    ) -> Result<(), StoreError> {
        self.inner.insert(table, format, data, options).await
    }
    async fn query_readonly(
        &self,
        sql: &str,
        params: &Params,
        format: &str,
    ) -> Result<Bytes, StoreError> {
        self.inner.query_readonly(sql, params, format).await
    }
    async fn inspect(&self, sql: &str, params: &Params, format: &str) -> Result<Bytes, StoreError> {
        self.inner.inspect(sql, params, format).await
    }
}

/// A statement of a `dump` file: its text and parameters.
fn statement(entry: &Value) -> (String, Params) {
    let mut params = Params::new();
    for p in entry["params"].as_array().into_iter().flatten() {
        params.push_raw(
            p[0].as_str().unwrap_or_default(),
            p[1].as_str().unwrap_or_default().to_string(),
        );
    }
    let text = entry["text"].as_str().unwrap_or_default().to_string();
    (text, params)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        anyhow::bail!(
            "usage: sql-trace <data-dir> dump <filters-json> <out.jsonl> | run <in.jsonl> [runs]"
        );
    }
    let path = std::path::Path::new(&args[1]).join("clickhouse");
    if args[2] == "probe" {
        // sql-trace <dir> probe <sql> [--setting=value ...]: one connection with these
        // engine arguments, to see which settings the embedded engine takes.
        let settings: Vec<(String, String)> = args[4..]
            .iter()
            .filter_map(|a| a.trim_start_matches("--").split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let conn = candor::store::ChdbConnection::open(
            &candor_bench::libchdb(),
            &path,
            "probe",
            &settings,
        )?;
        let out = conn.query(&args[3], &Params::new(), "TabSeparated").await?;
        print!("{}", String::from_utf8_lossy(&out));
        return Ok(());
    }
    if args[2] == "conc" {
        // sql-trace <dir> conc <in.jsonl> <connections>: the file's panels (each panel's
        // statements in order) over that many connections at once; the wall time of the set.
        let k: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(2);
        let mut conns = Vec::new();
        for i in 0..k {
            conns.push(Arc::new(candor::store::ChdbConnection::open(
                &candor_bench::libchdb(),
                &path,
                &format!("conc-{i}"),
                &std::env::var("BENCH_ARGS")
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<Vec<_>>(),
            )?));
        }
        let mut panels: Vec<(String, Vec<(String, Params)>)> = Vec::new();
        for line in std::fs::read_to_string(&args[3])?.lines() {
            let entry: Value = serde_json::from_str(line)?;
            let panel = entry["panel"].as_str().unwrap_or_default().to_string();
            if panel.is_empty() {
                continue;
            }
            let (sql, params) = statement(&entry);
            match panels.last_mut() {
                Some((p, list)) if *p == panel => list.push((sql, params)),
                _ => panels.push((panel, vec![(sql, params)])),
            }
        }
        let panels = Arc::new(panels);
        for round in 0..5 {
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let started = Instant::now();
            let mut tasks = Vec::new();
            for c in &conns {
                let (c, next, panels) = (c.clone(), next.clone(), panels.clone());
                tasks.push(tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some((_, list)) = panels.get(i) else {
                            break;
                        };
                        for (sql, params) in list {
                            c.query(sql, params, "JSONCompactEachRow").await?;
                        }
                    }
                    Ok::<(), anyhow::Error>(())
                }));
            }
            for t in tasks {
                t.await??;
            }
            println!(
                "round {round}: {k} connections, {:.3} s",
                started.elapsed().as_secs_f64()
            );
        }
        return Ok(());
    }
    let store = ChdbStore::open(&candor_bench::libchdb(), &path, SqlLimits::default())?;
    match args[2].as_str() {
        "dump" => {
            let filters: Value = serde_json::from_str(&args[3])?;
            let out = args.get(4).ok_or_else(|| anyhow::anyhow!("out file"))?;
            let traced = Arc::new(Traced {
                inner: store,
                log: Mutex::new(Vec::new()),
                panel: Mutex::new(String::new()),
            });
            let as_store: Arc<dyn Store> = traced.clone();
            let goals = Goals::load(as_store.clone()).await?;
            let goal_list = goals.list(SITE);
            let engine = Engine {
                store: as_store.as_ref(),
                goals: &goal_list,
                rollups: None,
                imports: None,
                memo: None,
            };
            let site = candor_bench::site(SITE)?;
            let queries = candor_bench::dashboard_queries(SITE);
            let now = i64::from(candor::clock::Clock::system().unix_seconds());
            let mut parsed = Vec::new();
            for (label, body) in &queries {
                let mut body = body.clone();
                body["filters"] = filters.clone();
                let req: QueryRequest = serde_json::from_value(body)?;
                parsed.push(
                    parse_query(&req, &site, now).map_err(|e| anyhow::anyhow!("{label}: {e}"))?,
                );
            }
            // BATCH=1: as `POST /api/v2/query/batch` runs the view, the shared statements
            // first (panel "batch").
            let memo = if std::env::var_os("BATCH").is_some() {
                *traced.panel.lock().unwrap() = "batch".into();
                let reports: Vec<_> = parsed.iter().map(|q| (q, goal_list.as_slice())).collect();
                Some(candor::reports::batch::prefetch(as_store.as_ref(), None, &reports).await)
            } else {
                None
            };
            let engine = Engine {
                memo: memo.as_ref(),
                ..engine
            };
            for ((label, _), q) in queries.iter().zip(&parsed) {
                *traced.panel.lock().unwrap() = label.to_string();
                engine
                    .run(q)
                    .await
                    .map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
            }
            let log = traced.log.lock().unwrap();
            let mut file = String::new();
            for entry in log.iter() {
                println!(
                    "{:>8.1} ms  {:<28} {}",
                    entry["ms"].as_f64().unwrap_or(0.0),
                    entry["panel"].as_str().unwrap_or(""),
                    entry["text"]
                        .as_str()
                        .unwrap_or("")
                        .chars()
                        .take(110)
                        .collect::<String>()
                        .replace('\n', " ")
                );
                file.push_str(&entry.to_string());
                file.push('\n');
            }
            std::fs::write(out, file)?;
        }
        "run" => {
            let runs: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(5);
            let text = std::fs::read_to_string(&args[3])?;
            let mut total = 0.0;
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let entry: Value = serde_json::from_str(line)?;
                let (sql, params) = statement(&entry);
                let sql = sql.as_str();
                let mut times = Vec::new();
                let mut rows = 0;
                for _ in 0..runs {
                    let t = Instant::now();
                    let out = store.query(sql, &params, "JSONCompactEachRow").await?;
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                    rows = out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
                }
                if std::env::var_os("SHOW").is_some() {
                    let out = store.query(sql, &params, "TabSeparated").await?;
                    print!("{}", String::from_utf8_lossy(&out));
                }
                let m = median(times);
                total += m;
                println!(
                    "{m:>8.1} ms  {rows:>5} rows  {:<28} {}",
                    entry["panel"].as_str().unwrap_or(""),
                    sql.chars().take(100).collect::<String>().replace('\n', " ")
                );
            }
            println!("{total:>8.1} ms  total of medians");
        }
        other => anyhow::bail!("unknown mode {other}"),
    }
    Ok(())
}
