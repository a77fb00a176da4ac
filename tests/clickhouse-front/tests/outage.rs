//! Store outage: the collector (in process, server engine) keeps answering 202 while the
//! ClickHouse front is down, up to the spool cap, then 503; when the front comes back, every
//! acknowledged event arrives, once.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{test, App};
use candor::config::{Config, Layers};
use candor::serve::{build_state, Background};
use candor::store::{fetch, Params};
use serde::Deserialize;
use serde_json::json;

fn libchdb() -> PathBuf {
    std::env::var_os("CANDOR_LIBCHDB")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(candor::config::default_libchdb_path())
        })
}

struct Front(Child);
impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn front(data: &Path, listen: &str) -> (Front, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clickhouse-front"))
        .args(["--listen", listen, "--data"])
        .arg(data)
        .arg("--libchdb")
        .arg(libchdb())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (
        Front(child),
        line.trim().trim_start_matches("listening on ").to_string(),
    )
}

#[derive(Deserialize)]
struct C {
    c: u64,
}

#[actix_rt::test]
async fn events_survive_a_store_outage() {
    let dir = tempfile::tempdir().unwrap();
    let (f, addr) = front(&dir.path().join("ch"), "127.0.0.1:0");
    let config = Config::from_layers(&Layers::from_env_pairs([
        (
            "CANDOR_DATA_DIR",
            dir.path().join("candor").display().to_string(),
        ),
        ("CANDOR_CLICKHOUSE_URL", format!("http://{addr}")),
        (
            "CANDOR_ADMIN_TOKEN",
            "outage-test-admin-token-0123456789abcdef".to_string(),
        ),
        ("CANDOR_SITES", "example.com".to_string()),
        ("CANDOR_RATE_LIMIT", "0".to_string()),
        ("CANDOR_BATCH_INTERVAL_MS", "100".to_string()),
        ("CANDOR_SPOOL_MAX_BYTES", "40000".to_string()),
    ]))
    .unwrap();
    let state = build_state(config).await.unwrap();
    let bg = Background::start(&state);
    let app =
        test::init_service(App::new().configure(candor::http::configure(state.clone()))).await;
    let send = |i: usize| {
        test::TestRequest::post()
            .uri("/api/event")
            .peer_addr("198.51.100.7:1".parse::<SocketAddr>().unwrap())
            .insert_header(("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"))
            .insert_header(("Content-Type", "text/plain"))
            .set_payload(json!({"site": "example.com", "url": format!("https://example.com/{i}"), "props": {"i": i}}).to_string())
            .to_request()
    };
    let mut acked = 0;
    for i in 0..5 {
        assert_eq!(
            test::call_service(&app, send(i)).await.status(),
            StatusCode::ACCEPTED
        );
        acked += 1;
    }
    let count = || async {
        fetch::<C>(
            state.store.as_ref(),
            "SELECT count() AS c FROM events",
            &Params::new(),
        )
        .await
        .map(|v| v[0].c)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while count().await.unwrap() < 5 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count().await.unwrap(), 5);

    // The store goes away.
    drop(f);
    let mut refused = None;
    for i in 5..2000 {
        let r = test::call_service(&app, send(i)).await;
        match r.status() {
            StatusCode::ACCEPTED => acked += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                refused = Some(
                    r.headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().to_string()),
                );
                break;
            }
            other => panic!("unexpected {other}"),
        }
        if i % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(120)).await; // let segments seal
        }
    }
    let retry_after = refused.expect("the spool cap was reached: 503");
    assert!(retry_after.is_some(), "503 carries Retry-After");
    assert!(
        acked > 10,
        "events were accepted during the outage (acknowledged {acked})"
    );
    let ready =
        test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    // The store comes back on the same address and data.
    let (_f, _) = front(&dir.path().join("ch"), &addr);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(n) = count().await {
            if n >= acked || Instant::now() > deadline {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        count().await.unwrap(),
        acked,
        "every acknowledged event arrived, once"
    );
    let distinct: Vec<C> = fetch(
        state.store.as_ref(),
        "SELECT uniqExact(props['i']) AS c FROM events",
        &Params::new(),
    )
    .await
    .unwrap();
    assert_eq!(distinct[0].c, acked);
    println!("acknowledged {acked} events across the outage; all delivered once");
    bg.shutdown(&state, Duration::from_secs(10)).await;
}
