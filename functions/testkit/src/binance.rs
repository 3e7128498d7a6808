//! Binance stand-ins: klines in the shape `GET /api/v3/klines` sends them (12-element
//! arrays, decimal strings, epoch milliseconds), its error replies (`{"code": -1121,
//! "msg": "Invalid symbol."}`), 429/418 with `Retry-After`, 451, a [`KlineMarket`]
//! responder that serves a range of minutes, with gaps, as the live API pages it, and an
//! [`OpenMarket`] that serves every closed minute of any pair (the local stand-in's).

use crate::standin::query_param;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use wiremock::{Request, Respond, ResponseTemplate};

pub use coinlake::binance::KLINES_PATH;

/// What the live API reports for one klines call (weight 2) early in a minute.
pub const USED_WEIGHT: &str = "12";

/// The body Binance sends with HTTP 451 from a restricted location.
pub const RESTRICTED_MSG: &str = "Service unavailable from a restricted location according to 'b. Eligibility' in https://www.binance.com/en/terms. Please contact customer service if you believe you received this message in error.";

/// One kline for the minute opening at `open`, with plausible BTCUSDT values that vary
/// with the minute so rows are told apart.
pub fn kline(open: DateTime<Utc>) -> Value {
    let minute = open.timestamp() / 60 % 60;
    let open_ms = open.timestamp_millis();
    json!([
        open_ms,
        format!("67{minute:03}.01000000"),
        format!("67{minute:03}.90000000"),
        format!("67{minute:03}.00000000"),
        format!("67{minute:03}.55000000"),
        "12.34567000",
        open_ms + 59_999,
        "832451.12345670",
        1500 + minute,
        "6.10000000",
        "411234.50000000",
        "0"
    ])
}

/// The five klines `[start, start+5min)` as the live API sends them for a slot.
pub fn five_klines(start: DateTime<Utc>) -> Value {
    Value::Array(
        (0..5)
            .map(|i| kline(start + TimeDelta::minutes(i)))
            .collect(),
    )
}

/// HTTP 200 with `rows`, and the weight header every reply carries.
pub fn ok(rows: Value) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("x-mbx-used-weight-1m", USED_WEIGHT)
        .set_body_json(rows)
}

/// An error reply as Binance sends it.
pub fn error(http: u16, code: i64, msg: &str) -> ResponseTemplate {
    ResponseTemplate::new(http)
        .insert_header("x-mbx-used-weight-1m", USED_WEIGHT)
        .set_body_json(json!({ "code": code, "msg": msg }))
}

/// HTTP 429 (rate limit) with `Retry-After` in seconds.
pub fn rate_limited(retry_after_s: u64) -> ResponseTemplate {
    error(
        429,
        -1003,
        "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
    )
    .insert_header("retry-after", retry_after_s.to_string().as_str())
}

/// HTTP 418 (IP banned) with `Retry-After` in seconds.
pub fn banned(retry_after_s: u64) -> ResponseTemplate {
    error(
        418,
        -1003,
        "Way too much request weight used; IP banned until 1717245600000. Please use WebSocket Streams for live updates to avoid bans.",
    )
    .insert_header("retry-after", retry_after_s.to_string().as_str())
}

/// HTTP 451 from a restricted location.
pub fn restricted() -> ResponseTemplate {
    error(451, 0, RESTRICTED_MSG)
}

/// HTTP 400 for a symbol Binance does not list.
pub fn unknown_symbol() -> ResponseTemplate {
    error(400, -1121, "Invalid symbol.")
}

/// Serves `GET /api/v3/klines` from fixed minutes per symbol, honouring `startTime`,
/// `endTime` (inclusive) and `limit` as Binance does; an unlisted symbol gets -1121.
#[derive(Clone, Default)]
pub struct KlineMarket {
    minutes: BTreeMap<String, Vec<DateTime<Utc>>>,
}

impl KlineMarket {
    /// `symbol` has a kline for each minute of `[from, to)` except those in `missing`.
    pub fn with(
        mut self,
        symbol: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        missing: &[DateTime<Utc>],
    ) -> KlineMarket {
        let mut minutes = Vec::new();
        let mut at = from;
        while at < to {
            if !missing.contains(&at) {
                minutes.push(at);
            }
            at += TimeDelta::minutes(1);
        }
        self.minutes.insert(symbol.to_owned(), minutes);
        self
    }
}

impl Respond for KlineMarket {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let param = |name: &str| query_param(request, name);
        let number = |name: &str| param(name).and_then(|v| v.parse::<i64>().ok());
        let Some(minutes) = param("symbol").and_then(|s| self.minutes.get(&s)) else {
            return unknown_symbol();
        };
        let start = number("startTime").unwrap_or(i64::MIN);
        let end = number("endTime").unwrap_or(i64::MAX);
        let limit = number("limit").unwrap_or(500).clamp(1, 1000) as usize;
        let rows: Vec<Value> = minutes
            .iter()
            .filter(|m| (start..=end).contains(&m.timestamp_millis()))
            .take(limit)
            .map(|m| kline(*m))
            .collect();
        ok(Value::Array(rows))
    }
}

/// Serves `GET /api/v3/klines` for any pair name and any window: a kline for every minute
/// from `startTime` to `endTime` (inclusive) that has closed, at most `limit`, with the
/// deterministic values of [`kline`]. A name that cannot be a pair gets -1121, a request
/// without `startTime` -1102, as Binance answers them.
#[derive(Clone, Copy, Default)]
pub struct OpenMarket;

impl Respond for OpenMarket {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let param = |name: &str| query_param(request, name);
        let number = |name: &str| param(name).and_then(|v| v.parse::<i64>().ok());
        if !param("symbol").is_some_and(|s| coinlake::layout::is_pair_symbol(&s)) {
            return unknown_symbol();
        }
        let Some(start) = number("startTime").and_then(DateTime::from_timestamp_millis) else {
            return error(
                400,
                -1102,
                "Mandatory parameter 'startTime' was not sent, was empty/null, or malformed.",
            );
        };
        let limit = number("limit").unwrap_or(500).clamp(1, 1000);
        let closed = coinlake::binance::floor_minute(Utc::now()) - TimeDelta::minutes(1);
        let end = number("endTime")
            .and_then(DateTime::from_timestamp_millis)
            .unwrap_or(closed)
            .min(closed);
        let mut at = coinlake::binance::floor_minute(start);
        if at < start {
            at += TimeDelta::minutes(1);
        }
        let mut rows = Vec::new();
        while at <= end && rows.len() < limit as usize {
            rows.push(kline(at));
            at += TimeDelta::minutes(1);
        }
        ok(Value::Array(rows))
    }
}
