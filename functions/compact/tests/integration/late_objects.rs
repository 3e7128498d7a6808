//! A raw object that lands after its day was compacted recompacts that day; any other
//! object is left to the daily run.

use crate::common::{date, quote, World};
use chrono::{TimeDelta, Utc};
use coinlake::layout::{curated_key, CuratedTable};
use serde_json::{json, Value};

fn object_created(bucket: &str, key: &str, time: chrono::DateTime<Utc>) -> Value {
    json!({
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created", "source": "aws.s3", "account": "123456789012",
        "time": time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0", "bucket": {"name": bucket},
            "object": {"key": key.replace('=', "%3D"), "size": 100, "etag": "e", "sequencer": "1"},
            "request-id": "R", "requester": "123456789012", "reason": "PutObject"
        }
    })
}

#[tokio::test]
async fn a_late_object_recompacts_its_compacted_day() {
    let world = World::new().await;
    world
        .put(
            "2024-06-01T12:00:00Z",
            &[quote(
                1,
                "USD",
                "1",
                "2024-06-01T11:59:00Z",
                "2024-06-01T12:00:00Z",
            )],
        )
        .await;
    world
        .compact("2024-06-01", "2024-06-01")
        .await
        .expect("compacted");

    let late = world
        .put(
            "2024-06-01T12:05:00Z",
            &[quote(
                1,
                "USD",
                "2",
                "2024-06-01T12:04:00Z",
                "2024-06-01T12:05:00Z",
            )],
        )
        .await;
    // The notification of an object written after the compaction.
    let arrived = Utc::now() + TimeDelta::seconds(2);
    let outcome = world
        .invoke(object_created(&world.bucket.name, &late, arrived))
        .await
        .expect("recompacted");
    assert_eq!(outcome["status"], "recompacted", "{outcome}");
    assert_eq!(outcome["day"]["rows"], 2);
    let silver = world
        .download(&curated_key(CuratedTable::Quotes, date("2024-06-01")))
        .await;
    assert_eq!(
        silver.duckdb("SELECT count(*) FROM read_parquet({file})"),
        vec![vec![json!(2)]]
    );

    // The same notification delivered again after the recompaction: nothing to do.
    let again = world
        .invoke(object_created(&world.bucket.name, &late, arrived))
        .await
        .expect("skipped");
    assert_eq!(again["status"], "skipped", "{again}");
    assert!(
        again["reason"]
            .as_str()
            .unwrap()
            .contains("built from the day's objects as they are now"),
        "{again}"
    );
}

#[tokio::test]
async fn a_klines_object_is_skipped_even_on_a_compacted_day() {
    let world = World::new().await;
    world
        .put(
            "2024-06-01T12:00:00Z",
            &[quote(
                1,
                "USD",
                "1",
                "2024-06-01T11:59:00Z",
                "2024-06-01T12:00:00Z",
            )],
        )
        .await;
    world
        .compact("2024-06-01", "2024-06-01")
        .await
        .expect("compacted");
    let klines = "raw/klines/interval=1m/year=2024/month=06/day=01/klines_2024-06-01_12-35-00.csv";
    world.bucket.put_object(klines, "symbol\n").await;
    let before = world.bucket.keys().await;

    let outcome = world
        .invoke(object_created(&world.bucket.name, klines, Utc::now()))
        .await
        .expect("skipped");

    assert_eq!(outcome["status"], "skipped", "{outcome}");
    assert!(
        outcome["reason"]
            .as_str()
            .unwrap()
            .contains("the klines dataset is not compacted"),
        "{outcome}"
    );
    assert_eq!(world.bucket.keys().await, before);
}

#[tokio::test]
async fn objects_of_days_not_compacted_or_not_over_are_left_to_the_daily_run() {
    let world = World::new().await;
    let old = world
        .put(
            "2024-06-01T12:00:00Z",
            &[quote(
                1,
                "USD",
                "1",
                "2024-06-01T11:59:00Z",
                "2024-06-01T12:00:00Z",
            )],
        )
        .await;
    let outcome = world
        .invoke(object_created(&world.bucket.name, &old, Utc::now()))
        .await
        .expect("skipped");
    assert_eq!(outcome["status"], "skipped");
    assert!(
        outcome["reason"]
            .as_str()
            .unwrap()
            .contains("has not been compacted yet"),
        "{outcome}"
    );

    let now = Utc::now();
    let today = world
        .put(
            &now.to_rfc3339(),
            &[quote(1, "USD", "1", &now.to_rfc3339(), &now.to_rfc3339())],
        )
        .await;
    let outcome = world
        .invoke(object_created(&world.bucket.name, &today, now))
        .await
        .expect("skipped");
    assert!(
        outcome["reason"].as_str().unwrap().contains("is not over"),
        "{outcome}"
    );

    let elsewhere = world
        .invoke(object_created("another-bucket", &old, now))
        .await
        .expect("skipped");
    assert!(
        elsewhere["reason"]
            .as_str()
            .unwrap()
            .contains("another-bucket"),
        "{elsewhere}"
    );

    let mut deleted = object_created(&world.bucket.name, &old, now);
    deleted["detail-type"] = json!("Object Deleted");
    assert_eq!(
        world.invoke(deleted).await.expect("ignored"),
        json!({"ignored": "Object Deleted"})
    );
    assert_eq!(
        world.bucket.keys().await.len(),
        2,
        "only the two raw objects"
    );
}
