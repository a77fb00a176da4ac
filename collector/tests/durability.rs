//! The collector as a process: what a trusted proxy's client leaves behind (nothing raw), and
//! SIGKILL under load (every acknowledged event is stored exactly once after a restart).

mod common;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::CHROME;

const BIN: &str = env!("CARGO_BIN_EXE_candor");

struct Collector {
    child: Child,
    base: String,
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(
    data: &std::path::Path,
    port: u16,
    extra: &[(&str, &str)],
    log: Option<&std::path::Path>,
) -> Collector {
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .env("CANDOR_LISTEN", format!("127.0.0.1:{port}"))
        .env("CANDOR_DATA_DIR", data)
        .env("CANDOR_LIBCHDB", common::libchdb())
        .env("CANDOR_ADMIN_TOKEN", common::ADMIN)
        .env("CANDOR_SITES", "example.com")
        .env("CANDOR_BATCH_INTERVAL_MS", "200")
        .env("CANDOR_RATE_LIMIT", "0")
        .stdout(Stdio::null());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    match log {
        Some(path) => cmd.stderr(std::fs::File::create(path).unwrap()),
        None => cmd.stderr(Stdio::null()),
    };
    let c = Collector {
        child: cmd.spawn().unwrap(),
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /readyz HTTP/1.0\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if out.starts_with("HTTP/1.0 200") || out.starts_with("HTTP/1.1 200") {
                return c;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("collector did not become ready");
}

async fn sql(http: &reqwest::Client, base: &str, query: &str) -> Value {
    http.post(format!("{base}/api/v1/sql"))
        .bearer_auth(common::ADMIN)
        .json(&json!({"query": query}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn wait_count(http: &reqwest::Client, base: &str, query: &str, want: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = sql(http, base, query).await;
        let n = v["rows"][0][0].as_u64().unwrap_or(0);
        if n >= want || Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn raw_ip_and_user_agent_reach_neither_tables_nor_logs() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("candor.log");
    let port = common::free_port();
    let c = start(
        &dir.path().join("data"),
        port,
        &[
            ("CANDOR_TRUSTED_PROXIES", "127.0.0.1/32"),
            ("CANDOR_LOG", "debug"),
        ],
        Some(&log),
    );
    let http = reqwest::Client::new();
    let ua = format!("{CHROME} Zqxjkv/42");
    for i in 0..5 {
        let r = http
            .post(format!("{}/api/event", c.base))
            .header("Content-Type", "text/plain")
            .header("User-Agent", &ua)
            .header("X-Forwarded-For", "203.0.113.77")
            .body(json!({"site": "example.com", "url": format!("https://example.com/p{i}"), "referrer": "https://search.example.net/?q=Zqxjkv"}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    assert_eq!(
        wait_count(&http, &c.base, "SELECT count() FROM events", 5).await,
        5
    );
    let v = sql(&http, &c.base, "SELECT uniqExact(visitor_id) FROM events").await;
    assert_eq!(
        v["rows"][0][0], 1,
        "one visitor behind the proxy, identified by the forwarded address"
    );

    let needles = [
        "203.0.113.77",
        "3405803853",
        "Zqxjkv",
        "Windows NT 10.0; Win64",
    ];
    // Every table, read as anyone with the store's files could: the collector is stopped and
    // the store opened directly (analysts' SQL cannot reach internal tables at all).
    drop(c);
    let store = candor::store::ChdbStore::open(
        &common::libchdb(),
        &dir.path().join("data/clickhouse"),
        Default::default(),
    )
    .unwrap();
    let params = candor::store::Params::new;
    let names: Vec<String> = candor::store::fetch_compact(
        &store,
        "SELECT name FROM system.tables WHERE database = currentDatabase()",
        &params(),
    )
    .await
    .unwrap()
    .into_iter()
    .map(|r| r[0].as_str().unwrap().to_string())
    .collect();
    assert!(names.contains(&"events".to_string()) && names.contains(&"sessions".to_string()));
    for t in &names {
        let body = candor::store::Store::query(
            &store,
            "SELECT * FROM {t:Identifier}",
            &params().with("t", t.as_str()),
            "JSONEachRow",
        )
        .await
        .unwrap();
        let body = String::from_utf8_lossy(&body);
        for n in needles {
            assert!(!body.contains(n), "table {t} holds {n:?}");
        }
    }
    // Whatever is still in the spool, and the log.
    for entry in std::fs::read_dir(dir.path().join("data/spool")).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for n in needles {
            assert!(!text.contains(n), "spool holds {n:?}");
        }
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("serving"), "the log was captured");
    for n in needles {
        assert!(!logged.contains(n), "log holds {n:?}");
    }
}

#[tokio::test]
async fn sigkill_under_load_loses_no_acknowledged_event_and_duplicates_none() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = common::free_port();
    let c = start(&data, port, &[], None);
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (acked, stop, base) = (acked.clone(), stop.clone(), c.base.clone());
        workers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let seq = format!("{w}-{i}");
                i += 1;
                let sent = http
                    .post(format!("{base}/api/event"))
                    .header("Content-Type", "text/plain")
                    .header("User-Agent", CHROME)
                    .body(json!({"site": "example.com", "name": "load", "url": "https://example.com/", "props": {"seq": seq}}).to_string())
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 202 => {
                        acked.lock().unwrap().insert(seq);
                    }
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    Err(_) => break, // the collector is gone
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut c = c;
    c.child.kill().unwrap(); // SIGKILL, mid-load
    let _ = c.child.wait();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let acked: HashSet<String> = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "the load test acknowledged only {} events",
        acked.len()
    );

    let c = start(&data, port, &[], None);
    let http = reqwest::Client::new();
    let stored = wait_count(
        &http,
        &c.base,
        "SELECT count() FROM events WHERE name = 'load'",
        acked.len() as u64,
    )
    .await;
    assert!(
        stored >= acked.len() as u64,
        "stored {stored} < acknowledged {}",
        acked.len()
    );
    let dupes = sql(&http, &c.base, "SELECT count() FROM (SELECT props['seq'] AS s FROM events WHERE name = 'load' GROUP BY s HAVING count() > 1)").await;
    assert_eq!(dupes["rows"][0][0], 0, "no event stored twice");
    // Nor a visit event: the sessions rows the store derives from a replayed batch are
    // deduplicated with it.
    assert_eq!(
        wait_count(
            &http,
            &c.base,
            "SELECT (SELECT sum(events) FROM sessions) = (SELECT count() FROM events)",
            1,
        )
        .await,
        1,
        "the visits count each stored event once"
    );
    let seqs = sql(
        &http,
        &c.base,
        "SELECT groupArray(props['seq']) FROM events WHERE name = 'load'",
    )
    .await;
    let stored: HashSet<String> = seqs["rows"][0][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let missing: Vec<&String> = acked.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
    println!(
        "acknowledged {} events before SIGKILL; all stored once after restart",
        acked.len()
    );
}

/// Sends 50 page views (`https://example.com/{prefix}{i}`) and expects a 202 for each.
async fn send_pages(http: &reqwest::Client, base: &str, prefix: &str) {
    for i in 0..50 {
        let r = http
            .post(format!("{base}/api/event"))
            .header("Content-Type", "text/plain")
            .header("User-Agent", CHROME)
            .body(
                json!({"site": "example.com", "url": format!("https://example.com/{prefix}{i}")})
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
}

#[tokio::test]
async fn sigterm_drains_the_spool_before_exit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = common::free_port();
    // A long batch interval: without the drain, these events would still sit in the spool.
    let mut c = start(&data, port, &[("CANDOR_BATCH_INTERVAL_MS", "60000")], None);
    let http = reqwest::Client::new();
    send_pages(&http, &c.base, "").await;
    let pid = c.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = c.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "collector did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "clean exit: {status:?}");
    let left: Vec<_> = std::fs::read_dir(data.join("spool")).unwrap().collect();
    assert!(
        left.is_empty(),
        "spool drained before exit, {} segment(s) left",
        left.len()
    );
    drop(c);
    let c = start(&data, port, &[], None);
    let v = sql(&http, &c.base, "SELECT count() FROM events").await;
    assert_eq!(v["rows"][0][0], 50);
    // The spool directory is empty now; the next segments must not reuse the numbers (and so
    // the insert deduplication tokens) of the first run, or the store drops them as repeats.
    send_pages(&http, &c.base, "second/").await;
    assert_eq!(
        wait_count(&http, &c.base, "SELECT count() FROM events", 100).await,
        100
    );
    assert_eq!(
        wait_count(&http, &c.base, "SELECT sum(events) FROM sessions", 100).await,
        100
    );
    // Event ids arrive as the version-4 UUIDs they were generated as (RowBinary byte order).
    let v = sql(
        &http,
        &c.base,
        "SELECT countIf(match(toString(event_id), '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$')), uniqExact(event_id) FROM events",
    )
    .await;
    assert_eq!(v["rows"][0], json!([100, 100]));
}

/// A spooled record as collectors wrote it before sessions were derived in the store: the
/// events row and the sessions row in RowBinary, framed as `[length][crc32c][payload]`.
fn rowbinary_v1_frame(session_id: u64, path: &str) -> Vec<u8> {
    let record = common::page_view_record(8, session_id, path, candor::clock::unix_seconds());
    frame(&record.encode_v1())
}

use common::spool_frame as frame;

/// A spooled record as collectors before the RowBinary format wrote it: two JSONEachRow
/// lines, framed as `[length][crc32c][payload]`.
fn legacy_frame(event_id: &str, session_id: u64, path: &str) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let day = {
        let d = now / 86_400;
        // civil date of day number d (1970-01-01 = 0)
        let z = d as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let dd = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!("{y:04}-{m:02}-{dd:02}")
    };
    let attribution = json!({"hostname": "example.com", "referrer": "", "referrer_source": "Google",
        "channel": "search", "utm_source": "", "utm_medium": "", "utm_campaign": "", "utm_content": "",
        "utm_term": "", "country_code": "", "region": "", "city": "", "org": "", "org_type": "",
        "browser": "Chrome", "browser_version": "131.0", "os": "Windows", "os_version": "10", "device": "desktop"});
    let mut event = json!({"event_id": event_id, "timestamp": now, "site": "example.com", "name": "pageview",
        "pathname": path, "screen_width": 1440, "visitor_id": 7, "session_id": session_id, "visitor_key": "",
        "consent": "none", "engaged_ms": 0, "props": {}, "retention_days": 400});
    let mut session = json!({"site": "example.com", "day": day, "session_id": session_id, "visitor_id": 7,
        "start": now, "end": now, "pageviews": 1, "events": 1, "engaged_ms": 0, "entry_page": path,
        "exit": [1, path], "visitor_key": "", "retention_days": 400});
    for row in [&mut event, &mut session] {
        row.as_object_mut()
            .unwrap()
            .extend(attribution.as_object().unwrap().clone());
    }
    frame(format!("{event}\n{session}\n").as_bytes())
}

#[tokio::test]
async fn segments_spooled_before_the_rowbinary_format_still_drain() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let spool = data.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    // An upgrade with two segments of the old format left on disk.
    let mut segment = legacy_frame("00000000-0000-4000-8000-000000000001", 11, "/old/1");
    segment.extend(legacy_frame(
        "00000000-0000-4000-8000-000000000002",
        11,
        "/old/2",
    ));
    std::fs::write(spool.join(format!("{:020}.spool", 3)), &segment).unwrap();
    std::fs::write(
        spool.join(format!("{:020}.spool", 4)),
        legacy_frame("00000000-0000-4000-8000-000000000003", 12, "/old/3"),
    )
    .unwrap();
    // And one of the format after it: the events row and the sessions row in RowBinary.
    std::fs::write(
        spool.join(format!("{:020}.spool", 5)),
        rowbinary_v1_frame(13, "/old/4"),
    )
    .unwrap();
    let port = common::free_port();
    let c = start(&data, port, &[], None);
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/api/event", c.base))
        .header("Content-Type", "text/plain")
        .header("User-Agent", CHROME)
        .body(json!({"site": "example.com", "url": "https://example.com/new"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(
        wait_count(&http, &c.base, "SELECT count() FROM events", 5).await,
        5
    );
    let v = sql(
        &http,
        &c.base,
        "SELECT groupArray(pathname) FROM (SELECT pathname FROM events ORDER BY pathname)",
    )
    .await;
    assert_eq!(
        v["rows"][0][0],
        json!(["/new", "/old/1", "/old/2", "/old/3", "/old/4"])
    );
    // Each old record's session row is stored once: written by the old format, not derived
    // again from its events row.
    let v = sql(
        &http,
        &c.base,
        "SELECT session_id, sum(events), sum(pageviews), max(exit).2 FROM sessions WHERE session_id IN (11, 12, 13) GROUP BY session_id ORDER BY session_id",
    )
    .await;
    assert_eq!(
        v["rows"],
        json!([
            [11, 2, 2, "/old/2"],
            [12, 1, 1, "/old/3"],
            [13, 1, 1, "/old/4"]
        ])
    );
    let v = sql(&http, &c.base, "SELECT sum(events) FROM sessions").await;
    assert_eq!(v["rows"][0][0], 5, "one visit event per stored event");
    assert!(
        std::fs::read_dir(&spool)
            .unwrap()
            .filter_map(Result::ok)
            .all(|e| !e
                .file_name()
                .to_string_lossy()
                .starts_with("0000000000000000000")),
        "the old segments were deleted once stored"
    );
}
