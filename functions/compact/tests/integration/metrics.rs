//! The EMF metrics the handler writes for a compaction (`coinlake::metrics`): the rows
//! and raw objects of the days it wrote, and its time; a day already up to date counts
//! nothing.

use crate::common::{quote, World};
use coinlake::metrics::Metrics;
use serde_json::Value;

#[tokio::test]
async fn a_compaction_writes_the_rows_and_objects_of_the_days_it_wrote() {
    // GIVEN two snapshots of a day, and the app's metrics captured
    let mut world = World::new().await;
    world
        .put(
            "2024-06-01T12:30:00Z",
            &[
                quote(
                    1,
                    "USD",
                    "67000",
                    "2024-06-01T12:29:00Z",
                    "2024-06-01T12:30:00Z",
                ),
                quote(
                    1027,
                    "USD",
                    "3700",
                    "2024-06-01T12:28:00Z",
                    "2024-06-01T12:30:00Z",
                ),
            ],
        )
        .await;
    world
        .put(
            "2024-06-01T12:35:00Z",
            &[quote(
                1,
                "USD",
                "67100",
                "2024-06-01T12:34:00Z",
                "2024-06-01T12:35:00Z",
            )],
        )
        .await;
    let (metrics, captured) = Metrics::captured("coinlake-CompactFunction-Test");
    world.app.metrics = metrics;

    // WHEN the day is compacted, then compacted again
    world.compact("2024-06-01", "2024-06-01").await.unwrap();
    world.compact("2024-06-01", "2024-06-01").await.unwrap();

    // THEN the first line counts three rows from two objects, the second (up to date)
    // nothing
    let lines: Vec<Value> = captured
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let counts: Vec<(u64, u64)> = lines
        .iter()
        .map(|l| {
            assert_eq!(l["Dataset"], "quotes");
            assert!(l["CompactDuration"].as_f64().unwrap() > 0.0);
            (
                l["RowsCompacted"].as_u64().unwrap(),
                l["ObjectsCompacted"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counts, [(3, 2), (0, 0)]);
}
