//! The three event shapes that start a run, the slots they name, and the events refused.

use crate::common;

use chrono::Utc;
use coinlake::layout::{object_key, Dataset};
use coinlake::slot::Slot;
use common::{invocation, sample_event, World};
use lambda_runtime::Diagnostic;
use serde_json::{json, Value};
use std::time::Duration;
use testkit::cmc::Market;

async fn market_world() -> World {
    let world = World::new().await;
    world.serve_quotes(Market::recorded()).await;
    world
}

async fn invoke(
    world: &World,
    payload: Value,
) -> Result<coinlake::ingest::IngestSummary, Diagnostic> {
    let app = world.app(&[("CMC_IDS", "1")]).await;
    ingest::handle(&app, invocation(payload, Duration::from_secs(30)))
        .await
        .map_err(Diagnostic::from)
}

#[tokio::test]
async fn an_eventbridge_rule_event_owns_the_slot_of_its_time_across_the_year_boundary() {
    let world = market_world().await;

    let summary = invoke(&world, sample_event("scheduled-rule.json"))
        .await
        .unwrap();

    assert_eq!(
        summary.key,
        "raw/quotes/year=2024/month=12/day=31/quotes_2024-12-31_23-55-00.csv"
    );
    assert_eq!(world.bucket.keys().await, [summary.key]);
}

#[tokio::test]
async fn a_scheduler_input_owns_the_slot_of_its_scheduled_time() {
    let world = market_world().await;

    let summary = invoke(&world, sample_event("schedule-v2.json"))
        .await
        .unwrap();
    let late = invoke(
        &world,
        json!({ "scheduled_time": "2025-01-01T00:04:59.999+00:00" }),
    )
    .await
    .unwrap();
    let offset = invoke(
        &world,
        json!({ "scheduled_time": "2025-03-01T01:02:00+02:00" }),
    )
    .await
    .unwrap();

    assert_eq!(
        summary.key,
        "raw/quotes/year=2024/month=06/day=01/quotes_2024-06-01_12-35-00.csv"
    );
    assert_eq!(
        late.key,
        "raw/quotes/year=2025/month=01/day=01/quotes_2025-01-01_00-00-00.csv"
    );
    assert_eq!(
        offset.key,
        "raw/quotes/year=2025/month=02/day=28/quotes_2025-02-28_23-00-00.csv"
    );
}

#[tokio::test]
async fn a_manual_invoke_owns_the_current_slot() {
    let world = market_world().await;

    let before = Slot::containing(Utc::now());
    let summary = invoke(&world, sample_event("manual.json")).await.unwrap();
    let after = Slot::containing(Utc::now());

    // The run may straddle a five-minute boundary; its slot is one of the two.
    assert!(
        [before, after]
            .map(|s| object_key(Dataset::Quotes, s))
            .contains(&summary.key),
        "{}",
        summary.key
    );
    assert_eq!(
        invoke(&world, Value::Null).await.map(|s| s.rows).unwrap(),
        1
    );
}

#[tokio::test]
async fn unrecognised_events_are_refused_before_any_call_or_write() {
    let world = market_world().await;
    for (payload, expected) in [
        (json!([1, 2]), "got an array"),
        (json!("run"), "got a string"),
        (json!({ "Records": [] }), "keys [\"Records\"]"),
        (
            json!({ "scheduled_time": "yesterday" }),
            "scheduled_time \"yesterday\" is not an RFC 3339 time",
        ),
        (
            json!({ "scheduled_time": 1717245300 }),
            "scheduled_time 1717245300 is not an RFC 3339 time",
        ),
        (
            json!({ "detail-type": "Object Created", "source": "aws.s3", "time": "2024-06-01T12:35:00Z", "detail": {} }),
            "expected \"Scheduled Event\"",
        ),
        (
            json!({ "detail-type": "Scheduled Event", "source": "aws.events", "detail": {} }),
            "no \"time\"",
        ),
        (
            json!({ "detail-type": "Scheduled Event", "source": "aws.events", "time": "noon", "detail": {} }),
            "invalid EventBridge Scheduled Event",
        ),
        (
            json!({ "scheduled_time": "2012-12-31T23:59:00Z" }),
            "slot 2012-12-31T23:55:00Z is outside the years 2013-2100 that the Athena table's partition projection reads",
        ),
        (
            json!({ "detail-type": "Scheduled Event", "source": "aws.events", "time": "2101-01-01T00:00:00Z", "detail": {} }),
            "slot 2101-01-01T00:00:00Z is outside the years 2013-2100",
        ),
    ] {
        let failure = invoke(&world, payload.clone()).await.unwrap_err();
        assert_eq!(failure.error_type, "InvalidEvent", "{payload}");
        assert!(
            failure.error_message.contains(expected),
            "{expected:?} missing from {:?}",
            failure.error_message
        );
    }
    assert!(world.cmc_requests().await.is_empty());
    assert!(world.bucket.keys().await.is_empty());
}
