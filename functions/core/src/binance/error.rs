//! What can go wrong asking Binance for klines, classified the way its documentation asks
//! clients to react (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits
//! and .../http-return-codes): wait `Retry-After` on 429 (rate limit) and 418 (IP ban), retry
//! 5xx and network failures, never retry a request Binance refused.

use crate::retry::RetryError;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum BinanceError {
    /// HTTP 429: the IP's request weight is over its limit. Binance bans an IP (418) that
    /// keeps asking, so the next attempt waits at least `Retry-After`.
    #[error("Binance rate limit hit (HTTP 429, code {code}: {message}){}", retry_after_text(*retry_after))]
    RateLimited {
        code: i64,
        message: String,
        retry_after: Option<Duration>,
    },

    /// HTTP 418: the IP is banned for ignoring 429s; `Retry-After` says until when.
    #[error("Binance banned this IP for exceeding its rate limits (HTTP 418, code {code}: {message}){}", retry_after_text(*retry_after))]
    Banned {
        code: i64,
        message: String,
        retry_after: Option<Duration>,
    },

    /// HTTP 451: Binance serves no market data to restricted locations, the United States
    /// (AWS US regions included) among them. No retry or wait changes that.
    #[error("Binance refuses requests from this location (HTTP 451: {message}); US locations, AWS US regions included, are restricted: deploy the Binance source in an allowed region or turn it off")]
    Restricted { message: String },

    /// HTTP 400 with code -1121.
    #[error("Binance does not know the symbol {0:?} (code -1121); check the configured pairs")]
    UnknownSymbol(String),

    #[error("Binance refused the request for {symbol} (HTTP {http}, code {code}: {message})")]
    Refused {
        symbol: String,
        http: u16,
        code: i64,
        message: String,
    },

    #[error("Binance server error (HTTP {http}): {detail}")]
    Server { http: u16, detail: String },

    #[error("Binance did not answer within {timeout_ms} ms")]
    Timeout { timeout_ms: u128 },

    /// `reason`: the transport error and its causes in one line; `source`: that error
    /// without its URL.
    #[error("could not reach Binance at {base_url}: {reason}")]
    Unreachable {
        base_url: String,
        reason: String,
        source: reqwest::Error,
    },

    #[error("the connection to Binance broke while reading its answer: {reason}")]
    Interrupted {
        reason: String,
        source: reqwest::Error,
    },

    #[error("Binance sent klines for {symbol} that cannot be used (HTTP {http}): {reason}; the body starts {snippet:?}")]
    Malformed {
        symbol: String,
        http: u16,
        reason: String,
        snippet: String,
    },

    #[error("gave up on Binance after {attempts} attempts ({why}); last error: {last}")]
    GaveUp {
        attempts: u32,
        why: &'static str,
        last: Box<BinanceError>,
    },

    /// A 429 or 418 whose `Retry-After` ends after the deadline: waiting would only turn
    /// into a Lambda timeout, so the call fails at once.
    #[error("Binance asked to wait {} s (Retry-After) but only {} ms of the invocation's budget were left; the next run retries. Last error: {last}", retry_after.as_secs(), left.as_millis())]
    WaitPastDeadline {
        retry_after: Duration,
        left: Duration,
        last: Box<BinanceError>,
    },

    #[error("no time was left in the invocation's budget to call Binance")]
    NoTimeLeft,
}

fn retry_after_text(retry_after: Option<Duration>) -> String {
    retry_after
        .map(|d| format!("; Retry-After {} s", d.as_secs()))
        .unwrap_or_default()
}

impl BinanceError {
    /// Whether another attempt may succeed: rate limits and bans (after their
    /// `Retry-After`), server errors, timeouts and connection failures. A GET for market
    /// data is safe to repeat.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            BinanceError::RateLimited { .. }
                | BinanceError::Banned { .. }
                | BinanceError::Server { .. }
                | BinanceError::Timeout { .. }
                | BinanceError::Unreachable { .. }
                | BinanceError::Interrupted { .. }
        )
    }

    /// The wait Binance asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            BinanceError::RateLimited { retry_after, .. }
            | BinanceError::Banned { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A short stable name for the error's class, for logs, metrics and the Lambda
    /// error type.
    pub fn kind(&self) -> &'static str {
        match self {
            BinanceError::RateLimited { .. } => "BinanceRateLimited",
            BinanceError::Banned { .. } => "BinanceBanned",
            BinanceError::Restricted { .. } => "BinanceRestricted",
            BinanceError::UnknownSymbol(_) => "BinanceUnknownSymbol",
            BinanceError::Refused { .. } => "BinanceRefused",
            BinanceError::Server { .. } => "BinanceServerError",
            BinanceError::Timeout { .. } => "BinanceTimeout",
            BinanceError::Unreachable { .. } => "BinanceUnreachable",
            BinanceError::Interrupted { .. } => "BinanceInterrupted",
            BinanceError::Malformed { .. } => "BinanceMalformedResponse",
            BinanceError::WaitPastDeadline { .. } => "BinanceWaitPastDeadline",
            BinanceError::GaveUp { .. } | BinanceError::NoTimeLeft => "BinanceOutOfTime",
        }
    }

    /// Classifies a failed request to `base_url` that was given `timeout`.
    pub(crate) fn transport(
        error: reqwest::Error,
        timeout: Duration,
        base_url: &str,
    ) -> BinanceError {
        if error.is_timeout() {
            return BinanceError::Timeout {
                timeout_ms: timeout.as_millis(),
            };
        }
        let reason = crate::error_text::error_chain(&error);
        // reqwest reports a failure while reading the body as a decode or body error: the
        // network's fault, worth a retry.
        let interrupted = error.is_decode() || error.is_body();
        let source = error.without_url();
        if interrupted {
            BinanceError::Interrupted { reason, source }
        } else {
            BinanceError::Unreachable {
                base_url: base_url.to_owned(),
                reason,
                source,
            }
        }
    }

    /// Classifies a reply that is not a success from its HTTP status and the `code` and
    /// `msg` of Binance's error body (`{"code": -1121, "msg": "Invalid symbol."}`; code 0
    /// and the body's start when it had none).
    pub(crate) fn classify(
        symbol: &str,
        http: u16,
        code: i64,
        message: String,
        retry_after: Option<Duration>,
    ) -> BinanceError {
        match (http, code) {
            (429, _) => BinanceError::RateLimited {
                code,
                message,
                retry_after,
            },
            (418, _) => BinanceError::Banned {
                code,
                message,
                retry_after,
            },
            (451, _) => BinanceError::Restricted { message },
            (400, -1121) => BinanceError::UnknownSymbol(symbol.to_owned()),
            (500..=599, _) => BinanceError::Server {
                http,
                detail: format!("code {code}: {message}"),
            },
            _ => BinanceError::Refused {
                symbol: symbol.to_owned(),
                http,
                code,
                message,
            },
        }
    }
}

impl RetryError for BinanceError {
    fn is_transient(&self) -> bool {
        BinanceError::is_transient(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        BinanceError::retry_after(self)
    }

    fn gave_up(last: BinanceError, attempts: u32, why: &'static str) -> BinanceError {
        BinanceError::GaveUp {
            attempts,
            why,
            last: Box::new(last),
        }
    }

    fn wait_past_deadline(
        last: BinanceError,
        _attempts: u32,
        retry_after: Duration,
        left: Duration,
    ) -> BinanceError {
        BinanceError::WaitPastDeadline {
            retry_after,
            left,
            last: Box::new(last),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classified(http: u16, code: i64) -> BinanceError {
        BinanceError::classify("BTCUSDT", http, code, "m".to_owned(), None)
    }

    #[test]
    fn classifies_by_http_status_and_code() {
        let kinds: Vec<(&str, bool)> = [
            (429, -1003),
            (418, -1003),
            (451, 0),
            (400, -1121),
            (400, -1100),
            (403, 0),
            (500, 0),
            (503, -1001),
        ]
        .iter()
        .map(|&(http, code)| {
            let e = classified(http, code);
            (e.kind(), e.is_transient())
        })
        .collect();
        assert_eq!(
            kinds,
            [
                ("BinanceRateLimited", true),
                ("BinanceBanned", true),
                ("BinanceRestricted", false),
                ("BinanceUnknownSymbol", false),
                ("BinanceRefused", false),
                ("BinanceRefused", false),
                ("BinanceServerError", true),
                ("BinanceServerError", true),
            ]
        );
    }

    #[test]
    fn the_restricted_message_says_what_to_do() {
        let text = classified(451, 0).to_string();
        assert!(text.contains("allowed region"), "{text}");
        assert!(text.contains("turn it off"), "{text}");
        assert!(text.contains("AWS US regions"), "{text}");
    }
}
