//! The Lambda handler: an event in, a summary out. A day that could not be compacted fails
//! the invocation, so the schedule retries it and its dead-letter queue keeps it; the
//! summary of the days that did compact is in the log.

use crate::app::App;
use crate::event::{CompactEvent, EventError};
use chrono::{TimeDelta, Utc};
use coinlake::curated::{CompactSummary, DayError, DaySummary, LateObjectOutcome, RangeError};
use coinlake::deadline::instant_of;
use coinlake::layout::Dataset;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum CompactResponse {
    Days(CompactSummary),
    Object(LateObjectOutcome),
    Ignored { ignored: String },
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Range(#[from] RangeError),
    #[error("{failed} of {days} days were not compacted: {errors}")]
    DaysFailed {
        days: usize,
        failed: usize,
        errors: String,
        first_type: &'static str,
    },
    #[error(transparent)]
    Day(#[from] DayError),
    #[error("{done} of {days} days done; {first}..{last} were not started before the invocation's deadline: send the same request again to carry on (days already up to date are skipped)")]
    Unfinished {
        days: usize,
        done: usize,
        first: chrono::NaiveDate,
        last: chrono::NaiveDate,
    },
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Diagnostic {
        let error_type = match &error {
            HandlerError::Event(_) => "InvalidEvent",
            HandlerError::Range(_) => "InvalidRange",
            HandlerError::DaysFailed { first_type, .. } => first_type,
            HandlerError::Day(day) => day.kind().0,
            HandlerError::Unfinished { .. } => "Unfinished",
        };
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<CompactResponse, HandlerError> {
    let started = std::time::Instant::now();
    let today = Utc::now().date_naive();
    let deadline = Some(instant_of(event.context.deadline));
    let (dataset, from, to, force) = match CompactEvent::parse(&event.payload)? {
        CompactEvent::Daily { time } => {
            let day = time.unwrap_or_else(Utc::now).date_naive() - TimeDelta::days(1);
            (Dataset::Quotes, day, day, false)
        }
        CompactEvent::Range {
            dataset,
            from,
            to,
            force,
        } => (dataset, from, to, force),
        CompactEvent::ObjectCreated { bucket, key, time } => {
            tracing::info!(key, arrived = %time, "a raw object arrived");
            let outcome = app
                .compactor
                .on_raw_object(&bucket, &key, today)
                .await
                .inspect_err(|error| tracing::error!(key, error = %error, "compaction failed"))?;
            if let LateObjectOutcome::Recompacted { day, .. } = &outcome {
                record_compacted(app, Dataset::Quotes.name(), [day], started);
            }
            return Ok(CompactResponse::Object(outcome));
        }
        CompactEvent::OtherS3Event { detail_type } => {
            tracing::info!(detail_type, "not an Object Created event; ignored");
            return Ok(CompactResponse::Ignored {
                ignored: detail_type,
            });
        }
    };
    let summary = app
        .compactor
        .compact_range(dataset, (from, to), today, force, deadline)
        .await?;
    record_compacted(app, dataset.name(), &summary.days, started);
    if summary.failures.is_empty() && summary.unfinished.is_empty() {
        return Ok(CompactResponse::Days(summary));
    }
    if let (true, Some(first), Some(last)) = (
        summary.failures.is_empty(),
        summary.unfinished.first(),
        summary.unfinished.last(),
    ) {
        tracing::warn!(
            unfinished = summary.unfinished.len(),
            "the deadline came before every day was started"
        );
        return Err(HandlerError::Unfinished {
            days: summary.days.len() + summary.unfinished.len(),
            done: summary.days.len(),
            first: *first,
            last: *last,
        });
    }
    for failure in &summary.failures {
        tracing::error!(day = %failure.day, error_type = failure.error_type, error = failure.error, "day not compacted");
    }
    Err(HandlerError::DaysFailed {
        days: summary.days.len() + summary.failures.len() + summary.unfinished.len(),
        failed: summary.failures.len(),
        errors: summary
            .failures
            .iter()
            .map(|f| f.error.clone())
            .chain((!summary.unfinished.is_empty()).then(|| {
                format!(
                    "{} more days not started before the deadline",
                    summary.unfinished.len()
                )
            }))
            .collect::<Vec<_>>()
            .join("; "),
        first_type: summary.failures[0].error_type,
    })
}

/// The rows and raw objects of the days this invocation wrote (days already up to date,
/// or empty, wrote nothing and count nothing).
fn record_compacted<'a>(
    app: &App,
    dataset: &str,
    days: impl IntoIterator<Item = &'a DaySummary>,
    started: std::time::Instant,
) {
    let (rows, objects) = days
        .into_iter()
        .filter(|day| day.status == "compacted")
        .fold((0, 0), |(rows, objects), day| {
            (rows + day.rows, objects + day.objects)
        });
    app.metrics
        .compacted(dataset, rows, objects, started.elapsed());
}
