//! The Lambda handler: event in, summary out, errors mapped to a type and a message.

use crate::app::App;
use crate::event::{EventError, Trigger};
use chrono::Utc;
use coinlake::ingest::{IngestError, IngestSummary};
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
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<IngestSummary, HandlerError> {
    let trigger = Trigger::parse(&event.payload)?;
    let slot = trigger.slot(Utc::now())?;
    let deadline = instant_of(event.context.deadline);
    let budget_ms = deadline
        .saturating_duration_since(Instant::now())
        .as_millis() as u64;
    tracing::info!(%slot, trigger = ?trigger, request_id = event.context.request_id, budget_ms, deadline_ms = event.context.deadline, "ingest run started");
    let result = app.ingest.run(slot, deadline).await;
    if let Err(error) = &result {
        tracing::error!(%slot, error = %error, error_kind = error.kind(), "ingest run failed");
    }
    Ok(result?)
}

/// Deadlines below this (2001-09-09 in epoch milliseconds) cannot be epoch times.
const EPOCH_MS_FLOOR: u64 = 1_000_000_000_000;

/// Converts the invocation deadline into an `Instant`. Lambda's Runtime API sends
/// milliseconds since the epoch; `cargo lambda watch`'s emulator sends the function
/// timeout instead (`600000`), which is read as a budget from now. A deadline already
/// past yields now.
fn instant_of(deadline_ms: u64) -> Instant {
    if deadline_ms < EPOCH_MS_FLOOR {
        return Instant::now() + Duration::from_millis(deadline_ms);
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_deadlines_become_the_time_left() {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let left = instant_of(now_ms + 5_000).saturating_duration_since(Instant::now());
        assert!(
            left > Duration::from_secs(4) && left <= Duration::from_secs(5),
            "{left:?}"
        );
        assert_eq!(
            instant_of(now_ms - 1_000).saturating_duration_since(Instant::now()),
            Duration::ZERO
        );
    }

    #[test]
    fn an_emulator_timeout_is_a_budget_from_now() {
        let left = instant_of(600_000).saturating_duration_since(Instant::now());
        assert!(left > Duration::from_secs(599), "{left:?}");
    }
}
