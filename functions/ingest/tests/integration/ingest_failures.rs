//! Every way CMC can fail a run: each ends in a clear error, the documented retries, and
//! no object written.

use crate::common;

use coinlake::cmc::QuotesApi;
use common::{invocation, schedule, World, QUOTES_APIS};
use ingest::handler::HandlerError;
use lambda_runtime::Diagnostic;
use serde_json::json;
use std::time::{Duration, Instant};
use testkit::cmc::{coin, error, ok, quotes_ok, Market};
use testkit::cut_body::CuttingServer;
use wiremock::ResponseTemplate;

fn diagnostic(error: HandlerError) -> Diagnostic {
    error.into()
}

/// Runs the 12:35 slot for BTC by id against whatever the stand-in serves.
async fn run(
    world: &World,
    extra: &[(&str, &str)],
) -> Result<coinlake::ingest::IngestSummary, Diagnostic> {
    let mut vars = vec![("CMC_IDS", "1")];
    vars.extend_from_slice(extra);
    let app = world.app(&vars).await;
    ingest::handle(&app, schedule("2024-06-01T12:35:00Z"))
        .await
        .map_err(diagnostic)
}

async fn assert_nothing_written(world: &World) {
    assert_eq!(
        world.bucket.keys().await,
        Vec::<String>::new(),
        "no object may be written"
    );
}

#[tokio::test]
async fn retries_429_then_writes_one_object() {
    let world = World::new().await;
    world.serve_quotes_once(error(429, 1008, "You've exceeded your API Key's HTTP request rate limit. Rate limits reset every minute.")).await;
    world.serve_quotes(Market::recorded()).await;

    let summary = run(&world, &[]).await.unwrap();

    assert_eq!(world.cmc_requests().await.len(), 2);
    assert_eq!(world.bucket.keys().await, [summary.key]);
}

#[tokio::test]
async fn retries_a_500_html_page_then_writes_one_object() {
    let world = World::new().await;
    world
        .serve_quotes_once(
            ResponseTemplate::new(502)
                .insert_header("content-type", "text/html")
                .set_body_string("<html><body><h1>502 Bad Gateway</h1></body></html>"),
        )
        .await;
    world
        .serve_quotes_once(error(500, 500, "An internal server error occurred"))
        .await;
    world.serve_quotes(Market::recorded()).await;

    let summary = run(&world, &[]).await.unwrap();

    assert_eq!(world.cmc_requests().await.len(), 3);
    assert_eq!(world.bucket.keys().await, [summary.key]);
}

#[tokio::test]
async fn key_payment_plan_and_quota_errors_fail_fast_without_retry() {
    for (http, code, message, error_type, hint) in [
        (
            401,
            1001,
            "This API Key is invalid.",
            "CmcUnauthorized",
            "CMC_API_KEY",
        ),
        (
            401,
            1002,
            "API key missing.",
            "CmcUnauthorized",
            "CMC_API_KEY",
        ),
        (
            402,
            1003,
            "Your API Key must be activated.",
            "CmcPaymentRequired",
            "billing",
        ),
        (
            403,
            1006,
            "Your API Key subscription plan doesn't support this endpoint.",
            "CmcPlanForbidden",
            "plan",
        ),
        (
            429,
            1009,
            "You've exceeded your API Key's daily rate limit.",
            "CmcQuotaExhausted",
            "daily",
        ),
        (
            429,
            1010,
            "You've exceeded your API Key's monthly credit limit.",
            "CmcQuotaExhausted",
            "monthly",
        ),
    ] {
        // GIVEN CMC answers every call with this error
        let world = World::new().await;
        world.serve_quotes(error(http, code, message)).await;

        // WHEN the run goes
        let failure = run(&world, &[]).await.unwrap_err();

        // THEN one request only, a typed error naming CMC's message and what to do
        assert_eq!(
            world.cmc_requests().await.len(),
            1,
            "{code} must not be retried"
        );
        assert_eq!(failure.error_type, error_type);
        for expected in [message, hint, "2024-06-01T12:35:00Z"] {
            assert!(
                failure.error_message.contains(expected),
                "{expected:?} missing from {:?}",
                failure.error_message
            );
        }
        assert_nothing_written(&world).await;
    }
}

#[tokio::test]
async fn a_persistent_server_error_gives_up_after_the_attempt_limit() {
    let world = World::new().await;
    world
        .serve_quotes(error(503, 0, "Service Unavailable"))
        .await;

    let failure = run(&world, &[("CMC_MAX_ATTEMPTS", "3")]).await.unwrap_err();

    assert_eq!(world.cmc_requests().await.len(), 3);
    assert_eq!(failure.error_type, "CmcOutOfTime");
    assert!(
        failure
            .error_message
            .contains("after 3 attempts (the retry limit was reached)"),
        "{}",
        failure.error_message
    );
    assert!(
        failure.error_message.contains("HTTP 503"),
        "{}",
        failure.error_message
    );
    assert_nothing_written(&world).await;
}

#[tokio::test]
async fn a_200_with_a_client_error_code_writes_nothing() {
    let world = World::new().await;
    world
        .serve_quotes(error(200, 400, "Invalid value for \"id\": \"abc\""))
        .await;

    let failure = run(&world, &[]).await.unwrap_err();

    assert_eq!(failure.error_type, "CmcApiError");
    assert!(
        failure
            .error_message
            .contains("error 400: Invalid value for \"id\""),
        "{}",
        failure.error_message
    );
    assert_eq!(world.cmc_requests().await.len(), 1);
    assert_nothing_written(&world).await;
}

#[tokio::test]
async fn a_200_carrying_a_5xx_error_code_is_retried_then_writes_one_object() {
    // GIVEN CMC first answers HTTP 200 whose body says error 500, "system is busy"
    let world = World::new().await;
    world
        .serve_quotes_once(error(
            200,
            500,
            "The system is busy, please try again later.",
        ))
        .await;
    world.serve_quotes(Market::recorded()).await;

    // WHEN the run fetches
    let summary = run(&world, &[]).await.unwrap();

    // THEN it was retried like a 5xx status and one object was written
    assert_eq!(world.cmc_requests().await.len(), 2);
    assert_eq!(world.bucket.keys().await, [summary.key]);
}

#[tokio::test]
async fn a_200_carrying_a_5xx_error_code_every_time_gives_up_as_a_server_error() {
    let world = World::new().await;
    world
        .serve_quotes(error(
            200,
            503,
            "The system is busy, please try again later.",
        ))
        .await;

    let failure = run(&world, &[("CMC_MAX_ATTEMPTS", "2")]).await.unwrap_err();

    assert_eq!(failure.error_type, "CmcOutOfTime");
    assert!(
        failure
            .error_message
            .contains("server error (HTTP 200): error 503: The system is busy"),
        "{}",
        failure.error_message
    );
    assert_eq!(world.cmc_requests().await.len(), 2);
    assert_nothing_written(&world).await;
}

#[tokio::test]
async fn a_reply_cut_mid_body_is_retried_then_writes_one_object() {
    // GIVEN the first connection to CMC drops after the headers and part of the body, and
    // the next one reaches a healthy stand-in
    let world = World::new().await;
    world.serve_quotes(Market::recorded()).await;
    let cutter = CuttingServer::start(Some(1), &world.cmc.address().to_string()).await;

    // WHEN the run fetches through it
    let summary = run(&world, &[("CMC_BASE_URL", &cutter.url())])
        .await
        .unwrap();

    // THEN the cut reply was retried on a new connection and one object was written
    assert_eq!(cutter.cut_count(), 1);
    assert_eq!(world.cmc_requests().await.len(), 1);
    assert_eq!(world.bucket.keys().await, [summary.key]);
}

#[tokio::test]
async fn a_reply_cut_every_time_gives_up_after_the_attempt_limit() {
    let world = World::new().await;
    let cutter = CuttingServer::start(None, &world.cmc.address().to_string()).await;

    let failure = run(
        &world,
        &[("CMC_BASE_URL", &cutter.url()), ("CMC_MAX_ATTEMPTS", "3")],
    )
    .await
    .unwrap_err();

    assert_eq!(failure.error_type, "CmcOutOfTime");
    for expected in [
        "gave up on CoinMarketCap after 3 attempts",
        "the retry limit was reached",
        "the connection to CoinMarketCap broke while reading its answer",
    ] {
        assert!(
            failure.error_message.contains(expected),
            "{expected:?} missing from {}",
            failure.error_message
        );
    }
    assert_eq!(cutter.cut_count(), 3);
    assert_nothing_written(&world).await;
}

#[tokio::test]
async fn malformed_json_and_html_pages_with_200_write_nothing() {
    for api in QUOTES_APIS {
        malformed_bodies_write_nothing(api).await;
    }
}

async fn malformed_bodies_write_nothing(api: QuotesApi) {
    // `data` of the other version's shape
    let (wrong_shape, shape_reason) = match api {
        QuotesApi::V2 => (
            r#"{"status": {"error_code": 0}, "data": [1, 2]}"#,
            "not an object",
        ),
        QuotesApi::V3 => (
            r#"{"status": {"error_code": 0}, "data": {"1": {"id": 1}}}"#,
            "not an array",
        ),
    };
    for (content_type, body, reason) in [
        (
            "application/json",
            r#"{"status": {"error_code": 0}, "data": {"1": {"id": 1,"#,
            "invalid JSON",
        ),
        (
            "text/html",
            "<!DOCTYPE html><html><title>Just a moment...</title></html>",
            "invalid JSON",
        ),
        (
            "application/json",
            r#"{"data": {}}"#,
            "no \"status\" object",
        ),
        (
            "application/json",
            r#"{"status": {"error_code": 0, "credit_count": 1}}"#,
            "no \"data\"",
        ),
        ("application/json", wrong_shape, shape_reason),
    ] {
        let world = World::with_api(api).await;
        world
            .serve_quotes(
                ResponseTemplate::new(200)
                    .insert_header("content-type", content_type)
                    .set_body_string(body),
            )
            .await;

        let failure = run(&world, &[]).await.unwrap_err();

        assert_eq!(failure.error_type, "CmcMalformedResponse", "{body}");
        assert!(
            failure.error_message.contains(reason),
            "{reason:?} missing from {}",
            failure.error_message
        );
        assert_eq!(
            world.cmc_requests().await.len(),
            1,
            "a malformed body is not retried"
        );
        assert_nothing_written(&world).await;
    }
}

#[tokio::test]
async fn a_slow_server_fails_the_run_before_the_invocation_deadline() {
    // GIVEN CMC takes 20 s to answer and the invocation has 3 s left
    let world = World::new().await;
    world
        .serve_quotes(ok(json!({}), 1).set_delay(Duration::from_secs(20)))
        .await;
    let app = world.app(&[("CMC_IDS", "1")]).await;
    let started = Instant::now();

    // WHEN it runs
    let failure: Diagnostic = ingest::handle(
        &app,
        invocation(
            json!({ "scheduled_time": "2024-06-01T12:35:00Z" }),
            Duration::from_secs(3),
        ),
    )
    .await
    .map_err(Diagnostic::from)
    .unwrap_err();

    // THEN it stops on its own before Lambda would kill it, says why, and writes nothing
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "returned after {:?}",
        started.elapsed()
    );
    assert_eq!(failure.error_type, "CmcOutOfTime");
    assert!(
        failure.error_message.contains("time budget"),
        "{}",
        failure.error_message
    );
    assert_nothing_written(&world).await;
}

#[tokio::test]
async fn empty_data_and_coins_without_prices_write_nothing() {
    let priceless = coin(1, "BTC", "Bitcoin", Some(1), &[("USD", json!(null))]);
    for (data, expected) in [
        (json!({}), "CoinMarketCap returned no coin for it"),
        (json!({ "1": priceless }), "no price"),
        (
            json!({ "1": { "id": 1, "symbol": "BTC", "name": "Bitcoin" } }),
            "no USD quote",
        ),
        (json!({ "1": "not a coin" }), "unreadable coin object"),
    ] {
        for api in QUOTES_APIS {
            let world = World::with_api(api).await;
            world.serve_quotes(quotes_ok(data.clone(), 1)).await;

            let failure = run(&world, &[]).await.unwrap_err();

            assert_eq!(failure.error_type, "NoUsableQuotes", "{api:?}");
            assert!(
                failure.error_message.contains(expected),
                "{expected:?} missing from {}",
                failure.error_message
            );
            assert!(
                failure.error_message.contains("nothing was written"),
                "{}",
                failure.error_message
            );
            assert_nothing_written(&world).await;
        }
    }
}

#[tokio::test]
async fn an_unreachable_api_is_retried_then_reported() {
    let world = World::new().await;
    let port = testkit::free_port();
    let base = format!("http://127.0.0.1:{port}");

    let failure = run(
        &world,
        &[("CMC_BASE_URL", &base), ("CMC_MAX_ATTEMPTS", "2")],
    )
    .await
    .unwrap_err();

    assert_eq!(failure.error_type, "CmcOutOfTime");
    assert!(
        failure
            .error_message
            .contains("could not reach CoinMarketCap"),
        "{}",
        failure.error_message
    );
    assert_nothing_written(&world).await;
}

#[tokio::test]
async fn a_missing_bucket_fails_with_the_bucket_and_key_named() {
    let world = World::new().await;
    world.serve_quotes(Market::recorded()).await;

    let failure = run(&world, &[("BUCKET_NAME", "coinlake-no-such-bucket")])
        .await
        .unwrap_err();

    assert_eq!(failure.error_type, "S3WriteFailed");
    assert!(
        failure.error_message.contains("s3://coinlake-no-such-bucket/raw/quotes/year=2024/month=06/day=01/quotes_2024-06-01_12-35-00.csv"),
        "{}",
        failure.error_message
    );
    assert!(
        failure.error_message.contains("NoSuchBucket"),
        "{}",
        failure.error_message
    );
}

#[tokio::test]
async fn a_currency_cmc_does_not_know_is_refused_without_retry() {
    let world = World::new().await;
    world
        .serve_quotes(error(400, 400, "Invalid value for \"convert\": \"XYZ\""))
        .await;

    let failure = run(&world, &[("CMC_CONVERT", "XYZ")]).await.unwrap_err();

    assert_eq!(failure.error_type, "CmcBadRequest");
    assert!(
        failure
            .error_message
            .contains("Invalid value for \"convert\": \"XYZ\""),
        "{}",
        failure.error_message
    );
    assert!(
        failure
            .error_message
            .contains("check CMC_IDS, CMC_SYMBOLS and CMC_CONVERT"),
        "{}",
        failure.error_message
    );
    assert_eq!(world.cmc_requests().await.len(), 1);
    assert_nothing_written(&world).await;
}
