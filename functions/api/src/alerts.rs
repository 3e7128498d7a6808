//! The alert endpoints: recent events, and managing rules. Writes take a JSON body, which
//! is checked for size and type before a byte of it is parsed.

use crate::app::App;
use crate::params::{self, ApiError};
use crate::respond::Answer;
use chrono::{DateTime, Utc};
use coinlake::alerts::recent::{self, AlertEvent, EventQuery};
use coinlake::alerts::rules::store::{self, RuleStoreError};
use coinlake::alerts::rules::{Rule, RuleConfig};
use coinlake::market::MarketError;
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::http::header::{CONTENT_TYPE, LOCATION};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request};
use serde::Serialize;

/// Largest rule body taken: a rule is a few hundred bytes, its label at most 200
/// characters.
pub const MAX_BODY: usize = 16 * 1024;

pub const RULES_PATH: &str = "/api/alert-rules";

#[derive(Serialize)]
struct Events {
    generated_at: DateTime<Utc>,
    events: Vec<AlertEvent>,
}

pub async fn events(app: &App, query: &QueryMap, now: DateTime<Utc>) -> Result<Answer, ApiError> {
    let query: EventQuery = params::alert_events(query)?;
    let events = recent::recent(app.market.reader(), &query)
        .await
        .map_err(unavailable)?;
    Ok(Answer::json(
        StatusCode::OK,
        &Events {
            generated_at: now,
            events,
        },
        "no-store",
    ))
}

#[derive(Serialize)]
struct Rules {
    rules: Vec<Rule>,
}

pub async fn list(app: &App) -> Result<Answer, ApiError> {
    let rules = store::list(app.market.reader())
        .await
        .map_err(|e| failed(e, false))?;
    Ok(Answer::json(StatusCode::OK, &Rules { rules }, "no-store"))
}

pub async fn get(app: &App, id: i64) -> Result<Answer, ApiError> {
    match store::get(app.market.reader(), id)
        .await
        .map_err(|e| failed(e, false))?
    {
        Some(rule) => Ok(Answer::json(StatusCode::OK, &rule, "no-store")),
        None => Err(no_rule(id)),
    }
}

pub async fn create(app: &App, request: &Request) -> Result<Answer, ApiError> {
    let config = config(request, None)?;
    config
        .check_start(None, Utc::now())
        .map_err(ApiError::bad_request)?;
    let rule = store::create(app.market.reader(), &config)
        .await
        .map_err(|e| failed(e, true))?;
    tracing::info!(
        rule_id = rule.id,
        kind = rule.config.kind.as_str(),
        "alert rule created"
    );
    let mut answer = Answer::json(StatusCode::CREATED, &rule, "no-store");
    answer
        .headers
        .push((LOCATION, format!("{RULES_PATH}/{}", rule.id)));
    Ok(answer)
}

pub async fn replace(app: &App, request: &Request, id: i64) -> Result<Answer, ApiError> {
    let config = config(request, Some(id))?;
    if config.evaluate_from.is_some() {
        // A start sent back as the rule has it is kept however old; only a new one is
        // bounded.
        let stored = store::get(app.market.reader(), id)
            .await
            .map_err(|e| failed(e, false))?
            .ok_or_else(|| no_rule(id))?;
        config
            .check_start(stored.config.evaluate_from, Utc::now())
            .map_err(ApiError::bad_request)?;
    }
    match store::replace(app.market.reader(), id, &config)
        .await
        .map_err(|e| failed(e, true))?
    {
        Some(rule) => {
            tracing::info!(rule_id = id, armed = rule.armed, "alert rule replaced");
            Ok(Answer::json(StatusCode::OK, &rule, "no-store"))
        }
        None => Err(no_rule(id)),
    }
}

pub async fn delete(app: &App, id: i64) -> Result<Answer, ApiError> {
    if store::delete(app.market.reader(), id)
        .await
        .map_err(|e| failed(e, true))?
    {
        tracing::info!(rule_id = id, "alert rule deleted");
        Ok(Answer::empty(StatusCode::NO_CONTENT))
    } else {
        Err(no_rule(id))
    }
}

/// The rule id of `/api/alert-rules/<id>`.
pub fn rule_id(text: &str) -> Result<i64, ApiError> {
    match text.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ApiError::bad_request(format!(
            "{RULES_PATH}/{}: a rule is named by its id, a positive whole number",
            text.chars().take(40).collect::<String>()
        ))),
    }
}

fn no_rule(id: i64) -> ApiError {
    ApiError::not_found(format!("there is no alert rule {id}"))
}

/// The rule in the body of `request`: JSON, at most [`MAX_BODY`] bytes.
fn config(request: &Request, id: Option<i64>) -> Result<RuleConfig, ApiError> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        let given = if content_type.is_empty() {
            "none".to_owned()
        } else {
            format!("{:?}", content_type.chars().take(60).collect::<String>())
        };
        return Err(ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: format!("send the rule as JSON with Content-Type: application/json (the request's content type: {given})"),
        });
    }
    let body: &[u8] = match request.body() {
        Body::Empty => b"",
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => b"",
    };
    if body.len() > MAX_BODY {
        return Err(ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!(
                "the body is {} bytes; a rule takes at most {MAX_BODY}",
                body.len()
            ),
        });
    }
    RuleConfig::from_json(body, id).map_err(|error| ApiError::bad_request(error.to_string()))
}

fn unavailable(error: MarketError) -> ApiError {
    tracing::error!(error = %error, "database read failed");
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: "the database could not be read just now; try again shortly".to_owned(),
    }
}

/// A refused permission is the deployment's to fix: the answer says what is missing
/// without naming the database, its user or the statement; the log has the detail. A write
/// that failed on the way may still have committed (it is never sent twice): the answer
/// says to look before trying again.
fn failed(error: RuleStoreError, write: bool) -> ApiError {
    match error {
        RuleStoreError::NotPermitted(error) => {
            tracing::error!(error = %error, "alert rule write refused by the database");
            ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: "this API may read alert rules but not change them: its database user needs the coinlake_alert_editor role (docs/deploying.md)".to_owned(),
            }
        }
        RuleStoreError::Database(error) => {
            tracing::error!(error = %error, write, "alert rule query failed");
            let message = if write {
                "the database did not confirm the change, which may or may not have been made: read the rules before trying again"
            } else {
                "the database could not be reached just now; try again shortly"
            };
            ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: message.to_owned(),
            }
        }
    }
}
