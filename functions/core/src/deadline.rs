//! The invocation's deadline as an `Instant`, for code that must finish before Lambda stops it.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Deadlines below this (2001-09-09 in epoch milliseconds) cannot be epoch times.
const EPOCH_MS_FLOOR: u64 = 1_000_000_000_000;

/// Converts the invocation deadline into an `Instant`. Lambda's Runtime API sends
/// milliseconds since the epoch (`Lambda-Runtime-Deadline-Ms`); `cargo lambda watch`'s
/// emulator sends the function timeout instead (`600000`), which is read as a budget from
/// now. A deadline already past yields now.
pub fn instant_of(deadline_ms: u64) -> Instant {
    if deadline_ms < EPOCH_MS_FLOOR {
        return Instant::now() + Duration::from_millis(deadline_ms);
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_deadlines_become_the_time_left() {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let left = instant_of(now_ms + 5_000).saturating_duration_since(Instant::now());
        assert!(
            left > Duration::from_secs(4) && left <= Duration::from_secs(5),
            "{left:?}"
        );
        assert_eq!(
            instant_of(now_ms - 1_000).saturating_duration_since(Instant::now()),
            Duration::ZERO
        );
    }

    #[test]
    fn an_emulator_timeout_is_a_budget_from_now() {
        let left = instant_of(600_000).saturating_duration_since(Instant::now());
        assert!(left > Duration::from_secs(599), "{left:?}");
    }
}
