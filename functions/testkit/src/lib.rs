//! Test support shared by coinlake's crates: a real S3-compatible server (moto) with a
//! bucket per test, CoinMarketCap stand-ins on wiremock, log capture and fixtures.

pub mod cluster;
pub mod cmc;
pub mod cut_body;
pub mod data_api;
pub mod logs;
pub mod postgres;
pub mod proxy;
pub mod runtime_api;
pub mod s3;

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

/// A committed fixture file under `functions/testkit/fixtures/`.
pub fn fixture(path: &str) -> String {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path);
    std::fs::read_to_string(&full)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", full.display()))
}
