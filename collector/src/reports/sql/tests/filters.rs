//! Filters: every operator, wildcards, negation, nesting, goals, and where each kind of
//! filter is applied (events, pushed below the session fold, or on folded sessions).

use super::*;

#[test]
fn filter_operators_bind_their_values() {
    let cases = [
        ("is", "city IN {p0:Array(String)}"),
        ("is_not", "NOT (city IN {p0:Array(String)})"),
        ("contains", "multiSearchAny(city, {p0:Array(String)})"),
        (
            "contains_not",
            "NOT (multiSearchAny(city, {p0:Array(String)}))",
        ),
        ("matches", "(match(city, {p0:String}))"),
        ("matches_not", "NOT ((match(city, {p0:String})))"),
        ("matches_wildcard", "(match(city, {p0:String}))"),
        ("matches_wildcard_not", "NOT ((match(city, {p0:String})))"),
    ];
    for (op, expected) in cases {
        let (cond, s) = pushed_down(json!([op, "visit:city", ["Fire'fox"]]));
        assert_eq!(cond, expected, "operator {op}");
        let value = if op.starts_with("is") || op.starts_with("contains") {
            "['Fire\\'fox']"
        } else if op.starts_with("matches_wildcard") {
            // A wildcard pattern becomes the anchored expression meaning the same.
            "^Fire'fox$"
        } else {
            "Fire'fox"
        };
        assert_eq!(param(&s, "p0"), value, "operator {op}");
        assert!(!s.text.contains("Fire"));
    }
}

#[test]
fn several_regex_values_match_any_and_each_gets_its_own_parameter() {
    let (cond, s) = pushed_down(json!(["matches", "visit:os", ["^Mac", "Linux$"]]));
    assert_eq!(cond, "(match(if(os = '', '(not set)', os), {p0:String}) OR match(if(os = '', '(not set)', os), {p1:String}))");
    assert_eq!(param(&s, "p0"), "^Mac");
    assert_eq!(param(&s, "p1"), "Linux$");
}

#[test]
fn case_insensitive_filters_lower_both_sides() {
    let (cond, s) = pushed_down(json!([
        "is",
        "visit:country",
        ["DE", "Fr"],
        {"case_sensitive": false}
    ]));
    assert_eq!(cond, "lowerUTF8(country_code) IN {p0:Array(String)}");
    assert_eq!(param(&s, "p0"), "['de','fr']");
}

#[test]
fn page_wildcards_become_anchored_regex_parameters() {
    // v1's `event:page==/blog/**` arrives as a `matches` filter on the wildcard's regex.
    let q = Query {
        filters: vec![Filter::Cond {
            op: crate::reports::model::Op::Matches,
            dim: Dimension::Page,
            values: vec![wildcard_regex("/blog/**"), wildcard_regex("/docs/*")],
            case_sensitive: true,
        }],
        ..query(&[Metric::Pageviews], &[], &[])
    };
    let plan = statements(&q, &[]);
    assert!(!plan.visit_level);
    let s = plan.events.unwrap();
    assert!(s.text.ends_with(&format!(
        "WHERE {EVENTS_IN_RANGE} AND (match(pathname, {{p0:String}}) OR match(pathname, {{p1:String}}))"
    )));
    assert_eq!(param(&s, "p0"), "^/blog/.*$");
    assert_eq!(param(&s, "p1"), "^/docs/[^/]*$");
}

#[test]
fn not_and_or_nest_as_written() {
    let (cond, _) = pushed_down(json!([
        "not",
        [
            "or",
            [
                ["is", "visit:device", ["Mobile"]],
                ["is", "visit:os", ["iOS"]]
            ]
        ]
    ]));
    assert_eq!(
        cond,
        "NOT ((device IN {p0:Array(String)} OR os IN {p1:Array(String)}))"
    );
    let (cond, _) = pushed_down(json!([
        "and",
        [
            ["is", "visit:source", ["Google"]],
            ["is_not", "visit:utm_medium", ["cpc"]]
        ]
    ]));
    assert_eq!(
        cond,
        "(referrer_source IN {p0:Array(String)} AND NOT (utm_medium IN {p1:Array(String)}))"
    );
}

#[test]
fn bad_filters_are_rejected_before_anything_runs() {
    let q = query(&[Metric::Visitors], &[], &[]);
    let cond = |values: Vec<String>, op| Filter::Cond {
        op,
        dim: Dimension::Page,
        values,
        case_sensitive: true,
    };
    use crate::reports::model::Op;
    for f in [
        cond(vec!["(".into()], Op::Matches),
        cond(Vec::new(), Op::Is),
        cond((0..101).map(|i| i.to_string()).collect(), Op::Is),
        Filter::And(Vec::new()),
    ] {
        assert!(event_metrics(&q, &q.range, &[], &[f], &[]).is_err());
    }
}

#[test]
fn goal_filters_expand_to_the_goals_they_choose() {
    let goals = [
        goal("Signup", Some("Signup"), None),
        goal("Visit /blog/**", None, Some("/blog/**")),
    ];
    let q = query(
        &[Metric::Visitors, Metric::ConversionRate],
        &[],
        &[json!(["is", "event:goal", ["Signup", "Visit /blog/**"]])],
    );
    let plan = statements(&q, &goals);
    assert!(!plan.visit_level);
    assert!(plan.sessions.is_none());
    let s = plan.events.unwrap();
    assert!(s.text.ends_with(&format!(
        "WHERE {EVENTS_IN_RANGE} AND (name = {{p0:String}} OR (name = 'pageview' AND match(pathname, {{p1:String}})))"
    )));
    assert_eq!(param(&s, "p0"), "Signup");
    assert_eq!(param(&s, "p1"), "^/blog/.*$");

    // A page goal without wildcards is its path itself: no regular expression.
    let pricing = [goal("Visit /pricing", None, Some("/pricing"))];
    let q = query(
        &[Metric::Visitors],
        &[],
        &[json!(["is", "event:goal", ["Visit /pricing"]])],
    );
    let s = statements(&q, &pricing).events.unwrap();
    assert!(s.text.ends_with(&format!(
        "WHERE {EVENTS_IN_RANGE} AND ((name = 'pageview' AND pathname = {{p0:String}}))"
    )));
    assert_eq!(param(&s, "p0"), "/pricing");

    // A goal filter that chooses no goal matches nothing; negated, everything.
    let none = query(
        &[Metric::Visitors],
        &[],
        &[json!(["is", "event:goal", ["Nope"]])],
    );
    let s = statements(&none, &goals).events.unwrap();
    assert!(s.text.ends_with(&format!("WHERE {EVENTS_IN_RANGE} AND 0")));
    let not = query(
        &[Metric::Visitors],
        &[],
        &[json!(["contains_not", "event:goal", ["sign"], {"case_sensitive": false}])],
    );
    let s = statements(&not, &goals).events.unwrap();
    assert!(
        s.text.ends_with("AND NOT (name = {p0:String})"),
        "{}",
        s.text
    );
}

#[test]
fn a_goal_breakdown_keeps_only_events_that_complete_a_goal() {
    let goals = [goal("Signup", Some("Signup"), None)];
    let q = query(&[Metric::Visitors], &["event:goal"], &[]);
    let s = statements(&q, &goals).events.unwrap();
    assert_eq!(
        s.text,
        format!(
            "SELECT arrayJoin(arrayFilter(g -> g != '', [if(name = {{p0:String}}, {{p1:String}}, '')])) AS _d0, uniq(visitor_id), countIf(name = 'pageview'), countIf(name NOT IN ('pageleave', 'engagement')) FROM events WHERE {EVENTS_IN_RANGE} AND (name = {{p2:String}}) GROUP BY _d0"
        )
    );
    assert_eq!(param(&s, "p0"), "Signup");
    assert_eq!(param(&s, "p1"), "Signup");
    // No goals: an empty breakdown, and no extra condition.
    let s = statements(&q, &[]).events.unwrap();
    assert!(s
        .text
        .starts_with("SELECT arrayJoin(CAST([], 'Array(String)')) AS _d0,"));
    assert!(s
        .text
        .ends_with(&format!("WHERE {EVENTS_IN_RANGE} GROUP BY _d0")));
}

#[test]
fn session_metrics_with_a_page_filter_keep_sessions_with_a_matching_event() {
    let q = query(
        &[Metric::Visits, Metric::VisitDuration],
        &[],
        &[json!(["is", "event:page", ["/pricing"]])],
    );
    let plan = statements(&q, &[]);
    assert!(!plan.visit_level);
    assert!(plan.events.is_none(), "no event metric was asked for");
    let s = plan.sessions.unwrap();
    // Bounces count, as Plausible counts them, only visits that entered on the page.
    assert!(s.text.starts_with("SELECT uniq(vid), sum(pv), sum(ev), count(), countIf(pv <= 1 AND entry IN {p1:Array(String)}), sum(ended - st), countIf(entry IN {p1:Array(String)}) FROM (SELECT session_id,"), "{}", s.text);
    assert!(s.text.ends_with(&format!(
        ") AS s WHERE session_id IN (SELECT session_id FROM events WHERE {EVENTS_IN_RANGE} AND pathname IN {{p0:Array(String)}})"
    )));
    assert_eq!(param(&s, "p0"), "['/pricing']");
    assert_eq!(param(&s, "p1"), "['/pricing']");
}

#[test]
fn entry_page_filters_restrict_events_to_matching_sessions() {
    let q = query(
        &[Metric::Pageviews],
        &["event:page"],
        &[json!(["is", "visit:entry_page", ["/"]])],
    );
    let s = statements(&q, &[]).events.unwrap();
    assert!(s.text.contains(&format!(
        "WHERE {EVENTS_IN_RANGE} AND session_id IN (SELECT session_id FROM (SELECT session_id, visitor_id AS vid, start AS st, end AS ended, pageviews AS pv,
                events AS ev, entry_page AS entry, exit.2 AS exit_page
         FROM sessions FINAL WHERE {SESSIONS_AROUND}) WHERE entry IN {{p0:Array(String)}}) GROUP BY _d0"
    )));
}

#[test]
fn visit_filters_on_session_metrics_are_pushed_below_the_fold() {
    let q = query(
        &[Metric::BounceRate],
        &["visit:entry_page"],
        &[
            json!(["is", "visit:country", ["DE"]]),
            json!(["is_not", "visit:exit_page", ["/bye"]]),
        ],
    );
    let s = statements(&q, &[]).sessions.unwrap();
    assert!(s.text.contains(&format!(
        "FROM sessions FINAL WHERE {SESSIONS_AROUND}{STARTED_IN_RANGE} AND country_code IN {{p0:Array(String)}}) AS s WHERE NOT (exit_page IN {{p1:Array(String)}}) GROUP BY _d0"
    )));
}

#[test]
fn is_on_a_labelled_column_compares_the_stored_values() {
    // "Direct / None" stands for the blank source; other values are compared as stored, so
    // the engine filters on the column without building the labelled one.
    let cases = [
        (
            json!(["is", "visit:source", ["Google"]]),
            "referrer_source IN {p0:Array(String)}",
            "['Google']",
        ),
        (
            json!(["is", "visit:source", ["Direct / None", "Bing"]]),
            "referrer_source IN {p0:Array(String)}",
            "['Bing','','Direct / None']",
        ),
        (
            json!(["is_not", "visit:browser", ["(not set)"]]),
            "NOT (browser IN {p0:Array(String)})",
            "['','(not set)']",
        ),
        // A blank value never shows as itself: it matches nothing.
        (json!(["is", "visit:os", [""]]), "0", ""),
    ];
    for (filter, cond_want, value) in cases {
        let (cond, s) = pushed_down(filter.clone());
        assert_eq!(cond, cond_want, "{filter}");
        if !value.is_empty() {
            assert_eq!(param(&s, "p0"), value, "{filter}");
        }
    }
    // Case-insensitive matching keeps the labelled expression.
    let (cond, _) = pushed_down(json!([
        "is",
        "visit:source",
        ["google"],
        {"case_sensitive": false}
    ]));
    assert_eq!(
        cond,
        "lowerUTF8(if(referrer_source = '', 'Direct / None', referrer_source)) IN {p0:Array(String)}"
    );
}

#[test]
fn is_on_a_property_reads_the_value_unless_none_or_blank_is_asked_for() {
    let cond = |filter: serde_json::Value| {
        let q = query(&[Metric::Visitors], &[], &[filter]);
        let s = statements(&q, &[]).events.unwrap();
        s.text[s.text.find("AND name != 'candor:lead' AND ").unwrap() + 30..].to_string()
    };
    // Events without the property, or with it blank, have a blank value: neither matches.
    assert_eq!(
        cond(json!(["is", "event:props:author", ["alice"]])),
        "props[{p0:String}] IN {p1:Array(String)}"
    );
    assert_eq!(
        cond(json!(["is_not", "event:props:author", ["alice", "bob"]])),
        "NOT (props[{p0:String}] IN {p1:Array(String)})"
    );
    // `(none)` (events without it) and the blank value keep the whole expression.
    for values in [json!(["(none)"]), json!(["alice", ""])] {
        assert_eq!(
            cond(json!(["is", "event:props:author", values])),
            "if(mapContains(props, {p0:String}), props[{p0:String}], '(none)') IN {p1:Array(String)}",
            "{values}"
        );
    }
}
