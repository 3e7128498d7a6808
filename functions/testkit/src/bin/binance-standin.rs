//! A local Binance stand-in for runs without reaching Binance (or from a location it
//! refuses): serves recorded-shape one-minute klines for any pair and any window of closed
//! minutes, with deterministic values.
//!
//! Usage: binance-standin [PORT]   (default 8788, loopback only)

use std::net::TcpListener;
use testkit::binance::{OpenMarket, KLINES_PATH};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::args().nth(1) {
        Some(text) => text
            .parse()
            .map_err(|_| format!("PORT must be a number, got {text:?}"))?,
        None => 8788,
    };
    let listener = TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let server = MockServer::builder().listener(listener).start().await;
    Mock::given(method("GET"))
        .and(path(KLINES_PATH))
        .respond_with(OpenMarket)
        .mount(&server)
        .await;
    println!(
        "Binance stand-in serving recorded-shape klines at {}",
        server.uri()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
