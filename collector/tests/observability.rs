//! `/metrics` as operators read it: every series the collector exports is documented in the
//! README's metrics table, and every series the Grafana dashboard (`deploy/grafana/candor.json`)
//! asks for is one the collector exports.

mod common;

use std::collections::BTreeSet;

use actix_web::test::TestRequest;
use serde_json::{json, Value};

/// The README's metrics table: the text between its markers.
fn readme_table() -> String {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("<!-- metrics table -->")
        .expect("README.md has the metrics table's start marker");
    let end = readme
        .find("<!-- end of metrics table -->")
        .expect("and its end marker");
    readme[start..end].to_string()
}

#[actix_rt::test]
async fn every_metrics_series_is_documented_and_the_dashboard_asks_for_existing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let state = candor::serve::build_state(common::config(dir.path(), &[]))
        .await
        .unwrap();
    let bg = candor::serve::Background::start(&state);
    let app = test_app!(state);
    // A stored beacon, a dropped one and a scrape, so that the series with labels have one.
    common::beacon(
        &app,
        "example.com",
        1,
        common::CHROME,
        "pageview",
        "/",
        json!({}),
    )
    .await;
    let (status, _, _) = common::send(
        &app,
        TestRequest::post()
            .uri("/api/event")
            .peer_addr("198.51.100.2:4000".parse().unwrap())
            .insert_header(("DNT", "1"))
            .insert_header(("Content-Type", "text/plain"))
            .set_payload(json!({"site": "example.com", "url": "https://example.com/"}).to_string()),
    )
    .await;
    assert_eq!(status, actix_web::http::StatusCode::NO_CONTENT);
    let (_, _, _) = common::send(&app, TestRequest::get().uri("/metrics")).await;
    // The engine's own memory is read with the other periodic refreshes (every 5 s, the
    // first at start): what it tracks as in use is never nothing.
    let tracked = || {
        state
            .metrics
            .render()
            .lines()
            .find_map(|l| l.strip_prefix("candor_store_memory_bytes{kind=\"tracked\"} "))
            .and_then(|v| v.parse::<f64>().ok())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while tracked().is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        tracked().is_some_and(|v| v > 0.0),
        "{}",
        state.metrics.render()
    );
    let text = state.metrics.render();
    bg.shutdown(&state, std::time::Duration::from_secs(5)).await;

    // Every family the collector exports (`# TYPE name kind`).
    let exported: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    for name in [
        "candor_http_requests_total",
        "candor_ingest_dropped_total",
        "candor_spool_bytes",
        "candor_process_open_fds",
        "candor_process_resident_memory_bytes",
        "candor_store_memory_bytes",
    ] {
        assert!(exported.contains(name), "{name} is exported: {exported:?}");
    }
    let table = readme_table();
    let undocumented: Vec<&String> = exported
        .iter()
        .filter(|n| !table.contains(&format!("`{n}`")))
        .collect();
    assert!(
        undocumented.is_empty(),
        "README.md's metrics table lacks {undocumented:?}"
    );

    // Every series the dashboard's queries name, histogram suffixes taken off.
    let dashboard: Value =
        serde_json::from_str(include_str!("../../deploy/grafana/candor.json")).unwrap();
    let mut asked = BTreeSet::new();
    let series = regex::Regex::new(r"candor_[a-z_]+").unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for m in series.find_iter(expr) {
                let name = m.as_str();
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .filter(|b| exported.contains(*b))
                    .unwrap_or(name);
                asked.insert(base.to_string());
            }
        }
    }
    let unknown: Vec<&String> = asked.iter().filter(|n| !exported.contains(*n)).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard asks for series the collector does not export: {unknown:?}"
    );
    assert!(
        asked.len() >= 15,
        "the dashboard covers the metrics: {asked:?}"
    );
}
