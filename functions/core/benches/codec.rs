//! CPU cost of the hot paths, without I/O: CMC JSON to rows, rows to CSV, CSV back to rows.

use coinlake::csv_codec::encode_quotes;
use coinlake::load::CsvRows;
use coinlake::sink::RowSource;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

mod common;
use common::{csv_to_copy, listings_json, rows_from, COINS};

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
            let mut source =
                CsvRows::<_, coinlake::quote::QuoteRow>::new(black_box(csv.as_slice()));
            let mut count = 0;
            while let Some(batch) = source.next_batch().await.unwrap() {
                count += batch.len();
            }
            assert_eq!(count, COINS);
        })
    });
    group.bench_function("csv_to_copy", |b| {
        b.to_async(&runtime)
            .iter(|| async { csv_to_copy(black_box(csv.as_slice())).await })
    });
    group.finish();
}

criterion_group!(codec, benches);
criterion_main!(codec);
