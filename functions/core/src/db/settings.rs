//! Which database a function talks to, as the configuration chose it: PostgreSQL directly
//! or Aurora through the RDS Data API. `config` fills these in; `db` and the sinks read them.

use super::SslMode;
use crate::secret::Secret;

/// How load and the API reach PostgreSQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PgConnection {
    /// `DATABASE_URL` (local runs); may hold a password, so it is a secret.
    Url(Secret),
    /// `DB_HOST`, `DB_PORT`, `DB_NAME` and the RDS-managed secret `DB_SECRET_ARN`
    /// (`{"username": ..., "password": ...}`).
    Secret {
        host: String,
        port: u16,
        dbname: String,
        secret_arn: String,
    },
}

/// `DB_SINK`: PostgreSQL directly (`postgres`, the default) or Aurora through the RDS Data
/// API (`data-api`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkConfig {
    Postgres {
        connection: PgConnection,
        /// `DB_SSLMODE`; unset means `verify-full`, or `disable` for a loopback host.
        ssl_mode: Option<SslMode>,
        ca_file: Option<String>,
        /// Apply pending migrations on first connection (`DB_MIGRATE`, default true).
        migrate: bool,
    },
    DataApi {
        cluster_arn: String,
        secret_arn: String,
        database: String,
        /// A Data API endpoint other than AWS's (`AWS_ENDPOINT_URL_RDS_DATA`), for tests.
        endpoint: Option<String>,
    },
}
