//! The `load` Lambda: S3 snapshots into PostgreSQL (or Aurora via the Data API), exactly once.

pub mod app;
pub mod event;
pub mod handler;

pub use app::App;
pub use handler::handle;
