//! CoinMarketCap's JSON, as far as coinlake reads it. Unknown fields are ignored; every
//! field is optional, because old payloads lack newer fields and CMC nulls freely.

use super::lenient;
pub use super::lenient::decimal;
use serde::{Deserialize, Deserializer};
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
    /// By currency code, whichever shape CMC sent.
    #[serde(default, deserialize_with = "quotes_by_currency")]
    pub quote: Option<HashMap<String, Quote>>,
}

/// A coin's market data in one quote currency (`quote.USD`, `quote.BRL`, …; in v3 an
/// element of the `quote` array, naming its currency in `symbol`).
#[derive(Debug, Deserialize)]
pub struct Quote {
    /// The currency's code; v3 only (v2 and listings key the quote by it instead).
    #[serde(default, deserialize_with = "lenient::text")]
    pub symbol: Option<String>,
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

/// `quote` is an object keyed by currency in v2 quotes and in listings, and an array of
/// objects carrying their own `id` and `symbol` in v3 quotes. An element without a
/// `symbol` cannot be placed and is left out (the row then reports the currency missing).
/// Read through the raw text: the quote's numbers are raw values, which serde cannot
/// take from a buffered (untagged) form.
fn quotes_by_currency<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<HashMap<String, Quote>>, D::Error> {
    use serde::de::Error;
    let Some(raw) = Option::<Box<RawValue>>::deserialize(deserializer)? else {
        return Ok(None);
    };
    match raw.get().as_bytes().first() {
        Some(b'[') => {
            let listed: Vec<Quote> = serde_json::from_str(raw.get()).map_err(D::Error::custom)?;
            let mut keyed = HashMap::new();
            for quote in listed {
                if let Some(symbol) = quote.symbol.clone() {
                    keyed.entry(symbol).or_insert(quote);
                }
            }
            Ok(Some(keyed))
        }
        _ => serde_json::from_str(raw.get())
            .map(Some)
            .map_err(D::Error::custom),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn coin(json: &str) -> Result<Coin, UnreadableCoin> {
        let raw: Box<RawValue> = serde_json::from_str(json).unwrap();
        read_coin(&raw, "probe")
    }

    fn price(coin: &Coin, currency: &str) -> Option<String> {
        let quote = coin.quote.as_ref()?.get(currency)?;
        Some(quote.price.as_ref()?.get().to_owned())
    }

    #[test]
    fn quotes_keyed_by_currency_and_v3_quote_arrays_read_alike() {
        let v2 = coin(r#"{"id": 1, "quote": {"USD": {"price": 67432.10}}}"#).unwrap();
        let v3 = coin(
            r#"{"id": 1, "quote": [{"id": 2781, "symbol": "USD", "price": 67432.10},
                                  {"id": 2783, "symbol": "BRL", "price": 351234.56}]}"#,
        )
        .unwrap();
        assert_eq!(price(&v2, "USD").as_deref(), Some("67432.10"));
        assert_eq!(price(&v3, "USD").as_deref(), Some("67432.10"));
        assert_eq!(price(&v3, "BRL").as_deref(), Some("351234.56"));
    }

    #[test]
    fn a_v3_quote_without_a_currency_is_left_out_and_a_quote_of_no_known_shape_is_unreadable() {
        let unnamed = coin(r#"{"id": 1, "quote": [{"id": 2781, "price": 1}]}"#).unwrap();
        assert_eq!(unnamed.quote.map(|q| q.len()), Some(0));
        assert!(coin(r#"{"id": 1, "quote": null}"#).unwrap().quote.is_none());
        assert!(coin(r#"{"id": 1, "quote": "USD 1.0"}"#).is_err());
        assert!(coin(r#"{"id": 1, "quote": [1, 2]}"#).is_err());
    }
}
