//! Everything built once per cold start: configuration and the S3 clients.

use coinlake::aws::{load_sdk_config, s3_client};
use coinlake::config::{CompactConfig, ConfigError};
use coinlake::curated::Compactor;
use coinlake::metrics::Metrics;
use coinlake::store::{S3Reader, S3Store};

pub struct App {
    pub compactor: Compactor<S3Reader, S3Store>,
    pub bucket: String,
    /// Where compactions' EMF metrics go (stdout in Lambda; tests may capture them).
    pub metrics: Metrics,
}

impl App {
    pub async fn from_env() -> Result<App, ConfigError> {
        let config = CompactConfig::from_env()?;
        let sdk = load_sdk_config().await;
        Ok(App::new(config, &sdk))
    }

    pub fn new(config: CompactConfig, sdk: &aws_config::SdkConfig) -> App {
        let client = s3_client(sdk, config.s3_endpoint.as_deref());
        App {
            compactor: Compactor::new(
                S3Reader::new(client.clone()),
                S3Store::new(client, config.bucket.clone()),
                config.days_in_parallel,
                config.objects_in_parallel,
            ),
            bucket: config.bucket,
            metrics: Metrics::for_lambda("compact"),
        }
    }
}
