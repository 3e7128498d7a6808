//! The compact function against a real S3-compatible server and the real PostgreSQL,
//! its Parquet read back by DuckDB (an engine this project did not write).

mod common;
mod compaction;
mod late_objects;
mod metrics;
mod parquet_readers;
