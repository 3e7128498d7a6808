//! A local CoinMarketCap stand-in for runs without an API key: serves the recorded-shape
//! market in `fixtures/cmc/market.json` for quotes (by id or symbol; v3, the default, and
//! the legacy v2, each in its own shape) and listings, stamped with the current minute as
//! CMC's update time.
//!
//! Usage: cmc-standin [PORT]   (default 8787, loopback only)

use testkit::cmc::Market;
use testkit::standin::{serve_until_interrupted, server_from_args};
use wiremock::matchers::method;
use wiremock::Mock;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = server_from_args(8787).await?;
    Mock::given(method("GET"))
        .respond_with(Market::live())
        .mount(&server)
        .await;
    serve_until_interrupted(
        "CoinMarketCap stand-in serving recorded-shape quotes",
        &server.uri(),
    )
    .await?;
    Ok(())
}
