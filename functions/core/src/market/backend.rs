//! How the market queries reach the database: one narrow trait (text parameters in, rows
//! of nullable text out) with a tokio-postgres pool and an Aurora Data API client behind it.

use super::MarketError;
use crate::data_api::{text_parameter, DataApiTarget, RetryPolicy};
use crate::db::sql::query_text;
use crate::db::{Database, DbError, DbPool};
use aws_sdk_rdsdata::types::{Field, SqlParameter};
use std::future::Future;

/// Runs one statement with `:name` text parameters; every column is text.
pub trait TextReader: Send + Sync {
    /// A read: sent again while the database is resuming, throttled or briefly away.
    fn query(
        &self,
        sql: &str,
        parameters: &[(&str, &str)],
    ) -> impl Future<Output = Result<Vec<Vec<Option<String>>>, MarketError>> + Send;

    /// A statement that changes data (the API's alert rules) and must run at most once: never
    /// sent again once it may have run. One statement on one connection, committed on its
    /// own.
    fn write(
        &self,
        sql: &str,
        parameters: &[(&str, &str)],
    ) -> impl Future<Output = Result<Vec<Vec<Option<String>>>, MarketError>> + Send {
        self.query(sql, parameters)
    }
}

/// PostgreSQL over TCP (TLS `verify-full` outside loopback), from the shared pool.
pub struct PostgresReader {
    pool: DbPool,
}

impl PostgresReader {
    pub fn new(pool: DbPool) -> PostgresReader {
        PostgresReader { pool }
    }
}

impl TextReader for PostgresReader {
    async fn query(
        &self,
        sql: &str,
        parameters: &[(&str, &str)],
    ) -> Result<Vec<Vec<Option<String>>>, MarketError> {
        let client = self.pool.get().await.map_err(DbError::pool)?;
        Ok(query_text(&client, sql, parameters).await?)
    }
}

/// Aurora PostgreSQL through the RDS Data API: `ExecuteStatement`, string parameters
/// (the service binds them as `character varying`; the statements cast what is not text).
/// Reads retry a resuming or throttled cluster within `RetryPolicy::READ`.
pub struct DataApiReader {
    target: DataApiTarget,
    retry: RetryPolicy,
}

impl DataApiReader {
    pub fn new(target: DataApiTarget) -> DataApiReader {
        DataApiReader {
            target,
            retry: RetryPolicy::READ,
        }
    }
}

impl TextReader for DataApiReader {
    async fn query(
        &self,
        sql: &str,
        parameters: &[(&str, &str)],
    ) -> Result<Vec<Vec<Option<String>>>, MarketError> {
        let output = self
            .target
            .execute(self.retry, None, None, sql, text_parameters(parameters))
            .await
            .map_err(DbError::data_api)?;
        records(output.records)
    }

    async fn write(
        &self,
        sql: &str,
        parameters: &[(&str, &str)],
    ) -> Result<Vec<Vec<Option<String>>>, MarketError> {
        let output = self
            .target
            .execute_once(self.retry, sql, text_parameters(parameters))
            .await
            .map_err(DbError::data_api)?;
        records(output.records)
    }
}

fn text_parameters(parameters: &[(&str, &str)]) -> Vec<SqlParameter> {
    parameters
        .iter()
        .map(|(name, value)| text_parameter(name, value))
        .collect()
}

fn records(records: Option<Vec<Vec<Field>>>) -> Result<Vec<Vec<Option<String>>>, MarketError> {
    records
        .unwrap_or_default()
        .into_iter()
        .map(|record| record.into_iter().map(text).collect())
        .collect()
}

/// A Data API field as text. The queries cast every column to text, so anything else is
/// a contract break worth a clear error rather than a guess.
fn text(field: Field) -> Result<Option<String>, MarketError> {
    match field {
        Field::StringValue(value) => Ok(Some(value)),
        Field::IsNull(true) => Ok(None),
        Field::LongValue(value) => Ok(Some(value.to_string())),
        other => Err(MarketError::Unexpected(format!(
            "Data API returned {other:?} where text was expected"
        ))),
    }
}

/// The reader chosen at start-up (`DB_SINK`).
pub enum AnyReader {
    Postgres(PostgresReader),
    DataApi(DataApiReader),
}

impl AnyReader {
    /// The reader of `database`.
    pub fn new(database: Database) -> AnyReader {
        match database {
            Database::Postgres(pool) => AnyReader::Postgres(PostgresReader::new(pool)),
            Database::DataApi(target) => AnyReader::DataApi(DataApiReader::new(target)),
        }
    }
}

impl TextReader for AnyReader {
    async fn query(
        &self,
        sql: &str,
        parameters: &[(&str, &str)],
    ) -> Result<Vec<Vec<Option<String>>>, MarketError> {
        match self {
            AnyReader::Postgres(reader) => reader.query(sql, parameters).await,
            AnyReader::DataApi(reader) => reader.query(sql, parameters).await,
        }
    }

    async fn write(
        &self,
        sql: &str,
        parameters: &[(&str, &str)],
    ) -> Result<Vec<Vec<Option<String>>>, MarketError> {
        match self {
            AnyReader::Postgres(reader) => reader.write(sql, parameters).await,
            AnyReader::DataApi(reader) => reader.write(sql, parameters).await,
        }
    }
}
