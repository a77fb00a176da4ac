//! Locations and organisations out of the box: `candor serve` started from the repository
//! with no geo settings uses the databases `make geo` fetched (DB-IP City Lite, the ASN
//! lists), and a beacon from a well-known public address, forwarded by a trusted proxy, gets
//! its country, region, city and organisation. (`make test` fetches them before this runs.)

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::CHROME;

const BIN: &str = env!("CARGO_BIN_EXE_candor");

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[actix_rt::test]
async fn a_fresh_server_locates_a_public_address_with_the_default_databases() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for path in candor::config::default_geoip_paths()
        .into_iter()
        .chain(candor::config::default_org_paths())
    {
        assert!(
            repo.join(&path).is_file(),
            "{} missing: run `make geo` (make test does)",
            path.display()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = Killed(
        Command::new(BIN)
            .arg("serve")
            // From the repository, as `make run` starts it: the default paths are relative.
            .current_dir(&repo)
            .env_remove("CANDOR_GEOIP_DB")
            .env_remove("CANDOR_ORG_DB")
            .env("CANDOR_LISTEN", format!("127.0.0.1:{port}"))
            .env("CANDOR_DATA_DIR", dir.path().join("data"))
            .env("CANDOR_LIBCHDB", common::libchdb())
            .env("CANDOR_ADMIN_TOKEN", common::ADMIN)
            .env("CANDOR_SITES", "example.com")
            .env("CANDOR_BATCH_INTERVAL_MS", "200")
            .env("CANDOR_TRUSTED_PROXIES", "127.0.0.1/32")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = http.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = http
        .post(format!("{base}/api/event"))
        .header("Content-Type", "text/plain")
        .header("User-Agent", CHROME)
        .header("X-Forwarded-For", "8.8.8.8")
        .body(json!({"site": "example.com", "url": "https://example.com/"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    let query = json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day",
                       "dimensions": ["visit:country", "visit:region", "visit:city", "visit:org"]});
    let deadline = Instant::now() + Duration::from_secs(30);
    let rows = loop {
        let body: Value = http
            .post(format!("{base}/api/v2/query"))
            .bearer_auth(common::ADMIN)
            .json(&query)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let rows = body["results"].clone();
        if rows.as_array().is_some_and(|r| !r.is_empty()) || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        rows,
        json!([{"dimensions": ["US", "California", "Mountain View", "Google LLC"], "metrics": [1]}])
    );

    // The privacy statement names the database and its licence.
    let statement: Value = http
        .get(format!("{base}/privacy.json?site=example.com"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let named = statement["enrichment"]["geoip_database"]
        .as_str()
        .unwrap_or("");
    assert!(named.contains("DB-IP"), "{statement}");
    // And the dashboard credits DB-IP, as its licence asks.
    let signed_in: Value = http
        .post(format!("{base}/api/dashboard/login"))
        .json(&json!({"token": common::ADMIN}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        signed_in["credits"],
        json!([{"text": "IP Geolocation by DB-IP", "url": "https://db-ip.com"}])
    );
}
