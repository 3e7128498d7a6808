//! Successful runs end to end: Binance stand-in → handler → one object on a real S3 server.

use crate::common;

use chrono::TimeDelta;
use common::{at, decode, market, schedule, World, KEY_1235, PAIRS};
use serde_json::json;
use testkit::binance::{rate_limited, KlineMarket};

#[tokio::test]
async fn five_pairs_write_one_object_of_25_rows_at_the_slot_key() {
    // GIVEN a market for the five default pairs
    let world = World::new().await;
    world.serve(market()).await;

    // WHEN the 12:35 schedule fires (delivered at 12:37)
    let summary = world
        .invoke(&[], schedule("2024-06-01T12:37:10Z"))
        .await
        .unwrap();

    // THEN one object holds the five closed minutes before 12:35 of every pair, by pair
    assert_eq!(world.bucket.keys().await, [KEY_1235]);
    let object = world.bucket.get(KEY_1235).await;
    let klines = decode(&object.body);
    assert_eq!(klines.len(), 25);
    let mut expected = Vec::new();
    for pair in ["ADAUSDT", "BNBUSDT", "BTCUSDT", "ETHUSDT", "SOLUSDT"] {
        for minute in 0..5 {
            expected.push((
                pair.to_owned(),
                at("2024-06-01T12:30:00Z") + TimeDelta::minutes(minute),
            ));
        }
    }
    let got: Vec<_> = klines
        .iter()
        .map(|k| (k.symbol.clone(), k.open_time))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(klines[0].close.as_str(), "67030.55000000");
    assert!(object.content_type.unwrap().starts_with("text/csv"));
    assert_eq!(object.metadata.get("rows").map(String::as_str), Some("25"));
    assert_eq!(
        object.metadata.get("slot").map(String::as_str),
        Some("2024-06-01T12:35:00Z")
    );

    // AND the summary says what was done
    assert_eq!(
        serde_json::to_value(&summary).unwrap(),
        json!({
            "slot": "2024-06-01T12:35:00Z",
            "bucket": world.bucket.name,
            "key": KEY_1235,
            "pairs": PAIRS,
            "rows": 25,
            "skipped": [],
            "gaps": [],
            "written": true,
        })
    );
    // AND each pair was asked for exactly [12:30, 12:35) once
    let requests = world.requests().await;
    assert_eq!(requests.len(), 5);
    for request in requests {
        let query: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
        assert!(
            query.contains(&("interval".into(), "1m".into())),
            "{query:?}"
        );
        assert!(
            query.contains(&("startTime".into(), "1717245000000".into())),
            "{query:?}"
        );
    }
}

#[tokio::test]
async fn a_rerun_of_the_slot_writes_identical_bytes() {
    let world = World::new().await;
    world.serve(market()).await;

    world
        .invoke(&[], schedule("2024-06-01T12:35:00Z"))
        .await
        .unwrap();
    let first = world.bucket.get(KEY_1235).await.body;
    world
        .invoke(&[], schedule("2024-06-01T12:39:59Z"))
        .await
        .unwrap();
    let second = world.bucket.get(KEY_1235).await.body;

    assert_eq!(world.bucket.keys().await, [KEY_1235]);
    assert_eq!(first, second);
}

#[tokio::test]
async fn an_unknown_pair_is_skipped_and_reported_and_the_others_written() {
    // GIVEN a market without NOPEUSDT, which Binance answers with -1121
    let world = World::new().await;
    world.serve(market()).await;

    let summary = world
        .invoke(
            &[("KLINES_SYMBOLS", "BTCUSDT,NOPEUSDT,ETHUSDT")],
            schedule("2024-06-01T12:35:00Z"),
        )
        .await
        .unwrap();

    assert_eq!(summary.rows, 10);
    assert!(summary.written);
    assert_eq!(summary.skipped.len(), 1);
    assert_eq!(summary.skipped[0].symbol, "NOPEUSDT");
    assert!(
        summary.skipped[0].reason.contains("-1121"),
        "{}",
        summary.skipped[0].reason
    );
    let symbols: Vec<String> = decode(&world.bucket.get(KEY_1235).await.body)
        .into_iter()
        .map(|k| k.symbol)
        .collect();
    assert_eq!(symbols, [["BTCUSDT"; 5], ["ETHUSDT"; 5]].concat());
}

#[tokio::test]
async fn no_kline_from_any_pair_writes_nothing_and_says_so() {
    let world = World::new().await;
    world.serve(KlineMarket::default()).await;

    let summary = world
        .invoke(
            &[("KLINES_SYMBOLS", "NOPEUSDT")],
            schedule("2024-06-01T12:35:00Z"),
        )
        .await
        .unwrap();

    assert!(!summary.written);
    assert_eq!(summary.rows, 0);
    assert_eq!(summary.key, KEY_1235);
    assert_eq!(summary.skipped.len(), 1);
    world.assert_nothing_written().await;
}

#[tokio::test]
async fn a_gap_is_reported_and_never_padded() {
    // GIVEN ETHUSDT has no kline for 12:32
    let world = World::new().await;
    world
        .serve(
            KlineMarket::default()
                .with(
                    "BTCUSDT",
                    at("2024-06-01T12:00:00Z"),
                    at("2024-06-01T13:00:00Z"),
                    &[],
                )
                .with(
                    "ETHUSDT",
                    at("2024-06-01T12:00:00Z"),
                    at("2024-06-01T13:00:00Z"),
                    &[at("2024-06-01T12:32:00Z")],
                ),
        )
        .await;

    let summary = world
        .invoke(
            &[("KLINES_SYMBOLS", "BTCUSDT,ETHUSDT")],
            schedule("2024-06-01T12:35:00Z"),
        )
        .await
        .unwrap();

    assert_eq!(
        serde_json::to_value(&summary.gaps).unwrap(),
        json!([{"symbol": "ETHUSDT", "from": "2024-06-01T12:32:00Z", "to": "2024-06-01T12:33:00Z"}])
    );
    assert_eq!(summary.rows, 9);
    let eth: Vec<_> = decode(&world.bucket.get(KEY_1235).await.body)
        .into_iter()
        .filter(|k| k.symbol == "ETHUSDT")
        .map(|k| k.open_time.format("%H:%M").to_string())
        .collect();
    assert_eq!(eth, ["12:30", "12:31", "12:33", "12:34"]);
}

#[tokio::test]
async fn retries_429_after_its_retry_after_then_writes_one_object() {
    let world = World::new().await;
    world.serve_once(rate_limited(1)).await;
    world.serve(market()).await;

    let summary = world
        .invoke(
            &[("KLINES_SYMBOLS", "BTCUSDT")],
            schedule("2024-06-01T12:35:00Z"),
        )
        .await
        .unwrap();

    assert_eq!(world.requests().await.len(), 2);
    assert_eq!(summary.rows, 5);
    assert_eq!(world.bucket.keys().await, [KEY_1235]);
}

#[tokio::test]
async fn the_local_stand_in_serves_any_pair_a_whole_slot() {
    // GIVEN the stand-in scripts/run-local.sh starts, which knows no fixed pairs
    let world = World::new().await;
    world.serve(testkit::binance::OpenMarket).await;

    let summary = world
        .invoke(
            &[("KLINES_SYMBOLS", "BTCUSDT,ETHBTC,DOGEUSDT")],
            schedule("2024-06-01T12:35:00Z"),
        )
        .await
        .unwrap();

    assert_eq!((summary.rows, summary.gaps.len()), (15, 0));
    let again = world
        .invoke(
            &[("KLINES_SYMBOLS", "BTCUSDT,ETHBTC,DOGEUSDT")],
            schedule("2024-06-01T12:35:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(again, summary);
}
