//! The scheduled check of `stale` rules: one call of `alert_stale_check` (migration V11),
//! which locks the rules, reads each one's newest observation and fires or re-arms it in
//! one statement, hence one transaction, on either database path.

use crate::db::{Database, DbError, Session};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum StaleCheckError {
    /// Nothing changed: the check is one statement. Running it again is safe.
    #[error("stale check failed: {0}")]
    Database(#[from] DbError),
    #[error("stale check failed: unexpected answer from the database: {0}")]
    Unexpected(String),
}

/// One rule's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StaleRuleOutcome {
    pub rule_id: i64,
    /// `fired`, `duplicate` (its event exists already), `cooldown` (disarmed without an
    /// event), `rearmed`, `still_stale`, `fresh`, `late` (checked at or before the rule's
    /// `evaluated_through`: nothing changed) or `not_started` (before `evaluate_from`).
    pub outcome: String,
    /// The data's age in minutes, when evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_minutes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<i64>,
}

/// What one check did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StaleCheck {
    pub checked_at: DateTime<Utc>,
    /// Events inserted into the outbox.
    pub fired: Vec<i64>,
    pub rules: Vec<StaleRuleOutcome>,
}

const CHECK: &str = "SELECT CAST(rule_id AS text), outcome, CAST(age_minutes AS text), \
    CAST(event_id AS text) FROM alert_stale_check(CAST(:at AS timestamptz))";

/// Evaluates every enabled `stale` rule at `at`.
pub async fn check_stale(
    database: &Database,
    at: DateTime<Utc>,
) -> Result<StaleCheck, StaleCheckError> {
    let session = Session::open(database).await?;
    let at_text = at.to_rfc3339_opts(SecondsFormat::Micros, true);
    let rows = session.query(CHECK, &[("at", &at_text)]).await?;
    let mut rules = Vec::with_capacity(rows.len());
    for row in rows {
        let [rule_id, outcome, age_minutes, event_id]: [Option<String>; 4] =
            row.try_into().map_err(|row: Vec<_>| {
                StaleCheckError::Unexpected(format!("{} columns, not 4", row.len()))
            })?;
        let id = |text: Option<String>| {
            text.map(|t| {
                t.parse::<i64>()
                    .map_err(|_| StaleCheckError::Unexpected(format!("an id {t:?}")))
            })
            .transpose()
        };
        rules.push(StaleRuleOutcome {
            rule_id: id(rule_id)?
                .ok_or_else(|| StaleCheckError::Unexpected("a row without a rule".to_owned()))?,
            outcome: outcome
                .ok_or_else(|| StaleCheckError::Unexpected("a row without an outcome".into()))?,
            age_minutes,
            event_id: id(event_id)?,
        });
    }
    let fired: Vec<i64> = rules.iter().filter_map(|r| r.event_id).collect();
    for rule in &rules {
        if let Some(event_id) = rule.event_id {
            tracing::info!(
                rule_id = rule.rule_id,
                event_id,
                age_minutes = rule.age_minutes,
                "stale data alert fired"
            );
        }
    }
    Ok(StaleCheck {
        checked_at: at,
        fired,
        rules,
    })
}
