//! The HTTP client: one GET per call, retried with bounded, jittered exponential backoff
//! on transient errors, and never past the invocation's deadline.

use super::error::CmcError;
use super::wire::{Envelope, Status};
use crate::retry::{retry, RetryError, RetryPolicy, Succeeded};
use crate::secret::Secret;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use serde_json::value::RawValue;
use std::time::{Duration, Instant};

/// How long the start of an unexpected body shown in an error may be.
const SNIPPET_CHARS: usize = 120;

/// Which `quotes/latest` CMC is asked. Its reference lists v2 under "Legacy cryptocurrency
/// quotes (V2)" and says to prefer v3
/// (https://coinmarketcap.com/api/documentation/pro-api-reference/deprecated), and its guide
/// for known assets starts from v3
/// (https://coinmarketcap.com/api/documentation/guides/get-latest-crypto-prices), so v3 is
/// the default; v2 stays selectable (`CMC_QUOTES_API=v2`) for keys or proxies that only
/// know it. The replies differ in shape only: both become the same rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QuotesApi {
    /// `data` is an array of coins; each coin's `quote` is an array of objects carrying their
    /// own `id` and `symbol` (`[{"id": 2781, "symbol": "USD", "price": …}]`).
    #[default]
    V3,
    /// `data` is an object keyed by id (by symbol: an array of coins per symbol); `quote` is
    /// an object keyed by currency.
    V2,
}

impl QuotesApi {
    /// The value of `CMC_QUOTES_API`, in any case.
    pub fn parse(text: &str) -> Option<QuotesApi> {
        match text.trim().to_ascii_lowercase().as_str() {
            "v3" => Some(QuotesApi::V3),
            "v2" => Some(QuotesApi::V2),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            QuotesApi::V3 => "v3",
            QuotesApi::V2 => "v2",
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            QuotesApi::V3 => "/v3/cryptocurrency/quotes/latest",
            QuotesApi::V2 => "/v2/cryptocurrency/quotes/latest",
        }
    }
}

/// The fields a row needs beyond the quote itself. v2 documents `aux` defaulting to all of
/// them; v3 takes the same parameter, and naming them keeps the reply to what is stored
/// (no tags or platform objects) whatever its defaults are.
const V3_AUX: &str = "num_market_pairs,cmc_rank,max_supply,circulating_supply,total_supply";

/// The CoinMarketCap calls coinlake makes.
#[derive(Clone, Copy, Debug)]
pub enum Endpoint<'a> {
    /// `quotes/latest?id=…`: in v2 `data` is an object keyed by id, in v3 an array.
    QuotesById(&'a [i64]),
    /// `quotes/latest?symbol=…`: in v2 `data` maps each symbol to an array of coins, in v3
    /// it is an array of every coin using one of the symbols.
    QuotesBySymbol(&'a [String]),
    /// v1 `listings/latest`: `data` is an array, ranked, paginated by `start`/`limit`.
    Listings { start: u32, limit: u32 },
}

impl Endpoint<'_> {
    fn path(&self, api: QuotesApi) -> &'static str {
        match self {
            Endpoint::QuotesById(_) | Endpoint::QuotesBySymbol(_) => api.path(),
            Endpoint::Listings { .. } => "/v1/cryptocurrency/listings/latest",
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Endpoint::QuotesById(_) => "quotes_by_id",
            Endpoint::QuotesBySymbol(_) => "quotes_by_symbol",
            Endpoint::Listings { .. } => "listings",
        }
    }

    fn query(&self, convert: &str, api: QuotesApi) -> Vec<(&'static str, String)> {
        let join = |items: Vec<String>| items.join(",");
        let mut query = match self {
            // skip_invalid: one unknown id or symbol is reported as missing instead of
            // failing the whole request with HTTP 400.
            Endpoint::QuotesById(ids) => vec![
                ("id", join(ids.iter().map(i64::to_string).collect())),
                ("skip_invalid", "true".to_owned()),
            ],
            Endpoint::QuotesBySymbol(symbols) => {
                vec![
                    ("symbol", join(symbols.to_vec())),
                    ("skip_invalid", "true".to_owned()),
                ]
            }
            Endpoint::Listings { start, limit } => {
                vec![("start", start.to_string()), ("limit", limit.to_string())]
            }
        };
        if api == QuotesApi::V3 && !matches!(self, Endpoint::Listings { .. }) {
            query.push(("aux", V3_AUX.to_owned()));
        }
        query.push(("convert", convert.to_owned()));
        query
    }
}

/// A successful reply: its `status` (credits, notice) and its raw `data`.
#[derive(Debug)]
pub struct Reply {
    pub status: Status,
    pub data: Box<RawValue>,
    pub attempts: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("the CoinMarketCap API key contains characters an HTTP header cannot carry")]
    KeyNotAHeaderValue,
    #[error("could not build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

pub struct CmcClient {
    http: reqwest::Client,
    base_url: String,
    pub(super) api_key: Secret,
    retry: RetryPolicy,
    pub(super) quotes_api: QuotesApi,
}

impl CmcClient {
    pub fn new(
        base_url: &str,
        api_key: Secret,
        retry: RetryPolicy,
    ) -> Result<CmcClient, ClientBuildError> {
        let mut key = HeaderValue::from_str(api_key.expose())
            .map_err(|_| ClientBuildError::KeyNotAHeaderValue)?;
        // Sensitive values print as "Sensitive" in reqwest's and hyper's Debug output.
        key.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert("X-CMC_PRO_API_KEY", key);
        let http = crate::http_client::json_client(headers)?;
        Ok(CmcClient {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            retry,
            quotes_api: QuotesApi::default(),
        })
    }

    /// Asks `api`'s `quotes/latest` instead of the default (v3).
    pub fn with_quotes_api(mut self, api: QuotesApi) -> CmcClient {
        self.quotes_api = api;
        self
    }

    pub fn quotes_api(&self) -> QuotesApi {
        self.quotes_api
    }

    /// Calls `endpoint` for one quote currency, retrying transient failures while the
    /// deadline allows. Logs the credits, elapsed time and notice CMC reports.
    pub async fn get(
        &self,
        endpoint: Endpoint<'_>,
        convert: &str,
        deadline: Instant,
    ) -> Result<Reply, CmcError> {
        let result = retry(
            &self.retry,
            deadline,
            || self.attempt(endpoint, convert, deadline),
            |error: &CmcError, wait| {
                tracing::warn!(
                    endpoint = endpoint.name(),
                    convert,
                    error = %error,
                    error_kind = error.kind(),
                    retry_in_ms = wait.as_millis() as u64,
                    "CoinMarketCap call failed; retrying"
                );
            },
        )
        .await;
        let Succeeded {
            value: mut reply,
            attempts,
        } = result?;
        reply.attempts = attempts;
        let status = &reply.status;
        tracing::info!(
            endpoint = endpoint.name(),
            quotes_api = self.quotes_api.as_str(),
            convert,
            credit_count = status.credit_count,
            elapsed_ms = status.elapsed,
            notice = status.notice.as_deref(),
            attempts,
            "CoinMarketCap call succeeded"
        );
        Ok(reply)
    }

    async fn attempt(
        &self,
        endpoint: Endpoint<'_>,
        convert: &str,
        deadline: Instant,
    ) -> Result<Reply, CmcError> {
        let timeout = RetryPolicy::attempt_timeout(self.retry.request_timeout, deadline)
            .ok_or(CmcError::NoTimeLeft)?;
        let response = self
            .http
            .get(format!(
                "{}{}",
                self.base_url,
                endpoint.path(self.quotes_api)
            ))
            .query(&endpoint.query(convert, self.quotes_api))
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| self.transport_error(e, timeout))?;
        let http = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e, timeout))?;
        parse_reply(http, &content_type, &body, &self.api_key)
    }

    fn transport_error(&self, error: reqwest::Error, timeout: Duration) -> CmcError {
        if error.is_timeout() {
            return CmcError::Timeout {
                timeout_ms: timeout.as_millis(),
            };
        }
        let reason = crate::error_text::error_chain(&error);
        let reason = self.api_key.redact_from(&reason);
        // reqwest reports any failure while reading the body (a reset connection, a
        // truncated gzip stream) as a decode or body error: the network's fault, worth a retry.
        let interrupted = error.is_decode() || error.is_body();
        let source = error.without_url();
        if interrupted {
            CmcError::Interrupted { reason, source }
        } else {
            CmcError::Unreachable {
                base_url: self.base_url.clone(),
                reason,
                source,
            }
        }
    }
}

/// Reads one CMC reply: its HTTP status, content type and body. Errors name what CMC said
/// (its `error_code` and message) or, for a body that is not CMC's JSON, how it starts;
/// `api_key` is scrubbed from anything quoted.
pub fn parse_reply(
    http: u16,
    content_type: &str,
    body: &[u8],
    api_key: &Secret,
) -> Result<Reply, CmcError> {
    let envelope = serde_json::from_slice::<Envelope>(body);
    let Ok(Envelope {
        status: Some(status),
        data,
    }) = envelope
    else {
        // Not CMC's JSON: a proxy's HTML error page, a truncated body. An error status
        // still says what happened; a success status with such a body is malformed.
        let snippet = snippet(body, api_key);
        let described = format!("non-JSON body ({content_type:?}) starting {snippet:?}");
        if let Some(error) = CmcError::classify(http, 0, described) {
            return Err(error);
        }
        let reason = match envelope {
            // serde_json quotes offending values, which may be anything the server echoed.
            Err(e) => format!("invalid JSON ({})", api_key.redact_from(&e.to_string())),
            Ok(_) => "the JSON has no \"status\" object".to_owned(),
        };
        return Err(CmcError::Malformed {
            http,
            content_type: content_type.to_owned(),
            reason,
            snippet,
        });
    };
    let message = api_key.redact_from(status.error_message.as_deref().unwrap_or("no message"));
    if let Some(error) = CmcError::classify(http, status.error_code.unwrap_or(0), message) {
        return Err(error);
    }
    match data {
        Some(data) if data.get() != "null" => Ok(Reply {
            status,
            data,
            attempts: 0,
        }),
        _ => Err(CmcError::Malformed {
            http,
            content_type: content_type.to_owned(),
            reason: "the response has no \"data\"".to_owned(),
            snippet: snippet(body, api_key),
        }),
    }
}

/// The start of a body for an error message. The key is scrubbed from the whole body
/// before it is cut, so no prefix of the key survives at the cut.
pub(super) fn snippet(body: &[u8], api_key: &Secret) -> String {
    let text = api_key.redact_from(&String::from_utf8_lossy(body));
    let collapsed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(SNIPPET_CHARS).collect()
}

impl RetryError for CmcError {
    fn is_transient(&self) -> bool {
        CmcError::is_transient(self)
    }

    fn gave_up(last: CmcError, attempts: u32, why: &'static str) -> CmcError {
        CmcError::GaveUp {
            attempts,
            why,
            last: Box::new(last),
        }
    }
}

impl std::fmt::Debug for CmcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CmcClient")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .field("retry", &self.retry)
            .field("quotes_api", &self.quotes_api)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parse_error_quoting_the_key_is_redacted() {
        let key = Secret::new("fuzz-key");
        let error = parse_reply(200, "application/json", br#"{"status":"fuzz-key"}"#, &key)
            .unwrap_err()
            .to_string();
        assert!(!error.contains("fuzz-key"), "{error}");
    }

    #[tokio::test]
    async fn an_unreachable_server_keeps_the_transport_error_as_the_source() {
        // A port nothing listens on: the connection is refused at once.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let base_url = format!("http://{}", listener.local_addr().expect("its address"));
        drop(listener);
        let retry = RetryPolicy {
            max_attempts: 1,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
            request_timeout: Duration::from_secs(5),
        };
        let client =
            CmcClient::new(&base_url, Secret::new("transport-key"), retry).expect("client");
        let deadline = Instant::now() + Duration::from_secs(10);
        let error = client
            .get(Endpoint::QuotesById(&[1]), "USD", deadline)
            .await
            .expect_err("nothing answers");
        let CmcError::GaveUp { last, .. } = error else {
            panic!("expected the retries to give up: {error}");
        };
        assert_eq!(last.kind(), "CmcUnreachable", "{last}");
        let source = std::error::Error::source(last.as_ref()).expect("a source");
        let transport = source
            .downcast_ref::<reqwest::Error>()
            .expect("the reqwest error");
        assert!(transport.is_connect(), "{transport:?}");
        assert!(
            transport.url().is_none(),
            "the URL stays in the message only"
        );
    }

    #[test]
    fn no_prefix_of_the_key_survives_where_a_snippet_is_cut() {
        let key = Secret::new("0123456789abcdef0123456789abcdef");
        for start in 90..SNIPPET_CHARS + 5 {
            let body = format!("{}{}<tail>", "x".repeat(start), key.expose());
            let shown = snippet(body.as_bytes(), &key);
            assert!(
                !shown.contains("0123456789"),
                "key start leaked at offset {start}: {shown}"
            );
        }
    }
}
