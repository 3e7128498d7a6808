//! What the functions read of an S3 event delivered by EventBridge (`source` `aws.s3`): its
//! type, time, bucket and key. Structs of our own, not `aws_lambda_events`' (the library
//! holds no Lambda types, and a strict parse of the whole event refuses ones that lack
//! fields nothing here needs, as hand-written and S3-compatible servers' events do).
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html>

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

/// EventBridge's `detail-type` for a new object (PutObject, CopyObject, POST, multipart).
pub const OBJECT_CREATED: &str = "Object Created";

/// The fields read, each `None` when absent (or, for bucket and key, empty). The key is as
/// the event carries it: see [`crate::layout::decode_event_key`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BridgeObject {
    pub detail_type: Option<String>,
    pub time: Option<DateTime<Utc>>,
    pub bucket: Option<String>,
    pub key: Option<String>,
}

#[derive(Deserialize)]
struct BridgeEvent {
    #[serde(rename = "detail-type")]
    detail_type: Option<String>,
    time: Option<DateTime<Utc>>,
    detail: Option<BridgeDetail>,
}

#[derive(Deserialize)]
struct BridgeDetail {
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

/// Reads an EventBridge S3 event; fails only when a field read has the wrong type.
pub fn parse_bridge_object(event: &Value) -> Result<BridgeObject, serde_json::Error> {
    let event: BridgeEvent = serde_json::from_value(event.clone())?;
    let non_empty = |text: Option<String>| text.filter(|t| !t.is_empty());
    let detail = event.detail;
    let (bucket, object) = detail.map_or((None, None), |d| (d.bucket, d.object));
    Ok(BridgeObject {
        detail_type: event.detail_type,
        time: event.time,
        bucket: non_empty(bucket.and_then(|b| b.name)),
        key: non_empty(object.and_then(|o| o.key)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_type_time_bucket_and_key_and_nothing_else() {
        let event = json!({
            "detail-type": "Object Created", "source": "aws.s3", "time": "2024-06-01T12:35:03Z",
            "detail": {"bucket": {"name": "b"}, "object": {"key": "raw/x.csv", "size": 1}}
        });
        let object = parse_bridge_object(&event).unwrap();
        assert_eq!(object.detail_type.as_deref(), Some(OBJECT_CREATED));
        assert_eq!(
            object.time.map(|t| t.to_rfc3339()),
            Some("2024-06-01T12:35:03+00:00".into())
        );
        assert_eq!(
            (object.bucket.as_deref(), object.key.as_deref()),
            (Some("b"), Some("raw/x.csv"))
        );
        let empty = parse_bridge_object(&json!({"detail": {"bucket": {"name": ""}}})).unwrap();
        assert_eq!(empty, BridgeObject::default());
        assert!(parse_bridge_object(&json!({"detail": {"object": {"key": 5}}})).is_err());
    }
}
