//! The world an API test runs in: its own database on the real PostgreSQL server, migrated
//! and filled with a small market whose candles are worked out by hand in the tests, and
//! requests shaped exactly as a Lambda Function URL delivers them.

use api::App;
use chrono::{DateTime, Utc};
use coinlake::config::ApiConfig;
use flate2::read::GzDecoder;
use lambda_http::{Body, Response};
use serde_json::{json, Value};
use std::io::Read;
use testkit::TestDatabase;

pub const TOKEN: &str = "a-shared-token-for-tests";

/// The moment the tests call "now": ten minutes after the newest snapshot of the fixture.
pub const NOW: &str = "2024-06-01T13:10:00Z";

pub struct World {
    pub db: TestDatabase,
}

pub struct Answer {
    pub status: u16,
    pub headers: lambda_http::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// A quote row of the fixture; `None` metrics are stored as NULL.
pub struct Q {
    pub id: i64,
    pub symbol: &'static str,
    pub currency: &'static str,
    pub rank: Option<i64>,
    pub price: &'static str,
    pub updated: &'static str,
    pub slot: &'static str,
    pub change_24h: Option<&'static str>,
}

/// BTC (1) and ETH (1027) in USD over one hour, ETH also in BRL, an older coin also called
/// BTC (9999, last seen 25 hours before the newest snapshot) and a coin seen only three
/// days earlier.
pub fn market() -> Vec<Q> {
    let q = |id, symbol, currency, rank, price, updated, slot, change_24h| Q {
        id,
        symbol,
        currency,
        rank,
        price,
        updated,
        slot,
        change_24h,
    };
    vec![
        q(
            1,
            "BTC",
            "USD",
            Some(1),
            "67000.5",
            "2024-06-01T12:04:00Z",
            "2024-06-01T12:05:00Z",
            Some("1.5"),
        ),
        q(
            1,
            "BTC",
            "USD",
            Some(1),
            "67100",
            "2024-06-01T12:09:00Z",
            "2024-06-01T12:10:00Z",
            Some("1.6"),
        ),
        q(
            1,
            "BTC",
            "USD",
            Some(1),
            "66900.25",
            "2024-06-01T12:33:00Z",
            "2024-06-01T12:35:00Z",
            Some("-0.2"),
        ),
        q(
            1,
            "BTC",
            "USD",
            Some(1),
            "67050.125",
            "2024-06-01T12:58:00Z",
            "2024-06-01T13:00:00Z",
            Some("0.9"),
        ),
        q(
            1027,
            "ETH",
            "USD",
            Some(2),
            "3765",
            "2024-06-01T12:59:00Z",
            "2024-06-01T13:00:00Z",
            None,
        ),
        q(
            1027,
            "ETH",
            "BRL",
            Some(2),
            "19500.75",
            "2024-06-01T12:59:00Z",
            "2024-06-01T13:00:00Z",
            Some("2"),
        ),
        q(
            9999,
            "BTC",
            "USD",
            Some(3000),
            "0.001",
            "2024-05-31T11:58:00Z",
            "2024-05-31T12:00:00Z",
            None,
        ),
        q(
            52,
            "XRP",
            "USD",
            Some(7),
            "0.52",
            "2024-05-29T12:00:00Z",
            "2024-05-29T12:00:00Z",
            None,
        ),
    ]
}

/// BTC updated at 23:45 (seen by the 23:50 slot) and at 23:50, an update still current at
/// midnight: seen by the 23:55 slot and again by 00:00, a slot of the next UTC day, so
/// stored once per day.
pub fn midnight_market() -> Vec<Q> {
    let btc = |price, updated, slot| Q {
        id: 1,
        symbol: "BTC",
        currency: "USD",
        rank: Some(1),
        price,
        updated,
        slot,
        change_24h: None,
    };
    vec![
        btc("67000", "2024-05-31T23:45:00Z", "2024-05-31T23:50:00Z"),
        btc("67200", "2024-05-31T23:50:00Z", "2024-05-31T23:55:00Z"),
        btc("67200", "2024-05-31T23:50:00Z", "2024-06-01T00:00:00Z"),
    ]
}

impl World {
    /// A migrated database holding `market()`, with the 13:00 file recorded as loaded.
    pub async fn new() -> World {
        let world = World::empty().await;
        world.insert(&market()).await;
        world
            .sql(
                "INSERT INTO ingest_runs (slot_at, dataset, s3_key, status, rows_in_file, rows_inserted, rows_present, rows_rejected, started_at, finished_at)
                 VALUES ('2024-06-01T13:00:00Z', 'quotes', 'raw/quotes/year=2024/month=06/day=01/quotes_2024-06-01_13-00-00.csv', 'loaded', 3, 3, 0, 0, '2024-06-01T13:00:40Z', '2024-06-01T13:00:41Z')",
            )
            .await;
        world
    }

    /// A migrated database with no data.
    pub async fn empty() -> World {
        let db = TestDatabase::new().await;
        let mut client = db.client().await;
        coinlake::db::migrate(&mut client)
            .await
            .expect("migrations");
        World { db }
    }

    pub async fn sql(&self, sql: &str) {
        self.db.client().await.batch_execute(sql).await.expect(sql);
    }

    pub async fn insert(&self, quotes: &[Q]) {
        let client = self.db.client().await;
        for q in quotes {
            client
                .execute(
                    "SELECT ensure_quotes_partition(timezone('UTC', $1::text::timestamptz)::date)",
                    &[&q.slot],
                )
                .await
                .expect("partition of the quote's month");
            client
                .execute(
                    "INSERT INTO quotes (cmc_id, quote_currency, last_updated, observed_on, slot_at, symbol, name, slug, cmc_rank, price, percent_change_1h, percent_change_24h, market_cap, volume_24h, ingested_at, s3_key)
                     VALUES ($1, $2, $3::text::timestamptz, timezone('UTC', $4::text::timestamptz)::date, $4::text::timestamptz, $5, $5 || ' coin', lower($5), $6, $7::text::numeric, '0.1', $8::text::numeric, '1000000.5', '2000', $4::text::timestamptz, 'raw/quotes/fixture.csv')",
                    &[&q.id, &q.currency, &q.updated, &q.slot, &q.symbol, &q.rank, &q.price, &q.change_24h],
                )
                .await
                .expect("insert quote");
            client
                .execute(
                    "INSERT INTO assets (cmc_id, symbol, name, slug, first_seen, last_seen)
                     VALUES ($1, $2, $2 || ' coin', lower($2), $3::text::timestamptz, $3::text::timestamptz)
                     ON CONFLICT (cmc_id) DO UPDATE SET last_seen = greatest(assets.last_seen, excluded.last_seen)",
                    &[&q.id, &q.symbol, &q.slot],
                )
                .await
                .expect("insert asset");
        }
    }

    pub fn config(&self, extra: &[(&str, &str)]) -> ApiConfig {
        let mut vars: Vec<(String, String)> = vec![("DATABASE_URL".into(), self.db.url())];
        for (name, value) in extra {
            vars.retain(|(n, _)| n != name);
            vars.push(((*name).into(), (*value).into()));
        }
        ApiConfig::from_lookup(|name| vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()))
            .expect("valid API configuration")
    }

    pub async fn app(&self, extra: &[(&str, &str)]) -> App {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_rdsdata::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .load()
            .await;
        App::new(self.config(extra), &sdk).await.expect("app")
    }
}

/// The named fields of a JSON object, in order, to compare in one assertion.
pub fn fields<const N: usize>(object: &Value, names: [&str; N]) -> [Value; N] {
    names.map(|name| object[name].clone())
}

pub fn utc(text: &str) -> DateTime<Utc> {
    text.parse().expect("RFC 3339")
}

/// A GET as a Function URL delivers it (payload format 2.0), `target` a path with an
/// optional query string.
pub fn request(method: &str, target: &str, headers: &[(&str, &str)]) -> lambda_http::Request {
    request_with(method, target, headers, None, false)
}

/// `request` with a body, and with the caller a Function URL with `AWS_IAM` auth puts in
/// the request context when `signed`.
pub fn request_with(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    signed: bool,
) -> lambda_http::Request {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut parameters = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        parameters.insert(name.to_owned(), json!(value));
    }
    let mut header_map = serde_json::Map::new();
    header_map.insert(
        "host".into(),
        json!("abcdefghij.lambda-url.us-east-1.on.aws"),
    );
    for (name, value) in headers {
        header_map.insert(name.to_lowercase(), json!(value));
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": header_map,
        "queryStringParameters": if parameters.is_empty() { Value::Null } else { Value::Object(parameters) },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghij",
            "domainName": "abcdefghij.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghij",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "tests" },
            "requestId": "id",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jun/2024:13:10:00 +0000",
            "timeEpoch": 1717247400000u64
        },
        "isBase64Encoded": false
    });
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    if signed {
        event["requestContext"]["authorizer"] = json!({
            "iam": {
                "accessKey": "AKIAEXAMPLE",
                "accountId": "123456789012",
                "callerId": "AIDAEXAMPLE",
                "userArn": "arn:aws:iam::123456789012:user/editor",
                "userId": "AIDAEXAMPLE"
            }
        });
    }
    lambda_http::request::from_str(&event.to_string()).expect("a Function URL event")
}

fn read(response: Response<Body>) -> Answer {
    let (parts, body) = response.into_parts();
    let raw = match body {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => panic!("unexpected body kind"),
    };
    let body = if parts
        .headers
        .get("content-encoding")
        .is_some_and(|v| v == "gzip")
    {
        let mut out = Vec::new();
        GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .expect("gzip body");
        out
    } else {
        raw
    };
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

pub async fn call(app: &App, method: &str, target: &str, headers: &[(&str, &str)]) -> Answer {
    let response = api::handler::handle_at(app, request(method, target, headers), utc(NOW))
        .await
        .expect("the handler always answers");
    read(response)
}

/// A request with a JSON body (`Content-Type: application/json` unless `headers` say
/// otherwise) and the shared token.
pub async fn send(app: &App, method: &str, target: &str, body: &str) -> Answer {
    send_with(
        app,
        method,
        target,
        &[
            ("content-type", "application/json"),
            ("authorization", &format!("Bearer {TOKEN}")),
        ],
        Some(body),
        false,
    )
    .await
}

pub async fn send_with(
    app: &App,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    signed: bool,
) -> Answer {
    let request = request_with(method, target, headers, body, signed);
    let response = api::handler::handle_at(app, request, utc(NOW))
        .await
        .expect("the handler always answers");
    read(response)
}

pub async fn get(app: &App, target: &str) -> Answer {
    call(app, "GET", target, &[]).await
}

/// Open time, open, high, low, close, volume, quote volume, trades.
pub type KlineRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
);

/// ETHUSDT minutes around midnight, worked out by hand in the tests: 23:59 on the day
/// before, then 00:00, 00:01, 00:02 (nothing traded), no 00:03, 00:04 and 00:05.
pub const ETH_MINUTES: [KlineRow; 6] = [
    (
        "2024-05-31T23:59:00Z",
        "3000",
        "3010",
        "2990",
        "3005",
        "2",
        "6000",
        10,
    ),
    (
        "2024-06-01T00:00:00Z",
        "3005",
        "3020",
        "3000",
        "3010",
        "1",
        "3010",
        5,
    ),
    (
        "2024-06-01T00:01:00Z",
        "3010",
        "3015",
        "2995",
        "2996.5",
        "3",
        "9000",
        7,
    ),
    (
        "2024-06-01T00:02:00Z",
        "2996.5",
        "3001",
        "2980.25",
        "2999",
        "0",
        "0",
        0,
    ),
    (
        "2024-06-01T00:04:00Z",
        "2999",
        "3030",
        "2999",
        "3025.75",
        "4",
        "12100",
        9,
    ),
    (
        "2024-06-01T00:05:00Z",
        "3025.75",
        "3026",
        "3020",
        "3021",
        "1.5",
        "4531.5",
        3,
    ),
];

impl World {
    /// `ETH_MINUTES`, and BTCUSDT minute i (i = 0 at 12:00 on 2024-06-01) for i from 0 to
    /// 129 except 110 (13:50): close 67000 + i, volume 1, quote volume the close, so a
    /// window's mean close is 67000 plus the mean of its indexes.
    pub async fn insert_klines(&self) {
        let client = self.db.client().await;
        for (open_time, open, high, low, close, volume, quote_volume, trades) in ETH_MINUTES {
            client
                .execute(
                    "INSERT INTO klines_1m (symbol, open_time, close_time, open, high, low, close, volume, quote_volume, trades, taker_buy_base_volume, taker_buy_quote_volume, s3_key)
                     VALUES ('ETHUSDT', $1::text::timestamptz, $1::text::timestamptz + interval '59.999 seconds', $2::text::numeric, $3::text::numeric, $4::text::numeric, $5::text::numeric, $6::text::numeric, $7::text::numeric, $8, 0, 0, 'raw/klines/fixture.csv')",
                    &[&open_time, &open, &high, &low, &close, &volume, &quote_volume, &trades],
                )
                .await
                .expect("insert an ETHUSDT minute");
        }
        self.sql(
            "INSERT INTO klines_1m (symbol, open_time, close_time, open, high, low, close, volume, quote_volume, trades, taker_buy_base_volume, taker_buy_quote_volume, s3_key)
             SELECT 'BTCUSDT', t, t + interval '59.999 seconds', 67000 + i, 67000 + i + 0.5, 67000 + i - 0.5, 67000 + i, 1, 67000 + i, 1, 0, 0, 'raw/klines/fixture.csv'
             FROM generate_series(0, 129) i, LATERAL (SELECT timestamptz '2024-06-01 12:00:00+00' + i * interval '1 minute' AS t) m
             WHERE i <> 110",
        )
        .await;
    }
}
