//! The API key never appears in logs, errors or summaries: not on success, not on errors,
//! not even when a misbehaving server echoes it back.

use crate::common;

use common::{schedule, World, API_KEY};
use lambda_runtime::Diagnostic;
use serde_json::json;
use testkit::cmc::{error, Market};
use wiremock::ResponseTemplate;

#[tokio::test]
async fn the_api_key_never_reaches_logs_errors_or_summaries() {
    let (logs, _guard) = testkit::logs::capture();
    let world = World::new().await;
    let echo = format!("<html>invalid key {API_KEY}</html>");
    let echo_json = json!({ "status": { "error_code": 1001, "error_message": format!("key {API_KEY} is invalid") } });
    let responses = [
        ResponseTemplate::new(500)
            .insert_header("content-type", "text/html")
            .set_body_string(echo.clone()),
        ResponseTemplate::new(200)
            .insert_header("content-type", "text/html")
            .set_body_string(echo),
        ResponseTemplate::new(401).set_body_json(echo_json),
        error(429, 1008, "rate limited"),
    ];
    let mut seen = Vec::new();
    for response in responses {
        world.cmc.reset().await;
        world.serve_quotes(response).await;
        let app = world
            .app(&[("CMC_IDS", "1"), ("CMC_MAX_ATTEMPTS", "2")])
            .await;
        let failure = ingest::handle(&app, schedule("2024-06-01T12:35:00Z"))
            .await
            .unwrap_err();
        let shown = format!("{failure} {failure:?}");
        seen.push(format!("{shown} {:?}", Diagnostic::from(failure)));
    }
    world.cmc.reset().await;
    world.serve_quotes(Market::recorded()).await;
    let app = world.app(&[("CMC_IDS", "1")]).await;
    let summary = ingest::handle(&app, schedule("2024-06-01T12:35:00Z"))
        .await
        .unwrap();
    seen.push(serde_json::to_string(&summary).unwrap());

    let logs = logs.text();
    assert!(
        logs.contains("CoinMarketCap call failed; retrying"),
        "the capture sees the run's logs"
    );
    assert!(
        logs.contains("[redacted]"),
        "the echoed key was redacted where it was shown"
    );
    assert!(!logs.contains(API_KEY), "the key leaked into the logs");
    for text in seen {
        assert!(!text.contains(API_KEY), "the key leaked into {text}");
    }
}
