//! Statement shapes: aggregates, time series, breakdowns, comparisons, pages, rollups.

use super::*;

#[test]
fn an_unfiltered_aggregate_sums_raw_session_rows_without_folding() {
    let q = query(&[Metric::Visitors, Metric::Pageviews], &[], &[]);
    let plan = statements(&q, &[]);
    assert!(plan.visit_level);
    assert!(plan.events.is_none());
    let s = plan.sessions.unwrap();
    assert_eq!(
        s.text,
        format!(
            "SELECT uniq(visitor_id), sum(pageviews), sum(events), 0, 0, 0, 0 FROM sessions WHERE {SESSIONS_AROUND}{STARTED_IN_RANGE}"
        )
    );
    assert_eq!(params(&s), range_params());
}

#[test]
fn an_aggregate_of_event_metrics_reads_events_in_the_range() {
    let q = query(&[Metric::Visitors, Metric::Events], &[], &[]);
    let s = event_metrics(&q, &q.range, &[], &[], &[]).unwrap();
    assert_eq!(
        s.text,
        format!(
            "SELECT uniq(visitor_id), countIf(name = 'pageview'), countIf(name NOT IN ('pageleave', 'engagement')) FROM events WHERE {EVENTS_IN_RANGE}"
        )
    );
    assert_eq!(params(&s), range_params());
}

#[test]
fn session_metrics_fold_sessions_with_final() {
    let q = query(&[Metric::Visits, Metric::BounceRate], &[], &[]);
    let s = statements(&q, &[]).sessions.unwrap();
    assert_eq!(
        s.text,
        format!(
            "SELECT uniq(vid), sum(pv), sum(ev), count(), countIf(pv <= 1), sum(ended - st), count() FROM (SELECT session_id, visitor_id AS vid, start AS st, end AS ended, pageviews AS pv,
                events AS ev, entry_page AS entry, exit.2 AS exit_page
         FROM sessions FINAL WHERE {SESSIONS_AROUND}{STARTED_IN_RANGE}) AS s"
        )
    );
    assert_eq!(params(&s), range_params());
}

#[test]
fn a_timeseries_buckets_session_starts_in_the_site_time_zone() {
    let mut q = query(&[Metric::Visitors], &["time:day"], &[]);
    q.tz = chrono_tz::Europe::Berlin;
    q.range = Range::dates(&q.tz, day(1), day(7));
    let s = statements(&q, &[]).sessions.unwrap();
    assert!(s
        .text
        .starts_with("SELECT toString(toDate(start, {tz:String})) AS _d0, uniq(visitor_id),"));
    assert!(s.text.ends_with(" GROUP BY _d0"), "{}", s.text);
    assert_eq!(param(&s, "tz"), "Europe/Berlin");
    // Local midnight in Berlin (UTC+1 in November).
    assert_eq!(param(&s, "start"), (NOV_1 - 3600).to_string());
    assert_eq!(param(&s, "end"), (NOV_8 - 3600).to_string());

    let hours = query(&[Metric::Pageviews], &["time:hour"], &[]);
    let s = event_metrics(&hours, &hours.range, &hours.dimensions, &[], &[]).unwrap();
    assert!(s.text.starts_with(
        "SELECT formatDateTime(toStartOfHour(timestamp, {tz:String}), '%Y-%m-%d %H:00:00') AS _d0,"
    ));

    // Weeks start on Monday, but never before the range does.
    let weeks = query(&[Metric::Visitors], &["time:week"], &[]);
    let s = statements(&weeks, &[]).sessions.unwrap();
    assert!(s.text.contains(
        "toString(greatest(toMonday(start, {tz:String}), toDate({from_date:String}))) AS _d0"
    ));
    let months = query(&[Metric::Visitors, Metric::Visits], &["time:month"], &[]);
    let s = statements(&months, &[]).sessions.unwrap();
    assert!(s
        .text
        .contains("toString(toStartOfMonth(st, {tz:String})) AS _d0"));
}

#[test]
fn a_visit_dimension_breakdown_names_direct_traffic_and_folds_for_session_metrics() {
    let q = query(
        &[Metric::Visitors, Metric::BounceRate],
        &["visit:source"],
        &[],
    );
    let plan = statements(&q, &[]);
    assert!(plan.visit_level);
    let s = plan.sessions.unwrap();
    assert!(s.text.starts_with(
        "SELECT if(s_referrer_source = '', 'Direct / None', s_referrer_source) AS _d0, uniq(vid),"
    ));
    assert!(s
        .text
        .contains("start AS st, referrer_source AS s_referrer_source, end AS ended"));
    assert!(s.text.ends_with(") AS s GROUP BY _d0"), "{}", s.text);
    assert_eq!(params(&s), range_params());

    // Without session metrics the raw rows are grouped directly.
    let q = query(&[Metric::Visitors], &["visit:browser"], &[]);
    let s = statements(&q, &[]).sessions.unwrap();
    assert!(s.text.starts_with(
        "SELECT if(browser = '', '(not set)', browser) AS _d0, uniq(visitor_id), sum(pageviews)"
    ));
    assert!(!s.text.contains("FINAL"));
}

#[test]
fn visitors_by_a_visit_attribute_under_a_page_filter_read_the_matching_visits() {
    let page = json!(["is", "event:page", ["/pricing"]]);
    let country = json!(["is", "visit:country", ["DE"]]);
    let q = query(
        &[Metric::Visitors, Metric::Percentage],
        &["visit:source"],
        &[page.clone(), country],
    );
    let plan = statements(&q, &[]);
    assert!(plan.events.is_none());
    assert!(plan.visit_level);
    let s = plan.sessions.unwrap();
    assert_eq!(
        s.text,
        format!(
            "SELECT if(referrer_source = '', 'Direct / None', referrer_source) AS _d0, uniq(visitor_id), 0, 0, 0, 0, 0, 0 FROM sessions WHERE {SESSIONS_AROUND} AND country_code IN {{p0:Array(String)}} AND session_id IN (SELECT session_id FROM events WHERE {EVENTS_IN_RANGE} AND pathname IN {{p1:Array(String)}}) GROUP BY _d0 SETTINGS use_index_for_in_with_subqueries = 0, distributed_product_mode = 'global'"
        )
    );
    assert_eq!(param(&s, "p1"), "['/pricing']");

    // A property filter is an event filter like the page.
    let prop = json!(["is", "event:props:plan", ["pro"]]);
    let q = query(&[Metric::Visitors], &["visit:source"], &[prop]);
    let s = statements(&q, &[]).sessions.unwrap();
    assert!(s
        .text
        .contains("session_id IN (SELECT session_id FROM events WHERE"));

    // Anything else stays on the matching events: another metric, a time bucket, an event
    // dimension, no dimension, an entry page filter.
    let on_events = |metrics: &[Metric], dims: &[&str], filters: &[serde_json::Value]| {
        let plan = statements(&query(metrics, dims, filters), &[]);
        plan.events.is_some_and(|e| e.text.contains("FROM events"))
    };
    assert!(on_events(
        &[Metric::Visitors, Metric::Pageviews],
        &["visit:source"],
        std::slice::from_ref(&page)
    ));
    assert!(on_events(
        &[Metric::Visitors],
        &["time:day"],
        std::slice::from_ref(&page)
    ));
    assert!(on_events(
        &[Metric::Visitors],
        &["visit:source", "event:page"],
        std::slice::from_ref(&page)
    ));
    assert!(on_events(
        &[Metric::Visitors],
        &[],
        std::slice::from_ref(&page)
    ));
    let entry = json!(["is", "visit:entry_page", ["/"]]);
    assert!(on_events(
        &[Metric::Visitors],
        &["visit:source"],
        &[page.clone(), entry]
    ));
    assert!(!on_events(&[Metric::Visitors], &["visit:source"], &[]));
}

#[test]
fn an_event_dimension_breakdown_reads_events_and_joins_sessions_that_contain_the_value() {
    let q = query(&[Metric::Visitors, Metric::Visits], &["event:page"], &[]);
    let plan = statements(&q, &[]);
    assert!(!plan.visit_level);
    let events = plan.events.unwrap();
    assert_eq!(
        events.text,
        format!(
            "SELECT pathname AS _d0, uniq(visitor_id), countIf(name = 'pageview'), countIf(name NOT IN ('pageleave', 'engagement')) FROM events WHERE {EVENTS_IN_RANGE} GROUP BY _d0"
        )
    );
    let sessions = plan.sessions.unwrap();
    assert!(sessions.text.starts_with("SELECT _e0 AS _d0, uniq(vid),"));
    assert!(sessions.text.contains(&format!(
        " FROM (SELECT session_id, pathname AS _e0 FROM events WHERE {EVENTS_IN_RANGE} GROUP BY session_id, _e0) AS e INNER JOIN (SELECT session_id, visitor_id AS vid,"
    )));
    assert!(sessions
        .text
        .ends_with(") AS s USING session_id GROUP BY _d0"));
    assert_eq!(params(&sessions), range_params());

    // Event metrics only: no session statement at all.
    let q = query(&[Metric::Pageviews], &["event:name"], &[]);
    assert!(statements(&q, &[]).sessions.is_none());
}

#[test]
fn a_custom_property_is_looked_up_by_a_bound_key() {
    let q = query(&[Metric::Visitors], &["event:props:author's"], &[]);
    let s = statements(&q, &[]).events.unwrap();
    // Events without it are "(none)", as Plausible names them.
    assert!(s.text.starts_with(
        "SELECT if(mapContains(props, {p0:String}), props[{p0:String}], '(none)') AS _d0,"
    ));
    assert!(!s.text.contains("author"));
    assert_eq!(param(&s, "p0"), "author's");
}

#[test]
fn entry_and_exit_pages_join_folded_sessions() {
    let q = query(&[Metric::Visitors], &["visit:entry_page"], &[]);
    let plan = statements(&q, &[]);
    // Session dimensions are visit-level: the folded sessions alone answer them.
    assert!(plan.visit_level);
    assert!(plan
        .sessions
        .unwrap()
        .text
        .starts_with("SELECT entry AS _d0, uniq(vid),"));

    let exit = Dimension::ExitPage;
    let s = event_metrics(&q, &q.range, &[exit], &[], &[]).unwrap();
    assert!(s
        .text
        .starts_with("SELECT exit_page AS _d0, uniq(visitor_id),"));
    assert!(s.text.contains(&format!(
        "FROM events INNER JOIN (SELECT session_id, entry, exit_page FROM (SELECT session_id, visitor_id AS vid, start AS st, end AS ended, pageviews AS pv,
                events AS ev, entry_page AS entry, exit.2 AS exit_page
         FROM sessions FINAL WHERE {SESSIONS_AROUND})) AS x USING session_id WHERE {EVENTS_IN_RANGE} GROUP BY _d0"
    )));
}

#[test]
fn the_comparison_period_is_the_same_statement_over_the_previous_range() {
    let q = query(&[Metric::Visitors], &["visit:source"], &[]);
    let now = statements(&q, &[]).sessions.unwrap();
    let previous = q.range.comparison(
        &q.tz,
        q.range.to,
        &crate::reports::dates::Compare {
            mode: crate::reports::dates::CompareMode::PreviousPeriod,
            match_day_of_week: false,
        },
    );
    let before = raw_statements(&q, &previous, &q.metrics, &[])
        .unwrap()
        .sessions
        .unwrap();
    assert_eq!(before.text, now.text);
    assert_eq!(param(&before, "start"), (NOV_1 - 7 * 86_400).to_string());
    assert_eq!(param(&before, "end"), NOV_1.to_string());
    assert_eq!(param(&before, "from_date"), "2026-10-25");
}

#[test]
fn pagination_and_order_do_not_change_the_statements() {
    // Pages are cut after both statements are merged, so every page sums the same groups.
    let q = query(&[Metric::Visitors, Metric::Visits], &["event:page"], &[]);
    let paged = Query {
        limit: 10,
        offset: 20,
        order_by: vec![(OrderKey::Dimension(0), false)],
        ..q.clone()
    };
    let (a, b) = (statements(&q, &[]), statements(&paged, &[]));
    for (x, y) in [(a.events, b.events), (a.sessions, b.sessions)] {
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_eq!(x.text, y.text);
        assert_eq!(params(&x), params(&y));
        assert!(!x.text.contains("LIMIT"));
    }
}

#[test]
fn realtime_counts_events_as_they_arrive() {
    let mut q = query(&[Metric::Visitors], &[], &[]);
    let now = NOV_1 + 3600;
    q.range = Range::resolve(
        &Period::parse("realtime").unwrap(),
        &q.tz,
        day(1),
        day(1),
        now,
    );
    assert!(q.range.live);
    // The five minutes before the application clock's now, and the current second.
    assert_eq!((q.range.start, q.range.end), (now - 300, now + 1));
    let plan = statements(&q, &[]);
    assert!(!plan.visit_level);
    assert!(plan.sessions.is_none());
    assert!(plan.events.unwrap().text.contains(EVENTS_IN_RANGE));
}

#[test]
fn session_metrics_by_an_explicit_dimension_list() {
    // `session_metrics` takes its own dimensions and filters (the baseline of a conversion
    // rate drops the goal ones).
    let q = query(&[Metric::Visitors], &["event:goal", "visit:device"], &[]);
    let s = session_metrics(&q, &q.range, &q.dimensions[1..], &[], &q.metrics, &[]).unwrap();
    assert!(s
        .text
        .starts_with("SELECT if(device = '', '(not set)', device) AS _d0, uniq(visitor_id)"));
}

#[test]
fn rollup_reads_take_only_the_current_builds_of_their_days() {
    let s = rollups::read(
        "shop.example",
        "visit:source",
        false,
        &[(day(2), 7), (day(1), 5)],
    );
    assert!(s.text.starts_with("SELECT value AS g, sum(visitors),"));
    assert!(s
        .text
        .contains("AND concat(toString(day), ':', toString(build)) IN {keys:Array(String)}"));
    assert_eq!(
        params(&s),
        [
            ("site", "shop.example"),
            ("dimension", "visit:source"),
            ("first", "2026-11-01"),
            ("last", "2026-11-02"),
            ("keys", "['2026-11-02:7','2026-11-01:5']"),
        ]
        .map(|(n, v)| (n.to_string(), v.to_string()))
    );
    let by_day = rollups::read("shop.example", "", true, &[(day(1), 5)]);
    assert!(by_day.text.starts_with("SELECT toString(day) AS g,"));
    let delete = rollups::delete_build("shop.example", day(3), 9);
    assert_eq!(param(&delete, "day"), "2026-11-03");
    assert_eq!(param(&delete, "build"), "9");
}

#[test]
fn leads_are_counted_from_identifications_with_page_filters_on_them_and_goals_on_the_visit() {
    const LEADS_IN_RANGE: &str = "site = {site:String} AND timestamp >= toDateTime({start:Int64}) AND timestamp < toDateTime({end:Int64}) AND name = 'candor:lead'";
    assert!(LEADS_IN_RANGE.contains(&format!("name = '{}'", crate::ingest::LEAD_EVENT)));
    assert!(EVENTS_IN_RANGE.contains(&format!("name != '{}'", crate::ingest::LEAD_EVENT)));
    let signup = goal("Signup", Some("Signup"), None);
    let q = query(
        &[Metric::Visitors, Metric::Leads],
        &["visit:source"],
        &[
            json!(["is", "event:page", ["/contact"]]),
            json!(["is", "event:goal", ["Signup"]]),
        ],
    );
    let plan = statements(&q, std::slice::from_ref(&signup));
    let s = plan.leads.expect("a lead metric reads identifications");
    assert_eq!(
        s.text,
        format!(
            "SELECT if(referrer_source = '', 'Direct / None', referrer_source) AS _d0, count() FROM events \
             WHERE {LEADS_IN_RANGE} AND pathname IN {{p0:Array(String)}} \
             AND session_id IN (SELECT session_id FROM events WHERE {EVENTS_IN_RANGE} AND (name = {{p1:String}})) GROUP BY _d0"
        )
    );
    // Without a lead metric, nothing reads them; by event name there are none to read.
    assert!(statements(&query(&[Metric::Visitors], &[], &[]), &[])
        .leads
        .is_none());
    assert!(
        statements(&query(&[Metric::Leads], &["event:name"], &[]), &[])
            .leads
            .is_none()
    );
}

#[test]
fn the_goals_breakdown_shares_the_events_statement_as_columns_of_its_totals_row() {
    use crate::reports::sql::sets::{member, Part, Sets};
    let goals = [
        goal("Signup", Some("Signup"), None),
        goal("Visit /pricing", None, Some("/pricing")),
    ];
    let pages = query(&[Metric::Visitors], &["event:page"], &[]);
    let by_goal = query(&[Metric::Visitors, Metric::Events], &["event:goal"], &[]);
    let range = pages.range.clone();
    let a = member(&pages, &range, Part::Events).unwrap();
    let b = member(&by_goal, &range, Part::Events).unwrap();
    assert_eq!(a.key, b.key);
    let sets = Sets::build(&pages, &range, &[&a, &b], &goals)
        .unwrap()
        .unwrap();
    let text = &sets.statement.text;
    assert!(text.contains(
        "countIf(name = {p0:String}), uniqIf(visitor_id, name = {p0:String}), countIf(name = {p0:String} AND name = 'pageview')"
    ), "{text}");
    assert!(
        text.ends_with("GROUP BY GROUPING SETS ((_d0), ())"),
        "{text}"
    );
    // A page's row, then the totals row: Signup completed twice by one visitor, the pricing
    // goal never (no row for it, as under arrayJoin).
    let rows = vec![
        json!(["/", 0, 3, 3, 4, 9, 9, 9, 9, 9, 9, 9, 9]),
        json!(["", 1, 3, 3, 4, 2, 1, 0, 2, 0, 0, 0, 0]),
    ]
    .into_iter()
    .map(|r| r.as_array().unwrap().clone())
    .collect::<Vec<_>>();
    assert_eq!(
        sets.member_rows(&b, &rows),
        vec![json!(["Signup", 1, 0, 2]).as_array().unwrap().clone()]
    );
    // The page member gets its metrics, not the goals' columns.
    assert_eq!(
        sets.member_rows(&a, &rows),
        vec![json!(["/", 3, 3, 4]).as_array().unwrap().clone()]
    );
}

#[test]
fn the_visit_fold_and_the_visitors_of_a_view_under_an_event_filter_select_its_visits_once() {
    use crate::reports::sql::sets::{member, selects_matching_visits, Part, Shared};
    let filters = [
        json!(["is", "visit:source", ["Google"]]),
        json!(["is", "event:page", ["/pricing"]]),
    ];
    let fold = [Metric::Visits, Metric::Visitors, Metric::BounceRate];
    let entry = query(&fold, &["visit:entry_page"], &filters);
    let exit = query(&fold, &["visit:exit_page"], &filters);
    let countries = query(&[Metric::Visitors], &["visit:country"], &filters);
    let devices = query(&[Metric::Visitors], &["visit:device"], &filters);
    let range = entry.range.clone();
    let part = |q: &Query| Part::sessions(q, &range, &q.metrics);
    assert_eq!(part(&entry), Part::Sessions { fold: true });
    assert_eq!(part(&countries), Part::Visitors);
    let [a, b, c, d] =
        [&entry, &exit, &countries, &devices].map(|q| member(q, &range, part(q)).unwrap());
    assert!(selects_matching_visits(&entry, a.part) && selects_matching_visits(&countries, c.part));
    assert!(!selects_matching_visits(&entry, Part::Events));
    let unfiltered = query(&fold, &["visit:entry_page"], &filters[..1]);
    assert!(!selects_matching_visits(&unfiltered, part(&unfiltered)));

    let shared = Shared::build(&entry, &range, &[vec![&a, &b], vec![&c, &d]], &[])
        .unwrap()
        .unwrap();
    let s = &shared.statement;
    // The matching events are read once, into a CTE with parameters of its own ...
    assert!(
        s.text.starts_with(&format!(
            "WITH matching AS MATERIALIZED (SELECT session_id FROM events WHERE {EVENTS_IN_RANGE} AND pathname IN {{m0:Array(String)}}) SELECT 0 AS _part, formatRowNoNewline('JSONCompactEachRow', *) AS _row FROM (SELECT entry AS _d0, exit_page AS _d1, grouping(_d0, _d1) AS _g"
        )),
        "{}",
        s.text
    );
    assert_eq!(s.text.matches("FROM events").count(), 1, "{}", s.text);
    // ... and each branch selects its visits from it, with its own parameters.
    assert_eq!(
        s.text
            .matches("session_id IN (SELECT session_id FROM matching)")
            .count(),
        2
    );
    assert!(s.text.contains(") UNION ALL SELECT 1 AS _part, formatRowNoNewline('JSONCompactEachRow', *) AS _row FROM (SELECT country_code AS _d0"), "{}", s.text);
    assert!(
        s.text
            .contains("countIf(pv <= 1 AND entry IN {a1:Array(String)})"),
        "{}",
        s.text
    );
    assert!(s.text.ends_with(
        "SETTINGS use_index_for_in_with_subqueries = 0, distributed_product_mode = 'global', enable_materialized_cte = 1"
    ), "{}", s.text);
    assert_eq!(shared.families, vec![0, 1]);
    let mut expected = range_params();
    expected.extend(
        [
            ("m0", "['/pricing']"),
            ("a0", "['Google']"),
            ("a1", "['/pricing']"),
            ("b0", "['Google']"),
        ]
        .map(|(n, v)| (n.to_string(), v.to_string())),
    );
    assert_eq!(params(s), expected);

    // Rows come back as (branch, row as JSON text), and go to their branch's members as
    // their own statements would have returned them.
    let rows: Vec<Vec<serde_json::Value>> = [
        json!([1, r#"["JP","",1,"7",0,0,0,0,0,0]"#]),
        json!(["0", r#"["/pricing","",1,"5","9","11","4","1","120","3"]"#]),
        json!([1, r#"["","Mobile",2,"2",0,0,0,0,0,0]"#]),
    ]
    .into_iter()
    .map(|r| r.as_array().unwrap().clone())
    .collect();
    let parts = shared.part_rows(&rows).unwrap();
    assert_eq!(
        shared.parts[1].member_rows(&c, &parts[1]),
        vec![json!(["JP", "7", 0, 0, 0, 0, 0, 0])
            .as_array()
            .unwrap()
            .clone()]
    );
    assert_eq!(
        shared.parts[1].member_rows(&d, &parts[1]),
        vec![json!(["Mobile", "2", 0, 0, 0, 0, 0, 0])
            .as_array()
            .unwrap()
            .clone()]
    );
    assert_eq!(
        shared.parts[0].member_rows(&a, &parts[0]),
        vec![json!(["/pricing", "5", "9", "11", "4", "1", "120", "3"])
            .as_array()
            .unwrap()
            .clone()]
    );
    // Anything but a branch number and a JSON array is not taken.
    assert!(shared.part_rows(&[vec![json!(2), json!("[]")]]).is_none());
    assert!(shared
        .part_rows(&[vec![json!(0), json!("not json")]])
        .is_none());
}
