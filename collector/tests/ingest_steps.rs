//! `/metrics` times every ingestion step under its own name, the names the README's "how an
//! event is handled" lists, and keeps the step names dashboards scraped before.

mod common;

use std::net::SocketAddr;

use actix_web::test;
use candor::serve::{build_state, Background};
use serde_json::json;

use common::CHROME;

/// The `_count` of `candor_ingest_step_seconds` for a step.
fn step_count(metrics: &str, step: &str) -> u64 {
    let prefix = format!("candor_ingest_step_seconds_count{{step=\"{step}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no step {step} in /metrics"))
}

#[actix_rt::test]
async fn every_ingestion_step_is_timed_under_its_own_name() {
    let dir = tempfile::tempdir().unwrap();
    let state = build_state(common::config(dir.path(), &[])).await.unwrap();
    let _bg = Background::start(&state);
    let app = test_app!(state);
    let (status, _, _) = common::send(
        &app,
        test::TestRequest::post()
            .uri("/api/event")
            .peer_addr("198.51.100.7:40000".parse::<SocketAddr>().unwrap())
            .insert_header(("User-Agent", CHROME))
            .insert_header(("Content-Type", "text/plain"))
            .set_payload(
                json!({"site": "example.com", "url": "https://example.com/?utm_source=news", "referrer": "https://www.google.com/"})
                    .to_string(),
            ),
    )
    .await;
    assert_eq!(status, 202);
    let (_, _, metrics) = common::send(&app, test::TestRequest::get().uri("/metrics")).await;
    let metrics = metrics.as_str().expect("Prometheus text");
    // The README's steps, in order, each run once for the first event of a visit.
    for step in [
        "validate",
        "user_agent",
        "drop_rules",
        "event",
        "referrer",
        "geo",
        "organisation",
        "hash",
        "session",
        "spool",
    ] {
        assert_eq!(step_count(metrics, step), 1, "{step}");
    }
    // Names scraped before the steps were split.
    for step in ["enrich", "encode"] {
        assert_eq!(step_count(metrics, step), 1, "{step}");
    }
}
