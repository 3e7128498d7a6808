//! The event shapes that start a run, the slots they name, and the events refused.

use crate::common;

use chrono::Utc;
use coinlake::layout::{object_key, Dataset};
use coinlake::slot::Slot;
use common::{at, sample_event, World};
use serde_json::json;
use testkit::binance::KlineMarket;

async fn market_world() -> World {
    let world = World::new().await;
    let from = at("2024-01-01T00:00:00Z");
    world
        .serve(KlineMarket::default().with(
            "BTCUSDT",
            from,
            from + chrono::TimeDelta::days(400),
            &[],
        ))
        .await;
    world
}

const BTC: [(&str, &str); 1] = [("KLINES_SYMBOLS", "BTCUSDT")];

#[tokio::test]
async fn the_sample_schedule_event_owns_the_slot_of_its_scheduled_time() {
    let world = market_world().await;

    let summary = world
        .invoke(&BTC, sample_event("klines-scheduled.json"))
        .await
        .unwrap();

    assert_eq!(
        summary.key,
        "raw/klines/interval=1m/year=2024/month=06/day=01/klines_2024-06-01_12-35-00.csv"
    );
    assert_eq!(world.bucket.keys().await, [summary.key]);
}

#[tokio::test]
async fn an_eventbridge_rule_event_owns_the_slot_of_its_time_across_the_year_boundary() {
    let world = market_world().await;

    let summary = world
        .invoke(&BTC, sample_event("scheduled-rule.json"))
        .await
        .unwrap();

    assert_eq!(
        summary.key,
        "raw/klines/interval=1m/year=2024/month=12/day=31/klines_2024-12-31_23-55-00.csv"
    );
    assert_eq!(summary.rows, 5);
}

#[tokio::test]
async fn a_manual_invoke_owns_the_current_slot() {
    let world = World::new().await;
    world.serve(KlineMarket::default()).await;
    let before = Slot::containing(Utc::now());

    let summary = world
        .invoke(&BTC, sample_event("klines-manual.json"))
        .await
        .unwrap();

    let after = Slot::containing(Utc::now());
    assert!(
        [
            object_key(Dataset::Klines, before),
            object_key(Dataset::Klines, after)
        ]
        .contains(&summary.key),
        "{}",
        summary.key
    );
}

#[tokio::test]
async fn an_unrecognised_event_is_refused_as_invalid_without_calling_binance() {
    let world = market_world().await;

    for payload in [
        json!({"Records": []}),
        json!({"scheduled_time": "noon"}),
        json!({"backfill": {"from": "2024-01-01", "to": "2024-01-02"}}),
    ] {
        let error = world.invoke(&BTC, payload.clone()).await.unwrap_err();
        assert_eq!(error.error_type, "InvalidEvent", "{payload}");
    }
    assert!(world.requests().await.is_empty());
    world.assert_nothing_written().await;
}
