//! The Data API sink under the errors only the real service gives: a paused cluster
//! resuming, throttling, an unavailable writer, a commit answered with a 504, and a row
//! the database refuses. The real `aws-sdk-rdsdata` client talks to the strict emulator,
//! which runs the statements on the real PostgreSQL server and answers the scheduled faults
//! with the service's status codes and error types.

use crate::common;

use common::{quote, replay_event, s3_event, World};
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use load::App;
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use testkit::data_api::{DataApiEmulator, Fault, FaultError, Operation};

/// A migrated database behind a Data API emulator, and the load app pointed at it.
struct Aurora {
    // Declared first so the emulator (and its sessions) goes before the database is dropped.
    emulator: DataApiEmulator,
    app: App,
    world: World,
}

async fn aurora() -> Aurora {
    let world = World::new().await;
    world.migrate().await;
    let emulator = DataApiEmulator::start(&world.db.host, world.db.port).await;
    let app = world
        .app(&[
            ("DB_SINK", "data-api"),
            ("DATABASE_URL", ""),
            (
                "DB_CLUSTER_ARN",
                "arn:aws:rds:us-east-1:123456789012:cluster:coinlake",
            ),
            (
                "DB_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:coinlake-db",
            ),
            ("DB_NAME", world.db.name.as_str()),
            ("AWS_ENDPOINT_URL_RDS_DATA", emulator.endpoint.as_str()),
        ])
        .await;
    Aurora {
        emulator,
        app,
        world,
    }
}

/// A snapshot of `coins` coins at `slot`, each a CMC update of its own.
async fn snapshot(world: &World, slot: &str, coins: i64) -> String {
    let updated =
        chrono::DateTime::parse_from_rfc3339(slot).unwrap() - chrono::TimeDelta::minutes(1);
    let updated = updated.to_rfc3339();
    let rows: Vec<_> = (1..=coins)
        .map(|id| quote(id, &format!("C{id}"), "1.5", &updated, slot))
        .collect();
    world.put_snapshot(slot, &rows).await
}

impl Aurora {
    async fn runs(&self, status: &str) -> i64 {
        self.world
            .scalar(&format!(
                "SELECT count(*) FROM ingest_runs WHERE status = '{status}'"
            ))
            .await
    }

    async fn quotes(&self) -> i64 {
        self.world.scalar("SELECT count(*) FROM quotes").await
    }
}

#[tokio::test]
async fn a_resuming_cluster_is_waited_for_and_the_file_loads_once() {
    // GIVEN a paused cluster: the first three calls answer DatabaseResumingException
    let aurora = aurora().await;
    let key = snapshot(&aurora.world, "2024-06-01T12:35:00Z", 3).await;
    aurora
        .emulator
        .inject(Fault::new(Operation::BeginTransaction, FaultError::DatabaseResuming).times(3));

    // WHEN the notification is handled
    let response = load::handle(&aurora.app, s3_event(&aurora.world.bucket.name, &[&key])).await;

    // THEN the invocation succeeds after waiting, and the file is stored once
    response.unwrap();
    assert!(aurora.emulator.faults_spent());
    assert_eq!(aurora.emulator.calls(Operation::BeginTransaction), 4);
    assert_eq!(aurora.quotes().await, 3);
    assert_eq!(aurora.runs("loaded").await, 1);
    assert_eq!(aurora.runs("failed").await, 0);
}

#[tokio::test]
async fn a_replay_during_a_resume_loads_every_file_once_without_a_failed_invocation() {
    // GIVEN four snapshots over two days, one already loaded, and a cluster that pauses
    // before the replay: every operation answers "resuming" for a while
    let aurora = aurora().await;
    let mut keys = Vec::new();
    for slot in [
        "2024-06-01T00:00:00Z",
        "2024-06-01T12:35:00Z",
        "2024-06-02T08:00:00Z",
        "2024-06-02T08:05:00Z",
    ] {
        keys.push(snapshot(&aurora.world, slot, 2).await);
    }
    load::handle(
        &aurora.app,
        s3_event(&aurora.world.bucket.name, &[&keys[0]]),
    )
    .await
    .unwrap();
    aurora
        .emulator
        .inject(Fault::new(Operation::BeginTransaction, FaultError::DatabaseResuming).times(6));
    aurora
        .emulator
        .inject(Fault::new(Operation::ExecuteStatement, FaultError::DatabaseResuming).times(2));

    // WHEN the two days are replayed
    let summary = load::handle(&aurora.app, replay_event("2024-06-01", "2024-06-02"))
        .await
        .unwrap();

    // THEN every file loaded, nothing failed, and each CMC update is stored once
    let summary = serde_json::to_value(summary).unwrap();
    assert_eq!(summary["total"]["files"], 4, "{summary}");
    assert_eq!(summary["total"]["loaded"], 4, "{summary}");
    assert_eq!(summary["total"]["failed"], 0, "{summary}");
    assert_eq!(summary["total"]["already_present"], 2, "{summary}");
    assert!(aurora.emulator.faults_spent());
    assert_eq!(aurora.world.quotes_table().await.len(), 2 * 4);
    assert_eq!(aurora.runs("loaded").await, 1 + 4);
    assert_eq!(aurora.runs("failed").await, 0);
}

#[tokio::test]
async fn throttling_and_an_unavailable_service_are_retried_inside_the_transaction() {
    // GIVEN 1,500 rows (two staging batches), the second batch throttled twice and a
    // statement after it refused with 503 ServiceUnavailableError: none of them ran
    let aurora = aurora().await;
    let key = snapshot(&aurora.world, "2024-06-01T12:35:00Z", 1500).await;
    aurora.emulator.inject(
        Fault::new(Operation::BatchExecuteStatement, FaultError::Throttling)
            .skip(1)
            .times(2),
    );
    aurora
        .emulator
        .inject(Fault::new(Operation::ExecuteStatement, FaultError::ServiceUnavailable).skip(2));

    load::handle(&aurora.app, s3_event(&aurora.world.bucket.name, &[&key]))
        .await
        .unwrap();

    // Every scheduled refusal was answered and resent: nothing staged twice, nothing lost.
    assert!(aurora.emulator.faults_spent());
    assert_eq!(aurora.quotes().await, 1500);
    assert_eq!(aurora.runs("loaded").await, 1);
}

#[tokio::test]
async fn a_504_inside_the_transaction_fails_the_load_whole_and_the_retry_loads_it_once() {
    // GIVEN a writer that becomes unavailable during the staging batches: the statement
    // may have run, so it is not repeated inside the transaction
    let aurora = aurora().await;
    let key = snapshot(&aurora.world, "2024-06-01T12:35:00Z", 1500).await;
    aurora.emulator.inject(
        Fault::new(
            Operation::BatchExecuteStatement,
            FaultError::DatabaseUnavailable,
        )
        .skip(1)
        .after_running(),
    );

    let failure = Diagnostic::from(
        load::handle(&aurora.app, s3_event(&aurora.world.bucket.name, &[&key]))
            .await
            .unwrap_err(),
    );
    assert_eq!(failure.error_type, "DatabaseFailed");
    assert!(
        failure
            .error_message
            .contains("DatabaseUnavailableException"),
        "{}",
        failure.error_message
    );
    assert_eq!(aurora.quotes().await, 0, "rolled back");
    assert_eq!(aurora.runs("failed").await, 1);

    // WHEN Lambda retries the event
    load::handle(&aurora.app, s3_event(&aurora.world.bucket.name, &[&key]))
        .await
        .unwrap();
    assert_eq!(aurora.quotes().await, 1500);
    assert_eq!(aurora.runs("loaded").await, 1);
}

#[tokio::test]
async fn a_commit_answered_with_504_is_checked_so_no_row_is_lost_or_doubled() {
    // GIVEN a commit that happened although the reply was a 504
    let aurora = aurora().await;
    let first = snapshot(&aurora.world, "2024-06-01T12:35:00Z", 3).await;
    aurora.emulator.inject(
        Fault::new(
            Operation::CommitTransaction,
            FaultError::DatabaseUnavailable,
        )
        .after_running(),
    );

    // THEN the sink sees its run in ingest_runs and reports the load as done
    let loaded = load::handle(&aurora.app, s3_event(&aurora.world.bucket.name, &[&first]))
        .await
        .unwrap();
    let loaded = serde_json::to_value(loaded).unwrap();
    assert_eq!(loaded["results"][0]["inserted"], 3, "{loaded}");
    assert_eq!(aurora.quotes().await, 3);
    assert_eq!(aurora.runs("loaded").await, 1);
    assert_eq!(aurora.runs("failed").await, 0);

    // GIVEN a commit that never reached the database (504 before running)
    let second = snapshot(&aurora.world, "2024-06-01T12:40:00Z", 3).await;
    aurora.emulator.inject(Fault::new(
        Operation::CommitTransaction,
        FaultError::DatabaseUnavailable,
    ));

    // THEN the sink finds no run, rolls back, and fails the invocation for Lambda to retry
    let failure = Diagnostic::from(
        load::handle(&aurora.app, s3_event(&aurora.world.bucket.name, &[&second]))
            .await
            .unwrap_err(),
    );
    assert_eq!(failure.error_type, "DatabaseFailed");
    assert!(
        failure.error_message.contains("did not commit"),
        "{}",
        failure.error_message
    );
    assert_eq!(aurora.quotes().await, 3);
    assert_eq!(aurora.emulator.calls(Operation::RollbackTransaction), 1);

    // WHEN Lambda retries it, and S3 delivers the first notification again
    load::handle(
        &aurora.app,
        s3_event(&aurora.world.bucket.name, &[&second, &first]),
    )
    .await
    .unwrap();

    // THEN each CMC update is stored exactly once
    assert_eq!(aurora.world.quotes_table().await.len(), 3 + 3);
    assert_eq!(aurora.runs("loaded").await, 3);
    assert_eq!(
        aurora
            .world
            .scalar("SELECT sum(rows_inserted) FROM ingest_runs WHERE status = 'loaded'")
            .await,
        6
    );
}

#[tokio::test]
async fn a_row_the_database_refuses_is_recorded_as_rejected_by_both_sinks() {
    // GIVEN databases with a constraint the file breaks (an operator's CHECK) that the CSV
    // reader cannot know about
    let aurora = aurora().await;
    let direct = World::new().await;
    direct.migrate().await;
    let constraint = "ALTER TABLE quotes ADD CONSTRAINT price_not_negative CHECK (price >= 0)";
    for world in [&aurora.world, &direct] {
        world
            .db
            .client()
            .await
            .batch_execute(constraint)
            .await
            .unwrap();
    }
    let slot = "2024-06-01T12:35:00Z";
    let rows = [
        quote(1, "BTC", "67000", "2024-06-01T12:34:00Z", slot),
        quote(2, "NEG", "-1", "2024-06-01T12:34:00Z", slot),
    ];
    let key = aurora.world.put_snapshot(slot, &rows).await;
    direct.put_snapshot(slot, &rows).await;
    let direct_app = direct.app(&[]).await;

    // WHEN each sink loads it
    for (app, world) in [(&aurora.app, &aurora.world), (&direct_app, &direct)] {
        let failure = Diagnostic::from(
            load::handle(app, s3_event(&world.bucket.name, &[&key]))
                .await
                .unwrap_err(),
        );

        // THEN the file is rejected (not retried, not a database failure), nothing of it
        // is stored, and the refusal is recorded with PostgreSQL's reason
        assert_eq!(failure.error_type, "FileRejected");
        assert!(
            failure.error_message.contains("23514")
                && failure.error_message.contains("price_not_negative"),
            "{}",
            failure.error_message
        );
        assert_eq!(world.scalar("SELECT count(*) FROM quotes").await, 0);
        assert_eq!(world.scalar("SELECT count(*) FROM assets").await, 0);
        assert_eq!(
            world
                .scalar("SELECT count(*) FROM ingest_runs WHERE status = 'rejected' AND error LIKE '%23514%'")
                .await,
            1
        );
        assert_eq!(
            world
                .scalar("SELECT count(*) FROM ingest_runs WHERE status <> 'rejected'")
                .await,
            0
        );
    }
    assert_eq!(
        aurora.emulator.calls(Operation::BeginTransaction),
        2,
        "one for the load, one to record the rejection: no retry"
    );
}

/// An S3 notification whose invocation ends `seconds` from now.
fn event_due_in(bucket: &str, key: &str, seconds: u64) -> LambdaEvent<Value> {
    let mut event = s3_event(bucket, &[key]);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut context = Context::default();
    context.deadline = now_ms + seconds * 1000;
    event.context = context;
    event
}

#[tokio::test]
async fn a_cluster_that_never_resumes_fails_the_load_before_the_deadline() {
    // GIVEN a cluster that answers "resuming" to everything, and 7 s left in the invocation
    let aurora = aurora().await;
    let key = snapshot(&aurora.world, "2024-06-01T12:35:00Z", 1).await;
    aurora.emulator.inject(
        Fault::new(Operation::BeginTransaction, FaultError::DatabaseResuming).times(u32::MAX),
    );
    let started = Instant::now();

    let failure = Diagnostic::from(
        load::handle(
            &aurora.app,
            event_due_in(&aurora.world.bucket.name, &key, 7),
        )
        .await
        .unwrap_err(),
    );

    // THEN it gives up in time, saying why, and Lambda's retry (or a replay) loads it later
    assert!(
        started.elapsed() < Duration::from_secs(7),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(failure.error_type, "DatabaseFailed");
    assert!(
        failure.error_message.contains("DatabaseResumingException")
            && failure.error_message.contains("the time budget spent"),
        "{}",
        failure.error_message
    );
    assert!(aurora.emulator.calls(Operation::BeginTransaction) > 2);
    assert_eq!(aurora.quotes().await, 0);
}
