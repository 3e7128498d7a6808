//! Many loads at once: twenty cold-started functions over overlapping files, racing their
//! migrations and their inserts. No deadlock, no duplicate, no error.

use crate::common;

use common::{quote, s3_event, World};

#[tokio::test]
async fn twenty_concurrent_loads_of_overlapping_files_store_each_update_once() {
    // GIVEN five snapshots where consecutive slots share half their CMC updates
    let world = World::new().await;
    let mut keys = Vec::new();
    for slot_index in 0..5i64 {
        let slot = format!("2024-06-01T12:{:02}:00Z", 30 + 5 * slot_index);
        let rows: Vec<_> = (1..=200)
            .map(|id| {
                // Even ids update every slot; odd ids only every other slot.
                let step = if id % 2 == 0 {
                    slot_index
                } else {
                    slot_index / 2 * 2
                };
                let updated = format!("2024-06-01T12:{:02}:00Z", 29 + 5 * step);
                quote(id, &format!("C{id}"), "1", &updated, &slot)
            })
            .collect();
        keys.push(world.put_snapshot(&slot, &rows).await);
    }
    let mut apps = Vec::new();
    for _ in 0..20 {
        apps.push(world.app(&[("LOAD_CONCURRENCY", "1")]).await);
    }

    // WHEN twenty functions each load a different rotation of the files, all at once
    let loads = apps.iter().enumerate().map(|(i, app)| {
        let mut order: Vec<&str> = keys.iter().map(String::as_str).collect();
        let files = order.len();
        order.rotate_left(i % files);
        if i % 2 == 1 {
            order.reverse();
        }
        let event = s3_event(&world.bucket.name, &order);
        async move { load::handle(app, event).await }
    });
    let results = futures::future::join_all(loads).await;

    // THEN every invocation succeeded and every distinct update is stored exactly once
    for result in &results {
        assert!(result.is_ok(), "{:?}", result.as_ref().err());
    }
    let distinct_updates = 100 * 5 + 100 * 3; // even ids: 5 updates; odd ids: slots 0, 2, 4
    assert_eq!(
        world.scalar("SELECT count(*) FROM quotes").await,
        distinct_updates
    );
    assert_eq!(
        world
            .scalar("SELECT sum(rows_inserted) FROM ingest_runs")
            .await,
        distinct_updates
    );
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM ingest_runs WHERE status = 'loaded'")
            .await,
        20 * 5
    );
    let migration_files = std::fs::read_dir(testkit::workspace_root().join("migrations"))
        .unwrap()
        .count() as i64;
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM refinery_schema_history")
            .await,
        migration_files,
        "each migration applied once"
    );
}
