//! Reading and writing rules, on PostgreSQL directly or through the Data API: text
//! parameters in (an empty string stands for NULL: no valid value of a nullable column is
//! empty), every column cast to text on the way out.

use super::{Kind, Rule, RuleConfig, Source};
use crate::market::text_row::Columns;
use crate::market::{MarketError, TextReader};

/// Why a rule could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RuleStoreError {
    /// The database user lacks `coinlake_alert_editor` (V9): a deployment to fix, not a
    /// request to retry.
    #[error(
        "the database user may not edit alert rules (it needs the coinlake_alert_editor role): {0}"
    )]
    NotPermitted(MarketError),
    #[error(transparent)]
    Database(MarketError),
}

impl From<MarketError> for RuleStoreError {
    fn from(error: MarketError) -> RuleStoreError {
        let refused = match &error {
            MarketError::Database(db) => db.sqlstate().as_deref() == Some("42501"),
            MarketError::Unexpected(_) => false,
        };
        if refused {
            RuleStoreError::NotPermitted(error)
        } else {
            RuleStoreError::Database(error)
        }
    }
}

const COLUMNS: &str = "\
CAST(r.id AS text), r.label, r.source, CAST(r.cmc_id AS text), r.quote_currency, r.pair, r.kind,
CAST(r.threshold AS text), CAST(r.window_minutes AS text), CAST(r.hysteresis AS text),
CAST(r.cooldown_minutes AS text), CAST(r.enabled AS text),
CAST(round(extract(epoch FROM r.evaluate_from) * 1000) AS text),
CAST(round(extract(epoch FROM r.created_at) * 1000) AS text),
CAST(round(extract(epoch FROM r.updated_at) * 1000) AS text),
CAST(r.armed AS text),
CAST(round(extract(epoch FROM r.evaluated_through) * 1000) AS text),
CAST(round(extract(epoch FROM r.last_fired_at) * 1000) AS text)";

/// The configuration columns as the request gives them.
const GIVEN: &str = "\
SELECT CAST(:label AS text) AS label, CAST(:source AS text) AS source,
       CAST(NULLIF(:cmc_id, '') AS integer) AS cmc_id,
       CAST(NULLIF(:quote_currency, '') AS text) AS quote_currency,
       CAST(NULLIF(:pair, '') AS text) AS pair, CAST(:kind AS text) AS kind,
       CAST(NULLIF(:threshold, '') AS numeric) AS threshold,
       CAST(NULLIF(:window_minutes, '') AS integer) AS window_minutes,
       CAST(:hysteresis AS numeric) AS hysteresis,
       CAST(:cooldown_minutes AS integer) AS cooldown_minutes,
       CAST(:enabled AS boolean) AS enabled,
       CAST(NULLIF(:evaluate_from, '') AS timestamptz) AS evaluate_from";

fn list_sql() -> String {
    format!("SELECT {COLUMNS} FROM alert_rules r ORDER BY r.id")
}

fn get_sql() -> String {
    format!("SELECT {COLUMNS} FROM alert_rules r WHERE r.id = CAST(:id AS bigint)")
}

fn insert_sql() -> String {
    format!(
        "WITH given AS ({GIVEN})
INSERT INTO alert_rules AS r (label, source, cmc_id, quote_currency, pair, kind, threshold,
                              window_minutes, hysteresis, cooldown_minutes, enabled, evaluate_from)
SELECT g.label, g.source, g.cmc_id, g.quote_currency, g.pair, g.kind, g.threshold,
       g.window_minutes, g.hysteresis, g.cooldown_minutes, g.enabled, COALESCE(g.evaluate_from, now())
FROM given g
RETURNING {COLUMNS}"
    )
}

/// Replaces the configuration. When the condition changes (series, kind, threshold,
/// window, hysteresis) or a disabled rule is enabled, the state starts over as for a new
/// rule: armed, nothing evaluated, evaluated from now (or from an `evaluate_from` other
/// than the stored one) —
/// observations before the change were judged by another condition, or by none. The old
/// row is locked first, so an evaluation running at the same time finishes before or
/// starts after the change, never straddles it.
fn replace_sql() -> String {
    format!(
        "WITH given AS ({GIVEN}),
old AS (
    SELECT r.id,
           (r.source, r.cmc_id, r.quote_currency, r.pair, r.kind, r.threshold, r.window_minutes, r.hysteresis)
               IS DISTINCT FROM
           (g.source, g.cmc_id, g.quote_currency, g.pair, g.kind, g.threshold, g.window_minutes, g.hysteresis)
           OR (g.enabled AND NOT r.enabled) AS restart,
           -- The stored start sent back as a GET answered it (in milliseconds) is no new
           -- start: a rule read, edited and sent whole must not be evaluated from its
           -- creation again.
           coalesce(abs(extract(epoch FROM g.evaluate_from - r.evaluate_from)) >= 0.001, false)
               AS new_start
    FROM alert_rules r, given g
    WHERE r.id = CAST(:id AS bigint)
    FOR UPDATE OF r
)
UPDATE alert_rules AS r
SET label = g.label, source = g.source, cmc_id = g.cmc_id, quote_currency = g.quote_currency,
    pair = g.pair, kind = g.kind, threshold = g.threshold, window_minutes = g.window_minutes,
    hysteresis = g.hysteresis, cooldown_minutes = g.cooldown_minutes, enabled = g.enabled,
    evaluate_from = CASE WHEN o.new_start THEN g.evaluate_from
                         WHEN o.restart THEN now()
                         ELSE r.evaluate_from END,
    armed = CASE WHEN o.restart THEN true ELSE r.armed END,
    evaluated_through = CASE WHEN o.restart THEN NULL ELSE r.evaluated_through END,
    updated_at = now()
FROM given g, old o
WHERE r.id = o.id
RETURNING {COLUMNS}"
    )
}

const DELETE_SQL: &str =
    "DELETE FROM alert_rules WHERE id = CAST(:id AS bigint) RETURNING CAST(id AS text)";

/// Every rule, oldest first.
pub async fn list(reader: &impl TextReader) -> Result<Vec<Rule>, RuleStoreError> {
    let rows = reader.query(&list_sql(), &[]).await?;
    rows.iter().map(|row| rule(row)).collect()
}

pub async fn get(reader: &impl TextReader, id: i64) -> Result<Option<Rule>, RuleStoreError> {
    let id = id.to_string();
    let rows = reader.query(&get_sql(), &[("id", &id)]).await?;
    rows.first().map(|row| rule(row)).transpose()
}

pub async fn create(reader: &impl TextReader, config: &RuleConfig) -> Result<Rule, RuleStoreError> {
    let given = parameters(config);
    let rows = reader.write(&insert_sql(), &given.borrowed()).await?;
    let row = rows.first().ok_or_else(|| {
        MarketError::Unexpected("the insert of a rule returned no row".to_owned())
    })?;
    rule(row)
}

/// The rule after the change; `None` when there is no rule `id`.
pub async fn replace(
    reader: &impl TextReader,
    id: i64,
    config: &RuleConfig,
) -> Result<Option<Rule>, RuleStoreError> {
    let id = id.to_string();
    let given = parameters(config);
    let mut parameters = given.borrowed();
    parameters.push(("id", &id));
    let rows = reader.write(&replace_sql(), &parameters).await?;
    rows.first().map(|row| rule(row)).transpose()
}

/// Whether there was a rule `id`. Its events stay, with `rule_id` NULL (V9's foreign key).
pub async fn delete(reader: &impl TextReader, id: i64) -> Result<bool, RuleStoreError> {
    let id = id.to_string();
    let rows = reader.write(DELETE_SQL, &[("id", &id)]).await?;
    Ok(!rows.is_empty())
}

struct Given(Vec<(&'static str, String)>);

impl Given {
    fn borrowed(&self) -> Vec<(&str, &str)> {
        self.0.iter().map(|(n, v)| (*n, v.as_str())).collect()
    }
}

fn parameters(config: &RuleConfig) -> Given {
    let text = |value: Option<String>| value.unwrap_or_default();
    Given(vec![
        ("label", config.label.clone()),
        ("source", config.source.as_str().to_owned()),
        ("cmc_id", text(config.cmc_id.map(|id| id.to_string()))),
        ("quote_currency", text(config.quote_currency.clone())),
        ("pair", text(config.pair.clone())),
        ("kind", config.kind.as_str().to_owned()),
        ("threshold", text(config.threshold.clone())),
        (
            "window_minutes",
            text(config.window_minutes.map(|m| m.to_string())),
        ),
        ("hysteresis", config.hysteresis.clone()),
        ("cooldown_minutes", config.cooldown_minutes.to_string()),
        ("enabled", config.enabled.to_string()),
        (
            "evaluate_from",
            text(config.evaluate_from.map(|at| at.to_rfc3339())),
        ),
    ])
}

fn rule(row: &[Option<String>]) -> Result<Rule, RuleStoreError> {
    let c = Columns(row);
    let source = c.text(2)?;
    let kind = c.text(6)?;
    let small = |index: usize| -> Result<Option<i32>, MarketError> {
        c.optional_integer(index)?
            .map(|n| {
                i32::try_from(n).map_err(|_| {
                    MarketError::Unexpected(format!("column {index}: {n} is out of range"))
                })
            })
            .transpose()
    };
    let required = |index: usize| -> Result<i32, MarketError> {
        small(index)?
            .ok_or_else(|| MarketError::Unexpected(format!("column {index} is unexpectedly null")))
    };
    Ok(Rule {
        id: c.integer(0)?,
        config: RuleConfig {
            label: c.text(1)?,
            source: Source::parse(&source)
                .ok_or_else(|| MarketError::Unexpected(format!("a rule's source is {source:?}")))?,
            cmc_id: small(3)?,
            quote_currency: c.optional(4),
            pair: c.optional(5),
            kind: Kind::parse(&kind)
                .ok_or_else(|| MarketError::Unexpected(format!("a rule's kind is {kind:?}")))?,
            threshold: c.optional(7),
            window_minutes: small(8)?,
            hysteresis: c.text(9)?,
            cooldown_minutes: required(10)?,
            enabled: c.boolean(11)?,
            evaluate_from: Some(c.time(12)?),
        },
        created_at: c.time(13)?,
        updated_at: c.time(14)?,
        armed: c.boolean(15)?,
        evaluated_through: c.optional_time(16)?,
        last_fired_at: c.optional_time(17)?,
    })
}

#[cfg(test)]
mod tests {
    use crate::db::sql::numbered_with_names;

    #[test]
    fn every_statement_names_only_the_parameters_it_is_given() {
        let given = [
            "label",
            "source",
            "cmc_id",
            "quote_currency",
            "pair",
            "kind",
            "threshold",
            "window_minutes",
            "hysteresis",
            "cooldown_minutes",
            "enabled",
            "evaluate_from",
        ];
        let insert = super::insert_sql();
        let (_, names) = numbered_with_names(&insert);
        assert_eq!(names, given);
        let replace = super::replace_sql();
        let (_, names) = numbered_with_names(&replace);
        assert_eq!(names.len(), given.len() + 1);
        assert!(names.contains(&"id"));
    }
}
