//! Everything built once per cold start: configuration, the database reader, the token.

use coinlake::aws::{
    load_sdk_config, rds_data_client, read_secret, token_from_secret, SecretError,
};
use coinlake::config::{ApiConfig, ConfigError, SinkConfig, TokenSource};
use coinlake::db::{connect_pool, resolve_settings, ConnectError, SettingsError};
use coinlake::market::{AnyRows, DataApiRows, Market, PostgresRows};
use coinlake::secret::Secret;
use std::time::Duration;

/// Database connections one warm instance keeps: each invocation runs one query at a time.
const POOL_SIZE: usize = 2;

pub struct App {
    pub market: Market<AnyRows>,
    pub token: Option<Secret>,
    pub default_currency: String,
    pub stale_after: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    #[error("could not get the API token: {0}")]
    Token(#[from] SecretError),
    #[error(transparent)]
    Database(#[from] SettingsError),
    #[error("could not set up the database connection: {0}")]
    Connect(#[from] ConnectError),
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
        let rows = match &config.sink {
            SinkConfig::Postgres { .. } => {
                let settings = resolve_settings(&config.sink, POOL_SIZE, sdk).await?;
                AnyRows::Postgres(PostgresRows::new(connect_pool(&settings)?))
            }
            SinkConfig::DataApi {
                cluster_arn,
                secret_arn,
                database,
                endpoint,
            } => AnyRows::DataApi(DataApiRows::new(
                rds_data_client(sdk, endpoint.as_deref()),
                cluster_arn.clone(),
                secret_arn.clone(),
                database.clone(),
            )),
        };
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
            market: Market::new(rows),
            token,
            default_currency: config.default_currency,
            stale_after: config.stale_after,
        })
    }
}
