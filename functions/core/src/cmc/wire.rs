//! CoinMarketCap's JSON, as far as coinlake reads it. Unknown fields are ignored; every
//! field is optional, because old payloads lack newer fields and CMC nulls freely.

use super::lenient;
pub use super::lenient::decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::HashMap;

/// Every response, success or error, carries `status`; a 200 with a non-zero `error_code`
/// carries no data.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    pub status: Option<Status>,
    #[serde(default)]
    pub data: Option<Box<RawValue>>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Status {
    #[serde(default, deserialize_with = "lenient::text")]
    pub timestamp: Option<String>,
    #[serde(default, deserialize_with = "lenient::integer")]
    pub error_code: Option<i64>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub error_message: Option<String>,
    #[serde(default, deserialize_with = "lenient::integer")]
    pub elapsed: Option<i64>,
    #[serde(default, deserialize_with = "lenient::integer")]
    pub credit_count: Option<i64>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub notice: Option<String>,
}

/// One cryptocurrency with its quotes, as both `quotes/latest` and `listings/latest` send it.
#[derive(Debug, Deserialize)]
pub struct Coin {
    #[serde(default, deserialize_with = "lenient::integer")]
    pub id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub symbol: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub slug: Option<String>,
    #[serde(default, deserialize_with = "lenient::integer")]
    pub cmc_rank: Option<i64>,
    #[serde(default, deserialize_with = "lenient::integer")]
    pub num_market_pairs: Option<i64>,
    #[serde(default)]
    pub circulating_supply: Option<Box<RawValue>>,
    #[serde(default)]
    pub total_supply: Option<Box<RawValue>>,
    #[serde(default)]
    pub max_supply: Option<Box<RawValue>>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub last_updated: Option<String>,
    #[serde(default)]
    pub quote: Option<HashMap<String, Quote>>,
}

/// A coin's market data in one quote currency (`quote.USD`, `quote.BRL`, …).
#[derive(Debug, Deserialize)]
pub struct Quote {
    #[serde(default)]
    pub price: Option<Box<RawValue>>,
    #[serde(default)]
    pub volume_24h: Option<Box<RawValue>>,
    #[serde(default)]
    pub volume_change_24h: Option<Box<RawValue>>,
    #[serde(default)]
    pub percent_change_1h: Option<Box<RawValue>>,
    #[serde(default)]
    pub percent_change_24h: Option<Box<RawValue>>,
    #[serde(default)]
    pub percent_change_7d: Option<Box<RawValue>>,
    #[serde(default)]
    pub percent_change_30d: Option<Box<RawValue>>,
    #[serde(default)]
    pub market_cap: Option<Box<RawValue>>,
    #[serde(default)]
    pub market_cap_dominance: Option<Box<RawValue>>,
    #[serde(default)]
    pub fully_diluted_market_cap: Option<Box<RawValue>>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub last_updated: Option<String>,
}

/// A coin object that could not be read at all, kept so the run can report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableCoin {
    pub position: String,
    pub reason: String,
}

/// Reads each coin of `raw` on its own, so one malformed coin is reported and skipped
/// instead of failing the snapshot.
pub fn read_coin(raw: &RawValue, position: impl Into<String>) -> Result<Coin, UnreadableCoin> {
    serde_json::from_str(raw.get()).map_err(|e| UnreadableCoin {
        position: position.into(),
        reason: e.to_string(),
    })
}
