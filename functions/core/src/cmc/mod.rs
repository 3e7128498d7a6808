//! CoinMarketCap Pro API: the HTTP client with its retry rules, the wire format, and the
//! requests coinlake makes (quotes by id or symbol, paginated listings).

mod client;
mod error;
mod lenient;
mod source;
pub mod wire;

pub use crate::retry::RetryPolicy;
pub use client::{parse_reply, ClientBuildError, CmcClient, Endpoint, QuotesApi, Reply};
pub use error::CmcError;
pub use source::{Fetched, Selection, SymbolResolver};

/// The production host; `CMC_BASE_URL` points elsewhere for tests and the sandbox.
pub const DEFAULT_BASE_URL: &str = "https://pro-api.coinmarketcap.com";
