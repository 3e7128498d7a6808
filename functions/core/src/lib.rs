//! coinlake's library: everything the Lambda binaries do, with no Lambda types in sight.
//!
//! The binaries parse their events and call in here; the adapters (`cmc`, `store`) sit
//! behind narrow types so the ingest flow can be driven from tests against real servers.

pub mod alerts;
pub mod aws;
pub mod backfill;
pub mod binance;
pub mod cmc;
pub mod config;
pub mod csv_codec;
pub mod curated;
pub mod data_api;
pub mod db;
pub mod deadline;
pub mod decimal;
pub mod error_text;
pub mod http_client;
pub mod ingest;
pub mod kline_csv;
pub mod klines_run;
pub mod layout;
pub mod load;
pub mod maintain;
pub mod market;
pub mod normalize;
pub mod quote;
pub mod retry;
pub mod s3_event;
pub mod schema;
pub mod secret;
pub mod sink;
pub mod slot;
pub mod store;
pub mod telemetry;
