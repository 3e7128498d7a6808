//! Every way Binance can fail a run: each ends in a clear error of a stable kind, and no
//! object written, even when the other pairs answered.

use crate::common;

use common::{at, market, schedule, World};
use testkit::binance::{error, ok, restricted, RESTRICTED_MSG};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

/// `pair` answers with `response`; the other pairs with the market.
async fn one_pair_answers(world: &World, pair: &str, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(testkit::binance::KLINES_PATH))
        .and(query_param("symbol", pair))
        .respond_with(response)
        .mount(&world.binance)
        .await;
    world.serve(market()).await;
}

#[tokio::test]
async fn http_451_fails_the_run_as_binance_restricted_and_writes_nothing() {
    let world = World::new().await;
    one_pair_answers(&world, "SOLUSDT", restricted()).await;

    let error = world
        .invoke(&[], schedule("2024-06-01T12:35:00Z"))
        .await
        .unwrap_err();

    assert_eq!(error.error_type, "BinanceRestricted");
    for part in [
        "SOLUSDT",
        "HTTP 451",
        RESTRICTED_MSG,
        "allowed region",
        "nothing was written",
    ] {
        assert!(
            error.error_message.contains(part),
            "{part}: {}",
            error.error_message
        );
    }
    world.assert_nothing_written().await;
}

#[tokio::test]
async fn server_errors_beyond_the_retries_fail_the_run_and_write_nothing() {
    let world = World::new().await;
    one_pair_answers(
        &world,
        "ETHUSDT",
        error(
            503,
            -1001,
            "Internal error; unable to process your request. Please try again.",
        ),
    )
    .await;

    let error = world
        .invoke(&[], schedule("2024-06-01T12:35:00Z"))
        .await
        .unwrap_err();

    assert_eq!(error.error_type, "BinanceOutOfTime");
    assert!(
        error.error_message.contains("after 4 attempts"),
        "{}",
        error.error_message
    );
    assert!(
        error.error_message.contains("HTTP 503"),
        "{}",
        error.error_message
    );
    let eth_calls = world
        .requests()
        .await
        .iter()
        .filter(|r| r.url.query().unwrap_or("").contains("symbol=ETHUSDT"))
        .count();
    assert_eq!(eth_calls, 4);
    world.assert_nothing_written().await;
}

#[tokio::test]
async fn a_reply_outside_the_slot_fails_the_run_as_malformed_and_writes_nothing() {
    // GIVEN Binance answers BTCUSDT with a kline from the day before
    let world = World::new().await;
    one_pair_answers(
        &world,
        "BTCUSDT",
        ok(serde_json::json!([testkit::binance::kline(at(
            "2024-05-31T12:30:00Z"
        ))])),
    )
    .await;

    let error = world
        .invoke(&[], schedule("2024-06-01T12:35:00Z"))
        .await
        .unwrap_err();

    assert_eq!(error.error_type, "BinanceMalformedResponse");
    assert!(
        error.error_message.contains("BTCUSDT"),
        "{}",
        error.error_message
    );
    world.assert_nothing_written().await;
}

#[tokio::test]
async fn a_refused_request_fails_the_run_without_retry() {
    let world = World::new().await;
    one_pair_answers(&world, "ADAUSDT", error(403, 0, "WAF block")).await;

    let error = world
        .invoke(&[], schedule("2024-06-01T12:35:00Z"))
        .await
        .unwrap_err();

    assert_eq!(error.error_type, "BinanceRefused");
    let ada_calls = world
        .requests()
        .await
        .iter()
        .filter(|r| r.url.query().unwrap_or("").contains("symbol=ADAUSDT"))
        .count();
    assert_eq!(ada_calls, 1);
    world.assert_nothing_written().await;
}
