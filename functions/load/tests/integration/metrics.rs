//! The EMF metrics the handler writes for what it loaded (`coinlake::metrics`): one line
//! per file with its row counts, load time and data age; a replay's totals without either;
//! nothing for a file that failed.

use crate::common::{quote, replay_event, s3_event, World};
use chrono::Utc;
use coinlake::metrics::Metrics;
use serde_json::{json, Value};

fn lines(captured: &coinlake::metrics::Captured) -> Vec<Value> {
    captured
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[tokio::test]
async fn each_loaded_file_writes_its_counts_load_time_and_data_age() {
    // GIVEN a snapshot of two coins for the 12:35 slot, and the app's metrics captured
    let world = World::new().await;
    let slot = "2024-06-01T12:35:00Z";
    let key = world
        .put_snapshot(
            slot,
            &[
                quote(1, "BTC", "67000", "2024-06-01T12:34:00Z", slot),
                quote(1027, "ETH", "3765", "2024-06-01T12:33:00Z", slot),
            ],
        )
        .await;
    let mut app = world.app(&[]).await;
    let (metrics, captured) = Metrics::captured("coinlake-LoadFunction-Test");
    app.metrics = metrics;

    // WHEN its notification is handled twice, then its day is replayed
    let before = Utc::now();
    for _ in 0..2 {
        load::handle(&app, s3_event(&world.bucket.name, &[&key]))
            .await
            .unwrap();
    }
    load::handle(&app, replay_event("2024-06-01", "2024-06-01"))
        .await
        .unwrap();
    let after = Utc::now();

    // THEN the first load inserted both rows, the second found them present, and the
    // replay wrote its total without a file's time or age
    let lines = lines(&captured);
    assert_eq!(lines.len(), 3, "{lines:?}");
    let counts: Vec<(u64, u64, u64)> = lines
        .iter()
        .map(|l| {
            assert_eq!(l["Function"], "coinlake-LoadFunction-Test");
            assert_eq!(l["Dataset"], "quotes");
            let n = |name: &str| l[name].as_u64().unwrap();
            (
                n("RowsInserted"),
                n("RowsReplaced"),
                n("RowsAlreadyPresent"),
            )
        })
        .collect();
    assert_eq!(counts, [(2, 0, 0), (0, 0, 2), (0, 0, 2)]);
    for line in &lines[..2] {
        // The slot's data ends at 12:35: the age is the time since then, in seconds.
        let age = line["DataAge"].as_f64().unwrap();
        let slot_start = crate::common::utc(slot);
        assert!(
            age >= (before - slot_start).num_seconds() as f64
                && age <= (after - slot_start).num_seconds() as f64 + 1.0,
            "{age}"
        );
        assert!(line["LoadDuration"].as_f64().unwrap() >= 0.0);
    }
    assert!(lines[2].get("DataAge").is_none() && lines[2].get("LoadDuration").is_none());
}

#[tokio::test]
async fn a_file_that_fails_to_load_writes_no_metrics() {
    // GIVEN a notification for a key that was never written
    let world = World::new().await;
    let mut app = world.app(&[]).await;
    let (metrics, captured) = Metrics::captured("load");
    app.metrics = metrics;
    let missing = "raw/quotes/year=2024/month=06/day=01/quotes_2024-06-01_12-40-00.csv";

    // WHEN it is handled
    let result = load::handle(&app, s3_event(&world.bucket.name, &[missing])).await;

    // THEN the invocation fails, and no line claims rows were loaded
    assert!(result.is_err());
    assert!(captured.lines().is_empty(), "{:?}", captured.lines());
}

#[tokio::test]
async fn the_alerts_event_writes_the_alerts_it_fired_and_delivered() {
    // GIVEN a stale rule on a source that never sent anything, watching since an hour ago,
    // and the load function with a topic and its metrics captured
    let world = World::new().await;
    world.migrate().await;
    let topic = testkit::sns::TestTopic::new().await;
    world
        .scalar(
            "INSERT INTO alert_rules (label, source, kind, window_minutes, evaluate_from) \
             VALUES ('no CMC data', 'cmc', 'stale', 30, now() - interval '1 hour') RETURNING id",
        )
        .await;
    let mut app = world
        .app(&[
            ("ALERT_TOPIC_ARN", topic.arn.as_str()),
            ("AWS_ENDPOINT_URL_SNS", topic.endpoint.as_str()),
        ])
        .await;
    let (metrics, captured) = Metrics::captured("coinlake-LoadFunction-Test");
    app.metrics = metrics;

    // WHEN the scheduled alerts event runs twice
    for _ in 0..2 {
        load::handle(&app, crate::common::invocation(json!({ "alerts": {} })))
            .await
            .unwrap();
    }

    // THEN the first run wrote one alert fired and one delivered, the second nothing
    let lines = lines(&captured);
    let value = |name: &str| -> Vec<u64> {
        lines
            .iter()
            .filter_map(|l| l.get(name).and_then(Value::as_u64))
            .collect()
    };
    assert_eq!(value("AlertsFired"), [1], "{lines:?}");
    assert_eq!(value("AlertsDelivered"), [1], "{lines:?}");
    assert_eq!(topic.published().await.len(), 1);
}
