//! The `quotes` CSV: UTF-8, a header row, commas, RFC 4180 quoting where a field needs it,
//! `\n` line ends, numbers as exact decimal text, an empty field for null, and timestamps
//! as `YYYY-MM-DD HH:MM:SS.fff` UTC.

use crate::decimal::DecimalText;
use crate::quote::{Field, QuoteRow};
use crate::schema::{quote_column_names, Column, Row, QUOTE_COLUMNS};
use chrono::{DateTime, Utc};

/// Athena reads this text form as TIMESTAMP; PostgreSQL reads it as timestamptz in UTC.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

#[derive(Debug, thiserror::Error)]
#[error("could not encode the CSV: {0}")]
pub struct EncodeError(#[from] pub(crate) csv::Error);

pub fn format_timestamp(at: DateTime<Utc>) -> String {
    at.format(TIMESTAMP_FORMAT).to_string()
}

/// The file's format: `\n` line ends, quotes only where a field needs them.
pub(crate) fn writer<W: std::io::Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(out)
}

/// Writes `rows` as data lines: one writer for every dataset, so their files agree on
/// every detail of the format.
pub(crate) fn write_rows<W: std::io::Write, T: Row>(
    writer: &mut csv::Writer<W>,
    rows: &[T],
) -> Result<(), csv::Error> {
    let mut record = csv::ByteRecord::new();
    for row in rows {
        record.clear();
        for field in row.fields().as_ref() {
            match *field {
                Field::Timestamp(at) => record.push_field(format_timestamp(at).as_bytes()),
                Field::Integer(Some(value)) => record.push_field(value.to_string().as_bytes()),
                Field::Text(text) => record.push_field(text.as_bytes()),
                Field::Decimal(Some(value)) => record.push_field(value.as_str().as_bytes()),
                Field::Integer(None) | Field::Decimal(None) => record.push_field(b""),
            }
        }
        writer.write_byte_record(&record)?;
    }
    Ok(())
}

/// Encodes `rows` with the header, in the order given.
pub fn encode_quotes(rows: &[QuoteRow]) -> Result<Vec<u8>, EncodeError> {
    let mut writer = writer(Vec::with_capacity(256 * (rows.len() + 1)));
    writer.write_record(quote_column_names())?;
    write_rows(&mut writer, rows)?;
    writer
        .into_inner()
        .map_err(|e| EncodeError(e.into_error().into()))
}

/// Why a file, or a line of it, is not a valid CSV of its dataset (`quotes` or `klines`).
/// Lines count from 1, the header being line 1, as an editor shows them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the file is empty: no header row")]
    Empty,
    #[error("the file has a header but no rows")]
    NoRows,
    #[error("line 1: the header does not match the {dataset} schema: {reason}")]
    Header {
        dataset: &'static str,
        reason: String,
    },
    #[error("line {line}: expected {expected} fields, found {found}")]
    FieldCount {
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error("line {line}, column {column}: {reason}")]
    Field {
        line: u64,
        column: &'static str,
        reason: String,
    },
    #[error("line {line}: {reason}")]
    Malformed { line: u64, reason: String },
}

/// A CSV record's fields by position: implemented by the synchronous `csv` crate's record
/// and by `csv_async`'s (what the load function streams), so neither is copied into the other.
pub trait RecordFields {
    fn field(&self, index: usize) -> Option<&[u8]>;
    fn count(&self) -> usize;
}

impl RecordFields for csv::ByteRecord {
    fn field(&self, index: usize) -> Option<&[u8]> {
        self.get(index)
    }

    fn count(&self) -> usize {
        self.len()
    }
}

impl RecordFields for csv_async::ByteRecord {
    fn field(&self, index: usize) -> Option<&[u8]> {
        self.get(index)
    }

    fn count(&self) -> usize {
        self.len()
    }
}

/// Checks the header row against [`QUOTE_COLUMNS`], naming the first difference.
pub fn check_header(header: &impl RecordFields) -> Result<(), DecodeError> {
    check_columns(header, &QUOTE_COLUMNS, "quotes")
}

/// Checks a header row against `columns`, the schema of `dataset`, naming the first
/// difference.
pub fn check_columns(
    header: &impl RecordFields,
    columns: &[Column],
    dataset: &'static str,
) -> Result<(), DecodeError> {
    let mismatch = |reason: String| DecodeError::Header { dataset, reason };
    for (position, column) in columns.iter().enumerate() {
        let name = column.name;
        match header.field(position) {
            Some(found) if found == name.as_bytes() => {}
            Some(found) => {
                return Err(mismatch(format!(
                    "column {} is {:?}, expected {name:?}",
                    position + 1,
                    String::from_utf8_lossy(found)
                )))
            }
            None => {
                return Err(mismatch(format!(
                    "missing column {name:?} (column {})",
                    position + 1
                )))
            }
        }
    }
    if header.count() > columns.len() {
        return Err(mismatch(format!(
            "{} columns, expected {}",
            header.count(),
            columns.len()
        )));
    }
    Ok(())
}

/// Parses one data row; `line` is its line number in the file.
pub fn decode_row(record: &impl RecordFields, line: u64) -> Result<QuoteRow, DecodeError> {
    let fields = Fields::new(record, line, &QUOTE_COLUMNS)?;
    Ok(QuoteRow {
        slot_at: fields.timestamp(0)?,
        cmc_id: fields.required(1, fields.integer(1)?)?,
        symbol: fields.text(2, false)?,
        name: fields.text(3, false)?,
        slug: fields.text(4, true)?,
        cmc_rank: fields.integer(5)?,
        quote_currency: fields.text(6, false)?,
        price: fields.required(7, fields.decimal(7)?)?,
        volume_24h: fields.decimal(8)?,
        volume_change_24h: fields.decimal(9)?,
        percent_change_1h: fields.decimal(10)?,
        percent_change_24h: fields.decimal(11)?,
        percent_change_7d: fields.decimal(12)?,
        percent_change_30d: fields.decimal(13)?,
        market_cap: fields.decimal(14)?,
        market_cap_dominance: fields.decimal(15)?,
        fully_diluted_market_cap: fields.decimal(16)?,
        circulating_supply: fields.decimal(17)?,
        total_supply: fields.decimal(18)?,
        max_supply: fields.decimal(19)?,
        num_market_pairs: fields.integer(20)?,
        last_updated: fields.timestamp(21)?,
        ingested_at: fields.timestamp(22)?,
    })
}

/// One data row's fields, read by position against a dataset's columns; errors name the
/// line and the column.
pub(crate) struct Fields<'a, R> {
    record: &'a R,
    line: u64,
    columns: &'static [Column],
}

impl<'a, R: RecordFields> Fields<'a, R> {
    /// The row's fields, once their count matches `columns`.
    pub(crate) fn new(
        record: &'a R,
        line: u64,
        columns: &'static [Column],
    ) -> Result<Fields<'a, R>, DecodeError> {
        if record.count() != columns.len() {
            return Err(DecodeError::FieldCount {
                line,
                expected: columns.len(),
                found: record.count(),
            });
        }
        Ok(Fields {
            record,
            line,
            columns,
        })
    }

    fn error(&self, index: usize, reason: impl Into<String>) -> DecodeError {
        DecodeError::Field {
            line: self.line,
            column: self.columns[index].name,
            reason: reason.into(),
        }
    }

    fn str(&self, index: usize) -> Result<&str, DecodeError> {
        let bytes = self.record.field(index).unwrap_or_default();
        // PostgreSQL text cannot hold NUL; refusing it here names the line instead of
        // failing deep in the database with a retryable-looking error.
        if bytes.contains(&0) {
            return Err(self.error(index, "contains a NUL character"));
        }
        std::str::from_utf8(bytes).map_err(|_| self.error(index, "not valid UTF-8"))
    }

    pub(crate) fn required<T>(&self, index: usize, value: Option<T>) -> Result<T, DecodeError> {
        value.ok_or_else(|| self.error(index, "is empty but required"))
    }

    pub(crate) fn text(&self, index: usize, may_be_empty: bool) -> Result<String, DecodeError> {
        let text = self.str(index)?;
        if text.is_empty() && !may_be_empty {
            return Err(self.error(index, "is empty but required"));
        }
        Ok(text.to_owned())
    }

    pub(crate) fn integer(&self, index: usize) -> Result<Option<i64>, DecodeError> {
        match self.str(index)? {
            "" => Ok(None),
            text => text
                .parse()
                .map(Some)
                .map_err(|_| self.error(index, format!("{text:?} is not an integer"))),
        }
    }

    pub(crate) fn decimal(&self, index: usize) -> Result<Option<DecimalText>, DecodeError> {
        match self.str(index)? {
            "" => Ok(None),
            text => DecimalText::parse(text)
                .map(Some)
                .map_err(|e| self.error(index, e.to_string())),
        }
    }

    pub(crate) fn timestamp(&self, index: usize) -> Result<DateTime<Utc>, DecodeError> {
        let text = self.str(index)?;
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
            .map(|t| t.and_utc())
            .map_err(|_| {
                self.error(
                    index,
                    format!("{text:?} is not a timestamp like \"2024-06-01 12:35:00.000\""),
                )
            })
    }
}

/// Appends `rows` (of any dataset) to `out` as CSV data lines (no header), in the file's
/// format.
pub fn encode_rows_into<T: Row>(rows: &[T], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let mut writer = writer(out);
    write_rows(&mut writer, rows)?;
    writer.flush().map_err(|e| EncodeError(e.into()))
}
