//! The `klines` CSV: the same format as the quotes CSV (UTF-8, a header row, commas, `\n`
//! line ends, numbers as exact decimal text, timestamps as `YYYY-MM-DD HH:MM:SS.fff` UTC,
//! which keeps Binance's millisecond precision) with the columns of
//! [`KLINE_COLUMNS`]: one row per pair and minute, ordered by pair then open time.

use crate::binance::Kline;
use crate::csv_codec::{
    check_columns, format_timestamp, write_rows, writer, DecodeError, EncodeError, Fields,
    RecordFields,
};
use crate::quote::Field;
use crate::schema::{kline_column_names, Column, Row, KLINE_COLUMNS};

/// Encodes `klines` with the header, in the order given.
pub fn encode_klines(klines: &[Kline]) -> Result<Vec<u8>, EncodeError> {
    let mut writer = writer(Vec::with_capacity(160 * (klines.len() + 1)));
    writer.write_record(kline_column_names())?;
    write_rows(&mut writer, klines)?;
    writer
        .into_inner()
        .map_err(|e| EncodeError(e.into_error().into()))
}

impl Row for Kline {
    const COLUMNS: &'static [Column] = &KLINE_COLUMNS;

    fn fields(&self) -> impl AsRef<[Field<'_>]> {
        let decimal = |value| Field::Decimal(Some(value));
        [
            Field::Text(&self.symbol),
            Field::Timestamp(self.open_time),
            Field::Timestamp(self.close_time),
            decimal(&self.open),
            decimal(&self.high),
            decimal(&self.low),
            decimal(&self.close),
            decimal(&self.volume),
            decimal(&self.quote_volume),
            Field::Integer(Some(self.trades)),
            decimal(&self.taker_buy_base_volume),
            decimal(&self.taker_buy_quote_volume),
        ]
    }
}

/// Checks the header row against [`KLINE_COLUMNS`], naming the first difference.
pub fn check_kline_header(header: &impl RecordFields) -> Result<(), DecodeError> {
    check_columns(header, &KLINE_COLUMNS, "klines")
}

/// Parses one data row; `line` is its line number in the file. Beyond each field's type,
/// a row must describe a whole minute: the open time on a minute boundary and the close
/// time its last millisecond, as Binance sends them; anything else is not a one-minute
/// kline and would break the `(symbol, open_time)` key's meaning.
pub fn decode_kline_row(record: &impl RecordFields, line: u64) -> Result<Kline, DecodeError> {
    let fields = Fields::new(record, line, &KLINE_COLUMNS)?;
    let symbol = fields.text(0, false)?;
    if !crate::layout::is_pair_symbol(&symbol) {
        return Err(DecodeError::Field {
            line,
            column: "symbol",
            reason: format!("{symbol:?} is not a pair like \"BTCUSDT\""),
        });
    }
    let open_time = fields.timestamp(1)?;
    let close_time = fields.timestamp(2)?;
    if open_time.timestamp_subsec_nanos() != 0 || open_time.timestamp() % 60 != 0 {
        return Err(DecodeError::Field {
            line,
            column: "open_time",
            reason: format!("{} is not on a whole minute", format_timestamp(open_time)),
        });
    }
    if close_time != open_time + chrono::TimeDelta::milliseconds(59_999) {
        return Err(DecodeError::Field {
            line,
            column: "close_time",
            reason: format!(
                "{} is not the last millisecond of the minute opening at {}",
                format_timestamp(close_time),
                format_timestamp(open_time)
            ),
        });
    }
    let trades = fields.required(9, fields.integer(9)?)?;
    if trades < 0 {
        return Err(DecodeError::Field {
            line,
            column: "trades",
            reason: format!("{trades} is negative"),
        });
    }
    Ok(Kline {
        symbol,
        open_time,
        close_time,
        open: fields.required(3, fields.decimal(3)?)?,
        high: fields.required(4, fields.decimal(4)?)?,
        low: fields.required(5, fields.decimal(5)?)?,
        close: fields.required(6, fields.decimal(6)?)?,
        volume: fields.required(7, fields.decimal(7)?)?,
        quote_volume: fields.required(8, fields.decimal(8)?)?,
        trades,
        taker_buy_base_volume: fields.required(10, fields.decimal(10)?)?,
        taker_buy_quote_volume: fields.required(11, fields.decimal(11)?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::DecimalText;
    use chrono::{DateTime, Utc};

    fn kline(open_ms: i64, close: &str) -> Kline {
        let d = |t: &str| DecimalText::parse(t).unwrap();
        Kline {
            symbol: "BTCUSDT".into(),
            open_time: DateTime::<Utc>::from_timestamp_millis(open_ms).unwrap(),
            close_time: DateTime::<Utc>::from_timestamp_millis(open_ms + 59_999).unwrap(),
            open: d("67000.01000000"),
            high: d("67010.00000000"),
            low: d("66990.50000000"),
            close: d(close),
            volume: d("12.34567000"),
            quote_volume: d("827103.12345678"),
            trades: 1234,
            taker_buy_base_volume: d("6.10000000"),
            taker_buy_quote_volume: d("408700.00000000"),
        }
    }

    fn decode_all(bytes: &[u8]) -> Result<Vec<Kline>, DecodeError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        let mut records = reader.byte_records();
        let header = records.next().unwrap().unwrap();
        check_kline_header(&header)?;
        records
            .enumerate()
            .map(|(i, r)| decode_kline_row(&r.unwrap(), i as u64 + 2))
            .collect()
    }

    #[test]
    fn klines_round_trip_with_exact_text_and_millisecond_times() {
        let klines = vec![
            kline(1_717_243_200_000, "67005.00000000"),
            kline(1_717_243_260_000, "0.00000001"),
        ];
        let bytes = encode_klines(&klines).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(
            text.lines().next().unwrap(),
            "symbol,open_time,close_time,open,high,low,close,volume,quote_volume,trades,\
             taker_buy_base_volume,taker_buy_quote_volume"
        );
        assert_eq!(
            text.lines().nth(1).unwrap(),
            "BTCUSDT,2024-06-01 12:00:00.000,2024-06-01 12:00:59.999,67000.01000000,\
             67010.00000000,66990.50000000,67005.00000000,12.34567000,827103.12345678,1234,\
             6.10000000,408700.00000000"
        );
        assert_eq!(decode_all(&bytes).unwrap(), klines);
    }

    #[test]
    fn bad_rows_are_refused_naming_line_and_column() {
        let good =
            String::from_utf8(encode_klines(&[kline(1_717_243_200_000, "1")]).unwrap()).unwrap();
        let (header, row) = good.split_once('\n').unwrap();
        let cases = [
            (
                row.replace("BTCUSDT", "btc-usdt"),
                "line 2, column symbol: \"btc-usdt\" is not a pair like \"BTCUSDT\"",
            ),
            (
                row.replace("12:00:00.000", "12:00:30.000"),
                "line 2, column open_time: 2024-06-01 12:00:30.000 is not on a whole minute",
            ),
            (
                row.replace("12:00:59.999", "12:01:00.000"),
                "line 2, column close_time: 2024-06-01 12:01:00.000 is not the last millisecond \
                 of the minute opening at 2024-06-01 12:00:00.000",
            ),
            (
                row.replace(",1234,", ",-1,"),
                "line 2, column trades: -1 is negative",
            ),
            (
                row.replace(",1234,", ",,"),
                "line 2, column trades: is empty but required",
            ),
            (
                row.replace("12.34567000", "1e"),
                "line 2, column volume: \"1e\" is not a decimal number",
            ),
            (
                row.replacen(",1234", "", 1),
                "line 2: expected 12 fields, found 11",
            ),
        ];
        for (bad, message) in cases {
            let file = format!("{header}\n{bad}\n");
            let error = decode_all(file.as_bytes()).unwrap_err();
            assert_eq!(error.to_string(), message, "{bad}");
        }
    }

    #[test]
    fn kline_fields_follow_the_column_types_in_order() {
        let kline = kline(1_717_243_200_000, "1");
        let types: Vec<_> = Row::fields(&kline)
            .as_ref()
            .iter()
            .map(Field::column_type)
            .collect();
        let expected: Vec<_> = KLINE_COLUMNS.iter().map(|c| c.column_type).collect();
        assert_eq!(types, expected);
    }

    #[test]
    fn a_quotes_header_is_not_a_klines_header() {
        let file = "slot_at,cmc_id\n";
        assert_eq!(
            decode_all(file.as_bytes()).unwrap_err().to_string(),
            "line 1: the header does not match the klines schema: column 1 is \"slot_at\", \
             expected \"symbol\""
        );
    }
}
