//! Reports under ingest (`tests/bench/under-load.sh`): the dashboard's 30-day view over HTTP,
//! again and again for a while, as a browser loads it: its 18 queries in one
//! `POST /api/v2/query/batch`, as the dashboard sends a view, or with `BENCH_ONE_BY_ONE` one
//! request each with at most 6 in flight, as it sent them before.
//! Prints the views' wall times (median, 90th percentile, slowest) and, from the server's
//! `/metrics`, the beacons it accepted and the rows its store confirmed in the same window.
//!
//! Usage: under-load <host:port> <seconds> [filters-json] (environment: BENCH_TOKEN, a token
//! of the server that may read the site `bench.example`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

const SITE: &str = "bench.example";
const IN_FLIGHT: usize = 6;

async fn counter(http: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<f64> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0))
}

async fn view(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    queries: &Arc<Vec<Value>>,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    if std::env::var_os("BENCH_ONE_BY_ONE").is_none() {
        let r = http
            .post(format!("{base}/api/v2/query/batch"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "queries": queries.as_slice() }))
            .send()
            .await?;
        let status = r.status();
        let out: Value = r.json().await?;
        anyhow::ensure!(status.is_success(), "{status}: {out}");
        for result in out["results"].as_array().into_iter().flatten() {
            anyhow::ensure!(result["status"] == 200, "{result}");
        }
        return Ok(started.elapsed().as_secs_f64());
    }
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut lanes = Vec::new();
    for _ in 0..IN_FLIGHT {
        let (http, next, queries) = (http.clone(), next.clone(), queries.clone());
        let (url, token) = (format!("{base}/api/v2/query"), token.to_string());
        lanes.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(body) = queries.get(i) else { break };
                let r = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(body)
                    .send()
                    .await?;
                let status = r.status();
                let text = r.text().await?;
                anyhow::ensure!(status.is_success(), "{status}: {text}");
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for lane in lanes {
        lane.await??;
    }
    Ok(started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() >= 3,
        "usage: under-load <host:port> <seconds> [filters-json]"
    );
    let base = format!("http://{}", args[1]);
    let seconds: u64 = args[2].parse()?;
    let filters: Option<Value> = args.get(3).map(|f| serde_json::from_str(f)).transpose()?;
    let token = std::env::var("BENCH_TOKEN")?;
    let queries: Vec<Value> = candor_bench::dashboard_queries(SITE)
        .into_iter()
        .map(|(_, mut body)| {
            if let Some(f) = &filters {
                body["filters"] = f.clone();
            }
            body
        })
        .collect();
    let queries = Arc::new(queries);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;

    let accepted = counter(&http, &base, "candor_ingest_accepted_total").await?;
    let stored = counter(&http, &base, "candor_store_rows_inserted_total").await?;
    let started = Instant::now();
    let mut times = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) || times.is_empty() {
        times.push(view(&http, &base, &token, &queries).await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let accepted = counter(&http, &base, "candor_ingest_accepted_total").await? - accepted;
    let stored = counter(&http, &base, "candor_store_rows_inserted_total").await? - stored;
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    println!(
        "views {}|median {:.3} s|p90 {:.3} s|max {:.3} s|beacons accepted {:.0}/s|rows stored {:.0}/s",
        times.len(),
        at(0.5),
        at(0.9),
        at(1.0),
        accepted / elapsed,
        stored / elapsed
    );
    Ok(())
}
