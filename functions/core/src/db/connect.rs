//! Connection settings and the pool.

use super::tls::{tls_connector, TlsError};
use crate::aws::{db_credentials_from_secret, read_secret};
use crate::secret::Secret;
use deadpool_postgres::{Connect, Manager, ManagerConfig, Pool, RecyclingMethod};
use futures::future::BoxFuture;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::Socket;

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

    #[test]
    fn an_unreadable_ca_file_is_named_and_its_io_error_kept() {
        let settings = DbSettings {
            host: "db.example".to_owned(),
            port: 5432,
            dbname: "coinlake".to_owned(),
            user: "coinlake".to_owned(),
            password: None,
            ssl_mode: SslMode::VerifyFull,
            ca_file: Some("/nonexistent/coinlake-ca.pem".to_owned()),
            pool_size: 1,
        };
        let Err(error) = connect_pool(&settings, None) else {
            panic!("a missing CA file must not build a pool");
        };
        assert!(
            error
                .to_string()
                .starts_with("could not read the CA file /nonexistent/coinlake-ca.pem: "),
            "{error}"
        );
        let source =
            std::error::Error::source(&error).and_then(|e| e.downcast_ref::<std::io::Error>());
        assert_eq!(
            source.map(std::io::Error::kind),
            Some(std::io::ErrorKind::NotFound),
            "{error:?}"
        );
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
    Pool(#[source] deadpool_postgres::BuildError),
}

/// The user and password new connections log in with. Shared by the pool's connector and
/// [`DbPool`], which replaces them when the secret is read again.
#[derive(Clone)]
struct Credentials {
    user: String,
    password: Option<Secret>,
}

type SharedCredentials = Arc<RwLock<Credentials>>;

fn current(credentials: &SharedCredentials) -> Credentials {
    // A poisoned lock only means a writer panicked mid-assignment of a whole value.
    match credentials.read() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// Opens each new connection with the credentials of the moment, so a re-read secret
/// reaches every connection opened afterwards while the pooled ones stay as they are.
struct CredentialConnect<T> {
    tls: T,
    credentials: SharedCredentials,
}

impl<T> Connect for CredentialConnect<T>
where
    T: MakeTlsConnect<Socket> + Clone + Sync + Send + 'static,
    T::Stream: Sync + Send,
    T::TlsConnect: Sync + Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    fn connect(
        &self,
        pg_config: &tokio_postgres::Config,
    ) -> BoxFuture<'_, Result<(tokio_postgres::Client, JoinHandle<()>), tokio_postgres::Error>>
    {
        let tls = self.tls.clone();
        let mut pg_config = pg_config.clone();
        let credentials = current(&self.credentials);
        pg_config.user(&credentials.user);
        if let Some(password) = &credentials.password {
            pg_config.password(password.expose());
        }
        Box::pin(async move {
            let (client, connection) = pg_config.connect(tls).await?;
            let task = tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::warn!(error = %error, "database connection ended with an error");
                }
            });
            Ok((client, task))
        })
    }
}

/// Where the credentials came from, so they can be read again after the database refused
/// them: Secrets Manager rotation changes the password (and, with the alternating-users
/// strategy, the user) while warm functions still hold the old value.
/// <https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotating-secrets.html>
pub struct SecretSource {
    pub client: aws_sdk_secretsmanager::Client,
    pub secret_arn: String,
}

/// Refusals within this interval of a re-read (whose credentials were refused too, or
/// which failed) fail at once: one invocation opening several connections reads the secret once, and a flood
/// of requests cannot turn a wrong secret into a flood of `GetSecretValue` calls. A
/// rotation's last step (moving the `AWSCURRENT` label) may land just after the database
/// changed; the next read after the interval picks it up.
const REREAD_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Reread {
    /// Bumped on every successful re-read.
    generation: u64,
    last: Option<std::time::Instant>,
}

struct Rotation {
    source: SecretSource,
    credentials: SharedCredentials,
    /// Held while reading, so concurrent refusals cause one read, not one each.
    reread: tokio::sync::Mutex<Reread>,
}

/// The connection pool every PostgreSQL path uses. Besides deadpool's pool it knows the
/// secret its credentials came from: when the database refuses them (SQLSTATE class 28:
/// 28P01 invalid_password, 28000 for a user that no longer exists) it reads the secret
/// once more and connects again, once; connections already pooled are kept, since
/// PostgreSQL checks a password only when a session starts.
#[derive(Clone)]
pub struct DbPool {
    pool: Pool,
    rotation: Option<Arc<Rotation>>,
}

#[derive(Debug, thiserror::Error)]
pub enum PoolGetError {
    #[error(transparent)]
    Pool(#[from] deadpool_postgres::PoolError),
    /// `reason`: the SQLSTATE and the server's message (the pool's own message says only
    /// "db error"); `source`: the refusal itself.
    #[error("the database refused the credentials of secret {secret_arn} ({reason}), also after reading the secret again: make the secret and the database user's password agree")]
    CredentialsRefused {
        secret_arn: String,
        reason: String,
        source: deadpool_postgres::PoolError,
    },
    #[error("the database refused the credentials and secret {secret_arn} could not be read again: {source}")]
    SecretUnreadable {
        secret_arn: String,
        #[source]
        source: crate::aws::SecretError,
    },
}

/// The SQLSTATE of a refused login: class 28, invalid authorization specification.
fn refused_login(error: &deadpool_postgres::PoolError) -> Option<String> {
    let deadpool_postgres::PoolError::Backend(error) = error else {
        return None;
    };
    let db = error.as_db_error()?;
    db.code()
        .code()
        .starts_with("28")
        .then(|| format!("{}: {}", db.code().code(), db.message()))
}

impl DbPool {
    /// The most connections this pool holds.
    pub fn max_size(&self) -> usize {
        self.pool.status().max_size
    }

    /// A pooled connection, or a new one; after a refused login, the secret is read again
    /// and one more connection tried.
    pub async fn get(&self) -> Result<deadpool_postgres::Object, PoolGetError> {
        let Some(rotation) = &self.rotation else {
            return Ok(self.pool.get().await?);
        };
        let seen = rotation.reread.lock().await.generation;
        let error = match self.pool.get().await {
            Ok(client) => return Ok(client),
            Err(error) => error,
        };
        let Some(reason) = refused_login(&error) else {
            return Err(error.into());
        };
        let secret_arn = &rotation.source.secret_arn;
        {
            let mut reread = rotation.reread.lock().await;
            if reread.generation == seen {
                if reread
                    .last
                    .is_some_and(|last| last.elapsed() < REREAD_INTERVAL)
                {
                    return Err(PoolGetError::CredentialsRefused {
                        secret_arn: secret_arn.clone(),
                        reason,
                        source: error,
                    });
                }
                tracing::warn!(
                    secret_arn = %secret_arn,
                    reason = %reason,
                    "the database refused the credentials; reading the secret again"
                );
                // Counted from the attempt: a secret that cannot be read (Secrets Manager
                // unreachable) is not retried by every request either.
                reread.last = Some(std::time::Instant::now());
                let read = async {
                    let value = read_secret(&rotation.source.client, secret_arn).await?;
                    db_credentials_from_secret(secret_arn, &value)
                };
                let (user, password) =
                    read.await
                        .map_err(|source| PoolGetError::SecretUnreadable {
                            secret_arn: secret_arn.clone(),
                            source,
                        })?;
                tracing::info!(secret_arn = %secret_arn, user = %user, "secret read again; connecting with its credentials");
                let fresh = Credentials {
                    user,
                    password: Some(password),
                };
                match rotation.credentials.write() {
                    Ok(mut guard) => *guard = fresh,
                    Err(poisoned) => *poisoned.into_inner() = fresh,
                }
                reread.generation += 1;
            }
        }
        match self.pool.get().await {
            Ok(client) => Ok(client),
            Err(error) => match refused_login(&error) {
                Some(reason) => Err(PoolGetError::CredentialsRefused {
                    secret_arn: secret_arn.clone(),
                    reason,
                    source: error,
                }),
                None => Err(error.into()),
            },
        }
    }
}

/// A pool of connections, opened lazily and re-opened when the server closed them; with
/// `secret`, the source of `settings`' credentials, read again when they are refused.
pub fn connect_pool(
    settings: &DbSettings,
    secret: Option<SecretSource>,
) -> Result<DbPool, ConnectError> {
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Verified,
    };
    let credentials = Arc::new(RwLock::new(Credentials {
        user: settings.user.clone(),
        password: settings.password.clone(),
    }));
    let manager = match settings.ssl_mode {
        SslMode::Disable if !is_loopback(&settings.host) => {
            return Err(ConnectError::PlaintextToRemote(settings.host.clone()))
        }
        SslMode::Disable => Manager::from_connect(
            settings.pg_config(),
            CredentialConnect {
                tls: tokio_postgres::NoTls,
                credentials: credentials.clone(),
            },
            manager_config,
        ),
        SslMode::VerifyFull => {
            let ca = match &settings.ca_file {
                Some(path) => Some(std::fs::read(path).map_err(|source| TlsError::CaFile {
                    path: path.clone(),
                    source,
                })?),
                None => None,
            };
            let mut config = settings.pg_config();
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
            Manager::from_connect(
                config,
                CredentialConnect {
                    tls: tls_connector(ca.as_deref())?,
                    credentials: credentials.clone(),
                },
                manager_config,
            )
        }
    };
    let pool = Pool::builder(manager)
        .max_size(settings.pool_size.max(1))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(30)))
        .create_timeout(Some(Duration::from_secs(10)))
        .build()
        .map_err(ConnectError::Pool)?;
    Ok(DbPool {
        pool,
        rotation: secret.map(|source| {
            Arc::new(Rotation {
                source,
                credentials,
                reread: tokio::sync::Mutex::new(Reread::default()),
            })
        }),
    })
}
