//! The Lambda handler: an S3 notification or a replay in, counts out; any file that could
//! not be loaded fails the invocation so Lambda retries it (loads are idempotent). The
//! daily maintenance event rolls days up and applies retention.

use crate::app::App;
use crate::event::{EventError, LoadEvent};
use coinlake::alerts::evaluation::AlertMode;
use coinlake::deadline::instant_of;
use coinlake::load::{LoadError, LoadOutcome, ReplayError, ReplaySummary};
use coinlake::maintain::{MaintainError, MaintenanceSummary};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum LoadResponse {
    Objects { results: Vec<LoadOutcome> },
    Replay(ReplaySummary),
    Maintain { maintain: MaintenanceSummary },
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("{} of {total} objects failed: {}", failures.len(), describe(failures))]
    Objects {
        total: usize,
        failures: Vec<LoadError>,
    },
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error(transparent)]
    Maintain(#[from] MaintainError),
    #[error("replay incomplete: {failed} of {files} files failed and can be retried (first: {first}); {loaded} loaded. Run the same replay again")]
    ReplayIncomplete {
        files: u64,
        loaded: u64,
        failed: u64,
        first: String,
    },
}

fn describe(failures: &[LoadError]) -> String {
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Diagnostic {
        let error_type = match &error {
            HandlerError::Event(_) => "InvalidEvent",
            // The first failure's class; a mix is still retried as a whole.
            HandlerError::Objects { failures, .. } => {
                failures.first().map_or("LoadFailed", |f| f.kind().as_str())
            }
            HandlerError::Replay(_) => "InvalidReplay",
            HandlerError::ReplayIncomplete { .. } => "ReplayIncomplete",
            HandlerError::Maintain(_) => "MaintenanceFailed",
        };
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<LoadResponse, HandlerError> {
    let deadline = Some(instant_of(event.context.deadline));
    match LoadEvent::parse(&event.payload)? {
        LoadEvent::Objects(objects) => {
            let total = objects.len();
            let mut results = Vec::with_capacity(total);
            let mut failures = Vec::new();
            for object in objects {
                match app
                    .loader
                    .load_object(&object.bucket, &object.key, deadline)
                    .await
                {
                    Ok(outcome) => results.push(outcome),
                    Err(error) => {
                        tracing::error!(key = object.key, error = %error, error_kind = error.kind().as_str(), "load failed");
                        failures.push(error);
                    }
                }
            }
            if failures.is_empty() {
                Ok(LoadResponse::Objects { results })
            } else {
                Err(HandlerError::Objects { total, failures })
            }
        }
        LoadEvent::Replay {
            dataset,
            from,
            to,
            alerts,
        } => {
            let summary = app
                .loader
                .replay(
                    &app.bucket,
                    dataset,
                    from,
                    to,
                    deadline,
                    AlertMode::of_replay(alerts),
                )
                .await?;
            let retryable: Vec<_> = summary
                .failures
                .iter()
                .filter(|f| f.error_type.is_transient())
                .collect();
            if let Some(first) = retryable.first() {
                return Err(HandlerError::ReplayIncomplete {
                    files: summary.total.files,
                    loaded: summary.total.loaded,
                    failed: retryable.len() as u64,
                    first: first.error.clone(),
                });
            }
            Ok(LoadResponse::Replay(summary))
        }
        LoadEvent::Maintain { today } => {
            let today = today.unwrap_or_else(|| chrono::Utc::now().date_naive());
            let maintain = app.maintainer.run(today).await?;
            Ok(LoadResponse::Maintain { maintain })
        }
    }
}
