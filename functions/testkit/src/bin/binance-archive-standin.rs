//! A local stand-in for Binance's public kline archive: serves any pair's daily and
//! monthly zips of generated, deterministic minutes in the archive's format, with their
//! CHECKSUM files, for local backfills without the internet (`scripts/backfill-local.sh`).
//!
//! Usage: binance-archive-standin [PORT]   (default 8788, loopback only)

use std::net::TcpListener;
use testkit::binance_archive::ArchiveStandin;
use wiremock::MockServer;

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
    let standin = ArchiveStandin::on(MockServer::builder().listener(listener).start().await).await;
    println!(
        "Binance archive stand-in serving generated klines at {}",
        standin.uri()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
