//! Property-based fuzzing (proptest, stable Rust) of the parsers that take untrusted input:
//! the beacon parser, the v1 filter parser, the v2 query validator and the analyst-SQL
//! checker. Each property is "never panics", and for the checker also "a forbidden node is
//! refused wherever it is put, whatever lines are injected around it".
//!
//! `make test` runs a bounded number of cases (`PROPTEST_CASES`, default 256 here); the long
//! run and its figures are in docs/security.md:
//! `PROPTEST_CASES=200000 cargo nextest run -p candor --test fuzz --release`.

use candor::analyst::ast;
use proptest::prelude::*;
use serde_json::{json, Value};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Strings that look like the inputs' own vocabulary, mixed with anything at all.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("visit:source".to_string()),
        Just("event:page".to_string()),
        Just("event:goal".to_string()),
        Just("event:props:plan".to_string()),
        Just("visit:country".to_string()),
        Just("==".to_string()),
        Just("!=".to_string()),
        Just("~".to_string()),
        Just("!~".to_string()),
        Just("|".to_string()),
        Just(";".to_string()),
        Just("\\|".to_string()),
        Just("*".to_string()),
        Just("**".to_string()),
        Just("/blog/**".to_string()),
        "[a-zA-Z0-9/_.:-]{0,12}",
        any::<String>(),
    ]
}

fn joined(parts: impl Strategy<Value = Vec<String>>) -> impl Strategy<Value = String> {
    parts.prop_map(|p| p.concat())
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        token().prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(token(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn site() -> candor::sites::Site {
    serde_json::from_value(json!({
        "domain": "example.com",
        "timezone": "Europe/Berlin",
        "retention_days": 400,
        "allowed_origins": [],
        "created_at": 1_700_000_000u32,
    }))
    .expect("a valid site")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn beacon_parser_never_panics_on_bytes(body in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = candor::ingest::parse(&body);
    }

    #[test]
    fn beacon_parser_never_panics_on_beacons(
        fields in prop::collection::btree_map(
            prop_oneof![
                Just("site".to_string()), Just("d".to_string()), Just("n".to_string()),
                Just("name".to_string()), Just("u".to_string()), Just("url".to_string()),
                Just("r".to_string()), Just("w".to_string()), Just("p".to_string()),
                Just("props".to_string()), Just("consent".to_string()), Just("vid".to_string()),
                Just("engaged_ms".to_string()), Just("h".to_string()), token(),
            ],
            prop_oneof![
                json_value(),
                Just(json!("https://example.com/a?b=c#d")),
                Just(json!("example.com")),
                Just(json!({"plan": "pro", "n": 1})),
                Just(json!("{\"plan\": \"pro\"}")),
            ],
            0..8,
        )
    ) {
        let body = serde_json::to_vec(&Value::Object(fields.into_iter().collect())).unwrap();
        let _ = candor::ingest::parse(&body);
    }

    #[test]
    fn v1_filter_parser_never_panics(s in joined(prop::collection::vec(token(), 0..10))) {
        let _ = candor::reports::v1::parse_filters(&s);
    }

    #[test]
    fn v2_query_validator_never_panics(
        metrics in prop::collection::vec(prop_oneof![
            Just("visitors".to_string()), Just("visits".to_string()),
            Just("pageviews".to_string()), Just("bounce_rate".to_string()),
            Just("conversion_rate".to_string()), Just("events".to_string()),
            Just("visit_duration".to_string()), Just("views_per_visit".to_string()), token(),
        ], 0..4),
        dimensions in prop::collection::vec(prop_oneof![
            Just("visit:source".to_string()), Just("event:page".to_string()),
            Just("time:day".to_string()), Just("time:hour".to_string()),
            Just("event:goal".to_string()), Just("event:props:plan".to_string()), token(),
        ], 0..3),
        filters in prop::collection::vec(prop_oneof![
            json_value(),
            (token(), token(), prop::collection::vec(json_leaf(), 0..3))
                .prop_map(|(op, dim, vals)| json!([op, dim, vals])),
            (prop_oneof![Just("is"), Just("contains"), Just("is_not"), Just("matches")],
             prop_oneof![Just("event:page"), Just("visit:source"), Just("event:props:plan")],
             prop::collection::vec(token(), 0..3))
                .prop_map(|(op, dim, vals)| json!([op, dim, vals])),
        ], 0..3),
        date_range in prop_oneof![
            json_value(),
            Just(json!("7d")), Just(json!("month")), Just(json!("all")),
            (token(), token()).prop_map(|(a, b)| json!([a, b])),
            Just(json!(["2026-01-01", "2026-02-30"])),
            Just(json!(["2026-01-01T00:00:00+01:00", "2026-01-02T00:00:00Z"])),
        ],
        order in prop::collection::vec((token(), token()), 0..2),
        date in prop::option::of(token()),
    ) {
        let body = json!({
            "site_id": "example.com",
            "metrics": metrics,
            "dimensions": dimensions,
            "filters": filters,
            "date_range": date_range,
            "order_by": order,
            "date": date,
        });
        if let Ok(req) = serde_json::from_value::<candor::reports::QueryRequest>(body) {
            let _ = candor::reports::parse_query(&req, &site(), 1_795_478_400);
        }
    }

    #[test]
    fn analyst_checker_never_panics(lines in prop::collection::vec(dump_line(), 0..40)) {
        let dump = lines.join("\n");
        if let Ok(nodes) = ast::parse(&dump) {
            let _ = ast::check(&nodes, &databases());
        }
    }

    /// A forbidden line put anywhere in an accepted tree, at any depth, with any children
    /// count and any lines of an attacker's choosing around it, is never accepted.
    #[test]
    fn a_forbidden_node_is_refused_wherever_it_is_put(
        at in 0usize..20,
        depth in 0usize..12,
        children in 0usize..3,
        forbidden in prop_oneof![
            Just("TableIdentifier default.salts"),
            Just("TableIdentifier system.tables"),
            Just("TableIdentifier /etc/passwd"),
            Just("Function file"),
            Just("Function url"),
            Just("Function dictGet"),
            Just("Identifier default.api_tokens"),
            Just("Set"),
            Just("ColumnsApplyTransformer"),
        ],
        extra in prop::collection::vec(dump_line(), 0..6),
    ) {
        let mut lines: Vec<String> = ACCEPTED.lines().map(str::to_string).collect();
        let at = at.min(lines.len());
        let suffix = if children > 0 { format!(" (children {children})") } else { String::new() };
        let mut injected = vec![format!("{}{forbidden}{suffix}", " ".repeat(depth))];
        injected.extend(extra);
        for (i, l) in injected.into_iter().enumerate() {
            lines.insert((at + i).min(lines.len()), l);
        }
        let dump = lines.join("\n");
        let verdict = ast::parse(&dump).and_then(|n| ast::check(&n, &databases()));
        prop_assert!(verdict.is_err(), "accepted:\n{dump}");
    }
}

const ACCEPTED: &str = "SelectWithUnionQuery (children 1)
 ExpressionList (children 1)
  SelectQuery (children 2)
   ExpressionList (children 2)
    Identifier site
    Function count (alias c) (children 1)
     ExpressionList
   TablesInSelectQuery (children 1)
    TablesInSelectQueryElement (children 1)
     TableExpression (children 1)
      TableIdentifier events (alias e)";

fn databases() -> Vec<String> {
    [
        "default",
        "system",
        "information_schema",
        "INFORMATION_SCHEMA",
        "default_analyst",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

#[test]
fn the_accepted_tree_is_accepted() {
    // Otherwise the property above would hold for the wrong reason.
    let nodes = ast::parse(ACCEPTED).unwrap();
    assert_eq!(ast::check(&nodes, &databases()), Ok(()));
}

fn dump_line() -> impl Strategy<Value = String> {
    (
        0usize..8,
        prop_oneof![
            Just("SelectWithUnionQuery".to_string()),
            Just("ExpressionList".to_string()),
            Just("SelectQuery".to_string()),
            Just("TableIdentifier".to_string()),
            Just("Identifier".to_string()),
            Just("Function".to_string()),
            Just("Literal".to_string()),
            Just("Subquery".to_string()),
            Just("WithElement".to_string()),
            Just("Set".to_string()),
            "[A-Za-z:]{1,12}",
        ],
        prop_oneof![
            Just(String::new()),
            Just(" events".to_string()),
            Just(" count".to_string()),
            Just(" x (alias y)".to_string()),
            Just(" (children 1)".to_string()),
            Just(" a (alias b) (children 2)".to_string()),
            any::<String>().prop_map(|s| format!(" {s}")),
        ],
    )
        .prop_map(|(d, kind, rest)| format!("{}{kind}{rest}", " ".repeat(d)))
}
