//! A site admin (an `admin` token limited to sites) stays inside its sites on every admin
//! route, and the beacon routes `/api/identify` and `/api/optout` honour DNT/GPC and share the
//! rate limits of `/api/event`. One store for the whole file: each open costs time.

mod common;

use std::net::SocketAddr;

use actix_web::http::{Method, StatusCode};
use actix_web::test::TestRequest;
use candor::store::{fetch, Params};
use serde_json::{json, Value};

use common::{bearer, send, ADMIN};

/// Beacons per minute per client in this file's collector.
const RATE_LIMIT: usize = 20;

/// The in-process app, as every helper takes it.
trait App:
    actix_web::dev::Service<
    actix_http::Request,
    Response = actix_web::dev::ServiceResponse,
    Error = actix_web::Error,
>
{
}
impl<S> App for S where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >
{
}

async fn call(
    app: &impl App,
    token: &str,
    method: Method,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = TestRequest::default()
        .method(method)
        .uri(uri)
        .insert_header(bearer(token));
    if let Some(b) = body {
        req = req.set_json(b);
    }
    let (status, _, v) = send(app, req).await;
    (status, v)
}

async fn create_token(app: &impl App, token: &str, body: Value) -> (StatusCode, Value) {
    call(app, token, Method::POST, "/api/v1/tokens", Some(body)).await
}

fn beacon(path: &str, peer: &str, body: Value) -> TestRequest {
    TestRequest::post()
        .uri(path)
        .peer_addr(format!("{peer}:1").parse::<SocketAddr>().unwrap())
        .insert_header(("Content-Type", "text/plain"))
        .insert_header(("Origin", "https://a.example"))
        .set_payload(body.to_string())
}

#[derive(serde::Deserialize)]
struct Lead {
    id: String,
    status: String,
}

async fn leads(state: &candor::http::AppState, site: &str) -> Vec<Lead> {
    fetch(
        state.store.as_ref(),
        "SELECT id, status FROM leads FINAL WHERE site = {site:String} ORDER BY id",
        &Params::new().with("site", site),
    )
    .await
    .unwrap()
}

#[actix_rt::test]
async fn site_admins_stay_in_their_sites_and_beacon_routes_honour_privacy_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let rate = RATE_LIMIT.to_string();
    let state = candor::serve::build_state(common::config(
        dir.path(),
        &[
            ("CANDOR_SITES", "a.example,b.example"),
            ("CANDOR_RATE_LIMIT", rate.as_str()),
        ],
    ))
    .await
    .unwrap();
    let app = test_app!(state);

    admin_routes_stay_within_the_tokens_sites(&app, &state).await;
    identify_honours_dnt_and_gpc_and_optout_is_always_honoured(&app, &state).await;
    beacon_routes_share_the_event_rate_limit(&app).await;
}

/// Every route that takes `admin`, tried by an admin limited to a.example: 403 for b.example
/// (and for sites that do not exist), success for a.example.
async fn admin_routes_stay_within_the_tokens_sites(app: &impl App, state: &candor::http::AppState) {
    let (status, sa) = create_token(
        app,
        ADMIN,
        json!({"name": "a admin", "scopes": ["admin"], "sites": ["a.example"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{sa}");
    let sa_id = sa["id"].as_str().unwrap().to_string();
    let sa = sa["token"].as_str().unwrap().to_string();
    let mut ids = std::collections::BTreeMap::new();
    for (name, sites) in [
        ("global", json!([])),
        ("b only", json!(["b.example"])),
        ("a and b", json!(["a.example", "b.example"])),
        ("a only", json!(["a.example"])),
    ] {
        let (status, t) = create_token(
            app,
            ADMIN,
            json!({"name": name, "scopes": ["stats:read"], "sites": sites}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{t}");
        ids.insert(
            name,
            (
                t["id"].as_str().unwrap().to_string(),
                t["token"].as_str().unwrap().to_string(),
            ),
        );
    }

    // Sites: listed, changed, created only within its own.
    let (status, v) = call(app, &sa, Method::GET, "/api/v1/sites", None).await;
    assert_eq!(status, StatusCode::OK);
    let domains: Vec<&str> = v["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["domain"].as_str().unwrap())
        .collect();
    assert_eq!(domains, ["a.example"], "a site admin lists only its sites");
    let (_, v) = call(app, ADMIN, Method::GET, "/api/v1/sites", None).await;
    assert_eq!(
        v["sites"].as_array().unwrap().len(),
        2,
        "a global admin lists every site"
    );
    let (status, v) = call(
        app,
        &sa,
        Method::POST,
        "/api/v1/sites",
        Some(json!({"domain": "a.example", "timezone": "Europe/Berlin"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "its own site: {v}");
    for domain in ["b.example", "new.example"] {
        let (status, v) = call(
            app,
            &sa,
            Method::POST,
            "/api/v1/sites",
            Some(json!({"domain": domain, "timezone": "Europe/Berlin"})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{domain}: {v}");
        assert!(v.get("error").is_some() && v.get("field").is_some(), "{v}");
    }
    assert!(
        state.sites.get("new.example").is_none(),
        "no site was created"
    );
    assert_eq!(
        state.sites.get("b.example").unwrap().timezone,
        "UTC",
        "b.example unchanged"
    );

    // Tokens: listed only when limited to a subset of its sites.
    let (status, v) = call(app, &sa, Method::GET, "/api/v1/tokens", None).await;
    assert_eq!(status, StatusCode::OK);
    let mut listed: Vec<&str> = v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    listed.sort();
    let mut expected = vec![sa_id.as_str(), ids["a only"].0.as_str()];
    expected.sort();
    assert_eq!(listed, expected, "{v}");
    let (_, v) = call(app, ADMIN, Method::GET, "/api/v1/tokens", None).await;
    assert_eq!(
        v["tokens"].as_array().unwrap().len(),
        5,
        "a global admin lists every token"
    );

    // Tokens: created only limited to a non-empty subset of its sites.
    for (scopes, sites) in [
        (json!(["admin"]), json!([])),
        (json!(["stats:read"]), json!([])),
        (json!(["admin"]), json!(["b.example"])),
        (json!(["leads:read"]), json!(["a.example", "b.example"])),
        (json!(["stats:read"]), json!(["nope.example"])),
    ] {
        let (status, v) = create_token(
            app,
            &sa,
            json!({"name": "x", "scopes": scopes, "sites": sites}),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{scopes} {sites}: {v}");
        assert_eq!(v["field"], "sites");
    }
    let (status, v) = create_token(
        app,
        &sa,
        json!({"name": "a helper", "scopes": ["admin", "leads:write"], "sites": ["a.example"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["sites"], json!(["a.example"]));

    // Tokens: revoked only within its sites; the same 403 for others and for unknown ids.
    for (name, id) in [
        ("global", ids["global"].0.as_str()),
        ("b only", ids["b only"].0.as_str()),
        ("a and b", ids["a and b"].0.as_str()),
        ("unknown", "0123456789abcdef"),
        ("env admin", "env-admin"),
    ] {
        let (status, v) = call(
            app,
            &sa,
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {v}");
        assert_eq!(
            v["error"],
            "no active token with this id within this token's sites"
        );
    }
    let (status, _) = call(
        app,
        &ids["b only"].1,
        Method::GET,
        "/api/v1/stats/aggregate?site_id=b.example&period=day",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "another site's token still works");
    let (status, _) = call(
        app,
        &sa,
        Method::DELETE,
        &format!("/api/v1/tokens/{}", ids["a only"].0),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        app,
        &ids["a only"].1,
        Method::GET,
        "/api/v1/stats/aggregate?site_id=a.example&period=day",
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "its own site's token is revoked"
    );

    // Per-site routes. What exists on b.example was made by the global admin.
    let (status, hook_b) = call(
        app,
        ADMIN,
        Method::POST,
        "/api/v1/sites/b.example/webhooks",
        Some(json!({"url": "https://crm.example.net/hook"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{hook_b}");
    let (status, goal_b) = call(
        app,
        ADMIN,
        Method::POST,
        "/api/v1/sites/b.example/goals",
        Some(json!({"event_name": "Signup"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{goal_b}");
    let (hook_b, goal_b) = (
        hook_b["id"].as_str().unwrap(),
        goal_b["id"].as_str().unwrap(),
    );
    for (site, expect_ok) in [
        ("b.example", false),
        ("nope.example", false),
        ("a.example", true),
    ] {
        let base = format!("/api/v1/sites/{site}");
        let (status, hook) = call(
            app,
            &sa,
            Method::POST,
            &format!("{base}/webhooks"),
            Some(json!({"url": "https://crm.example.net/a"})),
        )
        .await;
        let hook_id = if expect_ok {
            assert_eq!(status, StatusCode::CREATED, "{hook}");
            hook["id"].as_str().unwrap().to_string()
        } else {
            hook_b.to_string()
        };
        let (status, goal) = call(
            app,
            &sa,
            Method::POST,
            &format!("{base}/goals"),
            Some(json!({"event_name": "Demo"})),
        )
        .await;
        let goal_id = if expect_ok {
            assert_eq!(status, StatusCode::CREATED, "{goal}");
            goal["id"].as_str().unwrap().to_string()
        } else {
            goal_b.to_string()
        };
        let routes: Vec<(Method, String, Option<Value>, StatusCode)> = vec![
            (
                Method::POST,
                format!("{base}/webhooks"),
                Some(json!({"url": "https://crm.example.net/b"})),
                StatusCode::CREATED,
            ),
            (
                Method::GET,
                format!("{base}/webhooks"),
                None,
                StatusCode::OK,
            ),
            (
                Method::GET,
                format!("{base}/webhooks/{hook_id}/deliveries"),
                None,
                StatusCode::OK,
            ),
            (
                Method::DELETE,
                format!("{base}/webhooks/{hook_id}"),
                None,
                StatusCode::NO_CONTENT,
            ),
            (
                Method::POST,
                format!("{base}/goals"),
                Some(json!({"page_path": "/pricing"})),
                StatusCode::CREATED,
            ),
            (Method::GET, format!("{base}/goals"), None, StatusCode::OK),
            (
                Method::DELETE,
                format!("{base}/goals/{goal_id}"),
                None,
                StatusCode::NO_CONTENT,
            ),
            (
                Method::PUT,
                format!("{base}/dashboard-password"),
                Some(json!({"password": "a long enough password"})),
                StatusCode::NO_CONTENT,
            ),
            (
                Method::DELETE,
                format!("{base}/dashboard-password"),
                None,
                StatusCode::NO_CONTENT,
            ),
        ];
        for (method, uri, body, ok) in routes {
            let (status, v) = call(app, &sa, method.clone(), &uri, body).await;
            let want = if expect_ok { ok } else { StatusCode::FORBIDDEN };
            assert_eq!(status, want, "{method} {uri}: {v}");
        }
    }
    // Nothing of b.example was touched.
    assert_eq!(state.webhooks.list("b.example").len(), 1);
    assert_eq!(state.goals.list("b.example").len(), 1);
    assert!(!state.dashboard.has_password("b.example"));
    // A global admin still gets 404 for a site that does not exist.
    let (status, _) = call(
        app,
        ADMIN,
        Method::GET,
        "/api/v1/sites/nope.example/webhooks",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Erasure (admin implies leads:write): only within its sites.
    for body in [
        json!({"site": "b.example", "email": "ada@example.org"}),
        json!({"site": "nope.example", "email": "ada@example.org"}),
    ] {
        let (status, v) = call(
            app,
            &sa,
            Method::POST,
            "/api/v1/erasure",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}: {v}");
    }
    let (status, v) = call(
        app,
        &sa,
        Method::POST,
        "/api/v1/erasure",
        Some(json!({"site": "a.example", "email": "ada@example.org"})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "allowed, nothing to erase: {v}"
    );
    // Ad-hoc SQL reads every site: not for a site admin.
    let (status, _) = call(
        app,
        &sa,
        Method::POST,
        "/api/v1/sql",
        Some(json!({"query": "SELECT 1"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A lead of b.example cannot be erased by id either (the lead is made through a beacon).
    let r = actix_web::test::call_service(
        app,
        beacon("/api/identify", "198.51.100.50", json!({"site": "b.example", "vid": "v-b", "consent": "marketing", "email": "bob@example.org"}))
            .insert_header(("Origin", "https://b.example"))
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let lead_b = leads(state, "b.example").await[0].id.clone();
    let (status, v) = call(
        app,
        &sa,
        Method::POST,
        "/api/v1/erasure",
        Some(json!({"lead_id": lead_b})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
}

/// `DNT: 1` or `Sec-GPC: 1` on identify: 204 with `X-Candor-Drop`, no lead. The same request
/// without them stores the lead; opt-out is honoured with them.
async fn identify_honours_dnt_and_gpc_and_optout_is_always_honoured(
    app: &impl App,
    state: &candor::http::AppState,
) {
    let body = json!({"site": "a.example", "vid": "v-1", "consent": "marketing", "email": "ada@example.org", "name": "Ada"});
    for (header, reason) in [(("DNT", "1"), "dnt"), (("Sec-GPC", "1"), "gpc")] {
        let r = actix_web::test::call_service(
            app,
            beacon("/api/identify", "198.51.100.1", body.clone())
                .insert_header(header)
                .to_request(),
        )
        .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{header:?}");
        assert_eq!(r.headers().get("x-candor-drop").unwrap(), reason);
        assert_eq!(
            r.headers().get("access-control-allow-origin").unwrap(),
            "https://a.example"
        );
        assert_eq!(
            leads(state, "a.example").await.len(),
            0,
            "nothing stored under {header:?}"
        );
    }
    let r = actix_web::test::call_service(
        app,
        beacon("/api/identify", "198.51.100.1", body).to_request(),
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::ACCEPTED,
        "the same request without DNT/GPC"
    );
    assert_eq!(leads(state, "a.example").await.len(), 1);

    let r = actix_web::test::call_service(
        app,
        beacon(
            "/api/optout",
            "198.51.100.1",
            json!({"site": "a.example", "vid": "v-1"}),
        )
        .insert_header(("DNT", "1"))
        .insert_header(("Sec-GPC", "1"))
        .to_request(),
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::ACCEPTED,
        "opt-out is honoured under DNT/GPC"
    );
    let stored = leads(state, "a.example").await;
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].status, "active", "opted out");
}

/// Identify and opt-out count against the same per-client limit as events: a flood gets 429
/// with Retry-After, and so does the client's next event.
async fn beacon_routes_share_the_event_rate_limit(app: &impl App) {
    for (path, peer, body) in [
        (
            "/api/identify",
            "198.51.100.2",
            json!({"site": "a.example", "vid": "v-2", "consent": "marketing", "email": "flood@example.org"}),
        ),
        (
            "/api/optout",
            "198.51.100.3",
            json!({"site": "a.example", "vid": "v-3"}),
        ),
    ] {
        let mut limited = None;
        for i in 0..RATE_LIMIT + 5 {
            // DNT keeps the identify flood from storing anything; the limit applies first.
            let r = actix_web::test::call_service(
                app,
                beacon(path, peer, body.clone())
                    .insert_header(("DNT", "1"))
                    .to_request(),
            )
            .await;
            if r.status() == StatusCode::TOO_MANY_REQUESTS {
                let retry: u64 = r
                    .headers()
                    .get("retry-after")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(retry >= 1);
                limited = Some(i);
                break;
            }
            assert!(r.status().is_success(), "{path} #{i}: {}", r.status());
        }
        assert_eq!(
            limited,
            Some(RATE_LIMIT),
            "{path}: limited after the client's budget"
        );
        let r = actix_web::test::call_service(
            app,
            beacon(
                "/api/event",
                peer,
                json!({"site": "a.example", "url": "https://a.example/"}),
            )
            .to_request(),
        )
        .await;
        assert_eq!(
            r.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{path}: one budget with events"
        );
    }
}
