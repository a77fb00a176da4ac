//! `make bench-reports`: seeds `events` and `sessions` in embedded chDB with N events (default
//! 10 million) over the last 30 days from 50,000 visitors, shaped like real traffic (visits
//! of 1 to 15 events with one source, location and device each; log-uniform page
//! popularity; one sessions delta row per event, as the collector writes them), then times
//! the dashboard's full query set for the 30-day period through the report engine.
//!
//!   reports-bench <data-dir> [events]

use std::time::Instant;

use candor::config::SqlLimits;
use candor::reports::engine::Engine;
use candor::reports::goals::{GoalRequest, Goals};
use candor::reports::{parse_query, QueryRequest};
use candor::sites::{Site, SiteDomain};
use candor::store::migrations::{migrate, Topology};
use candor::store::{fetch, ChdbStore, Params, Store};
use serde_json::{json, Value};

const SITE: &str = "bench.example";

/// One session per `s`; its events expand with ARRAY JOIN. Shared by both inserts so the
/// delta rows describe exactly the events.
const SESSIONS: &str = "
    SELECT s, h, visitor, start, len, k,
           start + toIntervalSecond(k * 40 + (cityHash64(s, k) % 30)) AS ts,
           if(k = len - 1 AND h % 5 = 0, ['Signup', 'Download'][1 + bitShiftRight(h, 3) % 2], 'pageview') AS name,
           concat('/page/', toString(toUInt32(floor(exp(log(300) * ((cityHash64(s, k) % 10000) / 10000.0)))))) AS path,
           concat('/page/', toString(toUInt32(floor(exp(log(300) * ((cityHash64(s, 0) % 10000) / 10000.0)))))) AS entry,
           ['', '', 'google.com/search', 'google.com/search', 'news.ycombinator.com/item', 't.co/x', 'duckduckgo.com', 'github.com/candor'][1 + h % 8] AS referrer,
           ['', '', 'Google', 'Google', 'Hacker News', 'Twitter', 'DuckDuckGo', 'github.com'][1 + h % 8] AS source,
           ['direct', 'direct', 'search', 'search', 'social', 'social', 'search', 'referral'][1 + h % 8] AS channel,
           if(bitShiftRight(h, 5) % 9 = 0, 'newsletter', '') AS utm_source,
           if(bitShiftRight(h, 5) % 9 = 0, 'email', '') AS utm_medium,
           if(bitShiftRight(h, 5) % 9 = 0, concat('campaign-', toString(bitShiftRight(h, 9) % 12)), '') AS utm_campaign,
           ['DE', 'US', 'US', 'FR', 'GB', 'JP', 'BR', 'IN', 'NL', 'SE'][1 + bitShiftRight(h, 12) % 10] AS country,
           concat(country, '-', toString(bitShiftRight(h, 16) % 8)) AS region,
           concat('City ', toString(bitShiftRight(h, 16) % 60)) AS city,
           if(bitShiftRight(h, 20) % 6 = 0, concat('Example Org ', toString(bitShiftRight(h, 23) % 200)), '') AS org,
           ['Chrome', 'Chrome', 'Safari', 'Firefox', 'Edge'][1 + bitShiftRight(h, 28) % 5] AS browser,
           ['Windows', 'Mac OS X', 'iOS', 'Android', 'Linux'][1 + bitShiftRight(h, 31) % 5] AS os,
           ['desktop', 'desktop', 'mobile', 'tablet'][1 + bitShiftRight(h, 34) % 4] AS device
    FROM (
        SELECT number AS s, cityHash64(number) AS h, number % 50000 AS visitor,
               toDateTime(toUnixTimestamp(now()) - 30 * 86400 + intDiv(number * (30 * 86400 - 3600), {sessions:UInt64})) AS start,
               1 + h % 15 AS len
        FROM numbers({sessions:UInt64})
    ) ARRAY JOIN range(len) AS k";

fn libchdb() -> std::path::PathBuf {
    std::env::var_os("CANDOR_LIBCHDB")
        .map(Into::into)
        .unwrap_or_else(candor::config::default_libchdb_path)
}

async fn count(store: &dyn Store, sql: &str) -> anyhow::Result<u64> {
    let rows: Vec<Value> = fetch(store, sql, &Params::new()).await?;
    Ok(rows.first().and_then(|r| r["c"].as_u64()).unwrap_or(0))
}

async fn seed(store: &ChdbStore, events: u64) -> anyhow::Result<()> {
    // Sessions average 8 events.
    let p = Params::new().with("sessions", events / 8);
    let started = Instant::now();
    store
        .execute(
            &format!(
                "INSERT INTO events (event_id, timestamp, site, name, hostname, pathname, referrer, referrer_source, channel,
                                     utm_source, utm_medium, utm_campaign, country_code, region, city, org, browser, os, device,
                                     screen_width, visitor_id, session_id, consent, retention_days)
                 SELECT generateUUIDv4(), ts, '{SITE}', name, '{SITE}', path, referrer, source, channel, utm_source, utm_medium,
                        utm_campaign, country, region, city, org, browser, os, device, 1280, cityHash64('v', visitor), s + 1, 'none', 400
                 FROM ({SESSIONS})"
            ),
            &p,
        )
        .await?;
    store
        .execute(
            &format!(
                "INSERT INTO sessions (site, day, session_id, visitor_id, start, end, pageviews, events, engaged_ms, entry_page, exit,
                                       visitor_key, hostname, referrer, referrer_source, channel, utm_source, utm_medium, utm_campaign,
                                       utm_content, utm_term, country_code, region, city, org, browser, browser_version, os, os_version,
                                       device, retention_days)
                 SELECT '{SITE}', toDate(start), s + 1, cityHash64('v', visitor), start, ts, name = 'pageview', 1, 0, entry,
                        (toUInt32(if(name = 'pageview', k + 1, 0)), if(name = 'pageview', path, '')), '', '{SITE}', referrer, source,
                        channel, utm_source, utm_medium, utm_campaign, '', '', country, region, city, org, browser, '', os, '', device, 400
                 FROM ({SESSIONS})"
            ),
            &p,
        )
        .await?;
    let n = count(store, "SELECT count() AS c FROM events").await?;
    println!(
        "- seeded {n} events ({} sessions delta rows) from 50,000 visitors over 30 days in {:.1} s",
        count(store, "SELECT count() AS c FROM sessions").await?,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What the dashboard asks for when it opens a 30-day view.
fn dashboard_queries() -> Vec<(&'static str, Value)> {
    let q = |metrics: Value, dims: Value| json!({"site_id": SITE, "metrics": metrics, "date_range": "30d", "dimensions": dims, "pagination": {"limit": 9}});
    let mut top = q(
        json!([
            "visitors",
            "visits",
            "pageviews",
            "views_per_visit",
            "bounce_rate",
            "visit_duration"
        ]),
        json!([]),
    );
    top["include"] = json!({"comparisons": {"mode": "previous_period"}});
    let mut chart = q(json!(["visitors"]), json!(["time:day"]));
    chart["include"] = json!({"time_labels": true});
    let mut out = vec![
        ("top stats + previous period", top),
        ("chart by day", chart),
    ];
    for (label, dim) in [
        ("channels", "visit:channel"),
        ("sources", "visit:source"),
        ("referrers", "visit:referrer"),
        ("utm sources", "visit:utm_source"),
        ("top pages", "event:page"),
        ("entry pages", "visit:entry_page"),
        ("exit pages", "visit:exit_page"),
        ("countries", "visit:country"),
        ("regions", "visit:region"),
        ("cities", "visit:city"),
        ("devices", "visit:device"),
        ("browsers", "visit:browser"),
        ("operating systems", "visit:os"),
        ("organisations", "visit:org"),
    ] {
        let metrics = match dim {
            "event:page" => json!(["visitors", "pageviews"]),
            "visit:entry_page" | "visit:exit_page" => json!(["visits"]),
            _ => json!(["visitors"]),
        };
        out.push((label, q(metrics, json!([dim]))));
    }
    out.push((
        "goals",
        q(
            json!(["visitors", "events", "conversion_rate"]),
            json!(["event:goal"]),
        ),
    ));
    let mut live = q(json!(["visitors"]), json!([]));
    live["date_range"] = json!("realtime");
    out.push(("current visitors", live));
    out
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
    let store = ChdbStore::open(&libchdb(), &path, SqlLimits::default())?;
    migrate(&store, &Topology::default()).await?;
    if count(&store, "SELECT count() AS c FROM events").await? == 0 {
        seed(&store, events).await?;
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
    let site = Site {
        domain: SiteDomain::parse(SITE)?,
        timezone: "UTC".into(),
        retention_days: 400,
        allowed_origins: vec![],
        exclude_paths: vec![],
        exclude_ips: vec![],
        created_at: 0,
        consent_version: "1".into(),
        lead_scoring: Default::default(),
    };
    let goal_list = goals.list(SITE);
    let engine = Engine {
        store: store.as_ref(),
        goals: &goal_list,
    };
    let queries = dashboard_queries();
    let mut totals = Vec::new();
    let mut per_query = vec![0f64; queries.len()];
    let runs = 5;
    for run in 0..runs {
        let started = Instant::now();
        for (i, (label, body)) in queries.iter().enumerate() {
            let req: QueryRequest = serde_json::from_value(body.clone())?;
            let q = parse_query(&req, &site).map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
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
        }
        totals.push(started.elapsed().as_secs_f64());
    }
    println!(
        "- full dashboard query set ({} queries), 30 days: first run {:.3} s; then {}",
        queries.len(),
        totals[0],
        totals[1..]
            .iter()
            .map(|t| format!("{t:.3} s"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!();
    println!("| query | mean of warm runs (ms) |");
    println!("|---|---|");
    for (i, (label, _)) in queries.iter().enumerate() {
        println!("| {label} | {:.1} |", per_query[i] / (runs - 1) as f64);
    }
    Ok(())
}
