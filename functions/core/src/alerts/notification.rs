//! What a subscriber receives for one alert event: an email-sized subject, a body of the
//! event's message and fields, and the message attributes filter policies match on.

use chrono::{DateTime, Utc};

/// One `alert_events` row as the outbox claimed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertEvent {
    pub id: i64,
    pub rule_id: Option<i64>,
    /// `market` or `operator`.
    pub audience: String,
    pub kind: String,
    pub label: String,
    pub source: Option<String>,
    pub cmc_id: Option<String>,
    pub quote_currency: Option<String>,
    pub pair: Option<String>,
    pub observed_at: DateTime<Utc>,
    pub value: Option<String>,
    pub threshold: Option<String>,
    pub message: String,
    pub fired_at: DateTime<Utc>,
    /// Publishes tried so far, this one included.
    pub delivery_attempts: i32,
}

/// SNS refuses a subject of 100 characters or more (the Publish API reference).
pub const MAX_SUBJECT_CHARS: usize = 99;

/// One SNS message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub event_id: i64,
    pub subject: String,
    pub body: String,
    /// Message attributes, all of SNS type `String`; absent fields are left out (SNS
    /// refuses an empty value).
    pub attributes: Vec<(&'static str, String)>,
}

impl AlertEvent {
    /// The asset the event is about: the CMC id or the Binance pair.
    pub fn asset(&self) -> Option<&str> {
        self.cmc_id.as_deref().or(self.pair.as_deref())
    }

    pub fn notification(&self) -> Notification {
        let mut attributes = vec![
            ("audience", self.audience.clone()),
            ("kind", self.kind.clone()),
        ];
        let optional = [
            ("source", self.source.clone()),
            ("asset", self.asset().map(str::to_owned)),
            ("quote_currency", self.quote_currency.clone()),
            ("rule_id", self.rule_id.map(|id| id.to_string())),
        ];
        attributes.extend(
            optional
                .into_iter()
                .filter_map(|(name, value)| value.filter(|v| !v.is_empty()).map(|v| (name, v))),
        );
        attributes.push(("event_id", self.id.to_string()));
        Notification {
            event_id: self.id,
            subject: self.subject(),
            body: self.body(),
            attributes,
        }
    }

    /// `coinlake <kind>: <label>`, on one line and short enough for SNS's limit.
    fn subject(&self) -> String {
        let text = format!("coinlake {}: {}", self.kind, self.label);
        let single_line: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let trimmed = single_line.trim();
        if trimmed.chars().count() <= MAX_SUBJECT_CHARS {
            return trimmed.to_owned();
        }
        let mut cut: String = trimmed.chars().take(MAX_SUBJECT_CHARS - 1).collect();
        cut.truncate(cut.trim_end().len());
        cut.push('…');
        cut
    }

    fn body(&self) -> String {
        let time = |t: &DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        let mut lines = vec![self.message.clone(), String::new()];
        let mut field = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                lines.push(format!("{name}: {value}"));
            }
        };
        field("kind", Some(self.kind.clone()));
        field("audience", Some(self.audience.clone()));
        field("rule", Some(self.label.clone()));
        field("rule_id", self.rule_id.map(|id| id.to_string()));
        field("source", self.source.clone());
        field("cmc_id", self.cmc_id.clone());
        field("quote_currency", self.quote_currency.clone());
        field("pair", self.pair.clone());
        field("value", self.value.clone());
        field("threshold", self.threshold.clone());
        field("observed_at", Some(time(&self.observed_at)));
        field("fired_at", Some(time(&self.fired_at)));
        field("event_id", Some(self.id.to_string()));
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> AlertEvent {
        let at = DateTime::parse_from_rfc3339("2024-06-01T12:35:00Z")
            .unwrap()
            .to_utc();
        AlertEvent {
            id: 7,
            rule_id: Some(3),
            audience: "market".into(),
            kind: "price_above".into(),
            label: "BTC above 70k".into(),
            source: Some("cmc".into()),
            cmc_id: Some("1".into()),
            quote_currency: Some("USD".into()),
            pair: None,
            observed_at: at,
            value: Some("70100.5".into()),
            threshold: Some("70000".into()),
            message: "BTC above 70k: 70100.5 USD crossed above 70000".into(),
            fired_at: at,
            delivery_attempts: 1,
        }
    }

    #[test]
    fn attributes_name_what_a_filter_policy_matches_and_skip_what_is_absent() {
        let notification = event().notification();
        assert_eq!(
            notification.attributes,
            [
                ("audience", "market".to_owned()),
                ("kind", "price_above".to_owned()),
                ("source", "cmc".to_owned()),
                ("asset", "1".to_owned()),
                ("quote_currency", "USD".to_owned()),
                ("rule_id", "3".to_owned()),
                ("event_id", "7".to_owned()),
            ]
        );
        let operator = AlertEvent {
            rule_id: None,
            audience: "operator".into(),
            kind: "cmc_credit_notice".into(),
            source: Some("cmc".into()),
            cmc_id: None,
            quote_currency: None,
            ..event()
        };
        let names: Vec<_> = operator
            .notification()
            .attributes
            .iter()
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(names, ["audience", "kind", "source", "event_id"]);
    }

    #[test]
    fn the_subject_is_one_line_under_snss_limit() {
        assert_eq!(
            event().notification().subject,
            "coinlake price_above: BTC above 70k"
        );
        let long = AlertEvent {
            label: format!("line\nbreak {}", "é".repeat(200)),
            ..event()
        };
        let subject = long.notification().subject;
        assert_eq!(subject.chars().count(), MAX_SUBJECT_CHARS);
        assert!(subject.ends_with('…'), "{subject}");
        assert!(!subject.chars().any(char::is_control), "{subject}");
    }

    #[test]
    fn the_body_is_the_message_then_the_fields() {
        let body = event().notification().body;
        assert!(body.starts_with("BTC above 70k: 70100.5 USD crossed above 70000\n\n"));
        for line in [
            "kind: price_above",
            "value: 70100.5",
            "threshold: 70000",
            "observed_at: 2024-06-01T12:35:00.000Z",
            "event_id: 7",
        ] {
            assert!(
                body.lines().any(|l| l == line),
                "{line} missing from {body}"
            );
        }
        assert!(!body.contains("pair:"), "{body}");
    }
}
