//! The `compact` Lambda: a day of raw CSV snapshots into the curated Parquet layer.

pub mod app;
pub mod event;
pub mod handler;

pub use app::App;
pub use handler::handle;
