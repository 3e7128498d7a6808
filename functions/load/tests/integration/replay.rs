//! Replays: every snapshot of a date range loaded with bounded concurrency, counted per day.

use crate::common;

use common::{quote, replay_event, World};
use lambda_runtime::Diagnostic;
use serde_json::json;

#[tokio::test]
async fn a_replay_loads_each_day_and_reports_counts_per_day() {
    // GIVEN snapshots on June 1st (three) and 3rd (one), none on the 2nd, and one of them
    // already loaded
    let world = World::new().await;
    let mut keys = Vec::new();
    for (slot, updated) in [
        ("2024-06-01T00:00:00Z", "2024-05-31T23:59:00Z"),
        ("2024-06-01T12:35:00Z", "2024-06-01T12:34:00Z"),
        ("2024-06-01T23:55:00Z", "2024-06-01T23:54:00Z"),
        ("2024-06-03T08:00:00Z", "2024-06-03T07:59:00Z"),
    ] {
        let rows = [
            quote(1, "BTC", "1", updated, slot),
            quote(1027, "ETH", "2", updated, slot),
        ];
        keys.push(world.put_snapshot(slot, &rows).await);
    }
    world
        .bucket
        .put_object(
            "raw/quotes/year=2024/month=06/day=01/readme.txt",
            "not a snapshot",
        )
        .await;
    let app = world.app(&[("LOAD_CONCURRENCY", "3")]).await;
    load::handle(&app, common::s3_event(&world.bucket.name, &[&keys[1]]))
        .await
        .unwrap();

    // WHEN June 1st to 3rd is replayed
    let summary = serde_json::to_value(
        load::handle(&app, replay_event("2024-06-01", "2024-06-03"))
            .await
            .unwrap(),
    )
    .unwrap();

    // THEN every file is loaded once and each day is accounted for
    let day = |files: u64, loaded: u64, rows: u64, inserted: u64, present: u64| json!({ "files": files, "loaded": loaded, "rows": rows, "inserted": inserted, "replaced": 0, "already_present": present, "failed": 0 });
    assert_eq!(
        summary,
        json!({
            "dataset": "quotes",
            "from": "2024-06-01",
            "to": "2024-06-03",
            "days": {
                "2024-06-01": day(3, 3, 6, 4, 2),
                "2024-06-02": day(0, 0, 0, 0, 0),
                "2024-06-03": day(1, 1, 2, 2, 0),
            },
            "total": day(4, 4, 8, 6, 2),
            "failures": [],
        })
    );
    assert_eq!(world.scalar("SELECT count(*) FROM quotes").await, 8);
}

#[tokio::test]
async fn a_rejected_file_is_listed_and_the_rest_of_the_replay_completes() {
    let world = World::new().await;
    let good = world.put_btc("2024-06-01T12:35:00Z", "1").await;
    let bad = "raw/quotes/year=2024/month=06/day=01/quotes_2024-06-01_12-40-00.csv";
    world.bucket.put_object(bad, "slot_at,cmc_id\n").await;
    let app = world.app(&[]).await;

    let summary = serde_json::to_value(
        load::handle(&app, replay_event("2024-06-01", "2024-06-01"))
            .await
            .unwrap(),
    )
    .unwrap();

    assert_eq!(summary["total"]["loaded"], 1);
    assert_eq!(summary["total"]["failed"], 1);
    assert_eq!(summary["failures"][0]["key"], bad);
    assert_eq!(summary["failures"][0]["error_type"], "FileRejected");
    assert_eq!(
        world
            .scalar(&format!(
                "SELECT count(*) FROM quotes WHERE s3_key = '{good}'"
            ))
            .await,
        1
    );
}

#[tokio::test]
async fn invalid_replay_requests_are_refused_with_the_reason() {
    let world = World::new().await;
    let app = world.app(&[]).await;
    for (payload, error_type, expected) in [
        (
            json!({ "replay": { "dataset": "quotes", "from": "2024-06-03", "to": "2024-06-01" } }),
            "InvalidReplay",
            "\"to\" is before \"from\"",
        ),
        (
            json!({ "replay": { "dataset": "quotes", "from": "2023-01-01", "to": "2024-06-01" } }),
            "InvalidReplay",
            "spans 518 days",
        ),
        (
            json!({ "replay": { "dataset": "trades", "from": "2024-06-01", "to": "2024-06-01" } }),
            "InvalidEvent",
            "unknown dataset \"trades\"",
        ),
        (
            json!({ "replay": { "dataset": "quotes", "from": "June 1st", "to": "2024-06-01" } }),
            "InvalidEvent",
            "from \"June 1st\" is not a date",
        ),
        (
            json!({ "replay": { "dataset": "quotes", "from": "2024-06-01" } }),
            "InvalidEvent",
            "missing field `to`",
        ),
        (
            json!({ "replay": { "dataset": "quotes", "from": "2024-06-01", "to": "2024-06-01", "dry_run": true } }),
            "InvalidEvent",
            "unknown field `dry_run`",
        ),
        (
            json!({ "detail-type": "Scheduled Event" }),
            "InvalidEvent",
            "unrecognised event",
        ),
        (json!("replay"), "InvalidEvent", "unrecognised event"),
    ] {
        let failure = Diagnostic::from(
            load::handle(&app, common::invocation(payload.clone()))
                .await
                .unwrap_err(),
        );
        assert_eq!(failure.error_type, error_type, "{payload}");
        assert!(
            failure.error_message.contains(expected),
            "{expected:?} missing from {}",
            failure.error_message
        );
    }
}
