//! The ingest integration tests, one binary: each module is one area of behaviour, and
//! every test builds its own world (bucket, database, stand-ins) so they run in parallel.

mod common;
mod events;
mod ingest_failures;
mod ingest_runs;
mod metrics;
mod secrecy;
