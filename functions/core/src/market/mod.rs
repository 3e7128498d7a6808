//! Reading the market back out of the database, for the HTTP API and its dashboard: the
//! latest quote per asset, candles from the analytics views and the daily rollup, Binance
//! candles with their moving averages, and how fresh the data is.
//! The same queries run on PostgreSQL directly or through the Aurora Data API.

mod backend;
mod klines;
mod sql;
pub(crate) mod text_row;

pub use backend::{AnyReader, DataApiReader, PostgresReader, TextReader};
pub use klines::{
    KlineCandle, KlineInterval, KlineQuery, MovingAverages, KLINES_1M, KLINES_ROLLUP,
};

use crate::db::DbError;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use text_row::Columns;

/// Most assets `latest` answers with; listings mode can hold thousands.
pub const MAX_LATEST: u32 = 500;
/// Most candles one history request answers with.
pub const MAX_CANDLES: u32 = 2000;

/// Why a market read failed. Either way the API answers 503 and logs this.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    #[error("reading the database failed: {0}")]
    Database(#[from] DbError),
    /// An answer the queries cannot produce (a null in a column that has none, a value of
    /// another type): the schema and the code disagree.
    #[error("reading the database failed: {0}")]
    Unexpected(String),
}

/// Candle width: one of the analytics views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Interval {
    #[serde(rename = "5m")]
    FiveMinutes,
    #[serde(rename = "1h")]
    Hour,
    #[serde(rename = "1d")]
    Day,
}

impl Interval {
    pub fn parse(text: &str) -> Option<Interval> {
        match text {
            "5m" => Some(Interval::FiveMinutes),
            "1h" => Some(Interval::Hour),
            "1d" => Some(Interval::Day),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::FiveMinutes => "5m",
            Interval::Hour => "1h",
            Interval::Day => "1d",
        }
    }

    pub fn width(self) -> TimeDelta {
        match self {
            Interval::FiveMinutes => TimeDelta::minutes(5),
            Interval::Hour => TimeDelta::hours(1),
            Interval::Day => TimeDelta::days(1),
        }
    }

    /// The range a request without `from` covers: what a chart at this width shows.
    pub fn default_span(self) -> TimeDelta {
        match self {
            Interval::FiveMinutes => TimeDelta::days(1),
            Interval::Hour => TimeDelta::days(7),
            Interval::Day => TimeDelta::days(365),
        }
    }

    /// The statement answering this width: a view's buckets of CMC update time, or for a
    /// day the rollup (see [`sql::HISTORY_1D`]).
    fn history_sql(self) -> String {
        match self {
            Interval::FiveMinutes => sql::history("ohlc_5m"),
            Interval::Hour => sql::history("ohlc_1h"),
            Interval::Day => sql::HISTORY_1D.to_owned(),
        }
    }
}

/// An asset's newest quote. Numbers are the exact decimal text CMC sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LatestQuote {
    pub cmc_id: i64,
    pub symbol: String,
    pub name: String,
    pub cmc_rank: Option<i64>,
    pub price: String,
    pub percent_change_1h: Option<String>,
    pub percent_change_24h: Option<String>,
    pub percent_change_7d: Option<String>,
    pub market_cap: Option<String>,
    pub volume_24h: Option<String>,
    pub last_updated: DateTime<Utc>,
    pub slot_at: DateTime<Utc>,
}

/// One candle of the analytics views; `t` is the bucket's start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candle {
    pub t: DateTime<Utc>,
    pub open: String,
    pub high: String,
    pub low: String,
    pub close: String,
    pub avg_volume_24h: Option<String>,
    pub samples: i64,
}

/// Which candles: one asset in one currency, `[from, to)`, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    pub cmc_id: i64,
    pub currency: String,
    pub interval: Interval,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub limit: u32,
}

/// The newest snapshot stored and the newest successful load; `None` before the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    pub newest_snapshot: Option<DateTime<Utc>>,
    pub newest_load: Option<DateTime<Utc>>,
}

/// The market queries over a database reached through `R`.
pub struct Market<R> {
    reader: R,
}

impl<R: TextReader> Market<R> {
    pub fn new(reader: R) -> Market<R> {
        Market { reader }
    }

    /// The reader underneath, for the queries that are not the market's (alerts).
    pub fn reader(&self) -> &R {
        &self.reader
    }

    /// The newest quote per asset in `currency`, best rank first, at most `limit`.
    pub async fn latest(
        &self,
        currency: &str,
        limit: u32,
    ) -> Result<Vec<LatestQuote>, MarketError> {
        let limit = limit.clamp(1, MAX_LATEST).to_string();
        let rows = self
            .reader
            .query(sql::LATEST, &[("currency", currency), ("limit", &limit)])
            .await?;
        rows.iter()
            .map(|row| {
                let row = Columns(row);
                Ok(LatestQuote {
                    cmc_id: row.integer(0)?,
                    symbol: row.text(1)?,
                    name: row.text(2)?,
                    cmc_rank: row.optional_integer(3)?,
                    price: row.text(4)?,
                    percent_change_1h: row.optional(5),
                    percent_change_24h: row.optional(6),
                    percent_change_7d: row.optional(7),
                    market_cap: row.optional(8),
                    volume_24h: row.optional(9),
                    last_updated: row.time(10)?,
                    slot_at: row.time(11)?,
                })
            })
            .collect()
    }

    /// The id and stored spelling of the asset `symbol` means now, if any asset has it.
    pub async fn resolve_symbol(&self, symbol: &str) -> Result<Option<(i64, String)>, MarketError> {
        let rows = self
            .reader
            .query(sql::RESOLVE_SYMBOL, &[("symbol", symbol)])
            .await?;
        match rows.first() {
            Some(row) => {
                let row = Columns(row);
                Ok(Some((row.integer(0)?, row.text(1)?)))
            }
            None => Ok(None),
        }
    }

    /// Candles in time order.
    pub async fn history(&self, query: &HistoryQuery) -> Result<Vec<Candle>, MarketError> {
        let cmc_id = query.cmc_id.to_string();
        let from = query.from.to_rfc3339();
        let to = query.to.to_rfc3339();
        let limit = query.limit.clamp(1, MAX_CANDLES).to_string();
        let rows = self
            .reader
            .query(
                &query.interval.history_sql(),
                &[
                    ("cmc_id", &cmc_id),
                    ("currency", &query.currency),
                    ("from", &from),
                    ("to", &to),
                    ("limit", &limit),
                ],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let row = Columns(row);
                Ok(Candle {
                    t: row.time(0)?,
                    open: row.text(1)?,
                    high: row.text(2)?,
                    low: row.text(3)?,
                    close: row.text(4)?,
                    avg_volume_24h: row.optional(5),
                    samples: row.integer(6)?,
                })
            })
            .collect()
    }

    pub async fn freshness(&self) -> Result<Freshness, MarketError> {
        let rows = self.reader.query(sql::FRESHNESS, &[]).await?;
        let row = rows.first().ok_or_else(|| {
            MarketError::Unexpected("the freshness query returned no row".to_owned())
        })?;
        let row = Columns(row);
        Ok(Freshness {
            newest_snapshot: row.optional_time(0)?,
            newest_load: row.optional_time(1)?,
        })
    }
}
