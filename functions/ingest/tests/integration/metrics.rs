//! The EMF metrics the handler writes for a run (`coinlake::metrics`): rows written,
//! credits used, and the fetch and write times; nothing for a run that failed.

use crate::common::{schedule, World};
use coinlake::metrics::Metrics;
use serde_json::Value;
use testkit::cmc::{error, Market};

#[tokio::test]
async fn a_run_writes_its_rows_credits_and_stage_times() {
    // GIVEN a CMC stand-in that answers; metrics captured
    let world = World::new().await;
    world.serve_quotes(Market::recorded()).await;
    let mut app = world.app(&[("CMC_IDS", "1027,1")]).await;
    let (metrics, captured) = Metrics::captured("coinlake-IngestFunction-Test");
    app.metrics = metrics;

    // WHEN the 12:35 schedule fires
    let summary = ingest::handle(&app, schedule("2024-06-01T12:35:00Z"))
        .await
        .unwrap();

    // THEN one line carries the rows and credits of the summary and both stage times
    let lines = captured.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(line["Function"], "coinlake-IngestFunction-Test");
    assert_eq!(line["RowsWritten"], 2);
    assert_eq!(line["CreditsUsed"], summary.credits);
    assert_eq!(line["FetchDuration"], summary.fetch_ms as f64);
    assert_eq!(line["WriteDuration"], summary.write_ms as f64);
}

#[tokio::test]
async fn a_failed_run_writes_no_metrics() {
    // GIVEN a CMC stand-in refusing the key
    let world = World::new().await;
    world
        .serve_quotes(error(401, 1002, "API key missing."))
        .await;
    let mut app = world.app(&[("CMC_IDS", "1")]).await;
    let (metrics, captured) = Metrics::captured("ingest");
    app.metrics = metrics;

    // WHEN the schedule fires, THEN the run fails and writes no line
    assert!(ingest::handle(&app, schedule("2024-06-01T12:35:00Z"))
        .await
        .is_err());
    assert!(captured.lines().is_empty());
}
