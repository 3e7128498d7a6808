//! The Lambda handler: event in, summary out, errors mapped to a type and a message.

use crate::app::App;
use crate::event::{EventError, Request};
use chrono::Utc;
use coinlake::klines_run::{KlinesRunError, KlinesSummary};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Run(#[from] KlinesRunError),
}

impl HandlerError {
    /// The Lambda error type: the stable kind of what failed.
    pub fn kind(&self) -> &'static str {
        match self {
            HandlerError::Event(_) => "InvalidEvent",
            HandlerError::Run(e) => e.kind(),
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Diagnostic {
        Diagnostic {
            error_type: error.kind().to_owned(),
            error_message: error.to_string(),
        }
    }
}

pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<KlinesSummary, HandlerError> {
    let Request::Slot(trigger) = Request::parse(&event.payload)?;
    let slot = trigger.slot(Utc::now())?;
    let deadline = coinlake::deadline::instant_of(event.context.deadline);
    let budget_ms = deadline
        .saturating_duration_since(Instant::now())
        .as_millis() as u64;
    tracing::info!(%slot, trigger = ?trigger, pairs = app.klines.pairs().len(), request_id = event.context.request_id, budget_ms, deadline_ms = event.context.deadline, "klines run started");
    let result = app.klines.run(slot, deadline).await;
    if let Err(error) = &result {
        tracing::error!(%slot, error = %error, error_kind = error.kind(), "klines run failed");
    }
    Ok(result?)
}
