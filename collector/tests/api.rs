//! The HTTP API on a real embedded store: authentication, scopes, sites, tokens, SQL, health.

mod common;

use actix_web::http::StatusCode;
use actix_web::{test, App};
use candor::http::{self, AppState};
use candor::store::Params;
use serde_json::{json, Value};

use common::ADMIN;

async fn state(dir: &std::path::Path) -> AppState {
    candor::serve::build_state(common::config(dir, &[]))
        .await
        .unwrap()
}

macro_rules! app {
    ($state:expr) => {
        test::init_service(
            App::new()
                .wrap_fn(http::record_metrics)
                .configure(http::configure($state.clone())),
        )
        .await
    };
}

async fn call(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    req: test::TestRequest,
) -> (StatusCode, Value) {
    let resp = test::call_service(app, req.to_request()).await;
    let status = resp.status();
    let body = test::read_body(resp).await;
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .unwrap_or(Value::String(String::from_utf8_lossy(&body).into()))
    };
    (status, value)
}

fn bearer(token: &str) -> (&'static str, String) {
    ("Authorization", format!("Bearer {token}"))
}

async fn create_token(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    body: Value,
) -> (String, String) {
    let (status, v) = call(
        app,
        test::TestRequest::post()
            .uri("/api/v1/tokens")
            .insert_header(bearer(ADMIN))
            .set_json(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    (
        v["id"].as_str().unwrap().to_string(),
        v["token"].as_str().unwrap().to_string(),
    )
}

#[actix_rt::test]
async fn missing_or_invalid_token_is_401_and_wrong_scope_is_403() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path()).await;
    let app = app!(st);
    let (status, v) = call(&app, test::TestRequest::get().uri("/api/v1/sites")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(v["error"].as_str().unwrap().contains("token"));
    assert!(v.get("field").is_some(), "contract error shape: {v}");
    let (status, _) = call(
        &app,
        test::TestRequest::get()
            .uri("/api/v1/sites")
            .insert_header(bearer("cnd_not-a-real-token")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(
        &app,
        test::TestRequest::get()
            .uri("/api/v1/sites")
            .insert_header(("Authorization", format!("Basic {ADMIN}"))),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (_, stats) = create_token(&app, json!({"name": "stats", "scopes": ["stats:read"]})).await;
    let (status, v) = call(
        &app,
        test::TestRequest::get()
            .uri("/api/v1/sites")
            .insert_header(bearer(&stats)),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    let (status, _) = call(
        &app,
        test::TestRequest::post()
            .uri("/api/v1/sql")
            .insert_header(bearer(&stats))
            .set_json(json!({"query": "SELECT 1"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, limited) = create_token(
        &app,
        json!({"name": "limited sql", "scopes": ["sql:read"], "sites": ["example.com"]}),
    )
    .await;
    let (status, v) = call(
        &app,
        test::TestRequest::post()
            .uri("/api/v1/sql")
            .insert_header(bearer(&limited))
            .set_json(json!({"query": "SELECT 1"})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "site-limited tokens cannot bypass their limit with SQL: {v}"
    );
}

#[actix_rt::test]
async fn token_lifecycle_create_use_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path()).await;
    let app = app!(st);
    let (status, v) = call(
        &app,
        test::TestRequest::post()
            .uri("/api/v1/tokens")
            .insert_header(bearer(ADMIN))
            .set_json(json!({"name": "x", "scopes": ["stats:write"]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["field"], "scopes");
    let (status, v) = call(
        &app,
        test::TestRequest::post()
            .uri("/api/v1/tokens")
            .insert_header(bearer(ADMIN))
            .set_json(json!({"name": "x", "scopes": ["admin"], "sites": ["unknown.org"]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");

    let (id, token) =
        create_token(&app, json!({"name": "second admin", "scopes": ["admin"]})).await;
    assert!(token.starts_with("cnd_") && token.len() >= 40);
    let (status, v) = call(
        &app,
        test::TestRequest::get()
            .uri("/api/v1/tokens")
            .insert_header(bearer(&token)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !v.to_string().contains(&token),
        "listing never shows token values"
    );
    assert!(v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == id.as_str()));

    let (status, _) = call(
        &app,
        test::TestRequest::delete()
            .uri(&format!("/api/v1/tokens/{id}"))
            .insert_header(bearer(ADMIN)),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        &app,
        test::TestRequest::get()
            .uri("/api/v1/sites")
            .insert_header(bearer(&token)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked token is refused");
    let (status, _) = call(
        &app,
        test::TestRequest::delete()
            .uri(&format!("/api/v1/tokens/{id}"))
            .insert_header(bearer(ADMIN)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A revocation written by another collector is picked up on refresh.
    st.tokens.refresh().await.unwrap();
    let (status, _) = call(
        &app,
        test::TestRequest::get()
            .uri("/api/v1/sites")
            .insert_header(bearer(&token)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[actix_rt::test]
async fn raw_tokens_never_reach_any_table() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path()).await;
    let app = app!(st);
    let (_, token) = create_token(&app, json!({"name": "leaky?", "scopes": ["leads:read"]})).await;
    let bootstrap = st.tokens.bootstrap_admin().await.unwrap();
    assert!(
        bootstrap.is_none(),
        "CANDOR_ADMIN_TOKEN set: no bootstrap token"
    );

    #[derive(serde::Deserialize)]
    struct T {
        name: String,
    }
    let tables: Vec<T> = candor::store::fetch(
        st.store.as_ref(),
        "SELECT name FROM system.tables WHERE database = currentDatabase()",
        &Params::new(),
    )
    .await
    .unwrap();
    assert!(tables.len() >= 5);
    let mut all = String::new();
    for t in &tables {
        let dump = st
            .store
            .query(
                "SELECT * FROM {t:Identifier}",
                &Params::new().with("t", &t.name),
                "TabSeparated",
            )
            .await
            .unwrap();
        all.push_str(&String::from_utf8_lossy(&dump));
    }
    assert!(!all.contains(&token), "raw token stored");
    assert!(!all.contains(ADMIN), "raw admin token stored");
    let hash = hex::encode(candor::auth::sha256(&token));
    assert!(all.contains(&hash), "the token's SHA-256 is what is stored");
}

#[actix_rt::test]
async fn sites_are_validated_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let st = state(dir.path()).await;
        let app = app!(st);
        let (status, v) = call(&app, test::TestRequest::post().uri("/api/v1/sites").insert_header(bearer(ADMIN)).set_json(json!({"domain": "Shop.Example.ORG", "timezone": "Europe/Berlin", "retention_days": 30}))).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        assert_eq!(v["domain"], "shop.example.org");
        let (status, v) = call(&app, test::TestRequest::post().uri("/api/v1/sites").insert_header(bearer(ADMIN)).set_json(json!({"domain": "shop.example.org", "allowed_origins": ["https://checkout.example.net"]}))).await;
        assert_eq!(status, StatusCode::OK, "update: {v}");
        assert_eq!(v["timezone"], "Europe/Berlin", "fields not given are kept");
        for (body, field) in [
            (json!({"domain": "http://x.com"}), "domain"),
            (
                json!({"domain": "x.com", "timezone": "Mars/Olympus"}),
                "timezone",
            ),
            (
                json!({"domain": "x.com", "retention_days": 0}),
                "retention_days",
            ),
            (
                json!({"domain": "x.com", "allowed_origins": ["javascript:1"]}),
                "allowed_origins",
            ),
            (json!({"domain": "x.com", "bogus": 1}), "bogus"),
            (json!({}), "domain"),
        ] {
            let (status, v) = call(
                &app,
                test::TestRequest::post()
                    .uri("/api/v1/sites")
                    .insert_header(bearer(ADMIN))
                    .set_json(body.clone()),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {v}");
            assert_eq!(v["field"], field, "{body} → {v}");
        }
        let (status, _) = call(
            &app,
            test::TestRequest::post()
                .uri("/api/v1/sites")
                .insert_header(bearer(ADMIN))
                .insert_header(("Content-Type", "application/json"))
                .set_payload("{not json"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    // A new state on the same data directory: what a restart does.
    let st = state(dir.path()).await;
    let app = app!(st);
    let (status, v) = call(
        &app,
        test::TestRequest::get()
            .uri("/api/v1/sites")
            .insert_header(bearer(ADMIN)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let domains: Vec<&str> = v["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["domain"].as_str().unwrap())
        .collect();
    assert_eq!(domains, vec!["example.com", "shop.example.org"]);
    let shop = &v["sites"][1];
    assert_eq!(shop["timezone"], "Europe/Berlin");
    assert_eq!(shop["retention_days"], 30);
    assert_eq!(
        shop["allowed_origins"],
        json!(["https://checkout.example.net"])
    );
}

#[actix_rt::test]
async fn sql_endpoint_is_read_only_and_limited() {
    let dir = tempfile::tempdir().unwrap();
    let st =
        candor::serve::build_state(common::config(dir.path(), &[("CANDOR_SQL_MAX_ROWS", "50")]))
            .await
            .unwrap();
    let app = app!(st);
    let (_, analyst) = create_token(&app, json!({"name": "analyst", "scopes": ["sql:read"]})).await;
    let sql = |q: Value| {
        test::TestRequest::post()
            .uri("/api/v1/sql")
            .insert_header(bearer(&analyst))
            .set_json(q)
    };

    let (status, v) = call(&app, sql(json!({"query": "SELECT count() FROM events"}))).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["columns"], json!([{"name": "count()", "type": "UInt64"}]));
    assert_eq!(
        v["rows"],
        json!([[0]]),
        "64-bit integers are JSON numbers on both engines"
    );

    let (status, v) = call(&app, sql(json!({"query": "SELECT {d:String} AS d, {n:UInt8} + 1 AS n", "params": {"d": "it's", "n": 41}}))).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["rows"], json!([["it's", 42]]));

    for q in [
        "DROP TABLE events",
        "INSERT INTO sites (domain) VALUES ('x')",
        "ALTER TABLE events DELETE WHERE 1",
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        "SET readonly = 0",
    ] {
        let (status, v) = call(&app, sql(json!({"query": q}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q} → {v}");
        assert_eq!(v["field"], "query");
    }
    let (status, v) = call(
        &app,
        sql(json!({"query": "SELECT arrayJoin(range(51)) AS n"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("Limit for result exceeded"),
        "{v}"
    );
    let (status, v) = call(&app, sql(json!({"query": "SELEC 1"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("Syntax error"), "{v}");
    let (status, _) = call(&app, sql(json!({"query": "  "}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(&app, sql(json!({"sql": "SELECT 1"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The events table is still there.
    let (status, v) = call(&app, sql(json!({"query": "SELECT count() FROM events"}))).await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

#[actix_rt::test]
async fn health_readiness_metrics_and_unknown_routes() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path()).await;
    let app = app!(st);
    let (status, v) = call(&app, test::TestRequest::get().uri("/healthz")).await;
    assert_eq!((status, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (status, v) = call(&app, test::TestRequest::get().uri("/readyz")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["store"], "chdb");
    let (status, v) = call(&app, test::TestRequest::get().uri("/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(v["error"].as_str().unwrap().contains("/nope"));
    let resp =
        test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let text = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    assert!(
        text.contains(
            "candor_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("candor_store_up 1"));
}

#[actix_rt::test]
async fn the_snippet_is_served_cacheable_and_gzipped() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path()).await;
    let app = app!(st);
    let names = candor::http::snippet::names();
    assert!(
        names.contains(&"candor.js"),
        "snippet/dist embedded at build time (make snippet): {names:?}"
    );
    let resp = test::call_service(
        &app,
        test::TestRequest::get().uri("/js/candor.js").to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("application/javascript"));
    assert_eq!(
        resp.headers().get("cache-control").unwrap(),
        "public, max-age=3600"
    );
    let etag = resp
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let body = test::read_body(resp).await;
    assert!(
        body.len() > 500 && body.len() < 4096,
        "a minified script: {} bytes",
        body.len()
    );
    let again = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/js/candor.js")
            .insert_header(("If-None-Match", etag.as_str()))
            .to_request(),
    )
    .await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let gz = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/js/candor.js")
            .insert_header(("Accept-Encoding", "gzip"))
            .to_request(),
    )
    .await;
    assert_eq!(gz.headers().get("content-encoding").unwrap(), "gzip");
    let (status, _) = call(&app, test::TestRequest::get().uri("/js/nope.js")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
