//! Shared test setup: a real collector state on embedded chDB in a temporary directory.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use candor::config::{Config, Layers};

pub mod fixture;
pub mod front;

pub const ADMIN: &str = "test-admin-token-0123456789abcdefghijklmnop";

/// Browsers' user agents (not bots), for beacons in tests.
pub const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
pub const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

/// A test database `make fixtures` wrote (GeoIP and ASN `.mmdb`), as a path string.
pub fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// `[[dims..., metrics...], ...]` of a v2 answer, for compact assertions.
pub fn rows(body: &serde_json::Value) -> Vec<Vec<serde_json::Value>> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut v = r["dimensions"].as_array().unwrap().clone();
            v.extend(r["metrics"].as_array().unwrap().iter().cloned());
            v
        })
        .collect()
}

pub fn libchdb() -> PathBuf {
    std::env::var_os("CANDOR_LIBCHDB")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(candor::config::default_libchdb_path())
        })
}

pub fn config(data_dir: &Path, extra: &[(&str, &str)]) -> Config {
    let mut pairs: Vec<(String, String)> = vec![
        ("CANDOR_DATA_DIR".into(), data_dir.display().to_string()),
        ("CANDOR_LIBCHDB".into(), libchdb().display().to_string()),
        ("CANDOR_ADMIN_TOKEN".into(), ADMIN.into()),
        ("CANDOR_SITES".into(), "example.com".into()),
    ];
    for (k, v) in extra {
        pairs.retain(|(pk, _)| pk != k);
        pairs.push((k.to_string(), v.to_string()));
    }
    Config::from_layers(&Layers::from_env_pairs(pairs)).expect("valid test config")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An in-process app on a state (actix test service), with request metrics like `serve`.
#[macro_export]
macro_rules! test_app {
    ($state:expr) => {
        actix_web::test::init_service(
            actix_web::App::new()
                .wrap_fn(candor::http::record_metrics)
                .configure(candor::http::configure($state.clone())),
        )
        .await
    };
}

/// Sends a request; returns the status, the `Set-Cookie` values and the body as JSON (a JSON
/// string when it is not JSON, null when empty).
pub async fn send(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    req: actix_web::test::TestRequest,
) -> (actix_web::http::StatusCode, Vec<String>, serde_json::Value) {
    let resp = actix_web::test::call_service(app, req.to_request()).await;
    let status = resp.status();
    let cookies = resp
        .headers()
        .get_all(actix_web::http::header::SET_COOKIE)
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let body = actix_web::test::read_body(resp).await;
    let value = if body.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::String(
            String::from_utf8_lossy(&body).into(),
        ))
    };
    (status, cookies, value)
}

/// The v2 answer to `body` for `site` (asserting a 200).
pub async fn answer(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    site: &str,
    mut body: serde_json::Value,
) -> serde_json::Value {
    body["site_id"] = serde_json::json!(site);
    let (status, _, out) = send(
        app,
        actix_web::test::TestRequest::post()
            .uri("/api/v2/query")
            .insert_header(bearer(ADMIN))
            .set_json(&body),
    )
    .await;
    assert_eq!(status, actix_web::http::StatusCode::OK, "{body}: {out}");
    out
}

/// A beacon as a browser sends it, one client address per `visitor`.
pub async fn beacon(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    site: &str,
    visitor: u8,
    user_agent: &str,
    name: &str,
    path: &str,
    props: serde_json::Value,
) {
    let (status, _, out) = send(
        app,
        actix_web::test::TestRequest::post()
            .uri("/api/event")
            .peer_addr(format!("198.51.100.{visitor}:4000").parse().unwrap())
            .insert_header(("Content-Type", "text/plain"))
            .insert_header(("User-Agent", user_agent))
            .set_payload(
                serde_json::json!({"site": site, "name": name, "url": format!("https://{site}{path}"), "props": props})
                    .to_string(),
            ),
    )
    .await;
    assert_eq!(status, actix_web::http::StatusCode::ACCEPTED, "{out}");
}

/// Creates a goal of `site` through the admin API (asserting a 201).
pub async fn goal(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    site: &str,
    body: serde_json::Value,
) {
    let (status, _, out) = send(
        app,
        actix_web::test::TestRequest::post()
            .uri(&format!("/api/v1/sites/{site}/goals"))
            .insert_header(bearer(ADMIN))
            .set_json(body),
    )
    .await;
    assert_eq!(status, actix_web::http::StatusCode::CREATED, "{out}");
}

pub fn bearer(token: &str) -> (&'static str, String) {
    ("Authorization", format!("Bearer {token}"))
}

/// A spool record of one page view at `at` that starts its visit (`session_id`) on `path`.
pub fn page_view_record(
    visitor_id: u64,
    session_id: u64,
    path: &str,
    at: u32,
) -> candor::pipeline::Record {
    use candor::pipeline::sessions::{Attribution, SessionDelta};
    use candor::pipeline::{EventRow, Record};
    let attribution = std::sync::Arc::new(Attribution {
        hostname: "example.com".into(),
        browser: "Chrome".into(),
        ..Default::default()
    });
    Record {
        event: EventRow {
            event_id: uuid::Uuid::new_v4(),
            timestamp: at,
            site: "example.com".into(),
            name: "pageview".into(),
            hostname: "example.com".into(),
            pathname: path.into(),
            attribution: attribution.clone(),
            screen_width: 1440,
            visitor_id,
            session_id,
            consent: "none",
            retention_days: 400,
            // Columns added later take their zero value unless a test sets them.
            ..Default::default()
        },
        session: SessionDelta {
            session_id,
            start: at,
            end: at,
            pageviews: 1,
            events: 1,
            entry_page: path.into(),
            exit: (1, path.into()),
            attribution,
            ..Default::default()
        },
    }
}

/// A spool frame: `[length u32 LE][crc32c u32 LE][payload]`.
pub fn spool_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// Waits (up to 30 s) until the store holds `n` events, and fails the test if it does not.
pub async fn events_stored(state: &candor::http::AppState, n: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let rows: Vec<serde_json::Value> = candor::store::fetch(
            state.store.as_ref(),
            "SELECT count() AS c FROM events",
            &candor::store::Params::new(),
        )
        .await
        .unwrap();
        if rows[0]["c"] == serde_json::json!(n) || std::time::Instant::now() > deadline {
            assert_eq!(rows[0]["c"], serde_json::json!(n), "every event stored");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
