//! One database session on either backend, for the statements that are not a load's bulk
//! writes (maintenance, the alert outbox, the stale check): statements with `:name` text
//! parameters answering text columns, and a transaction around several of them.

use super::sql::query_text;
use super::{Database, DbError};
use crate::data_api::{text_parameter, DataApiTarget, RetryPolicy};
use aws_sdk_rdsdata::types::Field;

pub use super::sql::TextRows as Rows;

pub enum Session {
    /// One pooled connection, so a transaction's statements share it.
    Postgres(deadpool_postgres::Object),
    DataApi {
        target: DataApiTarget,
        transaction: Option<String>,
    },
}

impl Session {
    pub async fn open(database: &Database) -> Result<Session, DbError> {
        Ok(match database {
            Database::Postgres(pool) => Session::Postgres(pool.get().await.map_err(DbError::pool)?),
            Database::DataApi(target) => Session::DataApi {
                target: target.clone(),
                transaction: None,
            },
        })
    }

    pub async fn query(&self, sql: &str, parameters: &[(&str, &str)]) -> Result<Rows, DbError> {
        match self {
            Session::Postgres(client) => query_text(client, sql, parameters).await,
            Session::DataApi {
                target,
                transaction,
            } => {
                let parameters = parameters
                    .iter()
                    .map(|(name, value)| text_parameter(name, value))
                    .collect();
                let output = target
                    .execute(
                        RetryPolicy::LOAD,
                        None,
                        transaction.as_deref(),
                        sql,
                        parameters,
                    )
                    .await
                    .map_err(DbError::data_api)?;
                output
                    .records
                    .unwrap_or_default()
                    .into_iter()
                    .map(|record| record.into_iter().map(text).collect())
                    .collect()
            }
        }
    }

    pub async fn begin(&mut self) -> Result<(), DbError> {
        match self {
            Session::Postgres(client) => client
                .batch_execute("BEGIN")
                .await
                .map_err(DbError::postgres),
            Session::DataApi {
                target,
                transaction,
            } => {
                let id = target
                    .begin(RetryPolicy::LOAD, None)
                    .await
                    .map_err(DbError::data_api)?;
                *transaction = Some(id);
                Ok(())
            }
        }
    }

    pub async fn commit(&mut self) -> Result<(), DbError> {
        match self {
            Session::Postgres(client) => client
                .batch_execute("COMMIT")
                .await
                .map_err(DbError::postgres),
            Session::DataApi {
                target,
                transaction,
            } => match transaction.take() {
                Some(id) => target
                    .commit(RetryPolicy::LOAD, None, &id)
                    .await
                    .map_err(DbError::data_api),
                None => Ok(()),
            },
        }
    }

    /// Best effort: a failed rollback leaves PostgreSQL to end the transaction with the
    /// session (the pool discards a broken connection) and the Data API to time it out.
    pub async fn rollback(&mut self) {
        let failed = match self {
            Session::Postgres(client) => client
                .batch_execute("ROLLBACK")
                .await
                .err()
                .map(|e| e.to_string()),
            Session::DataApi {
                target,
                transaction,
            } => match transaction.take() {
                Some(id) => target
                    .rollback(RetryPolicy::LOAD, None, &id)
                    .await
                    .err()
                    .map(|e| e.to_string()),
                None => None,
            },
        };
        if let Some(error) = failed {
            tracing::warn!(error, "rollback failed");
        }
    }
}

/// A Data API field as text: every statement casts its columns to text.
fn text(field: Field) -> Result<Option<String>, DbError> {
    match field {
        Field::StringValue(value) => Ok(Some(value)),
        Field::IsNull(true) => Ok(None),
        Field::LongValue(value) => Ok(Some(value.to_string())),
        other => Err(DbError::new(
            format!("Data API returned {other:?} where text was expected"),
            "a statement answered a column not cast to text",
        )),
    }
}
