//! CoinMarketCap's credit notices: a reply's `status.notice`, which CMC sends once a key
//! has used most of its daily or monthly credits. Ingest keeps it in the snapshot's user
//! metadata; load raises one operator alert per period from it, however many files repeat
//! it.

use chrono::{DateTime, Utc};

/// The snapshot's user metadata key (`x-amz-meta-cmc-notice`).
pub const METADATA_KEY: &str = "cmc-notice";

/// S3 allows 2 KB of user metadata per object; a notice is a sentence, and a longer one is
/// cut rather than failing the write.
pub const MAX_NOTICE_CHARS: usize = 512;

/// `notice` as S3 user metadata can carry it: US-ASCII only (anything else becomes `?`),
/// whitespace runs and control characters as one space, at most [`MAX_NOTICE_CHARS`]
/// characters (a cut ends in `...`). `None` when nothing is left.
pub fn metadata_value(notice: &str) -> Option<String> {
    let mut out = String::with_capacity(notice.len().min(MAX_NOTICE_CHARS));
    let mut pending_space = false;
    for c in notice.chars() {
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(if c.is_ascii_graphic() { c } else { '?' });
    }
    if out.is_empty() {
        return None;
    }
    if out.len() > MAX_NOTICE_CHARS {
        out.truncate(MAX_NOTICE_CHARS - 3);
        out.push_str("...");
    }
    Some(out)
}

/// The credits a notice speaks of: CMC counts a daily and a monthly allowance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreditPeriod {
    Daily,
    Monthly,
}

impl CreditPeriod {
    /// Monthly when the notice mentions the month ("... your monthly credit limit ..."),
    /// daily otherwise.
    pub fn of(notice: &str) -> CreditPeriod {
        if notice.to_ascii_lowercase().contains("month") {
            CreditPeriod::Monthly
        } else {
            CreditPeriod::Daily
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CreditPeriod::Daily => "daily",
            CreditPeriod::Monthly => "monthly",
        }
    }
}

/// The operator alert a notice raises.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreditNotice {
    pub period: CreditPeriod,
    /// `cmc_credit_notice:daily:<YYYY-MM-DD>` or `cmc_credit_notice:monthly:<YYYY-MM>`:
    /// the slot's UTC day or month, so the alert fires once per period.
    pub dedupe_key: String,
    pub message: String,
    pub observed_at: DateTime<Utc>,
}

impl CreditNotice {
    /// The alert for `notice` (as read from the metadata) in the snapshot of the slot
    /// starting at `slot_start`.
    pub fn new(notice: &str, slot_start: DateTime<Utc>) -> CreditNotice {
        let period = CreditPeriod::of(notice);
        let when = match period {
            CreditPeriod::Daily => slot_start.format("%Y-%m-%d"),
            CreditPeriod::Monthly => slot_start.format("%Y-%m"),
        };
        CreditNotice {
            period,
            dedupe_key: format!("cmc_credit_notice:{}:{when}", period.as_str()),
            message: format!(
                "CoinMarketCap credit notice ({} credits, {when}): {notice}",
                period.as_str()
            ),
            observed_at: slot_start,
        }
    }
}

pub const LABEL: &str = "CoinMarketCap credits";

/// Inserts the notice's operator alert unless its period already has one.
pub const INSERT_CREDIT_NOTICE: &str = "\
INSERT INTO alert_events (audience, kind, label, source, observed_at, message, dedupe_key, s3_key)
VALUES ('operator', 'cmc_credit_notice', CAST(:label AS text), 'cmc', CAST(:observed_at AS timestamptz),
        CAST(:message AS text), CAST(:dedupe_key AS text), CAST(:s3_key AS text))
ON CONFLICT (dedupe_key) DO NOTHING";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::sql::numbered_with_names;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn metadata_keeps_ascii_and_a_bounded_length() {
        assert_eq!(
            metadata_value("  You have used 95%\n of your daily credits  ").as_deref(),
            Some("You have used 95% of your daily credits")
        );
        assert_eq!(
            metadata_value("crédits — 95 %").as_deref(),
            Some("cr?dits ? 95 %")
        );
        assert_eq!(metadata_value(" \t\r\n"), None);
        assert_eq!(metadata_value(""), None);
        let long = metadata_value(&"x".repeat(5000)).unwrap();
        assert_eq!(long.len(), MAX_NOTICE_CHARS);
        assert!(long.ends_with("..."));
        let wide = metadata_value(&"é".repeat(1000)).unwrap();
        assert_eq!(wide.len(), MAX_NOTICE_CHARS);
        assert!(wide.is_ascii());
    }

    #[test]
    fn a_notice_is_keyed_by_its_period_of_the_slot() {
        let daily = CreditNotice::new(
            "You have used 95% of your plan's daily credit limit.",
            at("2024-06-01T23:55:00Z"),
        );
        assert_eq!(daily.period, CreditPeriod::Daily);
        assert_eq!(daily.dedupe_key, "cmc_credit_notice:daily:2024-06-01");
        assert!(daily.message.contains("daily credit limit"));
        let monthly = CreditNotice::new(
            "You have used 95% of your plan's MONTHLY credit limit.",
            at("2024-06-30T23:55:00Z"),
        );
        assert_eq!(monthly.period, CreditPeriod::Monthly);
        assert_eq!(monthly.dedupe_key, "cmc_credit_notice:monthly:2024-06");
    }

    #[test]
    fn the_insert_names_its_parameters() {
        let (_, names) = numbered_with_names(INSERT_CREDIT_NOTICE);
        assert_eq!(
            names,
            ["label", "observed_at", "message", "dedupe_key", "s3_key"]
        );
    }
}
