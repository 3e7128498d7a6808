//! Connection settings from the validated configuration, reading the RDS-managed secret
//! when the configuration names one. Shared by every function that opens PostgreSQL.

use super::{
    connect_pool, is_loopback, ConnectError, DbPool, DbSettings, PgConnection, SecretSource,
    SinkConfig, SslMode,
};
use crate::aws::{db_credentials_from_secret, read_secret, SecretError};

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration error: DB_SINK=data-api has no direct PostgreSQL connection")]
    NotPostgres,
    #[error("could not get the database credentials: {0}")]
    Secret(#[from] SecretError),
    #[error("could not set up the database connection: {0}")]
    Connect(#[from] ConnectError),
}

/// Settings for `sink` (which must be the `postgres` sink) with a pool of `pool_size`.
pub async fn resolve_settings(
    sink: &SinkConfig,
    pool_size: usize,
    sdk: &aws_config::SdkConfig,
) -> Result<DbSettings, SettingsError> {
    let SinkConfig::Postgres {
        connection,
        ssl_mode,
        ca_file,
        ..
    } = sink
    else {
        return Err(SettingsError::NotPostgres);
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
                pool_size,
            }
        }
    };
    if let Some(mode) = ssl_mode {
        settings.ssl_mode = *mode;
    }
    settings.ca_file = ca_file.clone();
    settings.pool_size = pool_size;
    Ok(settings)
}

/// The pool for `sink` (which must be the `postgres` sink), holding at most `pool_size`
/// connections. Credentials from a secret are read again when the database refuses them.
pub(super) async fn open_pool(
    sink: &SinkConfig,
    pool_size: usize,
    sdk: &aws_config::SdkConfig,
) -> Result<DbPool, SettingsError> {
    let settings = resolve_settings(sink, pool_size, sdk).await?;
    let secret = match sink {
        SinkConfig::Postgres {
            connection: PgConnection::Secret { secret_arn, .. },
            ..
        } => Some(SecretSource {
            client: aws_sdk_secretsmanager::Client::new(sdk),
            secret_arn: secret_arn.clone(),
        }),
        _ => None,
    };
    Ok(connect_pool(&settings, secret)?)
}
