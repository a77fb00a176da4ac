//! Secrets at rest: a reader of the store (plain SQL on it) finds no salt that recomputes a
//! visitor id and no lead's contact details in the webhook outbox, before or after an upgrade
//! from a store that held them in the clear; the data directory and the key file are private.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::test;
use base64::Engine as _;
use candor::privacy::keys::Keys;
use candor::privacy::salts::Salts;
use candor::store::{fetch, insert_rows, InsertOptions, Params};
use ring::hmac;
use serde_json::{json, Value};

use common::{bearer, send, ADMIN};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

fn post(path: &str, body: Value) -> test::TestRequest {
    test::TestRequest::post()
        .uri(path)
        .peer_addr("198.51.100.7:1".parse::<SocketAddr>().unwrap())
        .insert_header(("Content-Type", "text/plain"))
        .insert_header(("Origin", "https://example.com"))
        .set_payload(body.to_string())
}

/// The visitor id a salt gives (the construction of `privacy::salts`).
fn id_with(salt: &[u8], site: &str, ip: IpAddr, ua: &str) -> u64 {
    let mut ctx = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, salt));
    ctx.update(site.as_bytes());
    ctx.update(&[0]);
    match ip {
        IpAddr::V4(v4) => ctx.update(&v4.octets()),
        IpAddr::V6(v6) => ctx.update(&v6.octets()),
    }
    ctx.update(&[0]);
    ctx.update(ua.as_bytes());
    u64::from_be_bytes(ctx.sign().as_ref()[..8].try_into().unwrap())
}

/// Every reading of a stored salt a store reader could try as the HMAC key.
fn readings(stored: &str) -> Vec<Vec<u8>> {
    let mut out = vec![stored.as_bytes().to_vec()];
    out.extend(hex::decode(stored).ok());
    out.extend(
        base64::engine::general_purpose::STANDARD
            .decode(stored)
            .ok(),
    );
    out
}

async fn rows(state: &candor::http::AppState, sql: &str) -> Vec<Value> {
    fetch(state.store.as_ref(), sql, &Params::new())
        .await
        .unwrap()
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[actix_rt::test]
async fn a_store_reader_finds_no_usable_salt_and_no_contact_details() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let state = candor::serve::build_state(common::config(
        &data,
        &[("CANDOR_BATCH_INTERVAL_MS", "100")],
    ))
    .await
    .unwrap();
    let bg = candor::serve::Background::start(&state);
    let app = test_app!(state);

    // The data directory is created private, the generated key file too.
    assert_eq!(mode(&data), 0o700, "data directory");
    assert_eq!(mode(&data.join("pii.key")), 0o600, "key file");

    // Salts: what the store holds recomputes no visitor id.
    let keys = Keys::load(None, &data).unwrap();
    let today = state.clock.day();
    let ip: IpAddr = "198.51.100.7".parse().unwrap();
    let twin = Salts::new(state.store.clone(), &keys);
    twin.rotate(today).await.unwrap();
    let id = twin.visitor_id(today, "example.com", ip, UA).unwrap();
    let stored = rows(&state, "SELECT * FROM salts").await;
    assert!(stored.len() >= 2, "{stored:?}");
    for row in &stored {
        let salt = row["salt"].as_str().unwrap();
        assert!(hex::decode(salt).is_err(), "a salt in the clear: {salt}");
        for key in readings(salt) {
            assert_ne!(id_with(&key, "example.com", ip, UA), id);
        }
    }

    // Upgrade: a salt an earlier version stored in the clear (the earliest row of tomorrow,
    // so the one every collector uses) still gives the same ids, and is sealed in place.
    let plain = [0x5au8; 32];
    state
        .store
        .execute(
            "INSERT INTO salts (day, salt, created_at) VALUES ({day:Date}, {salt:String}, {at:DateTime64(3)})",
            &Params::new()
                .with("day", candor::privacy::date_string(today + 1))
                .with("salt", hex::encode(plain))
                .with("at", "2001-01-01 00:00:00.000"),
        )
        .await
        .unwrap();
    let upgraded = Salts::new(state.store.clone(), &keys);
    upgraded.rotate(today).await.unwrap();
    assert_eq!(
        upgraded.visitor_id(today + 1, "example.com", ip, UA),
        Some(id_with(&plain, "example.com", ip, UA)),
        "the salt stored in the clear keeps its ids"
    );
    for row in rows(&state, "SELECT salt FROM salts").await {
        let salt = row["salt"].as_str().unwrap();
        assert!(
            hex::decode(salt).is_err(),
            "a salt left in the clear: {salt}"
        );
        for key in readings(salt) {
            assert_ne!(key.as_slice(), plain.as_slice());
        }
    }

    // A collector with another server key opens no salt and makes none of its own.
    let salts_before = rows(&state, "SELECT count() AS c FROM salts").await;
    let stranger = Salts::new(
        state.store.clone(),
        &Keys::load(None, &dir.path().join("elsewhere")).unwrap(),
    );
    stranger.rotate(today).await.unwrap();
    assert_eq!(stranger.visitor_id(today, "example.com", ip, UA), None);
    assert_eq!(
        rows(&state, "SELECT count() AS c FROM salts").await,
        salts_before
    );

    // Webhook outbox: a lead's contact details are not readable in it.
    let port = common::free_port(); // nobody listens: deliveries fail and stay pending
    let (status, _, hook) = send(
        &app,
        test::TestRequest::post()
            .uri("/api/v1/sites/example.com/webhooks")
            .insert_header(bearer(ADMIN))
            .set_json(json!({"url": format!("http://127.0.0.1:{port}/hook")})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let hook_id = hook["id"].as_str().unwrap().to_string();
    let r = test::call_service(
        &app,
        post(
            "/api/identify",
            json!({"site": "example.com", "vid": "v-secret", "consent": "marketing",
                   "email": "ada@example.com", "name": "Ada Lovelace", "company": "Analytical Engines",
                   "url": "https://example.com/contact"}),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let deadline = Instant::now() + Duration::from_secs(20);
    while rows(&state, "SELECT count() AS c FROM webhook_outbox").await[0]["c"] == json!(0) {
        assert!(
            Instant::now() < deadline,
            "the lead's event reaches the outbox"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let in_clear = |text: &str| {
        let t = text.to_lowercase();
        [
            "ada@example.com",
            "ada lovelace",
            "analytical engines",
            "old@example.com",
            "grace",
        ]
        .iter()
        .any(|n| t.contains(n))
    };
    let payloads = |state: candor::http::AppState| async move {
        rows(&state, "SELECT payload FROM webhook_outbox")
            .await
            .into_iter()
            .map(|r| r["payload"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    for p in payloads(state.clone()).await {
        assert!(!in_clear(&p), "contact details in the clear: {p}");
    }
    // The admin's delivery log still shows the body as sent.
    let (_, _, log) = send(
        &app,
        test::TestRequest::get()
            .uri(&format!(
                "/api/v1/sites/example.com/webhooks/{hook_id}/deliveries"
            ))
            .insert_header(bearer(ADMIN)),
    )
    .await;
    let body: Value =
        serde_json::from_str(log["deliveries"][0]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(body["data"]["lead"]["email"], "ada@example.com");

    // Opt-out: still nothing readable.
    let r = test::call_service(
        &app,
        post(
            "/api/optout",
            json!({"site": "example.com", "vid": "v-secret"}),
        )
        .to_request(),
    )
    .await;
    assert!(r.status().is_success());
    for p in payloads(state.clone()).await {
        assert!(
            !in_clear(&p),
            "contact details in the clear after opt-out: {p}"
        );
    }

    // Upgrade: an outbox row an earlier version wrote in the clear is sealed at start, and its
    // body is still the one sent.
    let now = candor::clock::unix_millis();
    let legacy = json!({"id": "evt_legacy", "type": "lead.created", "created": now / 1000, "site": "example.com",
                        "data": {"lead": {"id": "0123456789abcdef", "email": "old@example.com", "name": "Grace"}}})
    .to_string();
    insert_rows(
        state.store.as_ref(),
        "webhook_outbox",
        &[
            json!({"event_id": "evt_legacy", "endpoint_id": hook_id, "site": "example.com",
                 "event_type": "lead.created", "payload": legacy, "created_at": now - 1000,
                 "status": "delivered", "attempts": 1, "next_attempt_at": now, "last_status": 200,
                 "last_error": "", "version": 1}),
        ],
        &InsertOptions::default(),
    )
    .await
    .unwrap();
    assert!(payloads(state.clone()).await.iter().any(|p| in_clear(p)));
    let restarted = candor::leads::webhooks::Webhooks::load(state.store.clone(), &keys)
        .await
        .unwrap();
    for p in payloads(state.clone()).await {
        assert!(!in_clear(&p), "a plain row left after the upgrade: {p}");
    }
    let log = restarted
        .deliveries("example.com", &hook_id, 100)
        .await
        .unwrap();
    let legacy_now = log.iter().find(|d| d.event_id == "evt_legacy").unwrap();
    assert_eq!(legacy_now.payload, legacy, "sealed, not changed");
    assert_eq!(legacy_now.status, "delivered");

    bg.shutdown(&state, Duration::from_secs(5)).await;
}
