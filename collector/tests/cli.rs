//! The `candor` binary as a user meets it: start-up errors, `serve`, and the admin clients.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_candor");

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(data: &std::path::Path, port: u16) -> Server {
    let server = Server(
        Command::new(BIN)
            .arg("serve")
            .env("CANDOR_LISTEN", format!("127.0.0.1:{port}"))
            .env("CANDOR_DATA_DIR", data)
            .env("CANDOR_LIBCHDB", common::libchdb())
            .env("CANDOR_ADMIN_TOKEN", common::ADMIN)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("candor serve did not start");
}

fn client(port: u16, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("CANDOR_SERVER", format!("http://127.0.0.1:{port}"))
        .env("CANDOR_TOKEN", common::ADMIN)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn bad_listen_address_exits_non_zero_naming_the_setting() {
    let out = Command::new(BIN)
        .arg("serve")
        .env("CANDOR_LISTEN", "x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CANDOR_LISTEN: invalid socket address \"x\""),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[test]
fn missing_libchdb_says_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("serve")
        .env("CANDOR_DATA_DIR", dir.path())
        .env("CANDOR_LIBCHDB", "/nonexistent/libchdb.so")
        .env(
            "CANDOR_LISTEN",
            format!("127.0.0.1:{}", common::free_port()),
        )
        .env_remove("CANDOR_CLICKHOUSE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("libchdb not found at /nonexistent/libchdb.so; run make libchdb, or set CANDOR_CLICKHOUSE_URL"), "{err}");
}

#[test]
fn admin_clients_work_against_a_running_server_and_sites_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    {
        let _server = serve(dir.path(), port);
        let (ok, out, err) = client(
            port,
            &[
                "sites",
                "add",
                "blog.example.com",
                "--timezone",
                "America/New_York",
            ],
        );
        assert!(ok, "{out}{err}");
        assert!(
            out.contains("blog.example.com") && out.contains("America/New_York"),
            "{out}"
        );
        let (ok, out, err) = client(
            port,
            &[
                "tokens",
                "create",
                "--name",
                "crm",
                "--scope",
                "leads:read",
                "--site",
                "blog.example.com",
            ],
        );
        assert!(ok, "{err}");
        let token = out
            .lines()
            .find_map(|l| l.strip_prefix("token: "))
            .unwrap()
            .trim()
            .to_string();
        assert!(token.starts_with("cnd_"));
        let id = out
            .lines()
            .find_map(|l| l.strip_prefix("id:"))
            .unwrap()
            .trim()
            .to_string();
        let (ok, out, _) = client(port, &["tokens", "list"]);
        assert!(ok && out.contains(&id) && !out.contains(&token));
        let (ok, out, _) = client(port, &["tokens", "revoke", &id]);
        assert!(ok, "{out}");
        let (ok, _, err) = client(port, &["tokens", "revoke", &id]);
        assert!(!ok && err.contains("404"), "{err}");
        let (ok, _, err) = client(port, &["sites", "add", "not a domain"]);
        assert!(!ok && err.contains("400"), "{err}");
    }
    let _server = serve(dir.path(), port);
    let (ok, out, err) = client(port, &["sites", "list"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("blog.example.com  timezone=America/New_York"),
        "{out}"
    );
}

/// `candor serve ARGS…` parsed by the real command line, its flags put over the given
/// variables (no file, not the process environment).
fn serve_config(
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<candor::config::Config, candor::config::ConfigError> {
    use clap::Parser;
    let cli = candor::cli::Cli::try_parse_from(["candor", "serve"].iter().chain(args))
        .unwrap_or_else(|e| panic!("{e}"));
    let candor::cli::Command::Serve(serve) = cli.command else {
        panic!("not serve")
    };
    let mut layers = candor::config::Layers::from_env_pairs(env.iter().copied());
    serve.settings.apply(&mut layers);
    candor::config::Config::from_layers(&layers)
}

#[test]
fn every_setting_is_a_serve_flag_whose_value_reaches_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let geoip = dir.path().join("geo.mmdb");
    let org = dir.path().join("org.mmdb");
    std::fs::write(&geoip, "").unwrap();
    std::fs::write(&org, "").unwrap();
    let admin = "a".repeat(40);
    let pii = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="; // bytes 0..32
    let values: Vec<(&str, &str)> = vec![
        ("listen", "127.0.0.1:9"),
        ("data-dir", "/tmp/candor-flag-test"),
        ("clickhouse-url", "http://ch.example:8123/"),
        ("clickhouse-user", "writer"),
        ("clickhouse-password", "pw1"),
        ("clickhouse-database", "analytics"),
        ("clickhouse-cluster", "main"),
        ("clickhouse-analyst-user", "analyst"),
        ("clickhouse-analyst-password", "pw2"),
        ("libchdb", "/opt/libchdb.so"),
        ("geoip-db", geoip.to_str().unwrap()),
        ("org-db", org.to_str().unwrap()),
        ("admin-token", &admin),
        ("sites", "a.example,b.example"),
        ("trusted-proxies", "10.0.0.0/8"),
        ("rate-limit", "3"),
        ("pii-key", pii),
        ("sql-max-rows", "5"),
        ("sql-timeout-seconds", "6"),
        ("sql-max-memory-mb", "7"),
        ("sql-max-result-mb", "8"),
        ("sql-max-threads", "2"),
        ("sql-max-concurrent", "4"),
        ("store-memory-mb", "300"),
        ("max-event-bytes", "100"),
        ("site-rate-limit", "11"),
        ("spool-max-bytes", "12345"),
        ("batch-rows", "13"),
        ("batch-interval-ms", "7"),
        ("secure-cookies", "true"),
        ("http-request-timeout-ms", "1500"),
        ("http-body-timeout-ms", "2500"),
        ("http-keep-alive-seconds", "0"),
        ("http-max-connections", "77"),
        ("public-url", "https://stats.example.com/"),
        (
            "smtp-url",
            "smtp://u%40x:p%2Fw@mail.example.com:2525?tls=required",
        ),
        ("smtp-from", "Example <privacy@example.com>"),
        ("smtp-username", "mailer"),
        ("smtp-password", "pw3"),
        ("smtp-ca-file", geoip.to_str().unwrap()),
    ];
    // The list covers the settings table exactly, so a new setting needs a line here.
    let mut flags: Vec<&str> = values.iter().map(|(f, _)| *f).collect();
    let mut table: Vec<&str> = candor::config::ALL.iter().map(|s| s.flag).collect();
    flags.sort_unstable();
    table.sort_unstable();
    assert_eq!(flags, table, "one value per setting of config::ALL");

    let args: Vec<String> = values
        .iter()
        .flat_map(|(f, v)| [format!("--{f}"), v.to_string()])
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Every variable set to something else: the flags win.
    let env: Vec<(&str, &str)> = vec![
        ("CANDOR_LISTEN", "127.0.0.1:1"),
        ("CANDOR_SQL_MAX_ROWS", "99"),
        ("CANDOR_SECURE_COOKIES", "false"),
    ];
    let c = serve_config(&args, &env).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:9");
    assert_eq!(c.data_dir.to_str(), Some("/tmp/candor-flag-test"));
    assert_eq!(c.clickhouse.url.as_deref(), Some("http://ch.example:8123"));
    assert_eq!(c.clickhouse.user, "writer");
    assert_eq!(c.clickhouse.password, "pw1");
    assert_eq!(c.clickhouse.database, "analytics");
    assert_eq!(c.clickhouse.cluster.as_deref(), Some("main"));
    assert_eq!(c.clickhouse.analyst_user.as_deref(), Some("analyst"));
    assert_eq!(c.clickhouse.analyst_password, "pw2");
    assert_eq!(c.libchdb.to_str(), Some("/opt/libchdb.so"));
    assert_eq!(c.store_memory.total_bytes, 300 << 20);
    assert_eq!(c.geoip_db, vec![geoip.clone()]);
    assert_eq!(c.org_db, vec![org.clone()]);
    assert_eq!(c.admin_token.as_deref(), Some(admin.as_str()));
    let sites: Vec<&str> = c.sites.iter().map(|s| s.as_str()).collect();
    assert_eq!(sites, ["a.example", "b.example"]);
    assert_eq!(c.trusted_proxies[0].to_string(), "10.0.0.0/8");
    assert_eq!(c.rate_limit, 3);
    assert_eq!(c.pii_key.as_deref(), Some(pii));
    assert_eq!(c.sql.max_rows, 5);
    assert_eq!(c.sql.timeout, Duration::from_secs(6));
    assert_eq!(c.sql.max_memory_bytes, 7 << 20);
    assert_eq!(c.sql.max_result_bytes, 8 << 20);
    assert_eq!(c.sql.max_threads, 2);
    assert_eq!(c.sql.max_concurrent, 4);
    assert_eq!(c.max_event_bytes, 100);
    assert_eq!(c.site_rate_limit, 11);
    assert_eq!(c.spool.max_bytes, 12345);
    assert_eq!(c.spool.batch_rows, 13);
    assert_eq!(c.spool.batch_interval, Duration::from_millis(7));
    assert!(c.secure_cookies);
    assert_eq!(c.http.request_timeout, Duration::from_millis(1500));
    assert_eq!(c.http.body_timeout, Duration::from_millis(2500));
    assert_eq!(c.http.keep_alive, Duration::ZERO);
    assert_eq!(c.http.max_connections, 77);
    assert_eq!(c.public_url, "https://stats.example.com");
    let smtp = c.smtp.expect("smtp settings");
    assert_eq!(
        (smtp.host.as_str(), smtp.port, smtp.tls),
        ("mail.example.com", 2525, candor::config::SmtpTls::Required)
    );
    // The flags win over the URL's user info.
    assert_eq!(smtp.username.as_deref(), Some("mailer"));
    assert_eq!(smtp.password.as_deref(), Some("pw3"));
    assert_eq!(smtp.from, "Example <privacy@example.com>");
    assert_eq!(smtp.ca_file.as_deref(), Some(geoip.as_path()));
    assert!(!format!("{smtp:?}").contains("pw3"), "no password in Debug");
}

#[test]
fn smtp_settings_are_checked_at_start() {
    let ok = serve_config(
        &[
            "--smtp-url",
            "smtps://u%40x:p%2Fw@mail.example.com",
            "--smtp-from",
            "a@b.example",
        ],
        &[],
    )
    .unwrap();
    let smtp = ok.smtp.unwrap();
    assert_eq!(
        (smtp.port, smtp.tls),
        (465, candor::config::SmtpTls::Wrapper)
    );
    assert_eq!(
        (smtp.username.as_deref(), smtp.password.as_deref()),
        (Some("u@x"), Some("p/w"))
    );
    let plain = serve_config(
        &[
            "--smtp-url",
            "smtp://localhost",
            "--smtp-from",
            "a@b.example",
        ],
        &[],
    )
    .unwrap();
    assert_eq!(
        plain.smtp.map(|s| (s.port, s.tls)),
        Some((25, candor::config::SmtpTls::Opportunistic))
    );
    assert!(serve_config(&[], &[]).unwrap().smtp.is_none());
    for (args, message) in [
        (
            vec!["--smtp-url", "smtp://localhost"],
            "CANDOR_SMTP_FROM: required with smtp.url",
        ),
        (
            vec![
                "--smtp-url",
                "http://localhost",
                "--smtp-from",
                "a@b.example",
            ],
            "--smtp-url: expected smtp:// or smtps://",
        ),
        (
            vec![
                "--smtp-url",
                "smtps://h?tls=none",
                "--smtp-from",
                "a@b.example",
            ],
            "--smtp-url: tls=none: smtp:// takes",
        ),
        (
            vec![
                "--smtp-url",
                "smtp://h?port=1",
                "--smtp-from",
                "a@b.example",
            ],
            "--smtp-url: unknown parameter",
        ),
        (
            vec!["--smtp-url", "smtp://h", "--smtp-from", "Name <nope>"],
            "--smtp-from: expected an address",
        ),
        (
            vec!["--public-url", "stats.example.com"],
            "--public-url: expected an http:// or https:// URL",
        ),
    ] {
        let err = serve_config(&args, &[]).err().unwrap().to_string();
        assert!(err.starts_with(message), "{args:?}: {err}");
    }
}

#[test]
fn serve_flags_override_variables_name_themselves_in_errors_and_bools_need_no_value() {
    // No flag: the variable holds.
    let c = serve_config(&[], &[("CANDOR_RATE_LIMIT", "7")]).unwrap();
    assert_eq!(c.rate_limit, 7);
    let c = serve_config(&["--rate-limit", "0"], &[("CANDOR_RATE_LIMIT", "7")]).unwrap();
    assert_eq!(c.rate_limit, 0);
    // A bad flag value is reported as the flag, even over a good variable.
    let err = serve_config(&["--sql-max-rows", "0"], &[("CANDOR_SQL_MAX_ROWS", "5")])
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "--sql-max-rows: expected a positive integer, got \"0\""
    );
    assert!(
        serve_config(&["--secure-cookies"], &[])
            .unwrap()
            .secure_cookies
    );
    let c = serve_config(
        &["--secure-cookies=false"],
        &[("CANDOR_SECURE_COOKIES", "1")],
    )
    .unwrap();
    assert!(!c.secure_cookies);
    // An empty value is a value (no sites), not "unset".
    let c = serve_config(&["--sites", ""], &[("CANDOR_SITES", "a.example")]).unwrap();
    assert!(c.sites.is_empty());
}

#[test]
fn serve_help_lists_every_setting_once_and_secrets_prefer_the_environment() {
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert_eq!(help.matches("--config <FILE>").count(), 1, "{help}");
    for s in candor::config::ALL {
        let flag = format!("--{} ", s.flag);
        let lines = help
            .lines()
            .filter(|l| l.trim_start().starts_with(&flag) && l.contains(s.value_name))
            .count();
        assert_eq!(lines, 1, "{flag}<{}> once in:\n{help}", s.value_name);
        assert_eq!(
            help.matches(&format!("env: {},", s.env)).count(),
            1,
            "{}",
            s.env
        );
        assert!(help.contains(&format!("key: {},", s.key)), "{}", s.key);
    }
    for secret in [
        "pii-key",
        "admin-token",
        "clickhouse-password",
        "clickhouse-analyst-password",
    ] {
        let s = candor::config::ALL
            .iter()
            .find(|s| s.flag == secret)
            .unwrap();
        assert!(s.secret, "{secret} is marked secret");
        assert!(
            help.contains(&format!("Prefer {} or the config file", s.env)),
            "{secret}: {help}"
        );
    }
}

#[test]
fn a_bad_serve_flag_exits_non_zero_naming_the_flag() {
    let out = Command::new(BIN)
        .args(["serve", "--listen", "x"])
        .env("CANDOR_LISTEN", "127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim(), "error: --listen: invalid socket address \"x\"");
}

/// `candor serve --check-config` validates and describes without starting anything;
/// `candor migrate --dry-run` lists what would run and changes nothing; `candor migrate`
/// applies it, after which nothing is pending.
#[test]
fn check_config_and_migrate_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        std::process::Command::new(BIN)
            .args(args)
            .env(
                "CANDOR_LIBCHDB",
                std::env::var("CANDOR_LIBCHDB").unwrap_or_default(),
            )
            .env_remove("CANDOR_ADMIN_TOKEN")
            .output()
            .unwrap()
    };
    let data_arg = data.to_str().unwrap();
    let out = run(&[
        "serve",
        "--check-config",
        "--data-dir",
        data_arg,
        "--sites",
        "a.example",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("sites: a.example") && text.contains("configuration OK"),
        "{text}"
    );
    assert!(!data.exists(), "--check-config opens nothing");
    let bad = run(&["serve", "--check-config", "--listen", "nowhere"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("listen"));

    let dry = run(&["migrate", "--dry-run", "--data-dir", data_arg]);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let text = String::from_utf8_lossy(&dry.stdout);
    let count = candor::migrations::MIGRATIONS.len();
    assert!(
        text.starts_with(&format!("{count} migration(s) would run")),
        "{text}"
    );
    assert!(text.contains("CREATE TABLE IF NOT EXISTS events"), "{text}");
    let again = run(&["migrate", "--dry-run", "--data-dir", data_arg]);
    assert!(
        String::from_utf8_lossy(&again.stdout).starts_with(&format!("{count} migration(s)")),
        "a dry run changes nothing"
    );
    let applied = run(&["migrate", "--data-dir", data_arg]);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let after = run(&["migrate", "--dry-run", "--data-dir", data_arg]);
    assert!(String::from_utf8_lossy(&after.stdout).contains("no migration to run"));
}
