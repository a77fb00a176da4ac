//! Upgrades never lose data: a data directory written by an earlier schema (the store migrated
//! only to version 12, with rows as that version wrote them — lowercase channels and devices,
//! uap-core's browser and system names, a rollup built from them — and spool segments in every
//! earlier record format) is opened by the current binary: the pending migrations run before it
//! accepts a beacon, the spool replays, and the reports count every earlier row under its new
//! name.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_candor");
const EARLIER: u32 = 12;

#[tokio::test]
async fn the_current_binary_upgrades_an_earlier_store_and_spool_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // 1. The schema as version 12 left it.
    let out = Command::new(BIN)
        .args(["migrate", "--to", &EARLIER.to_string()])
        .env("CANDOR_DATA_DIR", &data)
        .env("CANDOR_LIBCHDB", common::libchdb())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("applied {EARLIER} migration(s)"))
    );

    // 2. Rows as that version stored them, written with the engine directly.
    {
        let config = common::config(&data, &[]);
        let store = candor::store::open(&config).await.unwrap();
        let p = candor::store::Params::new;
        store
            .execute(
                "INSERT INTO events (event_id, timestamp, site, name, hostname, pathname, channel, referrer_source,
                                     device, browser, os, visitor_id, session_id, session_start, session_seq,
                                     session_hostname, retention_days)
                 SELECT generateUUIDv4(), toDateTime('2026-11-02 10:00:00', 'UTC') + number * 60, 'example.com',
                        'pageview', 'example.com', '/old', 'search', 'Google', 'desktop', 'Mobile Safari',
                        'Mac OS X', 100 + number, 200 + number, toDateTime('2026-11-02 10:00:00', 'UTC') + number * 60,
                        1, 'example.com', 400
                 FROM numbers(3)",
                &p(),
            )
            .await
            .unwrap();
        // A rollup of that day, built with the old names (the migration drops rollups, so
        // the builder makes them again with the new ones).
        store
            .execute(
                "INSERT INTO rollups (site, day, build, dimension, value, visitors, pageviews, events, visits,
                                      bounces, duration, session_pageviews, retention_days)
                 VALUES ('example.com', '2026-11-02', 1, 'visit:device', 'desktop', 3, 3, 3, 3, 3, 0, 3, 400)",
                &p(),
            )
            .await
            .unwrap();
        store
            .execute(
                "INSERT INTO rollup_days (site, day, build, events, session_events, goals, retention_days)
                 VALUES ('example.com', '2026-11-02', 1, 3, 3, 0, 400)",
                &p(),
            )
            .await
            .unwrap();
    }

    // 3. Spool segments left by collectors of every earlier record format.
    let spool = data.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 3)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp() as u32;
    let records = [
        (
            1,
            common::page_view_record(301, 401, "/spool/v1", at).encode_v1(),
        ),
        (
            2,
            common::page_view_record(302, 402, "/spool/v2", at).encode_event(),
        ),
        (
            3,
            common::page_view_record(303, 403, "/spool/v3", at)
                // Format 3 with the columns of migrations up to 9.
                .encode_versioned(9),
        ),
    ];
    for (n, payload) in records {
        std::fs::write(
            spool.join(format!("{n:020}.spool")),
            common::spool_frame(&payload),
        )
        .unwrap();
    }

    // 4. The current binary on that directory.
    let port = common::free_port();
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("CANDOR_LISTEN", format!("127.0.0.1:{port}"))
        .env("CANDOR_DATA_DIR", &data)
        .env("CANDOR_LIBCHDB", common::libchdb())
        .env("CANDOR_ADMIN_TOKEN", common::ADMIN)
        .env("CANDOR_SITES", "example.com")
        .env("CANDOR_BATCH_INTERVAL_MS", "100")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let query = |body: Value| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let r = http
                .post(format!("{base}/api/v2/query"))
                .bearer_auth(common::ADMIN)
                .json(&body)
                .send()
                .await
                .ok()?;
            r.status().is_success().then_some(())?;
            r.json::<Value>().await.ok()
        }
    };
    let range = json!(["2026-11-01", "2026-11-04"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut pages = Value::Null;
    while Instant::now() < deadline {
        if let Some(out) = query(
            json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": range,
                                        "dimensions": ["event:page"]}),
        )
        .await
        {
            pages = out["results"].clone();
            if pages.as_array().is_some_and(|r| r.len() == 4) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = child.kill();
    // Rows of the old schema and of every spooled format are all there ...
    let mut got: Vec<(String, u64)> = pages
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|r| {
            (
                r["dimensions"][0].as_str().unwrap().to_string(),
                r["metrics"][0].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("/old".to_string(), 3),
            ("/spool/v1".to_string(), 1),
            ("/spool/v2".to_string(), 1),
            ("/spool/v3".to_string(), 1)
        ]
    );
    let _ = child.wait();
    // ... and, reopened, the earlier rows carry Plausible's names (no rollup keeps the old
    // ones) and every migration is recorded.
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("CANDOR_LISTEN", format!("127.0.0.1:{port}"))
        .env("CANDOR_DATA_DIR", &data)
        .env("CANDOR_LIBCHDB", common::libchdb())
        .env("CANDOR_ADMIN_TOKEN", common::ADMIN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut answer = None;
    while Instant::now() < deadline && answer.is_none() {
        answer = query(json!({"site_id": "example.com", "metrics": ["visitors"],
                              "date_range": ["2026-11-02", "2026-11-02"],
                              "dimensions": ["visit:device", "visit:browser", "visit:os", "visit:channel"]}))
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = answer.expect("the upgraded server answers");
    assert_eq!(
        out["results"],
        json!([{"dimensions": ["Desktop", "Safari", "Mac", "Organic Search"], "metrics": [3]}])
    );
    let _ = child.kill();
    let _ = child.wait();
    let out = Command::new(BIN)
        .args(["migrate", "--dry-run"])
        .env("CANDOR_DATA_DIR", &data)
        .env("CANDOR_LIBCHDB", common::libchdb())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no migration to run"),
        "{} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
