//! Everything built once per cold start: configuration, the database reader, the token.

use coinlake::aws::{load_sdk_config, read_secret, token_from_secret, SecretError};
use coinlake::config::{ApiConfig, ConfigError, TokenSource};
use coinlake::db::{Database, SettingsError};
use coinlake::market::{AnyReader, Market};
use coinlake::metrics::Metrics;
use coinlake::secret::Secret;
use std::time::Duration;

/// Database connections one warm instance keeps. Lambda gives an execution environment
/// one request at a time, and a request runs its queries one after another, so a second
/// connection would only sit idle, counted against the database's `max_connections` that
/// `load` needs too: with N environments warm, the api holds N connections, no more.
/// <https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html>
pub const POOL_SIZE: usize = 1;

pub struct App {
    pub market: Market<AnyReader>,
    pub token: Option<Secret>,
    pub default_currency: String,
    pub stale_after: Duration,
    /// Where requests' EMF metrics go (stdout in Lambda; tests may capture them).
    pub metrics: Metrics,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    #[error("could not get the API token: {0}")]
    Token(#[from] SecretError),
    #[error(transparent)]
    Database(#[from] SettingsError),
}

impl App {
    pub async fn from_env() -> Result<App, InitError> {
        let config = ApiConfig::from_env()?;
        let sdk = load_sdk_config().await;
        App::new(config, &sdk).await
    }

    /// Builds the app. No connection is opened here: a database outage fails requests
    /// (with a 503), not the cold start.
    pub async fn new(config: ApiConfig, sdk: &aws_config::SdkConfig) -> Result<App, InitError> {
        let reader = AnyReader::new(Database::open(&config.sink, POOL_SIZE, sdk).await?);
        let token = match config.token {
            TokenSource::None => None,
            TokenSource::Env(token) => Some(token),
            TokenSource::SecretArn(arn) => {
                let secrets = aws_sdk_secretsmanager::Client::new(sdk);
                let value = read_secret(&secrets, &arn).await?;
                Some(token_from_secret(&arn, &value)?)
            }
        };
        Ok(App {
            market: Market::new(reader),
            token,
            default_currency: config.default_currency,
            stale_after: config.stale_after,
            metrics: Metrics::for_lambda("api"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_database_pool_holds_one_connection() {
        let config = ApiConfig::from_lookup(|name| {
            (name == "DATABASE_URL").then(|| "postgres://reader@127.0.0.1:5432/coinlake".to_owned())
        })
        .expect("valid configuration");
        let sdk = aws_config::SdkConfig::builder().build();
        // The pool connects lazily: this opens no connection.
        let pool = Database::open(&config.sink, POOL_SIZE, &sdk)
            .await
            .and_then(Database::into_pool)
            .expect("pool");
        assert_eq!(pool.max_size(), 1);
    }
}
