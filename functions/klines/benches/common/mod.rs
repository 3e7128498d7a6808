//! What both klines benches share: the slot, its market and the events that drive it.

use chrono::{DateTime, TimeDelta, Utc};
use coinlake::layout::{object_key, Dataset};
use coinlake::slot::Slot;
use serde_json::{json, Value};
use testkit::binance::{KlineMarket, KLINES_PATH};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

/// The default deployment's pairs.
pub const PAIRS: [&str; 5] = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "ADAUSDT"];
/// A slot's rows: five closed minutes of each pair.
pub const ROWS: u64 = 25;
pub const SCHEDULED: &str = "2024-06-01T12:35:00Z";

pub fn slot() -> DateTime<Utc> {
    SCHEDULED.parse().expect("slot time")
}

/// The slot's object key.
pub fn key() -> String {
    object_key(Dataset::Klines, Slot::containing(slot()))
}

/// The schedule's event for the slot.
pub fn schedule() -> Value {
    json!({ "scheduled_time": SCHEDULED })
}

/// A Binance stand-in with every minute of the slot's hour for the five pairs.
pub async fn binance() -> MockServer {
    let server = MockServer::start().await;
    let from = slot() - TimeDelta::minutes(35);
    let market = PAIRS.iter().fold(KlineMarket::default(), |m, pair| {
        m.with(pair, from, from + TimeDelta::hours(1), &[])
    });
    Mock::given(method("GET"))
        .and(path(KLINES_PATH))
        .respond_with(market)
        .mount(&server)
        .await;
    server
}

/// The S3 notification of the slot's object, as `load` receives it.
pub fn object_created(bucket: &str, key: &str) -> Value {
    json!({ "Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2024-06-01T12:35:03.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": { "principalId": "bench" }, "requestParameters": { "sourceIPAddress": "127.0.0.1" },
        "responseElements": {},
        "s3": { "s3SchemaVersion": "1.0", "configurationId": "bench",
                "bucket": { "name": bucket, "ownerIdentity": { "principalId": "bench" }, "arn": "arn:aws:s3:::bench" },
                "object": { "key": key, "size": 1 } }
    }]})
}

/// Empties what a load of the slot writes, so every measured load inserts its 25 rows.
pub async fn empty_klines(db: &tokio_postgres::Client) {
    // Before the first load has migrated there is nothing to empty.
    let _ = db.batch_execute("TRUNCATE klines_1m, ingest_runs").await;
}
