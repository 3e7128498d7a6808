//! A failed database call, as the sinks and the market reader report it.

use super::{error_chain, PoolGetError};
use crate::data_api::DataApiError;

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// A failed call to the database, directly or through the Data API: a line a person can
/// act on, with the error it came from kept as the source for code that needs more.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct DbError {
    detail: String,
    #[source]
    source: Cause,
}

impl DbError {
    pub fn new(detail: impl Into<String>, source: impl Into<Cause>) -> DbError {
        DbError {
            detail: detail.into(),
            source: source.into(),
        }
    }

    /// tokio-postgres prints "db error" for a server error; the SQLSTATE and the server's
    /// message are the useful part. Anything else (a connection failure) names its causes.
    pub fn postgres(error: tokio_postgres::Error) -> DbError {
        let detail = match error.as_db_error() {
            Some(db) => format!("PostgreSQL: {}: {}", db.code().code(), db.message()),
            None => format!("PostgreSQL: {}", error_chain(&error)),
        };
        DbError::new(detail, error)
    }

    /// No connection: the pool's "error creating a new object" only becomes actionable with
    /// the TLS, network or login reason beneath it. A refused login already names its
    /// SQLSTATE and the server's message: the pool's wrapping beneath it would repeat that.
    pub fn pool(error: PoolGetError) -> DbError {
        let line = match &error {
            PoolGetError::CredentialsRefused { .. } => error.to_string(),
            _ => error_chain(&error),
        };
        DbError::new(format!("PostgreSQL: {line}"), error)
    }

    pub fn data_api(error: DataApiError) -> DbError {
        DbError::new(error_chain(&error), error)
    }

    /// The SQLSTATE PostgreSQL answered with, directly or through the Data API; `None` when
    /// the failure was not the database's answer (no connection, a timeout).
    pub fn sqlstate(&self) -> Option<String> {
        if let Some(error) = self.source.downcast_ref::<tokio_postgres::Error>() {
            return error.as_db_error().map(|db| db.code().code().to_owned());
        }
        self.source
            .downcast_ref::<DataApiError>()
            .and_then(|error| crate::data_api::sqlstate(&error.to_string()).map(str::to_owned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn the_sqlstate_of_a_refusal_through_the_data_api_is_read_from_its_message() {
        let refused = DbError::data_api(DataApiError::unexpected(
            "ExecuteStatement",
            "ERROR: permission denied for table alert_rules; SQLState: 42501".to_owned(),
        ));
        assert_eq!(refused.sqlstate().as_deref(), Some("42501"));
        let unreachable = DbError::data_api(DataApiError::unexpected(
            "ExecuteStatement",
            "connection reset".to_owned(),
        ));
        assert_eq!(unreachable.sqlstate(), None);
    }

    #[test]
    fn the_error_a_database_failure_came_from_stays_reachable() {
        let error = DbError::data_api(DataApiError::unexpected(
            "BeginTransaction",
            "the reply has no transaction id".to_owned(),
        ));
        assert!(error
            .to_string()
            .contains("the reply has no transaction id"));
        let source = error.source().expect("a source");
        assert!(source.downcast_ref::<DataApiError>().is_some(), "{source}");
    }
}
