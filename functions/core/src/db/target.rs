//! The database a function reads and writes, opened once per cold start from the
//! configuration: a PostgreSQL pool, or an Aurora cluster through the Data API. The sinks
//! and the market reader are built from it; nothing else chooses between the two.

use super::{open_pool, DbPool, SettingsError, SinkConfig};
use crate::aws::rds_data_client;
use crate::data_api::DataApiTarget;

/// Cheap to clone: a pool handle or a client, shared by the sink and maintenance.
#[derive(Clone)]
pub enum Database {
    Postgres(DbPool),
    DataApi(DataApiTarget),
}

impl Database {
    /// The database `config` names. No connection is opened here: the pool connects on
    /// first use and the Data API is called per statement, so a database outage fails
    /// invocations, not the cold start. `pool_size`: connections the pool may hold
    /// (PostgreSQL only).
    pub async fn open(
        config: &SinkConfig,
        pool_size: usize,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Database, SettingsError> {
        Ok(match config {
            SinkConfig::Postgres { .. } => {
                Database::Postgres(open_pool(config, pool_size, sdk).await?)
            }
            SinkConfig::DataApi {
                cluster_arn,
                secret_arn,
                database,
                endpoint,
            } => Database::DataApi(DataApiTarget {
                client: rds_data_client(sdk, endpoint.as_deref()),
                cluster_arn: cluster_arn.clone(),
                secret_arn: secret_arn.clone(),
                database: database.clone(),
            }),
        })
    }

    /// The pool, for what only a direct connection can do (applying migrations).
    pub fn into_pool(self) -> Result<DbPool, SettingsError> {
        match self {
            Database::Postgres(pool) => Ok(pool),
            Database::DataApi(_) => Err(SettingsError::NotPostgres),
        }
    }
}
