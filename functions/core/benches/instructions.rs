//! One pass of each hot path, for `valgrind --tool=callgrind` (`scripts/bench.sh`).
//! Instruction counts repeat exactly for the same binary and input whatever else the
//! machine is doing, so they catch regressions that noisy timings hide.
//!
//! `instructions setup|ingest|load`: every mode builds the same inputs; `ingest` then turns
//! a 5,000-coin CMC reply into rows and its CSV, `load` decodes a 5,000-row file and
//! encodes it for `COPY`. A path's figure is its count minus `setup`'s.

use coinlake::csv_codec::encode_quotes;
use std::hint::black_box;

mod common;
use common::{csv_to_copy, listings_body, listings_json, rows_from, rows_from_body, COINS};

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let body = listings_body(&listings_json());
    let csv = encode_quotes(&rows_from(&listings_json())).expect("encode");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    match mode.as_str() {
        "setup" => {}
        "ingest" => {
            let rows = rows_from_body(black_box(&body));
            assert_eq!(rows.len(), COINS);
            black_box(encode_quotes(&rows).expect("encode"));
        }
        "load" => {
            black_box(runtime.block_on(csv_to_copy(black_box(&csv))));
        }
        other => {
            eprintln!("usage: instructions setup|ingest|load (got {other:?})");
            std::process::exit(2);
        }
    }
}
