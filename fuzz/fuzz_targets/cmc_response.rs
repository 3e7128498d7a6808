//! A CoinMarketCap HTTP body, end to end through what `ingest` does with it and what
//! `load` reads back: parse the reply, read every coin, normalize, encode the CSV, decode
//! it again.
//!
//! Properties checked (a panic is a finding):
//! - nothing panics, whatever the body;
//! - an HTTP 429 or 5xx reply is never taken as a success;
//! - the API key never appears in an error message (`parse_reply` promises to scrub it);
//! - the rows `load` decodes from the CSV `ingest` wrote are the rows `ingest` normalized,
//!   with timestamps at the file's documented millisecond precision.

#![no_main]

use chrono::{DateTime, TimeZone, Timelike, Utc};
use coinlake::cmc::wire::read_coin;
use coinlake::cmc::{parse_reply, Fetched};
use coinlake::csv_codec::{encode_quotes, DecodeError};
use coinlake::load::CsvRows;
use coinlake::quote::QuoteRow;
use coinlake::secret::Secret;
use coinlake::sink::{RowSource, SourceError};
use coinlake::slot::Slot;
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

const API_KEY: &str = "fuzz-key";

fuzz_target!(|data: &[u8]| run(data));

fn run(data: &[u8]) {
    let key = Secret::new(API_KEY);

    // The same body under an error status: the first byte picks which.
    if let Some(first) = data.first() {
        let http = if first & 1 == 0 { 429 } else { 500 };
        match parse_reply(http, "application/json", data, &key) {
            Ok(reply) => panic!("HTTP {http} was taken as a success: {reply:?}"),
            Err(error) => assert_no_key(&error.to_string()),
        }
    }

    let reply = match parse_reply(200, "application/json", data, &key) {
        Ok(reply) => reply,
        Err(error) => {
            assert_no_key(&error.to_string());
            return;
        }
    };

    let mut fetched = Fetched::default();
    let mut read = |raw: &RawValue, position: String| match read_coin(raw, position) {
        Ok(coin) => fetched.coins.push(coin),
        Err(unreadable) => fetched.unreadable.push(unreadable),
    };
    let data = reply.data.get();
    // quotes/latest: an object keyed by id (one coin each) or by symbol (arrays of coins).
    if let Ok(by_key) = serde_json::from_str::<BTreeMap<String, Box<RawValue>>>(data) {
        for (key, value) in &by_key {
            if value.get().starts_with('[') {
                if let Ok(candidates) = serde_json::from_str::<Vec<Box<RawValue>>>(value.get()) {
                    for (i, candidate) in candidates.iter().enumerate() {
                        read(candidate, format!("{key}[{i}]"));
                    }
                }
            } else {
                read(value, key.clone());
            }
        }
    }
    // listings/latest: an array of coins.
    if let Ok(listing) = serde_json::from_str::<Vec<Box<RawValue>>>(data) {
        for (i, raw) in listing.iter().enumerate() {
            read(raw, format!("listing #{}", i + 1));
        }
    }

    let slot = Slot::containing(utc(2024, 6, 1, 12, 37, 10, 0));
    // `ingest` stamps rows with the current time truncated to the millisecond.
    let now = utc(2024, 6, 1, 12, 37, 12, 345_000_000);
    let normalized = coinlake::normalize::normalize(&fetched, "USD", slot, now);
    let csv = encode_quotes(&normalized.rows)
        .unwrap_or_else(|e| panic!("normalized rows do not encode: {e}"));

    let decoded = decode_all(&csv);
    if normalized.rows.is_empty() {
        // `ingest` does not write such a file; `load` would reject it, and must say why.
        assert!(
            matches!(decoded, Err(SourceError::Decode(DecodeError::NoRows))),
            "a header-only file decoded as {decoded:?}"
        );
        return;
    }
    let decoded = decoded.unwrap_or_else(|e| {
        panic!(
            "load rejects the CSV ingest wrote: {e}\n--- CSV ---\n{}",
            String::from_utf8_lossy(&csv)
        )
    });
    let expected: Vec<QuoteRow> = normalized.rows.iter().map(at_csv_precision).collect();
    assert_eq!(
        decoded.len(),
        expected.len(),
        "row count changed through the CSV"
    );
    for (i, (got, want)) in decoded.iter().zip(&expected).enumerate() {
        assert_eq!(
            got,
            want,
            "row {i} changed through the CSV\n--- CSV ---\n{}",
            String::from_utf8_lossy(&csv)
        );
    }
}

/// Every batch of `csv`, as `load` reads it.
fn decode_all(csv: &[u8]) -> Result<Vec<QuoteRow>, SourceError> {
    futures::executor::block_on(async {
        let mut source = CsvRows::<_, QuoteRow>::new(csv);
        let mut rows = Vec::new();
        while let Some(batch) = source.next_batch().await? {
            rows.extend(batch);
        }
        Ok(rows)
    })
}

/// The row as the CSV can carry it: timestamps are written to the millisecond
/// (`csv_codec::TIMESTAMP_FORMAT`).
fn at_csv_precision(row: &QuoteRow) -> QuoteRow {
    QuoteRow {
        slot_at: millis(row.slot_at),
        last_updated: millis(row.last_updated),
        ingested_at: millis(row.ingested_at),
        ..row.clone()
    }
}

fn millis(at: DateTime<Utc>) -> DateTime<Utc> {
    // Keeps a leap second's extra second (nanoseconds >= 1e9) while dropping sub-ms digits.
    let nanos = at.nanosecond();
    at.with_nanosecond(nanos - nanos % 1_000_000)
        .expect("a smaller nanosecond is valid")
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, nanos: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .unwrap()
        .with_nanosecond(nanos)
        .unwrap()
}

fn assert_no_key(message: &str) {
    assert!(
        !message.contains(API_KEY),
        "the API key leaked into an error message: {message}"
    );
}
