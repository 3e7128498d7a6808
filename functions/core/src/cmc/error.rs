//! What can go wrong talking to CoinMarketCap, classified the way its documentation asks
//! clients to react: fail fast on key, payment and plan errors; back off and retry on rate
//! limits, server errors and timeouts; stop with a clear message when a quota is used up.
//! (Error codes: https://coinmarketcap.com/api/documentation/v1/#section/Errors-and-Rate-Limits)

#[derive(Debug, thiserror::Error)]
pub enum CmcError {
    #[error("CoinMarketCap rejected the API key (HTTP {http}, error {code}: {message}); set a valid key in CMC_API_KEY or the secret CMC_API_KEY_SECRET_ARN names")]
    Unauthorized {
        http: u16,
        code: i64,
        message: String,
    },

    #[error("CoinMarketCap requires payment for this request (HTTP {http}, error {code}: {message}); check the account's billing")]
    PaymentRequired {
        http: u16,
        code: i64,
        message: String,
    },

    #[error("the CoinMarketCap plan does not allow this request (HTTP {http}, error {code}: {message}); use an endpoint, convert currency or limit the plan covers")]
    PlanForbidden {
        http: u16,
        code: i64,
        message: String,
    },

    #[error("the CoinMarketCap {period} credit quota is used up (error {code}: {message}); the schedule resumes when it resets, or raise the plan")]
    QuotaExhausted {
        period: &'static str,
        code: i64,
        message: String,
    },

    #[error("CoinMarketCap rate limit hit (HTTP {http}, error {code}: {message})")]
    RateLimited {
        http: u16,
        code: i64,
        message: String,
    },

    #[error("CoinMarketCap server error (HTTP {http}): {detail}")]
    Server { http: u16, detail: String },

    #[error("CoinMarketCap did not answer within {timeout_ms} ms")]
    Timeout { timeout_ms: u128 },

    /// `reason`: the transport error and its causes in one line, the API key scrubbed;
    /// `source`: that error without its URL. The key travels in a header, so what remains
    /// (connect, TLS, DNS and I/O errors) cannot hold it, while a URL could hold whatever a
    /// configuration put there.
    #[error("could not reach CoinMarketCap at {base_url}: {reason}")]
    Unreachable {
        base_url: String,
        reason: String,
        source: reqwest::Error,
    },

    /// `reason` and `source` as for [`CmcError::Unreachable`].
    #[error("the connection to CoinMarketCap broke while reading its answer: {reason}")]
    Interrupted {
        reason: String,
        source: reqwest::Error,
    },

    #[error("CoinMarketCap refused the request (HTTP {http}, error {code}: {message}); check CMC_IDS, CMC_SYMBOLS and CMC_CONVERT")]
    BadRequest {
        http: u16,
        code: i64,
        message: String,
    },

    #[error("CoinMarketCap answered HTTP {http} with error {code}: {message}")]
    Api {
        http: u16,
        code: i64,
        message: String,
    },

    #[error("CoinMarketCap sent a response that is not the expected JSON (HTTP {http}, content type {content_type:?}): {reason}; the body starts {snippet:?}")]
    Malformed {
        http: u16,
        content_type: String,
        reason: String,
        snippet: String,
    },

    #[error("gave up on CoinMarketCap after {attempts} attempts ({why}); last error: {last}")]
    GaveUp {
        attempts: u32,
        why: &'static str,
        last: Box<CmcError>,
    },

    #[error("no time was left in the invocation's budget to call CoinMarketCap")]
    NoTimeLeft,
}

impl CmcError {
    /// Whether another attempt may succeed: rate limits, server errors, timeouts and
    /// connection failures, including a connection that broke after the headers (the
    /// request is a GET: asking again is safe, and a fresh connection usually completes).
    /// Key, plan, payment, quota and request errors never do.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CmcError::RateLimited { .. }
                | CmcError::Server { .. }
                | CmcError::Timeout { .. }
                | CmcError::Unreachable { .. }
                | CmcError::Interrupted { .. }
        )
    }

    /// A short stable name for the error's class, for logs, metrics and the Lambda
    /// error type.
    pub fn kind(&self) -> &'static str {
        match self {
            CmcError::Unauthorized { .. } => "CmcUnauthorized",
            CmcError::PaymentRequired { .. } => "CmcPaymentRequired",
            CmcError::PlanForbidden { .. } => "CmcPlanForbidden",
            CmcError::QuotaExhausted { .. } => "CmcQuotaExhausted",
            CmcError::RateLimited { .. } => "CmcRateLimited",
            CmcError::Server { .. } => "CmcServerError",
            CmcError::Timeout { .. } => "CmcTimeout",
            CmcError::Unreachable { .. } => "CmcUnreachable",
            CmcError::Interrupted { .. } => "CmcInterrupted",
            CmcError::BadRequest { .. } => "CmcBadRequest",
            CmcError::Api { .. } => "CmcApiError",
            CmcError::Malformed { .. } => "CmcMalformedResponse",
            CmcError::GaveUp { .. } | CmcError::NoTimeLeft => "CmcOutOfTime",
        }
    }

    /// Classifies a reply from its HTTP status and the `status.error_code` of its body
    /// (0 when the body had none). Returns `None` for a success.
    pub(crate) fn classify(http: u16, code: i64, message: String) -> Option<CmcError> {
        let error = match (http, code) {
            (_, 1009) => CmcError::QuotaExhausted {
                period: "daily",
                code,
                message,
            },
            (_, 1010) => CmcError::QuotaExhausted {
                period: "monthly",
                code,
                message,
            },
            (401, _) | (_, 1001 | 1002) => CmcError::Unauthorized {
                http,
                code,
                message,
            },
            (402, _) | (_, 1003 | 1004) => CmcError::PaymentRequired {
                http,
                code,
                message,
            },
            (403, _) | (_, 1005..=1007) => CmcError::PlanForbidden {
                http,
                code,
                message,
            },
            (429, _) | (_, 1008 | 1011) => CmcError::RateLimited {
                http,
                code,
                message,
            },
            // A 200 whose `status.error_code` is 500–599 (CMC's "system is busy") reports a
            // failure of the server, not of the request: retried like a 5xx status.
            (500..=599, _) | (200..=299, 500..=599) => CmcError::Server {
                http,
                detail: format!("error {code}: {message}"),
            },
            (400, _) => CmcError::BadRequest {
                http,
                code,
                message,
            },
            (200..=299, 0) => return None,
            _ => CmcError::Api {
                http,
                code,
                message,
            },
        };
        Some(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(http: u16, code: i64) -> Option<&'static str> {
        CmcError::classify(http, code, String::new()).map(|e| e.kind())
    }

    #[test]
    fn classifies_by_error_code_before_http_status() {
        assert_eq!(kind(200, 0), None);
        assert_eq!(kind(401, 1001), Some("CmcUnauthorized"));
        assert_eq!(kind(200, 1002), Some("CmcUnauthorized"));
        assert_eq!(kind(402, 1003), Some("CmcPaymentRequired"));
        assert_eq!(kind(403, 1006), Some("CmcPlanForbidden"));
        assert_eq!(kind(429, 1008), Some("CmcRateLimited"));
        assert_eq!(kind(429, 1009), Some("CmcQuotaExhausted"));
        assert_eq!(kind(429, 1010), Some("CmcQuotaExhausted"));
        assert_eq!(kind(429, 1011), Some("CmcRateLimited"));
        assert_eq!(kind(503, 0), Some("CmcServerError"));
        assert_eq!(kind(400, 400), Some("CmcBadRequest"));
        assert_eq!(kind(200, 500), Some("CmcServerError"));
        assert_eq!(kind(200, 503), Some("CmcServerError"));
        assert_eq!(kind(200, 400), Some("CmcApiError"));
        assert_eq!(kind(404, 0), Some("CmcApiError"));
    }

    #[test]
    fn only_rate_limits_server_errors_and_network_failures_are_retried() {
        let transient: Vec<bool> = [
            (429, 1008),
            (500, 0),
            (502, 0),
            (429, 1011),
            (401, 1001),
            (402, 1003),
            (403, 1005),
            (429, 1009),
            (400, 400),
            (200, 1),
            (200, 500),
        ]
        .iter()
        .map(|&(http, code)| {
            CmcError::classify(http, code, String::new())
                .unwrap()
                .is_transient()
        })
        .collect();
        assert_eq!(
            transient,
            [true, true, true, true, false, false, false, false, false, false, true]
        );
        assert!(CmcError::Timeout { timeout_ms: 1 }.is_transient());
        let transport = reqwest::Client::new()
            .get("not a url")
            .build()
            .expect_err("a relative URL cannot be requested");
        assert!(CmcError::Interrupted {
            reason: String::new(),
            source: transport,
        }
        .is_transient());
        assert!(!CmcError::NoTimeLeft.is_transient());
    }
}
