//! `POST /api/v1/sql` tried as an attacker with a `sql:read` token would: files, internal
//! tables, the server's own queries and its memory must all stay out of reach, while ordinary
//! analytics SQL keeps working. One store for every case (opening chDB is the slow part).

mod common;

use std::path::Path;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use serde_json::{json, Value};

use common::{bearer, ADMIN};

/// Sends a request; the status and the JSON body.
async fn send(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    req: TestRequest,
) -> (StatusCode, Value) {
    let (status, _, body) = common::send(app, req).await;
    (status, body)
}

fn sql(token: &str, body: Value) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/sql")
        .insert_header(bearer(token))
        .set_json(body)
}

/// Resident and peak resident memory of this process, in bytes.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            .unwrap()
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in walk(dir) {
        if entry.is_file() {
            out.push((entry.clone(), std::fs::read(&entry).unwrap_or_default()));
        }
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[actix_rt::test]
async fn analyst_sql_cannot_escape_its_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let st = candor::serve::build_state(common::config(
        &data,
        &[
            ("CANDOR_SQL_MAX_MEMORY_MB", "128"),
            ("CANDOR_SQL_MAX_RESULT_MB", "16"),
            ("CANDOR_SQL_MAX_CONCURRENT", "2"),
        ],
    ))
    .await
    .unwrap();
    let app = test_app!(st);
    let (status, v) = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/tokens")
            .insert_header(bearer(ADMIN))
            .set_json(json!({"name": "analyst", "scopes": ["sql:read"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let analyst = v["token"].as_str().unwrap().to_string();
    let ok = |q: &str| sql(&analyst, json!({ "query": q }));

    // Every function on the allow-list exists in this engine, and none is a table function.
    let names = |sql: &str| {
        let store = st.store.clone();
        let sql = sql.to_string();
        async move {
            candor::store::fetch_compact(store.as_ref(), &sql, &candor::store::Params::new())
                .await
                .unwrap()
                .into_iter()
                .map(|r| r[0].as_str().unwrap().to_string())
                .collect::<std::collections::HashSet<String>>()
        }
    };
    let functions = names("SELECT name FROM system.functions").await;
    let case_insensitive =
        names("SELECT lower(name) FROM system.functions WHERE case_insensitive").await;
    let table_functions = names("SELECT lower(name) FROM system.table_functions").await;
    let unknown: Vec<&str> = candor::analyst::functions::all_listed()
        .filter(|f| {
            !functions.contains(*f)
                && !case_insensitive.contains(&f.to_lowercase())
                && !candor::analyst::functions::PARSER_ONLY.contains(f)
        })
        .collect();
    assert!(
        unknown.is_empty(),
        "allow-listed but unknown to the engine: {unknown:?}"
    );
    let tabular: Vec<&str> = candor::analyst::functions::all_listed()
        .filter(|f| table_functions.contains(&f.to_lowercase()))
        .collect();
    assert!(
        tabular.is_empty(),
        "allow-listed table functions: {tabular:?}"
    );

    // Ordinary analytics SQL runs: CTEs, unions, joins, subqueries, FINAL, parameters.
    for q in [
        "SELECT count() FROM events",
        "SELECT pathname, count() AS views FROM events WHERE site = 'example.com' GROUP BY pathname ORDER BY views DESC LIMIT 10",
        "WITH top AS (SELECT pathname FROM events GROUP BY pathname) SELECT count() FROM top",
        "SELECT site FROM events UNION ALL SELECT site FROM goals",
        "SELECT e.site, g.id FROM events AS e LEFT JOIN goals AS g ON g.site = e.site LIMIT 1",
        "SELECT count() FROM sessions FINAL",
        "SELECT uniqIf(visitor_id, name = 'pageview'), toStartOfDay(now()) - INTERVAL 7 DAY, props['plan'] FROM events GROUP BY props['plan']",
        "SELECT 1 AS one -- a comment",
        "/* leading */ SELECT (SELECT count() FROM events) AS n",
    ] {
        let (status, v) = send(&app, ok(q)).await;
        assert_eq!(status, StatusCode::OK, "{q} → {v}");
    }
    let (status, v) = send(
        &app,
        sql(
            &analyst,
            json!({"query": "SELECT count() FROM events WHERE site = {s:String}", "params": {"s": "example.com"}}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");

    // The analyst schema leaves out the key that links visits to leads.
    let (status, v) = send(&app, ok("SELECT visitor_key FROM events")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");

    // INTO OUTFILE in every form: refused, and no file is created or changed anywhere.
    let outside = tempfile::tempdir().unwrap();
    let before = files_under(&data);
    let target = outside.path().join("out");
    let key = data.join("pii.key");
    for path in [target.display().to_string(), key.display().to_string()] {
        for tail in [
            "",
            " TRUNCATE",
            " APPEND",
            " AND STDOUT",
            " COMPRESSION 'gzip'",
            " COMPRESSION 'zstd' LEVEL 3",
            " TRUNCATE COMPRESSION 'lz4' FORMAT RawBLOB",
            " APPEND FORMAT TSV",
        ] {
            for q in [
                format!("SELECT 'x' INTO OUTFILE '{path}'{tail}"),
                format!("SELECT 'x' FROM events INTO OUTFILE '{path}'{tail} FORMAT RawBLOB"),
                format!("SELECT 1) INTO OUTFILE '{path}'{tail} --"),
                format!("SELECT 1 INTO OUTFILE '{path}.a' INTO OUTFILE '{path}'{tail}"),
            ] {
                let (status, v) = send(&app, ok(&q)).await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{q} → {v}");
                assert_eq!(v["field"], "query");
            }
        }
    }
    assert!(
        walk(outside.path()).is_empty(),
        "a file was written outside the store"
    );
    let after = files_under(&data);
    let changed = |f: &std::path::PathBuf| {
        !f.starts_with(data.join("clickhouse")) && !f.starts_with(data.join("spool"))
    };
    assert_eq!(
        before
            .iter()
            .filter(|(f, _)| changed(f))
            .collect::<Vec<_>>(),
        after.iter().filter(|(f, _)| changed(f)).collect::<Vec<_>>(),
        "files in the data directory changed"
    );

    // Internal tables, system tables, other databases, files and table functions: refused,
    // however they are written.
    let refused = [
        "SELECT * FROM salts",
        "SELECT * FROM default.salts",
        "SELECT * FROM `default`.`salts`",
        "SELECT * FROM \"default\".\"salts\"",
        "SELECT * FROM default . /* c */ salts",
        "SELECT * FROM default.salts AS events",
        "SELECT * FROM (SELECT * FROM default.salts)",
        "WITH s AS (SELECT * FROM default.salts) SELECT * FROM s",
        "WITH (SELECT any(salt) FROM default.salts) AS s SELECT s",
        "SELECT 1 WHERE 'x' IN default.salts",
        "SELECT * FROM events WHERE site IN (SELECT domain FROM default.sites)",
        "SELECT * FROM default.api_tokens",
        "SELECT * FROM default.dashboard_passwords",
        "SELECT * FROM default.leads",
        "SELECT * FROM default.lead_visitors",
        "SELECT payload FROM default.webhook_outbox",
        "SELECT * FROM default.webhooks",
        "SELECT * FROM default.events",
        "SELECT * FROM system.tables",
        "SELECT * FROM system.processes",
        "SELECT * FROM system.query_log",
        "SELECT * FROM INFORMATION_SCHEMA.TABLES",
        "SELECT * FROM information_schema.columns",
        "SELECT * FROM `/etc/passwd`",
        "SELECT * FROM `pii.key`",
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        "SELECT file('/etc/passwd')",
        "SELECT * FROM merge('default', '.*')",
        "SELECT * FROM merge(REGEXP('def'), 'salts')",
        "SELECT * FROM cluster('default', default.salts)",
        "SELECT * FROM remote('127.0.0.1', default.salts)",
        "SELECT * FROM url('http://127.0.0.1:1/', 'TSV')",
        "SELECT * FROM numbers(10)",
        "SELECT * FROM view(SELECT * FROM default.salts)",
        "SELECT dictGet('d', 'a', 1)",
        "SELECT joinGet('default.salts', 'salt', 1)",
        "SELECT getSetting('max_memory_usage')",
        "SELECT hostName()",
        "SELECT * EXCEPT (site) APPLY (file) FROM events",
        "SELECT `a\n      TableIdentifier events` FROM default.salts",
        "SELECT count() FROM events SETTINGS max_result_rows = 100000000",
        "SELECT (SELECT count() FROM events SETTINGS max_threads = 64)",
        "SELECT 1 FORMAT TSV",
        "SELECT 1; SELECT 2",
        "SELECT 1; DROP TABLE events",
        "KILL QUERY WHERE 1 ASYNC",
        "KILL QUERY WHERE 1 SYNC",
        "SYSTEM FLUSH LOGS",
        "SYSTEM DROP MARK CACHE",
        "SHOW PROCESSLIST",
        "SHOW TABLES",
        "SHOW CREATE TABLE salts",
        "DESCRIBE TABLE default.salts",
        "EXPLAIN SELECT * FROM default.salts",
        "EXISTS TABLE default.salts",
        "USE default",
        "SET readonly = 0",
        "DROP TABLE events",
        "INSERT INTO events SELECT * FROM events",
        "OPTIMIZE TABLE events",
        "CREATE TABLE x (a UInt8) ENGINE = Memory",
    ];
    for q in refused {
        let (status, v) = send(&app, ok(q)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q} → {v}");
        assert_eq!(v["field"], "query", "{q} → {v}");
    }
    let (_, v) = send(&app, ok("SELECT 1; SELECT 2")).await;
    assert_eq!(
        v["error"],
        "only one statement may run: remove the ';' and what follows"
    );
    let (_, v) = send(&app, ok("SELECT * FROM default.salts")).await;
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("not in the analyst schema"),
        "{v}"
    );

    // A parameter typed Identifier is substituted before the check, so it cannot smuggle a
    // table past it either.
    for t in ["salts", "default.salts", "system.tables", "/etc/passwd"] {
        let (status, v) = send(
            &app,
            sql(
                &analyst,
                json!({"query": "SELECT * FROM {t:Identifier}", "params": {"t": t}}),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{t} → {v}");
    }

    // A result of 400 MB is refused, and the collector's memory stays bounded.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let (rss_before, _) = memory();
    let (status, v) = send(
        &app,
        ok("SELECT repeat('x', 1048576) AS s FROM (SELECT arrayJoin(range(400)))"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, v) = send(
        &app,
        ok("SELECT toString(n) AS s, repeat('x', 1000) AS pad FROM (SELECT arrayJoin(range(400000)) AS n)"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (_, peak) = memory();
    let grew = peak.saturating_sub(rss_before);
    eprintln!(
        "peak RSS grew by {} MiB for the refused 400 MB results",
        grew >> 20
    );
    assert!(
        grew < 256 << 20,
        "peak RSS grew by {} MiB (limit: 128 MiB of query memory + 128 MiB slack)",
        grew >> 20
    );

    // More analyst queries at once than allowed: the extra one gets 429.
    let slow =
        "SELECT count() FROM (SELECT arrayJoin(range(3000000)) AS n) WHERE cityHash64(n) % 7 = 1";
    let (a, b, c) = futures_util::join!(
        send(&app, ok(slow)),
        send(&app, ok(slow)),
        send(&app, ok(slow))
    );
    let statuses = [a.0, b.0, c.0];
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        2,
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );

    // A client that hangs up does not free its slot while the engine still works on its
    // query (else hanging up in a loop would queue unbounded work on the analyst connection).
    let slower = "SELECT count() FROM (SELECT arrayJoin(range(4000)) AS a) AS x, (SELECT arrayJoin(range(5000)) AS b) AS y WHERE cityHash64(toString(a), toString(b)) % 7 = 1";
    let abandoned = tokio::time::timeout(
        std::time::Duration::from_millis(1),
        st.analyst
            .run(slower, &candor::store::Params::new(), "JSONCompact"),
    )
    .await;
    assert!(abandoned.is_err(), "the query should still be running");
    let (a, b) = futures_util::join!(send(&app, ok(slower)), send(&app, ok(slower)));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::TOO_MANY_REQUESTS],
        "the abandoned query still holds its slot"
    );

    // Reports keep working while an analyst loops on KILL QUERY.
    let (status, v) = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/tokens")
            .insert_header(bearer(ADMIN))
            .set_json(json!({"name": "stats", "scopes": ["stats:read"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let stats = v["token"].as_str().unwrap().to_string();
    let report = || {
        TestRequest::get()
            .uri("/api/v1/stats/aggregate?site_id=example.com&period=30d&metrics=visitors,pageviews,bounce_rate")
            .insert_header(bearer(&stats))
    };
    let kill = || ok("KILL QUERY WHERE 1 ASYNC");
    for _ in 0..5 {
        let (k1, r1, k2, r2, k3, r3) = futures_util::join!(
            send(&app, kill()),
            send(&app, report()),
            send(&app, kill()),
            send(&app, report()),
            send(&app, kill()),
            send(&app, report()),
        );
        for k in [k1, k2, k3] {
            assert!(
                k.0 == StatusCode::BAD_REQUEST || k.0 == StatusCode::TOO_MANY_REQUESTS,
                "{k:?}"
            );
        }
        for r in [r1, r2, r3] {
            assert_eq!(r.0, StatusCode::OK, "{:?}", r.1);
        }
    }
}

/// Statements put together at random from the pieces attacks are made of — internal tables in
/// every spelling, table functions, output clauses, settings, comments, quotes, parameters —
/// run through the real engine. Whatever comes out is either a refusal (400) or a result
/// without the canary kept in an internal table; never a server error, never a file.
#[actix_rt::test]
async fn random_attack_statements_never_reach_internal_data_or_files() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;

    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let out = outside.path().join("out");
    let st = candor::serve::build_state(common::config(
        &dir.path().join("data"),
        &[("CANDOR_SITES", "example.com,canary-0451.example")],
    ))
    .await
    .unwrap();
    let tables = [
        "events",
        "sessions",
        "goals",
        "salts",
        "default.salts",
        "`default`.`salts`",
        "\"default\".\"sites\"",
        "default.sites",
        "sites",
        "default.api_tokens",
        "system.tables",
        "system.one",
        "INFORMATION_SCHEMA.TABLES",
        "`/etc/hostname`",
        "file('/etc/hostname')",
        "merge('default', 'sit')",
        "numbers(3)",
        "view(SELECT * FROM default.sites)",
        "(SELECT * FROM default.sites)",
        "(SELECT domain FROM default.sites)",
        "{t:Identifier}",
        "default . sites",
        "default./**/sites",
        "`default.sites`",
        "default_analyst.events",
    ];
    let columns = [
        "*",
        "count()",
        "domain",
        "site",
        "any(domain)",
        "file('/etc/hostname')",
        "(SELECT any(domain) FROM default.sites)",
        "'x' IN default.sites",
        "toString(1)",
        "domain IN (SELECT domain FROM sites)",
        "`a\n      TableIdentifier events`",
        "{c:String}",
        "joinGet('default.sites', 'domain', 1)",
        "hostName()",
        "getSetting('readonly')",
    ];
    let tails = [
        "",
        " LIMIT 5",
        " SETTINGS readonly = 0",
        " FORMAT TSV",
        " -- )",
        " /* ",
        " ) UNION ALL (SELECT domain FROM default.sites",
        "; SELECT 1",
        " UNION ALL SELECT domain FROM default.sites",
        " WHERE site = {c:String}",
    ];
    let out_path = out.display().to_string();
    let outfiles = [
        String::new(),
        format!(" INTO OUTFILE '{out_path}'"),
        format!(" INTO OUTFILE '{out_path}' TRUNCATE FORMAT RawBLOB"),
        format!(" INTO OUTFILE '{out_path}' APPEND COMPRESSION 'gzip'"),
    ];
    let heads = [
        "",
        "WITH x AS (SELECT * FROM default.sites) ",
        "WITH events AS (SELECT domain AS site FROM default.sites) ",
        "/* c */ ",
        "EXPLAIN ",
        "(",
        "SELECT * FROM (",
    ];
    // Each piece is benign three times in four, so many statements are allowed and run.
    fn piece<T: Clone + std::fmt::Debug + 'static>(
        benign: Vec<T>,
        attack: Vec<T>,
    ) -> impl Strategy<Value = T> {
        proptest::prop_oneof![
            3 => proptest::sample::select(benign),
            1 => proptest::sample::select(attack),
        ]
    }
    let (benign_tables, attack_tables) = tables.split_at(4);
    let (benign_columns, attack_columns) = columns.split_at(4);
    let (benign_tails, attack_tails) = tails.split_at(2);
    let strategy = (
        piece(vec![""], heads[1..].to_vec()),
        piece(benign_columns.to_vec(), attack_columns.to_vec()),
        piece(benign_tables.to_vec(), attack_tables.to_vec()),
        piece(benign_tails.to_vec(), attack_tails.to_vec()),
        piece(vec![String::new()], outfiles[1..].to_vec()),
        proptest::sample::select(vec![
            "sites",
            "salts",
            "events",
            "default.sites",
            "/etc/hostname",
        ]),
    );
    let mut runner = TestRunner::deterministic();
    let (mut refused, mut answered) = (0, 0);
    for _ in 0..300 {
        let (head, col, table, tail, outfile, t) =
            strategy.new_tree(&mut runner).unwrap().current();
        let q = format!("{head}SELECT {col} FROM {table}{tail}{outfile}");
        let params = candor::store::Params::new()
            .with("t", t)
            .with("c", "canary-0451.example");
        match st.analyst.run(&q, &params, "JSONCompact").await {
            Ok(body) => {
                answered += 1;
                let text = String::from_utf8_lossy(&body);
                // A statement that uses the canary as its own parameter may echo it back.
                let leaked = !q.contains("{c:String}") && text.contains("canary-0451");
                assert!(!leaked, "{q:?} (t = {t}) leaked the canary: {text}");
            }
            Err(candor::analyst::AnalystError::Refused(_))
            | Err(candor::analyst::AnalystError::Failed(_))
            | Err(candor::analyst::AnalystError::Busy(_)) => refused += 1,
            Err(e) => panic!("{q:?} (t = {t}) → server error {e}"),
        }
        assert!(!out.exists(), "{q:?} wrote a file");
    }
    eprintln!("300 random statements: {answered} answered, {refused} refused");
    assert!(
        answered > 10 && refused > 100,
        "{answered} answered, {refused} refused"
    );
}
