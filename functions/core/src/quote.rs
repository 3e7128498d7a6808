//! One normalized quote: a coin's market data in one quote currency at one CMC update.

use crate::decimal::DecimalText;
use crate::schema::{Column, ColumnType, Row, QUOTE_COLUMNS};
use chrono::{DateTime, Utc};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteRow {
    /// The slot of the run that fetched this quote.
    pub slot_at: DateTime<Utc>,
    pub cmc_id: i64,
    pub symbol: String,
    pub name: String,
    pub slug: String,
    pub cmc_rank: Option<i64>,
    pub quote_currency: String,
    pub price: DecimalText,
    pub volume_24h: Option<DecimalText>,
    pub volume_change_24h: Option<DecimalText>,
    pub percent_change_1h: Option<DecimalText>,
    pub percent_change_24h: Option<DecimalText>,
    pub percent_change_7d: Option<DecimalText>,
    pub percent_change_30d: Option<DecimalText>,
    pub market_cap: Option<DecimalText>,
    pub market_cap_dominance: Option<DecimalText>,
    pub fully_diluted_market_cap: Option<DecimalText>,
    pub circulating_supply: Option<DecimalText>,
    pub total_supply: Option<DecimalText>,
    pub max_supply: Option<DecimalText>,
    pub num_market_pairs: Option<i64>,
    /// When CMC last updated this quote: with `cmc_id` and `quote_currency` it identifies
    /// a real market update, however many slots happened to observe it.
    pub last_updated: DateTime<Utc>,
    pub ingested_at: DateTime<Utc>,
}

/// One field of a row, typed as its column is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Field<'a> {
    Timestamp(DateTime<Utc>),
    Integer(Option<i64>),
    Text(&'a str),
    Decimal(Option<&'a DecimalText>),
}

impl Field<'_> {
    pub fn column_type(&self) -> ColumnType {
        match self {
            Field::Timestamp(_) => ColumnType::Timestamp,
            Field::Integer(_) => ColumnType::Integer,
            Field::Text(_) => ColumnType::Text,
            Field::Decimal(_) => ColumnType::Decimal,
        }
    }
}

impl QuoteRow {
    /// The row's fields in the order of [`QUOTE_COLUMNS`]; a test holds the two together.
    pub fn fields(&self) -> [Field<'_>; QUOTE_COLUMNS.len()] {
        fn decimal(value: &Option<DecimalText>) -> Field<'_> {
            Field::Decimal(value.as_ref())
        }
        [
            Field::Timestamp(self.slot_at),
            Field::Integer(Some(self.cmc_id)),
            Field::Text(&self.symbol),
            Field::Text(&self.name),
            Field::Text(&self.slug),
            Field::Integer(self.cmc_rank),
            Field::Text(&self.quote_currency),
            Field::Decimal(Some(&self.price)),
            decimal(&self.volume_24h),
            decimal(&self.volume_change_24h),
            decimal(&self.percent_change_1h),
            decimal(&self.percent_change_24h),
            decimal(&self.percent_change_7d),
            decimal(&self.percent_change_30d),
            decimal(&self.market_cap),
            decimal(&self.market_cap_dominance),
            decimal(&self.fully_diluted_market_cap),
            decimal(&self.circulating_supply),
            decimal(&self.total_supply),
            decimal(&self.max_supply),
            Field::Integer(self.num_market_pairs),
            Field::Timestamp(self.last_updated),
            Field::Timestamp(self.ingested_at),
        ]
    }
}

impl Row for QuoteRow {
    const COLUMNS: &'static [Column] = &QUOTE_COLUMNS;

    fn fields(&self) -> impl AsRef<[Field<'_>]> {
        QuoteRow::fields(self)
    }
}
