//! Lead reports on a real embedded store, through the public HTTP APIs only: page views and
//! identifications as browsers send them, then `leads` and `lead_conversion_rate` from
//! `POST /api/v2/query` and the v1 endpoints, and the lead lists the dashboard reads — who
//! may read which.
//!
//! The pattern (site `example.com`, all at one instant of the frozen clock; one visit per visitor):
//!
//! | visitor | address      | visit                                                         | lead |
//! |---------|--------------|---------------------------------------------------------------|------|
//! | A       | 203.0.113.10 | Google → `/`, `/contact`, `Signup` on `/contact`, identifies on `/contact` | L1 |
//! | B       | 203.0.113.11 | t.co, `utm_campaign=launch` → `/`, identifies on `/`, later opts out | L2 |
//! | C       | 198.51.100.3 | Google → `/pricing`, identifies with consent `analytics` (403) | — |
//! | D       | 198.51.100.4 | direct → `/contact`, identifies on `/contact`, again from another device | L3 (once) |
//! | E       | 198.51.100.5 | direct → `/blog`                                              | — |
//!
//! Visitors 5, leads 3 (L2 opted out and L3 erased still count), lead conversion 60 %.
//! Page views 6 and events 7: identifications are neither. Bounces B, C, D, E: 80 %.

mod common;

use std::net::SocketAddr;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use candor::serve::{build_state, Background};
use serde_json::{json, Value};

use common::{bearer, fixture, rows, send, ADMIN, CHROME, FIREFOX};

/// A beacon-style request from a browser at `ip`.
fn beacon(path: &str, ip: &str, ua: &str, body: Value) -> TestRequest {
    TestRequest::post()
        .uri(path)
        .peer_addr(format!("{ip}:40000").parse::<SocketAddr>().unwrap())
        .insert_header(("Content-Type", "text/plain"))
        .insert_header(("Origin", "https://example.com"))
        .insert_header(("User-Agent", ua))
        .set_payload(body.to_string())
}

/// A page view with marketing consent, as the snippet sends it (with its first-party id).
fn pv(vid: &str, path: &str, referrer: Option<&str>) -> Value {
    json!({"site": "example.com", "url": format!("https://example.com{path}"), "referrer": referrer,
           "consent": "marketing", "vid": vid})
}

fn identify(vid: &str, email: &str, name: &str, company: &str, path: &str, consent: &str) -> Value {
    json!({"site": "example.com", "vid": vid, "consent": consent, "email": email, "name": name,
           "company": company, "url": format!("https://example.com{path}")})
}

#[actix_rt::test]
async fn leads_are_counted_where_they_identified_and_named_only_to_lead_readers() {
    let dir = tempfile::tempdir().unwrap();
    let state = build_state(common::config(
        dir.path(),
        &[
            ("CANDOR_BATCH_INTERVAL_MS", "100"),
            ("CANDOR_GEOIP_DB", &fixture("geo-city.mmdb")),
            ("CANDOR_ORG_DB", &fixture("asn.mmdb")),
        ],
    ))
    .await
    .unwrap();
    // Every beacon and report of the test at one instant: the hour and the day are known.
    state.clock.set(candor::clock::unix_millis());
    let now = state.clock.unix_seconds();
    let bg = Background::start(&state);
    let app = test_app!(state);
    let google = Some("https://www.google.com/search?q=candor");

    let accepted = |(status, _, body): (StatusCode, Vec<String>, Value)| {
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    };
    let a = ("203.0.113.10", CHROME);
    accepted(
        send(
            &app,
            beacon("/api/event", a.0, a.1, pv("vid-a", "/", google)),
        )
        .await,
    );
    accepted(
        send(
            &app,
            beacon("/api/event", a.0, a.1, pv("vid-a", "/contact", None)),
        )
        .await,
    );
    let mut signup = pv("vid-a", "/contact", None);
    signup["name"] = json!("Signup");
    accepted(send(&app, beacon("/api/event", a.0, a.1, signup)).await);
    let l1 = identify(
        "vid-a",
        "ada@example.org",
        "Ada Lovelace",
        "Engines Ltd",
        "/contact",
        "marketing",
    );
    accepted(send(&app, beacon("/api/identify", a.0, a.1, l1)).await);

    let b = ("203.0.113.11", FIREFOX);
    accepted(
        send(
            &app,
            beacon(
                "/api/event",
                b.0,
                b.1,
                pv("vid-b", "/?utm_campaign=launch", Some("https://t.co/x1")),
            ),
        )
        .await,
    );
    let l2 = identify(
        "vid-b",
        "grace@example.org",
        "Grace Hopper",
        "Compilers Inc",
        "/?utm_campaign=launch",
        "marketing",
    );
    accepted(send(&app, beacon("/api/identify", b.0, b.1, l2)).await);

    let c = ("198.51.100.3", CHROME);
    accepted(
        send(
            &app,
            beacon("/api/event", c.0, c.1, pv("vid-c", "/pricing", google)),
        )
        .await,
    );
    let refused = identify(
        "vid-c",
        "carl@example.org",
        "Carl Gauss",
        "Numbers AG",
        "/pricing",
        "analytics",
    );
    let (status, _, _) = send(&app, beacon("/api/identify", c.0, c.1, refused)).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "no lead without marketing consent"
    );

    let d = ("198.51.100.4", FIREFOX);
    accepted(
        send(
            &app,
            beacon("/api/event", d.0, d.1, pv("vid-d", "/contact", None)),
        )
        .await,
    );
    let l3 = identify(
        "vid-d",
        "dora@example.org",
        "Dora Stone",
        "Quarry plc",
        "/contact",
        "marketing",
    );
    accepted(send(&app, beacon("/api/identify", d.0, d.1, l3.clone())).await);
    // The same person from another device: the same lead, not counted again.
    let mut again = l3;
    again["vid"] = json!("vid-d2");
    accepted(
        send(
            &app,
            beacon("/api/identify", "198.51.100.40", CHROME, again),
        )
        .await,
    );

    let e = ("198.51.100.5", CHROME);
    accepted(
        send(
            &app,
            beacon("/api/event", e.0, e.1, pv("vid-e", "/blog", None)),
        )
        .await,
    );

    // Six page views, one Signup, three identifications.
    common::events_stored(&state, 10).await;

    // L2 opts out and L3 is erased: aggregates name no one, so both still count.
    let (status, _, _) = send(
        &app,
        beacon(
            "/api/optout",
            b.0,
            b.1,
            json!({"site": "example.com", "vid": "vid-b"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _, body) = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/erasure")
            .insert_header(bearer(ADMIN))
            .set_json(json!({"site": "example.com", "email": "dora@example.org"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let query = |extra: Value| {
        let mut b = json!({"site_id": "example.com", "date_range": "day",
                           "metrics": ["visitors", "leads", "lead_conversion_rate"]});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let v2 = |body: Value| {
        let app = &app;
        async move {
            let (status, _, out) = send(
                app,
                TestRequest::post()
                    .uri("/api/v2/query")
                    .insert_header(bearer(ADMIN))
                    .set_json(&body),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body} → {out}");
            rows(&out)
        }
    };

    assert_eq!(
        v2(query(json!({}))).await,
        vec![vec![json!(5), json!(3), json!(60.0)]]
    );
    // Identifications are neither page views nor events, and not part of the visits.
    assert_eq!(
        v2(query(
            json!({"metrics": ["pageviews", "events", "visits", "bounce_rate"]})
        ))
        .await,
        vec![vec![json!(6), json!(7), json!(5), json!(80)]]
    );
    assert_eq!(
        v2(query(
            json!({"metrics": ["events"], "dimensions": ["event:name"]})
        ))
        .await,
        vec![
            vec![json!("pageview"), json!(6)],
            vec![json!("Signup"), json!(1)]
        ]
    );
    assert_eq!(
        v2(query(json!({"dimensions": ["visit:source"]}))).await,
        vec![
            vec![json!("Direct / None"), json!(2), json!(1), json!(50.0)],
            vec![json!("Google"), json!(2), json!(1), json!(50.0)],
            vec![json!("Twitter"), json!(1), json!(1), json!(100.0)],
        ]
    );
    assert_eq!(
        v2(query(json!({"dimensions": ["visit:utm_campaign"]}))).await,
        vec![
            vec![json!("(not set)"), json!(4), json!(2), json!(50.0)],
            vec![json!("launch"), json!(1), json!(1), json!(100.0)]
        ]
    );
    // The page a lead identified on; visitors of each page for the rate.
    assert_eq!(
        v2(query(json!({"dimensions": ["event:page"], "order_by": [["leads", "desc"], ["event:page", "asc"]]}))).await,
        vec![
            vec![json!("/contact"), json!(2), json!(2), json!(100.0)],
            vec![json!("/"), json!(2), json!(1), json!(50.0)],
            vec![json!("/blog"), json!(1), json!(0), json!(0.0)],
            vec![json!("/pricing"), json!(1), json!(0), json!(0.0)],
        ]
    );
    assert_eq!(
        v2(query(
            json!({"dimensions": ["visit:entry_page"], "metrics": ["leads"]})
        ))
        .await,
        vec![
            vec![json!("/"), json!(2)],
            vec![json!("/contact"), json!(1)],
            vec![json!("/blog"), json!(0)],
            vec![json!("/pricing"), json!(0)],
        ]
    );
    // Filters: a visit property, the identifying page, a goal completed in the visit.
    assert_eq!(
        v2(query(
            json!({"filters": [["is", "visit:source", ["Google"]]]})
        ))
        .await,
        vec![vec![json!(2), json!(1), json!(50.0)]]
    );
    assert_eq!(
        v2(query(
            json!({"filters": [["is", "event:page", ["/contact"]]]})
        ))
        .await,
        vec![vec![json!(2), json!(2), json!(100.0)]]
    );
    let (status, _, _) = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/sites/example.com/goals")
            .insert_header(bearer(ADMIN))
            .set_json(json!({"event_name": "Signup"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        v2(query(
            json!({"filters": [["is", "event:goal", ["Signup"]]]})
        ))
        .await,
        vec![vec![json!(1), json!(1), json!(100.0)]]
    );
    // By hour: every lead in the hour of its identification (the frozen clock's).
    let hour = chrono::DateTime::from_timestamp(i64::from(now - now % 3600), 0).unwrap();
    assert_eq!(
        v2(query(
            json!({"metrics": ["leads"], "dimensions": ["time:hour"]})
        ))
        .await,
        vec![vec![
            json!(hour.format("%Y-%m-%d %H:00:00").to_string()),
            json!(3)
        ]]
    );

    // v1: the aggregate, and organisations with their leads.
    let (status, _, agg) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/stats/aggregate?site_id=example.com&period=day&metrics=visitors,leads,lead_conversion_rate")
            .insert_header(bearer(ADMIN)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{agg}");
    let (status, _, accounts) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/stats/accounts?site_id=example.com&period=day&metrics=visitors,leads")
            .insert_header(bearer(ADMIN)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{accounts}");
    assert_eq!(
        agg["results"],
        json!({"visitors": {"value": 5}, "leads": {"value": 3}, "lead_conversion_rate": {"value": 60.0}})
    );
    assert_eq!(
        accounts["results"],
        json!([{"org": "Example Industries GmbH", "visitors": 2, "leads": 2}])
    );

    // Who sees names: lead lists need leads:read, as a token or a dashboard session's token.
    let token = |scopes: Value| {
        let app = &app;
        async move {
            let (status, _, body) = send(
                app,
                TestRequest::post()
                    .uri("/api/v1/tokens")
                    .insert_header(bearer(ADMIN))
                    .set_json(json!({"name": "t", "scopes": scopes})),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            body["token"].as_str().unwrap().to_string()
        }
    };
    let stats = token(json!(["stats:read"])).await;
    let people = token(json!(["stats:read", "leads:read"])).await;
    let sign_in = |token: String| {
        let app = &app;
        async move {
            let (status, cookies, _) = send(
                app,
                TestRequest::post()
                    .uri("/api/dashboard/login")
                    .set_json(json!({"token": token})),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            cookies[0].split(';').next().unwrap().to_string()
        }
    };
    let stats_cookie = sign_in(stats.clone()).await;
    let people_cookie = sign_in(people.clone()).await;
    for (cookie, leads) in [(&stats_cookie, false), (&people_cookie, true)] {
        let (_, _, session) = send(
            &app,
            TestRequest::get()
                .uri("/api/dashboard/session")
                .insert_header(("Cookie", cookie.as_str())),
        )
        .await;
        assert_eq!(session["sites"][0]["leads"], json!(leads), "{session}");
    }
    let recent = "/api/v1/leads/recent?site=example.com";
    for req in [
        TestRequest::get().uri(recent).insert_header(bearer(&stats)),
        TestRequest::get()
            .uri(recent)
            .insert_header(("Cookie", stats_cookie.as_str())),
    ] {
        let (status, _, body) = send(&app, req).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(!body.to_string().contains("Ada"));
    }
    let (status, _, _) = send(&app, TestRequest::get().uri(recent)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = send(
        &app,
        TestRequest::get()
            .uri(recent)
            .insert_header(("Cookie", people_cookie.as_str())),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Only active leads: L2 opted out, L3 erased.
    let list = body["leads"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{body}");
    assert_eq!(list[0]["name"], "Ada Lovelace");
    assert_eq!(list[0]["company"], "Engines Ltd");
    assert_eq!(list[0]["lead_source"], "Google");
    assert_eq!(list[0]["visits"], 1);
    let id = list[0]["id"].as_str().unwrap().to_string();
    let (status, _, one) = send(
        &app,
        TestRequest::get()
            .uri(&format!("/api/v1/leads/{id}"))
            .insert_header(("Cookie", people_cookie.as_str())),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["history"]["timeline"][0]["entry_page"], "/");
    let (status, _, _) = send(
        &app,
        TestRequest::get()
            .uri(&format!("/api/v1/leads/{id}"))
            .insert_header(("Cookie", stats_cookie.as_str())),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, body) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/leads/recent?site=example.com&limit=0")
            .insert_header(bearer(&people)),
    )
    .await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("limit"))
    );

    bg.shutdown(&state, std::time::Duration::from_secs(5)).await;
}
