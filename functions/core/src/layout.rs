//! Where objects live in the bucket: Hive-style date partitions that Athena's partition
//! projection reads without a crawler.
//!
//! `raw/<dataset>/year=YYYY/month=MM/day=DD/<dataset>_YYYY-MM-DD_HH-MM-SS.csv` (bronze, one
//! object per slot, never rewritten; the klines dataset adds an `interval=1m/` level before
//! the date and also holds one archive object per pair and day,
//! `klines_YYYY-MM-DD_archive_<SYMBOL>.csv`) and
//! `curated/<table>/year=YYYY/month=MM/day=DD/<table>_YYYY-MM-DD.parquet` (silver and gold,
//! one object per day, rebuilt from raw).

use crate::slot::Slot;
use chrono::NaiveDateTime;
use std::fmt;

/// The prefix under which every raw snapshot is written; S3 notifications filter on it.
pub const RAW_PREFIX: &str = "raw/";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dataset {
    /// CoinMarketCap snapshots, one object per slot.
    Quotes,
    /// Binance one-minute klines: one object per slot (the five minutes that closed before
    /// it) and one per pair and day from the public archive.
    Klines,
}

impl Dataset {
    pub const ALL: [Dataset; 2] = [Dataset::Quotes, Dataset::Klines];

    pub fn name(self) -> &'static str {
        match self {
            Dataset::Quotes => "quotes",
            Dataset::Klines => "klines",
        }
    }

    pub fn parse(name: &str) -> Option<Dataset> {
        Dataset::ALL.into_iter().find(|d| d.name() == name)
    }

    /// `raw/quotes/`, `raw/klines/interval=1m/`: the prefix Athena's table location and
    /// the load trigger point at.
    pub fn prefix(self) -> String {
        match self {
            Dataset::Quotes => format!("{RAW_PREFIX}quotes/"),
            // The interval is a path level so other kline intervals can sit beside it.
            Dataset::Klines => format!("{RAW_PREFIX}klines/interval=1m/"),
        }
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The object key of `dataset`'s snapshot for `slot`. The same slot always yields the same
/// key, which is what makes a retried run overwrite rather than duplicate.
pub fn object_key(dataset: Dataset, slot: Slot) -> String {
    let at = slot.start();
    format!(
        "{prefix}{partition}{name}_{stamp}.csv",
        prefix = dataset.prefix(),
        partition = at.format("year=%Y/month=%m/day=%d/"),
        name = dataset.name(),
        stamp = at.format("%Y-%m-%d_%H-%M-%S"),
    )
}

/// The partition prefix of one day: `raw/quotes/year=2024/month=06/day=01/`.
pub fn day_prefix(dataset: Dataset, day: chrono::NaiveDate) -> String {
    format!(
        "{}{}",
        dataset.prefix(),
        day.format("year=%Y/month=%m/day=%d/")
    )
}

/// The object of one pair's day of klines from Binance's public archive (a backfill):
/// `raw/klines/interval=1m/year=2024/month=06/day=01/klines_2024-06-01_archive_BTCUSDT.csv`.
/// One object per pair and day, so backfilling a pair never rewrites another's, and the
/// name sorts after the day's slot objects.
pub fn archive_day_key(day: chrono::NaiveDate, symbol: &str) -> String {
    format!(
        "{prefix}{partition}klines_{day}_archive_{symbol}.csv",
        prefix = Dataset::Klines.prefix(),
        partition = day.format("year=%Y/month=%m/day=%d/"),
        day = day.format("%Y-%m-%d"),
    )
}

/// Whether `symbol` is a Binance spot pair name as the API and archive spell it
/// (`BTCUSDT`): 1 to 20 upper-case ASCII letters and digits. Anything else could not be a
/// pair, and would not be safe in a key or a URL path.
pub fn is_pair_symbol(symbol: &str) -> bool {
    (1..=20).contains(&symbol.len())
        && symbol
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The prefix of everything compaction writes.
pub const CURATED_PREFIX: &str = "curated/";

/// The tables of the curated layer: the day's de-duplicated quotes (silver) and their daily
/// candles (gold).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CuratedTable {
    Quotes,
    Ohlc1d,
}

impl CuratedTable {
    pub fn name(self) -> &'static str {
        match self {
            CuratedTable::Quotes => "quotes",
            CuratedTable::Ohlc1d => "ohlc_1d",
        }
    }

    /// `curated/quotes/`: the Glue table's location.
    pub fn prefix(self) -> String {
        format!("{CURATED_PREFIX}{}/", self.name())
    }
}

/// The one object of `table` for `day`; rebuilding the day overwrites it.
pub fn curated_key(table: CuratedTable, day: chrono::NaiveDate) -> String {
    format!(
        "{prefix}{partition}{name}_{day}.parquet",
        prefix = table.prefix(),
        partition = day.format("year=%Y/month=%m/day=%d/"),
        name = table.name(),
        day = day.format("%Y-%m-%d"),
    )
}

/// The `dataset`, `from` and `to` of a replay or compaction request, or why they are not a
/// dataset and two dates.
pub fn parse_day_range(
    dataset: &str,
    from: &str,
    to: &str,
) -> Result<(Dataset, chrono::NaiveDate, chrono::NaiveDate), String> {
    let dataset = Dataset::parse(dataset)
        .ok_or_else(|| format!("unknown dataset {dataset:?}; expected \"quotes\" or \"klines\""))?;
    let date = |text: &str, name: &str| {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| format!("{name} {text:?} is not a date like \"2024-06-01\""))
    };
    Ok((dataset, date(from, "from")?, date(to, "to")?))
}

/// An object key as S3 event notifications carry it: URL-encoded, with `+` for a space.
pub fn decode_event_key(key: &str) -> Result<String, String> {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| format!("object key {key:?} does not decode to UTF-8"))
}

/// The dataset and slot an object key was written for, or `None` for any key this layout
/// did not produce (other prefixes, other extensions, a partition that disagrees with the
/// file name). A klines archive object ([`archive_day_key`]) parses to its day's first
/// slot: it covers the whole day.
pub fn parse_object_key(key: &str) -> Option<(Dataset, Slot)> {
    let dataset = Dataset::ALL
        .into_iter()
        .find(|d| key.starts_with(&d.prefix()))?;
    if let Some((day, _pair)) = parse_archive_day_key(key) {
        let midnight = day.and_hms_opt(0, 0, 0)?.and_utc();
        return Some((Dataset::Klines, Slot::containing(midnight)));
    }
    let file = key.rsplit('/').next()?;
    let stamp = file
        .strip_prefix(dataset.name())?
        .strip_prefix('_')?
        .strip_suffix(".csv")?;
    let at = NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d_%H-%M-%S")
        .ok()?
        .and_utc();
    let slot = Slot::containing(at);
    (slot.start() == at && object_key(dataset, slot) == key).then_some((dataset, slot))
}

/// The day and pair of a klines archive object's key, or `None` for any other key.
pub fn parse_archive_day_key(key: &str) -> Option<(chrono::NaiveDate, String)> {
    let file = key
        .strip_prefix(&Dataset::Klines.prefix())?
        .rsplit('/')
        .next()?;
    let rest = file.strip_prefix("klines_")?.strip_suffix(".csv")?;
    let (day, symbol) = rest.split_once("_archive_")?;
    let day = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    (is_pair_symbol(symbol) && archive_day_key(day, symbol) == key)
        .then(|| (day, symbol.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn slot(text: &str) -> Slot {
        Slot::containing(
            DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc),
        )
    }

    #[test]
    fn key_is_hive_partitioned_by_the_slot_date() {
        assert_eq!(
            object_key(Dataset::Quotes, slot("2024-06-01T12:37:10Z")),
            "raw/quotes/year=2024/month=06/day=01/quotes_2024-06-01_12-35-00.csv"
        );
    }

    #[test]
    fn keys_roll_over_month_and_year_boundaries() {
        assert_eq!(
            object_key(Dataset::Quotes, slot("2024-12-31T23:59:59Z")),
            "raw/quotes/year=2024/month=12/day=31/quotes_2024-12-31_23-55-00.csv"
        );
        assert_eq!(
            object_key(Dataset::Quotes, slot("2025-01-01T00:00:00Z")),
            "raw/quotes/year=2025/month=01/day=01/quotes_2025-01-01_00-00-00.csv"
        );
        assert_eq!(
            object_key(Dataset::Quotes, slot("2024-02-29T23:58:00Z")),
            "raw/quotes/year=2024/month=02/day=29/quotes_2024-02-29_23-55-00.csv"
        );
    }

    #[test]
    fn a_days_prefix_holds_its_slots_keys() {
        let day = chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
        assert_eq!(
            day_prefix(Dataset::Quotes, day),
            "raw/quotes/year=2024/month=06/day=01/"
        );
        assert!(object_key(Dataset::Quotes, slot("2024-06-01T23:55:00Z"))
            .starts_with(&day_prefix(Dataset::Quotes, day)));
    }

    #[test]
    fn curated_keys_hold_one_object_per_day_beside_the_raw_partitions() {
        let day = chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
        assert_eq!(
            curated_key(CuratedTable::Quotes, day),
            "curated/quotes/year=2024/month=06/day=01/quotes_2024-06-01.parquet"
        );
        assert_eq!(
            curated_key(CuratedTable::Ohlc1d, day),
            "curated/ohlc_1d/year=2024/month=06/day=01/ohlc_1d_2024-06-01.parquet"
        );
        assert_eq!(
            parse_object_key(&curated_key(CuratedTable::Quotes, day)),
            None
        );
    }

    #[test]
    fn event_keys_are_url_decoded_with_plus_as_space() {
        assert_eq!(
            decode_event_key("raw/quotes/year%3D2024/a+b%2Bc.csv").unwrap(),
            "raw/quotes/year=2024/a b+c.csv"
        );
        assert!(decode_event_key("raw/%FF.csv").is_err());
    }

    #[test]
    fn parses_back_only_the_keys_it_writes() {
        let s = slot("2024-06-01T12:35:00Z");
        let key = object_key(Dataset::Quotes, s);
        assert_eq!(parse_object_key(&key), Some((Dataset::Quotes, s)));
        for foreign in [
            "raw/quotes/year=2024/month=06/day=01/quotes_2024-06-01_12-35-00.json",
            "raw/quotes/year=2024/month=06/day=02/quotes_2024-06-01_12-35-00.csv",
            "raw/quotes/year=2024/month=06/day=01/quotes_2024-06-01_12-36-00.csv",
            "raw/other/year=2024/month=06/day=01/other_2024-06-01_12-35-00.csv",
            "athena-results/quotes_2024-06-01_12-35-00.csv",
            "raw/quotes/",
            "raw/klines/year=2024/month=06/day=01/klines_2024-06-01_12-35-00.csv",
            "raw/klines/interval=5m/year=2024/month=06/day=01/klines_2024-06-01_12-35-00.csv",
            "raw/klines/interval=1m/year=2024/month=06/day=01/quotes_2024-06-01_12-35-00.csv",
        ] {
            assert_eq!(parse_object_key(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn klines_sit_under_their_interval_one_object_per_slot() {
        let s = slot("2024-06-01T12:37:10Z");
        let key = object_key(Dataset::Klines, s);
        assert_eq!(
            key,
            "raw/klines/interval=1m/year=2024/month=06/day=01/klines_2024-06-01_12-35-00.csv"
        );
        assert_eq!(parse_object_key(&key), Some((Dataset::Klines, s)));
        let day = chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
        assert!(key.starts_with(&day_prefix(Dataset::Klines, day)));
        assert_eq!(Dataset::parse("klines"), Some(Dataset::Klines));
    }

    #[test]
    fn an_archive_day_object_is_one_per_pair_and_parses_to_its_first_slot() {
        let day = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        let key = archive_day_key(day, "BTCUSDT");
        assert_eq!(
            key,
            "raw/klines/interval=1m/year=2025/month=01/day=01/klines_2025-01-01_archive_BTCUSDT.csv"
        );
        assert!(key.starts_with(&day_prefix(Dataset::Klines, day)));
        assert_eq!(
            parse_archive_day_key(&key),
            Some((day, "BTCUSDT".to_owned()))
        );
        assert_eq!(
            parse_object_key(&key),
            Some((Dataset::Klines, slot("2025-01-01T00:00:00Z")))
        );
        for foreign in [
            "raw/klines/interval=1m/year=2025/month=01/day=02/klines_2025-01-01_archive_BTCUSDT.csv",
            "raw/klines/interval=1m/year=2025/month=01/day=01/klines_2025-01-01_archive_btcusdt.csv",
            "raw/klines/interval=1m/year=2025/month=01/day=01/klines_2025-01-01_archive_.csv",
            "raw/klines/interval=1m/year=2025/month=01/day=01/klines_2025-01-01_archive_BTC/USDT.csv",
            "raw/quotes/year=2025/month=01/day=01/klines_2025-01-01_archive_BTCUSDT.csv",
        ] {
            assert_eq!(parse_object_key(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn pair_symbols_are_upper_case_letters_and_digits() {
        assert!(is_pair_symbol("BTCUSDT"));
        assert!(is_pair_symbol("1000SATSUSDT"));
        for bad in [
            "",
            "btcusdt",
            "BTC-USDT",
            "BTC/USDT",
            "ÄBC",
            "A".repeat(21).as_str(),
        ] {
            assert!(!is_pair_symbol(bad), "{bad}");
        }
    }
}
