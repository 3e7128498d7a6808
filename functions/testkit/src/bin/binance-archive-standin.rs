//! A local stand-in for Binance's public kline archive: serves any pair's daily and
//! monthly zips of generated, deterministic minutes in the archive's format, with their
//! CHECKSUM files, for local backfills without the internet (`scripts/backfill-local.sh`).
//!
//! Usage: binance-archive-standin [PORT]   (default 8788, loopback only)

use testkit::binance_archive::ArchiveStandin;
use testkit::standin::{serve_until_interrupted, server_from_args};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let standin = ArchiveStandin::on(server_from_args(8788).await?).await;
    serve_until_interrupted(
        "Binance archive stand-in serving generated klines",
        &standin.uri(),
    )
    .await?;
    Ok(())
}
