//! `store.memory_mb` bounds the embedded engine: its caches are the stated shares of the bound,
//! one of Candor's statements cannot take more than the bound, and a large aggregation spills
//! to disk instead of failing. The code only the engine's start-up ran can be handed back.

mod common;

use candor::config::EngineMemory;
use candor::store::{fetch, release_start_up_code, ChdbStore, Params, Store};
use serde_json::Value;

#[tokio::test]
async fn the_memory_bound_reaches_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let memory = EngineMemory {
        total_bytes: 128 << 20,
    };
    // The kernel pages out only pages no other process maps, and the other test processes
    // running beside this one map the same library: this process loads a copy of its own.
    let library = dir.path().join("libchdb.so");
    std::fs::copy(common::libchdb(), &library).unwrap();
    std::fs::File::open(&library).unwrap().sync_all().unwrap();
    let store = ChdbStore::open_with(
        &library,
        &dir.path().join("clickhouse"),
        Default::default(),
        memory,
    )
    .unwrap();

    // Opening the engine paged in much of its code; handing back what start-up touched leaves
    // a fraction of it resident (the pages a statement needs fault back in, as below).
    let code = release_start_up_code().expect("the engine's code is mapped and can be paged out");
    assert!(code.before_bytes > 64 << 20, "{code:?}");
    assert!(code.after_bytes < code.before_bytes / 2, "{code:?}");

    let rows: Vec<Value> = fetch(
        &store,
        "SELECT name, value FROM system.server_settings
         WHERE name IN ('mark_cache_size', 'primary_index_cache_size', 'index_mark_cache_size', 'uncompressed_cache_size')
         ORDER BY name",
        &Params::new(),
    )
    .await
    .unwrap();
    let value = |name: &str| {
        rows.iter()
            .find(|r| r["name"] == name)
            .and_then(|r| r["value"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(value("mark_cache_size"), (16u64 << 20).to_string());
    assert_eq!(value("primary_index_cache_size"), (8u64 << 20).to_string());
    assert_eq!(value("index_mark_cache_size"), (8u64 << 20).to_string());
    assert_eq!(value("uncompressed_cache_size"), "0");

    // A statement that must hold more than the bound at once fails with the engine's memory
    // error (code 241), not by growing the process.
    let err = store
        .query(
            "SELECT length(groupArray(toString(number))) AS n FROM numbers(30000000)",
            &Params::new(),
            "JSONEachRow",
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(241), "{err}");

    // A grouping larger than half the bound spills to disk and answers exactly.
    let rows: Vec<Value> = fetch(
        &store,
        "SELECT count() AS groups, sum(c) AS rows FROM (
             SELECT number % 3000000 AS k, count() AS c FROM numbers(6000000) GROUP BY k)",
        &Params::new(),
    )
    .await
    .unwrap();
    assert_eq!(rows[0]["groups"], 3_000_000);
    assert_eq!(rows[0]["rows"], 6_000_000);
}
