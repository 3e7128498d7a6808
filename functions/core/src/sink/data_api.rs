//! The Aurora Data API sink: the same staging-table transaction as the PostgreSQL sink,
//! driven over HTTPS with `BeginTransaction`, `BatchExecuteStatement` and
//! `CommitTransaction`, for Aurora clusters reached without a VPC connection.
//!
//! Every call retries what `data_api::ErrorClass` says is safe (a paused cluster resuming,
//! throttling) within the invocation's deadline; a SQL error of SQLSTATE class 22 or 23
//! rejects the file; a commit whose outcome is unknown is checked before it is reported.

use super::sql::INSERT_RUN;
use super::{alerts_fired, credit_notice};
use super::{
    ContentRefused, FileInfo, LoadCounts, LoadRow, RowSource, RunRecord, RunStatus, Sink, SinkError,
};
use crate::alerts::credit_notice::{INSERT_CREDIT_NOTICE, LABEL};
use crate::csv_codec::format_timestamp;
use crate::data_api::{
    parameter, text_parameter, DataApiError, DataApiTarget, ErrorClass, RetryPolicy,
};
use crate::db::{error_chain, DbError};
use crate::quote::Field;
use crate::schema::Row;
use aws_sdk_rdsdata::operation::execute_statement::ExecuteStatementOutput;
use aws_sdk_rdsdata::types::{Field as Value, SqlParameter, TypeHint};
use std::time::{Duration, Instant};

/// The Data API refuses requests over 4 MiB; staying well under it leaves room for the
/// JSON framing the size estimate does not count.
const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// Parameter sets per `BatchExecuteStatement`, whatever their size.
const MAX_BATCH_ROWS: usize = 1000;

#[derive(Clone, Debug)]
pub struct DataApiSink {
    target: DataApiTarget,
    retry: RetryPolicy,
}

/// Time a load keeps back from the invocation's deadline for rolling back and recording
/// its failure.
const LOAD_RESERVE: Duration = Duration::from_secs(5);
/// Time recording a run keeps back, so it ends before Lambda stops the invocation.
const RECORD_RESERVE: Duration = Duration::from_secs(1);

fn before(deadline: Option<Instant>, reserve: Duration) -> Option<Instant> {
    deadline.map(|d| d.checked_sub(reserve).unwrap_or(d))
}

/// One load's transaction, and when its retries must stop.
struct Tx<'a> {
    id: &'a str,
    until: Option<Instant>,
}

/// The sink's view of a Data API failure: SQLSTATE class 22 or 23 rejects the file (as
/// the PostgreSQL sink does); everything else is a database failure Lambda retries.
fn failure(error: DataApiError) -> SinkError {
    match &error.class {
        ErrorClass::Refused { sqlstate } => {
            let detail = format!("Data API: {sqlstate}: {}", error_chain(&error));
            ContentRefused(DbError::new(detail, error)).into()
        }
        _ => DbError::data_api(error).into(),
    }
}

impl DataApiSink {
    pub fn new(target: DataApiTarget) -> DataApiSink {
        DataApiSink {
            target,
            retry: RetryPolicy::LOAD,
        }
    }

    async fn execute(
        &self,
        tx: Option<&Tx<'_>>,
        until: Option<Instant>,
        sql: &str,
        parameters: Vec<SqlParameter>,
    ) -> Result<ExecuteStatementOutput, DataApiError> {
        self.target
            .execute(self.retry, until, tx.map(|t| t.id), sql, parameters)
            .await
    }

    async fn begin(&self, until: Option<Instant>) -> Result<String, DataApiError> {
        self.target.begin(self.retry, until).await
    }

    async fn commit(&self, tx: &Tx<'_>) -> Result<(), DataApiError> {
        self.target.commit(self.retry, tx.until, tx.id).await
    }

    async fn rollback(&self, tx: &Tx<'_>, key: &str) {
        let rolled_back = self.target.rollback(self.retry, tx.until, tx.id).await;
        if let Err(error) = rolled_back {
            // The Data API rolls back a transaction left idle for three minutes.
            tracing::warn!(key, error = %error_chain(&error), "rollback failed; the Data API will time the transaction out");
        }
    }

    async fn stage<T: Row>(&self, tx: &Tx<'_>, sql: &str, rows: &[T]) -> Result<(), DataApiError> {
        let mut sets: Vec<Vec<SqlParameter>> = Vec::new();
        let mut bytes = 0;
        for row in rows {
            let set = row_parameters(row);
            bytes += estimated_size(&set);
            sets.push(set);
            if sets.len() >= MAX_BATCH_ROWS || bytes >= MAX_BATCH_BYTES {
                self.batch(tx, sql, std::mem::take(&mut sets)).await?;
                bytes = 0;
            }
        }
        if !sets.is_empty() {
            self.batch(tx, sql, sets).await?;
        }
        Ok(())
    }

    async fn batch(
        &self,
        tx: &Tx<'_>,
        sql: &str,
        sets: Vec<Vec<SqlParameter>>,
    ) -> Result<(), DataApiError> {
        self.target
            .batch(self.retry, tx.until, tx.id, sql, sets)
            .await
    }

    async fn load_in_transaction<R: RowSource>(
        &self,
        tx: &Tx<'_>,
        file: &FileInfo,
        rows: &mut R,
    ) -> Result<LoadCounts, SinkError> {
        let statements = R::Row::statements();
        let run = |sql: &'static str| self.execute(Some(tx), tx.until, sql, vec![]);
        run("SET LOCAL TIME ZONE 'UTC'").await.map_err(failure)?;
        self.execute(Some(tx), tx.until, &statements.create_staging, vec![])
            .await
            .map_err(failure)?;
        let mut total = 0u64;
        while let Some(batch) = rows.next_batch().await? {
            self.stage(tx, &statements.stage_row, &batch)
                .await
                .map_err(failure)?;
            total += batch.len() as u64;
        }
        for sql in statements.prepare {
            run(sql).await.map_err(failure)?;
        }
        let store = |sql: String| async move {
            self.execute(
                Some(tx),
                tx.until,
                &sql,
                vec![text_parameter("s3_key", &file.key)],
            )
            .await
            .map(|output| output.number_of_records_updated.max(0) as u64)
            .map_err(failure)
        };
        let inserted = store(statements.insert).await?;
        let replaced = match statements.replace {
            Some(sql) => store(sql).await?,
            None => 0,
        };
        let mut counts = LoadCounts::new(total, inserted, replaced);
        // After every row write: the evaluation locks rules, which must come after rows.
        if inserted > 0 {
            let output = self
                .execute(
                    Some(tx),
                    tx.until,
                    statements.evaluate,
                    vec![
                        text_parameter("s3_key", &file.key),
                        parameter("quiet", Value::BooleanValue(file.alerts.is_quiet()), None),
                    ],
                )
                .await
                .map_err(failure)?;
            let answer = first_text(&output);
            counts.alerts_fired = alerts_fired(answer.as_deref()).map_err(|detail| {
                DbError::data_api(DataApiError::unexpected("ExecuteStatement", detail))
            })?;
        }
        if let Some(notice) = credit_notice(file) {
            self.execute(
                Some(tx),
                tx.until,
                INSERT_CREDIT_NOTICE,
                vec![
                    text_parameter("label", LABEL),
                    timestamp("observed_at", notice.observed_at),
                    text_parameter("message", &notice.message),
                    text_parameter("dedupe_key", &notice.dedupe_key),
                    text_parameter("s3_key", &file.key),
                ],
            )
            .await
            .map_err(failure)?;
        }
        self.execute(
            Some(tx),
            tx.until,
            INSERT_RUN,
            run_parameters(file, RunStatus::Loaded, Some(counts), None),
        )
        .await
        .map_err(failure)?;
        Ok(counts)
    }

    /// After a commit whose outcome is unknown (a 504, a timeout, a lost reply): whether
    /// the `loaded` row this transaction wrote is there. The row is keyed by the object
    /// and the load's start time, to the millisecond, which no other load shares.
    async fn committed(
        &self,
        file: &FileInfo,
        until: Option<Instant>,
    ) -> Result<bool, DataApiError> {
        let output = self
            .execute(
                None,
                until,
                COMMITTED_RUN,
                vec![
                    text_parameter("s3_key", &file.key),
                    parameter(
                        "started_ms",
                        Value::LongValue(file.started_at.timestamp_millis()),
                        None,
                    ),
                ],
            )
            .await?;
        let count = output
            .records()
            .first()
            .and_then(|record| record.first())
            .and_then(|field| match field {
                Value::StringValue(text) => text.parse::<i64>().ok(),
                Value::LongValue(number) => Some(*number),
                _ => None,
            })
            .ok_or_else(|| {
                DataApiError::unexpected(
                    "ExecuteStatement",
                    format!("a count was expected, got {:?}", output.records()),
                )
            })?;
        Ok(count > 0)
    }
}

/// The `loaded` row of one load (`:s3_key`, started at `:started_ms` epoch milliseconds).
const COMMITTED_RUN: &str = "\
SELECT CAST(count(*) AS text) FROM ingest_runs
WHERE s3_key = :s3_key AND status = 'loaded'
  AND round(extract(epoch FROM started_at) * 1000) = :started_ms";

impl Sink for DataApiSink {
    async fn load_file<R: RowSource>(
        &self,
        file: &FileInfo,
        rows: &mut R,
    ) -> Result<LoadCounts, SinkError> {
        let until = before(file.deadline, LOAD_RESERVE);
        let id = self.begin(until).await.map_err(failure)?;
        let tx = Tx { id: &id, until };
        let counts = match self.load_in_transaction(&tx, file, rows).await {
            Ok(counts) => counts,
            Err(failure) => {
                self.rollback(&tx, &file.key).await;
                return Err(failure);
            }
        };
        let error = match self.commit(&tx).await {
            Ok(()) => return Ok(counts),
            // PostgreSQL answered the COMMIT with an error: it rolled back.
            Err(error) if error.is_database_error() => return Err(failure(error)),
            Err(error) => error,
        };
        // The commit may or may not have happened. Look; if the answer is still unknown
        // (or the commit lands after the look), the load fails and Lambda's retry loads
        // the file again, which stores nothing twice: quotes are keyed by CMC update.
        tracing::warn!(key = file.key, error = %error_chain(&error), "commit outcome unknown; checking ingest_runs");
        match self
            .committed(file, before(file.deadline, RECORD_RESERVE))
            .await
        {
            Ok(true) => {
                tracing::info!(key = file.key, "the commit had happened");
                Ok(counts)
            }
            Ok(false) => {
                // Still open if the commit never reached the database: free its locks now
                // rather than let the retry wait for the Data API's three-minute timeout.
                self.rollback(&tx, &file.key).await;
                let detail = format!(
                    "{}; the load's run is not in ingest_runs, so it did not commit (a retry loads the file again)",
                    error_chain(&error)
                );
                Err(DbError::new(detail, error).into())
            }
            Err(check) => {
                let detail = format!(
                    "{}; whether it committed is unknown ({}); a retry loads the file again without storing anything twice",
                    error_chain(&error),
                    error_chain(&check)
                );
                Err(DbError::new(detail, error).into())
            }
        }
    }

    async fn record_run(&self, run: &RunRecord) -> Result<(), SinkError> {
        // In a transaction of its own, so the TIMESTAMP parameters are read in UTC whatever
        // the cluster's time zone.
        let until = before(run.file.deadline, RECORD_RESERVE);
        let id = self.begin(until).await.map_err(DbError::data_api)?;
        let tx = Tx { id: &id, until };
        let parameters = run_parameters(&run.file, run.status, None, Some(&run.error));
        let written = async {
            self.execute(Some(&tx), until, "SET LOCAL TIME ZONE 'UTC'", vec![])
                .await?;
            self.execute(Some(&tx), until, INSERT_RUN, parameters)
                .await?;
            self.commit(&tx).await
        }
        .await;
        if let Err(error) = written {
            self.rollback(&tx, &run.file.key).await;
            return Err(DbError::data_api(error).into());
        }
        Ok(())
    }
}

/// The first field of the first record, as text (a count may come back as a number).
fn first_text(output: &ExecuteStatementOutput) -> Option<String> {
    match output.records().first().and_then(|record| record.first()) {
        Some(Value::StringValue(text)) => Some(text.clone()),
        Some(Value::LongValue(number)) => Some(number.to_string()),
        _ => None,
    }
}

fn timestamp(name: &str, at: chrono::DateTime<chrono::Utc>) -> SqlParameter {
    parameter(
        name,
        Value::StringValue(format_timestamp(at)),
        Some(TypeHint::Timestamp),
    )
}

fn optional_long(name: &str, value: Option<i64>) -> SqlParameter {
    parameter(
        name,
        value.map_or(Value::IsNull(true), Value::LongValue),
        None,
    )
}

fn row_parameters<T: Row>(row: &T) -> Vec<SqlParameter> {
    row.fields()
        .as_ref()
        .iter()
        .zip(T::COLUMNS)
        .map(|(field, column)| match field {
            Field::Timestamp(at) => timestamp(column.name, *at),
            Field::Integer(value) => optional_long(column.name, *value),
            Field::Text(value) => text_parameter(column.name, value),
            Field::Decimal(Some(value)) => parameter(
                column.name,
                Value::StringValue(value.as_str().to_owned()),
                Some(TypeHint::Decimal),
            ),
            Field::Decimal(None) => parameter(column.name, Value::IsNull(true), None),
        })
        .collect()
}

/// Bytes a parameter set adds to the request: its values plus the JSON around each one.
fn estimated_size(set: &[SqlParameter]) -> usize {
    set.iter()
        .map(|p| {
            let value = match p.value() {
                Some(Value::StringValue(text)) => text.len(),
                _ => 20,
            };
            value + p.name().map_or(0, str::len) + 48
        })
        .sum()
}

fn run_parameters(
    file: &FileInfo,
    status: RunStatus,
    counts: Option<LoadCounts>,
    error: Option<&str>,
) -> Vec<SqlParameter> {
    let count = |name: &str, value: Option<u64>| optional_long(name, value.map(|v| v as i64));
    vec![
        timestamp("slot_at", file.slot.start()),
        text_parameter("dataset", file.dataset.name()),
        text_parameter("s3_key", &file.key),
        text_parameter("status", status.as_str()),
        count("rows_in_file", counts.map(|c| c.rows)),
        count("rows_inserted", counts.map(|c| c.inserted)),
        count("rows_replaced", counts.map(|c| c.replaced)),
        count("rows_present", counts.map(|c| c.already_present)),
        optional_long("rows_rejected", counts.map(|_| 0)),
        optional_long("credits", file.credits),
        parameter(
            "error",
            error.map_or(Value::IsNull(true), |e| Value::StringValue(e.to_owned())),
            None,
        ),
        timestamp("started_at", file.started_at),
    ]
}
