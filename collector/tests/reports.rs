//! Reports on a real embedded store: a known data set goes through the real ingestion
//! pipeline (with chosen timestamps), then the v2 and v1 stats APIs must return the numbers
//! worked out by hand below, for every metric, breakdown property, filter form, period, time
//! zone edge and goal; plus authentication, site limits and dashboard sessions.
//!
//! The data set (site `example.com`, UTC; days D, D+1, D+2 = ten to eight days ago):
//!
//! | session | visitor (day salt) | events (UTC)                                                        | source        |
//! |---------|--------------------|---------------------------------------------------------------------|---------------|
//! | S1      | a (day D)          | D 10:00 pv `/`, 10:05 pv `/pricing`, 10:06 `Signup` on `/pricing`   | Google        |
//! | S2      | b (day D)          | D 11:00 pv `/`                                                      | Google        |
//! | S3      | b (day D)          | D 12:00 pv `/blog/post-1`, 12:02 `pageleave`                        | Twitter       |
//! | S4      | c (day D+1)        | D+1 09:00 pv `/blog/post-1`, 09:10 pv `/pricing`, 09:11 `Signup`    | newsletter    |
//! | S5      | a' (day D+1)       | D+1 14:00 pv `/pricing`                                             | Direct / None |
//! | S6      | d (day D+2)        | D+2 23:30 pv `/`, 23:31 `Download` {plan: pro}                      | Direct / None |
//!
//! Visitors 5, visits 6, page views 8, events 12; bounces S2, S3, S5, S6 → 67 %;
//! durations 360 + 0 + 120 + 660 + 0 + 60 = 1200 s → 200 s per visit; 8 / 6 = 1.33 views per visit.

mod common;

use std::net::IpAddr;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use candor::http::AppState;
use candor::serve::{build_state, Background};
use candor::sites::{SiteDomain, SiteRequest};
use chrono::{Days, NaiveDate, Utc};
use serde_json::{json, Value};

use common::{bearer, fixture, rows, send, ADMIN, CHROME, FIREFOX};

const SAFARI: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15";

struct Data {
    d: NaiveDate,
}

impl Data {
    fn day(&self, plus: u64) -> String {
        (self.d + Days::new(plus)).to_string()
    }
}

fn at(day: NaiveDate, h: u32, m: u32) -> i64 {
    day.and_hms_opt(h, m, 0).unwrap().and_utc().timestamp()
}

async fn hit(state: &AppState, when: i64, ip: &str, ua: &str, body: Value) {
    let beacon = candor::ingest::parse(body.to_string().as_bytes()).expect("valid beacon");
    let site = state
        .sites
        .get(beacon.site.as_str())
        .expect("registered site");
    let visit = candor::pipeline::RequestFacts {
        ip: ip.parse::<IpAddr>().unwrap(),
        user_agent: ua,
        dnt: false,
        gpc: false,
        now_ms: (when * 1000) as u64,
    };
    let day = when.div_euclid(86_400);
    state.salts.ephemeral(day);
    let dropped = state.pipeline.ingest(beacon, &site, &visit).await.unwrap();
    assert_eq!(dropped, None, "{body}");
}

fn pv(path: &str, referrer: Option<&str>) -> Value {
    json!({"site": "example.com", "url": format!("https://example.com{path}"), "referrer": referrer, "w": 1280})
}

fn custom(name: &str, path: &str, props: Value) -> Value {
    json!({"site": "example.com", "name": name, "url": format!("https://example.com{path}"), "props": props, "w": 1280})
}

/// Seeds the data set, drains it into the store and returns the state.
async fn seeded(dir: &std::path::Path) -> (AppState, Background, Data) {
    let state = build_state(common::config(
        dir,
        &[
            ("CANDOR_BATCH_INTERVAL_MS", "100"),
            // One insert per event: a visit's rows land in separate parts, so the reports
            // fold sessions that background merges have not folded yet.
            ("CANDOR_BATCH_ROWS", "1"),
            ("CANDOR_SITES", "example.com,tz.example"),
            // Every seeded address is in the fixtures' 198.51.100.0/24: Tokyo, Sample Telecom.
            ("CANDOR_GEOIP_DB", &fixture("geo-city.mmdb")),
            ("CANDOR_ORG_DB", &fixture("asn.mmdb")),
        ],
    ))
    .await
    .unwrap();
    state
        .sites
        .upsert(SiteRequest {
            timezone: Some("America/New_York".into()),
            ..SiteRequest::new(SiteDomain::parse("tz.example").unwrap())
        })
        .await
        .unwrap();
    let d = Utc::now().date_naive() - Days::new(10);
    let d1 = d + Days::new(1);
    let d2 = d + Days::new(2);
    let google = Some("https://www.google.com/search?q=candor");
    // S1
    hit(
        &state,
        at(d, 10, 0),
        "198.51.100.1",
        CHROME,
        pv("/", google),
    )
    .await;
    hit(
        &state,
        at(d, 10, 5),
        "198.51.100.1",
        CHROME,
        pv("/pricing", None),
    )
    .await;
    hit(
        &state,
        at(d, 10, 6),
        "198.51.100.1",
        CHROME,
        custom("Signup", "/pricing", json!({})),
    )
    .await;
    // S2, S3
    hit(
        &state,
        at(d, 11, 0),
        "198.51.100.2",
        FIREFOX,
        pv("/", google),
    )
    .await;
    hit(
        &state,
        at(d, 12, 0),
        "198.51.100.2",
        FIREFOX,
        pv("/blog/post-1", Some("https://t.co/abc")),
    )
    .await;
    let mut leave = custom("pageleave", "/blog/post-1", json!({}));
    leave["engaged_ms"] = json!(90_000);
    hit(&state, at(d, 12, 2), "198.51.100.2", FIREFOX, leave).await;
    // S4
    hit(
        &state,
        at(d1, 9, 0),
        "198.51.100.3",
        SAFARI,
        pv(
            "/blog/post-1?utm_source=newsletter&utm_medium=email&utm_campaign=nov",
            None,
        ),
    )
    .await;
    hit(
        &state,
        at(d1, 9, 10),
        "198.51.100.3",
        SAFARI,
        pv("/pricing", None),
    )
    .await;
    hit(
        &state,
        at(d1, 9, 11),
        "198.51.100.3",
        SAFARI,
        custom("Signup", "/pricing", json!({})),
    )
    .await;
    // S5
    hit(
        &state,
        at(d1, 14, 0),
        "198.51.100.1",
        CHROME,
        pv("/pricing", None),
    )
    .await;
    // S6
    hit(
        &state,
        at(d2, 23, 30),
        "198.51.100.4",
        CHROME,
        pv("/", None),
    )
    .await;
    hit(
        &state,
        at(d2, 23, 31),
        "198.51.100.4",
        CHROME,
        custom("Download", "/", json!({"plan": "pro"})),
    )
    .await;
    // tz.example: 02:00 UTC on D+1 is the evening of D in New York; 12:00 UTC is D+1.
    for (when, ip) in [
        (at(d1, 2, 0), "198.51.100.5"),
        (at(d1, 12, 0), "198.51.100.6"),
    ] {
        hit(
            &state,
            when,
            ip,
            CHROME,
            json!({"site": "tz.example", "url": "https://tz.example/"}),
        )
        .await;
    }
    // One visitor now, for realtime.
    let now = Utc::now().timestamp();
    hit(&state, now, "198.51.100.9", FIREFOX, pv("/live", None)).await;

    let bg = Background::start(&state);
    common::events_stored(&state, 15).await;
    // Roll up the finished days, so the reports below read days D to D+2 from daily
    // rollups wherever they can (unfiltered) and from the raw tables elsewhere: both must
    // give the numbers worked out by hand.
    let pass = candor::serve::roll_up(&state, Utc::now().timestamp())
        .await
        .unwrap();
    assert!(!pass.deferred && pass.pending == 0);
    let rolled = state.rollups.days("example.com");
    for day in [d, d1, d2] {
        let n = day.signed_duration_since(NaiveDate::default()).num_days();
        assert!(rolled.contains_key(&n), "{day} rolled up");
    }
    (state, bg, Data { d })
}

macro_rules! v2 {
    ($app:expr, $body:expr) => {{
        let (status, _, body) = send(
            &$app,
            TestRequest::post()
                .uri("/api/v2/query")
                .insert_header(bearer(ADMIN))
                .set_json($body),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }};
}

macro_rules! v1 {
    ($app:expr, $path:expr) => {{
        let (status, _, body) = send(
            &$app,
            TestRequest::get().uri(&$path).insert_header(bearer(ADMIN)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{} → {body}", $path);
        body
    }};
}

#[actix_rt::test]
async fn the_stats_apis_return_the_numbers_worked_out_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let (state, bg, data) = seeded(dir.path()).await;
    let app = test_app!(state);
    let range = json!([data.day(0), data.day(2)]);

    // Every aggregate metric.
    let all = v2!(
        app,
        json!({
            "site_id": "example.com",
            "metrics": ["visitors", "visits", "pageviews", "events", "bounce_rate", "visit_duration", "views_per_visit"],
            "date_range": range,
        })
    );
    assert_eq!(
        rows(&all),
        vec![vec![
            json!(5),
            json!(6),
            json!(8),
            // The engagement beacon (`pageleave`) is not an event.
            json!(11),
            json!(67),
            json!(200),
            json!(1.33)
        ]]
    );
    assert_eq!(all["query"]["site_id"], "example.com");
    assert_eq!(
        all["query"]["date_range"][0],
        format!("{}T00:00:00+00:00", data.day(0))
    );

    // Sources: ties broken by name.
    let sources = v2!(
        app,
        json!({
            "site_id": "example.com", "metrics": ["visitors", "visits", "bounce_rate"],
            "date_range": range, "dimensions": ["visit:source"],
            "include": {"total_rows": true},
        })
    );
    assert_eq!(
        rows(&sources),
        vec![
            vec![json!("Direct / None"), json!(2), json!(2), json!(100)],
            vec![json!("Google"), json!(2), json!(2), json!(50)],
            vec![json!("Twitter"), json!(1), json!(1), json!(100)],
            vec![json!("newsletter"), json!(1), json!(1), json!(0)],
        ]
    );
    assert_eq!(sources["meta"]["total_rows"], 4);

    // Pagination and explicit order.
    let page = v2!(
        app,
        json!({
            "site_id": "example.com", "metrics": ["visitors"], "date_range": range,
            "dimensions": ["visit:source"], "order_by": [["visitors", "asc"], ["visit:source", "desc"]],
            "pagination": {"limit": 2, "offset": 1},
        })
    );
    assert_eq!(
        rows(&page),
        vec![
            vec![json!("Twitter"), json!(1)],
            vec![json!("Google"), json!(2)]
        ]
    );

    // Pages, entry and exit pages.
    let pages = v2!(
        app,
        json!({
            "site_id": "example.com", "metrics": ["visitors", "pageviews", "events"], "date_range": range,
            "dimensions": ["event:page"],
        })
    );
    assert_eq!(
        rows(&pages),
        vec![
            vec![json!("/"), json!(3), json!(3), json!(4)],
            vec![json!("/pricing"), json!(3), json!(3), json!(5)],
            // Its engagement beacon is not an event.
            vec![json!("/blog/post-1"), json!(2), json!(2), json!(2)],
        ]
    );
    let entry = v2!(
        app,
        json!({
            "site_id": "example.com", "metrics": ["visits", "visitors"], "date_range": range,
            "dimensions": ["visit:entry_page"],
        })
    );
    assert_eq!(
        rows(&entry),
        vec![
            vec![json!("/"), json!(3), json!(3)],
            vec![json!("/blog/post-1"), json!(2), json!(2)],
            vec![json!("/pricing"), json!(1), json!(1)],
        ]
    );
    let exit = v2!(
        app,
        json!({
            "site_id": "example.com", "metrics": ["visits"], "date_range": range, "dimensions": ["visit:exit_page"],
        })
    );
    assert_eq!(
        rows(&exit),
        vec![
            vec![json!("/pricing"), json!(3)],
            vec![json!("/"), json!(2)],
            vec![json!("/blog/post-1"), json!(1)],
        ]
    );

    // Each visit property as a v1 breakdown.
    let base = format!(
        "/api/v1/stats/breakdown?site_id=example.com&period=custom&date={},{}",
        data.day(0),
        data.day(2)
    );
    let expect = [
        (
            "visit:channel",
            "channel",
            json!([
                ["Direct", 2],
                ["Organic Search", 2],
                ["Email", 1],
                ["Organic Social", 1]
            ]),
        ),
        (
            "visit:referrer",
            "referrer",
            json!([
                ["Direct / None", 3],
                ["google.com/search", 2],
                ["t.co/abc", 1]
            ]),
        ),
        // Visits without campaign parameters are "(not set)", as in Plausible.
        (
            "visit:utm_source",
            "utm_source",
            json!([["(not set)", 4], ["newsletter", 1]]),
        ),
        (
            "visit:utm_medium",
            "utm_medium",
            json!([["(not set)", 4], ["email", 1]]),
        ),
        (
            "visit:utm_campaign",
            "utm_campaign",
            json!([["(not set)", 4], ["nov", 1]]),
        ),
        (
            "visit:browser",
            "browser",
            json!([["Chrome", 3], ["Firefox", 1], ["Safari", 1]]),
        ),
        (
            "visit:os",
            "os",
            json!([["Windows", 3], ["GNU/Linux", 1], ["Mac", 1]]),
        ),
        ("visit:device", "device", json!([["Desktop", 5]])),
        (
            "event:name",
            "name",
            // Engagement beacons are not listed.
            json!([["pageview", 5], ["Signup", 2], ["Download", 1]]),
        ),
        // Events without the property are "(none)", as in Plausible.
        (
            "event:props:plan",
            "plan",
            json!([["(none)", 5], ["pro", 1]]),
        ),
        ("event:hostname", "hostname", json!([["example.com", 5]])),
        ("visit:country", "country", json!([["JP", 5]])),
        ("visit:region", "region", json!([["Tokyo", 5]])),
        ("visit:city", "city", json!([["Tokyo", 5]])),
        ("visit:org", "org", json!([["Sample Telecom", 5]])),
        // Not set on any visit: one "(not set)" row.
        (
            "visit:utm_content",
            "utm_content",
            json!([["(not set)", 5]]),
        ),
        ("visit:utm_term", "utm_term", json!([["(not set)", 5]])),
    ];
    for (property, key, want) in expect {
        let body = v1!(app, format!("{base}&property={property}"));
        let got: Vec<Value> = body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| json!([r[key], r["visitors"]]))
            .collect();
        assert_eq!(Value::Array(got), want, "{property}: {body}");
    }

    // Filters: ==, !=, ~, |, combined; v2 or/not and case-insensitive; wildcards; props.
    let agg = |filters: &str| {
        format!(
        "/api/v1/stats/aggregate?site_id=example.com&period=custom&date={},{}&metrics=visitors,pageviews,visits&filters={}",
        data.day(0), data.day(2), urlencode(filters)
    )
    };
    let value = |b: &Value, m: &str| b["results"][m]["value"].clone();
    for (filter, visitors, pageviews, visits) in [
        ("visit:source==Google", 2, 3, 2),
        ("visit:source!=Google", 4, 5, 4),
        ("event:page~blog", 2, 2, 2),
        ("visit:source==Google|Twitter", 2, 4, 3),
        ("visit:source==Google;event:page==/pricing", 1, 1, 1),
        ("event:page==/blog/**", 2, 2, 2),
        ("visit:entry_page==/blog/post-1", 2, 3, 2),
        ("event:props:plan==pro", 1, 0, 1),
        ("visit:country==ZZ", 0, 0, 0),
    ] {
        let b = v1!(app, agg(filter));
        assert_eq!(
            (
                value(&b, "visitors"),
                value(&b, "pageviews"),
                value(&b, "visits")
            ),
            (json!(visitors), json!(pageviews), json!(visits)),
            "{filter}: {b}"
        );
    }
    let or = v2!(
        app,
        json!({
            "site_id": "example.com", "metrics": ["visitors"], "date_range": range,
            "filters": [["or", [["is", "visit:source", ["Twitter"]], ["is", "visit:source", ["newsletter"]]]]],
        })
    );
    assert_eq!(rows(&or), vec![vec![json!(2)]]);
    let not = v2!(
        app,
        json!({
            "site_id": "example.com", "metrics": ["visitors"], "date_range": range,
            "filters": [["not", ["contains", "visit:source", ["oo"]]]],
        })
    );
    assert_eq!(
        rows(&not),
        vec![vec![json!(4)]],
        "everyone but the Google visits"
    );
    let insensitive = v2!(
        app,
        json!({
            "site_id": "example.com", "metrics": ["visitors"], "date_range": range,
            "filters": [["is", "visit:source", ["GOOGLE"], {"case_sensitive": false}]],
        })
    );
    assert_eq!(rows(&insensitive), vec![vec![json!(2)]]);
    let regex = v2!(
        app,
        json!({
            "site_id": "example.com", "metrics": ["pageviews"], "date_range": range,
            "filters": [["matches", "event:page", ["^/(blog|pricing)"]]],
        })
    );
    assert_eq!(rows(&regex), vec![vec![json!(5)]]);

    // Periods: day, 7d relative to `date` (the seven whole days before it, as in Plausible);
    // time series by day and hour; comparison.
    let day = v1!(app, format!("/api/v1/stats/aggregate?site_id=example.com&period=day&date={}&metrics=visitors,visits", data.day(0)));
    assert_eq!(
        (value(&day, "visitors"), value(&day, "visits")),
        (json!(2), json!(3))
    );
    let week = v1!(
        app,
        format!(
            "/api/v1/stats/aggregate?site_id=example.com&period=7d&date={}",
            data.day(7)
        )
    );
    assert_eq!(value(&week, "visitors"), json!(5));
    let week_before = v1!(
        app,
        format!(
            "/api/v1/stats/aggregate?site_id=example.com&period=7d&date={}",
            data.day(8)
        )
    );
    assert_eq!(
        value(&week_before, "visitors"),
        json!(3),
        "day D dropped out of the window"
    );
    let series = v1!(app, format!("/api/v1/stats/timeseries?site_id=example.com&period=custom&date={},{}&metrics=visitors,pageviews", data.day(0), data.day(3)));
    assert_eq!(
        series["results"],
        json!([
            {"date": data.day(0), "visitors": 2, "pageviews": 4},
            {"date": data.day(1), "visitors": 2, "pageviews": 3},
            {"date": data.day(2), "visitors": 1, "pageviews": 1},
            {"date": data.day(3), "visitors": 0, "pageviews": 0},
        ])
    );
    let hourly = v1!(
        app,
        format!(
            "/api/v1/stats/timeseries?site_id=example.com&period=day&date={}",
            data.day(0)
        )
    );
    let hours = hourly["results"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    let busy: Vec<Value> = hours
        .iter()
        .filter(|h| h["visitors"] != json!(0))
        .cloned()
        .collect();
    assert_eq!(
        busy,
        vec![
            json!({"date": format!("{} 10:00:00", data.day(0)), "visitors": 1}),
            json!({"date": format!("{} 11:00:00", data.day(0)), "visitors": 1}),
            json!({"date": format!("{} 12:00:00", data.day(0)), "visitors": 1}),
        ]
    );
    let compared = v1!(app, format!("/api/v1/stats/aggregate?site_id=example.com&period=day&date={}&metrics=visitors,pageviews,bounce_rate&compare=previous_period", data.day(1)));
    assert_eq!(
        compared["results"],
        json!({
            "visitors": {"value": 2, "change": 0, "comparison_value": 2},
            "pageviews": {"value": 3, "change": -25, "comparison_value": 4},
            "bounce_rate": {"value": 50, "change": -17, "comparison_value": 67},
        })
    );
    let v2_series = v2!(
        app,
        json!({
            "site_id": "example.com", "metrics": ["visitors", "visits"], "date_range": [data.day(0), data.day(2)],
            "dimensions": ["time:day"], "include": {"time_labels": true},
        })
    );
    assert_eq!(
        rows(&v2_series),
        vec![
            vec![json!(data.day(0)), json!(2), json!(3)],
            vec![json!(data.day(1)), json!(2), json!(2)],
            vec![json!(data.day(2)), json!(1), json!(1)],
        ]
    );
    assert_eq!(
        v2_series["meta"]["time_labels"],
        json!([data.day(0), data.day(1), data.day(2)])
    );

    // Time zone edges: New York's day D holds the 02:00 UTC visit of D+1.
    let tz = v2!(
        app,
        json!({
            "site_id": "tz.example", "metrics": ["visitors"], "date_range": [data.day(0), data.day(1)], "dimensions": ["time:day"],
        })
    );
    assert_eq!(
        rows(&tz),
        vec![
            vec![json!(data.day(0)), json!(1)],
            vec![json!(data.day(1)), json!(1)]
        ]
    );
    let tz_day = v2!(
        app,
        json!({"site_id": "tz.example", "metrics": ["visitors"], "date_range": [data.day(1), data.day(1)]})
    );
    assert_eq!(rows(&tz_day), vec![vec![json!(1)]]);

    // Realtime: the one visitor of the last five minutes.
    let live = v1!(
        app,
        String::from("/api/v1/stats/realtime/visitors?site_id=example.com")
    );
    assert_eq!(live, json!(1));

    bg.shutdown(&state, std::time::Duration::from_secs(5)).await;
}

/// The panels of a dashboard view over `range`, each query as the dashboard sends it.
fn view(range: &Value, filters: &Value) -> Vec<Value> {
    let q = |metrics: Value, dims: Value| {
        json!({"site_id": "example.com", "metrics": metrics, "date_range": range,
               "dimensions": dims, "filters": filters, "pagination": {"limit": 9}})
    };
    let mut top = q(
        json!([
            "visitors",
            "visits",
            "pageviews",
            "views_per_visit",
            "bounce_rate",
            "visit_duration"
        ]),
        json!([]),
    );
    top["include"] = json!({"comparisons": {"mode": "previous_period"}});
    let mut out = vec![top, q(json!(["visitors"]), json!(["time:day"]))];
    for dim in [
        "visit:channel",
        "visit:source",
        "visit:referrer",
        "visit:utm_source",
        "visit:country",
        "visit:country_name",
        "visit:city",
        "visit:device",
        "visit:browser",
        "visit:os",
        "event:hostname",
        "event:props:plan",
    ] {
        out.push(q(json!(["visitors", "percentage"]), json!([dim])));
    }
    for dim in ["visit:entry_page", "visit:exit_page"] {
        out.push(q(
            json!(["visits", "visitors", "bounce_rate"]),
            json!([dim]),
        ));
    }
    out.push(q(json!(["visitors", "pageviews"]), json!(["event:page"])));
    out.push(q(
        json!(["visitors", "events", "conversion_rate"]),
        json!(["event:goal"]),
    ));
    out.push(q(
        json!(["visitors", "pageviews", "bounce_rate"]),
        json!(["visit:source"]),
    ));
    out
}

/// `POST /api/v2/query/batch` answers each query of a dashboard view, under each kind of
/// filter, exactly as `POST /api/v2/query` answers it alone, while the statements the
/// queries share run once as grouping sets; and each query's errors stay its own.
async fn batches_answer_as_queries_alone(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    state: &AppState,
    range: &Value,
) {
    let batch = |body: Value| {
        TestRequest::post()
            .uri("/api/v2/query/batch")
            .insert_header(bearer(ADMIN))
            .set_json(body)
    };
    for filters in [
        json!([]),
        json!([["is", "visit:source", ["Google"]]]),
        json!([["is", "event:page", ["/pricing"]]]),
        json!([["is", "visit:country", ["JP"]]]),
        json!([["is", "event:goal", ["Signup"]]]),
        json!([["is", "event:props:plan", ["pro"]]]),
        json!([["is", "visit:entry_page", ["/"]]]),
        json!([
            ["is_not", "visit:source", ["Twitter"]],
            ["contains", "visit:browser", ["chr"]]
        ]),
        json!([
            ["is", "visit:source", ["Google", "Direct / None"]],
            ["is", "event:page", ["/", "/pricing"]]
        ]),
    ] {
        let queries = view(range, &filters);
        let (status, _, out) = send(app, batch(json!({ "queries": queries }))).await;
        assert_eq!(status, StatusCode::OK, "{out}");
        let results = out["results"].as_array().unwrap();
        assert_eq!(results.len(), queries.len());
        for (q, r) in queries.iter().zip(results) {
            let alone = v2!(app, q.clone());
            assert_eq!((&r["status"], &r["body"]), (&json!(200), &alone), "{q}");
        }
        // The shared statements were answered as grouping sets.
        let parsed: Vec<candor::reports::engine::Query> = queries
            .iter()
            .map(|q| {
                let site = state.sites.get("example.com").unwrap();
                let req = serde_json::from_value(q.clone()).unwrap();
                candor::reports::parse_query(&req, &site, Utc::now().timestamp()).unwrap()
            })
            .collect();
        let goals = state.goals.list("example.com");
        let reports: Vec<_> = parsed.iter().map(|q| (q, goals.as_slice())).collect();
        // Over the raw tables alone: with rollups, a view whose filter every finished day
        // holds (none, or a common source, country, page, goal...) reads those days from the
        // rollups and shares fewer statements, depending on which days the builder reached.
        let memo = candor::reports::batch::prefetch(state.store.as_ref(), None, &reports).await;
        assert!(
            memo.len() >= 10,
            "{filters}: {} statements shared",
            memo.len()
        );
        // Under an event filter, the visit fold and the visitors by visit attributes select
        // the visits with a matching event once, in one statement.
        let event_filter = filters
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f[1].as_str().unwrap().starts_with("event:"));
        assert_eq!(memo.shared(), usize::from(event_filter), "{filters}");
    }

    // Each query's error is its own; the others are answered.
    let good = json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": range});
    let (status, _, out) = send(
        app,
        batch(json!({"queries": [
            good,
            {"site_id": "example.com", "metrics": ["visitors"], "date_range": range,
             "filters": [["matches", "event:page", ["(unclosed"]]]},
            {"site_id": "nowhere.example", "metrics": ["visitors"], "date_range": range},
            {"site_id": "example.com", "metrics": ["visitors"], "date_range": range, "bogus": 1},
        ]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let alone = v2!(app, good.clone());
    assert_eq!(out["results"][0], json!({"status": 200, "body": alone}));
    assert_eq!(out["results"][1]["status"], 400, "{out}");
    assert_eq!(out["results"][1]["body"]["field"], "queries[1].filters");
    assert_eq!(out["results"][2]["status"], 404, "{out}");
    assert_eq!(out["results"][3]["status"], 400, "{out}");
    assert!(out["results"][3]["body"]["error"]
        .as_str()
        .unwrap()
        .contains("bogus"));

    // The batch itself: 1 to 50 queries, and a reader's token.
    for body in [
        json!({"queries": []}),
        json!({"queries": vec![good.clone(); 51]}),
        json!({"queries": good}),
        json!({}),
    ] {
        let (status, _, out) = send(app, batch(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {out}");
        assert!(out["error"].is_string(), "{out}");
    }
    let (status, _, _) = send(
        app,
        TestRequest::post()
            .uri("/api/v2/query/batch")
            .set_json(json!({"queries": [good]})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[actix_rt::test]
async fn goals_count_conversions_and_conversion_rates() {
    let dir = tempfile::tempdir().unwrap();
    let (state, bg, data) = seeded(dir.path()).await;
    let app = test_app!(state);
    for (body, status) in [
        (json!({"event_name": "Signup"}), StatusCode::CREATED),
        (json!({"page_path": "/blog/**"}), StatusCode::CREATED),
        (json!({"page_path": "blog"}), StatusCode::BAD_REQUEST),
        (json!({"event_name": "Signup"}), StatusCode::BAD_REQUEST),
        (
            json!({"event_name": "x", "page_path": "/x"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (got, _, b) = send(
            &app,
            TestRequest::post()
                .uri("/api/v1/sites/example.com/goals")
                .insert_header(bearer(ADMIN))
                .set_json(&body),
        )
        .await;
        assert_eq!(got, status, "{body} → {b}");
    }
    let (_, _, list) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/sites/example.com/goals")
            .insert_header(bearer(ADMIN)),
    )
    .await;
    let names: Vec<&str> = list["goals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Signup", "Visit /blog/**"]);
    let range = json!([data.day(0), data.day(2)]);

    let by_goal = v2!(
        app,
        json!({
            "site_id": "example.com", "metrics": ["visitors", "events", "conversion_rate"], "date_range": range,
            "dimensions": ["event:goal"],
        })
    );
    assert_eq!(
        rows(&by_goal),
        vec![
            vec![json!("Signup"), json!(2), json!(2), json!(40.0)],
            vec![json!("Visit /blog/**"), json!(2), json!(2), json!(40.0)],
        ]
    );
    let signup = v2!(
        app,
        json!({
            "site_id": "example.com", "metrics": ["visitors", "visits", "conversion_rate"], "date_range": range,
            "filters": [["is", "event:goal", ["Signup"]]],
        })
    );
    assert_eq!(rows(&signup), vec![vec![json!(2), json!(2), json!(40.0)]]);
    // Per source, as Plausible defines them: conversion_rate of all 5 visitors, and
    // group_conversion_rate of the source's visitors (Google 1 of 2, newsletter 1 of 1).
    let per_source = v2!(
        app,
        json!({
            "site_id": "example.com", "metrics": ["visitors", "conversion_rate", "group_conversion_rate"],
            "date_range": range, "dimensions": ["visit:source"], "filters": [["is", "event:goal", ["Signup"]]],
        })
    );
    assert_eq!(
        rows(&per_source),
        vec![
            vec![json!("Google"), json!(1), json!(20.0), json!(50.0)],
            vec![json!("newsletter"), json!(1), json!(20.0), json!(100.0)],
        ]
    );
    let v1_goal = v1!(app, format!("/api/v1/stats/breakdown?site_id=example.com&period=custom&date={},{}&property=event:goal&metrics=visitors,conversion_rate", data.day(0), data.day(2)));
    assert_eq!(
        v1_goal["results"],
        json!([
            {"goal": "Signup", "visitors": 2, "conversion_rate": 40.0},
            {"goal": "Visit /blog/**", "visitors": 2, "conversion_rate": 40.0},
        ])
    );
    let (status, _, err) = send(
        &app,
        TestRequest::post()
            .uri("/api/v2/query")
            .insert_header(bearer(ADMIN))
            .set_json(json!({
                "site_id": "example.com", "metrics": ["conversion_rate"], "date_range": range,
            })),
    )
    .await;
    assert_eq!(
        (status, err["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("metrics"))
    );

    batches_answer_as_queries_alone(&app, &state, &range).await;

    let id = list["goals"][0]["id"].as_str().unwrap().to_string();
    let (status, _, _) = send(
        &app,
        TestRequest::delete()
            .uri(&format!("/api/v1/sites/example.com/goals/{id}"))
            .insert_header(bearer(ADMIN)),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let after = v2!(
        app,
        json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": range, "dimensions": ["event:goal"]})
    );
    assert_eq!(rows(&after), vec![vec![json!("Visit /blog/**"), json!(2)]]);
    bg.shutdown(&state, std::time::Duration::from_secs(5)).await;
}

#[actix_rt::test]
async fn tokens_sites_dashboard_sessions_and_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let state = build_state(common::config(
        dir.path(),
        &[("CANDOR_SITES", "a.example,b.example")],
    ))
    .await
    .unwrap();
    let app = test_app!(state);
    let query = |site: &str| json!({"site_id": site, "metrics": ["visitors"], "date_range": "7d"});
    let post = |body: Value| TestRequest::post().uri("/api/v2/query").set_json(body);

    let (status, _, _) = send(&app, post(query("a.example"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = send(
        &app,
        post(query("a.example")).insert_header(bearer("cnd_wrong-token-value-0123456789")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, _, made) = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/tokens")
            .insert_header(bearer(ADMIN))
            .set_json(json!({"name": "a only", "scopes": ["stats:read"], "sites": ["a.example"]})),
    )
    .await;
    let a_token = made["token"].as_str().unwrap().to_string();
    let (status, _, body) = send(
        &app,
        post(query("a.example")).insert_header(bearer(&a_token)),
    )
    .await;
    assert_eq!(
        (status, rows(&body)),
        (StatusCode::OK, vec![vec![json!(0)]])
    );
    let (status, _, _) = send(
        &app,
        post(query("b.example")).insert_header(bearer(&a_token)),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a token for site A on site B"
    );
    let (status, _, _) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/stats/aggregate?site_id=b.example")
            .insert_header(bearer(&a_token)),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, _, leads) = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/tokens")
            .insert_header(bearer(ADMIN))
            .set_json(json!({"name": "crm", "scopes": ["leads:read"]})),
    )
    .await;
    let (status, _, _) = send(
        &app,
        post(query("a.example")).insert_header(bearer(leads["token"].as_str().unwrap())),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no stats:read scope");

    // Bad requests: a 400 naming the field, never a 500.
    for (body, field) in [
        (
            json!({"site_id": "a.example", "metrics": ["nope"], "date_range": "7d"}),
            "metrics",
        ),
        (
            json!({"site_id": "a.example", "metrics": ["visitors"], "date_range": "fortnight"}),
            "date_range",
        ),
        (
            json!({"site_id": "a.example", "metrics": ["visitors"], "date_range": ["2026-02-10", "2026-02-01"]}),
            "date_range",
        ),
        (
            json!({"site_id": "a.example", "metrics": ["visitors"], "date_range": "7d", "dimensions": ["visit:nope"]}),
            "dimensions",
        ),
        (
            json!({"site_id": "a.example", "metrics": ["visitors"], "date_range": "7d", "filters": [["like", "event:page", ["/"]]]}),
            "filters",
        ),
        (
            json!({"site_id": "a.example", "metrics": ["visitors"], "date_range": "7d", "filters": [["matches", "event:page", ["("]]]}),
            "filters",
        ),
        (
            json!({"site_id": "a.example", "metrics": ["visitors"], "date_range": "7d", "filters": "visit:source==x"}),
            "filters",
        ),
        (
            json!({"site_id": "a.example", "metrics": ["visitors"], "date_range": "7d", "order_by": [["pageviews", "desc"]]}),
            "order_by",
        ),
        (
            json!({"site_id": "a.example", "metrics": ["visitors"], "date_range": "7d", "pagination": {"limit": 0}}),
            "pagination",
        ),
        (
            json!({"site_id": "a.example", "metrics": ["visitors"], "date_range": "7d", "dimensions": ["time:day", "visit:source"], "include": {"comparisons": {"mode": "previous_period"}}}),
            "include",
        ),
        (
            json!({"site_id": "a.example", "metrics": ["visitors"], "date_range": "7d", "include": {"comparisons": {"mode": "custom", "date_range": ["2026-01-02", "2026-01-01"]}}}),
            "include",
        ),
        (
            json!({"site_id": "a.example", "metrics": ["visitors"], "date_range": "7d", "include": {"comparisons": {"mode": "next_year"}}}),
            "include",
        ),
    ] {
        let (status, _, err) = send(&app, post(body.clone()).insert_header(bearer(ADMIN))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {err}");
        assert_eq!(err["field"], json!(field), "{body} → {err}");
    }
    for path in [
        "/api/v1/stats/aggregate?site_id=a.example&period=fortnight",
        "/api/v1/stats/aggregate?site_id=a.example&filters=visit:source",
        "/api/v1/stats/breakdown?site_id=a.example",
        "/api/v1/stats/breakdown?site_id=a.example&property=visit:source&limit=5000",
        "/api/v1/stats/timeseries?site_id=a.example&interval=minute",
        "/api/v1/stats/aggregate?site_id=a.example&period=custom&date=yesterday",
        "/api/v1/stats/aggregate",
    ] {
        let (status, _, err) = send(
            &app,
            TestRequest::get().uri(path).insert_header(bearer(ADMIN)),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} → {err}");
    }
    let (status, _, _) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/stats/aggregate?site_id=nope.example")
            .insert_header(bearer(ADMIN)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Dashboard: a site password, a session cookie, revocation by changing the password.
    let (status, _, _) = send(
        &app,
        TestRequest::put()
            .uri("/api/v1/sites/a.example/dashboard-password")
            .insert_header(bearer(ADMIN))
            .set_json(json!({"password": "short"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = send(
        &app,
        TestRequest::put()
            .uri("/api/v1/sites/a.example/dashboard-password")
            .insert_header(bearer(ADMIN))
            .set_json(json!({"password": "correct horse battery"})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let stored: Vec<Value> = candor::store::fetch(
        state.store.as_ref(),
        "SELECT password_hash FROM dashboard_passwords",
        &candor::store::Params::new(),
    )
    .await
    .unwrap();
    assert!(stored[0]["password_hash"]
        .as_str()
        .unwrap()
        .starts_with("pbkdf2-sha256$"));
    assert!(!stored[0]["password_hash"]
        .as_str()
        .unwrap()
        .contains("horse"));
    let login = |body: Value| {
        TestRequest::post()
            .uri("/api/dashboard/login")
            .set_json(body)
    };
    let (status, cookies, _) = send(
        &app,
        login(json!({"site": "a.example", "password": "wrong password!"})),
    )
    .await;
    assert_eq!((status, cookies.len()), (StatusCode::UNAUTHORIZED, 0));
    let (status, cookies, sites) = send(
        &app,
        login(json!({"site": "a.example", "password": "correct horse battery"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sites["sites"],
        json!([{"domain": "a.example", "timezone": "UTC", "leads": false, "admin": false}])
    );
    let cookie = cookies[0].clone();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    let (status, _, body) = send(
        &app,
        post(query("a.example")).insert_header(("Cookie", pair.clone())),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = send(
        &app,
        post(query("b.example")).insert_header(("Cookie", pair.clone())),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a site password opens only its site"
    );
    let (status, _, _) = send(
        &app,
        TestRequest::get()
            .uri("/api/dashboard/session")
            .insert_header(("Cookie", pair.clone())),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let tampered = format!("{}x", pair);
    let (status, _, _) = send(
        &app,
        TestRequest::get()
            .uri("/api/dashboard/session")
            .insert_header(("Cookie", tampered)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    send(
        &app,
        TestRequest::put()
            .uri("/api/v1/sites/a.example/dashboard-password")
            .insert_header(bearer(ADMIN))
            .set_json(json!({"password": "another long password"})),
    )
    .await;
    let (status, _, _) = send(
        &app,
        post(query("a.example")).insert_header(("Cookie", pair)),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "changing the password ends old sessions"
    );

    // Token sign-in; revoking the token ends the session.
    let (status, cookies, sites) = send(&app, login(json!({"token": a_token}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sites["sites"].as_array().unwrap().len(), 1);
    let pair = cookies[0].split(';').next().unwrap().to_string();
    let (status, _, _) = send(
        &app,
        post(query("a.example")).insert_header(("Cookie", pair.clone())),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let id = made["id"].as_str().unwrap();
    send(
        &app,
        TestRequest::delete()
            .uri(&format!("/api/v1/tokens/{id}"))
            .insert_header(bearer(ADMIN)),
    )
    .await;
    let (status, _, _) = send(
        &app,
        post(query("a.example")).insert_header(("Cookie", pair)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, cookies, _) = send(&app, TestRequest::post().uri("/api/dashboard/logout")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(cookies[0].contains("Max-Age=0"), "{}", cookies[0]);
}

#[actix_rt::test]
async fn the_accounts_report_leaves_out_isps_mobile_carriers_and_hosting() {
    let dir = tempfile::tempdir().unwrap();
    let asn = fixture("asn.mmdb");
    let state = build_state(common::config(
        dir.path(),
        &[("CANDOR_BATCH_INTERVAL_MS", "100"), ("CANDOR_ORG_DB", &asn)],
    ))
    .await
    .unwrap();
    let d = Utc::now().date_naive() - Days::new(3);
    // Two visitors from a business network, one from a mobile carrier.
    hit(&state, at(d, 9, 0), "203.0.113.10", CHROME, pv("/", None)).await;
    hit(
        &state,
        at(d, 9, 1),
        "203.0.113.10",
        CHROME,
        pv("/pricing", None),
    )
    .await;
    hit(&state, at(d, 10, 0), "203.0.113.11", FIREFOX, pv("/", None)).await;
    hit(&state, at(d, 11, 0), "198.51.100.20", SAFARI, pv("/", None)).await;
    let bg = Background::start(&state);
    let app = test_app!(state);
    let day = d.to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let accounts = loop {
        let body = v1!(
            app,
            format!("/api/v1/stats/accounts?site_id=example.com&period=day&date={day}")
        );
        if !body["results"].as_array().unwrap().is_empty() || std::time::Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        accounts["results"],
        json!([{"org": "Example Industries GmbH", "visitors": 2, "visits": 2, "pageviews": 3, "visit_duration": 30, "leads": 0}])
    );
    // Every organisation and its kind stay available as ordinary breakdowns.
    let kinds = v2!(
        app,
        json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": [day, day], "dimensions": ["visit:org_type", "visit:org"]})
    );
    assert_eq!(
        rows(&kinds),
        vec![
            vec![
                json!("business"),
                json!("Example Industries GmbH"),
                json!(2)
            ],
            vec![json!("mobile"), json!("Sample Telecom"), json!(1)],
        ]
    );
    bg.shutdown(&state, std::time::Duration::from_secs(5)).await;
}

/// Visitors and visits read event filters with one meaning: an event that matches all of
/// them. Under a page and a goal filter both count conversions on that page — not, for visits,
/// a visit that saw the page and converted elsewhere.
#[actix_rt::test]
async fn visits_and_visitors_read_event_filters_alike() {
    use common::fixture::{populate, Ev};
    let dir = tempfile::tempdir().unwrap();
    let state = build_state(common::config(
        dir.path(),
        &[
            ("CANDOR_SITES", "alike.example"),
            ("CANDOR_BATCH_INTERVAL_MS", "50"),
        ],
    ))
    .await
    .unwrap();
    let bg = candor::serve::Background::start(&state);
    let app = test_app!(state);
    populate(
        &state,
        "alike.example",
        vec![
            // Saw the pricing page, signed up on another.
            Ev::pageview().path("/pricing").user(1),
            Ev::event("Signup")
                .path("/welcome")
                .user(1)
                .at("2021-01-01 00:01:00"),
            // Signed up on the pricing page.
            Ev::pageview().path("/pricing").user(2),
            Ev::event("Signup")
                .path("/pricing")
                .user(2)
                .at("2021-01-01 00:01:00"),
            // A visit from Google that started the day before it saw the pricing page.
            Ev::pageview()
                .path("/")
                .user(3)
                .set("source", "Google")
                .at("2021-01-01 23:50:00"),
            Ev::pageview()
                .path("/pricing")
                .user(3)
                .set("source", "Google")
                .at("2021-01-02 00:05:00"),
        ],
    )
    .await;
    // Visitors by source under a page filter come from the visits with a matching event
    // (`visitors_from_sessions`): the visit counts on the day of its event, not of its start.
    let by_source = v2!(
        app,
        json!({"site_id": "alike.example", "metrics": ["visitors"], "date_range": ["2021-01-02", "2021-01-02"],
               "dimensions": ["visit:source"], "filters": [["is", "event:page", ["/pricing"]]]})
    );
    assert_eq!(rows(&by_source), vec![vec![json!("Google"), json!(1)]]);
    let (status, _, out) = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/sites/alike.example/goals")
            .insert_header(bearer(ADMIN))
            .set_json(json!({"event_name": "Signup"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{out}");
    let both = v2!(
        app,
        json!({"site_id": "alike.example", "metrics": ["visitors", "visits", "events"], "date_range": "all",
               "filters": [["is", "event:page", ["/pricing"]], ["is", "event:goal", ["Signup"]]]})
    );
    assert_eq!(rows(&both), vec![vec![json!(1), json!(1), json!(1)]]);
    bg.shutdown(&state, std::time::Duration::from_secs(5)).await;
}
