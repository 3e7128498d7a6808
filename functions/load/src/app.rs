//! Everything built once per cold start: configuration, clients, the connection pool.

use coinlake::alerts::publish::SnsPublisher;
use coinlake::alerts::runner::Alerting;
use coinlake::aws::{load_sdk_config, s3_client, sns_client};
use coinlake::config::{ConfigError, LoadConfig, SinkConfig};
use coinlake::db::{Database, SettingsError};
use coinlake::load::Loader;
use coinlake::maintain::Maintainer;
use coinlake::metrics::Metrics;
use coinlake::sink::AnySink;
use coinlake::store::S3Reader;

pub struct App {
    pub loader: Loader<S3Reader, AnySink>,
    pub maintainer: Maintainer<S3Reader>,
    pub alerting: Alerting<SnsPublisher>,
    pub bucket: String,
    /// Where loads' EMF metrics go (stdout in Lambda; tests may capture them).
    pub metrics: Metrics,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Database(#[from] SettingsError),
}

impl App {
    pub async fn from_env() -> Result<App, InitError> {
        let config = LoadConfig::from_env()?;
        let sdk = load_sdk_config().await;
        App::new(config, &sdk).await
    }

    /// Builds the app. No database connection is opened here: the pool connects (and
    /// migrates) on first use, so a database outage fails invocations, not the cold start.
    pub async fn new(config: LoadConfig, sdk: &aws_config::SdkConfig) -> Result<App, InitError> {
        let migrate = matches!(config.sink, SinkConfig::Postgres { migrate: true, .. });
        let database = Database::open(&config.sink, config.concurrency, sdk).await?;
        let objects = S3Reader::new(s3_client(sdk, config.s3_endpoint.as_deref()));
        // Maintenance shares the pool, and migrates too: it may be a cold start's first call.
        let maintainer = Maintainer::new(
            database.clone(),
            objects.clone(),
            config.bucket.clone(),
            config.retention_days,
        )
        .migrating(migrate);
        let publisher = match &config.alert_topic_arn {
            Some(arn) => Some(SnsPublisher::new(
                sns_client(sdk, config.sns_endpoint.as_deref()),
                arn,
            )),
            None => {
                // Once per cold start: every invocation would repeat it.
                tracing::warn!("ALERT_TOPIC_ARN is not set: alerts are recorded in alert_events, not delivered");
                None
            }
        };
        let alerting = Alerting::new(database.clone(), publisher).migrating(migrate);
        let sink = AnySink::new(database, migrate);
        Ok(App {
            loader: Loader::new(objects, sink, config.concurrency),
            maintainer,
            alerting,
            bucket: config.bucket,
            metrics: Metrics::for_lambda("load"),
        })
    }
}
