//! Plausible's own Stats API tests, translated and run against Candor through the public HTTP
//! API. Each case names the Plausible test it comes from (file and test name in
//! plausible/analytics, `test/plausible_web/controllers/api/external_stats_controller/`), so a
//! reader can compare the two. Where Candor deliberately answers otherwise, the README's
//! "Differences from Plausible" says so and why; those cases are listed at the end of this file.

mod common;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use candor::serve::build_state;
use serde_json::{json, Value};

use common::{bearer, send, ADMIN};

/// One shared in-process collector for every case (no data is needed to validate).
macro_rules! query {
    ($app:expr, $body:expr) => {{
        let mut body: Value = $body;
        body["site_id"] = json!("example.com");
        let (status, _, out) = send(
            &$app,
            TestRequest::post()
                .uri("/api/v2/query")
                .insert_header(bearer(ADMIN))
                .set_json(&body),
        )
        .await;
        (status, out)
    }};
}

/// Asserts a 400 whose `error` is exactly Plausible's message.
macro_rules! refused {
    ($app:expr, $body:expr, $message:expr) => {{
        let (status, out) = query!($app, $body);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{out}");
        assert_eq!(out["error"], json!($message), "{out}");
    }};
}

#[actix_rt::test]
async fn query_validations_test() {
    let dir = tempfile::tempdir().unwrap();
    let state = build_state(common::config(dir.path(), &[])).await.unwrap();
    let app = test_app!(state);

    // "does not allow querying conversion_rate without a goal filter"
    refused!(
        app,
        json!({"metrics": ["conversion_rate"], "date_range": "all", "dimensions": ["event:page"],
               "filters": [["is", "event:props:author", ["Uku"]]]}),
        "Metric `conversion_rate` can only be queried with event:goal filters or dimensions"
    );
    // "validates that dimensions are valid"
    refused!(
        app,
        json!({"metrics": ["visitors"], "date_range": "all", "dimensions": ["badproperty"]}),
        "#/dimensions/0: Invalid dimension \"badproperty\""
    );
    // "empty custom property is invalid"
    refused!(
        app,
        json!({"metrics": ["visitors"], "date_range": "all", "dimensions": ["event:props:"]}),
        "#/dimensions/0: Invalid dimension \"event:props:\""
    );
    // "validates that correct date range is used"
    refused!(
        app,
        json!({"metrics": ["visitors"], "date_range": "bad_period", "dimensions": ["event:name"]}),
        "#/date_range: Invalid date range \"bad_period\""
    );
    // "fails when an invalid metric is provided"
    refused!(
        app,
        json!({"metrics": ["visitors", "baa"], "date_range": "all", "dimensions": ["event:name"]}),
        "#/metrics/1: Invalid metric \"baa\""
    );
    // "validates a metric can't be asked multiple times"
    refused!(
        app,
        json!({"metrics": ["views_per_visit", "visitors", "visitors"], "date_range": "all"}),
        "#/metrics: Expected items to be unique but they were not."
    );
    // "handles filtering by visit:country with invalid country code"
    refused!(
        app,
        json!({"metrics": ["pageviews"], "date_range": "all", "filters": [["is", "visit:country", ["USA"]]]}),
        "Invalid visit:country filter, visit:country needs to be a valid 2-letter country code"
    );
    // "can break down by an internal prop key without access to the props feature" and "can
    // filter by an internal prop key ..." (Candor has no paid features: any key works).
    for body in [
        json!({"metrics": ["visitors"], "date_range": "all", "dimensions": ["event:props:path"]}),
        json!({"metrics": ["visitors"], "date_range": "all", "dimensions": ["visit:source"],
               "filters": [["is", "event:props:url", ["whatever"]]]}),
    ] {
        let (status, out) = query!(app, body);
        assert_eq!(status, StatusCode::OK, "{out}");
        assert!(out["results"].is_array());
    }
    // Left out (README, "Differences from Plausible"): "cannot break down/filter by a custom
    // prop without access to the props feature" (no paid plans); "session metrics cannot be
    // used with event:name / event:props:* dimension" and "metric views_per_visit cannot be
    // used with event:page filter / together with dimensions" (Candor answers these: bounce
    // rate and views per visit of the visits that contain the page, event or property).
}
