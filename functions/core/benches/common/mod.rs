//! The inputs of the codec benches: a 5,000-coin `listings/latest` reply in CMC's shape
//! (recorded coins repeated with new ids), and the paths ingest and load take through it.

#![allow(dead_code)] // each bench uses its own subset

use chrono::{DateTime, Utc};
use coinlake::cmc::wire::read_coin;
use coinlake::cmc::{parse_reply, Fetched};
use coinlake::csv_codec::encode_rows_into;
use coinlake::load::CsvRows;
use coinlake::normalize::normalize;
use coinlake::quote::QuoteRow;
use coinlake::secret::Secret;
use coinlake::sink::RowSource;
use coinlake::slot::Slot;
use serde_json::value::RawValue;

pub const COINS: usize = 5000;

/// `data` of a `listings/latest` page of `COINS` coins.
pub fn listings_json() -> String {
    let market: Vec<serde_json::Value> =
        serde_json::from_str(&testkit::fixture("cmc/market.json")).expect("market fixture");
    let coins: Vec<serde_json::Value> = (0..COINS)
        .map(|i| {
            let mut coin = market[i % market.len()].clone();
            coin["id"] = (i as i64 + 1).into();
            coin["cmc_rank"] = (i as i64 + 1).into();
            coin["symbol"] = format!("C{i}").into();
            coin
        })
        .collect();
    serde_json::to_string(&coins).expect("JSON")
}

/// The whole HTTP body: CMC's `status` envelope around `data`.
pub fn listings_body(data: &str) -> Vec<u8> {
    format!(
        r#"{{"status": {{"timestamp": "2024-06-01T12:35:01.000Z", "error_code": 0, "error_message": null, "elapsed": 31, "credit_count": 25, "notice": null}}, "data": {data}}}"#
    )
    .into_bytes()
}

pub fn slot_time() -> DateTime<Utc> {
    "2024-06-01T12:35:00Z".parse().expect("time")
}

/// `data` to normalized rows, as ingest reads a listings page.
pub fn rows_from(json: &str) -> Vec<QuoteRow> {
    let raw: Vec<&RawValue> = serde_json::from_str(json).expect("array");
    let fetched = Fetched {
        coins: raw
            .iter()
            .map(|c| read_coin(c, "bench").expect("coin"))
            .collect(),
        ..Fetched::default()
    };
    let at = slot_time();
    normalize(&fetched, "USD", Slot::containing(at), at).rows
}

/// A whole HTTP body to rows: the reply envelope checked, then the page read.
pub fn rows_from_body(body: &[u8]) -> Vec<QuoteRow> {
    let reply =
        parse_reply(200, "application/json", body, &Secret::new("bench")).expect("a success");
    rows_from(reply.data.get())
}

/// A snapshot file decoded as load reads it, each batch encoded for `COPY`; returns the
/// number of bytes sent to the database.
pub async fn csv_to_copy(csv: &[u8]) -> usize {
    let mut source = CsvRows::<_, QuoteRow>::new(csv);
    let mut buffer = Vec::with_capacity(64 * 1024);
    let mut sent = 0;
    while let Some(batch) = source.next_batch().await.expect("valid file") {
        buffer.clear();
        encode_rows_into(&batch, &mut buffer).expect("encode");
        sent += buffer.len();
    }
    sent
}
