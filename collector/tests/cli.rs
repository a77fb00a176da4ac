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
