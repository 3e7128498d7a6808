//! The database: which one the configuration names (a PostgreSQL pool or an Aurora cluster
//! through the Data API, [`Database`]), PostgreSQL connection settings, TLS verified against
//! the RDS CA bundle, a pool reused across invocations, migrations, and the SQL helpers
//! every database path shares.

mod connect;
mod error;
mod migrate;
mod resolve;
mod session;
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
pub use session::{Rows, Session};
pub use settings::{PgConnection, SinkConfig};
pub use target::Database;
pub use tls::{tls_connector, TlsError, RDS_CA_BUNDLE};

pub use crate::error_text::error_chain;
