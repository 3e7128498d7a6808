//! The gold table: one daily candle per asset and quote currency, from the day's silver rows.
//!
//! Rows are taken in CMC's update order (`last_updated`, then `slot_at`). The day's rows
//! include the update still current at midnight (first seen by the day's first slot), so
//! `open` is the price in effect when the day began; `close` the last update seen that day.
//! `volume_24h` and `market_cap` are CMC's figures at the close: its 24-hour volume at the
//! day's last update is the day's volume as CMC reports it.

use super::table::{CompactRow, CuratedDay};

/// Index of `volume_24h` and `market_cap` among [`CompactRow::metric`]s.
const VOLUME_24H: usize = 0;
const MARKET_CAP: usize = 6;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candle<'a> {
    pub cmc_id: i64,
    pub symbol: &'a str,
    pub quote_currency: &'a str,
    pub bucket_start: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub samples: i64,
    pub volume_24h: Option<f64>,
    pub market_cap: Option<f64>,
    pub first_update: i64,
    pub last_update: i64,
}

/// The day's candles, in the silver order (`cmc_id`, then quote currency). `day_start`:
/// the day's midnight, epoch milliseconds.
pub fn daily_candles(day: &CuratedDay, day_start: i64) -> Vec<Candle<'_>> {
    let mut candles = Vec::new();
    let mut rows = day.rows().peekable();
    while let Some(first) = rows.next() {
        let mut open = first;
        let mut close = first;
        let (mut high, mut low, mut samples) = (first.price, first.price, 1);
        while let Some(row) = rows.next_if(|r| same_series(r, first)) {
            if update_order(row) < update_order(open) {
                open = row;
            }
            if update_order(row) > update_order(close) {
                close = row;
            }
            high = high.max(row.price);
            low = low.min(row.price);
            samples += 1;
        }
        candles.push(Candle {
            cmc_id: first.cmc_id,
            symbol: day.text(close.symbol),
            quote_currency: day.text(first.quote_currency),
            bucket_start: day_start,
            open: open.price,
            high,
            low,
            close: close.price,
            samples,
            volume_24h: close.metric(VOLUME_24H),
            market_cap: close.metric(MARKET_CAP),
            first_update: open.last_updated,
            last_update: close.last_updated,
        });
    }
    candles
}

fn same_series(a: &CompactRow, b: &CompactRow) -> bool {
    a.cmc_id == b.cmc_id && a.quote_currency == b.quote_currency
}

fn update_order(row: &CompactRow) -> (i64, i64) {
    (row.last_updated, row.slot_at)
}
