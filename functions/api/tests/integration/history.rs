//! `GET /api/history` and `/api/history.csv`: candles from the analytics views.

use crate::common::{fields, get, midnight_market, World, Q};
use chrono::NaiveDate;
use coinlake::config::LoadConfig;
use coinlake::db::Database;
use coinlake::layout::{curated_key, CuratedTable};
use coinlake::maintain::Maintainer;
use coinlake::store::S3Reader;
use serde_json::json;
use testkit::TestBucket;

#[tokio::test]
async fn hourly_candles_are_the_hand_computed_open_high_low_close() {
    // GIVEN BTC updated at 12:04, 12:09, 12:33 and 12:58
    let world = World::new().await;
    let app = world.app(&[]).await;

    // WHEN its hourly history of that day is asked for
    let answer = get(
        &app,
        "/api/history?symbol=BTC&interval=1h&from=2024-06-01&to=2024-06-01",
    )
    .await;

    // THEN one candle: first, highest, lowest and last price of the hour
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["symbol"], "BTC");
    assert_eq!(body["cmc_id"], 1);
    assert_eq!(body["currency"], "USD");
    assert_eq!(body["interval"], "1h");
    assert_eq!(body["from"], "2024-06-01T00:00:00Z");
    assert_eq!(body["to"], "2024-06-02T00:00:00Z");
    let candles = body["candles"].as_array().unwrap();
    assert_eq!(candles.len(), 1, "{body}");
    let candle = &candles[0];
    assert_eq!(candle["t"], "2024-06-01T12:00:00Z");
    assert_eq!(
        fields(candle, ["open", "high", "low", "close"]),
        [
            json!("67000.5"),
            json!("67100"),
            json!("66900.25"),
            json!("67050.125")
        ]
    );
    assert_eq!(candle["samples"], 4);
    let volume: f64 = candle["avg_volume_24h"].as_str().unwrap().parse().unwrap();
    assert_eq!(volume, 2000.0);
}

#[tokio::test]
async fn five_minute_candles_default_to_the_last_day_in_time_order() {
    let world = World::new().await;
    let app = world.app(&[]).await;
    let body = get(&app, "/api/history?symbol=btc&interval=5m")
        .await
        .json();
    assert_eq!(body["from"], "2024-05-31T13:10:00Z");
    assert_eq!(body["to"], "2024-06-01T13:10:00Z");
    let starts: Vec<&str> = body["candles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["t"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            "2024-06-01T12:00:00Z",
            "2024-06-01T12:05:00Z",
            "2024-06-01T12:30:00Z",
            "2024-06-01T12:55:00Z"
        ]
    );
    assert_eq!(body["candles"][2]["close"], "66900.25");
}

#[tokio::test]
async fn a_colliding_symbol_means_the_asset_seen_most_recently_and_ids_are_exact() {
    // GIVEN two coins called BTC: id 1 (current) and id 9999 (seen a day earlier)
    let world = World::new().await;
    let app = world.app(&[]).await;

    let by_symbol = get(&app, "/api/history?symbol=BTC&from=2024-05-31")
        .await
        .json();
    assert_eq!(by_symbol["cmc_id"], 1);

    let by_id = get(&app, "/api/history?cmc_id=9999&from=2024-05-31")
        .await
        .json();
    assert_eq!(by_id["cmc_id"], 9999);
    assert_eq!(by_id["candles"][0]["close"], "0.001");
    assert_eq!(by_id["candles"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn history_as_csv_is_a_download_with_the_same_candles() {
    let world = World::new().await;
    let app = world.app(&[]).await;
    let answer = get(
        &app,
        "/api/history.csv?symbol=BTC&interval=1h&from=2024-06-01&to=2024-06-01",
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), "text/csv; charset=utf-8");
    assert_eq!(
        answer.header("content-disposition"),
        "attachment; filename=\"coinlake_BTC_USD_1h_20240601T0000_20240602T0000.csv\""
    );
    let text = answer.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "bucket_start,open,high,low,close,avg_volume_24h,samples"
    );
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[1].starts_with("2024-06-01 12:00:00,67000.5,67100,66900.25,67050.125,2000"),
        "{text}"
    );
    assert!(lines[1].ends_with(",4"), "{text}");
}

#[tokio::test]
async fn unknown_assets_are_404_and_bad_parameters_400_with_the_reason() {
    let world = World::new().await;
    let app = world.app(&[]).await;

    let unknown = get(&app, "/api/history?symbol=DOGE").await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.json()["error"].as_str().unwrap().contains("DOGE"));

    for (target, reason) in [
        ("/api/history", "symbol=BTC or cmc_id=1"),
        ("/api/history?symbol=BTC&interval=2h", "interval="),
        ("/api/history?symbol=BTC&from=noon", "from="),
        (
            "/api/history?symbol=BTC&from=2024-06-02&to=2024-06-01",
            "must be before",
        ),
        (
            "/api/history?symbol=BTC&interval=5m&from=2024-01-01",
            "more than 2000 candles",
        ),
        ("/api/history.csv?cmc_id=zero", "cmc_id="),
    ] {
        let answer = get(&app, target).await;
        assert_eq!(answer.status, 400, "{target}");
        let error = answer.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(reason), "{target}: {error}");
    }
}

#[tokio::test]
async fn an_update_observed_on_both_sides_of_midnight_is_one_five_minute_sample_and_opens_the_next_day(
) {
    // GIVEN BTC's 23:45 update, and its 23:50 update stored for 05-31 and again for 06-01
    let world = World::empty().await;
    world.insert(&midnight_market()).await;
    let app = world.app(&[]).await;

    // WHEN its five-minute and daily candles of those days are asked for
    let five_minutes = get(
        &app,
        "/api/history?symbol=BTC&interval=5m&from=2024-05-31&to=2024-06-01",
    )
    .await
    .json();
    let daily = get(
        &app,
        "/api/history?symbol=BTC&interval=1d&from=2024-05-31&to=2024-06-01",
    )
    .await
    .json();

    // THEN each update is one five-minute sample, in the bucket of its update time; a day
    // is the updates observed that day, as in the curated layer: 06-01 opens with the
    // update in effect at midnight
    let candles = |body: &serde_json::Value| -> Vec<String> {
        body["candles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| format!("{}|{}|{}|{}", c["t"], c["open"], c["close"], c["samples"]))
            .collect()
    };
    assert_eq!(
        candles(&five_minutes),
        [
            r#""2024-05-31T23:45:00Z"|"67000"|"67000"|1"#,
            r#""2024-05-31T23:50:00Z"|"67200"|"67200"|1"#,
        ]
    );
    assert_eq!(
        candles(&daily),
        [
            r#""2024-05-31T00:00:00Z"|"67000"|"67200"|2"#,
            r#""2024-06-01T00:00:00Z"|"67200"|"67200"|1"#,
        ]
    );
}

#[tokio::test]
async fn daily_candles_of_a_month_retention_dropped_still_answer_from_the_rollup() {
    // GIVEN BTC in May (two updates on 05-30, the midnight market on 05-31) and on 06-01
    let world = World::empty().await;
    let btc = |price, updated, slot| Q {
        id: 1,
        symbol: "BTC",
        currency: "USD",
        rank: Some(1),
        price,
        updated,
        slot,
        change_24h: None,
    };
    world
        .insert(&[
            btc("66000.25", "2024-05-30T10:00:00Z", "2024-05-30T10:05:00Z"),
            btc("65500.75", "2024-05-30T18:00:00Z", "2024-05-30T18:05:00Z"),
        ])
        .await;
    world.insert(&midnight_market()).await;
    let app = world.app(&[]).await;
    let target = "/api/history?symbol=BTC&interval=1d&from=2024-05-30&to=2024-06-01";
    let before = get(&app, target).await;
    assert_eq!(before.status, 200, "{}", before.text());
    assert_eq!(before.json()["candles"].as_array().unwrap().len(), 3);

    // WHEN maintenance keeps 7 days on 2024-07-10, S3 holding May but not 06-01
    let silver = |day| {
        curated_key(
            CuratedTable::Quotes,
            NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap(),
        )
    };
    // The silver objects as compact writes them: their row count in the `rows` metadata.
    let bucket = TestBucket::new().await;
    for day in ["2024-05-30", "2024-05-31"] {
        bucket
            .client
            .put_object()
            .bucket(&bucket.name)
            .key(silver(day))
            .metadata("rows", "2")
            .body(b"PAR1".to_vec().into())
            .send()
            .await
            .expect("put a silver object");
    }
    let config = LoadConfig::from_lookup(|name| match name {
        "BUCKET_NAME" => Some(bucket.name.clone()),
        "DATABASE_URL" => Some(world.db.url()),
        _ => None,
    })
    .expect("load configuration");
    let database = Database::open(&config.sink, 1, &bucket.sdk)
        .await
        .expect("database");
    let objects = S3Reader::new(bucket.client.clone());
    let summary = Maintainer::new(database, objects, &bucket.name, Some(7))
        .run(NaiveDate::from_ymd_opt(2024, 7, 10).unwrap())
        .await
        .expect("maintenance");
    assert_eq!(summary.months_dropped.len(), 1, "{summary:?}");
    assert_eq!(summary.months_dropped[0].partition, "quotes_2024_05");
    assert_eq!(
        summary.months_kept[0].day,
        NaiveDate::from_ymd_opt(2024, 6, 1)
    );

    // THEN May's raw rows are gone and the daily candles are the same as before
    let left = world
        .db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM quotes WHERE observed_on < '2024-06-01'",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(left, 0);
    let after = get(&app, target).await;
    assert_eq!(after.status, 200, "{}", after.text());
    assert_eq!(after.json()["candles"], before.json()["candles"]);
    let first = &after.json()["candles"][0];
    assert_eq!(
        fields(first, ["t", "open", "high", "low", "close", "samples"]),
        [
            json!("2024-05-30T00:00:00Z"),
            json!("66000.25"),
            json!("66000.25"),
            json!("65500.75"),
            json!("65500.75"),
            json!(2)
        ]
    );

    // AND a day after the newest rolled-up one is computed from the raw rows beside them
    world
        .insert(&[btc("68000", "2024-06-02T09:00:00Z", "2024-06-02T09:05:00Z")])
        .await;
    let mixed = get(
        &app,
        "/api/history?symbol=BTC&interval=1d&from=2024-05-30&to=2024-06-02",
    )
    .await
    .json();
    let days: Vec<String> = mixed["candles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{}|{}|{}", c["t"], c["close"], c["samples"]))
        .collect();
    assert_eq!(
        days,
        [
            r#""2024-05-30T00:00:00Z"|"65500.75"|2"#,
            r#""2024-05-31T00:00:00Z"|"67200"|2"#,
            r#""2024-06-01T00:00:00Z"|"67200"|1"#,
            r#""2024-06-02T00:00:00Z"|"68000"|1"#,
        ]
    );
}
