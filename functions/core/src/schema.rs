//! The one definition of each dataset's columns (`quotes`, `klines`). The CSV header, the
//! PostgreSQL insert and the Athena table are all derived from (or tested against) these
//! lists.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// UTC, written as `YYYY-MM-DD HH:MM:SS.fff` (Athena's TIMESTAMP text form).
    Timestamp,
    Integer,
    Text,
    /// Exact decimal text as CMC sent it; NUMERIC in PostgreSQL.
    Decimal,
}

impl ColumnType {
    pub fn postgres(self) -> &'static str {
        match self {
            ColumnType::Timestamp => "timestamptz",
            ColumnType::Integer => "bigint",
            ColumnType::Text => "text",
            ColumnType::Decimal => "numeric",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub column_type: ColumnType,
    pub nullable: bool,
}

const fn column(name: &'static str, column_type: ColumnType, nullable: bool) -> Column {
    Column {
        name,
        column_type,
        nullable,
    }
}

use ColumnType::{Decimal, Integer, Text, Timestamp};

pub const QUOTE_COLUMNS: [Column; 23] = [
    column("slot_at", Timestamp, false),
    column("cmc_id", Integer, false),
    column("symbol", Text, false),
    column("name", Text, false),
    column("slug", Text, false),
    column("cmc_rank", Integer, true),
    column("quote_currency", Text, false),
    column("price", Decimal, false),
    column("volume_24h", Decimal, true),
    column("volume_change_24h", Decimal, true),
    column("percent_change_1h", Decimal, true),
    column("percent_change_24h", Decimal, true),
    column("percent_change_7d", Decimal, true),
    column("percent_change_30d", Decimal, true),
    column("market_cap", Decimal, true),
    column("market_cap_dominance", Decimal, true),
    column("fully_diluted_market_cap", Decimal, true),
    column("circulating_supply", Decimal, true),
    column("total_supply", Decimal, true),
    column("max_supply", Decimal, true),
    column("num_market_pairs", Integer, true),
    column("last_updated", Timestamp, false),
    column("ingested_at", Timestamp, false),
];

pub fn quote_column_names() -> impl Iterator<Item = &'static str> {
    QUOTE_COLUMNS.iter().map(|c| c.name)
}

/// The `klines` dataset: one Binance one-minute kline per row, in the order of Binance's
/// array, prices and volumes as the exact text Binance sent. Every column is required.
pub const KLINE_COLUMNS: [Column; 12] = [
    column("symbol", Text, false),
    column("open_time", Timestamp, false),
    column("close_time", Timestamp, false),
    column("open", Decimal, false),
    column("high", Decimal, false),
    column("low", Decimal, false),
    column("close", Decimal, false),
    column("volume", Decimal, false),
    column("quote_volume", Decimal, false),
    column("trades", Integer, false),
    column("taker_buy_base_volume", Decimal, false),
    column("taker_buy_quote_volume", Decimal, false),
];

pub fn kline_column_names() -> impl Iterator<Item = &'static str> {
    KLINE_COLUMNS.iter().map(|c| c.name)
}

/// A row of one dataset: its fields, typed and ordered as the dataset's columns. That is
/// all the CSV writer and the sinks need to handle every dataset alike.
pub trait Row {
    /// The dataset's columns, in the order of [`Row::fields`].
    const COLUMNS: &'static [Column];

    fn fields(&self) -> impl AsRef<[crate::quote::Field<'_>]>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::DecimalText;
    use crate::quote::{Field, QuoteRow};
    use chrono::{DateTime, Utc};

    fn row_with_every_optional_empty() -> QuoteRow {
        let t = DateTime::<Utc>::from_timestamp(1_717_245_300, 0).unwrap();
        QuoteRow {
            slot_at: t,
            cmc_id: 1,
            symbol: "BTC".into(),
            name: "Bitcoin".into(),
            slug: "bitcoin".into(),
            cmc_rank: None,
            quote_currency: "USD".into(),
            price: DecimalText::parse("1").unwrap(),
            volume_24h: None,
            volume_change_24h: None,
            percent_change_1h: None,
            percent_change_24h: None,
            percent_change_7d: None,
            percent_change_30d: None,
            market_cap: None,
            market_cap_dominance: None,
            fully_diluted_market_cap: None,
            circulating_supply: None,
            total_supply: None,
            max_supply: None,
            num_market_pairs: None,
            last_updated: t,
            ingested_at: t,
        }
    }

    #[test]
    fn row_fields_follow_the_column_types_in_order() {
        let row = row_with_every_optional_empty();
        let types: Vec<_> = row.fields().iter().map(Field::column_type).collect();
        let expected: Vec<_> = QUOTE_COLUMNS.iter().map(|c| c.column_type).collect();
        assert_eq!(types, expected);
    }

    #[test]
    fn only_nullable_columns_may_be_empty() {
        let row = row_with_every_optional_empty();
        for (field, column) in row.fields().iter().zip(QUOTE_COLUMNS) {
            let empty = matches!(field, Field::Integer(None) | Field::Decimal(None));
            assert!(
                !empty || column.nullable,
                "{} is empty but not nullable",
                column.name
            );
        }
    }

    #[test]
    fn column_names_are_unique_snake_case() {
        let mut names: Vec<_> = quote_column_names().collect();
        assert!(names.iter().all(|n| n
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), QUOTE_COLUMNS.len());
        let mut names: Vec<_> = kline_column_names().collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KLINE_COLUMNS.len());
    }
}
