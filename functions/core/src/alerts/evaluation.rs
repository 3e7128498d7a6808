//! Evaluation of the price and change rules inside a load's transaction: migration V10's
//! functions, called once per load after the file's rows are stored.

/// Whether a load's evaluation may fire alerts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AlertMode {
    /// Crossings fire (an S3-notified load, or a replay asked for alerts).
    #[default]
    Fire,
    /// The rules' state moves over the file's observations, nothing fires and no credit
    /// notice is raised: a replay of old data.
    Quiet,
}

impl AlertMode {
    /// The mode of a replay: quiet unless the replay asked for alerts.
    pub fn of_replay(alerts: bool) -> AlertMode {
        if alerts {
            AlertMode::Fire
        } else {
            AlertMode::Quiet
        }
    }

    pub fn is_quiet(self) -> bool {
        self == AlertMode::Quiet
    }
}

/// Evaluates the rules of the staged quotes' series (`:s3_key`, `:quiet`); answers the
/// number fired, as text so both backends read it alike.
pub const EVALUATE_QUOTE_ALERTS: &str =
    "SELECT CAST(evaluate_quote_alerts(CAST(:s3_key AS text), CAST(:quiet AS boolean)) AS text)";

/// The same for the staged klines' pairs.
pub const EVALUATE_KLINE_ALERTS: &str =
    "SELECT CAST(evaluate_kline_alerts(CAST(:s3_key AS text), CAST(:quiet AS boolean)) AS text)";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::sql::numbered_with_names;

    #[test]
    fn a_replay_is_quiet_unless_it_asks_for_alerts() {
        assert_eq!(AlertMode::of_replay(false), AlertMode::Quiet);
        assert_eq!(AlertMode::of_replay(true), AlertMode::Fire);
        assert!(!AlertMode::default().is_quiet());
    }

    #[test]
    fn the_evaluation_takes_the_key_and_the_mode() {
        for sql in [EVALUATE_QUOTE_ALERTS, EVALUATE_KLINE_ALERTS] {
            let (numbered, names) = numbered_with_names(sql);
            assert_eq!(names, ["s3_key", "quiet"]);
            assert!(numbered.contains("CAST($2 AS boolean)"));
        }
    }
}
