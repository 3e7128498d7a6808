//! Delivery of the outbox: unsent `alert_events` are claimed in id order, published, and
//! marked sent; on either database path (a PostgreSQL pool or the Data API).
//!
//! A claim is a lease (`claimed_until`), taken with `FOR UPDATE SKIP LOCKED` in the same
//! statement that sets it, so two deliverers running at once never take the same event and
//! an event whose deliverer died is claimed again once the lease has passed. A publish that
//! fails records `last_error` and releases the claim: the next delivery (after the next
//! load, or the schedule) tries again. Delivery is at least once: a deliverer that
//! published but could not mark the event sent (the database failed, the function was
//! stopped) leaves it to be published again, which is why every message carries its
//! `event_id`.

use super::notification::AlertEvent;
use super::publish::Publisher;
use crate::db::{Database, DbError, Rows, Session};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Events claimed per statement: few enough that a batch is published well within its lease.
const BATCH: usize = 10;
/// How long a claim keeps other deliverers away.
const LEASE: Duration = Duration::from_secs(120);
/// No publish starts with less than this left of the lease (as this process counts it, a
/// little behind the database's clock): one publish with its retries fits in it.
const LEASE_RESERVE: Duration = Duration::from_secs(30);
/// `last_error` keeps this much of an error.
const MAX_ERROR_CHARS: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The database failed; what was already marked sent stays sent and the rest waits for
    /// the next delivery.
    #[error("alert delivery failed: {0}")]
    Database(#[from] DbError),
    #[error("alert delivery failed: unexpected answer from the database: {0}")]
    Unexpected(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FailedDelivery {
    pub event_id: i64,
    pub error: String,
}

/// What one delivery did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeliverySummary {
    /// Events SNS accepted, marked sent, in id order.
    pub delivered: Vec<i64>,
    /// Events whose publish failed: left unsent with `last_error` for the next delivery.
    pub failed: Vec<FailedDelivery>,
    /// Events claimed but released unpublished because the time ran out.
    pub left_for_later: u64,
}

const CLAIM: &str = "UPDATE alert_events e \
    SET claimed_until = now() + make_interval(secs => CAST(:lease_seconds AS double precision)), \
        delivery_attempts = e.delivery_attempts + 1 \
    WHERE e.id IN ( \
        SELECT c.id FROM alert_events c \
        WHERE c.sent_at IS NULL \
          AND (c.claimed_until IS NULL OR c.claimed_until < now()) \
          AND c.id > CAST(:after AS bigint) \
        ORDER BY c.id \
        LIMIT CAST(:batch AS integer) \
        FOR UPDATE SKIP LOCKED) \
    RETURNING CAST(e.id AS text), CAST(e.rule_id AS text), e.audience, e.kind, e.label, \
        e.source, CAST(e.cmc_id AS text), e.quote_currency, e.pair, \
        CAST(CAST(floor(extract(epoch FROM e.observed_at) * 1000) AS bigint) AS text), \
        CAST(e.value AS text), CAST(e.threshold AS text), e.message, \
        CAST(CAST(floor(extract(epoch FROM e.fired_at) * 1000) AS bigint) AS text), \
        CAST(e.delivery_attempts AS text), CAST(e.claimed_until AS text)";

/// Marked sent even when the lease ran out meanwhile: SNS did accept it.
const MARK_SENT: &str = "UPDATE alert_events \
    SET sent_at = now(), message_id = :message_id, claimed_until = NULL \
    WHERE id = CAST(:id AS bigint) AND sent_at IS NULL \
    RETURNING CAST(id AS text)";

/// Only while the claim is still this deliverer's: a lease that ran out may be another's now.
const RELEASE_FAILED: &str = "UPDATE alert_events \
    SET last_error = :error, claimed_until = NULL \
    WHERE id = CAST(:id AS bigint) AND sent_at IS NULL \
      AND claimed_until = CAST(:claimed_until AS timestamptz)";

const RELEASE_UNTRIED: &str = "UPDATE alert_events \
    SET claimed_until = NULL, delivery_attempts = delivery_attempts - 1 \
    WHERE id = CAST(:id AS bigint) AND sent_at IS NULL \
      AND claimed_until = CAST(:claimed_until AS timestamptz)";

const UNSENT: &str = "SELECT CAST(count(*) AS text) FROM alert_events WHERE sent_at IS NULL";

struct Claimed {
    event: AlertEvent,
    claimed_until: String,
}

/// The outbox of one database.
#[derive(Clone)]
pub struct Outbox {
    database: Database,
}

impl Outbox {
    pub fn new(database: Database) -> Outbox {
        Outbox { database }
    }

    /// Events not sent yet (claimed or not).
    pub async fn unsent(&self) -> Result<u64, DeliveryError> {
        let session = Session::open(&self.database).await?;
        let rows = session.query(UNSENT, &[]).await?;
        let text = rows
            .first()
            .and_then(|row| row.first().cloned().flatten())
            .ok_or_else(|| DeliveryError::Unexpected("count(*) answered no row".to_owned()))?;
        text.parse()
            .map_err(|_| DeliveryError::Unexpected(format!("count(*) answered {text:?}")))
    }

    /// Publishes every unsent event through `publisher`, oldest first, until none is left or
    /// `deadline` (which leaves the caller its own margin) is near. Each event is tried at
    /// most once per call; a failed publish does not stop the others.
    pub async fn deliver<P: Publisher>(
        &self,
        publisher: &P,
        deadline: Instant,
    ) -> Result<DeliverySummary, DeliveryError> {
        let session = Session::open(&self.database).await?;
        let mut summary = DeliverySummary::default();
        let mut after = 0i64;
        loop {
            if deadline.saturating_duration_since(Instant::now()) < MIN_TRY {
                break;
            }
            let claimed_at = Instant::now();
            let batch = claim(&session, after).await?;
            let Some(last) = batch.last() else {
                break;
            };
            after = last.event.id;
            let lease_end = claimed_at + LEASE - LEASE_RESERVE;
            let publish_by = deadline.min(claimed_at + LEASE);
            let mut batch = batch.into_iter();
            for claimed in batch.by_ref() {
                let now = Instant::now();
                if now >= lease_end || publish_by.saturating_duration_since(now) < MIN_TRY {
                    release_untried(&session, &claimed).await?;
                    summary.left_for_later += 1;
                    break;
                }
                let id = claimed.event.id;
                match publisher
                    .publish(&claimed.event.notification(), publish_by)
                    .await
                {
                    Ok(message_id) => {
                        mark_sent(&session, id, &message_id).await?;
                        tracing::info!(
                            event_id = id,
                            kind = claimed.event.kind,
                            message_id,
                            attempts = claimed.event.delivery_attempts,
                            "alert delivered"
                        );
                        summary.delivered.push(id);
                    }
                    Err(error) => {
                        let error: String =
                            error.to_string().chars().take(MAX_ERROR_CHARS).collect();
                        tracing::warn!(
                            event_id = id,
                            kind = claimed.event.kind,
                            attempts = claimed.event.delivery_attempts,
                            error,
                            "alert not delivered; left for the next delivery"
                        );
                        release_failed(&session, &claimed, &error).await?;
                        summary.failed.push(FailedDelivery {
                            event_id: id,
                            error,
                        });
                    }
                }
            }
            for claimed in batch {
                release_untried(&session, &claimed).await?;
                summary.left_for_later += 1;
            }
            if summary.left_for_later > 0 {
                break;
            }
        }
        Ok(summary)
    }
}

/// The least time worth starting a publish (or a claim) with.
const MIN_TRY: Duration = Duration::from_secs(1);

async fn claim(session: &Session, after: i64) -> Result<Vec<Claimed>, DeliveryError> {
    let rows = session
        .query(
            CLAIM,
            &[
                ("lease_seconds", &LEASE.as_secs().to_string()),
                ("after", &after.to_string()),
                ("batch", &BATCH.to_string()),
            ],
        )
        .await?;
    let mut claimed = parse_claimed(rows)?;
    // RETURNING follows no order.
    claimed.sort_by_key(|c| c.event.id);
    Ok(claimed)
}

async fn mark_sent(session: &Session, id: i64, message_id: &str) -> Result<(), DeliveryError> {
    let rows = session
        .query(
            MARK_SENT,
            &[("id", &id.to_string()), ("message_id", message_id)],
        )
        .await?;
    if rows.is_empty() {
        tracing::warn!(
            event_id = id,
            message_id,
            "alert published, but another delivery had marked it sent already"
        );
    }
    Ok(())
}

async fn release_failed(
    session: &Session,
    claimed: &Claimed,
    error: &str,
) -> Result<(), DeliveryError> {
    session
        .query(
            RELEASE_FAILED,
            &[
                ("id", &claimed.event.id.to_string()),
                ("error", error),
                ("claimed_until", &claimed.claimed_until),
            ],
        )
        .await?;
    Ok(())
}

async fn release_untried(session: &Session, claimed: &Claimed) -> Result<(), DeliveryError> {
    session
        .query(
            RELEASE_UNTRIED,
            &[
                ("id", &claimed.event.id.to_string()),
                ("claimed_until", &claimed.claimed_until),
            ],
        )
        .await?;
    Ok(())
}

fn parse_claimed(rows: Rows) -> Result<Vec<Claimed>, DeliveryError> {
    rows.into_iter().map(parse_row).collect()
}

fn parse_row(row: Vec<Option<String>>) -> Result<Claimed, DeliveryError> {
    let unexpected = |what: &str| DeliveryError::Unexpected(format!("a claimed event {what}"));
    let [id, rule_id, audience, kind, label, source, cmc_id, quote_currency, pair, observed_at, value, threshold, message, fired_at, attempts, claimed_until]: [Option<String>; 16] =
        row.try_into()
            .map_err(|row: Vec<_>| unexpected(&format!("has {} columns, not 16", row.len())))?;
    let number = |text: Option<String>, name: &str| -> Result<i64, DeliveryError> {
        text.as_deref()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| unexpected(&format!("has no whole number {name}: {text:?}")))
    };
    let time = |text: Option<String>, name: &str| -> Result<DateTime<Utc>, DeliveryError> {
        let ms = number(text, name)?;
        DateTime::from_timestamp_millis(ms)
            .ok_or_else(|| unexpected(&format!("has an impossible {name}: {ms}")))
    };
    let required = |text: Option<String>, name: &str| {
        text.ok_or_else(|| unexpected(&format!("has no {name}")))
    };
    Ok(Claimed {
        event: AlertEvent {
            id: number(id, "id")?,
            rule_id: rule_id.map(|r| number(Some(r), "rule_id")).transpose()?,
            audience: required(audience, "audience")?,
            kind: required(kind, "kind")?,
            label: required(label, "label")?,
            source,
            cmc_id,
            quote_currency,
            pair,
            observed_at: time(observed_at, "observed_at")?,
            value,
            threshold,
            message: required(message, "message")?,
            fired_at: time(fired_at, "fired_at")?,
            delivery_attempts: number(attempts, "delivery_attempts")? as i32,
        },
        claimed_until: required(claimed_until, "claimed_until")?,
    })
}
