//! Poison records: a spooled record the store refuses as invalid is set aside in
//! `<spool dir>/rejected/` (byte-for-byte, replayable), counted and logged, and the spool moves
//! on: the good records of its batch and later beacons are stored.

mod common;

use std::time::{Duration, Instant};

use actix_web::{http::StatusCode, test};
use candor::pipeline::spool::{frame, read_segment};
use candor::serve::{build_state, Background};
use candor::store::{fetch, Params};
use serde_json::{json, Value};

use common::CHROME;

/// A record in the current format that the store refuses on its own, wherever it sits in a
/// batch: a complete `event_id` and `timestamp`, then a `site` string whose length prefix
/// claims 4 GiB (RowBinary: the engine refuses the size, or runs out of data reading it).
fn poison_record() -> Vec<u8> {
    let mut r = vec![candor::pipeline::RECORD_EVENT];
    r.extend_from_slice(&[0x11; 16]);
    r.extend_from_slice(&candor::clock::unix_seconds().to_le_bytes());
    r.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    r
}

async fn count(state: &candor::http::AppState, sql: &str) -> u64 {
    let rows: Vec<Value> = fetch(state.store.as_ref(), sql, &Params::new())
        .await
        .unwrap();
    rows[0]["c"].as_u64().unwrap()
}

#[actix_rt::test]
async fn a_record_the_store_refuses_is_set_aside_and_the_spool_moves_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let spool = data.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    // A segment left on disk: good, undecodable, good, poison, good.
    let now = candor::clock::unix_seconds();
    let good = |n: u64| common::page_view_record(5, 50 + n, &format!("/good/{n}"), now).encode();
    let undecodable = b"\x09not a record of any version".to_vec();
    let poison = poison_record();
    let mut segment = Vec::new();
    for r in [&good(1), &undecodable, &good(2), &poison, &good(3)] {
        segment.extend(frame(r));
    }
    let source = spool.join(format!("{:020}.spool", 3));
    std::fs::write(&source, &segment).unwrap();
    // And one with many bad records (more than the batcher splits one by one), then two good.
    let mut many = Vec::new();
    for _ in 0..70 {
        many.extend(frame(&poison));
    }
    for n in [1, 2] {
        many.extend(frame(
            &common::page_view_record(6, 90 + n, &format!("/many/{n}"), now).encode(),
        ));
    }
    let many_source = spool.join(format!("{:020}.spool", 4));
    std::fs::write(&many_source, &many).unwrap();

    let state = build_state(common::config(
        &data,
        &[("CANDOR_BATCH_INTERVAL_MS", "100")],
    ))
    .await
    .unwrap();
    let bg = Background::start(&state);
    let app = test_app!(state);

    // A later beacon is accepted and stored after the poisoned segment.
    let r = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/api/event")
            .peer_addr("198.51.100.7:40000".parse().unwrap())
            .insert_header(("User-Agent", CHROME))
            .insert_header(("Content-Type", "text/plain"))
            .set_payload(
                json!({"site": "example.com", "url": "https://example.com/later"}).to_string(),
            )
            .to_request(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&state, "SELECT count() AS c FROM events").await < 4
        || source.exists()
        || many_source.exists()
    {
        assert!(
            Instant::now() < deadline,
            "the good records and the later beacon are stored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let paths: Vec<Value> = fetch(
        state.store.as_ref(),
        "SELECT groupArray(pathname) AS p FROM (SELECT pathname FROM events WHERE pathname NOT LIKE '/many/%' ORDER BY pathname)",
        &Params::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        paths[0]["p"],
        json!(["/good/1", "/good/2", "/good/3", "/later"])
    );
    assert!(!source.exists(), "the poisoned segment left the spool");

    // The refused records are in rejected/, framed byte-for-byte as they were spooled.
    let rejected: Vec<_> = std::fs::read_dir(spool.join("rejected"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let mut segments: Vec<_> = rejected
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "spool"))
        .collect();
    segments.sort();
    assert_eq!(segments.len(), 2, "{rejected:?}");
    let mut expected = frame(&undecodable);
    expected.extend(frame(&poison));
    assert_eq!(std::fs::read(segments[0]).unwrap(), expected);
    let set_aside = read_segment(segments[0]).unwrap();
    assert_eq!((set_aside.len(), set_aside.torn), (2, false));
    let reasons = std::fs::read_to_string(segments[0].with_extension("spool.txt")).unwrap();
    assert!(reasons.contains("undecodable"), "{reasons}");
    assert!(reasons.contains("Code: "), "the store's reason: {reasons}");

    // Of the many bad records, none is stored and none is lost: every record of that segment
    // is either stored or set aside (a refused range may be set aside whole, good ones too).
    let many_stored = count(
        &state,
        "SELECT count() AS c FROM events WHERE pathname LIKE '/many/%'",
    )
    .await;
    let many_aside = read_segment(segments[1]).unwrap();
    assert_eq!(many_aside.len() as u64 + many_stored, 72);
    assert_eq!(
        many_aside
            .records()
            .filter(|r| *r == poison.as_slice())
            .count(),
        70
    );

    // Counted in /metrics: two batches refused, every record set aside counted.
    let (_, _, metrics) = common::send(&app, test::TestRequest::get().uri("/metrics")).await;
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(
        metrics.contains("candor_spool_rejected_batches_total 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "candor_spool_rejected_records_total {}",
            2 + many_aside.len()
        )),
        "{metrics}"
    );

    // The codes taken as invalid data carry the names the engine gives them.
    let named: Vec<Value> = fetch(
        state.store.as_ref(),
        "SELECT arrayMap(c -> toString(errorCodeToName(toUInt32(c))), {codes:Array(String)}) AS names",
        &Params::new().with(
            "codes",
            candor::pipeline::batcher::REJECTED_DATA_CODES
                .iter()
                .map(|(c, _)| c.to_string())
                .collect::<Vec<String>>(),
        ),
    )
    .await
    .unwrap();
    let ours: Vec<&str> = candor::pipeline::batcher::REJECTED_DATA_CODES
        .iter()
        .map(|(_, n)| *n)
        .collect();
    assert_eq!(named[0]["names"], json!(ours));

    bg.shutdown(&state, Duration::from_secs(5)).await;
}
