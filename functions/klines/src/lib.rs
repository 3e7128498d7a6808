//! The `klines` Lambda: a scheduled event in, one CSV object of Binance one-minute klines
//! per slot in S3 out.

pub mod app;
pub mod event;
pub mod handler;

pub use app::App;
pub use handler::handle;
