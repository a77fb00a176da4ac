//! Dashboard sessions: signing out ends the session server-side (also after a restart, which
//! reloads ended sessions from the store as another collector would), the sign-in limiter
//! counts clients as resolved through the trusted proxies, and the cookie's `Secure` flag
//! follows TLS as a trusted proxy reports it, or the `secure_cookies` setting.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use serde_json::json;

use common::{bearer, send, ADMIN};

const PROXY: &str = "10.0.0.1";

fn config(dir: &std::path::Path) -> candor::config::Config {
    common::config(
        dir,
        &[
            ("CANDOR_SITES", "a.example"),
            ("CANDOR_TRUSTED_PROXIES", "10.0.0.0/8"),
        ],
    )
}

fn from(peer: &str) -> SocketAddr {
    format!("{peer}:1").parse().unwrap()
}

fn login(peer: &str, token: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/dashboard/login")
        .peer_addr(from(peer))
        .set_json(json!({ "token": token }))
}

fn session(cookie: &str) -> TestRequest {
    TestRequest::get()
        .uri("/api/dashboard/session")
        .insert_header(("Cookie", cookie.to_string()))
}

/// The `name=value` part of a `Set-Cookie`.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

#[actix_rt::test]
async fn logout_ends_the_session_and_sign_in_is_limited_per_client() {
    let dir = tempfile::tempdir().unwrap();
    let (ended, kept) = {
        let state = candor::serve::build_state(config(dir.path()))
            .await
            .unwrap();
        let app = test_app!(state);
        let (status, _, made) = send(
            &app,
            TestRequest::post()
                .uri("/api/v1/tokens")
                .insert_header(bearer(ADMIN))
                .set_json(json!({"name": "viewer", "scopes": ["stats:read"]})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        let token = made["token"].as_str().unwrap().to_string();

        // Two sessions of one token; signing out of one leaves the other.
        let (status, cookies, _) = send(&app, login("198.51.100.9", &token)).await;
        assert_eq!(status, StatusCode::OK);
        let first = pair(&cookies[0]);
        let (_, cookies, _) = send(&app, login("198.51.100.9", &token)).await;
        let second = pair(&cookies[0]);
        assert_ne!(first, second, "each sign-in is its own session");
        let (status, _, _) = send(&app, session(&first)).await;
        assert_eq!(status, StatusCode::OK);
        let (status, cookies, _) = send(
            &app,
            TestRequest::post()
                .uri("/api/dashboard/logout")
                .insert_header(("Cookie", first.clone())),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(cookies[0].contains("Max-Age=0"), "{}", cookies[0]);
        let (status, _, body) = send(&app, session(&first)).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "the old cookie after logout: {body}"
        );
        let (status, _, _) = send(
            &app,
            TestRequest::post()
                .uri("/api/v2/query")
                .insert_header(("Cookie", first.clone()))
                .set_json(
                    json!({"site_id": "a.example", "metrics": ["visitors"], "date_range": "7d"}),
                ),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "reports refuse it too");
        let (status, _, _) = send(&app, session(&second)).await;
        assert_eq!(status, StatusCode::OK, "the other session goes on");
        // Signing out without a (valid) cookie is harmless.
        let (status, _, _) = send(&app, TestRequest::post().uri("/api/dashboard/logout")).await;
        assert_eq!(status, StatusCode::NO_CONTENT);

        sign_in_is_limited_per_client_behind_trusted_proxies(&app).await;
        secure_flag_follows_trusted_tls_or_the_setting(&app, &state, &token).await;
        (first, second)
    };

    // A restart (or another collector on the same store) knows the session ended.
    let state = candor::serve::build_state(config(dir.path()))
        .await
        .unwrap();
    let app = test_app!(state);
    let (status, _, _) = send(&app, session(&ended)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "ended sessions survive a restart"
    );
    let (status, _, _) = send(&app, session(&kept)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "live sessions survive a restart too"
    );
}

/// 30 attempts a minute per client: through a trusted proxy the forwarded client counts
/// (one proxy is not one shared limit); from any other peer, the peer (a forged
/// X-Forwarded-For changes nothing).
async fn sign_in_is_limited_per_client_behind_trusted_proxies(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
) {
    let attempt = |peer: &str, forwarded: &str| {
        login(peer, "cnd_wrong").insert_header(("X-Forwarded-For", forwarded.to_string()))
    };
    for i in 0..30 {
        let (status, _, _) = send(app, attempt(PROXY, "203.0.113.1")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let resp = actix_web::test::call_service(app, attempt(PROXY, "203.0.113.1").to_request()).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
    let (status, _, _) = send(app, attempt(PROXY, "203.0.113.2")).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "another client behind the same proxy"
    );

    for i in 0..30 {
        let (status, _, _) = send(app, attempt("198.51.100.77", &format!("192.0.2.{i}"))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let (status, _, _) = send(app, attempt("198.51.100.77", "192.0.2.200")).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "an untrusted peer cannot pick its key"
    );
}

async fn secure_flag_follows_trusted_tls_or_the_setting(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    state: &candor::http::AppState,
    token: &str,
) {
    let https = |peer: &str| {
        login(peer, token)
            .insert_header(("X-Forwarded-For", "203.0.113.50"))
            .insert_header(("X-Forwarded-Proto", "https"))
    };
    let (status, cookies, _) = send(app, https("198.51.100.60")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !cookies[0].contains("Secure"),
        "a client's own X-Forwarded-Proto is not believed: {}",
        cookies[0]
    );
    let (_, cookies, _) = send(app, https("10.0.0.2")).await;
    assert!(
        cookies[0].contains("Secure"),
        "a trusted proxy's is: {}",
        cookies[0]
    );

    let mut config = (*state.config).clone();
    config.secure_cookies = true;
    let forced = candor::http::AppState {
        config: Arc::new(config),
        ..state.clone()
    };
    let forced_app = test_app!(forced);
    let (status, cookies, _) = send(&forced_app, login("198.51.100.61", token)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        cookies[0].contains("Secure"),
        "secure_cookies: {}",
        cookies[0]
    );
    let (_, cookies, _) = send(
        &forced_app,
        TestRequest::post().uri("/api/dashboard/logout"),
    )
    .await;
    assert!(
        cookies[0].contains("Secure"),
        "the clearing cookie too: {}",
        cookies[0]
    );
}
