//! Test support shared by coinlake's crates: real servers and stand-ins a test owns, so
//! tests talk HTTP and the PostgreSQL protocol as the functions do in AWS.
//!
//! - [`s3`]: a real S3-compatible server (moto) and a [`TestBucket`] per test, with
//!   [`TestBucket::put_snapshot`] for "a snapshot in the bucket" as ingest would write it.
//! - [`postgres`]: a [`TestDatabase`] of its own per test on the shared PostgreSQL server.
//! - [`cluster`]: a PostgreSQL cluster a test owns (`initdb`), for TLS and outages, and the
//!   test certificate authority ([`cluster::TestCa`]) that signs its certificate.
//! - [`cmc`]: CoinMarketCap stand-ins on wiremock, in CMC's recorded response shapes.
//! - [`binance`]: Binance kline stand-ins on wiremock, in its documented reply shapes.
//! - [`binance_archive`]: Binance's public kline archive (daily and monthly zips with
//!   CHECKSUM files), generated on request, with faults to mount over it.
//! - [`cut_body`]: an HTTP server that cuts replies mid-body, which wiremock cannot do.
//! - [`proxy`]: a switchable TCP proxy, to take a server down without losing its state.
//! - [`sns`]: an SNS topic per test on the same moto server, and what was published to it.
//! - [`data_api`]: an RDS Data API stand-in that runs statements on the real PostgreSQL.
//! - [`runtime_api`]: a minimal Lambda Runtime API, to time a real function binary.
//! - [`standin`]: what the stand-ins share: query parameters, a loopback server, Ctrl-C.
//! - [`synthetic`]: snapshots of any number of coins, for benchmarks.
//! - [`logs`]: capture of a test's JSON log lines.
//! - this module: [`workspace_root`], [`free_port`], [`invocation`] and [`fixture`] (files under
//!   `fixtures/`: CMC responses, the golden CSV, SQL).
//!
//! The `cmc-standin` binary serves `fixtures/cmc/market.json` for local runs without an
//! API key; `binance-archive-standin` serves the generated archive.

pub mod binance;
pub mod binance_archive;
pub mod cluster;
pub mod cmc;
pub mod cut_body;
pub mod data_api;
pub mod logs;
pub mod postgres;
pub mod proxy;
pub mod runtime_api;
pub mod s3;
pub mod sns;
pub mod standin;
pub mod synthetic;

pub use postgres::TestDatabase;
pub use s3::TestBucket;

use std::path::PathBuf;

/// The workspace root, for fixtures and the project's `.venv`.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A loopback port nothing listens on right now (bound, noted, released): for a server a
/// test starts, or as the address of one that is down.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A Lambda invocation of `payload` with `budget` left before its deadline, as the
/// runtime hands it to a handler.
pub fn invocation(
    payload: serde_json::Value,
    budget: std::time::Duration,
) -> lambda_runtime::LambdaEvent<serde_json::Value> {
    let mut context = lambda_runtime::Context::default();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_millis() as u64;
    context.deadline = now_ms + budget.as_millis() as u64;
    context.request_id = "test-request".to_owned();
    lambda_runtime::LambdaEvent::new(payload, context)
}

/// A committed fixture file under `functions/testkit/fixtures/`.
pub fn fixture(path: &str) -> String {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path);
    std::fs::read_to_string(&full)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", full.display()))
}
