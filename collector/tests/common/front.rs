//! The ClickHouse-HTTP test front (`tests/clickhouse-front`, chDB behind ClickHouse's HTTP
//! protocol, with backups allowed as `deploy/clickhouse` allows them on a server), started as a
//! child process for tests that need a ClickHouse server.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A child process, killed when the test ends however it ends.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The front is a binary of this workspace, built beside `candor` by `cargo nextest run
/// --workspace` (as `make test` runs it).
pub fn binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_candor")).with_file_name("clickhouse-front");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p clickhouse-front` (make test does)",
        path.display()
    );
    path
}

/// Starts a front on `data`; returns it and its `http://` address.
pub fn start(data: &Path) -> (Process, String) {
    start_with(data, &[])
}

/// `start`, with more of the front's flags (e.g. `--refuse-native`).
pub fn start_with(data: &Path, flags: &[&str]) -> (Process, String) {
    let mut child = Command::new(binary())
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .arg("--libchdb")
        .arg(super::libchdb())
        .args(flags)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().trim_start_matches("listening on ").to_string();
    (Process(child), format!("http://{addr}"))
}
