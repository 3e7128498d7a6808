//! One klines slot of the five default pairs through the release binaries as Lambda runs
//! them, against a minimal Lambda Runtime API (`testkit::runtime_api`) and the local stack:
//!
//! - klines' cold start: process start to the first poll for an event (configuration read,
//!   clients built) — Lambda's Init Duration;
//! - warm slot runs, p50 and p99: 5 pairs × 5 minutes fetched from the Binance stand-in
//!   (`testkit::binance`), one object written to the S3 server;
//! - warm loads of that object into `klines_1m` by the load binary, p50 and p99 (the table
//!   emptied between loads, outside the timing);
//! - the slot's object size, rows/s of the two together, and each process's peak RSS.
//!
//! Needs `target/release/{klines,load}` (`cargo build --release -p klines -p load`), an S3
//! server in `COINLAKE_TEST_S3_ENDPOINT` and PostgreSQL on 127.0.0.1:5432:
//! `scripts/bench.sh klines` provides all three. Usage: `lambda [COLD_STARTS] [WARM_RUNS]`
//! (defaults 20 and 50); `BENCH_LOG_DIR` and `BENCH_RUST_LOG` keep the functions' logs.

mod common;

use serde_json::Value;
use std::time::{Duration, Instant};
use testkit::runtime_api::{FunctionProcess, RuntimeApi};
use testkit::{TestBucket, TestDatabase};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Sorted durations' summary: p50, p99 and the count.
fn summary(mut durations: Vec<Duration>) -> (String, Duration) {
    durations.sort();
    let p50 = percentile(&durations, 0.5);
    let text = format!(
        "p50 {:.1} ms, p99 {:.1} ms ({} runs)",
        ms(p50),
        ms(percentile(&durations, 0.99)),
        durations.len()
    );
    (text, p50)
}

/// Invokes `event` and fails the bench unless the function answered without an error.
async fn invoke(runtime: &RuntimeApi, event: &Value) -> Duration {
    let answer = runtime.invoke(event, Duration::from_secs(60)).await;
    assert!(answer.ok, "{}", answer.body);
    answer.duration
}

async fn bench(cold_runs: usize, warm_runs: usize) {
    let bucket = TestBucket::new().await;
    let db = TestDatabase::new().await;
    let binance = common::binance().await;
    let klines_env = vec![
        ("BUCKET_NAME", bucket.name.clone()),
        ("BINANCE_BASE_URL", binance.uri()),
        ("AWS_ENDPOINT_URL", bucket.endpoint.clone()),
    ];
    // The database's credentials are beside the point here (load's own bench measures the
    // secret's fetch): the local URL reaches the same sink.
    let load_env = vec![
        ("BUCKET_NAME", bucket.name.clone()),
        ("DATABASE_URL", db.url()),
        ("AWS_ENDPOINT_URL", bucket.endpoint.clone()),
    ];
    let schedule = common::schedule();
    let key = common::key();
    let loaded = common::object_created(&bucket.name, &key);

    let mut inits = Vec::new();
    for _ in 0..cold_runs {
        let runtime = RuntimeApi::start().await;
        let started = Instant::now();
        let _function = FunctionProcess::spawn("klines", &runtime, &klines_env);
        let polled = runtime
            .first_poll(Duration::from_secs(20))
            .await
            .expect("klines polls for an event");
        inits.push(polled.saturating_duration_since(started));
        invoke(&runtime, &schedule).await;
    }
    inits.sort();
    let klines_init = percentile(&inits, 0.5);
    println!(
        "cold start, klines: median {:.1} ms, min {:.1} ms, max {:.1} ms ({cold_runs} runs)",
        ms(klines_init),
        ms(inits[0]),
        ms(inits[inits.len() - 1])
    );

    let runtime = RuntimeApi::start().await;
    let klines = FunctionProcess::spawn("klines", &runtime, &klines_env);
    let mut runs = Vec::new();
    for _ in 0..warm_runs {
        runs.push(invoke(&runtime, &schedule).await);
    }
    let (text, slot_p50) = summary(runs);
    println!("klines, slot of 5 pairs (fetch and write): {text}");
    println!("klines peak RSS: {} KiB", klines.peak_rss_kib());
    drop(klines);

    let object = bucket.get(&key).await.body;
    let rows = object.iter().filter(|b| **b == b'\n').count() - 1;
    assert_eq!(rows as u64, common::ROWS, "the slot's object holds 25 rows");
    println!("slot object: {} bytes, {rows} rows", object.len());

    let runtime = RuntimeApi::start().await;
    let load = FunctionProcess::spawn("load", &runtime, &load_env);
    let client = db.client().await;
    // The first load migrates the database; it is not one of the measured loads.
    invoke(&runtime, &loaded).await;
    let mut loads = Vec::new();
    for _ in 0..warm_runs {
        common::empty_klines(&client).await;
        loads.push(invoke(&runtime, &loaded).await);
    }
    let stored: i64 = client
        .query_one("SELECT count(*) FROM klines_1m", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(stored as u64, common::ROWS, "the last load stored the slot");
    let (text, load_p50) = summary(loads);
    println!("load, the slot's object into klines_1m: {text}");
    println!("load peak RSS: {} KiB", load.peak_rss_kib());
    drop(load);

    let total = slot_p50 + load_p50;
    println!(
        "slot end to end (p50s added): {:.1} ms, {:.0} rows/s",
        ms(total),
        common::ROWS as f64 / total.as_secs_f64()
    );
    println!(
        "cost inputs: --klines-ms {:.1} --klines-init-ms {:.1} --klines-load-ms {:.1} --klines-object-bytes {}",
        ms(slot_p50),
        ms(klines_init),
        ms(load_p50),
        object.len()
    );
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench(
        args.first().copied().unwrap_or(20),
        args.get(1).copied().unwrap_or(50),
    ));
}
