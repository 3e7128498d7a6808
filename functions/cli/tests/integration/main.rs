//! The `coinlake` binary as a user runs it: against moto's S3, the archive stand-in and a
//! PostgreSQL database of its own, configured through the environment.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use std::process::{Command, Output};
use testkit::binance_archive::{daily_path, ArchiveStandin};
use testkit::{TestBucket, TestDatabase};

fn day(text: &str) -> NaiveDate {
    text.parse().expect("a date")
}

/// Runs `coinlake ARGS` with the bucket, S3 endpoint and archive of the test.
async fn coinlake(
    bucket: &TestBucket,
    archive: Option<&ArchiveStandin>,
    database: Option<&TestDatabase>,
    args: &[&str],
) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_coinlake"));
    command
        .args(args)
        .env("BUCKET_NAME", &bucket.name)
        .env("AWS_ENDPOINT_URL_S3", &bucket.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("DATABASE_URL")
        .env_remove("BINANCE_ARCHIVE_URL");
    if let Some(archive) = archive {
        command.env("BINANCE_ARCHIVE_URL", archive.uri());
    }
    if let Some(database) = database {
        command.env("DATABASE_URL", database.url());
    }
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the command ran")
        .expect("coinlake starts")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_writes_one_object_per_pair_and_day_and_prints_the_summary() {
    let archive = ArchiveStandin::start().await;
    let bucket = TestBucket::new().await;
    let output = coinlake(
        &bucket,
        Some(&archive),
        None,
        &[
            "backfill",
            "--symbols",
            "BTCUSDT,ETHUSDT",
            "--from",
            "2024-06-01",
            "--to",
            "2024-06-02",
            "--json",
        ],
    )
    .await;

    assert!(output.status.success(), "{output:?}");
    let summary: Value = serde_json::from_str(&stdout(&output)).expect("a JSON summary");
    assert_eq!(summary["rows"], 4 * 1440);
    assert_eq!(summary["remaining"], Value::Null);
    assert_eq!(bucket.keys().await.len(), 4);
    assert!(bucket
        .keys()
        .await
        .contains(&coinlake::layout::archive_day_key(
            day("2024-06-02"),
            "ETHUSDT"
        )));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_file_is_named_and_the_command_exits_non_zero() {
    let archive = ArchiveStandin::start().await;
    archive
        .wrong_checksum(&daily_path("BTCUSDT", day("2024-06-01")))
        .await;
    let bucket = TestBucket::new().await;
    let output = coinlake(
        &bucket,
        Some(&archive),
        None,
        &[
            "backfill",
            "--symbols",
            "BTCUSDT",
            "--from",
            "2024-06-01",
            "--to",
            "2024-06-02",
        ],
    )
    .await;

    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.contains("1 objects (one per pair and day), 1440 rows"),
        "{text}"
    );
    assert!(
        text.contains("failed BTCUSDT 2024-06-01 (ArchiveChecksumMismatch): BTCUSDT-1m-2024-06-01.zip does not match its CHECKSUM"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_range_is_refused_with_the_reason() {
    let bucket = TestBucket::new().await;
    let output = coinlake(
        &bucket,
        None,
        None,
        &[
            "backfill",
            "--symbols",
            "BTCUSDT",
            "--from",
            "2024-06-02",
            "--to",
            "2024-06-01",
        ],
    )
    .await;

    assert_eq!(output.status.code(), Some(2));
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("\"to\" is before \"from\""), "{error}");
    assert!(bucket.keys().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_replays_the_days_it_wrote_when_a_database_is_set() {
    let archive = ArchiveStandin::start().await;
    let bucket = TestBucket::new().await;
    let database = TestDatabase::new().await;
    let output = coinlake(
        &bucket,
        Some(&archive),
        Some(&database),
        &[
            "backfill",
            "--symbols",
            "BTCUSDT",
            "--from",
            "2024-06-01",
            "--to",
            "2024-06-01",
        ],
    )
    .await;

    // Whether each klines file loads is the load function's business; the command must
    // hand it the day's object.
    let text = stdout(&output);
    assert!(
        text.contains("replayed klines 2024-06-01..2024-06-01: 1 files"),
        "{output:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_loads_a_days_quotes_into_postgresql() {
    let bucket = TestBucket::new().await;
    let at: DateTime<Utc> = "2024-06-01T12:35:00Z".parse().expect("a time");
    bucket
        .put_snapshot(at, &testkit::synthetic::snapshot(3, at))
        .await;
    let database = TestDatabase::new().await;
    let output = coinlake(
        &bucket,
        None,
        Some(&database),
        &[
            "replay",
            "--dataset",
            "quotes",
            "--from",
            "2024-06-01",
            "--to",
            "2024-06-01",
        ],
    )
    .await;

    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout(&output).contains("1 files, 1 loaded, 3 rows"),
        "{output:?}"
    );
    let client = database.client().await;
    let count: i64 = client
        .query_one("SELECT count(*) FROM quotes", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_is_quiet_about_alerts_unless_asked_with_alerts() {
    // GIVEN three days of quotes (every coin above 1,000 USD) and a migrated database
    let bucket = TestBucket::new().await;
    for day in ["2024-06-01", "2024-06-02", "2024-06-03"] {
        let at: DateTime<Utc> = format!("{day}T12:35:00Z").parse().expect("a time");
        bucket
            .put_snapshot(at, &testkit::synthetic::snapshot(2, at))
            .await;
    }
    let database = TestDatabase::new().await;
    let replay = |from: &'static str, alerts: bool| {
        let mut args = vec![
            "replay",
            "--dataset",
            "quotes",
            "--from",
            from,
            "--to",
            from,
        ];
        if alerts {
            args.push("--alerts");
        }
        let (bucket, database) = (&bucket, &database);
        async move { coinlake(bucket, None, Some(database), &args).await }
    };
    assert!(replay("2024-06-01", false).await.status.success());
    let client = database.client().await;
    let add_rule = |cmc_id: i64| {
        format!(
            "INSERT INTO alert_rules (label, source, cmc_id, quote_currency, kind, threshold, evaluate_from) \
             VALUES ('coin {cmc_id}', 'cmc', {cmc_id}, 'USD', 'price_above', 1000, '2024-01-01T00:00:00Z')"
        )
    };

    // WHEN a rule on coin 1 sees a replay of the second day, and a rule on coin 2 a
    // replay of the third with --alerts
    client.batch_execute(&add_rule(1)).await.expect("rule 1");
    let quiet = replay("2024-06-02", false).await;
    client.batch_execute(&add_rule(2)).await.expect("rule 2");
    let loud = replay("2024-06-03", true).await;

    // THEN the quiet replay fired nothing (coin 1's rule is disarmed by it), the other
    // fired coin 2's crossing
    assert!(quiet.status.success(), "{quiet:?}");
    assert!(
        stdout(&quiet).contains("0 failed, 0 alerts fired"),
        "{quiet:?}"
    );
    assert!(loud.status.success(), "{loud:?}");
    assert!(
        stdout(&loud).contains("0 failed, 1 alerts fired"),
        "{loud:?}"
    );
    let events: Vec<String> = client
        .query("SELECT label FROM alert_events ORDER BY id", &[])
        .await
        .expect("events")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(events, ["coin 2"]);
}
