//! One file end to end — S3 GET from the local S3 server, streaming parse, COPY, the
//! de-duplicating insert, commit — as the `load` handler runs it.
//!
//! Needs the local stack: `scripts/bench.sh` starts it (or run with
//! `COINLAKE_TEST_S3_ENDPOINT` set and PostgreSQL on 127.0.0.1:5432).

use chrono::{DateTime, Utc};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;
use std::time::{Duration, Instant};
use testkit::{TestBucket, TestDatabase};

fn event(bucket: &str, key: &str) -> LambdaEvent<serde_json::Value> {
    let payload = json!({ "Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2024-06-01T12:35:03.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": { "principalId": "bench" }, "requestParameters": { "sourceIPAddress": "127.0.0.1" },
        "responseElements": {},
        "s3": { "s3SchemaVersion": "1.0", "configurationId": "bench",
                "bucket": { "name": bucket, "ownerIdentity": { "principalId": "bench" }, "arn": "arn:aws:s3:::bench" },
                "object": { "key": key, "size": 1 } }
    }]});
    LambdaEvent::new(payload, Context::default())
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (bucket, db, app, key) = runtime.block_on(async {
        let bucket = TestBucket::new().await;
        let db = TestDatabase::new().await;
        let slot: DateTime<Utc> = "2024-06-01T12:35:00Z".parse().unwrap();
        let key = bucket
            .put_snapshot(slot, &testkit::synthetic::snapshot(5000, slot))
            .await;
        let vars = [
            ("BUCKET_NAME", bucket.name.clone()),
            ("DATABASE_URL", db.url()),
            ("AWS_ENDPOINT_URL_S3", bucket.endpoint.clone()),
        ];
        let config = coinlake::config::LoadConfig::from_lookup(|n| {
            vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone())
        })
        .unwrap();
        let app = load::App::new(config, &bucket.sdk).await.unwrap();
        // Warm the pool and apply the migrations outside the measurement.
        load::handle(&app, event(&bucket.name, &key)).await.unwrap();
        (bucket, db, app, key)
    });

    let mut group = c.benchmark_group("load_5000_row_file");
    group.throughput(Throughput::Elements(5000));
    group.sample_size(20);
    group.bench_function("new_rows", |b| {
        b.to_async(&runtime).iter_custom(|iterations| {
            let (app, bucket, key, db) = (&app, &bucket, &key, &db);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    db.client()
                        .await
                        .batch_execute("TRUNCATE quotes, assets")
                        .await
                        .unwrap();
                    let started = Instant::now();
                    load::handle(app, event(&bucket.name, key)).await.unwrap();
                    total += started.elapsed();
                }
                total
            }
        })
    });
    group.bench_function("all_rows_already_present", |b| {
        b.to_async(&runtime)
            .iter(|| async { load::handle(&app, event(&bucket.name, &key)).await.unwrap() })
    });
    group.finish();
}

criterion_group!(load_file, benches);
criterion_main!(load_file);
