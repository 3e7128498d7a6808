//! S3 failing while `load` reads: unreachable before the read, or the connection cut in the
//! middle of the object. Either way the invocation fails as `S3ReadFailed` (retryable, so
//! Lambda tries again), nothing of the file is in PostgreSQL, and the retry loads it once.

use crate::common::{quote, s3_event, World};
use coinlake::quote::QuoteRow;
use load::handler::HandlerError;
use serde_json::json;
use testkit::proxy::FlakyProxy;

const SLOT: &str = "2024-06-01T12:35:00Z";

/// `count` coins, one row each: several of load's 1,000-row batches.
fn rows(count: i64) -> Vec<QuoteRow> {
    (1..=count)
        .map(|id| quote(id, &format!("C{id}"), "1.5", "2024-06-01T12:34:00Z", SLOT))
        .collect()
}

/// Asserts the invocation failed with one retryable `S3ReadFailed` naming the object.
fn assert_read_failed(result: Result<load::handler::LoadResponse, HandlerError>, key: &str) {
    let Err(HandlerError::Objects { failures, .. }) = result else {
        panic!("expected a failed load, got {result:?}");
    };
    assert_eq!(failures.len(), 1);
    let failure = &failures[0];
    assert_eq!(failure.kind().as_str(), "S3ReadFailed", "{failure}");
    assert!(failure.is_transient(), "a read failure is worth a retry");
    assert!(failure.to_string().contains(key), "{failure}");
}

async fn assert_nothing_loaded(world: &World) {
    assert_eq!(world.scalar("SELECT count(*) FROM quotes").await, 0);
    assert_eq!(world.scalar("SELECT count(*) FROM assets").await, 0);
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM ingest_runs WHERE status = 'loaded'")
            .await,
        0
    );
}

async fn assert_loaded_once(world: &World, app: &load::App, key: &str, count: u64) {
    let response = load::handle(app, s3_event(&world.bucket.name, &[key]))
        .await
        .expect("the retry loads");
    assert_eq!(
        serde_json::to_value(response).unwrap(),
        json!({ "results": [{ "status": "loaded", "key": key, "rows": count, "inserted": count, "replaced": 0, "already_present": 0 }] })
    );
    assert_eq!(
        world.scalar("SELECT count(*) FROM quotes").await,
        count as i64
    );
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM ingest_runs WHERE status = 'loaded'")
            .await,
        1
    );
}

#[tokio::test]
async fn s3_unreachable_when_the_read_starts_fails_retryably_and_the_retry_loads_once() {
    // GIVEN a snapshot, and S3 reached through a proxy that is down
    let world = World::new().await;
    world.migrate().await;
    let key = world.put_snapshot(SLOT, &rows(3)).await;
    let s3 = FlakyProxy::start(world.bucket.endpoint.trim_start_matches("http://")).await;
    let app = world.app(&[("AWS_ENDPOINT_URL_S3", &s3.url())]).await;
    s3.go_down();

    // WHEN its notification is handled
    let result = load::handle(&app, s3_event(&world.bucket.name, &[&key])).await;

    // THEN S3ReadFailed, retryable, nothing stored; Lambda's retry after S3 is back loads once
    assert_read_failed(result, &key);
    assert_nothing_loaded(&world).await;
    s3.come_back();
    assert_loaded_once(&world, &app, &key, 3).await;
}

#[tokio::test]
async fn a_connection_cut_in_the_middle_of_the_object_leaves_nothing_and_the_retry_loads_once() {
    // GIVEN a snapshot of 5,000 rows (five batches), and S3 reached through a proxy that
    // cuts each connection after half the object, so two batches were already streamed
    // into the database when the read fails
    let world = World::new().await;
    world.migrate().await;
    let key = world.put_snapshot(SLOT, &rows(5000)).await;
    let size = world.bucket.get(&key).await.body.len();
    let s3 = FlakyProxy::start(world.bucket.endpoint.trim_start_matches("http://")).await;
    s3.cut_replies_after(Some(size as u64 / 2));
    let app = world.app(&[("AWS_ENDPOINT_URL_S3", &s3.url())]).await;

    // WHEN its notification is handled
    let result = load::handle(&app, s3_event(&world.bucket.name, &[&key])).await;

    // THEN S3ReadFailed, retryable, and not one row of the file stored
    assert_read_failed(result, &key);
    assert_nothing_loaded(&world).await;
    // AND Lambda's retry, with the network whole again, loads the file exactly once
    s3.cut_replies_after(None);
    assert_loaded_once(&world, &app, &key, 5000).await;
}
