//! The HTTP client for `GET /api/v3/klines`: pages through a range 1000 klines at a time,
//! retries transient failures with bounded, jittered backoff, waits exactly what Binance's
//! `Retry-After` asks for after a 429 or 418, and never waits past the invocation's deadline.

use super::error::BinanceError;
use super::kline::Kline;
use super::minutes::{check_sequence, floor_minute, minute};
use crate::retry::{retry, RetryPolicy};
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::time::{Duration, Instant};

/// The most klines one request returns (Binance's maximum for `limit`).
pub const PAGE_LIMIT: usize = 1000;

pub const KLINES_PATH: &str = "/api/v3/klines";

/// Binance reports the IP's request weight used in the current minute in this header on
/// every reply; the limit is 6000 per minute per IP.
const USED_WEIGHT_HEADER: &str = "x-mbx-used-weight-1m";

const SNIPPET_CHARS: usize = 120;

pub struct BinanceClient {
    http: reqwest::Client,
    base_url: String,
    retry: RetryPolicy,
}

/// One request: a symbol and the open times `[start, end)` it asks for.
#[derive(Clone, Copy)]
struct Page<'a> {
    symbol: &'a str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl BinanceClient {
    /// `base_url`: the market-data host, [`super::DEFAULT_BASE_URL`] in production.
    pub fn new(base_url: &str, retry: RetryPolicy) -> Result<BinanceClient, reqwest::Error> {
        let http = crate::http_client::json_client(HeaderMap::new())?;
        Ok(BinanceClient {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            retry,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The closed one-minute klines of `symbol` whose open time is in `[from, to)`,
    /// ascending. Minutes not yet closed are never asked for: `to` is cut to the start of
    /// the current minute. Minutes Binance does not return are left out (see
    /// [`super::gaps`]); a reply out of order, repeated or outside the range is
    /// [`BinanceError::Malformed`].
    pub async fn klines(
        &self,
        symbol: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<Vec<Kline>, BinanceError> {
        let to = to.min(floor_minute(Utc::now()));
        let mut klines = Vec::new();
        let mut start = from;
        while start < to {
            let page = Page {
                symbol,
                start,
                end: to,
            };
            let got = self.page(page, deadline).await?;
            let full = got.len() >= PAGE_LIMIT;
            let Some(last) = got.last().map(|k| k.open_time) else {
                break;
            };
            klines.extend(got);
            if !full {
                break;
            }
            start = last + minute();
        }
        Ok(klines)
    }

    /// One request with its retries.
    async fn page(&self, page: Page<'_>, deadline: Instant) -> Result<Vec<Kline>, BinanceError> {
        let done = retry(
            &self.retry,
            deadline,
            || self.attempt(page, deadline),
            |error: &BinanceError, wait| {
                tracing::warn!(
                    symbol = page.symbol,
                    error = %error,
                    error_kind = error.kind(),
                    retry_in_ms = wait.as_millis() as u64,
                    "Binance call failed; retrying"
                );
            },
        )
        .await?;
        Ok(done.value)
    }

    async fn attempt(&self, page: Page<'_>, deadline: Instant) -> Result<Vec<Kline>, BinanceError> {
        let timeout = RetryPolicy::attempt_timeout(self.retry.request_timeout, deadline)
            .ok_or(BinanceError::NoTimeLeft)?;
        // endTime is inclusive on Binance's side; the range here is half-open.
        let end_inclusive = page.end - TimeDelta::milliseconds(1);
        let response = self
            .http
            .get(format!("{}{KLINES_PATH}", self.base_url))
            .query(&[
                ("symbol", page.symbol.to_owned()),
                ("interval", "1m".to_owned()),
                ("startTime", page.start.timestamp_millis().to_string()),
                ("endTime", end_inclusive.timestamp_millis().to_string()),
                ("limit", PAGE_LIMIT.to_string()),
            ])
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| BinanceError::transport(e, timeout, &self.base_url))?;
        let http = response.status().as_u16();
        let headers = response.headers().clone();
        let used_weight = header_text(&headers, USED_WEIGHT_HEADER);
        tracing::info!(
            symbol = page.symbol,
            http,
            used_weight_1m = used_weight.as_deref(),
            "Binance replied"
        );
        let body = response
            .bytes()
            .await
            .map_err(|e| BinanceError::transport(e, timeout, &self.base_url))?;
        if !(200..300).contains(&http) {
            let retry_after = header_text(&headers, RETRY_AFTER.as_str())
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let (code, message) = error_body(&body);
            return Err(BinanceError::classify(
                page.symbol,
                http,
                code,
                message,
                retry_after,
            ));
        }
        parse_klines(page.symbol, http, &body, page.start, page.end)
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The `code` and `msg` of Binance's error body (`{"code": -1121, "msg": "Invalid
/// symbol."}`); for any other body (a proxy's page, nothing at all), code 0 and how it
/// starts.
fn error_body(body: &[u8]) -> (i64, String) {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        code: i64,
        msg: String,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { code, msg }) => (code, msg),
        Err(_) => (0, format!("a body starting {:?}", snippet(body))),
    }
}

/// Reads a successful reply: a JSON array of klines, ascending, inside `[start, end)`.
pub fn parse_klines(
    symbol: &str,
    http: u16,
    body: &[u8],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<Kline>, BinanceError> {
    let malformed = |reason: String| BinanceError::Malformed {
        symbol: symbol.to_owned(),
        http,
        reason,
        snippet: snippet(body),
    };
    let rows: Vec<serde_json::Value> = serde_json::from_slice(body)
        .map_err(|e| malformed(format!("not a JSON array of klines ({e})")))?;
    let klines = rows
        .iter()
        .enumerate()
        .map(|(index, row)| {
            Kline::from_json(symbol, row).map_err(|e| malformed(format!("kline {index}: {e}")))
        })
        .collect::<Result<Vec<Kline>, BinanceError>>()?;
    check_sequence(&klines, start, end).map_err(|e| malformed(e.to_string()))?;
    Ok(klines)
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let collapsed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(SNIPPET_CHARS).collect()
}

impl std::fmt::Debug for BinanceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BinanceClient")
            .field("base_url", &self.base_url)
            .field("retry", &self.retry)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn a_body_that_is_not_an_array_is_malformed() {
        let from = at("2024-06-01T12:30:00Z");
        let to = at("2024-06-01T12:35:00Z");
        let error = parse_klines("BTCUSDT", 200, br#"{"code":0}"#, from, to).unwrap_err();
        assert_eq!(error.kind(), "BinanceMalformedResponse");
        assert!(
            error.to_string().contains("not a JSON array of klines"),
            "{error}"
        );
    }

    #[test]
    fn error_bodies_give_their_code_and_message() {
        assert_eq!(
            error_body(br#"{"code":-1121,"msg":"Invalid symbol."}"#),
            (-1121, "Invalid symbol.".to_owned())
        );
        assert_eq!(
            error_body(b"<html>busy</html>"),
            (0, "a body starting \"<html>busy</html>\"".to_owned())
        );
    }
}
