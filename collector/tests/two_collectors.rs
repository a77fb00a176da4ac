//! Two collectors on one store (ClickHouse's HTTP interface, spoken by the test front
//! `tests/clickhouse-front` over chDB) behind the shipped `deploy/nginx/candor.conf`, run by a
//! real nginx: every client address sticks to one collector, so visitors, visits, page views,
//! goal conversions and leads are exact, and sites, tokens, goals and salts made or used on one
//! collector work on the other. Then one collector is killed with acknowledged events in its
//! spool: its clients move to the other collector (each visit it held continues there as a new
//! visit), and when it comes back its spool is replayed: nothing acknowledged is lost.
//!
//! Clients get addresses of their own by binding to `127.0.0.N` (all of 127/8 is loopback).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::front::{start as start_front, Process};
use common::{ADMIN, CHROME};

const BIN: &str = env!("CARGO_BIN_EXE_candor");
/// One server key for every collector of a store: they open each other's sealed salts.
const PII_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const VISITORS: u8 = 24;

/// nginx from the system, installed as `make deploy-check` installs it (Debian's nginx-light,
/// when running as root) if it is missing.
fn nginx() -> PathBuf {
    let find = || {
        ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
    };
    if let Some(p) = find() {
        return p;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        let ok = Command::new("sh")
            .arg("-c")
            .arg("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null")
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "installing nginx-light failed");
    }
    find().expect("nginx is not installed: install nginx-light (make deploy-check does, as root)")
}

fn wait_ready(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited ({status}) before it was ready");
        }
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /readyz HTTP/1.0\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.0 200") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not become ready");
}

fn start_collector(data: &Path, port: u16, store: &str, batch_interval_ms: u32) -> Process {
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("CANDOR_LISTEN", format!("127.0.0.1:{port}"))
        .env("CANDOR_DATA_DIR", data)
        .env("CANDOR_CLICKHOUSE_URL", store)
        .env("CANDOR_LIBCHDB", common::libchdb())
        .env("CANDOR_ADMIN_TOKEN", ADMIN)
        .env("CANDOR_SITES", "example.com")
        .env("CANDOR_PII_KEY", PII_KEY)
        .env("CANDOR_TRUSTED_PROXIES", "127.0.0.1/32")
        .env("CANDOR_RATE_LIMIT", "0")
        .env("CANDOR_BATCH_INTERVAL_MS", batch_interval_ms.to_string())
        .env("CANDOR_GEOIP_DB", "")
        .env("CANDOR_ORG_DB", "")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(data.with_extension("log")).unwrap())
        .spawn()
        .unwrap();
    wait_ready(port, &mut child, "a collector");
    Process(child)
}

/// nginx with the shipped front, its two upstream servers pointed at the collectors and its
/// listener at `port`; `X-Test-Upstream` tells the test which collector answered.
fn start_nginx(dir: &Path, port: u16, collectors: [u16; 2]) -> Process {
    let mut conf = include_str!("../../deploy/nginx/candor.conf").to_string();
    for (from, to) in [
        (
            "server 10.0.0.11:8080",
            format!("server 127.0.0.1:{}", collectors[0]),
        ),
        (
            "server 10.0.0.12:8080",
            format!("server 127.0.0.1:{}", collectors[1]),
        ),
        ("listen 80;", format!("listen 127.0.0.1:{port};")),
        (
            "proxy_read_timeout 60s;",
            "proxy_read_timeout 60s;\n        add_header X-Test-Upstream $upstream_addr always;"
                .to_string(),
        ),
    ] {
        assert!(conf.contains(from), "deploy/nginx/candor.conf has {from:?}");
        conf = conf.replace(from, &to);
    }
    assert!(conf.contains("hash $remote_addr consistent;"));
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    std::fs::write(prefix.join("candor.conf"), conf).unwrap();
    std::fs::write(
        prefix.join("nginx.conf"),
        format!(
            "daemon off;\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  include {p}/candor.conf;\n}}\n",
            p = prefix.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(nginx())
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(prefix.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(port, &mut child, "nginx");
    Process(child)
}

/// A visitor: its own client address (127.0.0.N) and, with marketing consent, its own id.
struct Visitor {
    n: u8,
    http: reqwest::Client,
    marketing: bool,
}

impl Visitor {
    fn new(n: u8) -> Visitor {
        Visitor {
            n,
            http: reqwest::Client::builder()
                .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
                .build()
                .unwrap(),
            marketing: n.is_multiple_of(3),
        }
    }

    /// Sends an event through the front; returns the collector that answered (its port).
    async fn event(&self, front: &str, site: &str, name: &str, path: &str) -> String {
        let mut body = json!({"site": site, "name": name, "url": format!("https://{site}{path}")});
        if self.marketing {
            body["consent"] = json!("marketing");
            body["vid"] = json!(format!("vid-{}", self.n));
        }
        let r = self
            .http
            .post(format!("{front}/api/event"))
            .header("Content-Type", "text/plain")
            .header("User-Agent", CHROME)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "visitor {}: {name} {path}", self.n);
        let upstream = r.headers()["x-test-upstream"].to_str().unwrap();
        // After a failed attempt nginx lists every upstream it tried: the last one answered.
        upstream.rsplit(", ").next().unwrap().to_string()
    }

    async fn identify(&self, front: &str) {
        let r = self
            .http
            .post(format!("{front}/api/identify"))
            .header("User-Agent", CHROME)
            .json(&json!({"site": "example.com", "vid": format!("vid-{}", self.n),
                          "email": format!("visitor{}@example.org", self.n), "name": "V",
                          "company": "C", "consent": "marketing", "url": "https://example.com/signup"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "visitor {} identifies", self.n);
    }
}

async fn post(http: &reqwest::Client, url: String, token: &str, body: Value) -> (u16, Value) {
    let r = http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The v2 aggregate of `metrics` for `site` today, as `{metric: value}`.
async fn totals(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    site: &str,
    metrics: &[&str],
) -> BTreeMap<String, Value> {
    let (status, v) = post(
        http,
        format!("{base}/api/v2/query"),
        token,
        json!({"site_id": site, "metrics": metrics, "date_range": "day"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    metrics
        .iter()
        .enumerate()
        .map(|(i, m)| (m.to_string(), v["results"][0]["metrics"][i].clone()))
        .collect()
}

/// Waits (up to 30 s) until `site` has `pageviews` page views in the store.
async fn wait_pageviews(http: &reqwest::Client, base: &str, site: &str, pageviews: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = totals(http, base, ADMIN, site, &["pageviews"]).await["pageviews"].clone();
        if got == json!(pageviews) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{site}: {got} page views, want {pageviews}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn two_collectors_behind_a_hashing_front_count_exactly_and_survive_one_dying() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, store) = start_front(&dir.path().join("clickhouse"));
    let ports = [common::free_port(), common::free_port()];
    let data = [dir.path().join("a"), dir.path().join("b")];
    let base = ports.map(|p| format!("http://127.0.0.1:{p}"));
    // One at a time, as a rolling start: the first applies the migrations.
    let _a = start_collector(&data[0], ports[0], &store, 200);
    let mut b = start_collector(&data[1], ports[1], &store, 200);
    let front_port = common::free_port();
    let _nginx = start_nginx(dir.path(), front_port, ports);
    let front = format!("http://127.0.0.1:{front_port}");
    let http = reqwest::Client::new();

    // A site, a goal and a token made on collector A ...
    let (status, v) = post(
        &http,
        format!("{}/api/v1/sites", base[0]),
        ADMIN,
        json!({"domain": "shop.example"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let (status, v) = post(
        &http,
        format!("{}/api/v1/sites/example.com/goals", base[0]),
        ADMIN,
        json!({"event_name": "Signup"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let (status, v) = post(
        &http,
        format!("{}/api/v1/tokens", base[0]),
        ADMIN,
        json!({"name": "analyst", "scopes": ["stats:read"]}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let analyst = v["token"].as_str().unwrap().to_string();
    // ... are known to collector B once it refreshes its caches from the store (every 5 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) = post(
            &http,
            format!("{}/api/v2/query", base[1]),
            &analyst,
            json!({"site_id": "shop.example", "metrics": ["visitors"], "date_range": "day"}),
        )
        .await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "B never saw A's token and site");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Visitors from 24 addresses, each sticking to one collector: three pages, a signup for
    // every second one, contact details from every third (those browse with marketing
    // consent), and a page of the other site.
    let visitors: Vec<Visitor> = (10..10 + VISITORS).map(Visitor::new).collect();
    let mut collector_of = BTreeMap::new();
    for v in &visitors {
        let mut seen = BTreeSet::new();
        for path in ["/", "/pricing", "/signup"] {
            seen.insert(v.event(&front, "example.com", "pageview", path).await);
        }
        if v.n.is_multiple_of(2) {
            seen.insert(v.event(&front, "example.com", "Signup", "/signup").await);
        }
        if v.marketing {
            v.identify(&front).await;
        }
        seen.insert(v.event(&front, "shop.example", "pageview", "/").await);
        assert_eq!(seen.len(), 1, "visitor {} stayed on one collector", v.n);
        collector_of.insert(v.n, seen.into_iter().next().unwrap());
    }
    let on_b: BTreeSet<u8> = collector_of
        .iter()
        .filter(|(_, c)| c.ends_with(&format!(":{}", ports[1])))
        .map(|(n, _)| *n)
        .collect();
    let nb = on_b.len() as u64;
    assert!(
        nb > 0 && nb < u64::from(VISITORS),
        "the front spread the visitors over both collectors: {collector_of:?}"
    );
    // The same visitor (address and browser) sent straight to each collector: the shared
    // daily salt makes it one visitor, though each collector started a visit of its own.
    for b in &base {
        let r = http
            .post(format!("{b}/api/event"))
            .header("Content-Type", "text/plain")
            .header("User-Agent", CHROME)
            .header("X-Forwarded-For", "203.0.113.9")
            .body(json!({"site": "shop.example", "url": "https://shop.example/direct"}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }

    let v = u64::from(VISITORS);
    wait_pageviews(&http, &front, "example.com", 3 * v).await;
    wait_pageviews(&http, &front, "shop.example", v + 2).await;
    let metrics = ["visitors", "visits", "pageviews", "events", "leads"];
    assert_eq!(
        totals(&http, &front, ADMIN, "example.com", &metrics).await,
        BTreeMap::from([
            ("visitors".to_string(), json!(v)),
            ("visits".to_string(), json!(v)),
            ("pageviews".to_string(), json!(3 * v)),
            ("events".to_string(), json!(3 * v + v / 2)),
            ("leads".to_string(), json!(v / 3)),
        ])
    );
    assert_eq!(
        totals(
            &http,
            &base[1],
            &analyst,
            "shop.example",
            &["visitors", "visits"]
        )
        .await,
        BTreeMap::from([
            ("visitors".to_string(), json!(v + 1)),
            ("visits".to_string(), json!(v + 2)),
        ])
    );
    // The goal made on A counts conversions that came through either collector, read on B.
    let (status, goals) = post(
        &http,
        format!("{}/api/v2/query", base[1]),
        &analyst,
        json!({"site_id": "example.com", "metrics": ["visitors", "events"], "date_range": "day",
               "dimensions": ["event:goal"]}),
    )
    .await;
    assert_eq!(status, 200, "{goals}");
    assert_eq!(
        common::rows(&goals),
        vec![vec![json!("Signup"), json!(v / 2), json!(v / 2)]]
    );
    // Every lead, once, in the pull API of either collector.
    let deadline = Instant::now() + Duration::from_secs(30);
    for b in &base {
        loop {
            let leads: Value = http
                .get(format!("{b}/api/v1/leads?site=example.com"))
                .bearer_auth(ADMIN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let emails: BTreeSet<String> = leads["leads"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|l| l["email"].as_str().map(str::to_string))
                .collect();
            if emails.len() as u64 == v / 3 {
                assert_eq!(leads["leads"].as_array().unwrap().len() as u64, v / 3);
                break;
            }
            assert!(Instant::now() < deadline, "{leads}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    // B restarts (SIGTERM: it drains its spool) to cut batches only every ten minutes, so what
    // it acknowledges next stays in its spool. Its visitors come back to it and their visits go
    // on (a starting collector restores the live visits from the store). The test is done with
    // B before its first rollup pass (30 s after start), which would hand the spool over.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(b.0.id() as i32, libc::SIGTERM) };
    b.0.wait().unwrap();
    b = start_collector(&data[1], ports[1], &store, 600_000);
    for visitor in &visitors {
        let c = visitor
            .event(&front, "example.com", "pageview", "/later")
            .await;
        assert_eq!(
            c, collector_of[&visitor.n],
            "visitor {} came back",
            visitor.n
        );
    }
    wait_pageviews(&http, &base[0], "example.com", 4 * v - nb).await;

    // B dies: SIGKILL, with nb acknowledged page views in its spool.
    drop(b);
    assert_eq!(
        totals(&http, &base[0], ADMIN, "example.com", &["pageviews"]).await["pageviews"],
        json!(4 * v - nb),
        "B's acknowledged page views are in its spool, not yet in the store"
    );
    // Its visitors go on through the front, which sends them to A: each visit B held
    // continues there as a new visit.
    for visitor in visitors.iter().filter(|x| on_b.contains(&x.n)) {
        let c = visitor
            .event(&front, "example.com", "pageview", "/after")
            .await;
        assert!(c.ends_with(&format!(":{}", ports[0])), "{c}");
    }
    // B returns and replays its spool: nothing it acknowledged is lost.
    let _b = start_collector(&data[1], ports[1], &store, 200);
    wait_pageviews(&http, &front, "example.com", 4 * v + nb).await;
    assert_eq!(
        totals(
            &http,
            &front,
            ADMIN,
            "example.com",
            &["visitors", "visits", "pageviews"]
        )
        .await,
        BTreeMap::from([
            ("visitors".to_string(), json!(v)),
            ("visits".to_string(), json!(v + nb)),
            ("pageviews".to_string(), json!(4 * v + nb)),
        ])
    );
}

/// A ClickHouse server that refuses the batcher's Native blocks (as one that cannot convert
/// `String` to `LowCardinality(String)` in Native input would; the test front's
/// `--refuse-native`): the batch that was refused is inserted again row-wise under the same
/// token, the collector says once that it goes row-wise from now on, and every beacon is
/// stored once.
#[tokio::test]
async fn a_store_that_refuses_native_blocks_gets_every_beacon_row_wise() {
    let dir = tempfile::tempdir().unwrap();
    let (_front, url) = common::front::start_with(&dir.path().join("store"), &["--refuse-native"]);
    let port = common::free_port();
    let data = dir.path().join("collector");
    let _collector = start_collector(&data, port, &url, 100);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for round in 0..3 {
        for i in 0..5 {
            let r = http
                .post(format!("{base}/api/event"))
                .header("User-Agent", CHROME)
                .header("X-Forwarded-For", format!("198.51.100.{}", round * 5 + i + 1))
                .header("Content-Type", "text/plain")
                .body(json!({"site": "example.com", "url": format!("https://example.com/r{round}/{i}")}).to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202);
        }
        // Each round in batches of its own (the batcher closes a segment every 100 ms).
        wait_pageviews(&http, &base, "example.com", (round + 1) * 5).await;
    }
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    assert_eq!(
        log.matches("inserting row-wise from now on").count(),
        1,
        "{log}"
    );
    assert!(!log.contains("set them aside"), "{log}");
}
