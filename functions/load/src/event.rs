//! The events that invoke `load`: S3 notifications, and replays.

use aws_lambda_events::s3::S3Event;
use chrono::NaiveDate;
use coinlake::layout::Dataset;
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadEvent {
    /// `ObjectCreated` records of an S3 notification; other record types are dropped.
    Objects(Vec<ObjectRef>),
    /// `{"replay": {"dataset": "quotes", "from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}}`
    Replay {
        dataset: Dataset,
        from: NaiveDate,
        to: NaiveDate,
    },
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("unrecognised event: expected an S3 notification (\"Records\") or {{\"replay\": {{\"dataset\": \"quotes\", \"from\": \"YYYY-MM-DD\", \"to\": \"YYYY-MM-DD\"}}}}; got {0}")]
    Unrecognised(String),
    #[error("invalid S3 notification: {0}")]
    InvalidS3Event(String),
    #[error("invalid replay event: {0}")]
    InvalidReplay(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    dataset: String,
    from: String,
    to: String,
}

impl LoadEvent {
    pub fn parse(event: &Value) -> Result<LoadEvent, EventError> {
        let Value::Object(object) = event else {
            return Err(EventError::Unrecognised(kind_of(event)));
        };
        if object.contains_key("Records") {
            let s3: S3Event = serde_json::from_value(event.clone())
                .map_err(|e| EventError::InvalidS3Event(e.to_string()))?;
            let mut objects = Vec::new();
            for record in s3.records {
                let name = record.event_name.unwrap_or_default();
                let (Some(bucket), Some(key)) = (record.s3.bucket.name, record.s3.object.key)
                else {
                    return Err(EventError::InvalidS3Event(format!(
                        "a {name:?} record has no bucket name or object key"
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
                    key: decode_key(&key)?,
                });
            }
            return Ok(LoadEvent::Objects(objects));
        }
        if let Some(replay) = object.get("replay") {
            let request: ReplayRequest = serde_json::from_value(replay.clone())
                .map_err(|e| EventError::InvalidReplay(e.to_string()))?;
            let dataset = Dataset::parse(&request.dataset).ok_or_else(|| {
                EventError::InvalidReplay(format!(
                    "unknown dataset {:?}; expected \"quotes\"",
                    request.dataset
                ))
            })?;
            let date = |text: &str, name: &str| {
                NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                    EventError::InvalidReplay(format!(
                        "{name} {text:?} is not a date like \"2024-06-01\""
                    ))
                })
            };
            return Ok(LoadEvent::Replay {
                dataset,
                from: date(&request.from, "from")?,
                to: date(&request.to, "to")?,
            });
        }
        Err(EventError::Unrecognised(kind_of(event)))
    }
}

/// S3 notifications URL-encode keys, with `+` for a space.
fn decode_key(key: &str) -> Result<String, EventError> {
    let spaced = key.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| {
            EventError::InvalidS3Event(format!("object key {key:?} does not decode to UTF-8"))
        })
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

    #[test]
    fn keys_are_url_decoded_with_plus_as_space() {
        assert_eq!(
            decode_key("raw/quotes/year%3D2024/a+b%2Bc.csv").unwrap(),
            "raw/quotes/year=2024/a b+c.csv"
        );
        assert!(decode_key("raw/%FF.csv").is_err());
    }
}
