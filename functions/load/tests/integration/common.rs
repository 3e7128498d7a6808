//! The world a load test runs in: its own bucket on a real S3 server, its own database on
//! the real PostgreSQL server, and the handler called as the Lambda runtime calls it.

use chrono::{DateTime, Utc};
use coinlake::config::LoadConfig;
use coinlake::decimal::DecimalText;
use coinlake::quote::QuoteRow;
use lambda_runtime::{Context, LambdaEvent};
use load::App;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};
use testkit::{TestBucket, TestDatabase};

pub struct World {
    pub bucket: TestBucket,
    pub db: TestDatabase,
}

pub fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339 time")
        .with_timezone(&Utc)
}

/// A quote as ingest writes it: `slot` observed CMC's update at `updated`.
pub fn quote(cmc_id: i64, symbol: &str, price: &str, updated: &str, slot: &str) -> QuoteRow {
    let decimal = |text: &str| DecimalText::parse(text).expect("decimal");
    QuoteRow {
        slot_at: utc(slot),
        cmc_id,
        symbol: symbol.to_owned(),
        name: format!("{symbol} coin"),
        slug: symbol.to_lowercase(),
        cmc_rank: Some(cmc_id),
        quote_currency: "USD".to_owned(),
        price: decimal(price),
        volume_24h: Some(decimal("1000.5")),
        volume_change_24h: None,
        percent_change_1h: Some(decimal("0.1")),
        percent_change_24h: Some(decimal("-1.25")),
        percent_change_7d: Some(decimal("3")),
        percent_change_30d: None,
        market_cap: Some(decimal("123456789012.123456789")),
        market_cap_dominance: None,
        fully_diluted_market_cap: None,
        circulating_supply: Some(decimal("19712987")),
        total_supply: None,
        max_supply: None,
        num_market_pairs: Some(11),
        last_updated: utc(updated),
        ingested_at: utc(slot) + chrono::TimeDelta::seconds(2),
    }
}

impl World {
    pub async fn new() -> World {
        World {
            bucket: TestBucket::new().await,
            db: TestDatabase::new().await,
        }
    }

    pub fn config(&self, extra: &[(&str, &str)]) -> LoadConfig {
        let mut vars: Vec<(String, String)> = vec![
            ("BUCKET_NAME".into(), self.bucket.name.clone()),
            ("DATABASE_URL".into(), self.db.url()),
            ("AWS_ENDPOINT_URL_S3".into(), self.bucket.endpoint.clone()),
        ];
        for (name, value) in extra {
            vars.retain(|(n, _)| n != name);
            vars.push(((*name).into(), (*value).into()));
        }
        LoadConfig::from_lookup(|name| vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()))
            .expect("test configuration is valid")
    }

    pub async fn app(&self, extra: &[(&str, &str)]) -> App {
        App::new(self.config(extra), &self.bucket.sdk)
            .await
            .expect("app starts")
    }

    /// Writes `rows` as the snapshot of `slot`, with the metadata ingest sets; returns the key.
    pub async fn put_snapshot(&self, slot: &str, rows: &[QuoteRow]) -> String {
        self.bucket.put_snapshot(utc(slot), rows).await
    }

    /// The snapshot of `slot` with one row: BTC at `price`, last updated a minute before the
    /// slot, as CMC reports a coin between two polls; returns the key.
    pub async fn put_btc(&self, slot: &str, price: &str) -> String {
        let updated = (utc(slot) - chrono::TimeDelta::minutes(1))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        self.put_snapshot(slot, &[quote(1, "BTC", price, &updated, slot)])
            .await
    }

    /// Applies the migrations, as the first load would.
    pub async fn migrate(&self) {
        let mut client = self.db.client().await;
        coinlake::db::migrate(&mut client)
            .await
            .expect("migrations apply");
    }

    /// The first column of every row of `sql`, as text.
    pub async fn texts(&self, sql: &str) -> Vec<String> {
        texts(&self.db.client().await, sql).await
    }

    /// A single-value query on the test database.
    pub async fn scalar(&self, sql: &str) -> i64 {
        self.db
            .client()
            .await
            .query_one(sql, &[])
            .await
            .expect(sql)
            .get(0)
    }

    /// Every stored quote as text, in key order: what a user would see.
    pub async fn quotes_table(&self) -> Vec<String> {
        let client = self.db.client().await;
        client
            .query(
                "SELECT format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', cmc_id, quote_currency, last_updated, \
                 slot_at, symbol, price, volume_24h, market_cap, circulating_supply, max_supply, \
                 num_market_pairs, s3_key) \
                 FROM quotes ORDER BY cmc_id, quote_currency, last_updated",
                &[],
            )
            .await
            .expect("read quotes")
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    pub async fn assets_table(&self) -> Vec<String> {
        let client = self.db.client().await;
        client
            .query("SELECT format('%s|%s|%s|%s|%s', cmc_id, symbol, name, first_seen, last_seen) FROM assets ORDER BY cmc_id", &[])
            .await
            .expect("read assets")
            .iter()
            .map(|row| row.get(0))
            .collect()
    }
}

/// The first column of every row of `sql` on `client`, as text.
pub async fn texts(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    client
        .query(sql, &[])
        .await
        .expect(sql)
        .iter()
        .map(|row| row.get(0))
        .collect()
}

pub fn invocation(payload: Value) -> LambdaEvent<Value> {
    let mut context = Context::default();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    context.deadline = now_ms + 60_000;
    LambdaEvent::new(payload, context)
}

/// An S3 `ObjectCreated:Put` notification for `keys`, URL-encoded as S3 sends them.
pub fn s3_event(bucket: &str, keys: &[&str]) -> LambdaEvent<Value> {
    let records: Vec<Value> = keys
        .iter()
        .map(|key| {
            let encoded = key.replace('=', "%3D").replace(' ', "+");
            json!({
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2024-06-01T12:35:03.000Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": { "principalId": "AWS:AROAEXAMPLE:ingest" },
                "requestParameters": { "sourceIPAddress": "127.0.0.1" },
                "responseElements": { "x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8" },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "load",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": { "principalId": "A3NL1KOZZKExample" },
                        "arn": format!("arn:aws:s3:::{bucket}")
                    },
                    "object": { "key": encoded, "size": 1024, "sequencer": "0055AED6DCD90281E5" }
                }
            })
        })
        .collect();
    invocation(json!({ "Records": records }))
}

pub fn replay_event(from: &str, to: &str) -> LambdaEvent<Value> {
    invocation(json!({ "replay": { "dataset": "quotes", "from": from, "to": to } }))
}

pub fn dataset_replay_event(dataset: &str, from: &str, to: &str) -> LambdaEvent<Value> {
    invocation(json!({ "replay": { "dataset": dataset, "from": from, "to": to } }))
}

/// The load configuration for the Data API sink, pointed at the emulator.
pub fn data_api_vars<'a>(database: &'a str, endpoint: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
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
        ("DB_NAME", database),
        ("AWS_ENDPOINT_URL_RDS_DATA", endpoint),
    ]
}
