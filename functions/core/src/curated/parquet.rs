//! The curated tables' Parquet files: the column lists (the Glue tables in `template.yaml`
//! are tested against them) and a writer over rows already in their final order.
//!
//! Types Athena reads natively: `INT64` for ids and counts, `INT64 TIMESTAMP(MILLIS, UTC)`
//! for times (the CSV's precision), `BYTE_ARRAY STRING` for texts, `DOUBLE` for metrics. A
//! `DOUBLE` keeps 15–17 significant digits of any magnitude CMC reports; `DECIMAL(38, 18)`
//! would overflow on supplies past 10^20 and round prices below 10^-18. The exact decimal
//! text stays in the raw CSV (never rewritten) and in PostgreSQL's NUMERIC columns.

use crate::schema::{ColumnType, QUOTE_COLUMNS};
use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use std::sync::Arc;

/// Rows per row group. A one-asset query reads the groups whose `cmc_id` range holds the
/// asset: with a listings day (1.44 M rows) that is one of eleven.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Rows per data page, so page indexes narrow a read further inside a row group.
const PAGE_ROWS: usize = 8 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CuratedType {
    Timestamp,
    Integer,
    Text,
    Double,
}

impl CuratedType {
    /// The column's type in the Glue table.
    pub fn athena(self) -> &'static str {
        match self {
            CuratedType::Timestamp => "timestamp",
            CuratedType::Integer => "bigint",
            CuratedType::Text => "string",
            CuratedType::Double => "double",
        }
    }

    fn parquet(self) -> &'static str {
        match self {
            CuratedType::Timestamp => "INT64 {} (TIMESTAMP(MILLIS,true))",
            CuratedType::Integer => "INT64 {}",
            CuratedType::Text => "BYTE_ARRAY {} (STRING)",
            CuratedType::Double => "DOUBLE {}",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CuratedColumn {
    pub name: &'static str,
    pub curated_type: CuratedType,
    pub nullable: bool,
}

/// The silver table's columns: the raw CSV's, in its order, with decimals as doubles.
pub fn quote_columns() -> Vec<CuratedColumn> {
    QUOTE_COLUMNS
        .iter()
        .map(|c| CuratedColumn {
            name: c.name,
            curated_type: match c.column_type {
                ColumnType::Timestamp => CuratedType::Timestamp,
                ColumnType::Integer => CuratedType::Integer,
                ColumnType::Text => CuratedType::Text,
                ColumnType::Decimal => CuratedType::Double,
            },
            nullable: c.nullable,
        })
        .collect()
}

const fn gold(name: &'static str, curated_type: CuratedType, nullable: bool) -> CuratedColumn {
    CuratedColumn {
        name,
        curated_type,
        nullable,
    }
}

/// The gold table's columns: one candle per asset, quote currency and UTC day.
pub const OHLC_COLUMNS: [CuratedColumn; 13] = [
    gold("cmc_id", CuratedType::Integer, false),
    gold("symbol", CuratedType::Text, false),
    gold("quote_currency", CuratedType::Text, false),
    gold("bucket_start", CuratedType::Timestamp, false),
    gold("open", CuratedType::Double, false),
    gold("high", CuratedType::Double, false),
    gold("low", CuratedType::Double, false),
    gold("close", CuratedType::Double, false),
    gold("samples", CuratedType::Integer, false),
    gold("volume_24h", CuratedType::Double, true),
    gold("market_cap", CuratedType::Double, true),
    gold("first_update", CuratedType::Timestamp, false),
    gold("last_update", CuratedType::Timestamp, false),
];

/// One cell, typed as its column is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<'a> {
    /// Integers and timestamps (epoch milliseconds).
    Int(Option<i64>),
    Double(Option<f64>),
    Text(&'a str),
}

#[derive(Debug, thiserror::Error)]
#[error("could not encode the {table} Parquet file: {source}")]
pub struct EncodeError {
    pub table: &'static str,
    #[source]
    pub source: ParquetError,
}

fn message_type(table: &str, columns: &[CuratedColumn]) -> String {
    let fields: Vec<String> = columns
        .iter()
        .map(|c| {
            let repetition = if c.nullable { "OPTIONAL" } else { "REQUIRED" };
            format!(
                "{repetition} {};",
                c.curated_type.parquet().replace("{}", c.name)
            )
        })
        .collect();
    format!("message {table} {{ {} }}", fields.join(" "))
}

/// Writes `rows` (already sorted) as one Parquet file: ZSTD, row groups of
/// [`ROW_GROUP_ROWS`], statistics per page and chunk, `sorted_by` recorded as the row
/// groups' sorting columns, `metadata` in the footer. The same rows give the same bytes.
pub fn write<'r, R, I>(
    table: &'static str,
    columns: &[CuratedColumn],
    sorted_by: &[&str],
    metadata: Vec<(String, String)>,
    rows: I,
    cell: impl Fn(&R, usize) -> Cell<'r>,
) -> Result<Vec<u8>, EncodeError>
where
    R: 'r,
    I: ExactSizeIterator<Item = &'r R> + Clone,
{
    let error = |source| EncodeError { table, source };
    let schema = Arc::new(parse_message_type(&message_type(table, columns)).map_err(error)?);
    let sorting = sorted_by
        .iter()
        .filter_map(|name| columns.iter().position(|c| c.name == *name))
        .map(|index| SortingColumn {
            column_idx: index as i32,
            descending: false,
            nulls_first: false,
        })
        .collect();
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(error)?))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_sorting_columns(Some(sorting))
        .set_key_value_metadata(Some(
            metadata
                .into_iter()
                .map(|(key, value)| KeyValue::new(key, value))
                .collect(),
        ))
        .build();
    let mut writer =
        SerializedFileWriter::new(Vec::new(), schema, Arc::new(properties)).map_err(error)?;
    let total = rows.len();
    let mut start = 0;
    while start < total {
        let group = rows.clone().skip(start).take(ROW_GROUP_ROWS);
        let mut row_group = writer.next_row_group().map_err(error)?;
        let mut index = 0;
        while let Some(mut column) = row_group.next_column().map_err(error)? {
            write_column(&mut column, columns[index], group.clone(), |r| {
                cell(r, index)
            })
            .map_err(error)?;
            column.close().map_err(error)?;
            index += 1;
        }
        row_group.close().map_err(error)?;
        start += ROW_GROUP_ROWS;
    }
    writer.into_inner().map_err(error)
}

fn write_column<'r, R: 'r>(
    column: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    spec: CuratedColumn,
    rows: impl Iterator<Item = &'r R>,
    cell: impl Fn(&R) -> Cell<'r>,
) -> Result<(), ParquetError> {
    let mut levels: Vec<i16> = Vec::new();
    let nullable = spec.nullable;
    match spec.curated_type {
        CuratedType::Timestamp | CuratedType::Integer => {
            let values = collect(rows, &cell, &mut levels, |c| match c {
                Cell::Int(value) => value,
                _ => None,
            });
            column.typed::<Int64Type>().write_batch(
                &values,
                nullable.then_some(&levels[..]),
                None,
            )?;
        }
        CuratedType::Double => {
            let values = collect(rows, &cell, &mut levels, |c| match c {
                Cell::Double(value) => value,
                _ => None,
            });
            column.typed::<DoubleType>().write_batch(
                &values,
                nullable.then_some(&levels[..]),
                None,
            )?;
        }
        CuratedType::Text => {
            let values = collect(rows, &cell, &mut levels, |c| match c {
                Cell::Text(text) => Some(ByteArray::from(text)),
                _ => None,
            });
            column
                .typed::<ByteArrayType>()
                .write_batch(&values, None, None)?;
        }
    }
    Ok(())
}

/// The present values of a column, and its definition levels (1 present, 0 null).
fn collect<'r, R: 'r, V>(
    rows: impl Iterator<Item = &'r R>,
    cell: impl Fn(&R) -> Cell<'r>,
    levels: &mut Vec<i16>,
    value: impl Fn(Cell<'r>) -> Option<V>,
) -> Vec<V> {
    let mut values = Vec::new();
    for row in rows {
        let present = value(cell(row));
        levels.push(i16::from(present.is_some()));
        values.extend(present);
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    #[test]
    fn the_silver_columns_follow_the_csv_with_decimals_as_doubles() {
        let columns = quote_columns();
        assert_eq!(columns.len(), QUOTE_COLUMNS.len());
        assert_eq!(columns[0].curated_type.athena(), "timestamp");
        assert_eq!(columns[7].name, "price");
        assert_eq!(columns[7].curated_type.athena(), "double");
        assert!(!columns[7].nullable);
        assert!(columns[19].nullable, "max_supply is often null");
    }

    #[test]
    fn rows_read_back_with_their_types_nulls_and_groups() {
        let columns = [
            gold("id", CuratedType::Integer, false),
            gold("at", CuratedType::Timestamp, false),
            gold("name", CuratedType::Text, false),
            gold("value", CuratedType::Double, true),
        ];
        let rows: Vec<(i64, String, Option<f64>)> = (0..(ROW_GROUP_ROWS as i64 + 10))
            .map(|i| (i, format!("n{i}"), (i % 3 != 0).then_some(i as f64 / 8.0)))
            .collect();
        let cell = |row: &(i64, String, Option<f64>), column: usize| match column {
            0 => Cell::Int(Some(row.0)),
            1 => Cell::Int(Some(1_717_200_000_000 + row.0)),
            2 => Cell::Text(""),
            _ => Cell::Double(row.2),
        };
        let bytes = write(
            "test",
            &columns,
            &["id"],
            vec![("k".into(), "v".into())],
            rows.iter(),
            cell,
        )
        .unwrap();
        let again = write(
            "test",
            &columns,
            &["id"],
            vec![("k".into(), "v".into())],
            rows.iter(),
            cell,
        )
        .unwrap();
        assert_eq!(bytes, again, "the same rows give the same bytes");

        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
        let metadata = reader.metadata();
        assert_eq!(metadata.num_row_groups(), 2);
        assert_eq!(metadata.file_metadata().num_rows(), rows.len() as i64);
        let first = metadata.row_group(0);
        assert_eq!(first.num_rows(), ROW_GROUP_ROWS as i64);
        assert!(first.column(0).statistics().is_some());
        // The file records the codec, not the level.
        assert!(matches!(
            first.column(0).compression(),
            Compression::ZSTD(_)
        ));
        let records: Vec<_> = reader.get_row_iter(None).unwrap().take(4).collect();
        let fields: Vec<Vec<Field>> = records
            .into_iter()
            .map(|r| {
                r.unwrap()
                    .into_columns()
                    .into_iter()
                    .map(|(_, f)| f)
                    .collect()
            })
            .collect();
        assert_eq!(fields[0][0], Field::Long(0));
        assert_eq!(fields[0][1], Field::TimestampMillis(1_717_200_000_000));
        assert_eq!(fields[0][3], Field::Null);
        assert_eq!(fields[1][3], Field::Double(0.125));
    }
}
