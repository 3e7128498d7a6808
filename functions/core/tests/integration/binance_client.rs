//! The Binance kline client against a stand-in speaking Binance's reply shapes: paging,
//! the closed-minute range, Retry-After on 429 and 418, 451, 5xx, unknown symbols, gaps
//! and malformed rows.

use chrono::{DateTime, TimeDelta, Utc};
use coinlake::binance::{closed_minutes, gaps, BinanceClient, BinanceError, RetryPolicy};
use coinlake::slot::Slot;
use serde_json::json;
use std::time::{Duration, Instant};
use testkit::binance::{self as standin, KlineMarket, KLINES_PATH};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn slot() -> Slot {
    Slot::containing(at("2024-06-01T12:35:00Z"))
}

fn client(server: &MockServer) -> BinanceClient {
    let retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        request_timeout: Duration::from_secs(5),
    };
    BinanceClient::new(&server.uri(), retry).expect("client")
}

fn in_seconds(seconds: u64) -> Instant {
    Instant::now() + Duration::from_secs(seconds)
}

async fn slot_klines(
    server: &MockServer,
    symbol: &str,
) -> Result<Vec<coinlake::binance::Kline>, BinanceError> {
    let (from, to) = closed_minutes(slot());
    client(server)
        .klines(symbol, from, to, in_seconds(20))
        .await
}

#[tokio::test]
async fn reads_the_five_closed_minutes_of_a_slot() {
    let server = MockServer::start().await;
    let (from, _) = closed_minutes(slot());
    Mock::given(method("GET"))
        .and(path(KLINES_PATH))
        .and(query_param("symbol", "BTCUSDT"))
        .and(query_param("interval", "1m"))
        .and(query_param("startTime", "1717245000000")) // 12:30:00
        .and(query_param("endTime", "1717245299999")) // 12:34:59.999: not the open 12:35
        .and(query_param("limit", "1000"))
        .respond_with(standin::ok(standin::five_klines(from)))
        .expect(1)
        .mount(&server)
        .await;

    let klines = slot_klines(&server, "BTCUSDT").await.expect("klines");

    let opens: Vec<String> = klines
        .iter()
        .map(|k| k.open_time.format("%H:%M").to_string())
        .collect();
    assert_eq!(opens, ["12:30", "12:31", "12:32", "12:33", "12:34"]);
    let first = &klines[0];
    assert_eq!(first.symbol, "BTCUSDT");
    assert_eq!(first.close_time, at("2024-06-01T12:30:59.999Z"));
    assert_eq!(first.open.as_str(), "67030.01000000");
    assert_eq!(first.close.as_str(), "67030.55000000");
    assert_eq!(first.quote_volume.as_str(), "832451.12345670");
    assert_eq!(first.trades, 1530);
    assert_eq!(gaps(&klines, from, slot().start()), Ok(vec![]));
}

#[tokio::test]
async fn a_range_longer_than_a_page_is_paged() {
    let server = MockServer::start().await;
    let from = at("2024-06-01T00:00:00Z");
    let to = from + TimeDelta::minutes(1500);
    Mock::given(path(KLINES_PATH))
        .respond_with(KlineMarket::default().with("ETHUSDT", from, to, &[]))
        .expect(2)
        .mount(&server)
        .await;

    let klines = client(&server)
        .klines("ETHUSDT", from, to, in_seconds(20))
        .await
        .expect("klines");

    assert_eq!(klines.len(), 1500);
    assert_eq!(gaps(&klines, from, to), Ok(vec![]));
}

#[tokio::test]
async fn a_missing_minute_is_reported_as_a_gap_not_padded() {
    let server = MockServer::start().await;
    let (from, to) = closed_minutes(slot());
    let lost = at("2024-06-01T12:32:00Z");
    Mock::given(path(KLINES_PATH))
        .respond_with(KlineMarket::default().with("SOLUSDT", from, to, &[lost]))
        .mount(&server)
        .await;

    let klines = slot_klines(&server, "SOLUSDT").await.expect("klines");

    assert_eq!(klines.len(), 4, "nothing invented for the missing minute");
    assert_eq!(
        gaps(&klines, from, to),
        Ok(vec![(lost, at("2024-06-01T12:33:00Z"))])
    );
}

#[tokio::test]
async fn retries_429_after_its_retry_after_then_reads() {
    let server = MockServer::start().await;
    let (from, _) = closed_minutes(slot());
    Mock::given(path(KLINES_PATH))
        .respond_with(standin::rate_limited(1))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path(KLINES_PATH))
        .respond_with(standin::ok(standin::five_klines(from)))
        .expect(1)
        .mount(&server)
        .await;

    let started = Instant::now();
    let klines = slot_klines(&server, "BTCUSDT").await.expect("klines");

    assert_eq!(klines.len(), 5);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "asked again before Retry-After ended: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn waits_out_a_418_ban_then_reads() {
    let server = MockServer::start().await;
    let (from, _) = closed_minutes(slot());
    Mock::given(path(KLINES_PATH))
        .respond_with(standin::banned(1))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path(KLINES_PATH))
        .respond_with(standin::ok(standin::five_klines(from)))
        .mount(&server)
        .await;

    let started = Instant::now();
    let klines = slot_klines(&server, "BTCUSDT").await.expect("klines");

    assert_eq!(klines.len(), 5);
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_retry_after_past_the_deadline_fails_at_once_and_says_so() {
    let server = MockServer::start().await;
    Mock::given(path(KLINES_PATH))
        .respond_with(standin::rate_limited(120))
        .expect(1)
        .mount(&server)
        .await;

    let (from, to) = closed_minutes(slot());
    let started = Instant::now();
    let error = client(&server)
        .klines("BTCUSDT", from, to, in_seconds(5))
        .await
        .expect_err("the wait does not fit");

    assert!(started.elapsed() < Duration::from_secs(2), "did not wait");
    assert_eq!(error.kind(), "BinanceWaitPastDeadline", "{error}");
    let text = error.to_string();
    assert!(text.contains("wait 120 s (Retry-After)"), "{text}");
    assert!(text.contains("HTTP 429"), "{text}");
}

#[tokio::test]
async fn retries_a_server_error_then_reads() {
    let server = MockServer::start().await;
    let (from, _) = closed_minutes(slot());
    Mock::given(path(KLINES_PATH))
        .respond_with(standin::error(
            503,
            -1001,
            "Internal error; unable to process your request. Please try again.",
        ))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(path(KLINES_PATH))
        .respond_with(standin::ok(standin::five_klines(from)))
        .expect(1)
        .mount(&server)
        .await;

    let klines = slot_klines(&server, "BTCUSDT").await.expect("klines");
    assert_eq!(klines.len(), 5);
}

#[tokio::test]
async fn a_451_is_a_restricted_location_and_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(path(KLINES_PATH))
        .respond_with(standin::restricted())
        .expect(1)
        .mount(&server)
        .await;

    let error = slot_klines(&server, "BTCUSDT").await.expect_err("451");

    assert!(matches!(error, BinanceError::Restricted { .. }), "{error}");
    assert!(!error.is_transient());
    let text = error.to_string();
    assert!(
        text.contains("restricted location"),
        "Binance's message kept: {text}"
    );
    assert!(text.contains("deploy the Binance source in an allowed region or turn it off"));
}

#[tokio::test]
async fn an_unknown_symbol_is_named_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(path(KLINES_PATH))
        .respond_with(KlineMarket::default())
        .expect(1)
        .mount(&server)
        .await;

    let error = slot_klines(&server, "NOPEUSDT").await.expect_err("unknown");

    assert_eq!(error.kind(), "BinanceUnknownSymbol");
    assert!(matches!(&error, BinanceError::UnknownSymbol(s) if s == "NOPEUSDT"));
    assert!(error.to_string().contains("\"NOPEUSDT\""), "{error}");
}

#[tokio::test]
async fn malformed_replies_name_what_was_wrong() {
    let (from, _) = closed_minutes(slot());
    let mut short = standin::five_klines(from);
    short[2].as_array_mut().unwrap().truncate(8);
    let mut numeric = standin::five_klines(from);
    numeric[1][4] = json!(67031.55);
    let mut twice = standin::five_klines(from);
    twice[3] = twice[2].clone();
    let mut backwards = standin::five_klines(from);
    backwards.as_array_mut().unwrap().swap(0, 1);
    let cases = [
        (
            short,
            "kline 2: a kline has 8 elements, 12 expected (element 8, trades, is missing)",
        ),
        (
            numeric,
            "kline 1: element 4 (close) of a kline is a number 67031.55, a decimal string expected",
        ),
        (
            twice,
            "kline 3 opens at 2024-06-01 12:32:00 UTC, which repeats the kline before it",
        ),
        (
            backwards,
            "kline 1 opens at 2024-06-01 12:30:00 UTC, before the kline before it",
        ),
        (json!({"rows": []}), "not a JSON array of klines"),
    ];
    for (body, expected) in cases {
        let server = MockServer::start().await;
        Mock::given(path(KLINES_PATH))
            .respond_with(standin::ok(body))
            .expect(1)
            .mount(&server)
            .await;

        let error = slot_klines(&server, "BTCUSDT")
            .await
            .expect_err("malformed");

        assert_eq!(error.kind(), "BinanceMalformedResponse", "{error}");
        assert!(error.to_string().contains(expected), "{error}");
    }
}

#[tokio::test]
async fn retries_a_reply_that_times_out_then_reads() {
    let server = MockServer::start().await;
    let (from, to) = closed_minutes(slot());
    Mock::given(path(KLINES_PATH))
        .respond_with(standin::ok(standin::five_klines(from)).set_delay(Duration::from_secs(3)))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path(KLINES_PATH))
        .respond_with(standin::ok(standin::five_klines(from)))
        .expect(1)
        .mount(&server)
        .await;
    let retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        request_timeout: Duration::from_millis(300),
    };
    let client = BinanceClient::new(&server.uri(), retry).expect("client");

    let klines = client
        .klines("BTCUSDT", from, to, in_seconds(20))
        .await
        .expect("klines");
    assert_eq!(klines.len(), 5);
}
