//! Everything built once per cold start: configuration and the clients.

use crate::continuation::SelfInvoker;
use coinlake::aws::{load_sdk_config, s3_client};
use coinlake::backfill::Backfill;
use coinlake::binance::{ArchiveClient, BinanceClient};
use coinlake::config::{ConfigError, KlinesConfig};
use coinlake::klines_run::KlinesRun;
use coinlake::metrics::Metrics;
use coinlake::store::S3Store;

pub struct App {
    pub klines: KlinesRun<S3Store>,
    pub backfill: Backfill<S3Store>,
    pub continuer: SelfInvoker,
    /// Where slot runs' EMF metrics go (stdout in Lambda; tests may capture them).
    pub metrics: Metrics,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    /// The HTTP client's build error, boxed so this crate needs no HTTP crate of its own.
    #[error("could not set up the Binance clients: {0}")]
    Client(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl App {
    /// Reads the environment and the default AWS configuration chain.
    pub async fn from_env() -> Result<App, InitError> {
        let config = KlinesConfig::from_env()?;
        let sdk = load_sdk_config().await;
        App::new(config, &sdk)
    }

    /// Builds the app from an explicit configuration.
    pub fn new(config: KlinesConfig, sdk: &aws_config::SdkConfig) -> Result<App, InitError> {
        let binance = BinanceClient::new(&config.binance_base_url, config.retry.clone())
            .map_err(|e| InitError::Client(Box::new(e)))?;
        let archive = ArchiveClient::new(&config.archive_url, config.retry.clone())
            .map_err(|e| InitError::Client(Box::new(e)))?;
        let s3 = s3_client(sdk, config.s3_endpoint.as_deref());
        Ok(App {
            klines: KlinesRun::new(
                binance,
                S3Store::new(s3.clone(), config.bucket.clone()),
                config.pairs,
            ),
            backfill: Backfill::new(archive, S3Store::new(s3, config.bucket))
                .with_concurrency(config.backfill_pairs_in_parallel),
            continuer: SelfInvoker::new(
                sdk,
                config.lambda_endpoint.as_deref(),
                config.function_name,
            ),
            metrics: Metrics::for_lambda("klines"),
        })
    }
}
