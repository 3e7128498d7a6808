//! The events that start a klines run, and the slot each one names.
//!
//! Every event is an object whose keys say what it asks for: a slot run (a schedule's
//! event, or `{}`), or an archive backfill (`{"backfill": {...}}`, which a backfill too
//! long for one invocation also sends to continue).

use coinlake::backfill::BackfillRequest;
use serde::{Deserialize, Serialize};
use serde_json::Value;
pub use slot_trigger::{Trigger, TriggerError};

/// What the invocation asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Fetch one slot's closed minutes for every configured pair.
    Slot(Trigger),
    /// Backfill pairs' days from Binance's public archive.
    Backfill(BackfillEvent),
}

/// `{"backfill": {"symbols": [...], "from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}}`, as a
/// person sends it; a continuation adds `hop` (how many invocations came before this
/// one) and `earlier_failures` (what they could not backfill, reported at the end).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillEvent {
    pub backfill: BackfillRequest,
    #[serde(default)]
    pub hop: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_failures: Vec<Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error(transparent)]
    Trigger(#[from] TriggerError),
    #[error("invalid backfill event: {0}; expected {{\"backfill\": {{\"symbols\": [\"BTCUSDT\"], \"from\": \"2024-06-01\", \"to\": \"2024-06-30\"}}}}")]
    InvalidBackfill(String),
}

impl Request {
    pub fn parse(event: &Value) -> Result<Request, EventError> {
        if event
            .as_object()
            .is_some_and(|o| o.contains_key("backfill"))
        {
            return serde_json::from_value(event.clone())
                .map(Request::Backfill)
                .map_err(|e| EventError::InvalidBackfill(e.to_string()));
        }
        Ok(Request::Slot(Trigger::parse(event)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use serde_json::json;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn a_backfill_event_names_its_request_and_a_continuation_its_hop() {
        let day = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        let request = BackfillRequest {
            symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
            from: day("2024-06-01"),
            to: day("2024-06-30"),
        };
        assert_eq!(
            Request::parse(&json!({"backfill": {"symbols": ["BTCUSDT", "ETHUSDT"], "from": "2024-06-01", "to": "2024-06-30"}})).unwrap(),
            Request::Backfill(BackfillEvent { backfill: request.clone(), hop: 0, earlier_failures: vec![] })
        );
        let continued = BackfillEvent {
            backfill: request,
            hop: 3,
            earlier_failures: vec![json!({"symbol": "BTCUSDT"})],
        };
        assert_eq!(
            Request::parse(&serde_json::to_value(&continued).unwrap()).unwrap(),
            Request::Backfill(continued)
        );
    }

    #[test]
    fn any_other_event_is_a_slot_run_read_as_a_trigger() {
        assert_eq!(
            Request::parse(&json!({"scheduled_time": "2024-06-01T12:39:59+00:00"})).unwrap(),
            Request::Slot(Trigger::Schedule {
                time: at("2024-06-01T12:39:59Z")
            })
        );
        for event in [json!({}), Value::Null] {
            assert_eq!(
                Request::parse(&event).unwrap(),
                Request::Slot(Trigger::Manual)
            );
        }
    }

    #[test]
    fn refuses_what_it_cannot_read_saying_what_it_expected() {
        let cases = [
            (json!([]), "an array"),
            (
                json!({"backfill": {"from": "2024-01-01"}}),
                "invalid backfill event: missing field `symbols`",
            ),
            (
                json!({"backfill": {"symbols": ["BTCUSDT"], "from": "2024-06-01", "to": "June"}}),
                "invalid backfill event",
            ),
            (
                json!({"backfill": {"symbols": ["BTCUSDT"], "from": "2024-06-01", "to": "2024-06-02"}, "hops": 1}),
                "unknown field `hops`",
            ),
            // What the slot trigger refuses, refused the same way here.
            (json!({"scheduled_time": "yesterday"}), "RFC 3339"),
        ];
        for (event, expected) in cases {
            let error = Request::parse(&event)
                .expect_err(&event.to_string())
                .to_string();
            assert!(error.contains(expected), "{event}: {error}");
        }
    }
}
