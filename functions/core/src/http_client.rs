//! The HTTP client the market-data sources share.

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT};

/// A client asking for JSON, accepting gzip, naming coinlake and its version, with
/// `headers` on every request.
pub fn json_client(mut headers: HeaderMap) -> reqwest::Result<reqwest::Client> {
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    reqwest::Client::builder()
        .default_headers(headers)
        .gzip(true)
        .user_agent(concat!("coinlake/", env!("CARGO_PKG_VERSION")))
        .build()
}
