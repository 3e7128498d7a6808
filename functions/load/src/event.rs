//! The events that invoke `load`: S3 notifications, S3 events routed through EventBridge,
//! and replays.
//!
//! Only the fields `load` uses are read (bucket, key, and the event's type), with structs of
//! our own: a strict parse of the whole notification refused records that lack fields
//! nothing here needs (`userIdentity`, `eventTime`), which S3-compatible servers and
//! hand-written test events often leave out.

use chrono::{DateTime, NaiveDate, Utc};
use coinlake::layout::{decode_event_key, parse_day_range, Dataset};
use coinlake::s3_event::{parse_bridge_object, OBJECT_CREATED};
use serde::Deserialize;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadEvent {
    /// `ObjectCreated` records of an S3 notification, or one EventBridge `Object Created`
    /// event; other record and event types are dropped.
    Objects(Vec<ObjectRef>),
    /// `{"replay": {"dataset": "quotes" or "klines", "from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}}`,
    /// with `"alerts": true` to let the replay fire alerts (a replay is quiet by default).
    Replay {
        dataset: Dataset,
        from: NaiveDate,
        to: NaiveDate,
        alerts: bool,
    },
    /// `{"maintain": {}}`, or from the schedule
    /// `{"maintain": {"scheduled_time": "<aws.scheduler.scheduled-time>"}}`: `today` is the
    /// UTC day of that time (so a retry an hour later still means the same day), or `None`
    /// for the current one.
    Maintain { today: Option<NaiveDate> },
    /// `{"alerts": {}}`, or from the schedule every five minutes
    /// `{"alerts": {"scheduled_time": "<aws.scheduler.scheduled-time>"}}`: the stale check at
    /// that time (`None`: now), then delivery of unsent alerts.
    Alerts { at: Option<DateTime<Utc>> },
}

/// The `Malformed*` variants: the event does not have the shape at all, and serde says why.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("unrecognised event: expected an S3 notification (\"Records\"), an EventBridge S3 event (\"source\": \"aws.s3\"), {{\"maintain\": {{}}}}, {{\"alerts\": {{}}}} or {{\"replay\": {{\"dataset\": \"quotes\", \"from\": \"YYYY-MM-DD\", \"to\": \"YYYY-MM-DD\"}}}}; got {0}")]
    Unrecognised(String),
    #[error("invalid S3 notification: {0}")]
    InvalidS3Event(String),
    #[error("invalid S3 notification: {0}")]
    MalformedS3Event(#[source] serde_json::Error),
    #[error("invalid EventBridge S3 event: {0}")]
    InvalidEventBridge(String),
    #[error("invalid EventBridge S3 event: {0}")]
    MalformedEventBridge(#[source] serde_json::Error),
    #[error("invalid replay event: {0}")]
    InvalidReplay(String),
    #[error("invalid replay event: {0}")]
    MalformedReplay(#[source] serde_json::Error),
    #[error("invalid maintain event: {0}")]
    InvalidMaintain(String),
    #[error("invalid maintain event (expected {{\"maintain\": {{}}}} or {{\"maintain\": {{\"scheduled_time\": \"<RFC 3339 time>\"}}}}): {0}")]
    MalformedMaintain(#[source] serde_json::Error),
    #[error("invalid alerts event: {0}")]
    InvalidAlerts(String),
    #[error("invalid alerts event (expected {{\"alerts\": {{}}}} or {{\"alerts\": {{\"scheduled_time\": \"<RFC 3339 time>\"}}}}): {0}")]
    MalformedAlerts(#[source] serde_json::Error),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MaintainRequest {
    scheduled_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsRequest {
    scheduled_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    dataset: String,
    from: String,
    to: String,
    #[serde(default)]
    alerts: bool,
}

/// An S3 event notification: only what `load` reads.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html>
#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "Records")]
    records: Vec<NotificationRecord>,
}

#[derive(Deserialize)]
struct NotificationRecord {
    #[serde(rename = "eventName")]
    event_name: Option<String>,
    s3: Option<NotificationEntity>,
}

#[derive(Deserialize)]
struct NotificationEntity {
    bucket: Option<Named>,
    object: Option<Keyed>,
}

#[derive(Deserialize)]
struct Named {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Keyed {
    key: Option<String>,
}

impl LoadEvent {
    pub fn parse(event: &Value) -> Result<LoadEvent, EventError> {
        let Value::Object(object) = event else {
            return Err(EventError::Unrecognised(kind_of(event)));
        };
        if object.contains_key("Records") {
            return parse_notification(event);
        }
        if object.get("source").and_then(Value::as_str) == Some("aws.s3") {
            return parse_bridge(event);
        }
        if let Some(replay) = object.get("replay") {
            let request: ReplayRequest =
                serde_json::from_value(replay.clone()).map_err(EventError::MalformedReplay)?;
            let (dataset, from, to) = parse_day_range(&request.dataset, &request.from, &request.to)
                .map_err(EventError::InvalidReplay)?;
            return Ok(LoadEvent::Replay {
                dataset,
                from,
                to,
                alerts: request.alerts,
            });
        }
        if let Some(maintain) = object.get("maintain") {
            let request: MaintainRequest =
                serde_json::from_value(maintain.clone()).map_err(EventError::MalformedMaintain)?;
            let today = request
                .scheduled_time
                .map(|time| {
                    chrono::DateTime::parse_from_rfc3339(&time)
                        .map(|t| t.to_utc().date_naive())
                        .map_err(|_| {
                            EventError::InvalidMaintain(format!(
                                "scheduled_time {time:?} is not a time like \"2024-06-02T01:00:00Z\""
                            ))
                        })
                })
                .transpose()?;
            return Ok(LoadEvent::Maintain { today });
        }
        if let Some(alerts) = object.get("alerts") {
            let request: AlertsRequest =
                serde_json::from_value(alerts.clone()).map_err(EventError::MalformedAlerts)?;
            let at = request
                .scheduled_time
                .map(|time| {
                    DateTime::parse_from_rfc3339(&time)
                        .map(|t| t.to_utc())
                        .map_err(|_| {
                            EventError::InvalidAlerts(format!(
                                "scheduled_time {time:?} is not a time like \"2024-06-02T01:05:00Z\""
                            ))
                        })
                })
                .transpose()?;
            return Ok(LoadEvent::Alerts { at });
        }
        Err(EventError::Unrecognised(kind_of(event)))
    }
}

fn parse_notification(event: &Value) -> Result<LoadEvent, EventError> {
    let invalid = EventError::InvalidS3Event;
    let notification: Notification =
        serde_json::from_value(event.clone()).map_err(EventError::MalformedS3Event)?;
    let mut objects = Vec::new();
    for (index, record) in notification.records.into_iter().enumerate() {
        // Without its type a record could be a deletion: loading it would be a guess.
        let Some(name) = record.event_name else {
            return Err(invalid(format!("record {index} has no eventName")));
        };
        let (bucket, key) = named_object(
            record.s3.as_ref().and_then(|s| s.bucket.as_ref()),
            record.s3.as_ref().and_then(|s| s.object.as_ref()),
        );
        let (Some(bucket), Some(key)) = (bucket, key) else {
            return Err(invalid(format!(
                "record {index} ({name:?}) has no s3.bucket.name or s3.object.key"
            )));
        };
        if !name.starts_with("ObjectCreated:") {
            tracing::info!(
                event_name = name,
                key,
                "not an ObjectCreated record; ignored"
            );
            continue;
        }
        objects.push(ObjectRef {
            bucket,
            key: decode_event_key(&key).map_err(invalid)?,
        });
    }
    Ok(LoadEvent::Objects(objects))
}

fn parse_bridge(event: &Value) -> Result<LoadEvent, EventError> {
    let invalid = EventError::InvalidEventBridge;
    let bridge = parse_bridge_object(event).map_err(EventError::MalformedEventBridge)?;
    let Some(detail_type) = bridge.detail_type else {
        return Err(invalid("no \"detail-type\"".to_owned()));
    };
    let (Some(bucket), Some(key)) = (bridge.bucket, bridge.key) else {
        return Err(invalid(format!(
            "a {detail_type:?} event has no detail.bucket.name or detail.object.key"
        )));
    };
    if detail_type != OBJECT_CREATED {
        tracing::info!(detail_type, key, "not an Object Created event; ignored");
        return Ok(LoadEvent::Objects(Vec::new()));
    }
    // Whether EventBridge URL-encodes the key is not documented: a recorded event shows
    // `:` unencoded (a notification sends `%3A`), while AWS's own parser (Powertools for
    // AWS Lambda, `S3EventBridgeNotificationObject.key`) form-decodes it. Decoding serves
    // both: the keys this layout writes hold no `+`, `%` or space, so an unencoded key
    // passes unchanged, and an encoded one is not mistaken for a foreign key and skipped.
    Ok(LoadEvent::Objects(vec![ObjectRef {
        bucket,
        key: decode_event_key(&key).map_err(invalid)?,
    }]))
}

/// The bucket name and object key when both are present and non-empty.
fn named_object(
    bucket: Option<&Named>,
    object: Option<&Keyed>,
) -> (Option<String>, Option<String>) {
    let non_empty = |text: Option<&String>| text.filter(|t| !t.is_empty()).cloned();
    (
        non_empty(bucket.and_then(|b| b.name.as_ref())),
        non_empty(object.and_then(|o| o.key.as_ref())),
    )
}

fn kind_of(event: &Value) -> String {
    match event {
        Value::Object(object) => format!(
            "an object with keys {:?}",
            object.keys().take(10).collect::<Vec<_>>()
        ),
        Value::Array(_) => "an array".to_owned(),
        Value::Null => "null".to_owned(),
        other => format!(
            "a JSON {}",
            if other.is_string() {
                "string"
            } else {
                "scalar"
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(event: Value) -> Vec<ObjectRef> {
        match LoadEvent::parse(&event) {
            Ok(LoadEvent::Objects(objects)) => objects,
            other => panic!("expected objects, got {other:?}"),
        }
    }

    fn refused(event: Value) -> String {
        LoadEvent::parse(&event)
            .expect_err("the event is refused")
            .to_string()
    }

    const KEY: &str = "raw/quotes/year=2024/month=06/day=01/quotes_2024-06-01_12-35-00.csv";

    fn bridge(detail_type: &str, detail: Value) -> Value {
        serde_json::json!({
            "version": "0", "id": "1", "detail-type": detail_type, "source": "aws.s3",
            "account": "123456789012", "time": "2024-06-01T12:35:03Z", "region": "us-east-1",
            "resources": [], "detail": detail
        })
    }

    #[test]
    fn a_notification_record_needs_only_its_type_bucket_and_key() {
        let minimal = serde_json::json!({ "Records": [{
            "eventName": "ObjectCreated:Put",
            "s3": { "bucket": { "name": "b" }, "object": { "key": KEY.replace('=', "%3D") } }
        }]});
        assert_eq!(
            objects(minimal),
            [ObjectRef {
                bucket: "b".into(),
                key: KEY.into()
            }]
        );
        let sample: Value =
            serde_json::from_str(include_str!("../../../events/s3-put.json")).unwrap();
        assert_eq!(objects(sample)[0].key, KEY);
    }

    #[test]
    fn an_eventbridge_object_created_event_names_one_object() {
        let sample: Value =
            serde_json::from_str(include_str!("../../../events/s3-eventbridge.json")).unwrap();
        assert_eq!(
            objects(sample),
            [ObjectRef {
                bucket: "coinlake-local".into(),
                key: KEY.into()
            }]
        );
        // The same key, URL-encoded, is the same object.
        let encoded = bridge(
            "Object Created",
            serde_json::json!({ "bucket": { "name": "b" }, "object": { "key": KEY.replace('=', "%3D") } }),
        );
        assert_eq!(objects(encoded)[0].key, KEY);
        let deleted = bridge(
            "Object Deleted",
            serde_json::json!({ "bucket": { "name": "b" }, "object": { "key": KEY } }),
        );
        assert_eq!(objects(deleted), []);
    }

    #[test]
    fn a_replay_is_quiet_unless_it_asks_for_alerts() {
        let replay = |file: &str| -> LoadEvent {
            let path = format!("{}/../../events/{file}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).expect("sample event");
            LoadEvent::parse(&serde_json::from_str(&text).expect("JSON")).expect("parses")
        };
        let day = NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
        assert_eq!(
            replay("replay.json"),
            LoadEvent::Replay {
                dataset: Dataset::Quotes,
                from: day,
                to: day,
                alerts: false
            }
        );
        assert_eq!(
            replay("replay-alerts.json"),
            LoadEvent::Replay {
                dataset: Dataset::Quotes,
                from: day,
                to: day,
                alerts: true
            }
        );
        let error = refused(serde_json::json!({ "replay": {
            "dataset": "quotes", "from": "2024-06-01", "to": "2024-06-01", "alerts": "yes"
        }}));
        assert!(
            error.contains("invalid type: string \"yes\", expected a boolean"),
            "{error}"
        );
    }

    #[test]
    fn a_maintain_event_names_its_day_by_the_schedules_time_or_not_at_all() {
        let parse = |event: Value| LoadEvent::parse(&event);
        assert_eq!(
            parse(serde_json::json!({ "maintain": {} })).unwrap(),
            LoadEvent::Maintain { today: None }
        );
        let sample: Value =
            serde_json::from_str(include_str!("../../../events/maintain.json")).unwrap();
        assert_eq!(
            parse(sample).unwrap(),
            LoadEvent::Maintain {
                today: NaiveDate::from_ymd_opt(2024, 6, 2)
            }
        );
        for (event, expected) in [
            (
                serde_json::json!({ "maintain": { "scheduled_time": "yesterday" } }),
                "is not a time",
            ),
            (
                serde_json::json!({ "maintain": { "days": 3 } }),
                "unknown field `days`",
            ),
            (
                serde_json::json!({ "maintain": [] }),
                "invalid maintain event",
            ),
        ] {
            let error = refused(event.clone());
            assert!(error.contains(expected), "{event}: {error}");
        }
    }

    #[test]
    fn an_alerts_event_names_the_time_of_its_check_or_now() {
        let parse = |event: Value| LoadEvent::parse(&event);
        assert_eq!(
            parse(serde_json::json!({ "alerts": {} })).unwrap(),
            LoadEvent::Alerts { at: None }
        );
        let sample: Value =
            serde_json::from_str(include_str!("../../../events/alerts-scheduled.json")).unwrap();
        assert_eq!(
            parse(sample).unwrap(),
            LoadEvent::Alerts {
                at: Some(
                    DateTime::parse_from_rfc3339("2024-06-02T01:05:00Z")
                        .unwrap()
                        .to_utc()
                )
            }
        );
        assert_eq!(
            parse(
                serde_json::json!({ "alerts": { "scheduled_time": "2024-06-02T03:05:00+02:00" } })
            )
            .unwrap(),
            LoadEvent::Alerts {
                at: Some(
                    DateTime::parse_from_rfc3339("2024-06-02T01:05:00Z")
                        .unwrap()
                        .to_utc()
                )
            }
        );
        for (event, expected) in [
            (
                serde_json::json!({ "alerts": { "scheduled_time": "in five minutes" } }),
                "invalid alerts event: scheduled_time \"in five minutes\" is not a time",
            ),
            (
                serde_json::json!({ "alerts": { "scheduled_time": 1717290300 } }),
                "invalid alerts event (expected",
            ),
            (
                serde_json::json!({ "alerts": { "rules": [1] } }),
                "unknown field `rules`",
            ),
            (
                serde_json::json!({ "alerts": true }),
                "invalid alerts event",
            ),
            (
                serde_json::json!({ "alerts": null }),
                "invalid alerts event",
            ),
        ] {
            let error = refused(event.clone());
            assert!(error.contains(expected), "{event}: {error}");
        }
    }

    #[test]
    fn malformed_s3_events_are_refused_with_what_is_missing() {
        let record = |record: Value| serde_json::json!({ "Records": [record] });
        for (event, expected) in [
            (serde_json::json!({ "Records": "x" }), "invalid S3 notification: invalid type"),
            (
                record(serde_json::json!({ "s3": { "bucket": { "name": "b" }, "object": { "key": "k" } } })),
                "record 0 has no eventName",
            ),
            (
                record(serde_json::json!({ "eventName": "ObjectCreated:Put", "s3": { "bucket": { "name": "b" } } })),
                "record 0 (\"ObjectCreated:Put\") has no s3.bucket.name or s3.object.key",
            ),
            (
                record(serde_json::json!({ "eventName": "ObjectCreated:Put", "s3": { "bucket": { "name": "" }, "object": { "key": "k" } } })),
                "has no s3.bucket.name",
            ),
            (
                record(serde_json::json!({ "eventName": "ObjectCreated:Put", "s3": { "bucket": { "name": "b" }, "object": { "key": 7 } } })),
                "invalid type: integer `7`, expected a string",
            ),
            (
                record(serde_json::json!({ "eventName": "ObjectCreated:Put", "s3": { "bucket": { "name": "b" }, "object": { "key": "raw/%FF.csv" } } })),
                "does not decode to UTF-8",
            ),
            (
                bridge("Object Created", serde_json::json!({ "bucket": { "name": "b" } })),
                "invalid EventBridge S3 event: a \"Object Created\" event has no detail.bucket.name or detail.object.key",
            ),
            (
                serde_json::json!({ "source": "aws.s3", "detail": { "bucket": { "name": "b" }, "object": { "key": "k" } } }),
                "invalid EventBridge S3 event: no \"detail-type\"",
            ),
            (
                serde_json::json!({ "source": "aws.s3", "detail-type": "Object Created" }),
                "has no detail.bucket.name",
            ),
            (
                bridge("Object Created", serde_json::json!({ "bucket": "b", "object": { "key": "k" } })),
                "invalid EventBridge S3 event: invalid type",
            ),
            (
                serde_json::json!({ "source": "aws.events", "detail-type": "Scheduled Event" }),
                "unrecognised event",
            ),
        ] {
            let error = refused(event.clone());
            assert!(error.contains(expected), "{event}: {error}");
        }
    }
}
