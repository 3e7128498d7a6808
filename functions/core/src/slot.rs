//! The slot: the scheduled time a run owns, floored to the five-minute boundary (UTC).
//!
//! Everything a run writes is keyed by its slot, so a retried or duplicated invocation
//! overwrites its own output instead of adding a second copy.

use chrono::{DateTime, Datelike, DurationRound, TimeDelta, Utc};
use serde::{Serialize, Serializer};
use std::fmt;
use std::ops::RangeInclusive;

/// Minutes between two scheduled runs; the EventBridge schedule uses the same period.
pub const SLOT_MINUTES: i64 = 5;

/// The years a slot may fall in. Athena's partition projection computes partitions only
/// for the years of the Glue table's `projection.year.range` (template.yaml, kept equal by
/// a test), so an object written for any other year would be stored but never read; a
/// projection without bounds would exceed Athena's partition limit on unfiltered queries.
/// CoinMarketCap's history starts in 2013.
pub const SLOT_YEARS: RangeInclusive<i32> = 2013..=2100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot(DateTime<Utc>);

impl Slot {
    /// The slot that contains `time`: `12:34:59.999` belongs to the `12:30:00` slot.
    pub fn containing(time: DateTime<Utc>) -> Slot {
        let period = TimeDelta::minutes(SLOT_MINUTES);
        // `duration_trunc` only fails for times outside chrono's nanosecond range
        // (before 1677 or after 2262); flooring by hand keeps those valid too.
        let floored = time.duration_trunc(period).unwrap_or_else(|_| {
            let secs = time.timestamp();
            let floored_secs = secs - secs.rem_euclid(period.num_seconds());
            DateTime::from_timestamp(floored_secs, 0).unwrap_or(time)
        });
        Slot(floored)
    }

    pub fn start(&self) -> DateTime<Utc> {
        self.0
    }

    /// Whether Athena's table reads this slot's partition (see [`SLOT_YEARS`]).
    pub fn is_readable_by_athena(&self) -> bool {
        SLOT_YEARS.contains(&self.0.year())
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%dT%H:%M:%SZ"))
    }
}

impl Serialize for Slot {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn only_slots_in_the_projected_years_are_readable_by_athena() {
        for (time, readable) in [
            ("2012-12-31T23:59:59Z", false),
            ("2013-01-01T00:00:00Z", true),
            ("2023-12-31T23:55:00Z", true),
            ("2100-12-31T23:59:59Z", true),
            ("2101-01-01T00:00:00Z", false),
        ] {
            assert_eq!(
                Slot::containing(utc(time)).is_readable_by_athena(),
                readable,
                "{time}"
            );
        }
    }

    #[test]
    fn floors_to_the_five_minute_boundary() {
        assert_eq!(
            Slot::containing(utc("2024-06-01T12:34:59.999Z")).start(),
            utc("2024-06-01T12:30:00Z")
        );
        assert_eq!(
            Slot::containing(utc("2024-06-01T12:35:00Z")).start(),
            utc("2024-06-01T12:35:00Z")
        );
        assert_eq!(
            Slot::containing(utc("2024-06-01T12:35:00.001Z")).start(),
            utc("2024-06-01T12:35:00Z")
        );
    }

    #[test]
    fn a_time_just_before_midnight_stays_in_its_day() {
        let slot = Slot::containing(utc("2024-12-31T23:59:59Z"));
        assert_eq!(slot.start(), utc("2024-12-31T23:55:00Z"));
        assert_eq!(slot.to_string(), "2024-12-31T23:55:00Z");
    }

    #[test]
    fn times_outside_the_nanosecond_range_still_floor() {
        let far = utc("2300-01-01T00:07:30Z");
        assert_eq!(Slot::containing(far).start(), utc("2300-01-01T00:05:00Z"));
    }
}
