//! Where objects live in the bucket: Hive-style date partitions that Athena's partition
//! projection reads without a crawler.
//!
//! `raw/<dataset>/year=YYYY/month=MM/day=DD/<dataset>_YYYY-MM-DD_HH-MM-SS.csv`

use crate::slot::Slot;
use chrono::NaiveDateTime;
use std::fmt;

/// The prefix under which every raw snapshot is written; S3 notifications filter on it.
pub const RAW_PREFIX: &str = "raw/";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dataset {
    Quotes,
}

impl Dataset {
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Quotes => "quotes",
        }
    }

    pub fn parse(name: &str) -> Option<Dataset> {
        match name {
            "quotes" => Some(Dataset::Quotes),
            _ => None,
        }
    }

    /// `raw/quotes/`: the prefix Athena's table location and the load trigger point at.
    pub fn prefix(self) -> String {
        format!("{RAW_PREFIX}{}/", self.name())
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

/// The dataset and slot an object key was written for, or `None` for any key this layout
/// did not produce (other prefixes, other extensions, a partition that disagrees with the
/// file name).
pub fn parse_object_key(key: &str) -> Option<(Dataset, Slot)> {
    let rest = key.strip_prefix(RAW_PREFIX)?;
    let (dataset_name, rest) = rest.split_once('/')?;
    let dataset = Dataset::parse(dataset_name)?;
    let file = rest.rsplit('/').next()?;
    let stamp = file
        .strip_prefix(dataset_name)?
        .strip_prefix('_')?
        .strip_suffix(".csv")?;
    let at = NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d_%H-%M-%S")
        .ok()?
        .and_utc();
    let slot = Slot::containing(at);
    (slot.start() == at && object_key(dataset, slot) == key).then_some((dataset, slot))
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
        ] {
            assert_eq!(parse_object_key(foreign), None, "{foreign}");
        }
    }
}
