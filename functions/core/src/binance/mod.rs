//! Binance spot market data: one-minute klines from `GET /api/v3/klines`, keyless, with
//! Binance's rate-limit, ban and location rules, and the public archive of daily and
//! monthly zips for history (see docs/binance.md).

pub mod archive;
mod client;
mod error;
mod kline;
mod minutes;

pub use crate::retry::RetryPolicy;
pub use archive::{ArchiveClient, ArchiveError, ArchiveFile, Fetched, Period, DEFAULT_ARCHIVE_URL};
pub use client::{parse_klines, BinanceClient, KLINES_PATH, PAGE_LIMIT};
pub use error::BinanceError;
pub use kline::{Kline, KlineError, KLINE_ELEMENTS};
pub use minutes::{check_sequence, closed_minutes, floor_minute, gaps, Gap, SequenceError};

/// The market-data-only host: it serves the public endpoints only, and is the one Binance
/// points data consumers to; configurable for tests and mirrors.
pub const DEFAULT_BASE_URL: &str = "https://data-api.binance.vision";
