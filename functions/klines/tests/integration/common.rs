//! The world a klines test runs in: a Binance stand-in, a bucket on a real S3 server, and
//! the handler called the way the Lambda runtime calls it.

use chrono::{DateTime, Utc};
use coinlake::binance::Kline;
use coinlake::config::KlinesConfig;
use coinlake::kline_csv::{check_kline_header, decode_kline_row};
use klines::App;
use lambda_runtime::Diagnostic;
use serde_json::Value;
use std::time::Duration;
use testkit::binance::{KlineMarket, KLINES_PATH};
use testkit::TestBucket;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Respond};

/// The default pairs, in configured order.
pub const PAIRS: [&str; 5] = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "ADAUSDT"];

/// The 12:35 slot's object.
pub const KEY_1235: &str =
    "raw/klines/interval=1m/year=2024/month=06/day=01/klines_2024-06-01_12-35-00.csv";

pub struct World {
    pub binance: MockServer,
    pub bucket: TestBucket,
}

impl World {
    pub async fn new() -> World {
        World {
            binance: MockServer::start().await,
            bucket: TestBucket::new().await,
        }
    }

    /// The configuration a deployment would have, pointed at this world, plus `extra`.
    pub fn config(&self, extra: &[(&str, &str)]) -> KlinesConfig {
        let mut vars: Vec<(String, String)> = vec![
            ("BUCKET_NAME".into(), self.bucket.name.clone()),
            ("BINANCE_BASE_URL".into(), self.binance.uri()),
            ("AWS_ENDPOINT_URL_S3".into(), self.bucket.endpoint.clone()),
            ("BINANCE_RETRY_BASE_MS".into(), "10".into()),
        ];
        for (name, value) in extra {
            vars.retain(|(n, _)| n != name);
            vars.push(((*name).into(), (*value).into()));
        }
        KlinesConfig::from_lookup(|name| {
            vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
        })
        .expect("test configuration is valid")
    }

    pub fn app(&self, extra: &[(&str, &str)]) -> App {
        App::new(self.config(extra), &self.bucket.sdk).expect("app starts")
    }

    /// Answers every klines request with `response`.
    pub async fn serve(&self, response: impl Respond + 'static) {
        Mock::given(method("GET"))
            .and(path(KLINES_PATH))
            .respond_with(response)
            .mount(&self.binance)
            .await;
    }

    /// Answers the next klines request only with `response`.
    pub async fn serve_once(&self, response: impl Respond + 'static) {
        Mock::given(method("GET"))
            .and(path(KLINES_PATH))
            .respond_with(response)
            .up_to_n_times(1)
            .mount(&self.binance)
            .await;
    }

    pub async fn requests(&self) -> Vec<wiremock::Request> {
        self.binance.received_requests().await.unwrap_or_default()
    }

    /// Runs `payload` with the pairs in `extra` (or the defaults).
    pub async fn invoke(
        &self,
        extra: &[(&str, &str)],
        payload: Value,
    ) -> Result<coinlake::klines_run::KlinesSummary, Diagnostic> {
        let app = self.app(extra);
        match klines::handle(&app, invocation(payload, Duration::from_secs(30))).await {
            Ok(klines::Outcome::Slot(summary)) => Ok(summary),
            Ok(other) => panic!("a slot run's event gave {other:?}"),
            Err(error) => Err(Diagnostic::from(error)),
        }
    }

    pub async fn assert_nothing_written(&self) {
        assert_eq!(
            self.bucket.keys().await,
            Vec::<String>::new(),
            "no object may be written"
        );
    }
}

pub use testkit::invocation;

/// Every default pair with a kline for each minute of 12:00-13:00.
pub fn market() -> KlineMarket {
    PAIRS.iter().fold(KlineMarket::default(), |m, pair| {
        m.with(
            pair,
            at("2024-06-01T12:00:00Z"),
            at("2024-06-01T13:00:00Z"),
            &[],
        )
    })
}

pub fn schedule(time: &str) -> Value {
    serde_json::json!({ "scheduled_time": time })
}

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// A sample event from `events/`.
pub fn sample_event(name: &str) -> Value {
    let path = testkit::workspace_root().join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("sample event exists"))
        .expect("sample event is JSON")
}

/// The object's klines, read back with the klines CSV contract.
pub fn decode(body: &[u8]) -> Vec<Kline> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body);
    let mut records = reader.byte_records();
    let header = records.next().expect("a header row").expect("CSV");
    check_kline_header(&header).expect("the klines header");
    records
        .enumerate()
        .map(|(i, record)| {
            decode_kline_row(&record.expect("CSV"), i as u64 + 2).expect("a kline row")
        })
        .collect()
}
