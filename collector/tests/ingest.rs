//! `POST /api/event` on a real embedded store: every status of the contract, the privacy gate,
//! Plausible payloads, and daily visitor-id salts.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{test, App};
use candor::http::{self, AppState};
use candor::serve::{build_state, Background};
use candor::store::{fetch, Params};
use serde::Deserialize;
use serde_json::{json, Value};

use common::{CHROME, FIREFOX};

async fn setup(dir: &std::path::Path, extra: &[(&str, &str)]) -> (AppState, Background) {
    let mut pairs = vec![("CANDOR_BATCH_INTERVAL_MS", "100")];
    pairs.extend_from_slice(extra);
    let state = build_state(common::config(dir, &pairs)).await.unwrap();
    let bg = Background::start(&state);
    (state, bg)
}

fn beacon(body: Value) -> test::TestRequest {
    test::TestRequest::post()
        .uri("/api/event")
        .peer_addr("198.51.100.7:40000".parse::<SocketAddr>().unwrap())
        .insert_header(("User-Agent", CHROME))
        .insert_header(("Content-Type", "text/plain"))
        .set_payload(body.to_string())
}

fn page(path: &str) -> Value {
    json!({"site": "example.com", "url": format!("https://example.com{path}")})
}

#[derive(Deserialize)]
struct Count {
    c: u64,
}

async fn count(state: &AppState, sql: &str) -> u64 {
    fetch::<Count>(state.store.as_ref(), sql, &Params::new())
        .await
        .unwrap()[0]
        .c
}

/// Waits until `sql` counts `want` rows (the batcher delivers within about a second).
async fn wait_for(state: &AppState, sql: &str, want: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = count(state, sql).await;
        if n >= want || Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

macro_rules! app {
    ($state:expr) => {
        test::init_service(App::new().configure(http::configure($state.clone()))).await
    };
}

#[actix_rt::test]
async fn every_status_of_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _bg) = setup(dir.path(), &[("CANDOR_RATE_LIMIT", "0")]).await;
    let app = app!(state);
    let status = |r: actix_web::dev::ServiceResponse| r.status();
    let call = |req: test::TestRequest| {
        let app = &app;
        async move { test::call_service(app, req.to_request()).await }
    };

    let r = call(beacon(page("/")).insert_header(("Origin", "https://www.example.com"))).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(
        r.headers().get("access-control-allow-origin").unwrap(),
        "https://www.example.com"
    );

    let r = call(beacon(page("/")).insert_header(("DNT", "1"))).await;
    assert_eq!(
        (
            r.status(),
            r.headers().get("x-candor-drop").unwrap().to_str().unwrap()
        ),
        (StatusCode::NO_CONTENT, "dnt")
    );
    let r = call(beacon(page("/")).insert_header(("Sec-GPC", "1"))).await;
    assert_eq!(
        (
            r.status(),
            r.headers().get("x-candor-drop").unwrap().to_str().unwrap()
        ),
        (StatusCode::NO_CONTENT, "gpc")
    );
    let r = call(beacon(page("/")).insert_header((
        "User-Agent",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    )))
    .await;
    assert_eq!(
        (
            r.status(),
            r.headers().get("x-candor-drop").unwrap().to_str().unwrap()
        ),
        (StatusCode::NO_CONTENT, "bot")
    );

    let r = call(beacon(
        json!({"site": "unknown.org", "url": "https://unknown.org/"}),
    ))
    .await;
    assert_eq!(status(r), StatusCode::FORBIDDEN);
    let r = call(beacon(page("/")).insert_header(("Origin", "https://evil.example.net"))).await;
    assert_eq!(status(r), StatusCode::FORBIDDEN);

    let r = call(
        test::TestRequest::post()
            .uri("/api/event")
            .peer_addr("198.51.100.7:1".parse::<SocketAddr>().unwrap())
            .insert_header(("Content-Type", "text/plain"))
            .set_payload("{\"site\": "),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = test::read_body_json(r).await;
    assert_eq!(body["field"], "body", "{body}");
    for (payload, field) in [
        (json!({"site": "example.com"}), "url"),
        (
            json!({"site": "example.com", "url": "javascript:alert(1)"}),
            "url",
        ),
        (
            json!({"site": "example.com", "url": "https://example.com/", "screen_width": "wide"}),
            "screen_width",
        ),
    ] {
        let r = call(beacon(payload.clone())).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{payload}");
        let body: Value = test::read_body_json(r).await;
        assert_eq!(body["field"], field, "{payload} → {body}");
    }
    let big = json!({"site": "example.com", "url": "https://example.com/", "props": {"x": "y".repeat(9 * 1024)}});
    assert_eq!(
        status(call(beacon(big)).await),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let xml = test::TestRequest::post()
        .uri("/api/event")
        .peer_addr("198.51.100.7:1".parse::<SocketAddr>().unwrap())
        .insert_header(("Content-Type", "application/xml"))
        .set_payload("<event/>");
    assert_eq!(status(call(xml).await), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let pre = test::TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/api/event")
        .insert_header(("Origin", "https://example.com"));
    let r = call(pre).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r
        .headers()
        .get("access-control-allow-methods")
        .unwrap()
        .to_str()
        .unwrap()
        .contains("POST"));

    // Only the one valid, non-dropped beacon is stored.
    assert_eq!(
        wait_for(&state, "SELECT count() AS c FROM events", 1).await,
        1
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        count(&state, "SELECT count() AS c FROM events").await,
        1,
        "DNT, GPC and bot requests left no row"
    );
    assert_eq!(count(&state, "SELECT count() AS c FROM sessions").await, 1);
}

#[actix_rt::test]
async fn rate_limit_answers_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _bg) = setup(dir.path(), &[("CANDOR_RATE_LIMIT", "3")]).await;
    let app = app!(state);
    for _ in 0..3 {
        assert_eq!(
            test::call_service(&app, beacon(page("/")).to_request())
                .await
                .status(),
            StatusCode::ACCEPTED
        );
    }
    let r = test::call_service(&app, beacon(page("/")).to_request()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        r.headers()
            .get("retry-after")
            .unwrap()
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    // Another client is not affected.
    let other = beacon(page("/")).peer_addr("198.51.100.8:1".parse::<SocketAddr>().unwrap());
    assert_eq!(
        test::call_service(&app, other.to_request()).await.status(),
        StatusCode::ACCEPTED
    );
    // The limiter remembers clients only while they are limited: a flood from many
    // addresses leaves nothing behind once their allowance is back (3 a minute: 20 s each).
    for i in 0..200u32 {
        let ip = std::net::Ipv4Addr::from(0xC633_6400 + i); // 198.51.100.0/24 and on
        let _ = state.rate_limits.check("example.com", ip.into());
    }
    assert!(state.rate_limits.remembered_clients() >= 200);
    state.rate_limits.forget_idle();
    assert!(
        state.rate_limits.remembered_clients() >= 200,
        "clients still inside their window are kept"
    );
}

#[actix_rt::test]
async fn the_rate_limiter_forgets_clients_whose_allowance_is_back() {
    let dir = tempfile::tempdir().unwrap();
    // 600,000 a minute: one request's cost is back within 0.1 ms.
    let (state, _bg) = setup(dir.path(), &[("CANDOR_RATE_LIMIT", "600000")]).await;
    for i in 0..500u32 {
        let ip = std::net::Ipv4Addr::from(0xCB00_7100 + i); // 203.0.113.0/24 and on
        state.rate_limits.check("example.com", ip.into()).unwrap();
    }
    assert_eq!(state.rate_limits.remembered_clients(), 500);
    std::thread::sleep(std::time::Duration::from_millis(20));
    state.rate_limits.forget_idle();
    assert_eq!(state.rate_limits.remembered_clients(), 0);
}

#[actix_rt::test]
async fn a_full_spool_answers_503_and_readyz_says_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    // A spool that is full once it holds any event, and a batch interval long enough that it
    // stays full.
    let (state, _bg) = setup(
        dir.path(),
        &[
            ("CANDOR_SPOOL_MAX_BYTES", "1"),
            ("CANDOR_BATCH_INTERVAL_MS", "60000"),
            ("CANDOR_RATE_LIMIT", "0"),
        ],
    )
    .await;
    let app = app!(state);
    assert_eq!(
        test::call_service(&app, beacon(page("/")).to_request())
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    let r = test::call_service(&app, beacon(page("/")).to_request()).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().get("retry-after").is_some());
    let r = test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[actix_rt::test]
async fn plausible_payload_is_stored_as_a_page_view_with_its_utm_source() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _bg) = setup(dir.path(), &[]).await;
    let app = app!(state);
    let plausible = json!({"n": "pageview", "u": "https://www.example.com/blog/post?utm_source=newsletter&utm_medium=email&utm_campaign=nov&secret=1", "d": "example.com", "r": "https://www.google.de/search?q=private", "w": 390, "p": "{\"author\":\"ann\"}"});
    let r = test::call_service(
        &app,
        beacon(plausible)
            .insert_header(("User-Agent", FIREFOX))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(
        wait_for(&state, "SELECT count() AS c FROM events", 1).await,
        1
    );
    #[derive(Deserialize, Debug)]
    struct Row {
        name: String,
        hostname: String,
        pathname: String,
        referrer: String,
        referrer_source: String,
        channel: String,
        utm_source: String,
        utm_medium: String,
        utm_campaign: String,
        browser: String,
        os: String,
        device: String,
        screen_width: u16,
        props: std::collections::BTreeMap<String, String>,
        consent: String,
    }
    let rows: Vec<Row> = fetch(state.store.as_ref(), "SELECT name, hostname, pathname, referrer, referrer_source, channel, utm_source, utm_medium, utm_campaign, browser, os, device, screen_width, props, consent FROM events", &Params::new()).await.unwrap();
    let r = &rows[0];
    assert_eq!(
        (r.name.as_str(), r.hostname.as_str(), r.pathname.as_str()),
        ("pageview", "example.com", "/blog/post")
    );
    assert_eq!(
        (
            r.utm_source.as_str(),
            r.utm_medium.as_str(),
            r.utm_campaign.as_str()
        ),
        ("newsletter", "email", "nov")
    );
    assert_eq!(
        (
            r.referrer.as_str(),
            r.referrer_source.as_str(),
            r.channel.as_str()
        ),
        // A search engine's visit is Organic Search even with an email medium: the default
        // channel grouping tests search sources before email (Plausible's order).
        ("google.de/search", "Google", "Organic Search")
    );
    assert_eq!(
        (
            r.browser.as_str(),
            r.os.as_str(),
            r.device.as_str(),
            r.screen_width
        ),
        ("Firefox", "GNU/Linux", "Mobile", 390)
    );
    assert_eq!(r.props.get("author").map(String::as_str), Some("ann"));
    assert_eq!(r.consent, "none");
}

#[actix_rt::test]
async fn site_exclusions_drop_paths_and_networks() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _bg) = setup(dir.path(), &[]).await;
    state
        .sites
        .upsert(serde_json::from_value(json!({"domain": "example.com", "exclude_paths": ["/admin/*"], "exclude_ips": ["198.51.100.0/24"]})).unwrap())
        .await
        .unwrap();
    let app = app!(state);
    let r = test::call_service(&app, beacon(page("/pricing")).to_request()).await;
    assert_eq!(
        r.headers().get("x-candor-drop").unwrap(),
        "excluded",
        "office network"
    );
    let elsewhere =
        beacon(page("/admin/users")).peer_addr("192.0.2.10:1".parse::<SocketAddr>().unwrap());
    let r = test::call_service(&app, elsewhere.to_request()).await;
    assert_eq!(
        r.headers().get("x-candor-drop").unwrap(),
        "excluded",
        "admin path"
    );
    let ok = beacon(page("/pricing")).peer_addr("192.0.2.10:1".parse::<SocketAddr>().unwrap());
    assert_eq!(
        test::call_service(&app, ok.to_request()).await.status(),
        StatusCode::ACCEPTED
    );
    // `*` stays within a path segment, as in goals and filters; `**` crosses segments.
    let deeper =
        beacon(page("/admin/users/1")).peer_addr("192.0.2.10:1".parse::<SocketAddr>().unwrap());
    assert_eq!(
        test::call_service(&app, deeper.to_request()).await.status(),
        StatusCode::ACCEPTED
    );
    // A site saved when `*` crossed `/` keeps excluding what it excluded.
    state
        .store
        .execute(
            "INSERT INTO sites (domain, exclude_paths, created_at, version) VALUES ('legacy.example', ['/admin*', '*/preview'], now(), 1)",
            &candor::store::Params::new(),
        )
        .await
        .unwrap();
    state.sites.refresh().await.unwrap();
    let legacy = state.sites.get("legacy.example").unwrap();
    assert_eq!(legacy.exclude_paths, ["/admin**", "**/preview"]);
    for path in ["/admin/users/1", "/administration", "/posts/1/preview"] {
        assert!(
            legacy
                .exclude_paths
                .iter()
                .any(|p| candor::path_pattern::matches(p, path)),
            "{path}"
        );
    }
    // Saved again, it is stored in the one syntax and reads back the same.
    state
        .sites
        .upsert(serde_json::from_value(json!({"domain": "legacy.example"})).unwrap())
        .await
        .unwrap();
    state.sites.refresh().await.unwrap();
    assert_eq!(
        state.sites.get("legacy.example").unwrap().exclude_paths,
        ["/admin**", "**/preview"]
    );
}

#[actix_rt::test]
async fn visitor_ids_follow_the_daily_salt_and_old_salts_are_destroyed() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _bg) = setup(dir.path(), &[]).await;
    let salts = &state.salts;
    let ip_a = "203.0.113.1".parse().unwrap();
    let ip_b = "203.0.113.2".parse().unwrap();
    // A day in the future: salt rows of past days would already be past their TTL.
    let day = candor::clock::Clock::system().day() + 10;
    salts.rotate(day).await.unwrap();
    let a1 = salts.visitor_id(day, "example.com", ip_a, CHROME).unwrap();
    let a2 = salts.visitor_id(day, "example.com", ip_a, CHROME).unwrap();
    let b = salts.visitor_id(day, "example.com", ip_b, CHROME).unwrap();
    let other_site = salts.visitor_id(day, "other.org", ip_a, CHROME).unwrap();
    assert_eq!(a1, a2, "same visitor, same day → one id");
    assert_ne!(a1, b, "two visitors → two ids");
    assert_ne!(a1, other_site, "ids do not link across sites");
    // The next day's salt exists ahead of time.
    let next = salts
        .visitor_id(day + 1, "example.com", ip_a, CHROME)
        .expect("tomorrow's salt created ahead");
    assert_ne!(a1, next, "a day later → a different id");
    salts.rotate(day + 1).await.unwrap();
    assert_eq!(
        salts.visitor_id(day + 1, "example.com", ip_a, CHROME),
        Some(next),
        "the pre-created salt is the one used"
    );
    // Two days on, day's salt is gone from memory and from the store.
    salts.rotate(day + 2).await.unwrap();
    assert_eq!(salts.visitor_id(day, "example.com", ip_a, CHROME), None);
    let left = count(
        &state,
        &format!(
            "SELECT count() AS c FROM salts WHERE day = toDate('{}')",
            candor::privacy::date_string(day)
        ),
    )
    .await;
    assert_eq!(left, 0, "the old salt is deleted from the store");
    // A second collector sharing the store (and the server key) derives the same ids.
    let keys = candor::privacy::keys::Keys::load(None, dir.path()).unwrap();
    let twin = candor::privacy::salts::Salts::new(state.store.clone(), &keys);
    twin.rotate(day + 2).await.unwrap();
    assert_eq!(
        twin.visitor_id(day + 2, "example.com", ip_a, CHROME),
        salts.visitor_id(day + 2, "example.com", ip_a, CHROME)
    );
}

#[actix_rt::test]
async fn marketing_consent_stores_a_keyed_hash_of_the_vid_and_nothing_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _bg) = setup(dir.path(), &[]).await;
    let app = app!(state);
    let mut with = page("/");
    with["consent"] = json!("marketing");
    with["vid"] = json!("first-party-id-123");
    let mut without = page("/");
    without["consent"] = json!("analytics");
    without["vid"] = json!("first-party-id-456");
    for b in [with, without] {
        assert_eq!(
            test::call_service(&app, beacon(b).to_request())
                .await
                .status(),
            StatusCode::ACCEPTED
        );
    }
    assert_eq!(
        wait_for(&state, "SELECT count() AS c FROM events", 2).await,
        2
    );
    #[derive(Deserialize)]
    struct K {
        consent: String,
        visitor_key: String,
    }
    let rows: Vec<K> = fetch(
        state.store.as_ref(),
        "SELECT consent, visitor_key FROM events ORDER BY consent",
        &Params::new(),
    )
    .await
    .unwrap();
    assert_eq!(rows[0].consent, "analytics");
    assert_eq!(
        rows[0].visitor_key, "",
        "no vid kept without marketing consent"
    );
    assert_eq!(rows[1].visitor_key.len(), 32);
    let dump = state
        .store
        .query("SELECT * FROM events", &Params::new(), "TabSeparated")
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&dump);
    assert!(
        !text.contains("first-party-id"),
        "raw vids are never stored"
    );
}

#[actix_rt::test]
async fn a_visit_row_is_derived_from_its_events_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _bg) = setup(dir.path(), &[]).await;
    let app = app!(state);
    // One visitor: a landing page view from a campaign, a custom event, a page view on a
    // subdomain, and the engaged time of the last page.
    let beacons = [
        json!({"site": "example.com", "url": "https://www.example.com/landing?utm_source=news", "referrer": "https://www.google.com/"}),
        json!({"site": "example.com", "name": "signup", "url": "https://www.example.com/landing"}),
        json!({"site": "example.com", "url": "https://shop.example.com/cart"}),
        json!({"site": "example.com", "name": "engagement", "url": "https://shop.example.com/cart", "engaged_ms": 1500}),
    ];
    for b in beacons {
        let r = test::call_service(&app, beacon(b).to_request()).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    assert_eq!(
        wait_for(&state, "SELECT count() AS c FROM events", 4).await,
        4
    );
    #[derive(Deserialize, Debug, PartialEq)]
    struct Visit {
        pageviews: u64,
        events: u64,
        engaged_ms: u64,
        entry_page: String,
        exit_page: String,
        hostname: String,
        utm_source: String,
        referrer_source: String,
        starts_at_first_event: u8,
        ends_at_last_event: u8,
        day_of_start: u8,
    }
    let visits: Vec<Visit> = fetch(
        state.store.as_ref(),
        "SELECT sum(pageviews) AS pageviews, sum(events) AS events,
                sum(engaged_ms) AS engaged_ms, max(entry_page) AS entry_page,
                max(exit).2 AS exit_page, any(hostname) AS hostname,
                any(utm_source) AS utm_source, any(referrer_source) AS referrer_source,
                min(start) = (SELECT min(timestamp) FROM events) AS starts_at_first_event,
                max(end) = (SELECT max(timestamp) FROM events) AS ends_at_last_event,
                any(day) = toDate(min(start)) AS day_of_start
         FROM sessions GROUP BY session_id",
        &Params::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        visits,
        [Visit {
            pageviews: 2,
            // The engagement beacon extends the visit and adds engaged time, but is not one
            // of its events (Plausible's rule).
            events: 3,
            engaged_ms: 1500,
            entry_page: "/landing".into(),
            exit_page: "/cart".into(),
            hostname: "example.com".into(),
            utm_source: "news".into(),
            referrer_source: "Google".into(),
            starts_at_first_event: 1,
            ends_at_last_event: 1,
            day_of_start: 1,
        }]
    );
    let one: u64 = count(
        &state,
        "SELECT uniqExact(session_id) = 1 AND any(session_id) = (SELECT any(session_id) FROM sessions) AS c FROM events",
    )
    .await;
    assert_eq!(one, 1, "the events and the visit share one session id");
}

#[actix_rt::test]
async fn a_retried_batch_adds_no_visit_twice() {
    use candor::pipeline::{split_record, SpooledRows, EVENT_COLUMNS};
    use candor::store::InsertOptions;
    let dir = tempfile::tempdir().unwrap();
    let (state, _bg) = setup(dir.path(), &[]).await;
    let record = common::page_view_record(77, 4242, "/", candor::clock::unix_seconds());
    let encoded = record.encode_event();
    let Some(SpooledRows::Event(row)) = split_record(&encoded) else {
        panic!("not an event record");
    };
    let table = format!("events ({EVENT_COLUMNS})");
    let insert = |token: &str| {
        let opts = InsertOptions {
            dedup_token: Some(token.into()),
        };
        let (store, table, data) = (state.store.clone(), table.clone(), row.to_vec());
        async move {
            store
                .insert(&table, "RowBinary", data.into(), &opts)
                .await
                .unwrap()
        }
    };
    let visit_events = "SELECT sum(events) AS c FROM sessions WHERE session_id = 4242";
    insert("00000000000000aa-000000-02").await;
    insert("00000000000000aa-000000-02").await; // re-sent after a lost acknowledgement
    assert_eq!(
        count(
            &state,
            "SELECT count() AS c FROM events WHERE session_id = 4242"
        )
        .await,
        1
    );
    assert_eq!(count(&state, visit_events).await, 1);
    insert("00000000000000ab-000000-02").await; // another batch: counted
    assert_eq!(count(&state, visit_events).await, 2);
}

/// A visit still going when the collector restarts goes on after it: the live visits are
/// restored from the store at start (`Tracker::warm_up`), so the next page view is the
/// visit's second, not the start of another. Visits that ended are not restored.
#[actix_rt::test]
async fn a_live_visit_continues_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (state, bg) = setup(dir.path(), &[]).await;
        let app = app!(state);
        let r = test::call_service(&app, beacon(page("/landing")).to_request()).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        common::events_stored(&state, 1).await;
        // A visit of another visitor that ended two hours ago.
        state
            .store
            .execute(
                "INSERT INTO sessions (site, day, session_id, visitor_id, start, end, pageviews, events, entry_page, exit, retention_days)
                 VALUES ('example.com', toDate(now() - 7200), 99, 99, now() - 7300, now() - 7200, 1, 1, '/old', (1, '/old'), 400)",
                &Params::new(),
            )
            .await
            .unwrap();
        bg.shutdown(&state, Duration::from_secs(10)).await;
    }
    let (state, _bg) = setup(dir.path(), &[]).await;
    assert_eq!(
        state.sessions.len(),
        1,
        "the live visit, not the one that ended"
    );
    let app = app!(state);
    let r = test::call_service(&app, beacon(page("/pricing")).to_request()).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    common::events_stored(&state, 2).await;
    #[derive(Deserialize, Debug, PartialEq)]
    struct Visit {
        events: u64,
        pageviews: u64,
        entry_page: String,
        exit_page: String,
    }
    let visits: Vec<Visit> = fetch(
        state.store.as_ref(),
        "SELECT sum(events) AS events, sum(pageviews) AS pageviews, max(entry_page) AS entry_page,
                max(exit).2 AS exit_page
         FROM sessions WHERE session_id != 99 GROUP BY session_id",
        &Params::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        visits,
        [Visit {
            events: 2,
            pageviews: 2,
            entry_page: "/landing".into(),
            exit_page: "/pricing".into(),
        }]
    );
    assert_eq!(
        count(
            &state,
            "SELECT uniqExact(session_id) = 1 AND groupArray(session_seq) IN ([1, 2], [2, 1]) AS c FROM events"
        )
        .await,
        1,
        "both page views in one visit, its first and its second"
    );
}

/// The batcher inserts a batch of spooled rows as one Native block (`store::native`). The
/// same rows inserted as RowBinaryWithNamesAndTypes (the format before) into a twin table
/// read back identically, column by column: maps of no, one and several pairs, non-ASCII and
/// empty strings, a path long enough for a two-byte length, the largest numbers.
#[actix_rt::test]
async fn a_native_batch_stores_exactly_what_the_row_format_stores() {
    use candor::migrations::{migrate, Topology};
    use candor::pipeline::record::RECORD_EVENT_THROUGH;
    use candor::pipeline::sessions::{Attribution, SessionDelta};
    use candor::pipeline::{row, split_record, EventRow, Record, SpooledRows};
    use candor::store::{ChdbStore, InsertOptions, Store};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let store = ChdbStore::open(
        &common::libchdb(),
        &dir.path().join("clickhouse"),
        Default::default(),
    )
    .unwrap();
    migrate(&store, &Topology::default()).await.unwrap();
    store
        .execute("CREATE TABLE events_rows AS events", &Params::new())
        .await
        .unwrap();

    let now = candor::clock::unix_seconds();
    let records: Vec<Vec<u8>> = (0..300u64)
        .map(|i| {
            let attribution = Arc::new(Attribution {
                hostname: "example.com".into(),
                referrer: if i % 3 == 0 {
                    String::new()
                } else {
                    format!("https://ref{i}.example/")
                },
                referrer_source: ["", "Google", "Bücher.de"][i as usize % 3].into(),
                country_code: "DE".into(),
                city: "Zürich".into(),
                utm_campaign: "x".repeat(i as usize % 200),
                ..Default::default()
            });
            let props = (0..i % 4)
                .map(|k| (format!("key{k}"), format!("välue {i} {k}")))
                .collect();
            let record = Record {
                event: EventRow {
                    event_id: uuid::Uuid::from_u64_pair(0x1234_5678_9abc_def0 ^ i, u64::MAX - i),
                    timestamp: now - i as u32,
                    site: "example.com".into(),
                    name: if i % 5 == 0 {
                        "Signup".into()
                    } else {
                        "pageview".into()
                    },
                    hostname: "example.com".into(),
                    pathname: format!("/ü/{}", "p".repeat(i as usize)),
                    attribution: attribution.clone(),
                    screen_width: if i == 0 { u16::MAX } else { i as u16 },
                    visitor_id: u64::MAX - i,
                    session_id: i / 3,
                    visitor_key: if i % 2 == 0 {
                        String::new()
                    } else {
                        format!("{i:064x}")
                    },
                    consent: "marketing",
                    engaged_ms: if i == 1 { u32::MAX } else { i as u32 * 10 },
                    props,
                    retention_days: 400,
                },
                session: SessionDelta {
                    session_id: i / 3,
                    start: now - i as u32,
                    end: now,
                    attribution,
                    ..Default::default()
                },
            };
            record.encode()
        })
        .collect();
    let rows: Vec<&[u8]> = records
        .iter()
        .map(|r| match split_record(r) {
            Some(SpooledRows::Event(e)) => e,
            _ => panic!("a record in the current format"),
        })
        .collect();

    let block =
        row::native_block(RECORD_EVENT_THROUGH, &rows).expect("every events column transposes");
    let mut typed = row::header(RECORD_EVENT_THROUGH);
    for r in &rows {
        typed.extend_from_slice(r);
    }
    let opts = InsertOptions::default();
    store
        .insert("events", "Native", block.into(), &opts)
        .await
        .unwrap();
    store
        .insert(
            "events_rows",
            "RowBinaryWithNamesAndTypes",
            typed.into(),
            &opts,
        )
        .await
        .unwrap();

    let read = |table: &str| {
        let sql = format!("SELECT * FROM {table} ORDER BY event_id");
        let store = &store;
        async move { fetch(store, &sql, &Params::new()).await.unwrap() }
    };
    let (native_rows, typed_rows): (Vec<Value>, Vec<Value>) =
        (read("events").await, read("events_rows").await);
    assert_eq!(native_rows.len(), 300);
    assert_eq!(native_rows, typed_rows);
    // Not vacuous: the columns hold what the records said.
    let long = native_rows
        .iter()
        .find(|r| r["screen_width"] == json!(299))
        .unwrap();
    assert_eq!(long["pathname"], json!(format!("/ü/{}", "p".repeat(299))));
    assert_eq!(long["props"]["key2"], json!("välue 299 2"));
    assert!(native_rows
        .iter()
        .any(|r| r["engaged_ms"] == json!(u32::MAX)));
    assert!(native_rows
        .iter()
        .any(|r| r["screen_width"] == json!(u16::MAX)));
    assert!(native_rows
        .iter()
        .any(|r| r["referrer_source"] == json!("Bücher.de")));
}
