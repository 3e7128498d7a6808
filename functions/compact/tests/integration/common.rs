//! The world a compaction test runs in: its own bucket, its own database, the handler
//! called as the Lambda runtime calls it, and DuckDB to read what it wrote.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use coinlake::config::{CompactConfig, LoadConfig};
use coinlake::db::Database;
use coinlake::decimal::DecimalText;
use coinlake::load::Loader;
use coinlake::quote::QuoteRow;
use coinlake::sink::AnySink;
use coinlake::store::S3Reader;
use compact::App;
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use testkit::{TestBucket, TestDatabase};

pub struct World {
    pub bucket: TestBucket,
    pub db: TestDatabase,
    pub app: App,
}

pub fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339 time")
        .to_utc()
}

pub fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
}

/// A quote as ingest writes it: `slot` observed CMC's update of `cmc_id` at `updated`.
pub fn quote(cmc_id: i64, currency: &str, price: &str, updated: &str, slot: &str) -> QuoteRow {
    let decimal = |text: &str| DecimalText::parse(text).expect("decimal");
    let (symbol, name) = match cmc_id {
        1 => ("BTC", "Bitcoin"),
        1027 => ("ETH", "Ethereum"),
        _ => ("QC", "Quote, \"Comma\" \\ Coin"),
    };
    QuoteRow {
        slot_at: utc(slot),
        cmc_id,
        symbol: symbol.to_owned(),
        name: name.to_owned(),
        slug: symbol.to_lowercase(),
        cmc_rank: (cmc_id < 5000).then_some(cmc_id),
        quote_currency: currency.to_owned(),
        price: decimal(price),
        volume_24h: Some(decimal("1000.5")),
        volume_change_24h: None,
        percent_change_1h: Some(decimal("0.1")),
        percent_change_24h: Some(decimal("-1.25")),
        percent_change_7d: Some(decimal("3")),
        percent_change_30d: None,
        market_cap: Some(decimal("123456789012.123456789")),
        market_cap_dominance: None,
        fully_diluted_market_cap: Some(decimal("99999999999999999999999")),
        circulating_supply: Some(decimal("19712987")),
        total_supply: None,
        max_supply: (cmc_id == 1).then(|| decimal("21000000")),
        num_market_pairs: (cmc_id != 1027).then_some(11),
        last_updated: utc(updated),
        ingested_at: utc(slot) + TimeDelta::seconds(2),
    }
}

impl World {
    pub async fn new() -> World {
        let bucket = TestBucket::new().await;
        let db = TestDatabase::new().await;
        let vars = [
            ("BUCKET_NAME", bucket.name.clone()),
            ("AWS_ENDPOINT_URL_S3", bucket.endpoint.clone()),
        ];
        let config = CompactConfig::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        })
        .expect("test configuration is valid");
        let app = App::new(config, &bucket.sdk);
        World { bucket, db, app }
    }

    pub async fn put(&self, slot: &str, rows: &[QuoteRow]) -> String {
        self.bucket.put_snapshot(utc(slot), rows).await
    }

    pub async fn invoke(&self, payload: Value) -> Result<Value, Diagnostic> {
        self.invoke_with(payload, TimeDelta::minutes(5)).await
    }

    /// Invokes with `time_left` before the invocation's deadline.
    pub async fn invoke_with(
        &self,
        payload: Value,
        time_left: TimeDelta,
    ) -> Result<Value, Diagnostic> {
        let mut context = Context::default();
        context.deadline = (Utc::now() + time_left).timestamp_millis() as u64;
        compact::handle(&self.app, LambdaEvent::new(payload, context))
            .await
            .map(|response| serde_json::to_value(response).expect("summary serialises"))
            .map_err(Diagnostic::from)
    }

    pub async fn compact(&self, from: &str, to: &str) -> Result<Value, Diagnostic> {
        self.invoke(serde_json::json!({"compact": {"dataset": "quotes", "from": from, "to": to}}))
            .await
    }

    /// Loads one raw object into the test database as the load function does.
    pub async fn load_object(&self, key: &str) {
        let url = self.db.url();
        let config = LoadConfig::from_lookup(|name| match name {
            "BUCKET_NAME" => Some(self.bucket.name.clone()),
            "DATABASE_URL" => Some(url.clone()),
            _ => None,
        })
        .expect("load configuration");
        let database = Database::open(&config.sink, 1, &self.bucket.sdk)
            .await
            .expect("database");
        let loader = Loader::new(
            S3Reader::new(self.bucket.client.clone()),
            AnySink::new(database, true),
            1,
        );
        loader
            .load_object(&self.bucket.name, key, None)
            .await
            .unwrap_or_else(|e| panic!("loading {key}: {e}"));
    }

    /// `key`'s object saved to a file DuckDB can read; the file goes with the returned guard.
    pub async fn download(&self, key: &str) -> Downloaded {
        static SEQUENCE: AtomicU32 = AtomicU32::new(0);
        let object = self.bucket.get(key).await;
        let path = std::env::temp_dir().join(format!(
            "coinlake-compact-{}-{}.parquet",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, &object.body).expect("write temp file");
        Downloaded {
            path,
            metadata: object.metadata,
        }
    }
}

/// A downloaded object, on disk until dropped.
pub struct Downloaded {
    pub path: PathBuf,
    pub metadata: std::collections::HashMap<String, String>,
}

impl Downloaded {
    pub fn duckdb(&self, sql: &str) -> Vec<Vec<Value>> {
        duckdb(sql, &self.path)
    }
}

impl Drop for Downloaded {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Runs `sql` in DuckDB (the project's .venv) with `{file}` replaced by `file`'s path;
/// every row comes back as a JSON array.
pub fn duckdb(sql: &str, file: &std::path::Path) -> Vec<Vec<Value>> {
    let python = testkit::workspace_root().join(".venv/bin/python");
    let script = r#"
import duckdb, json, sys
rows = duckdb.sql(sys.argv[1]).fetchall()
print(json.dumps([list(r) for r in rows], default=str))
"#;
    let sql = sql.replace("{file}", &format!("'{}'", file.display()));
    let output = Command::new(&python)
        .args(["-c", script, &sql])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; run scripts/setup.sh", python.display()));
    assert!(
        output.status.success(),
        "duckdb failed on {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("duckdb prints JSON")
}
