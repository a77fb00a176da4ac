//! The privacy center against a real SMTP server (aiosmtpd with STARTTLS under a throwaway CA
//! and AUTH, `tests/smtp/sink.py`): link requests that look the same for every address, a
//! single-use link that expires, a session that shows and changes only its own lead, the
//! pull API carrying every change, a withdrawn browser counted as analytics only, an erasure
//! that leaves nothing in any table, the yearly notice and the delivery log.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::test;
use serde_json::{json, Value};

use common::{bearer, send, ADMIN};

/// The SMTP sink: a child process and the directory its mails land in.
struct Sink {
    child: Child,
    out: tempfile::TempDir,
    port: u16,
    ca: PathBuf,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

impl Sink {
    fn start() -> Sink {
        let python = std::env::var_os("CANDOR_TEST_SMTP_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/smtp-venv/bin/python")
            });
        assert!(
            python.exists(),
            "no SMTP test server at {}: run `make smtp-sink`",
            python.display()
        );
        let out = tempfile::tempdir().unwrap();
        let ca = out.path().join("ca.pem");
        let mut child = Command::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/smtp/sink.py"))
            .args(["--out"])
            .arg(out.path().join("mail"))
            .args(["--starttls", "--auth", "candor:s3cret", "--ca-out"])
            .arg(&ca)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let port = line
            .trim()
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("SMTP sink did not start: {line:?}"));
        Sink {
            child,
            out,
            port,
            ca,
        }
    }

    /// Every mail received so far, oldest first.
    fn mails(&self) -> Vec<Value> {
        let dir = self.out.path().join("mail");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(Result::ok).collect())
            .unwrap_or_default();
        files.retain(|f| f.path().extension().is_some_and(|e| e == "json"));
        files.sort_by_key(|f| f.metadata().and_then(|m| m.modified()).ok());
        files
            .iter()
            .map(|f| serde_json::from_slice(&std::fs::read(f.path()).unwrap()).unwrap())
            .collect()
    }

    async fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let m = self.mails();
            if m.len() >= n || Instant::now() > deadline {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn beacon(path: &str, body: Value, client: &str) -> test::TestRequest {
    test::TestRequest::post()
        .uri(path)
        .peer_addr(format!("{client}:1").parse::<SocketAddr>().unwrap())
        .insert_header(("Content-Type", "text/plain"))
        .insert_header(("Origin", "https://example.com"))
        .insert_header((
            "User-Agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
        ))
        .set_payload(body.to_string())
}

fn link_request(email: &str, client: &str) -> test::TestRequest {
    test::TestRequest::post()
        .uri("/api/privacy/link")
        .peer_addr(format!("{client}:1").parse::<SocketAddr>().unwrap())
        .set_json(json!({"site": "example.com", "email": email}))
}

fn token_of(mail: &Value) -> String {
    let text = mail["text"].as_str().unwrap();
    let at = text.find("/privacy/center/open?token=").expect("a link") + 27;
    text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// A value of a hidden input in a server-rendered page.
fn hidden(page: &str, name: &str) -> String {
    let at = page
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no {name} in the page"));
    let rest = &page[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_string()
}

#[actix_rt::test]
async fn people_see_change_take_and_erase_their_data_through_a_mailed_link() {
    let sink = Sink::start();
    let dir = tempfile::tempdir().unwrap();
    let smtp_url = format!("smtp://127.0.0.1:{}?tls=required", sink.port);
    let ca = sink.ca.display().to_string();
    let state = candor::serve::build_state(common::config(
        dir.path(),
        &[
            ("CANDOR_BATCH_INTERVAL_MS", "100"),
            ("CANDOR_RATE_LIMIT", "0"),
            ("CANDOR_SMTP_URL", &smtp_url),
            ("CANDOR_SMTP_FROM", "privacy@example.com"),
            ("CANDOR_SMTP_USERNAME", "candor"),
            ("CANDOR_SMTP_PASSWORD", "s3cret"),
            ("CANDOR_SMTP_CA_FILE", &ca),
            ("CANDOR_PUBLIC_URL", "https://stats.example.com"),
        ],
    ))
    .await
    .unwrap();
    let bg = candor::serve::Background::start(&state);
    let app = test_app!(state);
    let admin = |req: test::TestRequest| req.insert_header(bearer(ADMIN));

    // The site's center settings; a bad one is named.
    let (status, _, err) = send(
        &app,
        admin(test::TestRequest::post().uri("/api/v1/sites")).set_json(json!({
            "domain": "example.com", "privacy_center": {"topics": ["News", "News"]}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["field"], "privacy_center");
    let (status, _, _) = send(
        &app,
        admin(test::TestRequest::post().uri("/api/v1/sites")).set_json(json!({
            "domain": "example.com",
            "privacy_center": {"sender_name": "Example Shop", "topics": ["Product news", "Events"],
                               "frequencies": ["weekly", "monthly", "never"], "yearly_notice": true}})),
    )
    .await;
    assert!(status.is_success());

    // Two people identify with marketing consent.
    for (vid, email, name) in [
        ("vid-ada", "ada@example.org", "Ada Lovelace"),
        ("vid-bob", "bob@example.org", "Bob"),
    ] {
        let resp = test::call_service(
            &app,
            beacon(
                "/api/identify",
                json!({"site": "example.com", "vid": vid, "consent": "marketing", "email": email,
                       "name": name, "url": "https://example.com/contact"}),
                "198.51.100.7",
            )
            .to_request(),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
    }
    let pull = || async {
        let (status, _, body) = send(
            &app,
            admin(test::TestRequest::get().uri("/api/v1/leads?site=example.com")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        tokio::time::sleep(Duration::from_millis(0)).await;
        body["leads"].as_array().cloned().unwrap_or_default()
    };
    // (The pull API stays a moment behind now.)
    tokio::time::sleep(Duration::from_millis(candor::leads::SETTLE_MS + 100)).await;
    let leads = pull().await;
    let id_of = |email: &str| {
        leads
            .iter()
            .find(|l| l["email"] == email)
            .map(|l| l["id"].as_str().unwrap().to_string())
            .unwrap()
    };
    let (ada, bob) = (id_of("ada@example.org"), id_of("bob@example.org"));

    // The center reads without a session and never shows a person: not for a browser id, not
    // for a made-up or tampered cookie.
    let (status, _, page) = send(
        &app,
        test::TestRequest::get()
            .uri("/privacy/center?site=example.com&consent=marketing&vid=vid-ada"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let page = text(&page).to_string();
    assert!(page.contains("Email me a link") && page.contains("Marketing"));
    assert!(!page.contains("ada@example.org") && !page.contains("Lovelace"));
    for cookie in [
        String::new(),
        format!("{}.{ada}.99999999999.00", hex::encode("example.com")),
        "vid-ada".to_string(),
    ] {
        let (status, _, body) = send(
            &app,
            test::TestRequest::get()
                .uri("/privacy/center/me")
                .insert_header(("Cookie", format!("candor_privacy={cookie}"))),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(!text(&body).contains("ada@example.org"));
    }
    let (status, _, _) = send(
        &app,
        test::TestRequest::get().uri("/privacy/center/me/data.json"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Link requests: the same answer, in the same time, for addresses that are leads and
    // addresses that are not; a mail only for the lead.
    let (status, _, bad) = send(&app, link_request("not-an-address", "203.0.113.1")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(bad["field"], "email");
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..8 {
        for (email, times) in [
            ("ada@example.org", &mut known),
            ("nobody@example.org", &mut unknown),
        ] {
            // A fresh client each time, and few enough per address to stay under its limit.
            let email = if i < 2 {
                email.to_string()
            } else {
                format!("x{i}.{email}")
            };
            let started = Instant::now();
            let (status, _, body) =
                send(&app, link_request(&email, &format!("203.0.113.{}", 10 + i))).await;
            times.push(started.elapsed());
            assert_eq!(status, StatusCode::ACCEPTED);
            assert_eq!(
                body["message"],
                "if the site holds this address, a sign-in link valid for 15 minutes was sent to it"
            );
        }
    }
    known.sort();
    unknown.sort();
    let (mk, mu) = (known[known.len() / 2], unknown[unknown.len() / 2]);
    assert!(
        mk.abs_diff(mu) < Duration::from_millis(20),
        "medians {mk:?} (lead) vs {mu:?} (not a lead)"
    );
    let mails = sink.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mails_now = sink.mails();
    assert_eq!(
        mails_now.len(),
        2,
        "mail only for the lead's two requests: {mails_now:?}"
    );
    let mail = &mails[0];
    assert_eq!(mail["rcpt_tos"], json!(["ada@example.org"]));
    assert_eq!(mail["from"], "Example Shop <privacy@example.com>");
    assert_eq!(
        mail["subject"],
        "Your link to what example.com holds about you"
    );
    assert_eq!(
        (mail["tls"].as_bool(), mail["authenticated"].as_bool()),
        (Some(true), Some(true))
    );
    assert!(mail["html"]
        .as_str()
        .unwrap()
        .contains("https://stats.example.com/privacy/center/open?token="));
    // Per address: three requests, then a pause — lead or not, in the same words.
    for email in ["ada@example.org", "nobody@example.org"] {
        let (status, _, _) = send(&app, link_request(email, "203.0.113.98")).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    assert_eq!(sink.wait_for(3).await.len(), 3);
    for email in ["ada@example.org", "nobody@example.org"] {
        let (status, _, body) = send(&app, link_request(email, "203.0.113.99")).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{email}: {body}");
        assert_eq!(body["error"], "too many link requests; try again later");
    }

    // Opening: a page with a button (fetching the link uses nothing up), then the session.
    let token = token_of(mail);
    let (status, _, page) = send(
        &app,
        test::TestRequest::get().uri(&format!("/privacy/center/open?token={token}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!text(&page).contains("ada@example.org"));
    let open = |t: &str| {
        test::TestRequest::post()
            .uri("/privacy/center/open")
            .insert_header(("Origin", "http://localhost:8080"))
            .insert_header(("Host", "localhost:8080"))
            .set_form([("token", t)])
    };
    let (status, cookies, _) = send(&app, open(&token)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = cookies
        .iter()
        .find(|c| c.starts_with("candor_privacy="))
        .map(|c| c.split(';').next().unwrap().to_string())
        .expect("a session cookie");
    assert!(cookies[0].contains("HttpOnly") && cookies[0].contains("SameSite=Strict"));
    // Used: nothing more.
    let (status, cookies, page) = send(&app, open(&token)).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(cookies.is_empty() && !text(&page).contains("ada@example.org"));
    let (status, _, _) = send(
        &app,
        test::TestRequest::get().uri(&format!("/privacy/center/open?token={token}")),
    )
    .await;
    assert_eq!(status, StatusCode::GONE);

    let me = || {
        test::TestRequest::get()
            .uri("/privacy/center/me")
            .insert_header(("Cookie", cookie.clone()))
    };
    let (status, _, page) = send(&app, me()).await;
    assert_eq!(status, StatusCode::OK);
    let page = text(&page).to_string();
    assert!(page.contains("ada@example.org") && page.contains("Ada Lovelace"));
    assert!(!page.contains("bob@example.org"));
    let csrf = hidden(&page, "csrf");
    let change = |fields: Vec<(&str, &str)>| {
        test::TestRequest::post()
            .uri("/privacy/center/me")
            .insert_header(("Cookie", cookie.clone()))
            .insert_header(("Host", "localhost:8080"))
            .insert_header(("Origin", "http://localhost:8080"))
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
            .set_payload(serde_urlencoded::to_string(fields).unwrap())
    };
    // A form from elsewhere, or without its token, changes nothing.
    let (status, _, _) = send(
        &app,
        change(vec![
            ("csrf", "0000"),
            ("action", "preferences"),
            ("frequency", "monthly"),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send(
        &app,
        change(vec![
            ("csrf", &csrf),
            ("action", "preferences"),
            ("frequency", "monthly"),
        ])
        .insert_header(("Origin", "https://evil.example")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, err) = send(
        &app,
        change(vec![
            ("csrf", &csrf),
            ("action", "preferences"),
            ("topic", "Gossip"),
        ]),
    )
    .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("topic"))
    );

    // Preferences and a corrected name: new versions the pull API (and the CSV) carry.
    let before = pull().await;
    let v0 = before.iter().find(|l| l["id"] == ada).unwrap()["updated_at"]
        .as_u64()
        .unwrap();
    let (status, _, _) = send(
        &app,
        change(vec![
            ("csrf", &csrf),
            ("action", "preferences"),
            ("frequency", "monthly"),
            ("topic", "Events"),
            ("topic", "Product news"),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = send(
        &app,
        change(vec![
            ("csrf", &csrf),
            ("action", "update"),
            ("name", "Ada King"),
            ("company", "Analytical Engines"),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    tokio::time::sleep(Duration::from_millis(candor::leads::SETTLE_MS + 100)).await;
    let after = pull().await;
    let a = after.iter().find(|l| l["id"] == ada).unwrap();
    assert!(a["updated_at"].as_u64().unwrap() > v0);
    assert_eq!(
        a["preferences"],
        json!({"frequency": "monthly", "topics": ["Product news", "Events"]})
    );
    assert_eq!(
        (a["name"].as_str(), a["company"].as_str()),
        (Some("Ada King"), Some("Analytical Engines"))
    );
    let (_, _, csv) = send(
        &app,
        admin(test::TestRequest::get().uri("/api/v1/leads.csv?site=example.com")),
    )
    .await;
    assert!(
        text(&csv)
            .lines()
            .next()
            .unwrap()
            .ends_with("Frequency,Topics"),
        "{csv}"
    );
    assert!(text(&csv).contains("monthly,Product news; Events"), "{csv}");

    // Download: everything held, as JSON.
    let resp = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/privacy/center/me/data.json")
            .insert_header(("Cookie", cookie.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp
        .headers()
        .get("content-disposition")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let data: Value = test::read_body_json(resp).await;
    assert_eq!(data["lead"]["email"], "ada@example.org");
    assert_eq!(data["lead"]["name"], "Ada King");
    assert_eq!(data["lead"]["lead_id"], ada.as_str());
    assert_eq!(data["lead"]["preferences"]["frequency"], "monthly");

    // An expired link shows nothing: a fresh one, opened 16 minutes later.
    let before = sink.mails().len();
    send(&app, link_request("bob@example.org", "203.0.113.50")).await;
    let mails = sink.wait_for(before + 1).await;
    let bob_token = token_of(mails.last().unwrap());
    state.clock.advance(16 * 60 * 1000);
    let (status, _, page) = send(
        &app,
        test::TestRequest::get().uri(&format!("/privacy/center/open?token={bob_token}")),
    )
    .await;
    assert_eq!(status, StatusCode::GONE);
    assert!(!text(&page).contains("bob@example.org"));
    let (status, _, _) = send(&app, open(&bob_token)).await;
    assert_eq!(status, StatusCode::GONE);
    // (Ada's session is 30 minutes long: still valid at 16.)

    // Bob withdraws marketing consent in the center: opted out in the pull API, and his
    // browser, which still sends its id, is counted as analytics only.
    send(&app, link_request("bob@example.org", "203.0.113.51")).await;
    let mails = sink.wait_for(before + 2).await;
    let (_, cookies, _) = send(&app, open(&token_of(mails.last().unwrap()))).await;
    let bob_cookie = cookies[0].split(';').next().unwrap().to_string();
    let (_, _, bob_page) = send(
        &app,
        test::TestRequest::get()
            .uri("/privacy/center/me")
            .insert_header(("Cookie", bob_cookie.clone())),
    )
    .await;
    let bob_csrf = hidden(text(&bob_page), "csrf");
    assert_ne!(bob_csrf, csrf, "form tokens belong to their session");
    let (status, _, _) = send(
        &app,
        test::TestRequest::post()
            .uri("/privacy/center/me")
            .insert_header(("Cookie", bob_cookie))
            .set_form([("csrf", bob_csrf.as_str()), ("action", "optout")]),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    tokio::time::sleep(Duration::from_millis(candor::leads::SETTLE_MS + 100)).await;
    let b = pull().await.into_iter().find(|l| l["id"] == bob).unwrap();
    assert_eq!(b["status"], "opted_out");
    assert!(b.get("email").is_none());
    let resp = test::call_service(
        &app,
        beacon(
            "/api/event",
            json!({"site": "example.com", "name": "pageview", "url": "https://example.com/after-optout",
                   "consent": "marketing", "vid": "vid-bob"}),
            "198.51.100.8",
        )
        .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let deadline = Instant::now() + Duration::from_secs(15);
    let stored = loop {
        let rows: Vec<Value> = candor::store::fetch(
            state.store.as_ref(),
            "SELECT consent, visitor_key FROM events WHERE pathname = '/after-optout'",
            &candor::store::Params::new(),
        )
        .await
        .unwrap();
        if !rows.is_empty() || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        stored,
        vec![json!({"consent": "analytics", "visitor_key": ""})]
    );

    // Ada erases herself: a tombstone in the pull API, nothing of her in any table.
    let (status, cookies, page) = send(
        &app,
        change(vec![
            ("csrf", &csrf),
            ("action", "erase"),
            ("confirm", "yes"),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(text(&page).contains("Erased"));
    assert!(cookies.iter().any(|c| c.starts_with("candor_privacy=;")
        || c.starts_with("candor_privacy=\"\"")
        || c.contains("Max-Age=0")));
    tokio::time::sleep(Duration::from_millis(candor::leads::SETTLE_MS + 100)).await;
    let a = pull().await.into_iter().find(|l| l["id"] == ada).unwrap();
    assert_eq!(a["status"], "erased");
    assert!(a.get("email").is_none() && a.get("preferences").is_none());
    let (status, _, page) = send(&app, me()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!text(&page).contains("ada@example.org"));
    let count = |sql: &'static str| {
        let p = candor::store::Params::new().with("id", &ada);
        let store = state.store.clone();
        async move {
            let rows: Vec<Value> = candor::store::fetch(store.as_ref(), sql, &p).await.unwrap();
            rows[0]["n"].as_u64().unwrap()
        }
    };
    assert_eq!(
        count("SELECT count() AS n FROM leads WHERE id = {id:String} AND status != 'erased'").await,
        0
    );
    assert_eq!(
        count("SELECT count() AS n FROM lead_visitors WHERE lead_id = {id:String}").await,
        0
    );
    assert_eq!(
        count("SELECT count() AS n FROM privacy_links WHERE lead_id = {id:String}").await,
        0
    );
    assert_eq!(
        count("SELECT count() AS n FROM mail_outbox WHERE lead_id = {id:String}").await,
        0
    );

    // The yearly notice: due a year after the lead was created, once; the delivery log shows
    // it without an address.
    let before = sink.mails().len();
    // Ada is erased and Bob opted out: only active leads get it, so a third person identifies.
    let resp = test::call_service(
        &app,
        beacon(
            "/api/identify",
            json!({"site": "example.com", "vid": "vid-cy", "consent": "marketing", "email": "cy@example.org"}),
            "198.51.100.9",
        )
        .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(
        candor::http::center::yearly_notices(&state).await.unwrap(),
        0,
        "not yet due"
    );
    state.clock.advance(366 * 86_400_000);
    assert_eq!(
        candor::http::center::yearly_notices(&state).await.unwrap(),
        1
    );
    assert_eq!(
        candor::http::center::yearly_notices(&state).await.unwrap(),
        0,
        "once a year"
    );
    let mails = sink.wait_for(before + 1).await;
    let notice = mails.last().unwrap();
    assert_eq!(notice["rcpt_tos"], json!(["cy@example.org"]));
    assert_eq!(notice["subject"], "What example.com holds about you");
    assert!(
        text(&notice["text"]).contains("https://stats.example.com/privacy/center?site=example.com")
    );
    let (status, _, log) = send(
        &app,
        admin(test::TestRequest::get().uri("/api/v1/sites/example.com/mail")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let deliveries = log["deliveries"].as_array().unwrap();
    assert!(
        deliveries
            .iter()
            .any(|d| d["kind"] == "notice" && d["status"] == "delivered"),
        "{log}"
    );
    assert!(
        !log.to_string().contains("@example.org"),
        "no address in the log: {log}"
    );
    let sealed: Vec<Value> = candor::store::fetch(
        state.store.as_ref(),
        "SELECT message_enc FROM mail_outbox",
        &candor::store::Params::new(),
    )
    .await
    .unwrap();
    assert!(!serde_json::to_string(&sealed)
        .unwrap()
        .contains("example.org"));
    bg.shutdown(&state, Duration::from_secs(5)).await;
}
