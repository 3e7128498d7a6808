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

/// A client for file downloads (the Binance archive's zips and CHECKSUM files): any
/// content type, named as [`json_client`] names itself.
pub fn download_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("coinlake/", env!("CARGO_PKG_VERSION")))
        .build()
}
