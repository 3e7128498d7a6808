//! Which minutes a slot owns, and which of them a reply lacks.
//!
//! A kline is final only once its minute has closed: Binance serves the minute still open
//! with prices that keep changing, so a slot starting at `T` owns the five closed minutes
//! `[T-5min, T)`, never the minute that starts at `T`.

use super::kline::Kline;
use crate::slot::{Slot, SLOT_MINUTES};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};

pub fn minute() -> TimeDelta {
    TimeDelta::minutes(1)
}

/// The open times a slot owns, as the half-open range `[T-5min, T)` for a slot at `T`.
pub fn closed_minutes(slot: Slot) -> (DateTime<Utc>, DateTime<Utc>) {
    let end = slot.start();
    (end - TimeDelta::minutes(SLOT_MINUTES), end)
}

/// The start of the minute `time` falls in; chrono cannot floor times outside its
/// nanosecond range (before 1677, after 2262), which are returned as they are.
pub fn floor_minute(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(minute()).unwrap_or(time)
}

/// Missing minutes as the half-open range `[first missing open time, next present one)`.
pub type Gap = (DateTime<Utc>, DateTime<Utc>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    #[error("kline {index} opens at {open_time}, not on a whole minute")]
    NotOnAMinute {
        index: usize,
        open_time: DateTime<Utc>,
    },
    #[error("kline {index} opens at {open_time}, outside the range asked for [{from}, {to})")]
    OutOfRange {
        index: usize,
        open_time: DateTime<Utc>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    #[error("kline {index} opens at {open_time}, which repeats the kline before it")]
    Duplicated {
        index: usize,
        open_time: DateTime<Utc>,
    },
    #[error("kline {index} opens at {open_time}, before the kline before it ({previous})")]
    OutOfOrder {
        index: usize,
        open_time: DateTime<Utc>,
        previous: DateTime<Utc>,
    },
}

/// Checks that `klines` open on whole minutes, inside `[from, to)`, strictly ascending.
pub fn check_sequence(
    klines: &[Kline],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(), SequenceError> {
    let mut previous: Option<DateTime<Utc>> = None;
    for (index, kline) in klines.iter().enumerate() {
        let open_time = kline.open_time;
        if floor_minute(open_time) != open_time {
            return Err(SequenceError::NotOnAMinute { index, open_time });
        }
        if open_time < from || open_time >= to {
            return Err(SequenceError::OutOfRange {
                index,
                open_time,
                from,
                to,
            });
        }
        match previous {
            Some(p) if p == open_time => {
                return Err(SequenceError::Duplicated { index, open_time })
            }
            Some(p) if p > open_time => {
                return Err(SequenceError::OutOfOrder {
                    index,
                    open_time,
                    previous: p,
                })
            }
            _ => {}
        }
        previous = Some(open_time);
    }
    Ok(())
}

/// The minutes of `[from, to)` with no kline, as half-open ranges `[first missing, next
/// present)`. Missing minutes are reported, never filled in: a minute without trades on
/// Binance still has a kline, so a missing one is a fact about the reply worth knowing.
/// Klines out of order, repeated, or outside the range are an error.
pub fn gaps(
    klines: &[Kline],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Gap>, SequenceError> {
    check_sequence(klines, from, to)?;
    let mut missing = Vec::new();
    let mut expected = floor_minute(from);
    if expected < from {
        expected += minute();
    }
    for kline in klines {
        if kline.open_time > expected {
            missing.push((expected, kline.open_time));
        }
        expected = kline.open_time + minute();
    }
    if expected < to {
        missing.push((expected, to));
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::DecimalText;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn kline(open: &str) -> Kline {
        let open_time = at(open);
        let one = DecimalText::parse("1").unwrap();
        Kline {
            symbol: "BTCUSDT".into(),
            open_time,
            close_time: open_time + minute() - TimeDelta::milliseconds(1),
            open: one.clone(),
            high: one.clone(),
            low: one.clone(),
            close: one.clone(),
            volume: one.clone(),
            quote_volume: one.clone(),
            trades: 1,
            taker_buy_base_volume: one.clone(),
            taker_buy_quote_volume: one,
        }
    }

    #[test]
    fn a_slot_owns_the_five_closed_minutes_before_it() {
        let slot = Slot::containing(at("2024-06-01T12:35:00Z"));
        assert_eq!(
            closed_minutes(slot),
            (at("2024-06-01T12:30:00Z"), at("2024-06-01T12:35:00Z"))
        );
    }

    #[test]
    fn no_gaps_in_a_full_reply() {
        let klines: Vec<Kline> = ["12:30", "12:31", "12:32", "12:33", "12:34"]
            .iter()
            .map(|m| kline(&format!("2024-06-01T{m}:00Z")))
            .collect();
        let gaps = gaps(
            &klines,
            at("2024-06-01T12:30:00Z"),
            at("2024-06-01T12:35:00Z"),
        );
        assert_eq!(gaps, Ok(vec![]));
    }

    #[test]
    fn missing_minutes_at_the_start_middle_and_end_are_reported() {
        let klines = [kline("2024-06-01T12:31:00Z"), kline("2024-06-01T12:33:00Z")];
        let found = gaps(
            &klines,
            at("2024-06-01T12:30:00Z"),
            at("2024-06-01T12:35:00Z"),
        )
        .unwrap();
        assert_eq!(
            found,
            [
                (at("2024-06-01T12:30:00Z"), at("2024-06-01T12:31:00Z")),
                (at("2024-06-01T12:32:00Z"), at("2024-06-01T12:33:00Z")),
                (at("2024-06-01T12:34:00Z"), at("2024-06-01T12:35:00Z")),
            ]
        );
        let none = gaps(&[], at("2024-06-01T12:30:00Z"), at("2024-06-01T12:35:00Z"));
        assert_eq!(
            none,
            Ok(vec![(
                at("2024-06-01T12:30:00Z"),
                at("2024-06-01T12:35:00Z")
            )])
        );
    }

    #[test]
    fn duplicated_out_of_order_and_stray_klines_are_errors() {
        let from = at("2024-06-01T12:30:00Z");
        let to = at("2024-06-01T12:35:00Z");
        let twice = [kline("2024-06-01T12:31:00Z"), kline("2024-06-01T12:31:00Z")];
        assert!(matches!(
            gaps(&twice, from, to),
            Err(SequenceError::Duplicated { index: 1, .. })
        ));
        let backwards = [kline("2024-06-01T12:32:00Z"), kline("2024-06-01T12:31:00Z")];
        assert!(matches!(
            gaps(&backwards, from, to),
            Err(SequenceError::OutOfOrder { index: 1, .. })
        ));
        let open_minute = [kline("2024-06-01T12:35:00Z")];
        assert!(matches!(
            gaps(&open_minute, from, to),
            Err(SequenceError::OutOfRange { index: 0, .. })
        ));
        let odd = [kline("2024-06-01T12:31:30Z")];
        assert!(matches!(
            gaps(&odd, from, to),
            Err(SequenceError::NotOnAMinute { index: 0, .. })
        ));
    }
}
