//! PostgreSQL connections: settings, TLS verified against the RDS CA bundle, a pool reused
//! across invocations, and migrations.

mod connect;
mod migrate;
mod resolve;
mod tls;

pub use connect::{connect_pool, is_loopback, ConnectError, DbSettings, SslMode};
pub use migrate::{migrate, MigrateError, MigrationReport};
pub use resolve::{resolve_settings, SettingsError};
pub use tls::{tls_connector, TlsError, RDS_CA_BUNDLE};
