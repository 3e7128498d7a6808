//! Both functions' release binaries measured as Lambda runs them, against a minimal Lambda
//! Runtime API (`testkit::runtime_api`) and the local stack:
//!
//! - cold start: process start to the first poll for an event, with the configuration read
//!   and the secret fetched from the local Secrets Manager (moto) — Lambda's Init Duration;
//! - warm invocation latency, p50 and p99: ingest for 5 coins and for 5,000 listings, load
//!   for a 5-row and a 5,000-row file (tables emptied between loads, outside the timing);
//! - peak RSS of each process (VmHWM) after its largest case.
//!
//! Needs `target/release/{ingest,load}` (`cargo build --release -p ingest -p load`), an S3
//! server in `COINLAKE_TEST_S3_ENDPOINT` and PostgreSQL on 127.0.0.1:5432: `scripts/bench.sh`
//! provides all three.  Usage: `lambda [COLD_STARTS] [WARM_RUNS]` (defaults 20 and 50);
//! `BENCH_LOG_DIR` and `BENCH_RUST_LOG` keep the functions' logs for profiling.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use testkit::cmc::{any_quotes_path, coin, Market, LISTINGS_PATH};
use testkit::runtime_api::{FunctionProcess, RuntimeApi};
use testkit::{TestBucket, TestDatabase};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Median, minimum and maximum of the cold starts of `name`, and the median.
async fn cold_starts(
    name: &str,
    env: &[(&str, String)],
    event: &Value,
    runs: usize,
) -> (String, Duration) {
    let mut inits = Vec::new();
    for _ in 0..runs {
        let runtime = RuntimeApi::start().await;
        let started = Instant::now();
        let child = FunctionProcess::spawn(name, &runtime, env);
        let polled = runtime
            .first_poll(Duration::from_secs(20))
            .await
            .expect("the function polls for an event");
        inits.push(polled.saturating_duration_since(started));
        let answer = runtime.invoke(event, Duration::from_secs(30)).await;
        assert!(answer.ok, "{name}: {}", answer.body);
        drop(child);
    }
    inits.sort();
    let median = percentile(&inits, 0.5);
    let text = format!(
        "median {}, min {}, max {} ({runs} runs)",
        ms(median),
        ms(inits[0]),
        ms(inits[inits.len() - 1])
    );
    (text, median)
}

/// p50 and p99 of `runs` warm invocations of `event`, `between` running untimed before
/// each, and the p50.
async fn warm<F, Fut>(
    runtime: &RuntimeApi,
    event: &Value,
    runs: usize,
    mut between: F,
) -> (String, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut durations = Vec::new();
    for _ in 0..runs {
        between().await;
        let answer = runtime.invoke(event, Duration::from_secs(30)).await;
        assert!(answer.ok, "{}", answer.body);
        durations.push(answer.duration);
    }
    durations.sort();
    let p50 = percentile(&durations, 0.5);
    let text = format!(
        "p50 {}, p99 {} ({runs} runs)",
        ms(p50),
        ms(percentile(&durations, 0.99))
    );
    (text, p50)
}

async fn bench(cold_runs: usize, warm_runs: usize) {
    let bucket = TestBucket::new().await;
    let db = TestDatabase::new().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&bucket.sdk);
    let secret = |name: String, value: &str| {
        let secrets = secrets.clone();
        let value = value.to_owned();
        async move {
            secrets
                .create_secret()
                .name(name)
                .secret_string(value)
                .send()
                .await
                .unwrap()
                .arn
                .unwrap()
        }
    };
    let cmc_secret = secret(
        format!("{}-cmc", bucket.name),
        r#"{"api_key": "bench-key"}"#,
    )
    .await;
    let db_secret = secret(
        format!("{}-db", bucket.name),
        r#"{"username": "postgres", "password": "unused-with-trust"}"#,
    )
    .await;

    let cmc = MockServer::start().await;
    let listings: Vec<Value> = (1..=5000)
        .map(|i| {
            coin(
                i,
                &format!("C{i}"),
                &format!("Coin {i}"),
                Some(i),
                &[("USD", json!(1.5 + i as f64))],
            )
        })
        .collect();
    Mock::given(method("GET"))
        .and(path(LISTINGS_PATH))
        .respond_with(Market::new(listings))
        .mount(&cmc)
        .await;
    Mock::given(method("GET"))
        .and(any_quotes_path())
        .respond_with(Market::recorded())
        .mount(&cmc)
        .await;

    let ingest_env = |extra: &[(&'static str, &str)]| {
        let mut env = vec![
            ("BUCKET_NAME", bucket.name.clone()),
            ("CMC_API_KEY_SECRET_ARN", cmc_secret.clone()),
            ("CMC_BASE_URL", cmc.uri()),
            ("AWS_ENDPOINT_URL", bucket.endpoint.clone()),
        ];
        env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        env
    };
    let load_env = vec![
        ("BUCKET_NAME", bucket.name.clone()),
        ("DB_HOST", db.host.clone()),
        ("DB_PORT", db.port.to_string()),
        ("DB_NAME", db.name.clone()),
        ("DB_SECRET_ARN", db_secret.clone()),
        ("DB_SSLMODE", "disable".to_owned()),
        ("AWS_ENDPOINT_URL", bucket.endpoint.clone()),
    ];
    let schedule = json!({ "scheduled_time": "2024-06-01T12:35:00Z" });

    // Snapshots for load: 5 and 5,000 rows, on a day ingest's runs never write to (they
    // would overwrite the 5-row file with their 5,000 listings).
    let mut events = Vec::new();
    let mut five_row_bytes = 0;
    for (rows, at) in [(5, "2024-06-02T10:00:00Z"), (5000, "2024-06-02T10:05:00Z")] {
        let slot: DateTime<Utc> = at.parse().unwrap();
        let key = bucket
            .put_snapshot(slot, &testkit::synthetic::snapshot(rows, slot))
            .await;
        if rows == 5 {
            five_row_bytes = bucket.get(&key).await.body.len();
        }
        events.push(json!({ "Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": at, "eventName": "ObjectCreated:Put",
            "userIdentity": { "principalId": "bench" }, "requestParameters": { "sourceIPAddress": "127.0.0.1" },
            "responseElements": {},
            "s3": { "s3SchemaVersion": "1.0", "configurationId": "bench",
                    "bucket": { "name": bucket.name, "ownerIdentity": { "principalId": "x" }, "arn": "arn:aws:s3:::x" },
                    "object": { "key": key, "size": 1 } }
        }]}));
    }

    let (text, ingest_init) = cold_starts("ingest", &ingest_env(&[]), &schedule, cold_runs).await;
    println!("cold start, ingest: {text}");
    let (text, load_init) = cold_starts("load", &load_env, &events[0], cold_runs).await;
    println!("cold start, load:   {text}");

    let runtime = RuntimeApi::start().await;
    let child = FunctionProcess::spawn("ingest", &runtime, &ingest_env(&[]));
    let (text, ingest_warm) = warm(&runtime, &schedule, warm_runs, || async {}).await;
    println!("ingest, 5 coins:         {text}");
    drop(child);
    let runtime = RuntimeApi::start().await;
    let child = FunctionProcess::spawn(
        "ingest",
        &runtime,
        &ingest_env(&[("CMC_MODE", "listings"), ("CMC_LISTINGS_LIMIT", "5000")]),
    );
    let (text, _) = warm(&runtime, &schedule, warm_runs.min(20), || async {}).await;
    println!("ingest, 5,000 listings:  {text}");
    println!(
        "ingest peak RSS (5,000 listings): {} KiB",
        child.peak_rss_kib()
    );
    drop(child);

    let runtime = RuntimeApi::start().await;
    let child = FunctionProcess::spawn("load", &runtime, &load_env);
    let client = db.client().await;
    let truncate = || async {
        // Tables exist once the first load has migrated; empty them so every load inserts.
        let _ = client
            .batch_execute("TRUNCATE quotes, assets, ingest_runs")
            .await;
    };
    let (text, load_warm) = warm(&runtime, &events[0], warm_runs, truncate).await;
    println!("load, 5-row file:        {text}");
    let (text, _) = warm(&runtime, &events[1], warm_runs.min(20), truncate).await;
    println!("load, 5,000-row file:    {text}");
    println!("load peak RSS (5,000 rows): {} KiB", child.peak_rss_kib());
    drop(child);

    // The default deployment (five coins) in the arguments scripts/cost.py takes.
    let millis = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    println!(
        "cost inputs: --ingest-ms {} --ingest-init-ms {} --load-ms {} --load-init-ms {} --object-bytes {}",
        millis(ingest_warm),
        millis(ingest_init),
        millis(load_warm),
        millis(load_init),
        five_row_bytes
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
        .unwrap();
    runtime.block_on(bench(
        args.first().copied().unwrap_or(20),
        args.get(1).copied().unwrap_or(50),
    ));
}
