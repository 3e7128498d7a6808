//! The events that start an ingest run, and the time each one names.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use coinlake::slot::{Slot, SLOT_YEARS};
use serde_json::Value;

/// What invoked the function.
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
    #[error("slot {slot} is outside the years {first}-{last} that the Athena table's partition projection reads; nothing was fetched or written", first = SLOT_YEARS.start(), last = SLOT_YEARS.end())]
    SlotOutsideProjection { slot: Slot },
}

impl Trigger {
    pub fn parse(event: &Value) -> Result<Trigger, EventError> {
        let object = match event {
            Value::Null => return Ok(Trigger::Manual),
            Value::Object(object) => object,
            other => return Err(EventError::Unrecognised(describe(other))),
        };
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
