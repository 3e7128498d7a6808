//! The compact function's release binary compacting one synthetic day as Lambda runs it
//! (`testkit::runtime_api`), against the S3 server in `COINLAKE_TEST_S3_ENDPOINT`:
//!
//! - the invocation's duration and the process's peak RSS (VmHWM), for COINS coins in 288
//!   slots (5 is the default deployment; 5,000 is a listings day of 1.44 million rows);
//! - the day's raw and curated sizes;
//! - what a one-column, one-asset query (`SELECT price … WHERE cmc_id = 1`) over 30 such
//!   days reads: every raw object whole (CSV has no column or row-group pruning), against
//!   the Parquet footers plus the `cmc_id` and `price` chunks of the row groups whose
//!   statistics can hold the asset (what Athena's Parquet reader fetches).
//!
//! Needs `target/release/compact` (`cargo build --release -p compact`); `scripts/bench.sh`
//! builds it. Usage: `day COINS` (default 5).

use bytes::Bytes;
use chrono::{NaiveDate, TimeDelta};
use coinlake::layout::{curated_key, day_prefix, CuratedTable, Dataset};
use futures::StreamExt;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::statistics::Statistics;
use serde_json::json;
use std::time::Duration;
use testkit::runtime_api::{FunctionProcess, RuntimeApi};
use testkit::TestBucket;

const SLOTS: i64 = 288;
const QUERY_DAYS: u64 = 30;

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Bytes a Parquet reader fetches to answer `SELECT price WHERE cmc_id = asset`: the footer,
/// and the `cmc_id` and `price` chunks of every row group whose statistics admit `asset`.
fn parquet_query_bytes(file: Bytes, asset: i64) -> (u64, usize, usize) {
    let footer = {
        let tail = &file[file.len() - 8..file.len() - 4];
        u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64 + 8
    };
    let reader = SerializedFileReader::new(file).expect("a Parquet file");
    let metadata = reader.metadata();
    let mut bytes = footer;
    let mut groups_read = 0;
    for group in metadata.row_groups() {
        let column = |name: &str| {
            group
                .columns()
                .iter()
                .find(|c| c.column_path().string() == name)
                .expect("column")
        };
        let admits = match column("cmc_id").statistics() {
            Some(Statistics::Int64(s)) => {
                s.min_opt().is_none_or(|min| *min <= asset)
                    && s.max_opt().is_none_or(|max| *max >= asset)
            }
            _ => true,
        };
        if admits {
            groups_read += 1;
            bytes +=
                (column("cmc_id").compressed_size() + column("price").compressed_size()) as u64;
        }
    }
    (bytes, groups_read, metadata.num_row_groups())
}

async fn bench(coins: i64) {
    let bucket = TestBucket::new().await;
    let day = NaiveDate::from_ymd_opt(2024, 6, 1).expect("date");
    let start = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let written: Vec<String> = futures::stream::iter(0..SLOTS)
        .map(|slot| {
            let bucket = &bucket;
            async move {
                let at = start + TimeDelta::minutes(5 * slot);
                bucket
                    .put_snapshot(at, &testkit::synthetic::snapshot(coins, at))
                    .await
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let listed = bucket
        .client
        .list_objects_v2()
        .bucket(&bucket.name)
        .prefix(day_prefix(Dataset::Quotes, day))
        .send()
        .await
        .expect("list");
    let raw_bytes: u64 = listed
        .contents()
        .iter()
        .map(|o| o.size().unwrap_or(0) as u64)
        .sum();
    println!(
        "day of {coins} coins: {} raw objects, {} rows, {}",
        written.len(),
        coins * SLOTS,
        mib(raw_bytes)
    );

    let runtime = RuntimeApi::start().await;
    let started = std::time::Instant::now();
    let function = FunctionProcess::spawn(
        "compact",
        &runtime,
        &[
            ("BUCKET_NAME", bucket.name.clone()),
            ("AWS_ENDPOINT_URL", bucket.endpoint.clone()),
            ("COMPACT_DAYS_IN_PARALLEL", "1".to_owned()),
        ],
    );
    let init = runtime
        .first_poll(Duration::from_secs(20))
        .await
        .expect("the function polls for an event")
        .saturating_duration_since(started);
    let event =
        json!({"compact": {"dataset": "quotes", "from": day.to_string(), "to": day.to_string()}});
    let answer = runtime.invoke(&event, Duration::from_secs(900)).await;
    assert!(answer.ok, "{}", answer.body);
    println!(
        "compaction: {:.2} s, peak RSS {} MiB, cold start {:.1} ms",
        answer.duration.as_secs_f64(),
        function.peak_rss_kib() / 1024,
        init.as_secs_f64() * 1000.0
    );
    // What each of the day's 288 object notifications costs while the day is still going:
    // the function answers "not over" without touching S3.
    let now = chrono::Utc::now();
    let today_key =
        coinlake::layout::object_key(Dataset::Quotes, coinlake::slot::Slot::containing(now));
    let notification = json!({
        "detail-type": "Object Created", "source": "aws.s3", "time": now.to_rfc3339(),
        "detail": {"bucket": {"name": bucket.name}, "object": {"key": today_key}}
    });
    let mut skips = Vec::new();
    for _ in 0..20 {
        let skip = runtime.invoke(&notification, Duration::from_secs(10)).await;
        assert!(
            skip.ok && skip.body.contains("is not over"),
            "{}",
            skip.body
        );
        skips.push(skip.duration);
    }
    skips.sort();
    let skip_ms = skips[skips.len() / 2].as_secs_f64() * 1000.0;
    println!("an object notification during the day (skipped): p50 {skip_ms:.2} ms");
    drop(function);

    let silver = Bytes::from(
        bucket
            .get(&curated_key(CuratedTable::Quotes, day))
            .await
            .body,
    );
    let silver_len = silver.len() as u64;
    let gold = bucket
        .get(&curated_key(CuratedTable::Ohlc1d, day))
        .await
        .body;
    println!(
        "curated: silver {}, gold {} ({:.1}x smaller than raw)",
        mib(silver.len() as u64),
        mib(gold.len() as u64),
        raw_bytes as f64 / (silver.len() + gold.len()) as f64
    );
    let (query_bytes, groups_read, groups) = parquet_query_bytes(silver, 1);
    let raw_query = raw_bytes * QUERY_DAYS;
    let curated_query = query_bytes * QUERY_DAYS;
    println!(
        "one column, one asset, {QUERY_DAYS} days: raw {} in {} objects; curated {} in {QUERY_DAYS} objects ({groups_read} of {groups} row groups a day); {:.0}x fewer bytes",
        mib(raw_query),
        written.len() as u64 * QUERY_DAYS,
        mib(curated_query),
        raw_query as f64 / curated_query as f64
    );
    println!(
        "cost inputs: --compact-ms {:.1} --compact-init-ms {:.1} --notification-ms {skip_ms:.2} --curated-bytes {} --raw-objects {}",
        answer.duration.as_secs_f64() * 1000.0,
        init.as_secs_f64() * 1000.0,
        silver_len + gold.len() as u64,
        written.len()
    );
}

fn main() {
    let coins = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench(coins));
}
