//! One text row of a [`TextReader`](super::TextReader) query, with the conversions its
//! columns need: every column comes back as text on both readers, times as epoch
//! milliseconds. The market's reads and the alerts' share it.

use crate::market::MarketError;
use chrono::{DateTime, Utc};

pub(crate) struct Columns<'a>(pub &'a [Option<String>]);

impl Columns<'_> {
    pub fn optional(&self, index: usize) -> Option<String> {
        self.0.get(index).cloned().flatten()
    }

    pub fn text(&self, index: usize) -> Result<String, MarketError> {
        self.optional(index).ok_or_else(|| null(index))
    }

    pub fn optional_integer(&self, index: usize) -> Result<Option<i64>, MarketError> {
        self.optional(index)
            .map(|text| {
                text.parse().map_err(|_| {
                    MarketError::Unexpected(format!("column {index}: {text:?} is not an integer"))
                })
            })
            .transpose()
    }

    pub fn integer(&self, index: usize) -> Result<i64, MarketError> {
        self.optional_integer(index)?.ok_or_else(|| null(index))
    }

    pub fn boolean(&self, index: usize) -> Result<bool, MarketError> {
        match self.text(index)?.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(MarketError::Unexpected(format!(
                "column {index}: {other:?} is not a boolean"
            ))),
        }
    }

    pub fn optional_time(&self, index: usize) -> Result<Option<DateTime<Utc>>, MarketError> {
        self.optional_integer(index)?
            .map(|millis| {
                DateTime::from_timestamp_millis(millis).ok_or_else(|| {
                    MarketError::Unexpected(format!("column {index}: {millis} is out of range"))
                })
            })
            .transpose()
    }

    pub fn time(&self, index: usize) -> Result<DateTime<Utc>, MarketError> {
        self.optional_time(index)?.ok_or_else(|| null(index))
    }
}

fn null(index: usize) -> MarketError {
    MarketError::Unexpected(format!("column {index} is unexpectedly null"))
}
