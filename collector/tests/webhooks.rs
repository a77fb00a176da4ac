//! Signed lead webhooks through the durable outbox: a local receiver verifies every
//! signature; while it is down deliveries fail and are retried with backoff; once it is up
//! each event arrives, once per event id.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{test, web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

use common::{bearer, send, ADMIN};

#[derive(Clone, Debug)]
struct Received {
    event_id: String,
    body: Value,
    signature_ok: bool,
}

fn post(path: &str, body: Value) -> test::TestRequest {
    test::TestRequest::post()
        .uri(path)
        .peer_addr("198.51.100.7:1".parse::<SocketAddr>().unwrap())
        .insert_header(("Content-Type", "text/plain"))
        .insert_header(("Origin", "https://example.com"))
        .set_payload(body.to_string())
}

/// Checks `Candor-Signature: t=..,v1=..` the way a receiver would (HMAC-SHA256 of "t.body").
fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = x.parse::<u64>().ok(),
            Some(("v1", x)) => v1 = hex::decode(x).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if now.abs_diff(t) > 300 {
        return false; // a replay of an old delivery
    }
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    ring::hmac::verify(&key, &signed, &v1).is_ok()
}

type Log = Arc<Mutex<Vec<Received>>>;

/// A webhook receiver on `port` that records every delivery and whether its signature holds.
fn start_receiver(port: u16, secret: &str) -> (Log, actix_web::dev::ServerHandle) {
    let received: Log = Arc::default();
    let server = {
        let received = received.clone();
        let secret = secret.to_string();
        HttpServer::new(move || {
            let received = received.clone();
            let secret = secret.clone();
            App::new().route(
                "/hook",
                web::post().to(move |req: HttpRequest, body: web::Bytes| {
                    let received = received.clone();
                    let secret = secret.clone();
                    async move {
                        let header = |n: &str| {
                            req.headers()
                                .get(n)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string()
                        };
                        received.lock().unwrap().push(Received {
                            event_id: header("Candor-Event-Id"),
                            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                            signature_ok: verify(&secret, &header("Candor-Signature"), &body),
                        });
                        HttpResponse::Ok().finish()
                    }
                }),
            )
        })
        .workers(1)
        .bind(("127.0.0.1", port))
        .unwrap()
        .run()
    };
    let handle = server.handle();
    actix_rt::spawn(server);
    (received, handle)
}

#[actix_rt::test]
async fn lead_webhooks_are_signed_retried_and_delivered_once_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let state = candor::serve::build_state(common::config(
        dir.path(),
        &[("CANDOR_BATCH_INTERVAL_MS", "100")],
    ))
    .await
    .unwrap();
    let bg = candor::serve::Background::start(&state);
    let app = test_app!(state);
    let port = common::free_port();

    // Bad registrations.
    for body in [
        json!({"url": "ftp://x"}),
        json!({"url": "https://x.example/h", "events": ["lead.deleted"]}),
    ] {
        let (status, _, err) = send(
            &app,
            test::TestRequest::post()
                .uri("/api/v1/sites/example.com/webhooks")
                .insert_header(bearer(ADMIN))
                .set_json(&body),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    }
    let (status, _, hook) = send(
        &app,
        test::TestRequest::post()
            .uri("/api/v1/sites/example.com/webhooks")
            .insert_header(bearer(ADMIN))
            .set_json(json!({"url": format!("http://127.0.0.1:{port}/hook")})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_string();
    let hook_id = hook["id"].as_str().unwrap().to_string();
    let (_, _, listed) = send(
        &app,
        test::TestRequest::get()
            .uri("/api/v1/sites/example.com/webhooks")
            .insert_header(bearer(ADMIN)),
    )
    .await;
    assert!(
        listed["webhooks"][0].get("secret").is_none(),
        "secrets are never listed: {listed}"
    );
    let stored: Vec<Value> = candor::store::fetch(
        state.store.as_ref(),
        "SELECT secret_enc FROM webhooks",
        &candor::store::Params::new(),
    )
    .await
    .unwrap();
    assert!(
        !stored[0]["secret_enc"].as_str().unwrap().contains(&secret),
        "the secret is stored encrypted"
    );

    // A lead is created while the receiver is down.
    let identify = json!({"site": "example.com", "vid": "v-1", "consent": "marketing", "email": "ada@example.com", "name": "Ada", "url": "https://example.com/contact"});
    assert_eq!(
        test::call_service(&app, post("/api/identify", identify.clone()).to_request())
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    let log = |app| {
        let hook_id = hook_id.clone();
        async move {
            let (_, _, d) = send(
                app,
                test::TestRequest::get()
                    .uri(&format!(
                        "/api/v1/sites/example.com/webhooks/{hook_id}/deliveries"
                    ))
                    .insert_header(bearer(ADMIN)),
            )
            .await;
            d["deliveries"].as_array().cloned().unwrap_or_default()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    let failed = loop {
        let d = log(&app).await;
        if d.first()
            .is_some_and(|x| x["attempts"].as_u64().unwrap_or(0) >= 2)
            || Instant::now() > deadline
        {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["status"], "pending");
    assert!(
        failed[0]["attempts"].as_u64().unwrap() >= 2,
        "retried: {failed:?}"
    );
    assert!(!failed[0]["last_error"].as_str().unwrap().is_empty());

    // The receiver comes up.
    let (received, handle) = start_receiver(port, &secret);

    let wait_for = |n: usize| {
        let received = received.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            while received.lock().unwrap().len() < n && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait_for(1).await;
    // An update and an opt-out follow, delivered at once.
    let mut again = identify.clone();
    again["name"] = json!("Ada Lovelace");
    assert_eq!(
        test::call_service(&app, post("/api/identify", again).to_request())
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    assert!(test::call_service(
        &app,
        post("/api/optout", json!({"site": "example.com", "vid": "v-1"})).to_request()
    )
    .await
    .status()
    .is_success());
    wait_for(3).await;
    tokio::time::sleep(Duration::from_secs(3)).await; // time for any duplicate to show up

    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(
        got.iter().all(|r| r.signature_ok),
        "every signature verifies: {got:?}"
    );
    let mut ids: Vec<&str> = got.iter().map(|r| r.event_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "once per event id");
    assert_eq!(
        got.iter()
            .map(|r| r.body["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["lead.created", "lead.updated", "lead.updated"]
    );
    assert!(got.iter().all(|r| r.body["id"] == json!(r.event_id)));
    assert_eq!(got[0].body["data"]["lead"]["email"], "ada@example.com");
    assert_eq!(got[1].body["data"]["lead"]["name"], "Ada Lovelace");
    assert_eq!(got[2].body["data"]["lead"]["status"], "opted_out");
    assert!(
        got[2].body["data"]["lead"].get("email").is_none(),
        "tombstones carry no contact details"
    );
    let delivered = log(&app).await;
    assert_eq!(delivered.len(), 3);
    assert!(
        delivered
            .iter()
            .all(|d| d["status"] == "delivered" && d["last_status"] == 200),
        "{delivered:?}"
    );

    handle.stop(true).await;
    bg.shutdown(&state, Duration::from_secs(5)).await;
}

/// Every table's rows as text, lowercased, to search for what must be gone.
async fn dump(state: &candor::http::AppState) -> Vec<(String, String)> {
    let tables: Vec<Value> = candor::store::fetch(
        state.store.as_ref(),
        "SELECT name FROM system.tables WHERE database = currentDatabase()",
        &candor::store::Params::new(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    for t in tables {
        let name = t["name"].as_str().unwrap().to_string();
        let text = state
            .store
            .query(
                "SELECT * FROM {t:Identifier}",
                &candor::store::Params::new().with("t", &name),
                "TabSeparated",
            )
            .await
            .unwrap();
        out.push((name, String::from_utf8_lossy(&text).to_lowercase()));
    }
    out
}

#[actix_rt::test]
async fn erasure_removes_the_person_everywhere_and_announces_a_tombstone() {
    let dir = tempfile::tempdir().unwrap();
    let state = candor::serve::build_state(common::config(
        dir.path(),
        &[("CANDOR_BATCH_INTERVAL_MS", "100")],
    ))
    .await
    .unwrap();
    let bg = candor::serve::Background::start(&state);
    let app = test_app!(state);
    let port = common::free_port();
    let (_, _, hook) = send(
        &app,
        test::TestRequest::post()
            .uri("/api/v1/sites/example.com/webhooks")
            .insert_header(bearer(ADMIN))
            .set_json(json!({"url": format!("http://127.0.0.1:{port}/hook")})),
    )
    .await;
    let (received, handle) = start_receiver(port, hook["secret"].as_str().unwrap());

    // Two marketing-consented page views, then the visitor identifies.
    for path in ["/", "/pricing"] {
        let r = test::call_service(
            &app,
            post(
                "/api/event",
                json!({"site": "example.com", "url": format!("https://example.com{path}"), "consent": "marketing", "vid": "v-erase"}),
            )
            .insert_header(("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"))
            .to_request(),
        )
        .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    let r = test::call_service(
        &app,
        post(
            "/api/identify",
            json!({"site": "example.com", "vid": "v-erase", "consent": "marketing", "email": "grace@example.com", "name": "Grace Hopper", "url": "https://example.com/contact"}),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let deadline = Instant::now() + Duration::from_secs(20);
    let (key, hash, enc) = loop {
        let rows: Vec<Value> = candor::store::fetch(
            state.store.as_ref(),
            "SELECT (SELECT count() FROM events WHERE visitor_key != '') AS n, (SELECT any(visitor_key) FROM events) AS key,
                    (SELECT any(email_hash) FROM leads) AS hash, (SELECT any(email_enc) FROM leads) AS enc",
            &candor::store::Params::new(),
        )
        .await
        .unwrap();
        if rows[0]["n"] == json!(2) && received.lock().unwrap().len() == 1 {
            break (
                rows[0]["key"].as_str().unwrap().to_lowercase(),
                rows[0]["hash"].as_str().unwrap().to_lowercase(),
                rows[0]["enc"].as_str().unwrap().to_lowercase(),
            );
        }
        assert!(
            Instant::now() < deadline,
            "events stored and lead.created delivered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let lead_id = received.lock().unwrap()[0].body["data"]["lead"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = dump(&state).await;
    assert!(
        before.iter().any(|(_, t)| t.contains(&key)),
        "the key is there before"
    );
    // The webhook log holds the lead's event before, its contact details sealed.
    assert!(
        before
            .iter()
            .any(|(t, text)| t == "webhook_outbox" && text.contains("lead.created")),
        "the webhook log holds the lead's event before"
    );
    assert!(
        !before.iter().any(|(_, t)| t.contains("grace@example.com")),
        "no table holds the email in the clear"
    );

    // Bad requests, then the erasure itself.
    for body in [
        json!({}),
        json!({"email": "x"}),
        json!({"email": "a@b.example", "lead_id": "ab"}),
    ] {
        let (status, _, _) = send(
            &app,
            test::TestRequest::post()
                .uri("/api/v1/erasure")
                .insert_header(bearer(ADMIN))
                .set_json(&body),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (status, _, done) = send(
        &app,
        test::TestRequest::post()
            .uri("/api/v1/erasure")
            .insert_header(bearer(ADMIN))
            .set_json(json!({"site": "example.com", "email": "Grace@Example.com"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        done["erased"],
        json!([{"id": lead_id, "site": "example.com", "status": "erased"}])
    );

    for (table, text) in dump(&state).await {
        for needle in [
            "grace@example.com",
            "grace hopper",
            key.as_str(),
            hash.as_str(),
            enc.as_str(),
        ] {
            assert!(
                !text.contains(needle),
                "table {table} still holds {needle:?}"
            );
        }
    }
    let outbox = dump(&state).await;
    assert!(
        outbox
            .iter()
            .all(|(t, text)| t != "webhook_outbox" || !text.contains("lead.created")),
        "the lead's sealed payloads are gone from the webhook log too"
    );
    // The visits themselves stay (anonymous): only the key is gone.
    let left: Vec<Value> = candor::store::fetch(
        state.store.as_ref(),
        "SELECT count() AS c FROM events",
        &candor::store::Params::new(),
    )
    .await
    .unwrap();
    assert_eq!(left[0]["c"], json!(2));

    // The pull API shows a tombstone; a webhook announced it.
    let (_, _, pulled) = send(
        &app,
        test::TestRequest::get()
            .uri("/api/v1/leads?site=example.com")
            .insert_header(bearer(ADMIN)),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2100)).await; // the pull API's settle window
    let (_, _, pulled_later) = send(
        &app,
        test::TestRequest::get()
            .uri("/api/v1/leads?site=example.com")
            .insert_header(bearer(ADMIN)),
    )
    .await;
    let leads = if pulled_later["leads"].as_array().unwrap().is_empty() {
        &pulled["leads"]
    } else {
        &pulled_later["leads"]
    };
    assert_eq!(leads.as_array().unwrap().len(), 1, "{pulled_later}");
    assert_eq!(leads[0]["status"], "erased");
    assert!(leads[0].get("email").is_none());
    let deadline = Instant::now() + Duration::from_secs(20);
    while received.lock().unwrap().len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].body["type"], "lead.erased");
    assert_eq!(got[1].body["data"]["lead"]["id"], json!(lead_id));
    assert_eq!(got[1].body["data"]["lead"]["status"], "erased");
    assert!(got[1].signature_ok);
    let (status, _, _) = send(
        &app,
        test::TestRequest::post()
            .uri("/api/v1/erasure")
            .insert_header(bearer(ADMIN))
            .set_json(json!({"lead_id": "0123456789abcdef"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    handle.stop(true).await;
    bg.shutdown(&state, Duration::from_secs(5)).await;
}
