//! The Lambda handler: event in, summary out, errors mapped to a type and a message.

use crate::app::App;
use crate::continuation::ContinuationError;
use crate::event::{BackfillEvent, EventError, Request};
use chrono::Utc;
use coinlake::backfill::{BackfillSummary, RequestError, Silent};
use coinlake::klines_run::{KlineGap, KlinesRunError, KlinesSummary};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use std::time::{Duration, Instant};

/// A slot run's share of the invocation: the function's timeout is sized for backfills,
/// and a slot's five minutes must never run into the next slot's.
pub const SLOT_RUN_BUDGET: Duration = Duration::from_secs(55);

/// Invocations one backfill may chain. A request covers at most 366 days, and each
/// invocation works through months of it, so a chain this long means no progress is made;
/// it also stays under the 16 hops after which Lambda's loop detection would stop it.
pub const MAX_HOPS: u32 = 15;

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Run(#[from] KlinesRunError),
    #[error(transparent)]
    Backfill(#[from] RequestError),
    #[error("the backfill made no progress: less than the backfill's margin was left before the deadline when it started; give the function a longer timeout. Nothing was written; the request was {request}")]
    NoProgress { request: String },
    #[error("the backfill reached invocation {hop}, more than {MAX_HOPS}; it is stopped, with {remaining} still to do")]
    TooManyHops { hop: u32, remaining: String },
    #[error(transparent)]
    Continuation(#[from] ContinuationError),
    #[error("the backfill could not write {count} pair-period(s); everything else is written. Send a backfill of just these again (objects are rewritten identically): {failures}")]
    Failed { count: usize, failures: String },
}

impl HandlerError {
    /// The Lambda error type: the stable kind of what failed.
    pub fn kind(&self) -> &'static str {
        match self {
            HandlerError::Event(_) => "InvalidEvent",
            HandlerError::Run(e) => e.kind(),
            HandlerError::Backfill(e) => e.kind(),
            HandlerError::NoProgress { .. } => "BackfillNoProgress",
            HandlerError::TooManyHops { .. } => "BackfillTooManyHops",
            HandlerError::Continuation(_) => "BackfillContinuationFailed",
            HandlerError::Failed { .. } => "BackfillFailed",
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

/// What an invocation did.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    Slot(KlinesSummary),
    Backfill(BackfillOutcome),
}

/// One invocation's part of a backfill.
#[derive(Debug, Serialize)]
pub struct BackfillOutcome {
    /// Invocations of this backfill before this one.
    pub hop: u32,
    #[serde(flatten)]
    pub summary: BackfillSummary,
    /// Whether the next invocation was queued with `remaining`.
    pub continued: bool,
}

pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Outcome, HandlerError> {
    let deadline = coinlake::deadline::instant_of(event.context.deadline);
    let budget_ms = deadline
        .saturating_duration_since(Instant::now())
        .as_millis() as u64;
    let request_id = event.context.request_id;
    match Request::parse(&event.payload)? {
        Request::Slot(trigger) => {
            let slot = trigger.slot(Utc::now()).map_err(EventError::from)?;
            let deadline = deadline.min(Instant::now() + SLOT_RUN_BUDGET);
            tracing::info!(%slot, trigger = ?trigger, pairs = app.klines.pairs().len(), request_id, budget_ms, "klines run started");
            let started = Instant::now();
            let result = app.klines.run(slot, deadline).await;
            match &result {
                Ok(summary) => app.metrics.klines_run(
                    summary.rows as u64,
                    gap_minutes(&summary.gaps),
                    started.elapsed(),
                ),
                Err(error) => {
                    tracing::error!(%slot, error = %error, error_kind = error.kind(), "klines run failed")
                }
            }
            Ok(Outcome::Slot(result?))
        }
        Request::Backfill(backfill) => {
            tracing::info!(request = ?backfill.backfill, hop = backfill.hop, request_id, budget_ms, "backfill started");
            let result = backfill_part(app, backfill, deadline).await;
            match &result {
                Ok(outcome) => tracing::info!(
                    hop = outcome.hop,
                    objects = outcome.summary.written.len(),
                    rows = outcome.summary.rows,
                    failures = outcome.summary.failures.len(),
                    continued = outcome.continued,
                    "backfill invocation finished"
                ),
                Err(error) => {
                    tracing::error!(error = %error, error_kind = error.kind(), "backfill failed")
                }
            }
            Ok(Outcome::Backfill(result?))
        }
    }
}

/// Runs this invocation's part of a backfill, queues the rest, and fails the last
/// invocation if any part of the whole backfill could not be written, so the failure is
/// seen (the on-failure queue, the alarms) once, with the full list.
async fn backfill_part(
    app: &App,
    event: BackfillEvent,
    deadline: Instant,
) -> Result<BackfillOutcome, HandlerError> {
    if event.hop > MAX_HOPS {
        return Err(HandlerError::TooManyHops {
            hop: event.hop,
            remaining: json_text(&event.backfill),
        });
    }
    let summary = app
        .backfill
        .run(&event.backfill, Some(deadline), &Silent)
        .await?;
    let mut failures = event.earlier_failures;
    failures.extend(
        summary
            .failures
            .iter()
            .filter_map(|f| serde_json::to_value(f).ok()),
    );
    let Some(remaining) = summary.remaining.clone() else {
        if failures.is_empty() {
            return Ok(BackfillOutcome {
                hop: event.hop,
                summary,
                continued: false,
            });
        }
        return Err(HandlerError::Failed {
            count: failures.len(),
            failures: json_text(&failures),
        });
    };
    if remaining == event.backfill {
        return Err(HandlerError::NoProgress {
            request: json_text(&event.backfill),
        });
    }
    let next = BackfillEvent {
        backfill: remaining,
        hop: event.hop + 1,
        earlier_failures: failures,
    };
    if next.hop > MAX_HOPS {
        return Err(HandlerError::TooManyHops {
            hop: next.hop,
            remaining: json_text(&next.backfill),
        });
    }
    app.continuer.continue_with(&next).await?;
    Ok(BackfillOutcome {
        hop: event.hop,
        summary,
        continued: true,
    })
}

/// Minutes missing from a slot, summed over its pairs.
fn gap_minutes(gaps: &[KlineGap]) -> u64 {
    gaps.iter()
        .map(|gap| (gap.to - gap.from).num_minutes().max(0) as u64)
        .sum()
}

fn json_text(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("(not serialisable: {e})"))
}
