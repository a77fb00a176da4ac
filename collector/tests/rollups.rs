//! Daily rollups on a real embedded store: for every rolled-up breakdown, metric, period,
//! time bucket, comparison and goal, reports answered from rollups plus the raw rest of the
//! range are identical to reports answered from the raw tables alone — for a UTC site and
//! for a site in New York, whose ranges cut UTC days at both ends. Late events and goal
//! changes make a day stale; the next pass rebuilds it (a day older than the recount window:
//! the hourly full recount does) and old builds are deleted.

mod common;

use candor::http::AppState;
use candor::reports::engine::{Engine, Output, Query};
use candor::reports::goals::GoalRequest;
use candor::reports::rollups::{rolled_dimensions, GRACE};
use candor::reports::{parse_query, QueryRequest};
use candor::serve::{build_state, roll_up};
use candor::sites::{SiteDomain, SiteRequest};
use candor::store::synthetic::{seed, Traffic};
use candor::store::{fetch, Params};
use serde_json::{json, Value};

const SITES: [&str; 2] = ["r.example", "ny.example"];

/// The state's clock, frozen by the test: every period, seed and builder pass agrees on now.
fn now(state: &AppState) -> i64 {
    i64::from(state.clock.unix_seconds())
}

async fn count(state: &AppState, sql: &str) -> u64 {
    let rows: Vec<Value> = fetch(state.store.as_ref(), sql, &Params::new())
        .await
        .unwrap();
    rows[0]["c"].as_u64().unwrap()
}

/// Rows of the given builds still in `rollups`.
async fn rows_of_builds(state: &AppState, builds: &[u64]) -> u64 {
    let builds: Vec<String> = builds.iter().map(u64::to_string).collect();
    let rows: Vec<Value> = fetch(
        state.store.as_ref(),
        "SELECT count() AS c FROM rollups WHERE toString(build) IN {builds:Array(String)}",
        &Params::new().with("builds", builds),
    )
    .await
    .unwrap();
    rows[0]["c"].as_u64().unwrap()
}

/// Rolls up until nothing is pending; returns the days built.
async fn settle(state: &AppState, at: i64) -> usize {
    let mut built = 0;
    loop {
        let pass = roll_up(state, at).await.unwrap();
        assert!(!pass.deferred);
        built += pass.built;
        if pass.pending == 0 {
            return built;
        }
    }
}

/// The reports to compare: every rolled-up dimension (and none) with every additive metric,
/// over several periods; percentages, goals with conversion rates, time buckets and
/// comparisons.
/// Every additive metric: of events and visits, and with `leads` those of leads.
fn all_metrics(leads: bool) -> Value {
    let mut all = vec![
        "visitors",
        "visits",
        "pageviews",
        "views_per_visit",
        "bounce_rate",
        "visit_duration",
        "events",
    ];
    if leads {
        all.extend(["leads", "lead_conversion_rate"]);
    }
    json!(all)
}

fn bodies(site: &str, today: chrono::NaiveDate) -> Vec<Value> {
    let all = all_metrics(true);
    let mut out = Vec::new();
    for period in ["7d", "30d", "month", "day"] {
        let base = json!({"site_id": site, "date_range": period, "pagination": {"limit": 10000}});
        let with = |extra: Value| {
            let mut b = base.clone();
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            b
        };
        out.push(with(json!({"metrics": all})));
        out.push(with(
            json!({"metrics": all, "include": {"comparisons": {"mode": "previous_period"}}}),
        ));
        for dim in rolled_dimensions() {
            let name = dim.name();
            out.push(with(json!({"metrics": all, "dimensions": [name]})));
            out.push(with(
                json!({"metrics": ["visitors", "percentage"], "dimensions": [name]}),
            ));
        }
        out.push(with(
            json!({"metrics": ["visitors", "events", "conversion_rate"], "dimensions": ["event:goal"]}),
        ));
        for bucket in ["time:day", "time:week", "time:month"] {
            out.push(with(json!({"metrics": all, "dimensions": [bucket]})));
        }
    }
    // Whole past days only (no raw rest in UTC), and a range that starts before the data.
    let d = today;
    for (from, to) in [
        (d - chrono::Days::new(9), d - chrono::Days::new(2)),
        (d - chrono::Days::new(40), d),
    ] {
        out.push(json!({"site_id": site, "metrics": all, "date_range": [from.to_string(), to.to_string()], "dimensions": ["visit:source"]}));
        out.push(json!({"site_id": site, "metrics": all, "date_range": [from.to_string(), to.to_string()]}));
    }
    out
}

/// The reports of a dashboard view under one filter over 30 days: the top stats with a
/// comparison, the chart, every rolled-up breakdown (with event, visit and lead metrics
/// alone and together) and the goals.
fn filtered_bodies(site: &str, filter: &Value) -> Vec<Value> {
    let all = all_metrics(false);
    let mut out = Vec::new();
    for period in ["30d"] {
        let body = |metrics: &Value, dims: Value| {
            json!({"site_id": site, "date_range": period, "metrics": metrics, "dimensions": dims,
                   "filters": [filter], "pagination": {"limit": 10000}})
        };
        let mut top = body(&all, json!([]));
        top["include"] = json!({"comparisons": {"mode": "previous_period"}});
        out.push(top);
        out.push(body(&all, json!(["time:day"])));
        for dim in rolled_dimensions() {
            out.push(body(&all, json!([dim.name()])));
            out.push(body(
                &json!(["visitors", "percentage"]),
                json!([dim.name()]),
            ));
            out.push(body(&json!(["visits", "bounce_rate"]), json!([dim.name()])));
            out.push(body(&json!(["pageviews", "events"]), json!([dim.name()])));
        }
        out.push(body(
            &json!(["visitors", "events", "conversion_rate"]),
            json!(["event:goal"]),
        ));
    }
    out
}

fn query(state: &AppState, body: &Value) -> Query {
    let req: QueryRequest = serde_json::from_value(body.clone()).unwrap();
    let site = state
        .sites
        .get(req.site_id.as_str())
        .expect("registered site");
    parse_query(&req, &site, now(state)).unwrap_or_else(|e| panic!("{body}: {e}"))
}

/// Whether the report reads rollups for its main range.
fn uses_rollups(state: &AppState, q: &Query) -> bool {
    state
        .rollups
        .plan(q, &q.range, &state.goals.list(&q.site))
        .is_some()
}

/// The same report from the raw tables and with rollups.
async fn both(state: &AppState, q: &Query) -> (Output, Output) {
    let goals = state.goals.list(&q.site);
    let raw = Engine {
        store: state.store.as_ref(),
        goals: &goals,
        rollups: None,
        imports: None,
        memo: None,
    };
    let rolled = Engine {
        store: state.store.as_ref(),
        goals: &goals,
        rollups: Some(&state.rollups),
        imports: None,
        memo: None,
    };
    (raw.run(q).await.unwrap(), rolled.run(q).await.unwrap())
}

#[actix_rt::test]
async fn rolled_up_reports_equal_the_raw_tables() {
    let dir = tempfile::tempdir().unwrap();
    let state = build_state(common::config(
        dir.path(),
        &[("CANDOR_SITES", "r.example,ny.example")],
    ))
    .await
    .unwrap();
    // Frozen for the whole test, so a run that straddles midnight UTC answers the same.
    state.clock.set(candor::clock::unix_millis());
    state
        .sites
        .upsert(SiteRequest {
            timezone: Some("America/New_York".into()),
            ..SiteRequest::new(SiteDomain::parse("ny.example").unwrap())
        })
        .await
        .unwrap();
    for site in SITES {
        for (event, page) in [(Some("Signup"), None), (None, Some("/page/1*"))] {
            state
                .goals
                .create(
                    site,
                    GoalRequest {
                        event_name: event.map(String::from),
                        page_path: page.map(String::from),
                        display_name: None,
                    },
                )
                .await
                .unwrap();
        }
        // 12 days up to now: 11 finished days and today.
        seed(
            state.store.as_ref(),
            &Traffic {
                site,
                events: 40_000,
                people: 2_000,
                end: now(&state),
                days: 12,
            },
        )
        .await
        .unwrap();
    }
    let at = now(&state);
    let finished = (at - GRACE).div_euclid(86_400);
    let first = count(
        &state,
        "SELECT toUInt64(min(toDate(timestamp))) AS c FROM events",
    )
    .await as i64;
    let days_per_site = (finished - first) as usize;
    // Days (of both sites) that end between two of the builder's clock readings: the test
    // runs its clock up to an hour ahead, which may cross the end of a UTC day.
    let ended = |from: i64, to: i64| {
        SITES.len() * ((to - GRACE).div_euclid(86_400) - (from - GRACE).div_euclid(86_400)) as usize
    };
    assert_eq!(settle(&state, at).await, 2 * days_per_site);
    assert_eq!(settle(&state, at).await, 0, "nothing is stale right after");
    assert_eq!(state.rollups.days("r.example").len(), days_per_site);

    let mut planned = 0;
    for site in SITES {
        let today = chrono::DateTime::from_timestamp(at, 0)
            .unwrap()
            .date_naive();
        for body in bodies(site, today) {
            let q = query(&state, &body);
            if uses_rollups(&state, &q) {
                planned += 1;
            }
            let (raw, rolled) = both(&state, &q).await;
            assert_eq!(raw, rolled, "{body}");
        }
    }
    // Every UTC-site report with a finished day in its range reads rollups; so do the New
    // York site's breakdowns (its time buckets straddle UTC days and are left raw).
    assert!(planned > 120, "{planned} reports used rollups");

    // Under a common page, property value, source or country, or a goal (every day holds
    // it), the same reports read filtered rollups, with the same answers; under a rare page,
    // another visit property or another operator they read the raw tables.
    let days = state.rollups.days("r.example");
    let held = [
        r#"["event:page","/page/1"]"#,
        r#"["event:props:author","alice"]"#,
        r#"["visit:source","Google"]"#,
        r#"["visit:source","Direct / None"]"#,
        r#"["visit:country","US"]"#,
        r#"["event:goal","Signup"]"#,
        r#"["event:goal","Visit /page/1*"]"#,
    ];
    assert!(
        days.values()
            .all(|b| held.iter().all(|h| b.filters.iter().any(|f| f == h))
                && !b.filters.iter().any(|f| f.contains("/page/299"))
                && !b.filters.iter().any(|f| f.contains("visit:browser"))),
        "{days:?}"
    );
    for (filter, rolled_up) in [
        (json!(["is", "event:page", ["/page/1"]]), true),
        (json!(["is", "event:props:author", ["alice"]]), true),
        (json!(["is", "visit:source", ["Google"]]), true),
        (json!(["is", "visit:source", ["Direct / None"]]), true),
        (json!(["is", "visit:country", ["US"]]), true),
        (json!(["is", "event:goal", ["Signup"]]), true),
        (json!(["is", "event:goal", ["Visit /page/1*"]]), true),
        (json!(["is", "event:page", ["/page/299"]]), false),
        (json!(["contains", "event:page", ["/page/1"]]), false),
        (json!(["is", "visit:browser", ["Chrome"]]), false),
    ] {
        let mut planned = 0;
        for body in filtered_bodies("r.example", &filter) {
            let q = query(&state, &body);
            let uses = uses_rollups(&state, &q);
            // Filtered builds hold visits by visit attributes and entry and exit pages, but
            // not by event properties (pages, goals): those read the raw tables.
            let event_dim = body["dimensions"][0]
                .as_str()
                .is_some_and(|d| d.starts_with("event:"));
            let visit_metrics = body["metrics"].as_array().unwrap().iter().any(|m| {
                ["visits", "bounce_rate", "visit_duration", "views_per_visit"]
                    .contains(&m.as_str().unwrap())
            });
            assert_eq!(uses, rolled_up && !(event_dim && visit_metrics), "{body}");
            planned += usize::from(uses);
            let (raw, rolled) = both(&state, &q).await;
            assert_eq!(raw, rolled, "{body}");
            assert!(!rolled_up || !raw.results.is_empty(), "{body}");
        }
        assert!(!rolled_up || planned > 40, "{filter}: {planned}");
    }
    // Filtered builds hold no leads: lead metrics under a filter read the raw tables.
    let leads = query(
        &state,
        &json!({"site_id": "r.example", "date_range": "30d", "metrics": ["visitors", "leads"],
                "dimensions": ["visit:source"], "filters": [["is", "event:page", ["/page/1"]]]}),
    );
    assert!(!uses_rollups(&state, &leads));
    let (raw, rolled) = both(&state, &leads).await;
    assert_eq!(raw, rolled);

    // Late events for a rolled-up day: the rollup is stale (its answer differs, which shows
    // it is being read) until the next pass rebuilds the days whose counts changed.
    let late_end = (finished - 3) * 86_400 + 43_200;
    seed(
        state.store.as_ref(),
        &Traffic {
            site: "r.example",
            events: 800,
            people: 50,
            end: late_end,
            days: 1,
        },
    )
    .await
    .unwrap();
    let total = query(
        &state,
        &json!({"site_id": "r.example", "metrics": ["visitors", "visits", "events"], "date_range": "30d"}),
    );
    let (raw, rolled) = both(&state, &total).await;
    assert_ne!(raw, rolled, "stale rollups are read until rebuilt");
    let before: Vec<u64> = state
        .rollups
        .days("r.example")
        .values()
        .map(|b| b.build)
        .collect();
    assert_eq!(
        settle(&state, at).await,
        2,
        "the two days the late visits touched"
    );
    let (raw, rolled) = both(&state, &total).await;
    assert_eq!(raw, rolled);

    // A goal change: goal breakdowns and goal filters read the raw tables until the days are
    // rebuilt.
    state
        .goals
        .create(
            "r.example",
            GoalRequest {
                event_name: Some("Download".into()),
                page_path: None,
                display_name: None,
            },
        )
        .await
        .unwrap();
    let goals = query(
        &state,
        &json!({"site_id": "r.example", "metrics": ["visitors", "events", "conversion_rate"], "date_range": "30d", "dimensions": ["event:goal"]}),
    );
    let converted = query(
        &state,
        &json!({"site_id": "r.example", "metrics": ["visitors", "events"], "date_range": "30d",
                "dimensions": ["visit:source"], "filters": [["is", "event:goal", ["Signup"]]]}),
    );
    for q in [&goals, &converted] {
        assert!(!uses_rollups(&state, q));
        let (raw, rolled) = both(&state, q).await;
        assert_eq!(raw, rolled);
    }
    assert_eq!(
        both(&state, &goals).await.0.results.len(),
        3,
        "Signup, Visit /page/1*, Download"
    );
    assert_eq!(settle(&state, at).await, days_per_site);
    for q in [&goals, &converted] {
        assert!(uses_rollups(&state, q));
        let (raw, rolled) = both(&state, q).await;
        assert_eq!(raw, rolled);
    }

    // Superseded builds are deleted a couple of minutes later, the current ones kept.
    assert!(rows_of_builds(&state, &before).await > 0);
    assert_eq!(settle(&state, at + 300).await, ended(at, at + 300));
    assert_eq!(rows_of_builds(&state, &before).await, 0);
    let (raw, rolled) = both(&state, &total).await;
    assert_eq!(raw, rolled);

    // Late events for days older than the recount window: passes within the hour count only
    // recent days afresh, so they keep the stale rollups; the hourly full recount rebuilds
    // the two days touched.
    seed(
        state.store.as_ref(),
        &Traffic {
            site: "r.example",
            events: 300,
            people: 20,
            end: (finished - 9) * 86_400 + 43_200,
            days: 1,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        settle(&state, at + 600).await,
        ended(at + 300, at + 600),
        "old days wait for the full recount"
    );
    let (raw, rolled) = both(&state, &total).await;
    assert_ne!(raw, rolled, "the old days' rollups are stale until then");
    assert_eq!(
        settle(&state, at + 3_600).await,
        2 + ended(at + 600, at + 3_600)
    );
    let (raw, rolled) = both(&state, &total).await;
    assert_eq!(raw, rolled);
}
