//! `GET /api/klines` and `/api/klines.csv`: Binance candles with the one-minute moving
//! averages, parameter validation, and the bounded range query agreeing with the views.

use crate::common::{fields, get, World};
use crate::readers_agree::data_api_app;
use serde_json::{json, Value};
use testkit::data_api::DataApiEmulator;

async fn world() -> World {
    let world = World::new().await;
    world.insert_klines().await;
    world
}

fn number(value: &Value) -> Option<f64> {
    value.as_str().map(|text| text.parse().expect("a decimal"))
}

#[tokio::test]
async fn minute_candles_carry_moving_averages_computed_from_before_the_range() {
    // GIVEN BTCUSDT minutes 0..=129 from 12:00, close 67000 + i, minute 110 (13:50) missing
    let world = world().await;
    let app = world.app(&[]).await;

    // WHEN a quarter of an hour from 13:45 is asked for
    let answer = get(
        &app,
        "/api/klines?symbol=BTCUSDT&interval=1m&from=2024-06-01T13:45:00Z&to=2024-06-01T14:00:00Z",
    )
    .await;

    // THEN the 14 stored minutes, their averages reaching back before 13:45
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["symbol"], "BTCUSDT");
    assert_eq!(body["interval"], "1m");
    assert_eq!(body["from"], "2024-06-01T13:45:00Z");
    assert_eq!(body["to"], "2024-06-01T14:00:00Z");
    let candles = body["candles"].as_array().unwrap();
    assert_eq!(candles.len(), 14, "{body}");
    let first = &candles[0];
    assert_eq!(first["t"], "2024-06-01T13:45:00Z");
    assert_eq!(
        fields(first, ["open", "high", "low", "close"]),
        [
            json!("67105"),
            json!("67105.5"),
            json!("67104.5"),
            json!("67105")
        ]
    );
    assert_eq!(
        fields(first, ["volume", "quote_volume", "trades", "minutes"]),
        [json!("1"), json!("67105"), json!(1), json!(1)]
    );
    assert_eq!(number(&first["vwap"]), Some(67105.0));
    // 99..=105 → 102; 81..=105 → 93; 7..=105 → 56
    assert_eq!(number(&first["sma_7"]), Some(67102.0));
    assert_eq!(number(&first["sma_25"]), Some(67093.0));
    assert_eq!(number(&first["sma_99"]), Some(67056.0));

    let at = |t: &str| {
        candles
            .iter()
            .find(|c| c["t"] == t)
            .unwrap_or_else(|| panic!("no candle at {t}"))
    };
    assert!(candles.iter().all(|c| c["t"] != "2024-06-01T13:50:00Z"));
    // windows over the missing minute are null, not stretched
    let after_hole = at("2024-06-01T13:51:00Z");
    for key in ["sma_7", "sma_25", "sma_99"] {
        assert_eq!(after_hole[key], Value::Null, "{key}");
    }
    let full_again = at("2024-06-01T13:57:00Z");
    assert_eq!(number(&full_again["sma_7"]), Some(67114.0));
    assert_eq!(full_again["sma_25"], Value::Null);
}

#[tokio::test]
async fn the_api_averages_equal_the_indicator_view_everywhere() {
    let world = world().await;
    let app = world.app(&[]).await;
    for (symbol, from, to) in [
        ("BTCUSDT", "2024-06-01T12:00:00Z", "2024-06-01T14:10:00Z"),
        ("BTCUSDT", "2024-06-01T13:00:00Z", "2024-06-01T13:30:00Z"),
        ("ETHUSDT", "2024-05-31T23:00:00Z", "2024-06-01T01:00:00Z"),
    ] {
        let body = get(
            &app,
            &format!("/api/klines?symbol={symbol}&from={from}&to={to}"),
        )
        .await
        .json();
        let from_api: Vec<[Value; 5]> = body["candles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                [
                    c["t"].clone(),
                    c["vwap"].clone(),
                    c["sma_7"].clone(),
                    c["sma_25"].clone(),
                    c["sma_99"].clone(),
                ]
            })
            .collect();
        let client = world.db.client().await;
        let from_view: Vec<[Value; 5]> = client
            .query(
                "SELECT to_char(open_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                        vwap::text, sma_7::text, sma_25::text, sma_99::text
                 FROM klines_1m_indicators
                 WHERE symbol = $1 AND open_time >= $2::text::timestamptz AND open_time < $3::text::timestamptz
                 ORDER BY open_time",
                &[&symbol, &from, &to],
            )
            .await
            .expect("the view")
            .iter()
            .map(|row| std::array::from_fn(|i| row.get::<_, Option<String>>(i).map_or(Value::Null, Value::from)))
            .collect();
        assert!(!from_view.is_empty());
        assert_eq!(from_api, from_view, "{symbol} {from}..{to}");
    }
}

#[tokio::test]
async fn wider_candles_start_inside_the_range_and_have_no_averages() {
    let world = world().await;
    let app = world.app(&[]).await;
    let body = get(
        &app,
        "/api/klines?symbol=ETHUSDT&interval=5m&from=2024-05-31T23:55:00Z&to=2024-06-01T00:10:00Z",
    )
    .await
    .json();
    let candles = body["candles"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str, &str, &str, &str, i64)> = candles
        .iter()
        .map(|c| {
            (
                c["t"].as_str().unwrap(),
                c["open"].as_str().unwrap(),
                c["high"].as_str().unwrap(),
                c["low"].as_str().unwrap(),
                c["close"].as_str().unwrap(),
                c["volume"].as_str().unwrap(),
                c["minutes"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "2024-05-31T23:55:00Z",
                "3000",
                "3010",
                "2990",
                "3005",
                "2",
                1
            ),
            (
                "2024-06-01T00:00:00Z",
                "3005",
                "3030",
                "2980.25",
                "3025.75",
                "8",
                4
            ),
            (
                "2024-06-01T00:05:00Z",
                "3025.75",
                "3026",
                "3020",
                "3021",
                "1.5",
                1
            ),
        ]
    );
    assert_eq!(candles[1]["trades"], 21);
    assert_eq!(number(&candles[1]["vwap"]), Some(3013.75));
    assert!(candles[1].get("sma_7").is_none(), "{}", candles[1]);

    // a bucket that starts before `from` is not cut short: it is left out
    let body = get(
        &app,
        "/api/klines?symbol=ETHUSDT&interval=5m&from=2024-06-01T00:01:00Z&to=2024-06-01T00:10:00Z",
    )
    .await
    .json();
    let starts: Vec<&str> = body["candles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["t"].as_str().unwrap())
        .collect();
    assert_eq!(starts, ["2024-06-01T00:05:00Z"]);

    // hourly: the whole of 00:00, as klines_1h has it
    let body = get(
        &app,
        "/api/klines?symbol=ETHUSDT&interval=1h&from=2024-06-01&to=2024-06-01",
    )
    .await
    .json();
    let candle = &body["candles"][0];
    assert_eq!(body["candles"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(
        fields(candle, ["open", "close", "quote_volume", "minutes"]),
        [json!("3005"), json!("3021"), json!("28641.5"), json!(5)]
    );
}

#[tokio::test]
async fn the_csv_holds_the_same_candles_with_empty_fields_for_nulls() {
    let world = world().await;
    let app = world.app(&[]).await;
    let answer = get(
        &app,
        "/api/klines.csv?symbol=ETHUSDT&from=2024-06-01T00:01:00Z&to=2024-06-01T00:03:00Z",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("content-type"), "text/csv; charset=utf-8");
    assert!(answer
        .header("content-disposition")
        .contains("coinlake_ETHUSDT_1m_20240601T0001_20240601T0003.csv"));
    let text = answer.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "bucket_start,open,high,low,close,volume,quote_volume,trades,vwap,minutes,sma_7,sma_25,sma_99"
    );
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[1].starts_with("2024-06-01 00:01:00,3010,3015,2995,2996.5,3,9000,7,3000"),
        "{text}"
    );
    // nothing traded, and too few minutes for any average
    assert_eq!(
        lines[2],
        "2024-06-01 00:02:00,2996.5,3001,2980.25,2999,0,0,0,,1,,,"
    );
}

#[tokio::test]
async fn bad_parameters_are_a_400_naming_them_and_an_unknown_pair_has_no_candles() {
    let world = world().await;
    let app = world.app(&[]).await;
    for (target, expected) in [
        ("/api/klines", "symbol=BTCUSDT"),
        ("/api/klines?symbol=btcusdt", "is not a Binance pair"),
        (
            "/api/klines?symbol=BTCUSDT&interval=1d",
            "must be 1m, 5m, 15m or 1h",
        ),
        (
            "/api/klines?symbol=BTCUSDT&from=2024-06-02&to=2024-06-01",
            "must be before",
        ),
        (
            "/api/klines?symbol=BTCUSDT&from=2024-05-01",
            "more than 2000 candles of 1m",
        ),
        ("/api/klines.csv?symbol=BTCUSDT&interval=1w", "interval="),
    ] {
        let answer = get(&app, target).await;
        assert_eq!(answer.status, 400, "{target}");
        let message = answer.json()["error"].as_str().unwrap().to_owned();
        assert!(message.contains(expected), "{target}: {message}");
    }
    let answer = get(&app, "/api/klines?symbol=DOGEUSDT").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["candles"], Value::Array(vec![]));
}

#[tokio::test]
async fn the_data_api_reader_gives_the_same_klines_answers() {
    let world = world().await;
    let emulator = DataApiEmulator::start(&world.db.host, world.db.port).await;
    let postgres = world.app(&[]).await;
    let data_api = data_api_app(&world, &emulator).await;
    for target in [
        "/api/klines?symbol=BTCUSDT&from=2024-06-01T12:00:00Z&to=2024-06-01T14:10:00Z",
        "/api/klines?symbol=ETHUSDT&interval=5m&from=2024-05-31&to=2024-06-01",
        "/api/klines?symbol=ETHUSDT&interval=1h&from=2024-05-31&to=2024-06-01",
        "/api/klines.csv?symbol=BTCUSDT&interval=15m&from=2024-06-01&to=2024-06-01",
        "/api/klines?symbol=BTCUSDT&interval=1d",
    ] {
        let direct = get(&postgres, target).await;
        let through_api = get(&data_api, target).await;
        assert_eq!(direct.status, through_api.status, "{target}");
        assert_eq!(direct.text(), through_api.text(), "{target}");
    }
}
