//! Loading S3 snapshots: each real CMC update stored once, whatever is loaded twice or at
//! the same time.

use crate::common;

use common::{quote, s3_event, World};
use load::handler::LoadResponse;
use serde_json::json;

#[tokio::test]
async fn a_file_loads_and_loading_it_again_inserts_nothing() {
    // GIVEN a snapshot of two coins in S3
    let world = World::new().await;
    let rows = [
        quote(
            1,
            "BTC",
            "67432.12345678912345",
            "2024-06-01T12:34:00Z",
            "2024-06-01T12:35:00Z",
        ),
        quote(
            1027,
            "ETH",
            "3765",
            "2024-06-01T12:33:59.999Z",
            "2024-06-01T12:35:00Z",
        ),
    ];
    let key = world.put_snapshot("2024-06-01T12:35:00Z", &rows).await;
    let app = world.app(&[]).await;

    // WHEN its notification is handled twice
    let first = load::handle(&app, s3_event(&world.bucket.name, &[&key]))
        .await
        .unwrap();
    let second = load::handle(&app, s3_event(&world.bucket.name, &[&key]))
        .await
        .unwrap();

    // THEN the rows are stored exactly, once, and each load is in ingest_runs
    let first = serde_json::to_value(&first).unwrap();
    let second = serde_json::to_value(&second).unwrap();
    assert_eq!(
        first,
        json!({ "results": [{ "status": "loaded", "key": key, "rows": 2, "inserted": 2, "replaced": 0, "already_present": 0 }] })
    );
    assert_eq!(
        second,
        json!({ "results": [{ "status": "loaded", "key": key, "rows": 2, "inserted": 0, "replaced": 0, "already_present": 2 }] })
    );
    assert_eq!(
        world.quotes_table().await,
        [
            format!("1|USD|2024-06-01 12:34:00+00|2024-06-01 12:35:00+00|BTC|67432.12345678912345|1000.5|123456789012.123456789|19712987||11|{key}"),
            format!("1027|USD|2024-06-01 12:33:59.999+00|2024-06-01 12:35:00+00|ETH|3765|1000.5|123456789012.123456789|19712987||11|{key}"),
        ]
    );
    assert_eq!(
        world.scalar("SELECT count(*) FROM ingest_runs WHERE status = 'loaded' AND credits = 1 AND rows_in_file = 2").await,
        2
    );
    assert_eq!(
        world
            .scalar("SELECT sum(rows_inserted) FROM ingest_runs")
            .await,
        2
    );
    assert_eq!(
        world
            .scalar("SELECT sum(rows_present) FROM ingest_runs")
            .await,
        2
    );
}

#[tokio::test]
async fn two_slots_carrying_the_same_cmc_update_insert_it_once() {
    // GIVEN CMC had not updated BTC between the 12:35 and 12:40 snapshots
    let world = World::new().await;
    let first = world.put_btc("2024-06-01T12:35:00Z", "100").await;
    let second = world
        .put_snapshot(
            "2024-06-01T12:40:00Z",
            &[
                quote(
                    1,
                    "BTC",
                    "100",
                    "2024-06-01T12:34:00Z",
                    "2024-06-01T12:40:00Z",
                ),
                quote(
                    1027,
                    "ETH",
                    "5",
                    "2024-06-01T12:39:00Z",
                    "2024-06-01T12:40:00Z",
                ),
            ],
        )
        .await;
    let app = world.app(&[]).await;

    // WHEN both are loaded (in one notification)
    load::handle(&app, s3_event(&world.bucket.name, &[&first, &second]))
        .await
        .unwrap();

    // THEN BTC's update is stored once, from the slot that saw it first
    assert_eq!(world.scalar("SELECT count(*) FROM quotes").await, 2);
    assert_eq!(world.scalar("SELECT count(*) FROM quotes WHERE cmc_id = 1 AND slot_at = '2024-06-01 12:35:00+00'").await, 1);
}

#[tokio::test]
async fn two_loaders_on_the_same_files_at_once_store_each_row_once_without_deadlock() {
    // GIVEN overlapping snapshots of 300 coins, and two cold-started functions
    let world = World::new().await;
    let snapshot = |slot: &str, updated: &str| -> Vec<_> {
        (1..=300)
            .map(|id| quote(id, &format!("C{id}"), "1.5", updated, slot))
            .collect()
    };
    let a = world
        .put_snapshot(
            "2024-06-01T12:35:00Z",
            &snapshot("2024-06-01T12:35:00Z", "2024-06-01T12:34:00Z"),
        )
        .await;
    let b = world
        .put_snapshot(
            "2024-06-01T12:40:00Z",
            &snapshot("2024-06-01T12:40:00Z", "2024-06-01T12:34:00Z"),
        )
        .await;
    let (one, two) = (world.app(&[]).await, world.app(&[]).await);

    // WHEN they load the files in opposite orders, concurrently, several times
    for _ in 0..3 {
        let (x, y) = tokio::join!(
            load::handle(&one, s3_event(&world.bucket.name, &[&a, &b])),
            load::handle(&two, s3_event(&world.bucket.name, &[&b, &a])),
        );
        x.unwrap();
        y.unwrap();
    }

    // THEN each CMC update is stored once, from the earlier slot, and the runs account for
    // every row: inserted once; replaced once if the later file happened to load first
    assert_eq!(world.scalar("SELECT count(*) FROM quotes").await, 300);
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM quotes WHERE slot_at = '2024-06-01 12:35:00+00'")
            .await,
        300
    );
    assert_eq!(world.scalar("SELECT count(*) FROM assets").await, 300);
    assert_eq!(
        world
            .scalar("SELECT sum(rows_inserted) FROM ingest_runs")
            .await,
        300
    );
    let replaced = world
        .scalar("SELECT sum(rows_replaced) FROM ingest_runs")
        .await;
    assert!(replaced == 0 || replaced == 300, "{replaced}");
    assert_eq!(
        world
            .scalar("SELECT sum(rows_present + rows_replaced) FROM ingest_runs")
            .await,
        12 * 300 - 300
    );
}

#[tokio::test]
async fn assets_follow_the_newest_sighting_even_when_files_arrive_out_of_order() {
    let world = World::new().await;
    let mut renamed = quote(
        1,
        "BTC",
        "2",
        "2024-06-01T12:39:00Z",
        "2024-06-01T12:40:00Z",
    );
    renamed.name = "Bitcoin (renamed)".to_owned();
    let newer = world.put_snapshot("2024-06-01T12:40:00Z", &[renamed]).await;
    let older = world.put_btc("2024-06-01T12:35:00Z", "1").await;
    let app = world.app(&[]).await;

    load::handle(&app, s3_event(&world.bucket.name, &[&newer]))
        .await
        .unwrap();
    load::handle(&app, s3_event(&world.bucket.name, &[&older]))
        .await
        .unwrap();

    assert_eq!(
        world.assets_table().await,
        ["1|BTC|Bitcoin (renamed)|2024-06-01 12:35:00+00|2024-06-01 12:40:00+00"]
    );
    assert_eq!(world.scalar("SELECT count(*) FROM quotes").await, 2);
}

#[tokio::test]
async fn keys_this_layout_does_not_write_and_other_record_types_are_ignored() {
    let world = World::new().await;
    world.migrate().await;
    let app = world.app(&[]).await;
    let mut event = s3_event(
        &world.bucket.name,
        &[
            "athena-results/q.csv",
            "raw/quotes/year=2024/month=06/day=01/notes.txt",
            "raw/quotes/x y.csv",
        ],
    );
    event.payload["Records"][0]["eventName"] = json!("ObjectRemoved:Delete");

    let response = load::handle(&app, event).await.unwrap();

    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({ "results": [
            { "status": "ignored", "key": "raw/quotes/year=2024/month=06/day=01/notes.txt" },
            { "status": "ignored", "key": "raw/quotes/x y.csv" },
        ] })
    );
    assert_eq!(world.scalar("SELECT count(*) FROM ingest_runs").await, 0);
    let _: &LoadResponse = &response;
}

#[tokio::test]
async fn the_sample_events_parse() {
    let mut replayed = Vec::new();
    for name in [
        "s3-put.json",
        "s3-eventbridge.json",
        "replay.json",
        "replay-klines.json",
    ] {
        let path = testkit::workspace_root().join("events").join(name);
        let event: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let parsed =
            load::event::LoadEvent::parse(&event).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let load::event::LoadEvent::Replay { dataset, .. } = parsed {
            replayed.push(dataset.name());
        }
    }
    assert_eq!(replayed, ["quotes", "klines"]);
}

#[tokio::test]
async fn a_connection_the_server_closed_between_invocations_is_replaced() {
    // GIVEN a warm function whose pooled connection the server then terminates
    let world = World::new().await;
    let first = world.put_btc("2024-06-01T12:35:00Z", "1").await;
    let second = world.put_btc("2024-06-01T12:40:00Z", "2").await;
    let app = world.app(&[]).await;
    load::handle(&app, s3_event(&world.bucket.name, &[&first]))
        .await
        .unwrap();
    let terminated = world
        .scalar(&format!(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{}' AND application_name = 'coinlake') t",
            world.db.name
        ))
        .await;
    assert!(terminated >= 1, "the function's connection was terminated");

    // WHEN the next notification arrives
    load::handle(&app, s3_event(&world.bucket.name, &[&second]))
        .await
        .unwrap();

    // THEN it loads on a fresh connection
    assert_eq!(world.scalar("SELECT count(*) FROM quotes").await, 2);
}

#[tokio::test]
async fn a_coin_without_a_slug_loads_with_an_empty_one() {
    // CSV writes an empty field for it, which COPY would read as NULL into a NOT NULL column.
    let world = World::new().await;
    let mut nameless = quote(
        42,
        "NSL",
        "1",
        "2024-06-01T12:34:00Z",
        "2024-06-01T12:35:00Z",
    );
    nameless.slug = String::new();
    let key = world
        .put_snapshot("2024-06-01T12:35:00Z", &[nameless])
        .await;
    let app = world.app(&[]).await;

    load::handle(&app, s3_event(&world.bucket.name, &[&key]))
        .await
        .unwrap();

    assert_eq!(
        world
            .scalar("SELECT count(*) FROM quotes WHERE slug = ''")
            .await,
        1
    );
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM assets WHERE slug = ''")
            .await,
        1
    );
}

#[tokio::test]
async fn a_bare_notification_and_an_eventbridge_event_each_load_their_object() {
    // GIVEN two snapshots in S3
    let world = World::new().await;
    let first = world.put_btc("2024-06-01T12:35:00Z", "1").await;
    let second = world.put_btc("2024-06-01T12:40:00Z", "2").await;
    let app = world.app(&[]).await;

    // WHEN the first arrives as a notification with nothing but type, bucket and key (no
    // userIdentity, eventTime, …), and the second as S3's event routed through EventBridge
    let bare = json!({ "Records": [{
        "eventName": "ObjectCreated:Put",
        "s3": { "bucket": { "name": world.bucket.name }, "object": { "key": first.replace('=', "%3D") } }
    }]});
    let bridged = json!({
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created", "source": "aws.s3", "account": "123456789012",
        "time": "2024-06-01T12:40:03Z", "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{}", world.bucket.name)],
        "detail": {
            "version": "0", "bucket": { "name": world.bucket.name },
            "object": { "key": second, "size": 512, "etag": "d41d8cd98f00b204e9800998ecf8427e", "sequencer": "0055AED6DCD90281E5" },
            "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012", "reason": "PutObject"
        }
    });
    let mut results = Vec::new();
    for event in [bare, bridged] {
        let response = load::handle(&app, common::invocation(event)).await.unwrap();
        results.push(serde_json::to_value(response).unwrap());
    }

    // THEN each object is loaded once
    for (result, key) in results.iter().zip([&first, &second]) {
        assert_eq!(
            result,
            &json!({ "results": [{ "status": "loaded", "key": key, "rows": 1, "inserted": 1, "replaced": 0, "already_present": 0 }] })
        );
    }
    assert_eq!(world.scalar("SELECT count(*) FROM quotes").await, 2);
}
