//! `POST /api/identify` and `POST /api/optout` on a real store: consent is required, contact
//! details are only stored encrypted, and withdrawal marks the lead opted out.

mod common;

use std::net::SocketAddr;

use actix_web::http::StatusCode;
use actix_web::{test, App};
use candor::store::{fetch, Params};
use serde::Deserialize;
use serde_json::{json, Value};

fn post(path: &str, body: Value) -> test::TestRequest {
    test::TestRequest::post()
        .uri(path)
        .peer_addr("198.51.100.7:1".parse::<SocketAddr>().unwrap())
        .insert_header(("Content-Type", "text/plain"))
        .insert_header(("Origin", "https://example.com"))
        .set_payload(body.to_string())
}

#[derive(Deserialize, Debug)]
struct Lead {
    id: String,
    email_enc: String,
    name_enc: String,
    status: String,
}

async fn leads(state: &candor::http::AppState) -> Vec<Lead> {
    fetch(
        state.store.as_ref(),
        "SELECT id, email_enc, name_enc, status FROM leads FINAL ORDER BY id",
        &Params::new(),
    )
    .await
    .unwrap()
}

#[actix_rt::test]
async fn identify_needs_marketing_consent_and_stores_contact_details_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let state = candor::serve::build_state(common::config(dir.path(), &[]))
        .await
        .unwrap();
    let app =
        test::init_service(App::new().configure(candor::http::configure(state.clone()))).await;
    let contact = json!({"site": "example.com", "vid": "v-123", "email": "Ada.Lovelace@Example.com", "name": "Ada Lovelace", "company": "Analytical Engines", "url": "https://example.com/contact?x=1"});

    for (consent, vid) in [
        (json!(null), json!("v-123")),
        (json!("analytics"), json!("v-123")),
        (json!("marketing"), json!(null)),
    ] {
        let mut b = contact.clone();
        b["consent"] = consent;
        b["vid"] = vid;
        let r = test::call_service(&app, post("/api/identify", b).to_request()).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    assert!(
        leads(&state).await.is_empty(),
        "nothing stored without marketing consent and an id"
    );

    let mut bad = contact.clone();
    bad["consent"] = json!("marketing");
    bad["email"] = json!("not-an-email");
    let r = test::call_service(&app, post("/api/identify", bad).to_request()).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = test::read_body_json(r).await;
    assert_eq!(v["field"], "email");

    let mut ok = contact.clone();
    ok["consent"] = json!("marketing");
    let r = test::call_service(&app, post("/api/identify", ok.clone()).to_request()).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(
        r.headers().get("access-control-allow-origin").unwrap(),
        "https://example.com"
    );
    // The same person again (other case, other device) is the same lead.
    ok["email"] = json!("ada.lovelace@example.com");
    ok["vid"] = json!("v-456");
    assert_eq!(
        test::call_service(&app, post("/api/identify", ok).to_request())
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    let rows = leads(&state).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        state.leads.open(&rows[0].email_enc).as_deref(),
        Some("ada.lovelace@example.com")
    );
    assert_eq!(
        state.leads.open(&rows[0].name_enc).as_deref(),
        Some("Ada Lovelace")
    );
    assert_eq!(rows[0].status, "active");

    // No table holds the plaintext email, name or company, or the raw vids.
    #[derive(Deserialize)]
    struct T {
        name: String,
    }
    let tables: Vec<T> = fetch(
        state.store.as_ref(),
        "SELECT name FROM system.tables WHERE database = currentDatabase()",
        &Params::new(),
    )
    .await
    .unwrap();
    for t in tables {
        let dump = state
            .store
            .query(
                "SELECT * FROM {t:Identifier}",
                &Params::new().with("t", &t.name),
                "TabSeparated",
            )
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&dump).to_lowercase();
        for needle in [
            "ada.lovelace",
            "lovelace",
            "analytical engines",
            "v-123",
            "v-456",
        ] {
            assert!(!text.contains(needle), "table {} holds {needle:?}", t.name);
        }
    }

    // Withdrawal from one device: the lead is opted out and that device unlinked.
    let r = test::call_service(
        &app,
        post(
            "/api/optout",
            json!({"site": "example.com", "vid": "v-123"}),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let rows = leads(&state).await;
    assert_eq!((rows.len(), rows[0].status.as_str()), (1, "opted_out"));
    assert_eq!(
        state.leads.open(&rows[0].email_enc).as_deref(),
        Some("ada.lovelace@example.com"),
        "contact details kept, only the status changed"
    );
    #[derive(Deserialize)]
    struct L {
        unlinked: u8,
    }
    let links: Vec<L> = fetch(
        state.store.as_ref(),
        "SELECT unlinked FROM lead_visitors FINAL ORDER BY visitor_key",
        &Params::new(),
    )
    .await
    .unwrap();
    assert_eq!(links.iter().filter(|l| l.unlinked == 1).count(), 1);
    // An unknown vid is fine (nothing to withdraw); an unknown site is not.
    assert_eq!(
        test::call_service(
            &app,
            post(
                "/api/optout",
                json!({"site": "example.com", "vid": "never-seen"})
            )
            .to_request()
        )
        .await
        .status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        test::call_service(
            &app,
            post("/api/optout", json!({"site": "nope.org", "vid": "x"})).to_request()
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(rows[0].id.len(), 16, "lead ids are random 64-bit hex");
}

#[actix_rt::test]
async fn a_lead_has_its_visit_history_and_exports_to_crm_csv() {
    let dir = tempfile::tempdir().unwrap();
    let asn = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/fixtures/asn.mmdb")
        .display()
        .to_string();
    let state = candor::serve::build_state(common::config(
        dir.path(),
        &[
            ("CANDOR_BATCH_INTERVAL_MS", "100"),
            ("CANDOR_SITES", "example.com,other.example"),
            ("CANDOR_ORG_DB", &asn),
        ],
    ))
    .await
    .unwrap();
    let bg = candor::serve::Background::start(&state);
    let app = test_app!(state);
    // The site's consent text version and scoring rules.
    let (status, _, site) = common::send(
        &app,
        test::TestRequest::post()
            .uri("/api/v1/sites")
            .insert_header(common::bearer(common::ADMIN))
            .set_json(
                json!({"domain": "example.com", "consent_version": "2026-11",
                             "lead_scoring": {"pages": [{"pattern": "/pricing*", "points": 10}]}}),
            ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{site}");
    let (status, _, _) = common::send(
        &app,
        test::TestRequest::post()
            .uri("/api/v1/sites")
            .insert_header(common::bearer(common::ADMIN))
            .set_json(json!({"domain": "example.com", "lead_scoring": {"half_life_days": -1}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    for (url, referrer) in [
        (
            "https://example.com/?utm_source=newsletter&utm_medium=email",
            "https://www.google.com/",
        ),
        ("https://example.com/pricing", "https://example.com/"),
    ] {
        let r = test::call_service(
            &app,
            post(
                "/api/event",
                json!({"site": "example.com", "url": url, "referrer": referrer, "consent": "marketing", "vid": "v-1"}),
            )
            .insert_header(("User-Agent", chrome))
            .to_request(),
        )
        .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    let id_body = json!({"site": "example.com", "vid": "v-1", "consent": "marketing", "email": "ada@example.com",
                         "name": "Ada King Lovelace", "company": "=HYPERLINK(\"x\")", "url": "https://example.com/pricing"});
    let r = test::call_service(&app, post("/api/identify", id_body).to_request()).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let lead_id = leads(&state).await[0].id.clone();
    // A second lead leaves the company empty: the organisation of its network fills it.
    let r = test::call_service(
        &app,
        post(
            "/api/identify",
            json!({"site": "example.com", "vid": "v-2", "consent": "marketing", "email": "bob@example.com", "url": "https://example.com/"}),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // Wait for the batcher to store both page views.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let n: Vec<Value> = fetch(
            state.store.as_ref(),
            "SELECT count() AS c FROM events",
            &Params::new(),
        )
        .await
        .unwrap();
        if n[0]["c"] == json!(2) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let (_, _, reader) = common::send(
        &app,
        test::TestRequest::post()
            .uri("/api/v1/tokens")
            .insert_header(common::bearer(common::ADMIN))
            .set_json(json!({"name": "crm", "scopes": ["leads:read"], "sites": ["example.com"]})),
    )
    .await;
    let token = reader["token"].as_str().unwrap().to_string();
    let get = |path: String| {
        test::TestRequest::get()
            .uri(&path)
            .insert_header(common::bearer(&token))
    };

    let (status, _, detail) = common::send(&app, get(format!("/api/v1/leads/{lead_id}"))).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["lead"]["email"], "ada@example.com");
    assert_eq!(detail["consent_page"], "/pricing");
    assert_eq!(detail["lead"]["consent_version"], "2026-11");
    let h = &detail["history"];
    assert_eq!(
        (h["visits"].clone(), h["pageviews"].clone()),
        (json!(1), json!(2)),
        "{h}"
    );
    assert_eq!(h["first_touch"]["source"], "Google");
    // 5 for the visit, 1 per page view, 10 more for /pricing (no time to decay).
    assert_eq!(h["score"], json!(17.0));
    assert_eq!(h["first_touch"]["utm_source"], "newsletter");
    assert_eq!(
        h["top_pages"],
        json!([{"page": "/", "pageviews": 1}, {"page": "/pricing", "pageviews": 1}])
    );
    assert_eq!(h["timeline"][0]["entry_page"], "/");
    assert_eq!(h["timeline"][0]["exit_page"], "/pricing");

    for (path, want) in [
        (
            "/api/v1/leads/0123456789abcdef".to_string(),
            StatusCode::NOT_FOUND,
        ),
        ("/api/v1/leads/not-an-id".to_string(), StatusCode::NOT_FOUND),
        (
            "/api/v1/leads.csv?site=other.example".to_string(),
            StatusCode::FORBIDDEN,
        ),
    ] {
        let (status, _, body) = common::send(&app, get(path.clone())).await;
        assert_eq!(status, want, "{path} → {body}");
    }

    let resp = test::call_service(
        &app,
        get("/api/v1/leads.csv?site=example.com".into()).to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "Email,FirstName,LastName,Company,LeadSource,Status,ConsentAt,CreatedAt,Score,Visits,LastSeen,LeadId,Frequency,Topics"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    let ada = lines.iter().find(|l| l.starts_with("ada@")).unwrap();
    assert!(
        ada.starts_with(
            "ada@example.com,Ada,King Lovelace,\"'=HYPERLINK(\"\"x\"\")\",Google,active,"
        ),
        "{ada}"
    );
    // (No contact preferences chosen: the last two columns are empty.)
    assert!(
        ada.contains(",17,1,") && ada.ends_with(&format!("{lead_id},,")),
        "{ada}"
    );
    let bob = lines.iter().find(|l| l.starts_with("bob@")).unwrap();
    assert!(
        bob.starts_with("bob@example.com,,,Sample Telecom,Direct / None,active,"),
        "{bob}"
    );

    // The pull API carries the same totals and score for active leads.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (_, _, pulled) = common::send(&app, get("/api/v1/leads?site=example.com".into())).await;
    let pulled_ada = pulled["leads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == json!(lead_id))
        .unwrap()
        .clone();
    assert_eq!(
        (
            pulled_ada["score"].clone(),
            pulled_ada["visits"].clone(),
            pulled_ada["lead_source"].clone()
        ),
        (json!(17.0), json!(1), json!("Google")),
        "{pulled_ada}"
    );

    // Opted out: a tombstone, no contact details, no history; gone from the export.
    let r = test::call_service(
        &app,
        post("/api/optout", json!({"site": "example.com", "vid": "v-1"})).to_request(),
    )
    .await;
    assert!(r.status().is_success());
    let (_, _, after) = common::send(&app, get(format!("/api/v1/leads/{lead_id}"))).await;
    assert_eq!(after["lead"]["status"], "opted_out");
    assert!(
        after["lead"].get("email").is_none() && after.get("history").is_none(),
        "{after}"
    );
    let resp = test::call_service(
        &app,
        get("/api/v1/leads.csv?site=example.com".into()).to_request(),
    )
    .await;
    let csv = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    assert_eq!(csv.lines().count(), 2, "only bob is left: {csv}");
    bg.shutdown(&state, std::time::Duration::from_secs(5)).await;
}
