//! One klines slot of the five default pairs end to end, through the libraries as the
//! Lambda handlers run them: the klines handler fetching 5 pairs × 5 minutes from the
//! Binance stand-in (`testkit::binance`) and writing the slot's object to the S3 server,
//! then the load handler reading that object into `klines_1m` on PostgreSQL. Measured
//! separately (fetch and write; load) and together; `klines_1m` is emptied before each
//! load, outside the timing, so every load inserts its 25 rows.
//!
//! Needs the local stack: `scripts/bench.sh klines` starts it (or run with
//! `COINLAKE_TEST_S3_ENDPOINT` set and PostgreSQL on 127.0.0.1:5432).

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use testkit::{TestBucket, TestDatabase};

/// An invocation with a minute to run, as the runtime hands it over.
fn invocation(payload: Value) -> LambdaEvent<Value> {
    let mut context = Context::default();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    context.deadline = now_ms + 60_000;
    LambdaEvent::new(payload, context)
}

struct World {
    klines: klines::App,
    load: load::App,
    bucket: TestBucket,
    db: TestDatabase,
    key: String,
    _binance: wiremock::MockServer,
}

impl World {
    async fn new() -> World {
        let bucket = TestBucket::new().await;
        let db = TestDatabase::new().await;
        let binance = common::binance().await;
        let lookup = |vars: Vec<(&'static str, String)>| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            }
        };
        let config = coinlake::config::KlinesConfig::from_lookup(lookup(vec![
            ("BUCKET_NAME", bucket.name.clone()),
            ("BINANCE_BASE_URL", binance.uri()),
            ("AWS_ENDPOINT_URL_S3", bucket.endpoint.clone()),
        ]))
        .expect("klines configuration");
        let klines = klines::App::new(config, &bucket.sdk).expect("klines app");
        let config = coinlake::config::LoadConfig::from_lookup(lookup(vec![
            ("BUCKET_NAME", bucket.name.clone()),
            ("DATABASE_URL", db.url()),
            ("AWS_ENDPOINT_URL_S3", bucket.endpoint.clone()),
        ]))
        .expect("load configuration");
        let load = load::App::new(config, &bucket.sdk).await.expect("load app");
        let world = World {
            klines,
            load,
            bucket,
            db,
            key: common::key(),
            _binance: binance,
        };
        // Warm the connections and apply the migrations outside the measurement, and
        // check that the slot is what is measured: 25 rows written, 25 inserted.
        let written = world.fetch_and_write().await;
        assert_eq!(written["rows"], common::ROWS, "{written}");
        assert_eq!(written["key"], world.key.as_str(), "{written}");
        let loaded = world.load().await;
        assert_eq!(loaded["results"][0]["inserted"], common::ROWS, "{loaded}");
        world
    }

    async fn fetch_and_write(&self) -> Value {
        let outcome = klines::handle(&self.klines, invocation(common::schedule()))
            .await
            .expect("the slot run succeeds");
        serde_json::to_value(outcome).expect("serialises")
    }

    async fn load(&self) -> Value {
        let event = common::object_created(&self.bucket.name, &self.key);
        let outcome = load::handle(&self.load, invocation(event))
            .await
            .expect("the load succeeds");
        serde_json::to_value(outcome).expect("serialises")
    }
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let world = runtime.block_on(World::new());
    let db = runtime.block_on(world.db.client());
    let size = runtime.block_on(world.bucket.get(&world.key)).body.len();
    println!("klines slot object: {size} bytes, {} rows", common::ROWS);

    let mut group = c.benchmark_group("klines_slot_5_pairs");
    group.throughput(Throughput::Elements(common::ROWS));
    group.sample_size(30);
    group.bench_function("fetch_and_write", |b| {
        b.to_async(&runtime).iter(|| world.fetch_and_write())
    });
    // The load alone, or the slot run and its load, each after the table is emptied
    // untimed.
    let timed = |with_fetch: bool| {
        let (world, db) = (&world, &db);
        move |iterations: u64| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                common::empty_klines(db).await;
                let started = Instant::now();
                if with_fetch {
                    world.fetch_and_write().await;
                }
                world.load().await;
                total += started.elapsed();
            }
            total
        }
    };
    group.bench_function("load", |b| b.to_async(&runtime).iter_custom(timed(false)));
    group.bench_function("end_to_end", |b| {
        b.to_async(&runtime).iter_custom(timed(true))
    });
    group.finish();
}

criterion_group!(slot, benches);
criterion_main!(slot);
