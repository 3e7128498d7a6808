//! CPU cost of the hot paths, without I/O: CMC JSON to rows, rows to CSV, CSV back to rows.

use chrono::{DateTime, Utc};
use coinlake::cmc::wire::read_coin;
use coinlake::cmc::Fetched;
use coinlake::csv_codec::encode_quotes;
use coinlake::load::CsvRows;
use coinlake::normalize::normalize;
use coinlake::quote::QuoteRow;
use coinlake::sink::RowSource;
use coinlake::slot::Slot;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::value::RawValue;
use std::hint::black_box;

const COINS: usize = 5000;

/// A `listings/latest` page of 5,000 coins in CMC's shape.
fn listings_json() -> String {
    let market: Vec<serde_json::Value> =
        serde_json::from_str(&testkit::fixture("cmc/market.json")).unwrap();
    let coins: Vec<serde_json::Value> = (0..COINS)
        .map(|i| {
            let mut coin = market[i % market.len()].clone();
            coin["id"] = (i as i64 + 1).into();
            coin["cmc_rank"] = (i as i64 + 1).into();
            coin["symbol"] = format!("C{i}").into();
            coin
        })
        .collect();
    serde_json::to_string(&coins).unwrap()
}

fn rows_from(json: &str) -> Vec<QuoteRow> {
    let raw: Vec<Box<RawValue>> = serde_json::from_str(json).unwrap();
    let fetched = Fetched {
        coins: raw.iter().map(|c| read_coin(c, "bench").unwrap()).collect(),
        ..Fetched::default()
    };
    let at: DateTime<Utc> = "2024-06-01T12:35:00Z".parse().unwrap();
    normalize(&fetched, "USD", Slot::containing(at), at).rows
}

fn benches(c: &mut Criterion) {
    let json = listings_json();
    let rows = rows_from(&json);
    assert_eq!(rows.len(), COINS);
    let csv = encode_quotes(&rows).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    let mut group = c.benchmark_group("5000_coins");
    group.throughput(Throughput::Elements(COINS as u64));
    group.bench_function("cmc_json_to_rows", |b| {
        b.iter(|| rows_from(black_box(&json)))
    });
    group.bench_function("rows_to_csv", |b| {
        b.iter(|| encode_quotes(black_box(&rows)).unwrap())
    });
    group.bench_function("csv_to_rows", |b| {
        b.to_async(&runtime).iter(|| async {
            let mut source = CsvRows::new(black_box(csv.as_slice()));
            let mut count = 0;
            while let Some(batch) = source.next_batch().await.unwrap() {
                count += batch.len();
            }
            assert_eq!(count, COINS);
        })
    });
    group.finish();
}

criterion_group!(codec, benches);
criterion_main!(codec);
