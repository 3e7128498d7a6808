//! Calling the Aurora RDS Data API: the cluster a function talks to, what each error means
//! for a retry, and the one retry loop the sink and the readers share.
//!
//! The error shapes and HTTP statuses are those of the service model (`rds-data`
//! 2018-08-01, as shipped in botocore): `DatabaseResumingException` 400,
//! `DatabaseNotFoundException` 404, `DatabaseUnavailableException` 504,
//! `ServiceUnavailableError` 503, `InternalServerErrorException` 500,
//! `StatementTimeoutException` 400, `DatabaseErrorException` 400 with PostgreSQL's message
//! and `SQLState: NNNNN`. The SDK's standard retry does not treat a 400 like
//! `DatabaseResumingException` as transient, so a paused Aurora Serverless v2 cluster
//! ("wait a few seconds and try again", RDS Data API reference) would fail every first
//! call; the client is built with the SDK's retries off and every call goes through
//! [`call`], which retries by [`ErrorClass`] within one budget and the invocation's
//! deadline.

use aws_sdk_rdsdata::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_rdsdata::operation::execute_statement::ExecuteStatementOutput;
use aws_sdk_rdsdata::types::{Field, SqlParameter, TypeHint};
use backon::{ExponentialBuilder, Retryable};
use futures::TryFutureExt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// What an error says about sending the same request again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Refused before any SQL ran: a paused cluster resuming, throttling, the service or
    /// the cluster's instance not there yet. Safe to send again, even inside a transaction.
    NotRun,
    /// Transient, but the statement may have run or the transaction may be gone (504
    /// `DatabaseUnavailableException`, statement timeout, 500, the connection lost, or a
    /// PostgreSQL error of a connection, resource or serialization class). Worth another
    /// try outside a transaction; inside one, the whole load is retried instead.
    Transient,
    /// PostgreSQL refused the data itself (SQLSTATE class 22, data exception, or 23,
    /// integrity violation): sending it again cannot succeed.
    Refused { sqlstate: String },
    /// Anything else: configuration, permissions, a SQL error in the statement.
    Failed,
}

impl ErrorClass {
    /// Whether this process should send the same request again.
    pub fn retry_in_process(&self, in_transaction: bool) -> bool {
        match self {
            ErrorClass::NotRun => true,
            ErrorClass::Transient => !in_transaction,
            ErrorClass::Refused { .. } | ErrorClass::Failed => false,
        }
    }

    /// The class of a modelled error code, with the message for `DatabaseErrorException`.
    pub fn of_code(code: Option<&str>, message: Option<&str>) -> ErrorClass {
        match code {
            Some(
                "DatabaseResumingException"
                | "DatabaseNotFoundException"
                | "ServiceUnavailableError"
                // The throttling codes the AWS SDKs' standard retry mode recognises.
                | "ThrottlingException"
                | "Throttling"
                | "TooManyRequestsException"
                | "RequestLimitExceeded"
                | "RequestThrottled"
                | "RequestThrottledException"
                | "ProvisionedThroughputExceededException"
                | "SlowDown"
                | "PriorRequestNotComplete"
                | "EC2ThrottledException",
            ) => ErrorClass::NotRun,
            Some(
                "DatabaseUnavailableException"
                | "StatementTimeoutException"
                | "InternalServerErrorException",
            ) => ErrorClass::Transient,
            Some("DatabaseErrorException") => match message.and_then(sqlstate) {
                Some(state) => ErrorClass::of_sqlstate(state),
                None => ErrorClass::Failed,
            },
            _ => ErrorClass::Failed,
        }
    }

    /// The same rules as the PostgreSQL sink: 22 and 23 reject the file; connection (08),
    /// resources (53), operator intervention (57: shutdown, cannot connect now, query
    /// cancelled) and transaction rollback (40: serialization failure, deadlock) are worth
    /// a retry; the rest is a fault in the statement or the schema.
    pub fn of_sqlstate(state: &str) -> ErrorClass {
        match state.get(..2) {
            Some("22" | "23") => ErrorClass::Refused {
                sqlstate: state.to_owned(),
            },
            Some("08" | "40" | "53" | "57") => ErrorClass::Transient,
            _ => ErrorClass::Failed,
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            ErrorClass::NotRun => "refused before running, retryable",
            ErrorClass::Transient => "transient",
            ErrorClass::Refused { .. } => "the data was refused",
            ErrorClass::Failed => "not retryable",
        }
    }
}

/// The SQLSTATE the Data API appends to a PostgreSQL error (`...; SQLState: 23505`).
pub fn sqlstate(message: &str) -> Option<&str> {
    let at = message.rfind("SQLState: ")? + "SQLState: ".len();
    let state = message.get(at..at + 5)?;
    state
        .bytes()
        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        .then_some(state)
}

/// A failed Data API call, with the SDK's error kept as the source.
#[derive(Debug, thiserror::Error)]
#[error("Data API {operation} failed ({}){}: {detail}", class.describe(), gave_up(*attempts, *out_of_time))]
pub struct DataApiError {
    pub operation: &'static str,
    pub class: ErrorClass,
    /// Requests sent, retries included.
    pub attempts: u32,
    /// Whether retrying stopped because the time budget ran out.
    pub out_of_time: bool,
    /// The service's error code (`DatabaseErrorException`, ...), when it answered one.
    pub code: Option<String>,
    /// The service's code and message, or the transport failure.
    detail: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

fn gave_up(attempts: u32, out_of_time: bool) -> String {
    match (attempts, out_of_time) {
        (0 | 1, false) => String::new(),
        (n, true) => format!(" after {n} attempts, the time budget spent"),
        (n, false) => format!(" after {n} attempts"),
    }
}

impl DataApiError {
    /// Classifies an SDK error of `operation`.
    pub fn from_sdk<E, R>(operation: &'static str, error: SdkError<E, R>) -> DataApiError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let code = error.code().map(str::to_owned);
        let class = match &error {
            SdkError::ServiceError(service) => {
                let e = service.err();
                ErrorClass::of_code(e.code(), e.message())
            }
            // The request may or may not have reached the database.
            SdkError::DispatchFailure(_)
            | SdkError::TimeoutError(_)
            | SdkError::ResponseError(_) => ErrorClass::Transient,
            _ => ErrorClass::Failed,
        };
        let detail = aws_sdk_rdsdata::error::DisplayErrorContext(&error).to_string();
        DataApiError {
            operation,
            class,
            attempts: 1,
            out_of_time: false,
            code,
            detail,
            source: Box::new(error),
        }
    }

    /// A reply the service should not send (a transaction without an id, an unexpected field).
    pub fn unexpected(operation: &'static str, detail: String) -> DataApiError {
        DataApiError {
            operation,
            class: ErrorClass::Failed,
            attempts: 1,
            out_of_time: false,
            code: None,
            source: detail.clone().into(),
            detail,
        }
    }

    /// Whether PostgreSQL answered (with an error): the request certainly ran and failed.
    pub fn is_database_error(&self) -> bool {
        self.code.as_deref() == Some("DatabaseErrorException")
    }
}

/// How long to keep retrying one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// Total time one call may spend retrying, however far the deadline is.
    pub max_elapsed: Duration,
}

impl RetryPolicy {
    /// Loads: a paused Aurora Serverless v2 instance typically resumes in about 15 seconds
    /// (AWS Database Blog, "Introducing scaling to 0 capacity with Amazon Aurora Serverless
    /// v2"); 40 s rides out a resume with room to spare and still gives up on a cluster
    /// with no instance long before the function's 900 s timeout.
    pub const LOAD: RetryPolicy = RetryPolicy {
        first_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(5),
        max_elapsed: Duration::from_secs(40),
    };

    /// Reads behind the HTTP API, whose function times out after 10 s (template.yaml):
    /// retry for at most 6 s and answer 503 rather than let Lambda cut the request off.
    pub const READ: RetryPolicy = RetryPolicy {
        first_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(2),
        max_elapsed: Duration::from_secs(6),
    };
}

/// No retry starts unless this much time is left for the attempt itself.
const MIN_ATTEMPT: Duration = Duration::from_millis(500);

/// Runs `attempt` until it succeeds, fails in a way [`ErrorClass::retry_in_process`] says
/// not to repeat, or the policy's budget or `deadline` leaves no time for another try.
pub async fn call<T, F, Fut>(
    operation: &'static str,
    policy: RetryPolicy,
    deadline: Option<Instant>,
    in_transaction: bool,
    attempt: F,
) -> Result<T, DataApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DataApiError>>,
{
    let started = Instant::now();
    let mut give_up_at = started + policy.max_elapsed;
    if let Some(deadline) = deadline {
        give_up_at = give_up_at.min(deadline);
    }
    let attempts = AtomicU32::new(0);
    let out_of_time = AtomicBool::new(false);
    let mut attempt = attempt;
    let backoff = ExponentialBuilder::default()
        .with_min_delay(policy.first_delay)
        .with_max_delay(policy.max_delay)
        .without_max_times()
        .with_jitter();
    let result = (|| {
        attempts.fetch_add(1, Ordering::Relaxed);
        attempt()
    })
    .retry(backoff)
    .when(|error: &DataApiError| error.class.retry_in_process(in_transaction))
    .adjust(|_, next| {
        let next = next?;
        if Instant::now() + next + MIN_ATTEMPT < give_up_at {
            Some(next)
        } else {
            out_of_time.store(true, Ordering::Relaxed);
            None
        }
    })
    .notify(|error: &DataApiError, wait| {
        tracing::warn!(
            operation,
            error = %error,
            retry_in_ms = wait.as_millis() as u64,
            "Data API call failed; retrying"
        );
    })
    .await;
    let attempts = attempts.into_inner();
    match result {
        Ok(value) => {
            if attempts > 1 {
                tracing::info!(
                    operation,
                    attempts,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "Data API call succeeded after retries"
                );
            }
            Ok(value)
        }
        Err(mut error) => {
            error.attempts = attempts;
            error.out_of_time = out_of_time.into_inner();
            Err(error)
        }
    }
}

/// The Aurora cluster a function's Data API calls go to: the client, and the cluster,
/// secret and database every request names. Each call goes through [`call`] with the
/// caller's policy and deadline; `in_transaction` follows from the call (a statement is in
/// one when it names a transaction id).
#[derive(Clone, Debug)]
pub struct DataApiTarget {
    pub client: aws_sdk_rdsdata::Client,
    pub cluster_arn: String,
    pub secret_arn: String,
    pub database: String,
}

impl DataApiTarget {
    /// `ExecuteStatement`, in `transaction` when one is given.
    pub async fn execute(
        &self,
        policy: RetryPolicy,
        deadline: Option<Instant>,
        transaction: Option<&str>,
        sql: &str,
        parameters: Vec<SqlParameter>,
    ) -> Result<ExecuteStatementOutput, DataApiError> {
        call(
            "ExecuteStatement",
            policy,
            deadline,
            transaction.is_some(),
            || {
                self.client
                    .execute_statement()
                    .resource_arn(&self.cluster_arn)
                    .secret_arn(&self.secret_arn)
                    .database(&self.database)
                    .set_transaction_id(transaction.map(str::to_owned))
                    .sql(sql)
                    .set_parameters(Some(parameters.clone()))
                    .send()
                    .map_err(|e| DataApiError::from_sdk("ExecuteStatement", e))
            },
        )
        .await
    }

    /// `ExecuteStatement` outside a transaction, of a statement that must not run twice (an
    /// insert without a natural key, a delete whose answer says whether it found the row):
    /// sent again only when the service refused it before it ran, never after a timeout or
    /// a 504 that may have followed its commit.
    pub async fn execute_once(
        &self,
        policy: RetryPolicy,
        sql: &str,
        parameters: Vec<SqlParameter>,
    ) -> Result<ExecuteStatementOutput, DataApiError> {
        call("ExecuteStatement", policy, None, true, || {
            self.client
                .execute_statement()
                .resource_arn(&self.cluster_arn)
                .secret_arn(&self.secret_arn)
                .database(&self.database)
                .sql(sql)
                .set_parameters(Some(parameters.clone()))
                .send()
                .map_err(|e| DataApiError::from_sdk("ExecuteStatement", e))
        })
        .await
    }

    /// `BatchExecuteStatement` in `transaction`: one statement, a parameter set per row.
    pub async fn batch(
        &self,
        policy: RetryPolicy,
        deadline: Option<Instant>,
        transaction: &str,
        sql: &str,
        sets: Vec<Vec<SqlParameter>>,
    ) -> Result<(), DataApiError> {
        call("BatchExecuteStatement", policy, deadline, true, || {
            self.client
                .batch_execute_statement()
                .resource_arn(&self.cluster_arn)
                .secret_arn(&self.secret_arn)
                .database(&self.database)
                .transaction_id(transaction)
                .sql(sql)
                .set_parameter_sets(Some(sets.clone()))
                .send()
                .map_err(|e| DataApiError::from_sdk("BatchExecuteStatement", e))
        })
        .await
        .map(|_| ())
    }

    /// A new transaction's id. Retried like a read: a transaction begun whose reply was
    /// lost holds no locks and is rolled back by the Data API after three idle minutes.
    pub async fn begin(
        &self,
        policy: RetryPolicy,
        deadline: Option<Instant>,
    ) -> Result<String, DataApiError> {
        let begun = call("BeginTransaction", policy, deadline, false, || {
            self.client
                .begin_transaction()
                .resource_arn(&self.cluster_arn)
                .secret_arn(&self.secret_arn)
                .database(&self.database)
                .send()
                .map_err(|e| DataApiError::from_sdk("BeginTransaction", e))
        })
        .await?;
        begun
            .transaction_id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                DataApiError::unexpected(
                    "BeginTransaction",
                    "the reply has no transaction id".to_owned(),
                )
            })
    }

    /// Only a commit refused before it ran is sent again: after a 504 or a lost reply the
    /// transaction may have committed, and the caller finds out instead.
    pub async fn commit(
        &self,
        policy: RetryPolicy,
        deadline: Option<Instant>,
        transaction: &str,
    ) -> Result<(), DataApiError> {
        call("CommitTransaction", policy, deadline, true, || {
            self.client
                .commit_transaction()
                .resource_arn(&self.cluster_arn)
                .secret_arn(&self.secret_arn)
                .transaction_id(transaction)
                .send()
                .map_err(|e| DataApiError::from_sdk("CommitTransaction", e))
        })
        .await
        .map(|_| ())
    }

    pub async fn rollback(
        &self,
        policy: RetryPolicy,
        deadline: Option<Instant>,
        transaction: &str,
    ) -> Result<(), DataApiError> {
        call("RollbackTransaction", policy, deadline, true, || {
            self.client
                .rollback_transaction()
                .resource_arn(&self.cluster_arn)
                .secret_arn(&self.secret_arn)
                .transaction_id(transaction)
                .send()
                .map_err(|e| DataApiError::from_sdk("RollbackTransaction", e))
        })
        .await
        .map(|_| ())
    }
}

/// A named statement parameter; `hint` tells the service how to read a string
/// (`DECIMAL`, `TIMESTAMP`).
pub fn parameter(name: &str, value: Field, hint: Option<TypeHint>) -> SqlParameter {
    SqlParameter::builder()
        .name(name)
        .value(value)
        .set_type_hint(hint)
        .build()
}

/// A named string parameter, which the service binds as `character varying`.
pub fn text_parameter(name: &str, value: &str) -> SqlParameter {
    parameter(name, Field::StringValue(value.to_owned()), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_are_read_from_the_data_api_message() {
        let message = "ERROR: duplicate key value violates unique constraint \"quotes_pkey\"\n  \
                       Detail: Key (id)=(1) already exists.; SQLState: 23505";
        assert_eq!(sqlstate(message), Some("23505"));
        assert_eq!(
            sqlstate("ERROR: deadlock detected; SQLState: 40P01"),
            Some("40P01")
        );
        assert_eq!(sqlstate("no state here"), None);
        assert_eq!(sqlstate("SQLState: 23"), None);
    }

    #[test]
    fn classes_follow_the_service_model_and_the_postgres_sink() {
        let class = |code: &str, message: &str| ErrorClass::of_code(Some(code), Some(message));
        assert_eq!(
            class("DatabaseResumingException", "resuming"),
            ErrorClass::NotRun
        );
        assert_eq!(
            class("ThrottlingException", "Rate exceeded"),
            ErrorClass::NotRun
        );
        assert_eq!(class("ServiceUnavailableError", ""), ErrorClass::NotRun);
        assert_eq!(
            class("DatabaseUnavailableException", ""),
            ErrorClass::Transient
        );
        assert_eq!(
            class("StatementTimeoutException", ""),
            ErrorClass::Transient
        );
        assert_eq!(
            class(
                "DatabaseErrorException",
                "ERROR: new row violates check constraint; SQLState: 23514"
            ),
            ErrorClass::Refused {
                sqlstate: "23514".to_owned()
            }
        );
        assert_eq!(
            class(
                "DatabaseErrorException",
                "ERROR: invalid input syntax; SQLState: 22P02"
            ),
            ErrorClass::Refused {
                sqlstate: "22P02".to_owned()
            }
        );
        assert_eq!(
            class(
                "DatabaseErrorException",
                "ERROR: the database system is starting up; SQLState: 57P03"
            ),
            ErrorClass::Transient
        );
        assert_eq!(
            class(
                "DatabaseErrorException",
                "ERROR: relation does not exist; SQLState: 42P01"
            ),
            ErrorClass::Failed
        );
        assert_eq!(class("ForbiddenException", ""), ErrorClass::Failed);
        assert_eq!(
            class("HttpEndpointNotEnabledException", ""),
            ErrorClass::Failed
        );
        // Inside a transaction only a request that never ran is repeated.
        assert!(ErrorClass::NotRun.retry_in_process(true));
        assert!(!ErrorClass::Transient.retry_in_process(true));
        assert!(ErrorClass::Transient.retry_in_process(false));
    }
}
