//! The events that start a slot run of the `ingest` and `klines` functions, and the slot
//! each one names. Kept out of `coinlake`, which holds no Lambda types.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use coinlake::slot::{Slot, SLOT_YEARS};
use serde_json::Value;

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
pub enum TriggerError {
    #[error("unrecognised event: expected an EventBridge \"Scheduled Event\", {{\"scheduled_time\": \"<RFC 3339 time>\"}} or {{}}; got {0}")]
    Unrecognised(String),
    #[error("invalid EventBridge Scheduled Event: {0}")]
    InvalidRuleEvent(String),
    /// The event does not have the Scheduled Event's shape at all.
    #[error("invalid EventBridge Scheduled Event: {0}")]
    MalformedRuleEvent(#[source] serde_json::Error),
    #[error("scheduled_time {0} is not an RFC 3339 time such as \"2024-06-01T12:35:00Z\"")]
    InvalidScheduledTime(String),
    #[error("slot {slot} is outside the years {first}-{last} that the Athena table's partition projection reads; nothing was fetched or written", first = SLOT_YEARS.start(), last = SLOT_YEARS.end())]
    SlotOutsideProjection { slot: Slot },
}

impl Trigger {
    /// Reads a payload: `null` or `{}`, an EventBridge rule's event, or a Scheduler input.
    pub fn parse(event: &Value) -> Result<Trigger, TriggerError> {
        let object = match event {
            Value::Null => return Ok(Trigger::Manual),
            Value::Object(object) => object,
            other => return Err(TriggerError::Unrecognised(describe(other))),
        };
        if object.is_empty() {
            return Ok(Trigger::Manual);
        }
        if object.contains_key("detail-type") {
            let rule: EventBridgeEvent =
                serde_json::from_value(event.clone()).map_err(TriggerError::MalformedRuleEvent)?;
            if rule.detail_type != "Scheduled Event" {
                return Err(TriggerError::InvalidRuleEvent(format!(
                    "detail-type is {:?}, expected \"Scheduled Event\"",
                    rule.detail_type
                )));
            }
            let time = rule
                .time
                .ok_or_else(|| TriggerError::InvalidRuleEvent("it has no \"time\"".to_owned()))?;
            return Ok(Trigger::Rule { time });
        }
        if let Some(value) = object.get("scheduled_time") {
            let time = value
                .as_str()
                .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
                .ok_or_else(|| TriggerError::InvalidScheduledTime(truncate(&value.to_string())))?;
            return Ok(Trigger::Schedule {
                time: time.with_timezone(&Utc),
            });
        }
        Err(TriggerError::Unrecognised(describe(event)))
    }

    /// The time whose slot the run owns.
    pub fn time(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Trigger::Rule { time } | Trigger::Schedule { time } => *time,
            Trigger::Manual => now,
        }
    }

    /// The slot the run owns, refused when Athena would never read what it writes.
    pub fn slot(&self, now: DateTime<Utc>) -> Result<Slot, TriggerError> {
        let slot = Slot::containing(self.time(now));
        if slot.is_readable_by_athena() {
            Ok(slot)
        } else {
            Err(TriggerError::SlotOutsideProjection { slot })
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

    fn slot_of(event: Value) -> Result<Slot, TriggerError> {
        Trigger::parse(&event)?.slot(at("2024-06-01T12:37:10Z"))
    }

    #[test]
    fn a_scheduler_input_names_the_slot_of_its_scheduled_time() {
        let trigger = Trigger::parse(&json!({"scheduled_time": "2024-06-01T12:39:59+00:00"}));
        assert_eq!(
            trigger.unwrap(),
            Trigger::Schedule {
                time: at("2024-06-01T12:39:59Z")
            }
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
            assert_eq!(Trigger::parse(&event).unwrap(), Trigger::Manual);
            assert_eq!(slot_of(event).unwrap().start(), at("2024-06-01T12:35:00Z"));
        }
    }

    #[test]
    fn refuses_what_it_cannot_read_saying_what_it_expected() {
        let cases = [
            (json!([]), "an array"),
            (json!("x"), "a string"),
            (json!({"slot": "now"}), "an object with keys [\"slot\"]"),
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
            let error = Trigger::parse(&event)
                .expect_err(&event.to_string())
                .to_string();
            assert!(error.contains(expected), "{event}: {error}");
        }
    }

    #[test]
    fn refuses_a_slot_athena_would_never_read() {
        let error = slot_of(json!({"scheduled_time": "2101-01-01T00:00:00Z"})).unwrap_err();
        assert!(matches!(error, TriggerError::SlotOutsideProjection { .. }));
        assert!(error.to_string().contains("nothing was fetched"), "{error}");
    }
}
