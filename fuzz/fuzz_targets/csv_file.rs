//! Any bytes as a `quotes` CSV object, read the way `load` reads one from S3.
//!
//! Properties checked (a panic is a finding): nothing panics; rows `load` accepts encode
//! again without error, and that encoding reads back as the same rows (timestamps at the
//! file's documented millisecond precision).

#![no_main]

use chrono::{DateTime, Timelike, Utc};
use coinlake::csv_codec::{encode_quotes, encode_rows_into};
use coinlake::load::CsvRows;
use coinlake::quote::QuoteRow;
use coinlake::sink::{RowSource, SourceError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| run(data));

fn run(data: &[u8]) {
    let (rows, result) = read_all(data);
    if let Err(error) = &result {
        let _ = error.to_string();
    }
    if rows.is_empty() {
        return;
    }

    let mut csv = encode_quotes(&[]).expect("a header encodes");
    encode_rows_into(&rows, &mut csv)
        .unwrap_or_else(|e| panic!("rows load accepted do not encode again: {e}"));

    let (again, result) = read_all(&csv);
    if let Err(error) = result {
        panic!(
            "load rejects its own encoding of rows it accepted: {error}\n--- CSV ---\n{}",
            String::from_utf8_lossy(&csv)
        );
    }
    assert_eq!(again.len(), rows.len(), "row count changed on re-encoding");
    for (i, (got, want)) in again.iter().zip(&rows).enumerate() {
        assert_eq!(
            got,
            &at_csv_precision(want),
            "row {i} changed on re-encoding\n--- CSV ---\n{}",
            String::from_utf8_lossy(&csv)
        );
    }
}

/// Every row read before the end of the file or the first error, and how reading ended.
fn read_all(data: &[u8]) -> (Vec<QuoteRow>, Result<(), SourceError>) {
    futures::executor::block_on(async {
        let mut source = CsvRows::<_, QuoteRow>::new(data);
        let mut rows = Vec::new();
        loop {
            match source.next_batch().await {
                Ok(Some(batch)) => rows.extend(batch),
                Ok(None) => return (rows, Ok(())),
                Err(error) => return (rows, Err(error)),
            }
        }
    })
}

fn at_csv_precision(row: &QuoteRow) -> QuoteRow {
    QuoteRow {
        slot_at: millis(row.slot_at),
        last_updated: millis(row.last_updated),
        ingested_at: millis(row.ingested_at),
        ..row.clone()
    }
}

fn millis(at: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = at.nanosecond();
    at.with_nanosecond(nanos - nanos % 1_000_000)
        .expect("a smaller nanosecond is valid")
}
