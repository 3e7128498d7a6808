//! The Lambda handler: event in, summary out, errors mapped to a type and a message.

use crate::app::App;
use chrono::Utc;
use coinlake::ingest::{IngestError, IngestSummary};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use slot_trigger::{Trigger, TriggerError};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Event(#[from] TriggerError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Diagnostic {
        let error_type = match &error {
            HandlerError::Event(_) => "InvalidEvent",
            HandlerError::Ingest(e) => e.kind(),
        };
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<IngestSummary, HandlerError> {
    let trigger = Trigger::parse(&event.payload)?;
    let slot = trigger.slot(Utc::now())?;
    let deadline = coinlake::deadline::instant_of(event.context.deadline);
    let budget_ms = deadline
        .saturating_duration_since(Instant::now())
        .as_millis() as u64;
    tracing::info!(%slot, trigger = ?trigger, request_id = event.context.request_id, budget_ms, deadline_ms = event.context.deadline, "ingest run started");
    let result = app.ingest.run(slot, deadline).await;
    match &result {
        Ok(summary) => app.metrics.ingest_run(
            summary.rows as u64,
            summary.credits.max(0) as u64,
            Duration::from_millis(summary.fetch_ms),
            Duration::from_millis(summary.write_ms),
        ),
        Err(error) => {
            tracing::error!(%slot, error = %error, error_kind = error.kind(), "ingest run failed")
        }
    }
    Ok(result?)
}
