//! The `api` Lambda behind a Function URL: the market as JSON and CSV, the pipeline's
//! freshness, and a dashboard page, all read from the database `load` fills.

mod alerts;
pub mod app;
mod dashboard;
pub mod handler;
mod params;
mod respond;

pub use app::App;
pub use handler::handle;
