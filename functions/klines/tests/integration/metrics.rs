//! The EMF metrics the handler writes for a slot run (`coinlake::metrics`): klines
//! written, the minutes missing, the run's time.

use crate::common::{at, invocation, schedule, World};
use coinlake::metrics::Metrics;
use serde_json::Value;
use std::time::Duration;
use testkit::binance::KlineMarket;

#[tokio::test]
async fn a_slot_run_writes_its_klines_and_the_minutes_missing() {
    // GIVEN ETHUSDT has no kline for 12:31 and 12:32, and the app's metrics captured
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
                    &[at("2024-06-01T12:31:00Z"), at("2024-06-01T12:32:00Z")],
                ),
        )
        .await;
    let mut app = world.app(&[("KLINES_SYMBOLS", "BTCUSDT,ETHUSDT")]);
    let (metrics, captured) = Metrics::captured("coinlake-KlinesFunction-Test");
    app.metrics = metrics;

    // WHEN the 12:35 slot runs
    klines::handle(
        &app,
        invocation(schedule("2024-06-01T12:35:00Z"), Duration::from_secs(30)),
    )
    .await
    .unwrap();

    // THEN one line: 8 klines written, 2 minutes missing, and the run's time
    let lines = captured.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(line["Function"], "coinlake-KlinesFunction-Test");
    assert_eq!(
        (&line["RowsWritten"], &line["GapMinutes"]),
        (&8.into(), &2.into())
    );
    assert!(line["RunDuration"].as_f64().unwrap() > 0.0);
}
