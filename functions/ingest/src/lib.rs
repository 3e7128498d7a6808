//! The `ingest` Lambda: a scheduled event in, one CSV snapshot in S3 out.

pub mod app;
pub mod handler;

pub use app::App;
pub use handler::handle;
