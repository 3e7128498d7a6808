//! A local Binance stand-in for runs without reaching Binance (or from a location it
//! refuses): serves recorded-shape one-minute klines for any pair and any window of closed
//! minutes, with deterministic values.
//!
//! Usage: binance-standin [PORT]   (default 8788, loopback only)

use testkit::binance::{OpenMarket, KLINES_PATH};
use testkit::standin::{serve_until_interrupted, server_from_args};
use wiremock::matchers::{method, path};
use wiremock::Mock;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = server_from_args(8788).await?;
    Mock::given(method("GET"))
        .and(path(KLINES_PATH))
        .respond_with(OpenMarket)
        .mount(&server)
        .await;
    serve_until_interrupted(
        "Binance stand-in serving recorded-shape klines",
        &server.uri(),
    )
    .await?;
    Ok(())
}
