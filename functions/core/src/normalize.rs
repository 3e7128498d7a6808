//! From CMC's coins to [`QuoteRow`]s: lenient about types, strict about what a row needs
//! (an id, a symbol, a name, a price and an update time). A coin that lacks one is skipped
//! and reported, never guessed.

use crate::cmc::wire::{Coin, Quote};
use crate::cmc::Fetched;
use crate::decimal::DecimalText;
use crate::quote::QuoteRow;
use crate::slot::Slot;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

/// A coin left out of the snapshot, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub coin: String,
    pub quote_currency: String,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Normalized {
    pub rows: Vec<QuoteRow>,
    pub skipped: Vec<Skipped>,
}

/// Normalizes one quote currency's coins, ordered by rank (unranked last), then id.
pub fn normalize(
    fetched: &Fetched,
    currency: &str,
    slot: Slot,
    ingested_at: DateTime<Utc>,
) -> Normalized {
    let mut out = Normalized::default();
    let skip = |coin: String, reason: String| Skipped {
        coin,
        quote_currency: currency.to_owned(),
        reason,
    };
    for unreadable in &fetched.unreadable {
        out.skipped.push(skip(
            unreadable.position.clone(),
            format!("unreadable coin object: {}", unreadable.reason),
        ));
    }
    for missing in &fetched.missing {
        out.skipped.push(skip(
            missing.clone(),
            "CoinMarketCap returned no coin for it".to_owned(),
        ));
    }
    for coin in &fetched.coins {
        match row(coin, currency, slot, ingested_at) {
            Ok(row) => out.rows.push(row),
            Err(reason) => out.skipped.push(skip(label(coin), reason)),
        }
    }
    out.rows
        .sort_by_key(|r| (r.cmc_rank.is_none(), r.cmc_rank, r.cmc_id));
    out
}

fn label(coin: &Coin) -> String {
    match (coin.symbol.as_deref(), coin.id) {
        (Some(symbol), Some(id)) => format!("{symbol} (id {id})"),
        (Some(symbol), None) => symbol.to_owned(),
        (None, Some(id)) => format!("id {id}"),
        (None, None) => "a coin without id or symbol".to_owned(),
    }
}

/// Control characters (a newline in a coin's name, say) become spaces: Athena's CSV reader
/// splits records on line breaks even inside quotes, and PostgreSQL refuses NUL.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn row(
    coin: &Coin,
    currency: &str,
    slot: Slot,
    ingested_at: DateTime<Utc>,
) -> Result<QuoteRow, String> {
    let cmc_id = coin.id.ok_or("no id")?;
    let symbol = coin
        .symbol
        .as_deref()
        .map(clean)
        .filter(|s| !s.trim().is_empty())
        .ok_or("no symbol")?;
    let name = coin
        .name
        .as_deref()
        .map(clean)
        .filter(|s| !s.trim().is_empty())
        .ok_or("no name")?;
    let quote: &Quote = coin
        .quote
        .as_ref()
        .and_then(|quotes| quotes.get(currency))
        .ok_or_else(|| format!("no {currency} quote"))?;
    let price = match quote.price.as_deref().map(crate::cmc::wire::decimal) {
        None | Some(Ok(None)) => return Err("no price".to_owned()),
        Some(Err(raw)) => return Err(format!("price {raw} is not a number")),
        Some(Ok(Some(price))) => price,
    };
    let updated_text = quote
        .last_updated
        .as_deref()
        .or(coin.last_updated.as_deref())
        .ok_or("no last_updated")?;
    let last_updated = DateTime::parse_from_rfc3339(updated_text)
        .map_err(|_| format!("last_updated {updated_text:?} is not an RFC 3339 time"))?
        .with_timezone(&Utc);
    let metric = |name: &str, raw: &Option<Box<RawValue>>| {
        optional_metric(coin, currency, name, raw.as_deref())
    };
    Ok(QuoteRow {
        slot_at: slot.start(),
        cmc_id,
        slug: coin.slug.as_deref().map(clean).unwrap_or_default(),
        cmc_rank: coin.cmc_rank,
        quote_currency: currency.to_owned(),
        price,
        volume_24h: metric("volume_24h", &quote.volume_24h),
        volume_change_24h: metric("volume_change_24h", &quote.volume_change_24h),
        percent_change_1h: metric("percent_change_1h", &quote.percent_change_1h),
        percent_change_24h: metric("percent_change_24h", &quote.percent_change_24h),
        percent_change_7d: metric("percent_change_7d", &quote.percent_change_7d),
        percent_change_30d: metric("percent_change_30d", &quote.percent_change_30d),
        market_cap: metric("market_cap", &quote.market_cap),
        market_cap_dominance: metric("market_cap_dominance", &quote.market_cap_dominance),
        fully_diluted_market_cap: metric(
            "fully_diluted_market_cap",
            &quote.fully_diluted_market_cap,
        ),
        circulating_supply: metric("circulating_supply", &coin.circulating_supply),
        total_supply: metric("total_supply", &coin.total_supply),
        max_supply: metric("max_supply", &coin.max_supply),
        num_market_pairs: coin.num_market_pairs,
        last_updated,
        ingested_at,
        symbol,
        name,
    })
}

/// A metric that is present but not a number is stored as null, with a warning: one odd
/// field is not worth losing the coin's price over.
fn optional_metric(
    coin: &Coin,
    currency: &str,
    field: &str,
    raw: Option<&RawValue>,
) -> Option<DecimalText> {
    match raw.map(crate::cmc::wire::decimal)? {
        Ok(value) => value,
        Err(shown) => {
            tracing::warn!(
                coin = label(coin),
                quote_currency = currency,
                field,
                value = shown,
                "metric is not a number; stored as empty"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_in_names_become_spaces() {
        assert_eq!(clean("Two\nLines\r\tand\u{0}NUL"), "Two Lines  and NUL");
        assert_eq!(clean("Comma, \"Quoted\" ✓"), "Comma, \"Quoted\" ✓");
    }
}
