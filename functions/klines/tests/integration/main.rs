//! The klines integration tests, one binary: each module is one area of behaviour, and
//! every test builds its own world (bucket, Binance stand-in) so they run in parallel.

mod backfills;
mod common;
mod events;
mod klines_failures;
mod klines_runs;
mod metrics;
