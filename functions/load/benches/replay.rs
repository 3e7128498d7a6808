//! Replay throughput and load memory, end to end against the local stack.
//!
//!   replay [DAYS] [COINS]  seeds DAYS × 288 snapshots of COINS coins (default 30 × 100:
//!                          8,640 files, 864,000 rows), replays them through the `load`
//!                          handler, and prints files, rows, seconds and rows/s.
//!   replay memory ROWS     loads one file of ROWS rows and prints the process's peak RSS
//!                          during the load alone (VmHWM, reset before it starts).
//!
//! `LOAD_CONCURRENCY` (default 8) sets the replay's concurrency. Run by `scripts/bench.sh`.

use chrono::{DateTime, TimeDelta, Utc};

use futures::StreamExt;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;
use std::time::Instant;
use testkit::{TestBucket, TestDatabase};

async fn app(bucket: &TestBucket, db: &TestDatabase) -> load::App {
    let concurrency = std::env::var("LOAD_CONCURRENCY").unwrap_or_else(|_| "8".to_owned());
    let vars = [
        ("BUCKET_NAME", bucket.name.clone()),
        ("DATABASE_URL", db.url()),
        ("AWS_ENDPOINT_URL_S3", bucket.endpoint.clone()),
        ("LOAD_CONCURRENCY", concurrency),
    ];
    let config = coinlake::config::LoadConfig::from_lookup(|n| {
        vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone())
    })
    .unwrap();
    load::App::new(config, &bucket.sdk).await.unwrap()
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn replay(days: i64, coins: i64) {
    let bucket = TestBucket::new().await;
    let db = TestDatabase::new().await;
    let first: DateTime<Utc> = "2024-06-01T00:00:00Z".parse().unwrap();
    let slots: Vec<DateTime<Utc>> = (0..days * 288)
        .map(|i| first + TimeDelta::minutes(5 * i))
        .collect();
    let seeding = Instant::now();
    futures::stream::iter(slots.iter().copied())
        .map(|slot| {
            let bucket = &bucket;
            async move {
                bucket
                    .put_snapshot(slot, &testkit::synthetic::snapshot(coins, slot))
                    .await;
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    eprintln!(
        "seeded {} files in {:.1} s",
        slots.len(),
        seeding.elapsed().as_secs_f64()
    );
    let app = app(&bucket, &db).await;
    let last = first + TimeDelta::days(days - 1);
    let payload = json!({ "replay": { "dataset": "quotes", "from": first.format("%Y-%m-%d").to_string(), "to": last.format("%Y-%m-%d").to_string() } });

    let started = Instant::now();
    let summary = load::handle(&app, LambdaEvent::new(payload, Context::default()))
        .await
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();

    let summary = serde_json::to_value(summary).unwrap();
    let rows = summary["total"]["inserted"].as_u64().unwrap();
    assert_eq!(rows, (days * 288 * coins) as u64, "every row inserted once");
    println!(
        "replay: {} files, {rows} rows in {seconds:.1} s = {:.0} rows/s ({:.0} files/s), concurrency {}",
        summary["total"]["files"],
        rows as f64 / seconds,
        slots.len() as f64 / seconds,
        std::env::var("LOAD_CONCURRENCY").unwrap_or_else(|_| "8".to_owned())
    );
}

async fn memory(rows: i64) {
    let bucket = TestBucket::new().await;
    let db = TestDatabase::new().await;
    let slot: DateTime<Utc> = "2024-06-01T12:35:00Z".parse().unwrap();
    // The rows and their CSV are freed before the peak below is reset.
    bucket
        .put_snapshot(slot, &testkit::synthetic::snapshot(rows, slot))
        .await;
    let app = app(&bucket, &db).await;
    // Writing 5 to clear_refs resets VmHWM, so the peak below is the load's alone.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = peak_rss_kib();
    let payload =
        json!({ "replay": { "dataset": "quotes", "from": "2024-06-01", "to": "2024-06-01" } });
    load::handle(&app, LambdaEvent::new(payload, Context::default()))
        .await
        .unwrap();
    println!(
        "memory: {rows}-row file, peak RSS during the load {} KiB (at start {before} KiB)",
        peak_rss_kib()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; skip flags.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    match args.first().map(String::as_str) {
        Some("memory") => runtime.block_on(memory(
            args.get(1).and_then(|n| n.parse().ok()).unwrap_or(5000),
        )),
        _ => {
            let number = |i: usize, default: i64| {
                args.get(i).and_then(|n| n.parse().ok()).unwrap_or(default)
            };
            runtime.block_on(replay(number(0, 30), number(1, 100)))
        }
    }
}
