//! The privacy statement reflects the site's real configuration.

mod common;

use actix_web::{test, App};
use serde_json::Value;

#[actix_rt::test]
async fn statement_follows_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let city =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fixtures/geo-city.mmdb");
    assert!(city.is_file(), "run make fixtures");
    let city = city.display().to_string();
    let state =
        candor::serve::build_state(common::config(dir.path(), &[("CANDOR_GEOIP_DB", &city)]))
            .await
            .unwrap();
    state
        .sites
        .upsert(serde_json::from_value(serde_json::json!({"domain": "example.com", "retention_days": 90, "exclude_paths": ["/admin/*"]})).unwrap())
        .await
        .unwrap();
    let app =
        test::init_service(App::new().configure(candor::http::configure(state.clone()))).await;
    let v: Value = test::call_and_read_body_json(
        &app,
        test::TestRequest::get()
            .uri("/privacy.json?site=example.com")
            .to_request(),
    )
    .await;
    assert_eq!(v["retention_days"], 90);
    assert_eq!(v["enrichment"]["geoip"], true);
    assert_eq!(v["enrichment"]["organisation"], false);
    assert_eq!(v["excluded_paths"][0], "/admin/*");
    let items: Vec<&str> = v["collected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item"].as_str().unwrap())
        .collect();
    assert!(
        items.contains(&"location") && !items.contains(&"organisation"),
        "{items:?}"
    );
    assert!(v["policy_paragraph"]
        .as_str()
        .unwrap()
        .contains("kept for 90 days"));
    assert!(v["ip_address"]["stored"] == false);

    let html = test::call_and_read_body(
        &app,
        test::TestRequest::get()
            .uri("/privacy?site=example.com")
            .to_request(),
    )
    .await;
    let html = String::from_utf8(html.to_vec()).unwrap();
    assert!(html.contains("<h1>What example.com collects"));
    assert!(html.contains("90 days"));

    let r = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/privacy.json?site=unknown.org")
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 404);
    let r = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/privacy?site=%3Cscript%3E")
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), 404);
    let body = test::read_body(r).await;
    assert!(
        !String::from_utf8_lossy(&body).contains("<script>"),
        "user input is never echoed unescaped"
    );
}
