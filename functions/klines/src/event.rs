//! The events that start a klines run, and the slot each one names.
//!
//! Every event is an object whose keys say what it asks for: a slot run (a schedule's
//! event, or `{}`), or an archive backfill (`{"backfill": {...}}`, which a backfill too
//! long for one invocation also sends to continue).

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use coinlake::backfill::BackfillRequest;
use coinlake::slot::{Slot, SLOT_YEARS};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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

/// What started a slot run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// An EventBridge rule's "Scheduled Event": the slot is its `time`.
    Rule { time: DateTime<Utc> },
    /// An EventBridge Scheduler (ScheduleV2) target whose `Input` is
    /// `{"scheduled_time": "<aws.scheduler.scheduled-time>"}`.
    Schedule { time: DateTime<Utc> },
    /// `{}` (or no payload): a manual run, for the current slot.
    Manual,
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("unrecognised event: expected an EventBridge \"Scheduled Event\", {{\"scheduled_time\": \"<RFC 3339 time>\"}} or {{}}; got {0}")]
    Unrecognised(String),
    #[error("invalid EventBridge Scheduled Event: {0}")]
    InvalidRuleEvent(String),
    /// The event does not have the Scheduled Event's shape at all.
    #[error("invalid EventBridge Scheduled Event: {0}")]
    MalformedRuleEvent(#[source] serde_json::Error),
    #[error("scheduled_time {0} is not an RFC 3339 time such as \"2024-06-01T12:35:00Z\"")]
    InvalidScheduledTime(String),
    #[error("invalid backfill event: {0}; expected {{\"backfill\": {{\"symbols\": [\"BTCUSDT\"], \"from\": \"2024-06-01\", \"to\": \"2024-06-30\"}}}}")]
    InvalidBackfill(String),
    #[error("slot {slot} is outside the years {first}-{last} that the Athena table's partition projection reads; nothing was fetched or written", first = SLOT_YEARS.start(), last = SLOT_YEARS.end())]
    SlotOutsideProjection { slot: Slot },
}

impl Request {
    pub fn parse(event: &Value) -> Result<Request, EventError> {
        let object = match event {
            Value::Null => return Ok(Request::Slot(Trigger::Manual)),
            Value::Object(object) => object,
            other => return Err(EventError::Unrecognised(describe(other))),
        };
        if object.contains_key("backfill") {
            return serde_json::from_value(event.clone())
                .map(Request::Backfill)
                .map_err(|e| EventError::InvalidBackfill(e.to_string()));
        }
        Trigger::parse(event, object).map(Request::Slot)
    }
}

impl Trigger {
    fn parse(event: &Value, object: &Map<String, Value>) -> Result<Trigger, EventError> {
        if object.is_empty() {
            return Ok(Trigger::Manual);
        }
        if object.contains_key("detail-type") {
            let rule: EventBridgeEvent =
                serde_json::from_value(event.clone()).map_err(EventError::MalformedRuleEvent)?;
            if rule.detail_type != "Scheduled Event" {
                return Err(EventError::InvalidRuleEvent(format!(
                    "detail-type is {:?}, expected \"Scheduled Event\"",
                    rule.detail_type
                )));
            }
            let time = rule
                .time
                .ok_or_else(|| EventError::InvalidRuleEvent("it has no \"time\"".to_owned()))?;
            return Ok(Trigger::Rule { time });
        }
        if let Some(value) = object.get("scheduled_time") {
            let time = value
                .as_str()
                .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
                .ok_or_else(|| EventError::InvalidScheduledTime(truncate(&value.to_string())))?;
            return Ok(Trigger::Schedule {
                time: time.with_timezone(&Utc),
            });
        }
        Err(EventError::Unrecognised(describe(event)))
    }

    /// The time whose slot the run owns.
    pub fn time(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Trigger::Rule { time } | Trigger::Schedule { time } => *time,
            Trigger::Manual => now,
        }
    }

    /// The slot the run owns, refused when Athena would never read what it writes.
    pub fn slot(&self, now: DateTime<Utc>) -> Result<Slot, EventError> {
        let slot = Slot::containing(self.time(now));
        if slot.is_readable_by_athena() {
            Ok(slot)
        } else {
            Err(EventError::SlotOutsideProjection { slot })
        }
    }
}

fn describe(event: &Value) -> String {
    match event {
        Value::Object(object) => {
            let keys: Vec<&str> = object.keys().map(String::as_str).take(10).collect();
            format!("an object with keys {keys:?}")
        }
        Value::Array(_) => "an array".to_owned(),
        Value::String(_) => "a string".to_owned(),
        Value::Number(_) => "a number".to_owned(),
        Value::Bool(_) => "a boolean".to_owned(),
        Value::Null => "null".to_owned(),
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn slot_of(event: Value) -> Result<Slot, EventError> {
        match Request::parse(&event)? {
            Request::Slot(trigger) => trigger.slot(at("2024-06-01T12:37:10Z")),
            other => panic!("not a slot run: {other:?}"),
        }
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
    fn a_scheduler_input_names_the_slot_of_its_scheduled_time() {
        let request = Request::parse(&json!({"scheduled_time": "2024-06-01T12:39:59+00:00"}));
        assert_eq!(
            request.unwrap(),
            Request::Slot(Trigger::Schedule {
                time: at("2024-06-01T12:39:59Z")
            })
        );
        assert_eq!(
            slot_of(json!({"scheduled_time": "2024-06-01T14:39:59+02:00"}))
                .unwrap()
                .start(),
            at("2024-06-01T12:35:00Z")
        );
    }

    #[test]
    fn a_rule_event_names_the_slot_of_its_time() {
        let event = json!({
            "version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "1", "time": "2024-12-31T23:59:30Z", "region": "eu-west-1",
            "resources": [], "detail": {}
        });
        assert_eq!(slot_of(event).unwrap().start(), at("2024-12-31T23:55:00Z"));
    }

    #[test]
    fn an_empty_object_or_no_payload_is_a_manual_run_for_the_current_slot() {
        for event in [json!({}), Value::Null] {
            assert_eq!(
                Request::parse(&event).unwrap(),
                Request::Slot(Trigger::Manual)
            );
            assert_eq!(slot_of(event).unwrap().start(), at("2024-06-01T12:35:00Z"));
        }
    }

    #[test]
    fn refuses_what_it_cannot_read_saying_what_it_expected() {
        let cases = [
            (json!([]), "an array"),
            (json!("x"), "a string"),
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
            (json!({"scheduled_time": "yesterday"}), "RFC 3339"),
            (json!({"scheduled_time": 1717245300}), "RFC 3339"),
            (
                json!({"detail-type": "Object Created", "source": "aws.s3", "time": "2024-06-01T12:00:00Z", "detail": {}}),
                "expected \"Scheduled Event\"",
            ),
            (
                json!({"detail-type": "Scheduled Event", "time": 5}),
                "invalid EventBridge",
            ),
        ];
        for (event, expected) in cases {
            let error = Request::parse(&event)
                .expect_err(&event.to_string())
                .to_string();
            assert!(error.contains(expected), "{event}: {error}");
        }
    }

    #[test]
    fn refuses_a_slot_athena_would_never_read() {
        let error = slot_of(json!({"scheduled_time": "2101-01-01T00:00:00Z"})).unwrap_err();
        assert!(matches!(error, EventError::SlotOutsideProjection { .. }));
        assert!(error.to_string().contains("nothing was fetched"), "{error}");
    }
}
