//! A day of quotes held compactly in memory, then de-duplicated and put in the curated order.
//!
//! A listings day is 288 slots × 5,000 coins = 1.44 million rows. As `QuoteRow`s (a dozen
//! heap strings each) that is well over a gigabyte; here a row is a fixed 176 bytes — the
//! metrics as `f64`, the times as epoch milliseconds, the repeated texts (symbol, name, slug,
//! currency) interned — kept in fixed-size chunks so growing never copies the whole day.

use crate::decimal::DecimalText;
use crate::quote::{Field, QuoteRow};
use crate::schema::QUOTE_COLUMNS;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// The nullable metrics, in the order of the schema's columns.
pub const METRICS: usize = 12;

/// Rows per chunk: 64 Ki rows of 176 bytes, 11.5 MB.
const CHUNK_ROWS: usize = 1 << 16;

/// One quote, as stored for compaction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompactRow {
    pub slot_at: i64,
    pub cmc_id: i64,
    pub last_updated: i64,
    pub ingested_at: i64,
    cmc_rank: i64,
    num_market_pairs: i64,
    pub price: f64,
    /// `volume_24h` … `max_supply`, in column order; see `nulls`.
    metrics: [f64; METRICS],
    pub symbol: u32,
    pub name: u32,
    pub slug: u32,
    pub quote_currency: u32,
    /// The row's place in its object: of two rows of one slot for the same update (a
    /// listings page that shifted between requests), the first wins, as in PostgreSQL.
    position: u32,
    /// Bit `i` set: metric `i` is null; bits 12 and 13: `cmc_rank`, `num_market_pairs`.
    /// (`Option<f64>` would double each metric's size: `f64` has no spare bit pattern.)
    nulls: u16,
}

const RANK_NULL: u16 = 1 << METRICS;
const PAIRS_NULL: u16 = 1 << (METRICS + 1);

impl CompactRow {
    pub fn metric(&self, index: usize) -> Option<f64> {
        (self.nulls & (1 << index) == 0).then(|| self.metrics[index])
    }

    pub fn cmc_rank(&self) -> Option<i64> {
        (self.nulls & RANK_NULL == 0).then_some(self.cmc_rank)
    }

    pub fn num_market_pairs(&self) -> Option<i64> {
        (self.nulls & PAIRS_NULL == 0).then_some(self.num_market_pairs)
    }
}

/// Why a row cannot go into the curated layer (the raw CSV accepted it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    #[error("column {column}: {value} is beyond the range of a DOUBLE")]
    OutOfRange { column: &'static str, value: String },
}

/// Texts stored once, referred to by number.
#[derive(Debug, Default)]
pub struct Texts {
    ids: HashMap<Box<str>, u32>,
    texts: Vec<Box<str>>,
}

impl Texts {
    fn intern(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.ids.get(text) {
            return id;
        }
        let id = self.texts.len() as u32;
        self.texts.push(text.into());
        self.ids.insert(text.into(), id);
        id
    }

    pub fn get(&self, id: u32) -> &str {
        self.texts.get(id as usize).map_or("", |t| t)
    }

    /// Each text's position in byte order, to sort by the text without looking it up.
    fn ranks(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.texts.len() as u32).collect();
        order.sort_unstable_by(|a, b| self.get(*a).cmp(self.get(*b)));
        let mut ranks = vec![0; order.len()];
        for (rank, id) in order.into_iter().enumerate() {
            ranks[id as usize] = rank as u32;
        }
        ranks
    }
}

/// The rows of one day, in arrival order until [`DayTable::finish`].
#[derive(Debug, Default)]
pub struct DayTable {
    chunks: Vec<Vec<CompactRow>>,
    texts: Texts,
    len: usize,
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// Where the metrics start among the schema's columns (`volume_24h`).
const FIRST_METRIC: usize = 8;

fn double(column: &'static str, value: &DecimalText) -> Result<f64, RowError> {
    value.to_f64().ok_or_else(|| RowError::OutOfRange {
        column,
        value: value.as_str().to_owned(),
    })
}

impl DayTable {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `row`, the `position`-th row of its object.
    pub fn push(&mut self, row: &QuoteRow, position: u32) -> Result<(), RowError> {
        let mut metrics = [0.0; METRICS];
        let mut nulls = 0;
        let fields = row.fields();
        let metric_fields = fields[FIRST_METRIC..FIRST_METRIC + METRICS].iter();
        let metric_columns = QUOTE_COLUMNS[FIRST_METRIC..].iter();
        for (index, (field, column)) in metric_fields.zip(metric_columns).enumerate() {
            match field {
                Field::Decimal(Some(value)) => metrics[index] = double(column.name, value)?,
                _ => nulls |= 1 << index,
            }
        }
        if row.cmc_rank.is_none() {
            nulls |= RANK_NULL;
        }
        if row.num_market_pairs.is_none() {
            nulls |= PAIRS_NULL;
        }
        let compact = CompactRow {
            slot_at: millis(row.slot_at),
            cmc_id: row.cmc_id,
            last_updated: millis(row.last_updated),
            ingested_at: millis(row.ingested_at),
            cmc_rank: row.cmc_rank.unwrap_or(0),
            num_market_pairs: row.num_market_pairs.unwrap_or(0),
            price: double("price", &row.price)?,
            metrics,
            position,
            nulls,
            symbol: self.texts.intern(&row.symbol),
            name: self.texts.intern(&row.name),
            slug: self.texts.intern(&row.slug),
            quote_currency: self.texts.intern(&row.quote_currency),
        };
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK_ROWS => chunk.push(compact),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK_ROWS);
                chunk.push(compact);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
        Ok(())
    }

    fn row(&self, index: u32) -> &CompactRow {
        let index = index as usize;
        &self.chunks[index / CHUNK_ROWS][index % CHUNK_ROWS]
    }

    /// One row per `(cmc_id, quote_currency, last_updated)` — the earliest slot's, and of
    /// that slot's object the first row's, so the outcome never depends on arrival order —
    /// sorted by `cmc_id`, `quote_currency`, `slot_at` (then `last_updated`).
    pub fn finish(self) -> CuratedDay {
        let ranks = self.texts.ranks();
        let currency = |row: &CompactRow| ranks[row.quote_currency as usize];
        let mut order: Vec<u32> = (0..self.len as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            let (x, y) = (self.row(a), self.row(b));
            (x.cmc_id, currency(x), x.last_updated, x.slot_at, x.position).cmp(&(
                y.cmc_id,
                currency(y),
                y.last_updated,
                y.slot_at,
                y.position,
            ))
        });
        order.dedup_by(|later, earlier| {
            let (x, y) = (self.row(*later), self.row(*earlier));
            (x.cmc_id, x.quote_currency, x.last_updated)
                == (y.cmc_id, y.quote_currency, y.last_updated)
        });
        order.sort_unstable_by(|&a, &b| {
            let (x, y) = (self.row(a), self.row(b));
            (x.cmc_id, currency(x), x.slot_at, x.last_updated).cmp(&(
                y.cmc_id,
                currency(y),
                y.slot_at,
                y.last_updated,
            ))
        });
        let read = self.len;
        CuratedDay {
            table: self,
            order,
            read,
        }
    }
}

/// A day's curated rows: the table and the order to write them in.
#[derive(Debug)]
pub struct CuratedDay {
    table: DayTable,
    order: Vec<u32>,
    read: usize,
}

impl CuratedDay {
    /// Rows after de-duplication.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Rows read from the raw objects, duplicates included.
    pub fn rows_read(&self) -> usize {
        self.read
    }

    pub fn rows(&self) -> impl ExactSizeIterator<Item = &CompactRow> + Clone + '_ {
        self.order.iter().map(|&i| self.table.row(i))
    }

    pub fn text(&self, id: u32) -> &str {
        self.table.texts.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ColumnType;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn quote(id: i64, currency: &str, slot: &str, updated: &str, price: &str) -> QuoteRow {
        QuoteRow {
            slot_at: at(slot),
            cmc_id: id,
            symbol: format!("C{id}"),
            name: format!("Coin, \"{id}\""),
            slug: format!("coin-{id}"),
            cmc_rank: Some(id),
            quote_currency: currency.into(),
            price: DecimalText::parse(price).unwrap(),
            volume_24h: None,
            volume_change_24h: None,
            percent_change_1h: None,
            percent_change_24h: None,
            percent_change_7d: None,
            percent_change_30d: None,
            market_cap: Some(DecimalText::parse("12345678901234567890").unwrap()),
            market_cap_dominance: None,
            fully_diluted_market_cap: None,
            circulating_supply: None,
            total_supply: None,
            max_supply: None,
            num_market_pairs: None,
            last_updated: at(updated),
            ingested_at: at(slot),
        }
    }

    fn keys(day: &CuratedDay) -> Vec<(i64, String, i64, i64)> {
        day.rows()
            .map(|r| {
                (
                    r.cmc_id,
                    day.text(r.quote_currency).to_owned(),
                    r.slot_at,
                    r.last_updated,
                )
            })
            .collect()
    }

    #[test]
    fn the_earliest_slot_keeps_an_update_whatever_the_arrival_order() {
        let rows = [
            quote(
                2,
                "USD",
                "2024-06-01T00:10:00Z",
                "2024-06-01T00:04:00Z",
                "2",
            ),
            quote(
                1,
                "USD",
                "2024-06-01T00:05:00Z",
                "2024-06-01T00:04:00Z",
                "1",
            ),
            quote(
                2,
                "USD",
                "2024-06-01T00:05:00Z",
                "2024-06-01T00:04:00Z",
                "2",
            ),
            quote(
                1,
                "EUR",
                "2024-06-01T00:05:00Z",
                "2024-06-01T00:04:00Z",
                "0.9",
            ),
            quote(
                1,
                "USD",
                "2024-06-01T00:10:00Z",
                "2024-06-01T00:09:00Z",
                "1.1",
            ),
            quote(
                1,
                "USD",
                "2024-06-01T00:00:00Z",
                "2024-06-01T00:04:00Z",
                "1",
            ),
        ];
        let mut forwards = DayTable::default();
        let mut backwards = DayTable::default();
        for (position, row) in rows.iter().enumerate() {
            forwards.push(row, position as u32).unwrap();
        }
        for (position, row) in rows.iter().enumerate().rev() {
            backwards.push(row, position as u32).unwrap();
        }
        let (forwards, backwards) = (forwards.finish(), backwards.finish());
        let ms = |t: &str| at(t).timestamp_millis();
        let expected = vec![
            (
                1,
                "EUR".into(),
                ms("2024-06-01T00:05:00Z"),
                ms("2024-06-01T00:04:00Z"),
            ),
            (
                1,
                "USD".into(),
                ms("2024-06-01T00:00:00Z"),
                ms("2024-06-01T00:04:00Z"),
            ),
            (
                1,
                "USD".into(),
                ms("2024-06-01T00:10:00Z"),
                ms("2024-06-01T00:09:00Z"),
            ),
            (
                2,
                "USD".into(),
                ms("2024-06-01T00:05:00Z"),
                ms("2024-06-01T00:04:00Z"),
            ),
        ];
        assert_eq!(keys(&forwards), expected);
        assert_eq!(keys(&backwards), expected);
        assert_eq!(forwards.rows_read(), 6);
        assert_eq!(forwards.len(), 4);
    }

    #[test]
    fn of_one_update_listed_twice_in_an_object_the_first_row_wins() {
        let first = quote(
            1,
            "USD",
            "2024-06-01T00:05:00Z",
            "2024-06-01T00:04:00Z",
            "2",
        );
        let second = quote(
            1,
            "USD",
            "2024-06-01T00:05:00Z",
            "2024-06-01T00:04:00Z",
            "1",
        );
        let mut table = DayTable::default();
        table.push(&second, 7).unwrap();
        table.push(&first, 3).unwrap();
        let day = table.finish();
        assert_eq!(day.len(), 1);
        assert_eq!(day.rows().next().unwrap().price, 2.0);
    }

    #[test]
    fn texts_and_numbers_survive_the_compact_form() {
        let mut table = DayTable::default();
        table
            .push(
                &quote(
                    7,
                    "USD",
                    "2024-06-01T00:05:00Z",
                    "2024-06-01T00:04:00Z",
                    "0.000000012345",
                ),
                0,
            )
            .unwrap();
        let day = table.finish();
        let row = day.rows().next().unwrap();
        assert_eq!(day.text(row.name), "Coin, \"7\"");
        assert_eq!(row.price, 0.000000012345);
        assert_eq!(row.metric(6), Some(12345678901234567890.0));
        assert_eq!(row.metric(0), None);
        assert_eq!(row.cmc_rank(), Some(7));
        assert_eq!(row.num_market_pairs(), None);
    }

    #[test]
    fn a_value_beyond_a_double_is_refused_by_name() {
        let mut row = quote(
            1,
            "USD",
            "2024-06-01T00:05:00Z",
            "2024-06-01T00:04:00Z",
            "1",
        );
        row.total_supply = Some(DecimalText::parse(&format!("1{}", "0".repeat(320))).unwrap());
        let error = DayTable::default().push(&row, 0).unwrap_err();
        assert!(error.to_string().contains("total_supply"), "{error}");
    }

    #[test]
    fn the_metrics_are_the_twelve_nullable_decimals_after_price() {
        let metrics = &QUOTE_COLUMNS[FIRST_METRIC..FIRST_METRIC + METRICS];
        assert_eq!(QUOTE_COLUMNS[FIRST_METRIC - 1].name, "price");
        assert_eq!(metrics[0].name, "volume_24h");
        assert_eq!(metrics[METRICS - 1].name, "max_supply");
        assert!(metrics
            .iter()
            .all(|c| c.column_type == ColumnType::Decimal && c.nullable));
        assert_ne!(
            QUOTE_COLUMNS[FIRST_METRIC + METRICS].column_type,
            ColumnType::Decimal
        );
    }

    #[test]
    fn the_compact_row_stays_small() {
        // 1.44 million of them must fit a 512 MB function with room to write the Parquet.
        assert_eq!(std::mem::size_of::<CompactRow>(), 176);
    }
}
