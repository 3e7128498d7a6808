//! The `klines` Lambda: a scheduled event in, one CSV object of Binance one-minute klines
//! per slot in S3 out; or a backfill event in, one object per pair and day from Binance's
//! archive out, continued by invoking itself when the range outlasts the invocation.

pub mod app;
pub mod continuation;
pub mod event;
pub mod handler;

pub use app::App;
pub use handler::{handle, Outcome};
