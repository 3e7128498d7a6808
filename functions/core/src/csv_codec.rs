//! The `quotes` CSV: UTF-8, a header row, commas, RFC 4180 quoting where a field needs it,
//! `\n` line ends, numbers as exact decimal text, an empty field for null, and timestamps
//! as `YYYY-MM-DD HH:MM:SS.fff` UTC.

use crate::quote::{Field, QuoteRow};
use crate::schema::quote_column_names;
use chrono::{DateTime, Utc};

/// Athena reads this text form as TIMESTAMP; PostgreSQL reads it as timestamptz in UTC.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

#[derive(Debug, thiserror::Error)]
#[error("could not encode the quotes CSV: {0}")]
pub struct EncodeError(#[from] csv::Error);

pub fn format_timestamp(at: DateTime<Utc>) -> String {
    at.format(TIMESTAMP_FORMAT).to_string()
}

/// Encodes `rows` with the header, in the order given.
pub fn encode_quotes(rows: &[QuoteRow]) -> Result<Vec<u8>, EncodeError> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::with_capacity(256 * (rows.len() + 1)));
    writer.write_record(quote_column_names())?;
    let mut record = csv::ByteRecord::new();
    for row in rows {
        record.clear();
        for field in row.fields() {
            match field {
                Field::Timestamp(at) => record.push_field(format_timestamp(at).as_bytes()),
                Field::Integer(Some(value)) => record.push_field(value.to_string().as_bytes()),
                Field::Text(text) => record.push_field(text.as_bytes()),
                Field::Decimal(Some(value)) => record.push_field(value.as_str().as_bytes()),
                Field::Integer(None) | Field::Decimal(None) => record.push_field(b""),
            }
        }
        writer.write_byte_record(&record)?;
    }
    writer
        .into_inner()
        .map_err(|e| EncodeError(e.into_error().into()))
}
