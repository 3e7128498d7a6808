//! Reading a raw CSV object as it streams in: the header first, then each row decoded and
//! checked against its dataset's contract, handed to the sink in batches.

use super::BATCH_ROWS;
use crate::binance::Kline;
use crate::csv_codec::{check_header, decode_row, format_timestamp, DecodeError};
use crate::kline_csv::{check_kline_header, decode_kline_row};
use crate::quote::QuoteRow;
use crate::sink::{LoadRow, RowSource, SourceError};
use std::marker::PhantomData;
use tokio::io::AsyncRead;

/// A dataset's row as its CSV holds it.
pub trait CsvRow: LoadRow + Clone {
    fn check_header(header: &csv_async::ByteRecord) -> Result<(), DecodeError>;

    /// Decodes the row on line `line`.
    fn decode(record: &csv_async::ByteRecord, line: u64) -> Result<Self, DecodeError>;

    /// Whether `self`, on line `line`, may follow `previous` in one file.
    fn may_follow(&self, _previous: &Self, _line: u64) -> Result<(), DecodeError> {
        Ok(())
    }
}

impl CsvRow for QuoteRow {
    fn check_header(header: &csv_async::ByteRecord) -> Result<(), DecodeError> {
        check_header(header)
    }

    fn decode(record: &csv_async::ByteRecord, line: u64) -> Result<Self, DecodeError> {
        decode_row(record, line)
    }
}

impl CsvRow for Kline {
    fn check_header(header: &csv_async::ByteRecord) -> Result<(), DecodeError> {
        check_kline_header(header)
    }

    fn decode(record: &csv_async::ByteRecord, line: u64) -> Result<Self, DecodeError> {
        decode_kline_row(record, line)
    }

    /// Rows strictly ascend by pair, then open time: the klines function and the archive
    /// backfill both write them so, and a repeated or out-of-order minute means the file
    /// is not what either wrote.
    fn may_follow(&self, previous: &Self, line: u64) -> Result<(), DecodeError> {
        if (self.symbol.as_str(), self.open_time) > (previous.symbol.as_str(), previous.open_time) {
            return Ok(());
        }
        let (column, problem) = if self.symbol != previous.symbol {
            ("symbol", "sorts before")
        } else if self.open_time == previous.open_time {
            ("open_time", "repeats")
        } else {
            ("open_time", "is earlier than")
        };
        Err(DecodeError::Field {
            line,
            column,
            reason: format!(
                "{} {} {problem} {} {} on the line before; rows must strictly ascend by symbol, then open_time",
                self.symbol,
                format_timestamp(self.open_time),
                previous.symbol,
                format_timestamp(previous.open_time),
            ),
        })
    }
}

/// The rows of a CSV object of dataset row `T`, read from a stream and checked as they
/// come: the header first, then each row against the schema and the row before it.
pub struct CsvRows<R, T> {
    reader: csv_async::AsyncReader<R>,
    record: csv_async::ByteRecord,
    header_checked: bool,
    rows: u64,
    /// The last row handed out, for [`CsvRow::may_follow`] across batches.
    last: Option<T>,
    row: PhantomData<fn() -> T>,
}

impl<R: AsyncRead + Unpin + Send, T: CsvRow> CsvRows<R, T> {
    pub fn new(body: R) -> CsvRows<R, T> {
        let reader = csv_async::AsyncReaderBuilder::new()
            .has_headers(false)
            // Field counts are checked per row, to name the line in the error.
            .flexible(true)
            .create_reader(body);
        CsvRows {
            reader,
            record: csv_async::ByteRecord::new(),
            header_checked: false,
            rows: 0,
            last: None,
            row: PhantomData,
        }
    }

    async fn read(&mut self) -> Result<bool, SourceError> {
        self.reader
            .read_byte_record(&mut self.record)
            .await
            .map_err(|e| {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                let reason = e.to_string();
                match e.into_kind() {
                    csv_async::ErrorKind::Io(io) => SourceError::Read(io),
                    _ => SourceError::Decode(DecodeError::Malformed { line, reason }),
                }
            })
    }

    fn line(&self) -> u64 {
        self.record.position().map(|p| p.line()).unwrap_or(0)
    }
}

impl<R: AsyncRead + Unpin + Send, T: CsvRow> RowSource for CsvRows<R, T> {
    type Row = T;

    async fn next_batch(&mut self) -> Result<Option<Vec<T>>, SourceError> {
        if !self.header_checked {
            if !self.read().await? {
                return Err(DecodeError::Empty.into());
            }
            T::check_header(&self.record)?;
            self.header_checked = true;
        }
        let mut batch: Vec<T> = Vec::with_capacity(BATCH_ROWS);
        while batch.len() < BATCH_ROWS && self.read().await? {
            let line = self.line();
            let row = T::decode(&self.record, line)?;
            if let Some(previous) = batch.last().or(self.last.as_ref()) {
                row.may_follow(previous, line)?;
            }
            batch.push(row);
        }
        if batch.is_empty() {
            return if self.rows == 0 {
                Err(DecodeError::NoRows.into())
            } else {
                Ok(None)
            };
        }
        self.rows += batch.len() as u64;
        self.last = batch.last().cloned();
        Ok(Some(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::DecimalText;
    use crate::kline_csv::encode_klines;
    use chrono::{DateTime, TimeDelta, Utc};

    fn kline(symbol: &str, minute: i64) -> Kline {
        let open_time = DateTime::<Utc>::from_timestamp(1_717_200_000 + 60 * minute, 0).unwrap();
        let d = |t: &str| DecimalText::parse(t).unwrap();
        Kline {
            symbol: symbol.to_owned(),
            open_time,
            close_time: open_time + TimeDelta::milliseconds(59_999),
            open: d("1.10"),
            high: d("2"),
            low: d("1"),
            close: d("1.5"),
            volume: d("3"),
            quote_volume: d("4"),
            trades: 5,
            taker_buy_base_volume: d("1"),
            taker_buy_quote_volume: d("2"),
        }
    }

    /// Every kline of `csv` as `load` reads it, or the first error.
    fn read(csv: &[u8]) -> Result<Vec<Kline>, String> {
        futures::executor::block_on(async {
            let mut source = CsvRows::<_, Kline>::new(csv);
            let mut rows = Vec::new();
            while let Some(batch) = source.next_batch().await.map_err(|e| e.to_string())? {
                rows.extend(batch);
            }
            Ok(rows)
        })
    }

    #[test]
    fn klines_ascending_by_pair_then_minute_read_back_across_batches() {
        let mut klines: Vec<Kline> = (0..1500).map(|m| kline("BTCUSDT", m)).collect();
        klines.extend((0..3).map(|m| kline("ETHUSDT", m)));
        assert_eq!(read(&encode_klines(&klines).unwrap()).unwrap(), klines);
    }

    #[test]
    fn a_repeated_or_earlier_minute_or_pair_is_refused_naming_the_line() {
        let cases = [
            (
                vec![kline("BTCUSDT", 0), kline("BTCUSDT", 0)],
                "line 3, column open_time: BTCUSDT 2024-06-01 00:00:00.000 repeats BTCUSDT \
                 2024-06-01 00:00:00.000 on the line before",
            ),
            (
                vec![kline("BTCUSDT", 1), kline("BTCUSDT", 0)],
                "line 3, column open_time: BTCUSDT 2024-06-01 00:00:00.000 is earlier than \
                 BTCUSDT 2024-06-01 00:01:00.000 on the line before",
            ),
            (
                vec![kline("ETHUSDT", 0), kline("BTCUSDT", 1)],
                "line 3, column symbol: BTCUSDT 2024-06-01 00:01:00.000 sorts before ETHUSDT \
                 2024-06-01 00:00:00.000 on the line before",
            ),
        ];
        for (klines, message) in cases {
            let error = read(&encode_klines(&klines).unwrap()).unwrap_err();
            assert!(error.starts_with(message), "{error}");
        }
        // The check spans the batches the sink asks for: line 1002 opens the second.
        let mut klines: Vec<Kline> = (0..1000).map(|m| kline("BTCUSDT", m)).collect();
        klines.push(kline("BTCUSDT", 999));
        let error = read(&encode_klines(&klines).unwrap()).unwrap_err();
        assert!(
            error.starts_with("line 1002, column open_time: "),
            "{error}"
        );
    }

    #[test]
    fn a_quotes_file_is_not_a_klines_file() {
        let error = read(b"slot_at,cmc_id\n").unwrap_err();
        assert!(
            error.contains("does not match the klines schema: column 1 is \"slot_at\""),
            "{error}"
        );
    }
}
