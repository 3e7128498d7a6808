//! Everything built once per cold start: configuration, the API key, the clients.

use coinlake::aws::{api_key_from_secret, load_sdk_config, read_secret, s3_client, SecretError};
use coinlake::cmc::{ClientBuildError, CmcClient};
use coinlake::config::{ApiKeySource, ConfigError, IngestConfig};
use coinlake::ingest::Ingest;
use coinlake::metrics::Metrics;
use coinlake::secret::Secret;
use coinlake::store::S3Store;

pub struct App {
    pub ingest: Ingest<S3Store>,
    /// Where the run's EMF metrics go (stdout in Lambda; tests may capture them).
    pub metrics: Metrics,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    #[error("could not get the CoinMarketCap API key: {0}")]
    Secret(#[from] SecretError),
    #[error("could not set up the CoinMarketCap client: {0}")]
    Client(#[from] ClientBuildError),
}

impl App {
    /// Reads the environment and the default AWS configuration chain.
    pub async fn from_env() -> Result<App, InitError> {
        let config = IngestConfig::from_env()?;
        let sdk = load_sdk_config().await;
        App::new(config, &sdk).await
    }

    /// Builds the app from an explicit configuration, fetching the API key from Secrets
    /// Manager when the configuration names a secret.
    pub async fn new(config: IngestConfig, sdk: &aws_config::SdkConfig) -> Result<App, InitError> {
        let api_key = match &config.api_key {
            ApiKeySource::Value(key) => key.clone(),
            ApiKeySource::SecretsManager { secret_id } => {
                let secrets = aws_sdk_secretsmanager::Client::new(sdk);
                let value: Secret = read_secret(&secrets, secret_id).await?;
                api_key_from_secret(secret_id, &value)?
            }
        };
        let cmc = CmcClient::new(&config.cmc_base_url, api_key, config.retry.clone())?
            .with_quotes_api(config.quotes_api);
        let store = S3Store::new(
            s3_client(sdk, config.s3_endpoint.as_deref()),
            config.bucket.clone(),
        );
        Ok(App {
            ingest: Ingest::new(cmc, store, config.selection, config.converts),
            metrics: Metrics::for_lambda("ingest"),
        })
    }
}
