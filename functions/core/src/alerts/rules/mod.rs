//! An alert rule as the API takes and returns it: parsed from a JSON body field by field,
//! each field checked against the constraints of `alert_rules` (migration V9), so the
//! database never has to refuse a rule and every refusal names the rule and the field.
//!
//! Numbers that are compared with prices (`threshold`, `hysteresis`) stay exact decimal
//! text from the body to the `numeric` column: a JSON number keeps the digits it was
//! written with, never passing through a float.

pub mod store;

use crate::decimal::DecimalText;
use bigdecimal::{BigDecimal, Signed, Zero};
use chrono::{DateTime, Utc};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::fmt;
use std::str::FromStr;

/// Longest label `alert_rules` takes (characters).
pub const MAX_LABEL: usize = 200;
/// Longest window and cooldown: a week, in minutes.
pub const MAX_MINUTES: i64 = 10_080;
/// Cooldown of a rule that names none.
pub const DEFAULT_COOLDOWN: i32 = 60;
/// Longest decimal text taken for a threshold or hysteresis: far beyond any price, short
/// enough that nobody stores a novel in a numeric column.
const MAX_DECIMAL_TEXT: usize = 60;

/// Fields a client sets.
pub const FIELDS: [&str; 12] = [
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
/// Fields the server sets: a body may carry them back as a GET returned them; they are
/// ignored.
pub const READ_ONLY: [&str; 6] = [
    "id",
    "created_at",
    "updated_at",
    "armed",
    "evaluated_through",
    "last_fired_at",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Cmc,
    Binance,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cmc => "cmc",
            Source::Binance => "binance",
        }
    }

    pub fn parse(text: &str) -> Option<Source> {
        match text {
            "cmc" => Some(Source::Cmc),
            "binance" => Some(Source::Binance),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    PriceAbove,
    PriceBelow,
    ChangePct,
    Stale,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::PriceAbove => "price_above",
            Kind::PriceBelow => "price_below",
            Kind::ChangePct => "change_pct",
            Kind::Stale => "stale",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "price_above" => Some(Kind::PriceAbove),
            "price_below" => Some(Kind::PriceBelow),
            "change_pct" => Some(Kind::ChangePct),
            "stale" => Some(Kind::Stale),
            _ => None,
        }
    }
}

/// What a client configures. `threshold` and `hysteresis` are exact decimal text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleConfig {
    pub label: String,
    pub source: Source,
    pub cmc_id: Option<i32>,
    pub quote_currency: Option<String>,
    pub pair: Option<String>,
    pub kind: Kind,
    pub threshold: Option<String>,
    pub window_minutes: Option<i32>,
    pub hysteresis: String,
    pub cooldown_minutes: i32,
    pub enabled: bool,
    /// `None` in a request: from now (on creation, or when the condition changes).
    pub evaluate_from: Option<DateTime<Utc>>,
}

/// How far back a rule may be started. The first load after the start evaluates every
/// stored observation since, inside that load's transaction: years of a pair's minutes
/// would outrun the Data API's 45-second statement limit, and the load would fail the same
/// way on every retry.
pub const MAX_START_DAYS: i64 = 7;

impl RuleConfig {
    /// Refuses an `evaluate_from` more than [`MAX_START_DAYS`] before `now`, unless it is
    /// `stored`, the rule's own start (to the millisecond an answer shows): a rule read and
    /// sent back keeps its start however old.
    pub fn check_start(
        &self,
        stored: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let Some(start) = self.evaluate_from else {
            return Ok(());
        };
        if stored.is_some_and(|stored| (stored - start).num_milliseconds().abs() < 1) {
            return Ok(());
        }
        if start < now - chrono::TimeDelta::days(MAX_START_DAYS) {
            return Err(format!(
                "rule {:?}: evaluate_from must be within the last {MAX_START_DAYS} days, not {}: \
                 a start further back would evaluate all that history inside one load",
                self.label,
                start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        Ok(())
    }
}

/// A stored rule: its configuration and the state evaluation keeps on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub id: i64,
    #[serde(flatten)]
    pub config: RuleConfig,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub armed: bool,
    pub evaluated_through: Option<DateTime<Utc>>,
    pub last_fired_at: Option<DateTime<Utc>>,
}

/// One field's problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub problem: String,
}

/// Why a body is not a rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("the body is not a JSON object: {0}")]
    NotJson(String),
    #[error("{}", describe(rule, problems))]
    Invalid {
        /// How the message names the rule: its label, or its id when the label is unusable.
        rule: String,
        problems: Vec<FieldProblem>,
    },
}

fn describe(rule: &str, problems: &[FieldProblem]) -> String {
    let list: Vec<String> = problems
        .iter()
        .map(|p| format!("{} {}", p.field, p.problem))
        .collect();
    format!("rule {rule}: {}", list.join("; "))
}

/// A JSON object's members in order, each value left as its raw text, so a duplicate
/// member is seen and a number keeps its digits.
struct Members(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Members, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push((name, value));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// Collects the problems of one body, field by field.
struct Check {
    members: Vec<(String, Box<RawValue>)>,
    problems: Vec<FieldProblem>,
}

impl Check {
    fn problem(&mut self, field: &str, problem: impl Into<String>) {
        self.problems.push(FieldProblem {
            field: field.to_owned(),
            problem: problem.into(),
        });
    }

    /// The raw value of `field`, `None` when absent or null.
    fn raw(&self, field: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|(name, _)| name == field)
            .map(|(_, value)| value.get().trim())
            .filter(|text| *text != "null")
    }

    fn string(&mut self, field: &str) -> Option<String> {
        let raw = self.raw(field)?.to_owned();
        match serde_json::from_str::<String>(&raw) {
            Ok(text) => Some(text),
            Err(_) => {
                self.problem(field, format!("must be a string, not {}", shown(&raw)));
                None
            }
        }
    }

    fn required_string(&mut self, field: &str, what: &str) -> Option<String> {
        if self.raw(field).is_none() {
            self.problem(field, format!("is required: {what}"));
            return None;
        }
        self.string(field)
    }

    fn integer(&mut self, field: &str, range: std::ops::RangeInclusive<i64>) -> Option<i32> {
        let raw = self.raw(field)?.to_owned();
        let value = raw.parse::<i64>().ok().filter(|n| range.contains(n));
        match value.and_then(|n| i32::try_from(n).ok()) {
            Some(n) => Some(n),
            None => {
                self.problem(
                    field,
                    format!(
                        "must be a whole number from {} to {}, not {}",
                        range.start(),
                        range.end(),
                        shown(&raw)
                    ),
                );
                None
            }
        }
    }

    /// A decimal given as a JSON number or a string holding one.
    fn decimal(&mut self, field: &str) -> Option<(String, BigDecimal)> {
        let raw = self.raw(field)?.to_owned();
        let text = serde_json::from_str::<String>(&raw).unwrap_or_else(|_| raw.clone());
        let parsed = DecimalText::parse(text.trim())
            .ok()
            .map(|d| d.as_str().to_owned())
            .filter(|d| d.len() <= MAX_DECIMAL_TEXT)
            .and_then(|d| BigDecimal::from_str(&d).ok().map(|value| (d, value)));
        if parsed.is_none() {
            self.problem(
                field,
                format!(
                    "must be a decimal number such as 65000.5 (as a JSON number or string, at most {MAX_DECIMAL_TEXT} characters), not {}",
                    shown(&raw)
                ),
            );
        }
        parsed
    }
}

/// A value as the message quotes it, cut short.
fn shown(raw: &str) -> String {
    let mut text: String = raw.chars().take(40).collect();
    if raw.chars().count() > 40 {
        text.push('…');
    }
    text
}

/// How a message names a rule: `"<label>"`, or `<id>` / `(new)` without a usable label.
fn rule_name(label: Option<&str>, id: Option<i64>) -> String {
    match (label, id) {
        (Some(label), Some(id)) => format!("{id} {}", shown(&format!("{label:?}"))),
        (Some(label), None) => shown(&format!("{label:?}")),
        (None, Some(id)) => id.to_string(),
        (None, None) => "(new, unlabelled)".to_owned(),
    }
}

fn is_series_currency(text: &str) -> bool {
    (2..=10).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn is_pair(text: &str) -> bool {
    (5..=20).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

impl RuleConfig {
    /// Parses a request body. `id` names the rule in messages when it is being replaced.
    pub fn from_json(body: &[u8], id: Option<i64>) -> Result<RuleConfig, RuleError> {
        let Members(members) = serde_json::from_slice::<Members>(body)
            .map_err(|error| RuleError::NotJson(error.to_string()))?;
        let mut check = Check {
            members,
            problems: Vec::new(),
        };
        let mut seen: Vec<&str> = Vec::new();
        let mut structural = Vec::new();
        for (name, _) in &check.members {
            if seen.contains(&name.as_str()) {
                structural.push((name.clone(), "is given twice".to_owned()));
            } else if !FIELDS.contains(&name.as_str()) && !READ_ONLY.contains(&name.as_str()) {
                structural.push((
                    name.clone(),
                    format!("is not a field of a rule (fields: {})", FIELDS.join(", ")),
                ));
            }
            seen.push(name);
        }
        for (field, problem) in structural {
            check.problem(&field, problem);
        }

        let label = check.required_string("label", "a name for the rule, up to 200 characters");
        let label = label.and_then(|label| {
            let length = label.chars().count();
            if label.trim().is_empty() {
                check.problem("label", "must not be empty");
                None
            } else if length > MAX_LABEL {
                check.problem(
                    "label",
                    format!("is {length} characters long; at most {MAX_LABEL}"),
                );
                None
            } else if label.chars().any(char::is_control) {
                check.problem("label", "must be one line of text (no control characters)");
                None
            } else {
                Some(label)
            }
        });
        let name = rule_name(label.as_deref(), id);

        let source = check
            .required_string("source", "cmc or binance")
            .and_then(|text| {
                let source = Source::parse(&text);
                if source.is_none() {
                    check.problem(
                        "source",
                        format!(
                            "must be cmc or binance, not {}",
                            shown(&format!("{text:?}"))
                        ),
                    );
                }
                source
            });
        let kind = check
            .required_string("kind", "price_above, price_below, change_pct or stale")
            .and_then(|text| {
                let kind = Kind::parse(&text);
                if kind.is_none() {
                    check.problem(
                        "kind",
                        format!(
                            "must be price_above, price_below, change_pct or stale, not {}",
                            shown(&format!("{text:?}"))
                        ),
                    );
                }
                kind
            });

        let cmc_id = check.integer("cmc_id", 1..=i64::from(i32::MAX));
        let quote_currency = check.string("quote_currency").and_then(|text| {
            let upper = text.to_ascii_uppercase();
            if is_series_currency(&upper) {
                Some(upper)
            } else {
                check.problem(
                    "quote_currency",
                    format!(
                        "must be a currency code such as USD (2 to 10 letters or digits), not {}",
                        shown(&format!("{text:?}"))
                    ),
                );
                None
            }
        });
        let pair = check.string("pair").and_then(|text| {
            if is_pair(&text) {
                Some(text)
            } else {
                check.problem(
                    "pair",
                    format!(
                        "must be a Binance pair such as BTCUSDT (5 to 20 upper-case letters or digits), not {}",
                        shown(&format!("{text:?}"))
                    ),
                );
                None
            }
        });
        let threshold = check.decimal("threshold");
        let window_minutes = check.integer("window_minutes", 1..=MAX_MINUTES);
        let hysteresis = check.decimal("hysteresis");
        let cooldown_minutes = check
            .integer("cooldown_minutes", 0..=MAX_MINUTES)
            .unwrap_or(DEFAULT_COOLDOWN);
        let enabled = match check.raw("enabled") {
            None => true,
            Some("true") => true,
            Some("false") => false,
            Some(other) => {
                let other = shown(other);
                check.problem("enabled", format!("must be true or false, not {other}"));
                true
            }
        };
        let evaluate_from = check.string("evaluate_from").and_then(|text| {
            match DateTime::parse_from_rfc3339(&text) {
                Ok(at) => Some(at.with_timezone(&Utc)),
                Err(_) => {
                    check.problem(
                        "evaluate_from",
                        format!(
                            "must be an RFC 3339 time such as 2024-06-01T12:00:00Z, not {}",
                            shown(&format!("{text:?}"))
                        ),
                    );
                    None
                }
            }
        });

        // The series: which fields go with which source.
        let has_cmc_id = check.raw("cmc_id").is_some();
        let has_currency = check.raw("quote_currency").is_some();
        let has_pair = check.raw("pair").is_some();
        match source {
            Some(Source::Cmc) => {
                if has_pair {
                    check.problem(
                        "pair",
                        "is for source binance; a cmc rule names cmc_id and quote_currency",
                    );
                }
                if has_cmc_id != has_currency {
                    let missing = if has_cmc_id {
                        "quote_currency"
                    } else {
                        "cmc_id"
                    };
                    check.problem(
                        missing,
                        "is required with the other: a cmc series is cmc_id and quote_currency together",
                    );
                }
            }
            Some(Source::Binance) => {
                for field in ["cmc_id", "quote_currency"] {
                    if check.raw(field).is_some() {
                        check.problem(
                            field,
                            "is for source cmc; a binance rule names its pair (the quote asset is part of it)",
                        );
                    }
                }
            }
            None => {}
        }
        let has_series = has_pair || (has_cmc_id && has_currency);

        // What each kind needs.
        let has_threshold = check.raw("threshold").is_some();
        let has_window = check.raw("window_minutes").is_some();
        match kind {
            Some(Kind::Stale) => {
                if has_threshold {
                    check.problem(
                        "threshold",
                        "is not used by kind stale (window_minutes is the age data may reach)",
                    );
                }
                if !has_window {
                    check.problem("window_minutes", "is required for kind stale: the minutes without new data that make the series stale (1 to 10080)");
                }
                if let Some((_, h)) = &hysteresis {
                    if !h.is_zero() {
                        check.problem("hysteresis", "must be 0 (or left out) for kind stale");
                    }
                }
            }
            Some(Kind::ChangePct) => {
                match &threshold {
                    Some((_, t)) if t.is_zero() => check.problem(
                        "threshold",
                        "must not be 0 for kind change_pct: a signed percentage (5 fires on a rise of 5 % or more, -5 on a fall of 5 % or more)",
                    ),
                    _ if !has_threshold => check.problem(
                        "threshold",
                        "is required for kind change_pct: a signed percentage such as 5 or -5",
                    ),
                    _ => {}
                }
                if !has_window {
                    check.problem("window_minutes", "is required for kind change_pct: the minutes the change is measured over (1 to 10080)");
                }
            }
            Some(Kind::PriceAbove | Kind::PriceBelow) => {
                match &threshold {
                    Some((_, t)) if !t.is_positive() => check.problem(
                        "threshold",
                        "must be a price above 0 for kinds price_above and price_below",
                    ),
                    _ if !has_threshold => check.problem(
                        "threshold",
                        "is required for kinds price_above and price_below: a price in the series' quote currency",
                    ),
                    _ => {}
                }
                if has_window {
                    check.problem("window_minutes", "is only for kinds change_pct and stale");
                }
            }
            None => {}
        }
        if matches!(
            kind,
            Some(Kind::PriceAbove | Kind::PriceBelow | Kind::ChangePct)
        ) && source.is_some()
            && !has_series
            && !check
                .problems
                .iter()
                .any(|p| ["cmc_id", "quote_currency", "pair"].contains(&p.field.as_str()))
        {
            let field = match source {
                Some(Source::Binance) => "pair",
                _ => "cmc_id",
            };
            check.problem(
                field,
                "is required: price and change rules watch one series (cmc_id and quote_currency for cmc, pair for binance)",
            );
        }
        let hundred = BigDecimal::from(100u8);
        if let Some((_, h)) = &hysteresis {
            if h.is_negative() || *h >= hundred {
                check.problem(
                    "hysteresis",
                    "must be at least 0 and below 100 (percent of the threshold for prices, percentage points for change_pct)",
                );
            }
        }

        match (label, source, kind) {
            (Some(label), Some(source), Some(kind)) if check.problems.is_empty() => {
                Ok(RuleConfig {
                    label,
                    source,
                    cmc_id,
                    quote_currency,
                    pair,
                    kind,
                    threshold: threshold.map(|(text, _)| text),
                    window_minutes,
                    hysteresis: hysteresis.map_or_else(|| "0".to_owned(), |(text, _)| text),
                    cooldown_minutes,
                    enabled,
                    evaluate_from,
                })
            }
            _ => Err(RuleError::Invalid {
                rule: name,
                problems: check.problems,
            }),
        }
    }
}

#[cfg(test)]
mod tests;
