//! The database: which one the configuration names (a PostgreSQL pool or an Aurora cluster
//! through the Data API, [`Database`]), PostgreSQL connection settings, TLS verified against
//! the RDS CA bundle, a pool reused across invocations, migrations, and the SQL helpers
//! every database path shares.

mod connect;
mod error;
mod migrate;
mod resolve;
mod settings;
pub mod sql;
mod target;
mod tls;

pub use connect::{
    connect_pool, is_loopback, ConnectError, DbPool, DbSettings, PoolGetError, SecretSource,
    SslMode,
};
pub use error::DbError;
pub use migrate::{migrate, migrate_to, MigrateError, MigrationReport};
use resolve::open_pool;
pub use resolve::{resolve_settings, SettingsError};
pub use settings::{PgConnection, SinkConfig};
pub use target::Database;
pub use tls::{tls_connector, TlsError, RDS_CA_BUNDLE};

/// An error and its causes in one line: the pool's "error creating a new object" only
/// becomes actionable with the TLS or network reason beneath it.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
