//! The Lambda handler: event in, summary out, errors mapped to a type and a message.

use crate::app::App;
use crate::event::{EventError, Trigger};
use chrono::Utc;
use coinlake::ingest::{IngestError, IngestSummary};
use coinlake::slot::Slot;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Diagnostic {
        let error_type = match &error {
            HandlerError::Event(_) => "InvalidEvent",
            HandlerError::Ingest(e) => e.kind(),
        };
        Diagnostic { error_type: error_type.to_owned(), error_message: error.to_string() }
    }
}

pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<IngestSummary, HandlerError> {
    let trigger = Trigger::parse(&event.payload)?;
    let slot = Slot::containing(trigger.time(Utc::now()));
    let deadline = instant_of(event.context.deadline);
    tracing::info!(%slot, trigger = ?trigger, request_id = event.context.request_id, "ingest run started");
    let result = app.ingest.run(slot, deadline).await;
    if let Err(error) = &result {
        tracing::error!(%slot, error = %error, error_kind = error.kind(), "ingest run failed");
    }
    Ok(result?)
}

/// Converts the invocation deadline (milliseconds since the epoch, from the Runtime API)
/// into an `Instant`; a deadline already past yields now.
fn instant_of(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}
