//! One file end to end — S3 GET from the local S3 server, streaming parse, COPY, the
//! de-duplicating insert, commit — as the `load` handler runs it.
//!
//! Needs the local stack: `scripts/bench.sh` starts it (or run with
//! `COINLAKE_TEST_S3_ENDPOINT` set and PostgreSQL on 127.0.0.1:5432).

use chrono::{DateTime, TimeDelta, Utc};
use coinlake::csv_codec::encode_quotes;
use coinlake::decimal::DecimalText;
use coinlake::layout::{object_key, Dataset};
use coinlake::quote::QuoteRow;
use coinlake::slot::Slot;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;
use std::time::{Duration, Instant};
use testkit::{TestBucket, TestDatabase};

pub fn rows(count: i64, slot: DateTime<Utc>) -> Vec<QuoteRow> {
    let d = |text: &str| Some(DecimalText::parse(text).unwrap());
    (1..=count)
        .map(|id| QuoteRow {
            slot_at: slot,
            cmc_id: id,
            symbol: format!("C{id}"),
            name: format!("Coin number {id}"),
            slug: format!("coin-{id}"),
            cmc_rank: Some(id),
            quote_currency: "USD".to_owned(),
            price: DecimalText::parse(&format!("{}.{:08}", 1000 + id, id * 7919 % 100_000_000))
                .unwrap(),
            volume_24h: d("24581337215.12"),
            volume_change_24h: d("-4.1274"),
            percent_change_1h: d("0.0634"),
            percent_change_24h: d("1.2387"),
            percent_change_7d: d("-2.4451"),
            percent_change_30d: d("8.9271"),
            market_cap: d("1329412345678.91"),
            market_cap_dominance: d("54.2311"),
            fully_diluted_market_cap: d("1416090592919.1"),
            circulating_supply: d("19712987"),
            total_supply: d("19712987"),
            max_supply: None,
            num_market_pairs: Some(11698),
            last_updated: slot - TimeDelta::seconds(60),
            ingested_at: slot + TimeDelta::seconds(2),
        })
        .collect()
}

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
        let key = object_key(Dataset::Quotes, Slot::containing(slot));
        let body = encode_quotes(&rows(5000, slot)).unwrap();
        bucket
            .client
            .put_object()
            .bucket(&bucket.name)
            .key(&key)
            .body(body.into())
            .send()
            .await
            .unwrap();
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
