//! One kline as `GET /api/v3/klines` sends it: a 12-element JSON array read by position
//! (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints#klinecandlestick-data):
//! open time, open, high, low, close, volume, close time, quote volume, trades, taker buy
//! base volume, taker buy quote volume, ignore. Times are epoch milliseconds, prices and
//! volumes decimal strings, kept as the exact text sent.

use crate::decimal::DecimalText;
use chrono::{DateTime, Utc};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kline {
    pub symbol: String,
    pub open_time: DateTime<Utc>,
    pub close_time: DateTime<Utc>,
    pub open: DecimalText,
    pub high: DecimalText,
    pub low: DecimalText,
    pub close: DecimalText,
    pub volume: DecimalText,
    pub quote_volume: DecimalText,
    pub trades: i64,
    pub taker_buy_base_volume: DecimalText,
    pub taker_buy_quote_volume: DecimalText,
}

/// Elements a kline has; the twelfth is unused ("ignore") but must be there.
pub const KLINE_ELEMENTS: usize = 12;

/// Why one kline array could not be read, naming the element by position and meaning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KlineError {
    #[error("a kline is not an array but {0}")]
    NotAnArray(&'static str),
    #[error("a kline has {found} elements, {KLINE_ELEMENTS} expected (element {index}, {name}, is missing)")]
    Missing {
        index: usize,
        name: &'static str,
        found: usize,
    },
    #[error("element {index} ({name}) of a kline is {found}, {expected} expected")]
    WrongType {
        index: usize,
        name: &'static str,
        expected: &'static str,
        found: String,
    },
}

/// The elements of a kline in order, as the API reply and the archive CSV both hold them.
pub(super) const ELEMENT_NAMES: [&str; KLINE_ELEMENTS] = [
    "open time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close time",
    "quote volume",
    "trades",
    "taker buy base volume",
    "taker buy quote volume",
    "ignore",
];

impl Kline {
    /// Reads one kline array for `symbol`. Elements past the twelfth are ignored: Binance
    /// documents appending fields as a compatible change.
    pub fn from_json(symbol: &str, value: &Value) -> Result<Kline, KlineError> {
        let items = value
            .as_array()
            .ok_or_else(|| KlineError::NotAnArray(type_name(value)))?;
        if items.len() < KLINE_ELEMENTS {
            return Err(KlineError::Missing {
                index: items.len(),
                name: ELEMENT_NAMES[items.len()],
                found: items.len(),
            });
        }
        Ok(Kline {
            symbol: symbol.to_owned(),
            open_time: time_at(items, 0)?,
            open: decimal_at(items, 1)?,
            high: decimal_at(items, 2)?,
            low: decimal_at(items, 3)?,
            close: decimal_at(items, 4)?,
            volume: decimal_at(items, 5)?,
            close_time: time_at(items, 6)?,
            quote_volume: decimal_at(items, 7)?,
            trades: integer_at(items, 8)?,
            taker_buy_base_volume: decimal_at(items, 9)?,
            taker_buy_quote_volume: decimal_at(items, 10)?,
        })
    }
}

fn wrong(index: usize, expected: &'static str, found: &Value) -> KlineError {
    KlineError::WrongType {
        index,
        name: ELEMENT_NAMES[index],
        expected,
        found: describe(found),
    }
}

fn integer_at(items: &[Value], index: usize) -> Result<i64, KlineError> {
    items[index]
        .as_i64()
        .ok_or_else(|| wrong(index, "an integer", &items[index]))
}

fn time_at(items: &[Value], index: usize) -> Result<DateTime<Utc>, KlineError> {
    integer_at(items, index).and_then(|ms| {
        DateTime::from_timestamp_millis(ms)
            .ok_or_else(|| wrong(index, "epoch milliseconds", &items[index]))
    })
}

/// Binance sends decimals as strings; a bare JSON number would already have lost its
/// exact text to whoever produced it, so it is refused rather than guessed at.
fn decimal_at(items: &[Value], index: usize) -> Result<DecimalText, KlineError> {
    let expected = "a decimal string";
    let text = items[index]
        .as_str()
        .ok_or_else(|| wrong(index, expected, &items[index]))?;
    DecimalText::parse(text).map_err(|_| wrong(index, expected, &items[index]))
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value's type and, shortened, the value itself.
fn describe(value: &Value) -> String {
    let text: String = value.to_string().chars().take(40).collect();
    format!("{} {text}", type_name(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row() -> Value {
        json!([
            1717245240000_i64,
            "67432.01000000",
            "67450.00000000",
            "67420.55000000",
            "67441.10000000",
            "12.34567000",
            1717245299999_i64,
            "832451.12345670",
            1523,
            "6.10000000",
            "411234.50000000",
            "0"
        ])
    }

    #[test]
    fn reads_every_element_by_position_keeping_the_exact_text() {
        let kline = Kline::from_json("BTCUSDT", &row()).unwrap();
        assert_eq!(kline.symbol, "BTCUSDT");
        assert_eq!(kline.open_time.to_rfc3339(), "2024-06-01T12:34:00+00:00");
        assert_eq!(
            kline.close_time.timestamp_millis(),
            1717245299999,
            "millisecond precision kept"
        );
        assert_eq!(kline.open.as_str(), "67432.01000000");
        assert_eq!(kline.high.as_str(), "67450.00000000");
        assert_eq!(kline.low.as_str(), "67420.55000000");
        assert_eq!(kline.close.as_str(), "67441.10000000");
        assert_eq!(kline.volume.as_str(), "12.34567000");
        assert_eq!(kline.quote_volume.as_str(), "832451.12345670");
        assert_eq!(kline.trades, 1523);
        assert_eq!(kline.taker_buy_base_volume.as_str(), "6.10000000");
        assert_eq!(kline.taker_buy_quote_volume.as_str(), "411234.50000000");
    }

    #[test]
    fn a_missing_element_is_named() {
        let mut short = row();
        short.as_array_mut().unwrap().truncate(11);
        let error = Kline::from_json("BTCUSDT", &short).unwrap_err();
        assert_eq!(
            error.to_string(),
            "a kline has 11 elements, 12 expected (element 11, ignore, is missing)"
        );
    }

    #[test]
    fn an_element_of_the_wrong_type_is_named() {
        let cases = [
            (
                1,
                json!(67432.01),
                "element 1 (open) of a kline is a number 67432.01",
            ),
            (
                8,
                json!("1523"),
                "element 8 (trades) of a kline is a string \"1523\"",
            ),
            (
                0,
                json!(null),
                "element 0 (open time) of a kline is null null",
            ),
            (
                5,
                json!("12,3"),
                "element 5 (volume) of a kline is a string \"12,3\"",
            ),
        ];
        for (index, value, expected) in cases {
            let mut bad = row();
            bad[index] = value;
            let error = Kline::from_json("BTCUSDT", &bad).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{error}");
        }
    }

    #[test]
    fn a_kline_that_is_not_an_array_is_refused() {
        let error = Kline::from_json("BTCUSDT", &json!({"t": 1})).unwrap_err();
        assert_eq!(error, KlineError::NotAnArray("an object"));
    }

    #[test]
    fn elements_past_the_twelfth_are_ignored() {
        let mut longer = row();
        longer.as_array_mut().unwrap().push(json!("future"));
        assert!(Kline::from_json("BTCUSDT", &longer).is_ok());
    }
}
