//! Everything built once per cold start: configuration, clients, the connection pool.

use coinlake::aws::{
    db_credentials_from_secret, load_sdk_config, read_secret, s3_client, SecretError,
};
use coinlake::config::{ConfigError, LoadConfig, PgConnection, SinkConfig};
use coinlake::db::{connect_pool, is_loopback, ConnectError, DbSettings, SslMode};
use coinlake::load::Loader;
use coinlake::sink::{AnySink, DataApiSink, PostgresSink};
use coinlake::store::S3Reader;

pub struct App {
    pub loader: Loader<S3Reader, AnySink>,
    pub bucket: String,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    #[error("could not get the database credentials: {0}")]
    Secret(#[from] SecretError),
    #[error("could not set up the database connection: {0}")]
    Connect(#[from] ConnectError),
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
        let sink = match &config.sink {
            SinkConfig::Postgres { migrate, .. } => {
                let settings = db_settings(&config, sdk).await?;
                AnySink::Postgres(PostgresSink::new(connect_pool(&settings)?, *migrate))
            }
            SinkConfig::DataApi {
                cluster_arn,
                secret_arn,
                database,
                endpoint,
            } => {
                let mut builder = aws_sdk_rdsdata::config::Builder::from(sdk);
                if let Some(url) = endpoint {
                    builder = builder.endpoint_url(url);
                }
                let client = aws_sdk_rdsdata::Client::from_conf(builder.build());
                AnySink::DataApi(DataApiSink::new(
                    client,
                    cluster_arn.clone(),
                    secret_arn.clone(),
                    database.clone(),
                ))
            }
        };
        let objects = S3Reader::new(s3_client(sdk, config.s3_endpoint.as_deref()));
        Ok(App {
            loader: Loader::new(objects, sink, config.concurrency),
            bucket: config.bucket,
        })
    }
}

/// Connection settings for the PostgreSQL sink, reading the RDS-managed secret when the
/// configuration names one.
pub async fn db_settings(
    config: &LoadConfig,
    sdk: &aws_config::SdkConfig,
) -> Result<DbSettings, InitError> {
    let SinkConfig::Postgres {
        connection,
        ssl_mode,
        ca_file,
        ..
    } = &config.sink
    else {
        return Err(
            ConfigError::Conflict("DB_SINK=data-api has no direct PostgreSQL connection").into(),
        );
    };
    let mut settings = match connection {
        PgConnection::Url(url) => DbSettings::from_url(url)?,
        PgConnection::Secret {
            host,
            port,
            dbname,
            secret_arn,
        } => {
            let secrets = aws_sdk_secretsmanager::Client::new(sdk);
            let value = read_secret(&secrets, secret_arn).await?;
            let (user, password) = db_credentials_from_secret(secret_arn, &value)?;
            DbSettings {
                host: host.clone(),
                port: *port,
                dbname: dbname.clone(),
                user,
                password: Some(password),
                ssl_mode: if is_loopback(host) {
                    SslMode::Disable
                } else {
                    SslMode::VerifyFull
                },
                ca_file: None,
                pool_size: 4,
            }
        }
    };
    if let Some(mode) = ssl_mode {
        settings.ssl_mode = *mode;
    }
    settings.ca_file = ca_file.clone();
    settings.pool_size = config.concurrency;
    Ok(settings)
}
