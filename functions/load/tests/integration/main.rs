//! The load integration tests, one binary: each module is one area of behaviour, and
//! every test builds its own world (bucket, database, stand-ins) so they run in parallel.

mod alerts;
mod alerts_delivery;
mod common;
mod concurrency;
mod data_api_faults;
mod klines;
mod load_files;
mod load_rejections;
mod maintenance;
mod metrics;
mod migrations;
mod observed_days;
mod replay;
mod rotation;
mod s3_outage;
mod secrecy;
mod sinks_agree;
mod tls;
mod views;
