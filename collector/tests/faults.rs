//! Faults a collector meets on a real host, each against the `candor` binary: the disk fills up
//! (a small tmpfs mounted over the spool directory, or over the whole data directory with the
//! embedded store, in the server's own mount namespace), clients that trickle their headers or
//! bodies, and ten thousand connections held open at once. Every acknowledged (202) beacon must end up in the store, and beacons must
//! keep getting through.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::CHROME;

const BIN: &str = env!("CARGO_BIN_EXE_candor");

struct Collector {
    child: Child,
    port: u16,
    base: String,
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Starts `candor serve` on `data` (rate limits off, batches cut every 100 ms). With `tmpfs`
/// (a directory under `data`, and a size in bytes), the server runs in a mount namespace of its
/// own where a tmpfs of that size lies over that directory: the mount lives and dies with the
/// process, and this process reaches it through `/proc/<pid>/root`.
fn start(data: &Path, extra: &[(&str, &str)], tmpfs: Option<(&str, u64)>) -> Collector {
    std::fs::create_dir_all(data.join("spool")).unwrap();
    let port = common::free_port();
    let mut cmd = match tmpfs {
        None => Command::new(BIN),
        Some((under, bytes)) => {
            let mut c = Command::new("unshare");
            if !is_root() {
                // Without root, an unprivileged user namespace may mount a tmpfs.
                c.args(["--user", "--map-root-user"]);
            }
            c.args(["--mount", "--propagation", "private", "sh", "-c"])
                .arg(r#"mount -t tmpfs -o "size=$1,mode=0700" candor-spool "$2" && shift 2 && exec "$@""#)
                .arg("sh")
                .arg(bytes.to_string())
                .arg(data.join(under))
                .arg(BIN);
            c
        }
    };
    let log = data.with_extension("log");
    cmd.arg("serve")
        .env("CANDOR_LISTEN", format!("127.0.0.1:{port}"))
        .env("CANDOR_DATA_DIR", data)
        .env("CANDOR_LIBCHDB", common::libchdb())
        .env("CANDOR_ADMIN_TOKEN", common::ADMIN)
        .env("CANDOR_SITES", "example.com")
        .env("CANDOR_BATCH_INTERVAL_MS", "100")
        .env("CANDOR_RATE_LIMIT", "0")
        .env("CANDOR_SITE_RATE_LIMIT", "0")
        .env("CANDOR_GEOIP_DB", "")
        .env("CANDOR_ORG_DB", "")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut c = Collector {
        child: cmd.spawn().unwrap(),
        port,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = c.child.try_wait() {
            panic!(
                "the collector exited ({status}) before it was ready{}:\n{}",
                if tmpfs.is_some() {
                    " (mounting a tmpfs needs root, or unprivileged user namespaces)"
                } else {
                    ""
                },
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /readyz HTTP/1.0\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.0 200") {
                return c;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("collector did not become ready");
}

impl Collector {
    /// A path of the server's mount namespace, as this process reaches it.
    fn seen_from_here(&self, path: &Path) -> PathBuf {
        Path::new(&format!("/proc/{}/root", self.child.id()))
            .join(path.strip_prefix("/").expect("an absolute path"))
    }

    /// Open files of the server process.
    fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    async fn metric(&self, http: &reqwest::Client, name: &str) -> f64 {
        let text = http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    async fn sql(&self, http: &reqwest::Client, query: &str) -> Value {
        http.post(format!("{}/api/v1/sql", self.base))
            .bearer_auth(common::ADMIN)
            .json(&json!({"query": query}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits (up to 60 s) until the store holds `n` events; returns the count it saw last.
    async fn stored(&self, http: &reqwest::Client, n: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = self.sql(http, "SELECT count() FROM events").await;
            let got = v["rows"][0][0].as_u64().unwrap_or(0);
            if got >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn beacon_body(i: usize) -> String {
    json!({"site": "example.com", "url": format!("https://example.com/c{i}"), "props": {"i": i}})
        .to_string()
}

/// A beacon as raw HTTP/1.1 (the connection stays open).
fn beacon_request(i: usize) -> Vec<u8> {
    let body = beacon_body(i);
    format!(
        "POST /api/event HTTP/1.1\r\nHost: collector\r\nUser-Agent: {CHROME}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads one response: its status, head and body (by `Content-Length`, or to the end).
async fn read_response(stream: &mut TcpStream) -> std::io::Result<(u16, String, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let length = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    loop {
        if length.is_some_and(|n| buf.len() >= head_end + n) {
            break;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok((
        status,
        head,
        String::from_utf8_lossy(&buf[head_end..]).into(),
    ))
}

async fn send_beacon(http: &reqwest::Client, c: &Collector, i: usize) -> reqwest::Response {
    http.post(format!("{}/api/event", c.base))
        .header("Content-Type", "text/plain")
        .header("User-Agent", CHROME)
        .body(beacon_body(i))
        .send()
        .await
        .unwrap()
}

/// Fills the filesystem of `path` with one file until it refuses more; returns its size.
fn fill(path: &Path) -> u64 {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 << 10];
    let mut written = 0;
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    written
}

#[tokio::test]
async fn a_full_disk_answers_503_keeps_every_acknowledged_beacon_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let c = start(&data, &[], Some(("spool", 4 << 20)));
    let spool = c.seen_from_here(&data.join("spool"));
    let http = reqwest::Client::new();
    let mut acked = BTreeSet::new();
    for i in 0..20 {
        assert_eq!(send_beacon(&http, &c, i).await.status(), 202);
        acked.insert(i);
    }
    // Everything is in the store and the spool is empty, so no segment the batcher deletes
    // can give space back while the disk is full.
    assert_eq!(c.stored(&http, 20).await, 20);
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.metric(&http, "candor_spool_bytes").await > 0.0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(c.metric(&http, "candor_spool_bytes").await, 0.0);

    // The disk fills up: another file takes every byte that is left.
    let filler = spool.join("filler");
    assert!(
        fill(&filler) > 3 << 20,
        "the tmpfs over the spool was filled"
    );
    for i in 20..40 {
        let r = send_beacon(&http, &c, i).await;
        assert_eq!(r.status(), 503, "beacon {i} on a full disk");
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry > 0);
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("disk is full"),
            "{body}"
        );
        assert_eq!(body["field"], Value::Null);
    }
    let ready = http.get(format!("{}/readyz", c.base)).send().await.unwrap();
    assert_eq!(
        ready.status(),
        503,
        "not ready while the spool's disk is full"
    );
    assert!(ready.headers().contains_key("retry-after"));

    // Space returns.
    std::fs::remove_file(&filler).unwrap();
    for i in 40..60 {
        assert_eq!(send_beacon(&http, &c, i).await.status(), 202, "beacon {i}");
        acked.insert(i);
    }
    let ready = http.get(format!("{}/readyz", c.base)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(c.stored(&http, 40).await, 40);
    // Exactly the acknowledged beacons: none lost, and none of the refused ones stored
    // (a refused write is taken back out of the segment, not left to be replayed).
    let v = c
        .sql(
            &http,
            "SELECT toUInt32(props['i']) AS i FROM events ORDER BY i",
        )
        .await;
    let stored: BTreeSet<usize> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_u64().unwrap() as usize)
        .collect();
    assert_eq!(stored, acked);
}

#[tokio::test]
async fn a_full_disk_under_the_store_keeps_acknowledged_beacons_in_the_spool_until_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The whole data directory, the embedded store with it, on a 64 MiB disk.
    let c = start(&data, &[], Some((".", 64 << 20)));
    let http = reqwest::Client::new();
    let mut acked = BTreeSet::new();
    for i in 0..10 {
        assert_eq!(send_beacon(&http, &c, i).await.status(), 202);
        acked.insert(i);
    }
    assert_eq!(c.stored(&http, 10).await, 10);
    // The disk fills up but for 160 KiB: room for spool records, not for the store's next part
    // (ClickHouse reserves a MiB before it writes one).
    let filler = c.seen_from_here(&data).join("filler");
    let size = fill(&filler);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap()
        .set_len(size - (160 << 10))
        .unwrap();
    for i in 10..30 {
        assert_eq!(send_beacon(&http, &c, i).await.status(), 202, "beacon {i}");
        acked.insert(i);
    }
    // The store refuses the batch (and the batcher keeps retrying it).
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.metric(&http, "candor_store_insert_failures_total").await == 0.0 {
        assert!(Instant::now() < deadline, "the store never refused a batch");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let v = c.sql(&http, "SELECT count() FROM events").await;
    assert_eq!(
        v["rows"][0][0], 10,
        "nothing more stored while the disk is full"
    );
    assert!(c.metric(&http, "candor_spool_bytes").await > 0.0);

    // Space returns: the spool drains into the store, every acknowledged beacon once.
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(c.stored(&http, 30).await, 30);
    let v = c
        .sql(
            &http,
            "SELECT toUInt32(props['i']) AS i FROM events ORDER BY i",
        )
        .await;
    let stored: BTreeSet<usize> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_u64().unwrap() as usize)
        .collect();
    assert_eq!(stored, acked);
}

/// A client that sends a request's head (or, with `body`, its body) one piece at a time, for
/// up to 15 s: returns the status the server answered with before cutting it off (0 when it
/// just closed the connection), or `None` if it was never cut.
async fn trickle(port: u16, body: bool) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = if body {
        "POST /api/event HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 4000\r\n\r\n{\"site\":"
    } else {
        "POST /api/event HTTP/1.1\r\nHost: t\r\n"
    };
    if s.write_all(head.as_bytes()).await.is_err() {
        return Some(0);
    }
    let (mut rd, mut wr) = s.into_split();
    let reader = tokio::spawn(async move {
        let mut out = Vec::new();
        let _ = rd.read_to_end(&mut out).await;
        let text = String::from_utf8_lossy(&out).to_string();
        text.split(' ')
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(0)
    });
    let piece: &[u8] = if body { b" " } else { b"X-Slow: 1\r\n" };
    let until = Instant::now() + Duration::from_secs(15);
    while Instant::now() < until && !reader.is_finished() {
        if wr.write_all(piece).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if !reader.is_finished() {
        // Written to the end and still open: never cut.
        tokio::time::sleep(Duration::from_millis(500)).await;
        if !reader.is_finished() {
            reader.abort();
            return None;
        }
    }
    Some(reader.await.unwrap())
}

#[tokio::test]
async fn trickling_clients_are_cut_off_while_beacons_get_through() {
    let dir = tempfile::tempdir().unwrap();
    let c = start(
        &dir.path().join("data"),
        &[
            ("CANDOR_HTTP_REQUEST_TIMEOUT_MS", "1000"),
            ("CANDOR_HTTP_BODY_TIMEOUT_MS", "1000"),
        ],
        None,
    );
    // 300 clients trickle request heads and 300 trickle bodies, all at once.
    let tricklers: Vec<_> = (0..600)
        .map(|i| tokio::spawn(trickle(c.port, i % 2 == 1)))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let http = reqwest::Client::new();
    for i in 0..200 {
        assert_eq!(send_beacon(&http, &c, i).await.status(), 202, "beacon {i}");
    }
    let mut heads = Vec::new();
    let mut bodies = Vec::new();
    for (i, t) in tricklers.into_iter().enumerate() {
        let answer = t.await.unwrap();
        if i % 2 == 1 {
            bodies.push(answer)
        } else {
            heads.push(answer)
        }
    }
    // A slow head gets actix-web's 408 and the connection is closed; a slow body gets 408.
    assert!(
        heads.iter().all(|a| matches!(a, Some(408) | Some(0))),
        "every slow head was cut off: {heads:?}"
    );
    assert!(
        bodies.iter().all(|a| *a == Some(408)),
        "every slow body got 408: {bodies:?}"
    );
    assert_eq!(c.stored(&http, 200).await, 200);
    // A slow body's 408 is a JSON error like every other.
    let mut s = TcpStream::connect(("127.0.0.1", c.port)).await.unwrap();
    s.write_all(b"POST /api/event HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    let (status, _, body) = read_response(&mut s).await.unwrap();
    assert_eq!(status, 408);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("in time"),
        "{body}"
    );
}

/// Raises this process's soft limit on open files to its hard limit.
fn raise_open_files_limit() -> u64 {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut l), 0);
        l.rlim_cur = l.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &l), 0);
    }
    l.rlim_cur
}

#[tokio::test]
async fn ten_thousand_open_connections_and_beacons_still_get_202() {
    const HELD: usize = 10_000;
    let limit = raise_open_files_limit();
    assert!(
        limit > HELD as u64 + 1000,
        "this test needs more than {} open files (ulimit -Hn is {limit})",
        HELD + 1000
    );
    let dir = tempfile::tempdir().unwrap();
    let c = start(
        &dir.path().join("data"),
        // Long enough that no held connection is closed as idle during the test.
        &[("CANDOR_HTTP_KEEP_ALIVE_SECONDS", "300")],
        None,
    );
    // Every connection sends a beacon and stays open (keep-alive), 500 opening at a time.
    use futures_util::stream::{self, StreamExt};
    let port = c.port;
    let held: Vec<TcpStream> = stream::iter(0..HELD)
        .map(|i| async move {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            s.write_all(&beacon_request(i)).await.unwrap();
            let (status, _, body) = read_response(&mut s).await.unwrap();
            assert_eq!(status, 202, "{body}");
            s
        })
        .buffer_unordered(500)
        .collect()
        .await;
    assert_eq!(held.len(), HELD);
    assert!(
        c.open_files() > HELD,
        "the server holds every connection open ({} open files)",
        c.open_files()
    );
    // With all of them open, new clients' beacons get 202.
    let http = reqwest::Client::new();
    for i in 0..100 {
        assert_eq!(
            send_beacon(&http, &c, HELD + i).await.status(),
            202,
            "beacon {i}"
        );
    }
    // And every held connection is still served.
    let second: Vec<u16> = stream::iter(held.into_iter().enumerate())
        .map(|(i, mut s)| async move {
            s.write_all(&beacon_request(HELD + 100 + i)).await.unwrap();
            read_response(&mut s).await.unwrap().0
        })
        .buffer_unordered(500)
        .collect()
        .await;
    assert!(second.iter().all(|s| *s == 202));
    let want = (2 * HELD + 100) as u64;
    assert_eq!(c.stored(&http, want).await, want);
}
