//! Connection settings and the pool.

use super::tls::{tls_connector, TlsError};
use crate::secret::Secret;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::time::Duration;

/// `verify-full` (the default in AWS) or `disable`, which is accepted only for a loopback
/// host so a misconfiguration can never send a password in clear over a network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    VerifyFull,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbSettings {
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub user: String,
    pub password: Option<Secret>,
    pub ssl_mode: SslMode,
    /// PEM file of CAs to trust instead of the shipped RDS bundle.
    pub ca_file: Option<String>,
    /// Connections kept open; also the most files loaded at once.
    pub pool_size: usize,
}

impl DbSettings {
    /// Settings from a `postgres://user:password@host:port/db` URL (local runs).
    pub fn from_url(url: &Secret) -> Result<DbSettings, ConnectError> {
        let config: tokio_postgres::Config =
            url.expose().parse().map_err(|_| ConnectError::BadUrl)?;
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            _ => return Err(ConnectError::BadUrl),
        };
        let password = config
            .get_password()
            .map(|p| Secret::new(String::from_utf8_lossy(p).into_owned()));
        Ok(DbSettings {
            ssl_mode: if is_loopback(&host) {
                SslMode::Disable
            } else {
                SslMode::VerifyFull
            },
            host,
            port: config.get_ports().first().copied().unwrap_or(5432),
            dbname: config.get_dbname().unwrap_or("postgres").to_owned(),
            user: config.get_user().unwrap_or("postgres").to_owned(),
            password,
            ca_file: None,
            pool_size: 4,
        })
    }

    fn pg_config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .dbname(&self.dbname)
            .user(&self.user)
            .application_name("coinlake")
            .connect_timeout(Duration::from_secs(5))
            // Every timestamp goes in and out as UTC, whatever the server's default.
            .options("-c TimeZone=UTC");
        if let Some(password) = &self.password {
            config.password(password.expose());
        }
        config
    }
}

/// Only an IP literal on the loopback network, or `localhost`, counts: a DNS name that merely
/// starts with "127." could resolve anywhere.
pub fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_and_localhost_are_loopback() {
        for host in ["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "127.db.corp.example",
            "10.0.0.1",
            "db.example",
            "localhost.example",
            "0.0.0.0",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("DATABASE_URL is not a valid postgres:// URL with a TCP host")]
    BadUrl,
    #[error("DB_SSLMODE=disable is allowed only for a loopback host, not {0}; use verify-full")]
    PlaintextToRemote(String),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("could not create the connection pool: {0}")]
    Pool(String),
}

/// A pool of connections, opened lazily and re-opened when the server closed them.
pub fn connect_pool(settings: &DbSettings) -> Result<Pool, ConnectError> {
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Verified,
    };
    let manager = match settings.ssl_mode {
        SslMode::Disable if !is_loopback(&settings.host) => {
            return Err(ConnectError::PlaintextToRemote(settings.host.clone()))
        }
        SslMode::Disable => {
            Manager::from_config(settings.pg_config(), tokio_postgres::NoTls, manager_config)
        }
        SslMode::VerifyFull => {
            let ca = match &settings.ca_file {
                Some(path) => Some(std::fs::read(path).map_err(|e| TlsError::CaFile {
                    path: path.clone(),
                    reason: e.to_string(),
                })?),
                None => None,
            };
            let mut config = settings.pg_config();
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
            Manager::from_config(config, tls_connector(ca.as_deref())?, manager_config)
        }
    };
    Pool::builder(manager)
        .max_size(settings.pool_size.max(1))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(30)))
        .create_timeout(Some(Duration::from_secs(10)))
        .build()
        .map_err(|e| ConnectError::Pool(e.to_string()))
}
