//! Reading back what fired: the newest `alert_events`, with how far delivery got.

use crate::market::text_row::Columns;
use crate::market::{MarketError, TextReader};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Most events one request answers with.
pub const MAX_EVENTS: u32 = 500;

/// Which events to read: the newest `limit` fired at or after `since`, of one rule or all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventQuery {
    pub limit: u32,
    pub since: Option<DateTime<Utc>>,
    pub rule_id: Option<i64>,
}

/// Where an event's delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// SNS accepted it (`sent_at`).
    Sent,
    /// Not tried yet (or no topic is configured: recorded, not delivered).
    Pending,
    /// Tried and failed; the next delivery retries it.
    Retrying,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub sent_at: Option<DateTime<Utc>>,
    pub message_id: Option<String>,
}

/// One fired alert. Numbers are exact decimal text; `rule_id` is null for operator alerts
/// and once the rule is deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlertEvent {
    pub id: i64,
    pub rule_id: Option<i64>,
    pub audience: String,
    pub kind: String,
    pub label: String,
    pub source: Option<String>,
    pub cmc_id: Option<i64>,
    pub quote_currency: Option<String>,
    pub pair: Option<String>,
    pub observed_at: DateTime<Utc>,
    pub value: Option<String>,
    pub threshold: Option<String>,
    pub message: String,
    pub fired_at: DateTime<Utc>,
    pub delivery: Delivery,
}

/// Newest first. The delivery's `last_error` stays in the database and the load
/// function's log: it may name the topic and account, which a dashboard need not show.
const RECENT: &str = "\
SELECT CAST(e.id AS text), CAST(e.rule_id AS text), e.audience, e.kind, e.label, e.source,
       CAST(e.cmc_id AS text), e.quote_currency, e.pair,
       CAST(round(extract(epoch FROM e.observed_at) * 1000) AS text),
       CAST(e.value AS text), CAST(e.threshold AS text), e.message,
       CAST(round(extract(epoch FROM e.fired_at) * 1000) AS text),
       CAST(e.delivery_attempts AS text),
       CAST(round(extract(epoch FROM e.sent_at) * 1000) AS text), e.message_id
FROM alert_events e
WHERE e.fired_at >= COALESCE(CAST(NULLIF(:since, '') AS timestamptz), CAST('-infinity' AS timestamptz))
  AND (NULLIF(:rule_id, '') IS NULL OR e.rule_id = CAST(NULLIF(:rule_id, '') AS bigint))
ORDER BY e.fired_at DESC, e.id DESC
LIMIT CAST(:limit AS integer)";

pub async fn recent(
    reader: &impl TextReader,
    query: &EventQuery,
) -> Result<Vec<AlertEvent>, MarketError> {
    let limit = query.limit.clamp(1, MAX_EVENTS).to_string();
    let since = query.since.map(|at| at.to_rfc3339()).unwrap_or_default();
    let rule_id = query.rule_id.map(|id| id.to_string()).unwrap_or_default();
    let rows = reader
        .query(
            RECENT,
            &[("since", &since), ("rule_id", &rule_id), ("limit", &limit)],
        )
        .await?;
    rows.iter().map(|row| event(row)).collect()
}

fn event(row: &[Option<String>]) -> Result<AlertEvent, MarketError> {
    let c = Columns(row);
    let attempts = c.integer(14)?;
    let sent_at = c.optional_time(15)?;
    let status = match (sent_at, attempts) {
        (Some(_), _) => DeliveryStatus::Sent,
        (None, 0) => DeliveryStatus::Pending,
        (None, _) => DeliveryStatus::Retrying,
    };
    Ok(AlertEvent {
        id: c.integer(0)?,
        rule_id: c.optional_integer(1)?,
        audience: c.text(2)?,
        kind: c.text(3)?,
        label: c.text(4)?,
        source: c.optional(5),
        cmc_id: c.optional_integer(6)?,
        quote_currency: c.optional(7),
        pair: c.optional(8),
        observed_at: c.time(9)?,
        value: c.optional(10),
        threshold: c.optional(11),
        message: c.text(12)?,
        fired_at: c.time(13)?,
        delivery: Delivery {
            status,
            attempts,
            sent_at,
            message_id: c.optional(16),
        },
    })
}
