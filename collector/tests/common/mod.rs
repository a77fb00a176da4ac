//! Shared test setup: a real collector state on embedded chDB in a temporary directory.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use candor::config::{Config, Layers};

pub const ADMIN: &str = "test-admin-token-0123456789abcdefghijklmnop";

pub fn libchdb() -> PathBuf {
    std::env::var_os("CANDOR_LIBCHDB")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(candor::config::default_libchdb_path())
        })
}

pub fn config(data_dir: &Path, extra: &[(&str, &str)]) -> Config {
    let mut pairs: Vec<(String, String)> = vec![
        ("CANDOR_DATA_DIR".into(), data_dir.display().to_string()),
        ("CANDOR_LIBCHDB".into(), libchdb().display().to_string()),
        ("CANDOR_ADMIN_TOKEN".into(), ADMIN.into()),
        ("CANDOR_SITES".into(), "example.com".into()),
    ];
    for (k, v) in extra {
        pairs.retain(|(pk, _)| pk != k);
        pairs.push((k.to_string(), v.to_string()));
    }
    Config::from_layers(&Layers::from_env_pairs(pairs)).expect("valid test config")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
