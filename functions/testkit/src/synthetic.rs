//! Snapshots for benchmarks: `count` coins with realistic field widths at `slot`.

use chrono::{DateTime, TimeDelta, Utc};
use coinlake::decimal::DecimalText;
use coinlake::quote::QuoteRow;

pub fn snapshot(count: i64, slot: DateTime<Utc>) -> Vec<QuoteRow> {
    let d = |text: &str| Some(DecimalText::parse(text).expect("decimal"));
    (1..=count)
        .map(|id| QuoteRow {
            slot_at: slot,
            cmc_id: id,
            symbol: format!("C{id}"),
            name: format!("Coin number {id}"),
            slug: format!("coin-{id}"),
            cmc_rank: Some(id),
            quote_currency: "USD".to_owned(),
            price: DecimalText::parse(&format!(
                "{}.{:08}",
                1000 + id,
                (id * 7919 + slot.timestamp()) % 100_000_000
            ))
            .expect("price"),
            volume_24h: d("24581337215.12"),
            volume_change_24h: d("-4.1274"),
            percent_change_1h: d("0.0634"),
            percent_change_24h: d("1.2387"),
            percent_change_7d: d("-2.4451"),
            percent_change_30d: d("8.9271"),
            market_cap: d("1329412345678.91"),
            market_cap_dominance: d("54.2311"),
            fully_diluted_market_cap: d("1416090592919.1"),
            circulating_supply: d("19712987"),
            total_supply: d("19712987"),
            max_supply: None,
            num_market_pairs: Some(11698),
            last_updated: slot - TimeDelta::seconds(60),
            ingested_at: slot + TimeDelta::seconds(2),
        })
        .collect()
}
