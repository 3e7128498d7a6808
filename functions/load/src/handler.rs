//! The Lambda handler: an S3 notification or a replay in, counts out; any file that could
//! not be loaded fails the invocation so Lambda retries it (loads are idempotent). The
//! daily maintenance event rolls days up and applies retention. The alerts event (every
//! five minutes) checks `stale` rules and delivers unsent alerts; every load that stored
//! something delivers them too, and a delivery that fails never fails the load.

use crate::app::App;
use crate::event::{EventError, LoadEvent};
use coinlake::alerts::evaluation::AlertMode;
use coinlake::alerts::runner::{AlertsError, Delivery, ScheduledAlerts};
use coinlake::deadline::instant_of;
use coinlake::layout::{parse_archive_day_key, parse_object_key};
use coinlake::load::{LoadError, LoadOutcome, ReplayError, ReplaySummary};
use coinlake::maintain::{MaintainError, MaintenanceSummary};
use coinlake::sink::LoadCounts;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Time kept back from delivery for the response and for marking the last publish sent.
const DELIVERY_MARGIN: Duration = Duration::from_secs(3);

/// How far ahead of this function's clock a stale check may be asked for: the schedule's
/// time is never ahead of it by more than clock skew, and a check of the future would mark
/// every stale rule evaluated through that time, silencing it until then.
const MAX_CHECK_AHEAD: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum LoadResponse {
    Objects {
        results: Vec<LoadOutcome>,
        #[serde(skip_serializing_if = "Option::is_none")]
        alerts: Option<AlertDelivery>,
    },
    Replay {
        #[serde(flatten)]
        summary: ReplaySummary,
        #[serde(skip_serializing_if = "Option::is_none")]
        alerts: Option<AlertDelivery>,
    },
    Maintain {
        maintain: MaintenanceSummary,
    },
    Alerts {
        alerts: ScheduledAlerts,
    },
}

/// Delivery after a load: what it did, or why it failed (the load stands either way).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum AlertDelivery {
    Done(Delivery),
    Failed { delivery_error: String },
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
    #[error(transparent)]
    Alerts(#[from] AlertsError),
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
            HandlerError::Alerts(_) => "AlertsFailed",
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
                let started = std::time::Instant::now();
                match app
                    .loader
                    .load_object(&object.bucket, &object.key, deadline)
                    .await
                {
                    Ok(outcome) => {
                        record_loaded(app, &outcome, started.elapsed());
                        results.push(outcome)
                    }
                    Err(error) => {
                        tracing::error!(key = object.key, error = %error, error_kind = error.kind().as_str(), "load failed");
                        failures.push(error);
                    }
                }
            }
            // Events the loads that committed fired are delivered even when another
            // object failed: the retry of that one delivers its own.
            let alerts = if results.is_empty() {
                None
            } else {
                deliver_after_load(app, deadline).await
            };
            if failures.is_empty() {
                Ok(LoadResponse::Objects { results, alerts })
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
            let total = &summary.total;
            app.metrics.loaded(
                summary.dataset,
                &LoadCounts::new(total.rows, total.inserted, total.replaced),
                None,
                None,
            );
            app.metrics.alerts_fired(total.alerts_fired);
            if let Some(first) = retryable.first() {
                deliver_after_load(app, deadline).await;
                return Err(HandlerError::ReplayIncomplete {
                    files: summary.total.files,
                    loaded: summary.total.loaded,
                    failed: retryable.len() as u64,
                    first: first.error.clone(),
                });
            }
            let alerts = deliver_after_load(app, deadline).await;
            Ok(LoadResponse::Replay { summary, alerts })
        }
        LoadEvent::Maintain { today } => {
            let today = today.unwrap_or_else(|| chrono::Utc::now().date_naive());
            let maintain = app.maintainer.run(today).await?;
            Ok(LoadResponse::Maintain { maintain })
        }
        LoadEvent::Alerts { at } => {
            let now = chrono::Utc::now();
            let at = at.unwrap_or(now);
            if at > now + MAX_CHECK_AHEAD {
                return Err(EventError::InvalidAlerts(format!(
                    "scheduled_time {} is in the future: a check then would mark every stale rule evaluated through it",
                    at.to_rfc3339()
                ))
                .into());
            }
            let alerts = app
                .alerting
                .scheduled(at, delivery_deadline(deadline))
                .await?;
            app.metrics.alerts_fired(alerts.stale.fired.len() as u64);
            record_delivery(app, &alerts.delivery);
            Ok(LoadResponse::Alerts { alerts })
        }
    }
}

fn delivery_deadline(deadline: Option<Instant>) -> Instant {
    let deadline = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
    deadline
        .checked_sub(DELIVERY_MARGIN)
        .unwrap_or_else(Instant::now)
}

/// Delivers unsent alerts within the invocation's remaining time; a failure is logged and
/// reported, and left to the schedule's next delivery. Without a topic there is nothing to
/// do (the cold start logged it) and nothing is reported.
async fn deliver_after_load(app: &App, deadline: Option<Instant>) -> Option<AlertDelivery> {
    if !app.alerting.has_topic() {
        return None;
    }
    match app.alerting.deliver(delivery_deadline(deadline)).await {
        Ok(delivery) => {
            record_delivery(app, &delivery);
            Some(AlertDelivery::Done(delivery))
        }
        Err(error) => {
            tracing::error!(error = %error, "alert delivery after the load failed; the schedule retries it");
            Some(AlertDelivery::Failed {
                delivery_error: error.to_string(),
            })
        }
    }
}

fn record_delivery(app: &App, delivery: &Delivery) {
    if let Delivery::Published(summary) = delivery {
        app.metrics.alerts_delivered(summary.delivered.len() as u64);
    }
}

/// A loaded file's metrics. Its data age is measured for slot objects only: an archive day
/// (a backfill) is old by design, and says nothing of the pipeline's delay. A slot's data
/// ends at its scheduled time: the snapshot is fetched then, and a klines slot holds the
/// five minutes closed by then.
fn record_loaded(app: &App, outcome: &LoadOutcome, took: std::time::Duration) {
    let LoadOutcome::Loaded { key, counts } = outcome else {
        return;
    };
    app.metrics.alerts_fired(counts.alerts_fired);
    let Some((dataset, slot)) = parse_object_key(key) else {
        return;
    };
    let age = parse_archive_day_key(key)
        .is_none()
        .then(|| chrono::Utc::now() - slot.start());
    app.metrics.loaded(dataset.name(), counts, age, Some(took));
}
