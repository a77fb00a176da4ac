//! What the dashboard does with its session besides reading reports: admins manage goals
//! (and the other admin routes) with the session cookie — only from the dashboard's origin —
//! while a stats reader cannot; saved segments (validated by the Stats API's parser) are
//! listed, saved and deleted by whoever may read the site; the properties panel lists the
//! custom property keys of a period.

mod common;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use serde_json::{json, Value};

use common::{bearer, send, ADMIN};

fn login(token: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/dashboard/login")
        .peer_addr("198.51.100.1:1".parse().unwrap())
        .set_json(json!({ "token": token }))
}

#[actix_rt::test]
async fn sessions_manage_goals_and_segments_and_list_property_keys() {
    use common::fixture::{populate, Ev};
    let dir = tempfile::tempdir().unwrap();
    let state = candor::serve::build_state(common::config(
        dir.path(),
        &[
            ("CANDOR_SITES", "a.example"),
            ("CANDOR_BATCH_INTERVAL_MS", "50"),
        ],
    ))
    .await
    .unwrap();
    let bg = candor::serve::Background::start(&state);
    let app = test_app!(state);
    let cookie = |set: &[String]| set[0].split(';').next().unwrap().to_string();
    let (_, set, _) = send(&app, login(ADMIN)).await;
    let admin = cookie(&set);
    let (status, _, made) = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/tokens")
            .insert_header(bearer(ADMIN))
            .set_json(json!({"name": "viewer", "scopes": ["stats:read"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, set, _) = send(&app, login(made["token"].as_str().unwrap())).await;
    let viewer = cookie(&set);
    let with = |c: &str, r: TestRequest| r.insert_header(("Cookie", c.to_string()));

    // The session says who may change settings.
    let (_, _, session) = send(
        &app,
        with(&admin, TestRequest::get().uri("/api/dashboard/session")),
    )
    .await;
    assert_eq!(session["sites"][0]["admin"], json!(true), "{session}");
    let (_, _, session) = send(
        &app,
        with(&viewer, TestRequest::get().uri("/api/dashboard/session")),
    )
    .await;
    assert_eq!(session["sites"][0]["admin"], json!(false), "{session}");

    // Goals: an admin session creates one; a reader's session may not; a page elsewhere may
    // not use the admin's cookie.
    let goal = |c: &str| {
        with(c, TestRequest::post().uri("/api/v1/sites/a.example/goals"))
            .set_json(json!({"event_name": "Signup"}))
    };
    let (status, _, out) = send(&app, goal(&admin)).await;
    assert_eq!(status, StatusCode::CREATED, "{out}");
    let (status, _, _) = send(&app, goal(&viewer)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, out) = send(
        &app,
        goal(&admin)
            .insert_header(("Origin", "https://evil.example"))
            .insert_header(("Host", "localhost:8080")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{out}");
    let (status, _, out) = send(
        &app,
        with(
            &admin,
            TestRequest::post().uri("/api/v1/sites/a.example/goals"),
        )
        .insert_header(("Origin", "http://localhost:8080"))
        .insert_header(("Host", "localhost:8080"))
        .set_json(json!({"page_path": "/pricing"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{out}");

    // Segments: saved by a reader, listed, run as filters, deleted.
    let save = |body: Value| {
        with(
            &viewer,
            TestRequest::post().uri("/api/v1/sites/a.example/segments"),
        )
        .set_json(body)
    };
    for (body, field) in [
        (
            json!({"name": "", "filters": [["is", "visit:source", ["Google"]]]}),
            "name",
        ),
        (json!({"name": "x", "filters": []}), "filters"),
        (
            json!({"name": "x", "filters": [["like", "visit:source", ["G"]]]}),
            "filters",
        ),
        (
            json!({"name": "x", "filters": [["is", "visit:nope", ["G"]]]}),
            "filters",
        ),
    ] {
        let (status, _, out) = send(&app, save(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {out}");
        assert_eq!(out["field"], json!(field), "{body}: {out}");
    }
    let filters = json!([
        ["is", "visit:country", ["EE"]],
        ["contains", "event:page", ["/blog"]]
    ]);
    let (status, _, saved) = send(
        &app,
        save(json!({"name": "Estonian readers", "filters": filters})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    let id = saved["id"].as_str().unwrap().to_string();
    let (_, _, list) = send(
        &app,
        with(
            &admin,
            TestRequest::get().uri("/api/v1/sites/a.example/segments"),
        ),
    )
    .await;
    assert_eq!(list["segments"][0]["name"], json!("Estonian readers"));
    assert_eq!(list["segments"][0]["filters"], filters);
    let (status, _, _) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/sites/b.example/segments")
            .insert_header(bearer(ADMIN)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = send(
        &app,
        with(
            &viewer,
            TestRequest::delete().uri(&format!("/api/v1/sites/a.example/segments/{id}")),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, _, list) = send(
        &app,
        with(
            &viewer,
            TestRequest::get().uri("/api/v1/sites/a.example/segments"),
        ),
    )
    .await;
    assert_eq!(list["segments"], json!([]));
    let (status, _, _) = send(
        &app,
        with(
            &viewer,
            TestRequest::delete().uri(&format!("/api/v1/sites/a.example/segments/{id}")),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Property keys of a period, by visitors.
    populate(
        &state,
        "a.example",
        vec![
            Ev::pageview().prop("author", "ann").prop("plan", "pro"),
            Ev::pageview().prop("author", "bob"),
            Ev::event("Signup").prop("author", "cy"),
        ],
    )
    .await;
    let (status, _, keys) = send(
        &app,
        with(&viewer, TestRequest::get().uri("/api/v1/stats/property-keys?site_id=a.example&period=custom&date=2021-01-01,2021-01-01")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    assert_eq!(
        keys["keys"],
        json!([{"key": "author", "visitors": 3}, {"key": "plan", "visitors": 1}])
    );
    bg.shutdown(&state, std::time::Duration::from_secs(5)).await;
}
