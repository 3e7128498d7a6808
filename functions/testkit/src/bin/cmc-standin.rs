//! A local CoinMarketCap stand-in for runs without an API key: serves the recorded-shape
//! market in `fixtures/cmc/market.json` for quotes (by id or symbol; v3, the default, and
//! the legacy v2, each in its own shape) and listings, stamped with the current minute as
//! CMC's update time.
//!
//! Usage: cmc-standin [PORT]   (default 8787, loopback only)

use std::net::TcpListener;
use testkit::cmc::Market;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::args().nth(1) {
        Some(text) => text
            .parse()
            .map_err(|_| format!("PORT must be a number, got {text:?}"))?,
        None => 8787,
    };
    let listener = TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let server = MockServer::builder().listener(listener).start().await;
    Mock::given(method("GET"))
        .respond_with(Market::live())
        .mount(&server)
        .await;
    println!(
        "CoinMarketCap stand-in serving recorded-shape quotes at {}",
        server.uri()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
