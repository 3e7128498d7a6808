//! The events that invoke `compact`, and what each one asks for.

use chrono::{DateTime, NaiveDate, Utc};
use coinlake::layout::{decode_event_key, parse_day_range, Dataset};
use coinlake::s3_event::{parse_bridge_object, OBJECT_CREATED};
use serde::Deserialize;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompactEvent {
    /// The daily schedule (`{"scheduled_time": …}` from EventBridge Scheduler, or a rule's
    /// "Scheduled Event"), or `{}` by hand: compact the UTC day before `time`.
    Daily { time: Option<DateTime<Utc>> },
    /// `{"compact": {"dataset": "quotes", "from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}}`, and
    /// `"force": true` to rebuild days that are up to date.
    Range {
        dataset: Dataset,
        from: NaiveDate,
        to: NaiveDate,
        force: bool,
    },
    /// An EventBridge S3 "Object Created" event: a raw object arrived at `time`.
    ObjectCreated {
        bucket: String,
        key: String,
        time: DateTime<Utc>,
    },
    /// Another S3 event type (a deletion, say): nothing to do.
    OtherS3Event { detail_type: String },
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("unrecognised event: expected {{\"scheduled_time\": \"<RFC 3339 time>\"}}, an EventBridge \"Scheduled Event\" or S3 \"Object Created\" event, {{\"compact\": {{\"dataset\": \"quotes\", \"from\": \"YYYY-MM-DD\", \"to\": \"YYYY-MM-DD\"}}}} or {{}}; got {0}")]
    Unrecognised(String),
    #[error("invalid compact request: {0}")]
    InvalidRange(String),
    #[error("invalid compact request: {0}")]
    MalformedRange(#[source] serde_json::Error),
    #[error("invalid EventBridge event: {0}")]
    InvalidBridge(String),
    #[error("invalid EventBridge event: {0}")]
    MalformedBridge(#[source] serde_json::Error),
    #[error("scheduled_time {0:?} is not an RFC 3339 time such as \"2024-06-02T00:20:00Z\"")]
    InvalidScheduledTime(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeRequest {
    dataset: String,
    from: String,
    to: String,
    #[serde(default)]
    force: bool,
}

impl CompactEvent {
    pub fn parse(event: &Value) -> Result<CompactEvent, EventError> {
        let object = match event {
            Value::Null => return Ok(CompactEvent::Daily { time: None }),
            Value::Object(object) => object,
            other => return Err(EventError::Unrecognised(kind_of(other))),
        };
        if object.is_empty() {
            return Ok(CompactEvent::Daily { time: None });
        }
        if object.contains_key("detail-type") {
            return parse_bridge(event);
        }
        if let Some(value) = object.get("scheduled_time") {
            let text = value.as_str().unwrap_or_default();
            let time = DateTime::parse_from_rfc3339(text)
                .map_err(|_| EventError::InvalidScheduledTime(value.to_string()))?;
            return Ok(CompactEvent::Daily {
                time: Some(time.to_utc()),
            });
        }
        if let Some(request) = object.get("compact") {
            return parse_range(request);
        }
        Err(EventError::Unrecognised(kind_of(event)))
    }
}

fn parse_range(request: &Value) -> Result<CompactEvent, EventError> {
    let request: RangeRequest =
        serde_json::from_value(request.clone()).map_err(EventError::MalformedRange)?;
    let (dataset, from, to) = parse_day_range(&request.dataset, &request.from, &request.to)
        .map_err(EventError::InvalidRange)?;
    Ok(CompactEvent::Range {
        dataset,
        from,
        to,
        force: request.force,
    })
}

fn parse_bridge(event: &Value) -> Result<CompactEvent, EventError> {
    let bridge = parse_bridge_object(event).map_err(EventError::MalformedBridge)?;
    let invalid = EventError::InvalidBridge;
    let detail_type = bridge.detail_type.unwrap_or_default();
    let Some(time) = bridge.time else {
        return Err(invalid(format!("a {detail_type:?} event has no \"time\"")));
    };
    match detail_type.as_str() {
        "Scheduled Event" => Ok(CompactEvent::Daily { time: Some(time) }),
        OBJECT_CREATED => {
            let (Some(bucket), Some(key)) = (bridge.bucket, bridge.key) else {
                return Err(invalid(
                    "an \"Object Created\" event has no detail.bucket.name or detail.object.key"
                        .to_owned(),
                ));
            };
            Ok(CompactEvent::ObjectCreated {
                bucket,
                key: decode_event_key(&key).map_err(invalid)?,
                time,
            })
        }
        _ if event.get("source").and_then(Value::as_str) == Some("aws.s3") => {
            Ok(CompactEvent::OtherS3Event { detail_type })
        }
        other => Err(invalid(format!(
            "detail-type {other:?} is neither \"Scheduled Event\" nor an S3 event"
        ))),
    }
}

fn kind_of(event: &Value) -> String {
    match event {
        Value::Object(object) => format!(
            "an object with keys {:?}",
            object.keys().take(10).collect::<Vec<_>>()
        ),
        Value::Array(_) => "an array".to_owned(),
        Value::String(_) => "a JSON string".to_owned(),
        _ => "a JSON scalar".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "raw/quotes/year=2024/month=06/day=01/quotes_2024-06-01_12-35-00.csv";

    fn parse(event: Value) -> Result<CompactEvent, String> {
        CompactEvent::parse(&event).map_err(|e| e.to_string())
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn the_committed_events_parse() {
        for (file, expected) in [
            (
                "compact-daily.json",
                CompactEvent::Daily {
                    time: Some(at("2024-06-02T00:20:00Z")),
                },
            ),
            (
                "compact-range.json",
                CompactEvent::Range {
                    dataset: Dataset::Quotes,
                    from: NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(),
                    to: NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(),
                    force: false,
                },
            ),
            (
                "s3-eventbridge.json",
                CompactEvent::ObjectCreated {
                    bucket: "coinlake-local".into(),
                    key: KEY.into(),
                    time: at("2024-06-01T12:35:03Z"),
                },
            ),
        ] {
            let path = format!("{}/../../events/{file}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap();
            let event: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(CompactEvent::parse(&event).unwrap(), expected, "{file}");
        }
    }

    #[test]
    fn a_bare_or_scheduled_invoke_asks_for_the_day_before() {
        assert_eq!(parse(json!({})), Ok(CompactEvent::Daily { time: None }));
        assert_eq!(parse(Value::Null), Ok(CompactEvent::Daily { time: None }));
        assert_eq!(
            parse(
                json!({"detail-type": "Scheduled Event", "source": "aws.events", "time": "2024-06-02T00:20:00Z", "detail": {}})
            ),
            Ok(CompactEvent::Daily {
                time: Some(at("2024-06-02T00:20:00Z"))
            })
        );
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        for (event, expected) in [
            (
                json!({"scheduled_time": "yesterday"}),
                "not an RFC 3339 time",
            ),
            (json!({"scheduled_time": 5}), "not an RFC 3339 time"),
            (
                json!({"compact": {"dataset": "trades", "from": "2024-06-01", "to": "2024-06-01"}}),
                "unknown dataset \"trades\"",
            ),
            (
                json!({"compact": {"dataset": "quotes", "from": "2024-06-31", "to": "2024-07-01"}}),
                "from \"2024-06-31\" is not a date",
            ),
            (
                json!({"compact": {"dataset": "quotes", "from": "2024-06-01"}}),
                "missing field `to`",
            ),
            (
                json!({"compact": {"dataset": "quotes", "from": "2024-06-01", "to": "2024-06-01", "extra": 1}}),
                "unknown field `extra`",
            ),
            (
                json!({"compact": {"dataset": "quotes", "from": "2024-06-01", "to": "2024-06-01", "force": "yes"}}),
                "invalid type",
            ),
            (json!({"other": 1}), "unrecognised event"),
            (json!([1]), "an array"),
            (
                json!({"detail-type": "Object Created", "source": "aws.s3", "time": "2024-06-01T12:35:03Z", "detail": {"bucket": {"name": "b"}}}),
                "no detail.bucket.name or detail.object.key",
            ),
            (
                json!({"detail-type": "Object Created", "source": "aws.s3", "detail": {}}),
                "has no \"time\"",
            ),
            (
                json!({"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "time": "2024-06-01T12:35:03Z"}),
                "neither \"Scheduled Event\" nor an S3 event",
            ),
        ] {
            let error = parse(event.clone()).expect_err(&event.to_string());
            assert!(error.contains(expected), "{event}: {error}");
        }
    }

    #[test]
    fn other_s3_events_are_recognised_and_left_alone() {
        assert_eq!(
            parse(
                json!({"detail-type": "Object Deleted", "source": "aws.s3", "time": "2024-06-01T12:35:03Z", "detail": {}})
            ),
            Ok(CompactEvent::OtherS3Event {
                detail_type: "Object Deleted".into()
            })
        );
    }
}
