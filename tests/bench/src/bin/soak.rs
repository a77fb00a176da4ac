//! `make bench-soak`: a steady beacon load on a running `candor serve` for a long time (30
//! minutes by default), sampling the server's resident memory, open files and threads, so a
//! leak shows as a line that keeps rising. Beacons come at a fixed rate from a pool of visitors
//! (addresses in `X-Forwarded-For`; the server trusts 127.0.0.1), most over kept-alive
//! connections and every tenth over a new connection (a leak per connection shows too); a
//! dashboard query runs every ten seconds. At the end the store must hold every beacon that got
//! a 202. Prints Markdown.
//!
//! Usage: soak <host:port> <server pid> <seconds> <beacons per second> <sample every seconds>
//! (environment: SOAK_TOKEN, an admin token of the server).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

const VISITORS: u64 = 20_000;
const PATHS: u64 = 50;
const UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    accepted: AtomicU64,
    other: AtomicU64,
    failed: AtomicU64,
    late: AtomicU64,
}

struct Sample {
    at: u64,
    rss_mib: f64,
    fds: usize,
    threads: usize,
}

fn proc_sample(pid: u32, at: u64) -> Sample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Sample {
        at,
        rss_mib: field("VmRSS:") as f64 / 1024.0,
        fds: std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0),
        threads: field("Threads:") as usize,
    }
}

async fn metric(http: &reqwest::Client, base: &str, name: &str) -> f64 {
    let Ok(r) = http.get(format!("{base}/metrics")).send().await else {
        return -1.0;
    };
    let text = r.text().await.unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

fn beacon(n: u64) -> (String, String) {
    let visitor = n % VISITORS;
    let ip = format!(
        "10.{}.{}.{}",
        visitor >> 16,
        (visitor >> 8) & 255,
        visitor & 255
    );
    let path = (n / VISITORS + visitor) % PATHS;
    let name = if n % 10 == 9 { "Signup" } else { "pageview" };
    let body = json!({"site": "soak.example", "name": name, "url": format!("https://soak.example/p{path}?utm_source=soak"),
                      "referrer": "https://www.google.com/", "screen_width": 1440});
    (ip, body.to_string())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() == 6,
        "usage: soak <host:port> <server pid> <seconds> <beacons per second> <sample every seconds>"
    );
    let base = format!("http://{}", args[1]);
    let pid: u32 = args[2].parse()?;
    let seconds: u64 = args[3].parse()?;
    let rate: u64 = args[4].parse()?;
    let every: u64 = args[5].parse()?;
    let token = std::env::var("SOAK_TOKEN")?;

    let kept = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let counts = Arc::new(Counts::default());
    // A ticker hands out one permit per beacon every 10 ms; 64 senders take them. A permit
    // not taken within a tick (the senders fell behind) is counted late, not queued.
    let (tx, rx) = async_channel(1024);
    let ticker = {
        let counts = counts.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let mut issued = 0u64;
            while start.elapsed() < Duration::from_secs(seconds) {
                tick.tick().await;
                let due = rate * start.elapsed().as_millis() as u64 / 1000;
                while issued < due {
                    if tx.try_send(issued).is_err() {
                        counts.late.fetch_add(1, Ordering::Relaxed);
                    }
                    issued += 1;
                }
            }
        })
    };
    let mut senders = Vec::new();
    for _ in 0..64 {
        let (rx, kept, fresh, counts, base) = (
            rx.clone(),
            kept.clone(),
            fresh.clone(),
            counts.clone(),
            base.clone(),
        );
        senders.push(tokio::spawn(async move {
            while let Ok(n) = rx.recv().await {
                let (ip, body) = beacon(n);
                let client = if n % 10 == 0 { &fresh } else { &kept };
                counts.sent.fetch_add(1, Ordering::Relaxed);
                let r = client
                    .post(format!("{base}/api/event"))
                    .header("Content-Type", "text/plain")
                    .header("User-Agent", UA)
                    .header("X-Forwarded-For", ip)
                    .body(body)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 202 => counts.accepted.fetch_add(1, Ordering::Relaxed),
                    Ok(_) => counts.other.fetch_add(1, Ordering::Relaxed),
                    Err(_) => counts.failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    drop(rx);
    let reader = {
        let (kept, base, token) = (kept.clone(), base.clone(), token.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            loop {
                tick.tick().await;
                let _ = kept
                    .post(format!("{base}/api/v2/query"))
                    .bearer_auth(&token)
                    .json(&json!({"site_id": "soak.example", "metrics": ["visitors", "visits", "pageviews", "bounce_rate"],
                                  "date_range": "day", "dimensions": ["event:page"], "pagination": {"limit": 10}}))
                    .send()
                    .await;
            }
        })
    };

    println!(
        "| minute | beacons sent | 202 | other answers | failed | spool bytes | RSS MiB | open files | threads |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut next = 0;
    while !ticker.is_finished() {
        if start.elapsed().as_secs() >= next {
            let s = proc_sample(pid, next);
            println!(
                "| {:.1} | {} | {} | {} | {} | {} | {:.1} | {} | {} |",
                next as f64 / 60.0,
                counts.sent.load(Ordering::Relaxed),
                counts.accepted.load(Ordering::Relaxed),
                counts.other.load(Ordering::Relaxed),
                counts.failed.load(Ordering::Relaxed),
                metric(&kept, &base, "candor_spool_bytes").await,
                s.rss_mib,
                s.fds,
                s.threads
            );
            samples.push(s);
            next += every;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for s in senders {
        s.await?;
    }
    reader.abort();
    let end = proc_sample(pid, start.elapsed().as_secs());
    samples.push(end);

    // Every 202 must be in the store once the spool has drained.
    let accepted = counts.accepted.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut stored = 0;
    while Instant::now() < deadline {
        let v: serde_json::Value = kept
            .post(format!("{base}/api/v1/sql"))
            .bearer_auth(&token)
            .json(&json!({"query": "SELECT count() FROM events"}))
            .send()
            .await?
            .json()
            .await?;
        stored = v["rows"][0][0].as_u64().unwrap_or(0);
        if stored >= accepted {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // Flatness: the first sample after the warm-up (a tenth of the run) against the last.
    let warm = samples
        .iter()
        .find(|s| s.at >= seconds / 10)
        .unwrap_or(&samples[0]);
    let last = samples.last().expect("samples");
    let max_rss = samples.iter().map(|s| s.rss_mib).fold(0.0, f64::max);
    let (min_fds, max_fds) = samples.iter().skip(1).fold((usize::MAX, 0), |(lo, hi), s| {
        (lo.min(s.fds), hi.max(s.fds))
    });
    println!();
    println!(
        "{} s at {rate} beacons/s: sent {}, 202 {accepted}, other {}, failed {}, not sent in time {}; stored {stored} ({})",
        seconds,
        counts.sent.load(Ordering::Relaxed),
        counts.other.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
        counts.late.load(Ordering::Relaxed),
        if stored == accepted { "every 202 stored" } else { "MISMATCH" }
    );
    println!(
        "RSS after warm-up ({} s) {:.1} MiB, at the end {:.1} MiB, highest {:.1} MiB; open files {}..{} (after the start); threads at the end {}",
        warm.at, warm.rss_mib, last.rss_mib, max_rss, min_fds, max_fds, last.threads
    );
    anyhow::ensure!(stored == accepted, "the store lost acknowledged beacons");
    Ok(())
}

/// A bounded multi-consumer channel of beacon numbers (tokio's mpsc has one consumer).
fn async_channel(cap: usize) -> (Sender, Receiver) {
    let (tx, rx) = tokio::sync::mpsc::channel(cap);
    (Sender(tx), Receiver(Arc::new(tokio::sync::Mutex::new(rx))))
}

struct Sender(tokio::sync::mpsc::Sender<u64>);
impl Sender {
    fn try_send(&self, n: u64) -> Result<(), ()> {
        self.0.try_send(n).map_err(|_| ())
    }
}

#[derive(Clone)]
struct Receiver(Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<u64>>>);
impl Receiver {
    async fn recv(&self) -> Result<u64, ()> {
        self.0.lock().await.recv().await.ok_or(())
    }
}
