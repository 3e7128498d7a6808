//! The API function's configuration: the database it reads, its bearer token, and what it
//! shows by default.

use super::{database::sink_config, is_currency_code, ConfigError, Env, DEFAULT_CONVERT};
use crate::db::SinkConfig;
use crate::secret::Secret;
use std::time::Duration;

/// Where the API's shared bearer token comes from, if it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// No token: the Function URL's own auth (`AWS_IAM`) guards the API.
    None,
    /// `API_TOKEN`, for local runs.
    Env(Secret),
    /// `API_TOKEN_SECRET_ARN`: a Secrets Manager secret, plain text or `{"token": ...}`.
    SecretArn(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiConfig {
    /// How to read the database; migrations are load's job, so they never run from here.
    pub sink: SinkConfig,
    pub token: TokenSource,
    /// The quote currency pages and requests show when they name none.
    pub default_currency: String,
    /// Health answers 503 once the newest snapshot is older than this.
    pub stale_after: Duration,
}

impl ApiConfig {
    pub fn from_env() -> Result<ApiConfig, ConfigError> {
        ApiConfig::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<ApiConfig, ConfigError> {
        let env = Env(&lookup);
        let sink = sink_config(&env, false)?;
        let token = match (env.get("API_TOKEN"), env.get("API_TOKEN_SECRET_ARN")) {
            (None, None) => TokenSource::None,
            (Some(token), None) if token.len() >= 16 => TokenSource::Env(Secret::new(token)),
            (Some(_), None) => {
                return Err(ConfigError::Invalid {
                    name: "API_TOKEN",
                    value: "[redacted]".to_owned(),
                    reason: "a shared token must be at least 16 characters".to_owned(),
                })
            }
            (None, Some(arn)) => TokenSource::SecretArn(arn),
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflict(
                    "both API_TOKEN and API_TOKEN_SECRET_ARN are set: use API_TOKEN locally, the secret in AWS",
                ))
            }
        };
        let default_currency = env
            .get("API_DEFAULT_CURRENCY")
            .unwrap_or_else(|| DEFAULT_CONVERT.to_owned())
            .to_ascii_uppercase();
        if !is_currency_code(&default_currency) {
            return Err(env.invalid(
                "API_DEFAULT_CURRENCY",
                &default_currency,
                "expected a currency code such as USD",
            ));
        }
        let stale_after = env.number("API_STALE_AFTER_SECONDS", 900, 60..=86_400)?;
        Ok(ApiConfig {
            sink,
            token,
            default_currency,
            stale_after: Duration::from_secs(stale_after.into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lookup_in;

    fn api(vars: &[(&str, &str)]) -> Result<ApiConfig, ConfigError> {
        ApiConfig::from_lookup(lookup_in(vars))
    }

    #[test]
    fn api_reads_the_database_like_load_but_never_migrates() {
        let c = api(&[("DATABASE_URL", "postgres://u@127.0.0.1/db")]).unwrap();
        assert!(matches!(
            c.sink,
            SinkConfig::Postgres { migrate: false, .. }
        ));
        assert_eq!(c.token, TokenSource::None);
        assert_eq!(c.default_currency, "USD");
        assert_eq!(c.stale_after, Duration::from_secs(900));

        let c = api(&[
            ("DB_SINK", "data-api"),
            ("DB_CLUSTER_ARN", "arn:cluster"),
            ("DB_SECRET_ARN", "arn:secret"),
            ("API_TOKEN_SECRET_ARN", "arn:token"),
            ("API_DEFAULT_CURRENCY", "brl"),
            ("API_STALE_AFTER_SECONDS", "600"),
        ])
        .unwrap();
        assert!(matches!(c.sink, SinkConfig::DataApi { .. }));
        assert_eq!(c.token, TokenSource::SecretArn("arn:token".to_owned()));
        assert_eq!(c.default_currency, "BRL");
        assert_eq!(c.stale_after, Duration::from_secs(600));
    }

    #[test]
    fn api_refuses_bad_tokens_currencies_and_staleness_without_echoing_the_token() {
        let db = ("DATABASE_URL", "postgres://u@127.0.0.1/db");
        let short = api(&[db, ("API_TOKEN", "hunter2")])
            .unwrap_err()
            .to_string();
        assert!(
            short.contains("API_TOKEN") && !short.contains("hunter2"),
            "{short}"
        );
        let both = api(&[
            db,
            ("API_TOKEN", "a-long-enough-shared-token"),
            ("API_TOKEN_SECRET_ARN", "arn:token"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            both.contains("API_TOKEN_SECRET_ARN") && !both.contains("a-long-enough"),
            "{both}"
        );
        for (name, value) in [
            ("API_DEFAULT_CURRENCY", "US DOLLAR"),
            ("API_STALE_AFTER_SECONDS", "5"),
            ("API_STALE_AFTER_SECONDS", "soon"),
        ] {
            let error = api(&[db, (name, value)]).unwrap_err().to_string();
            assert!(error.contains(name), "{error}");
        }
        assert!(api(&[]).unwrap_err().to_string().contains("DATABASE_URL"));
    }
}
