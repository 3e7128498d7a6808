//! The Aurora Data API sink: the same staging-table transaction as the PostgreSQL sink,
//! driven over HTTPS with `BeginTransaction`, `BatchExecuteStatement` and
//! `CommitTransaction`, for Aurora clusters reached without a VPC connection.

use super::sql::{
    create_staging_table, insert_quotes, insert_staged_row, INSERT_RUN, UPSERT_ASSETS,
};
use super::{FileInfo, LoadCounts, RowSource, RunRecord, RunStatus, Sink, SinkError, SinkFailure};
use crate::csv_codec::format_timestamp;
use crate::quote::{Field, QuoteRow};
use crate::schema::QUOTE_COLUMNS;
use aws_sdk_rdsdata::types::{Field as Value, SqlParameter, TypeHint};
use aws_sdk_rdsdata::Client;

/// The Data API refuses requests over 4 MiB; staying well under it leaves room for the
/// JSON framing the size estimate does not count.
const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// Parameter sets per `BatchExecuteStatement`, whatever their size.
const MAX_BATCH_ROWS: usize = 1000;

#[derive(Clone, Debug)]
pub struct DataApiSink {
    client: Client,
    cluster_arn: String,
    secret_arn: String,
    database: String,
}

fn api_error<E>(error: aws_sdk_rdsdata::error::SdkError<E>) -> SinkError
where
    E: std::error::Error + 'static,
{
    SinkError(format!(
        "Data API: {}",
        aws_sdk_rdsdata::error::DisplayErrorContext(&error)
    ))
}

impl DataApiSink {
    pub fn new(
        client: Client,
        cluster_arn: String,
        secret_arn: String,
        database: String,
    ) -> DataApiSink {
        DataApiSink {
            client,
            cluster_arn,
            secret_arn,
            database,
        }
    }

    async fn execute(
        &self,
        transaction: Option<&str>,
        sql: &str,
        parameters: Vec<SqlParameter>,
    ) -> Result<i64, SinkError> {
        let output = self
            .client
            .execute_statement()
            .resource_arn(&self.cluster_arn)
            .secret_arn(&self.secret_arn)
            .database(&self.database)
            .set_transaction_id(transaction.map(str::to_owned))
            .sql(sql)
            .set_parameters(Some(parameters))
            .send()
            .await
            .map_err(api_error)?;
        Ok(output.number_of_records_updated)
    }

    async fn begin(&self) -> Result<String, SinkError> {
        let begun = self
            .client
            .begin_transaction()
            .resource_arn(&self.cluster_arn)
            .secret_arn(&self.secret_arn)
            .database(&self.database)
            .send()
            .await
            .map_err(api_error)?;
        Ok(begun.transaction_id.unwrap_or_default())
    }

    async fn commit(&self, transaction: &str) -> Result<(), SinkError> {
        self.client
            .commit_transaction()
            .resource_arn(&self.cluster_arn)
            .secret_arn(&self.secret_arn)
            .transaction_id(transaction)
            .send()
            .await
            .map_err(api_error)?;
        Ok(())
    }

    async fn stage(&self, transaction: &str, rows: &[QuoteRow]) -> Result<(), SinkError> {
        let sql = insert_staged_row();
        let mut sets: Vec<Vec<SqlParameter>> = Vec::new();
        let mut bytes = 0;
        for row in rows {
            let set = row_parameters(row);
            bytes += estimated_size(&set);
            sets.push(set);
            if sets.len() >= MAX_BATCH_ROWS || bytes >= MAX_BATCH_BYTES {
                self.batch(transaction, &sql, std::mem::take(&mut sets))
                    .await?;
                bytes = 0;
            }
        }
        if !sets.is_empty() {
            self.batch(transaction, &sql, sets).await?;
        }
        Ok(())
    }

    async fn batch(
        &self,
        transaction: &str,
        sql: &str,
        sets: Vec<Vec<SqlParameter>>,
    ) -> Result<(), SinkError> {
        self.client
            .batch_execute_statement()
            .resource_arn(&self.cluster_arn)
            .secret_arn(&self.secret_arn)
            .database(&self.database)
            .transaction_id(transaction)
            .sql(sql)
            .set_parameter_sets(Some(sets))
            .send()
            .await
            .map_err(api_error)?;
        Ok(())
    }

    async fn load_in_transaction<R: RowSource>(
        &self,
        transaction: &str,
        file: &FileInfo,
        rows: &mut R,
    ) -> Result<LoadCounts, SinkFailure> {
        self.execute(Some(transaction), "SET LOCAL TIME ZONE 'UTC'", vec![])
            .await?;
        self.execute(Some(transaction), &create_staging_table(), vec![])
            .await?;
        let mut total = 0u64;
        while let Some(batch) = rows.next_batch().await? {
            self.stage(transaction, &batch).await?;
            total += batch.len() as u64;
        }
        self.execute(Some(transaction), UPSERT_ASSETS, vec![])
            .await?;
        let inserted = self
            .execute(
                Some(transaction),
                &insert_quotes(),
                vec![text("s3_key", &file.key)],
            )
            .await? as u64;
        let counts = LoadCounts {
            rows: total,
            inserted,
            already_present: total.saturating_sub(inserted),
        };
        self.execute(
            Some(transaction),
            INSERT_RUN,
            run_parameters(file, RunStatus::Loaded, Some(counts), None),
        )
        .await?;
        Ok(counts)
    }
}

impl Sink for DataApiSink {
    async fn load_file<R: RowSource>(
        &self,
        file: &FileInfo,
        rows: &mut R,
    ) -> Result<LoadCounts, SinkFailure> {
        let transaction = self.begin().await?;
        match self.load_in_transaction(&transaction, file, rows).await {
            Ok(counts) => {
                self.commit(&transaction).await?;
                Ok(counts)
            }
            Err(failure) => {
                // The Data API also rolls back a transaction left idle for three minutes;
                // rolling back now frees its locks at once.
                let rollback = self
                    .client
                    .rollback_transaction()
                    .resource_arn(&self.cluster_arn)
                    .secret_arn(&self.secret_arn)
                    .transaction_id(&transaction)
                    .send()
                    .await;
                if let Err(error) = rollback {
                    tracing::warn!(key = file.key, error = %api_error(error), "rollback failed; the Data API will time the transaction out");
                }
                Err(failure)
            }
        }
    }

    async fn record_run(&self, run: &RunRecord) -> Result<(), SinkError> {
        // In a transaction of its own, so the TIMESTAMP parameters are read in UTC whatever
        // the cluster's time zone.
        let transaction = self.begin().await?;
        self.execute(Some(&transaction), "SET LOCAL TIME ZONE 'UTC'", vec![])
            .await?;
        let parameters = run_parameters(&run.file, run.status, None, Some(&run.error));
        self.execute(Some(&transaction), INSERT_RUN, parameters)
            .await?;
        self.commit(&transaction).await
    }
}

fn parameter(name: &str, value: Value, hint: Option<TypeHint>) -> SqlParameter {
    SqlParameter::builder()
        .name(name)
        .value(value)
        .set_type_hint(hint)
        .build()
}

fn text(name: &str, value: &str) -> SqlParameter {
    parameter(name, Value::StringValue(value.to_owned()), None)
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

fn row_parameters(row: &QuoteRow) -> Vec<SqlParameter> {
    row.fields()
        .iter()
        .zip(QUOTE_COLUMNS)
        .map(|(field, column)| match field {
            Field::Timestamp(at) => timestamp(column.name, *at),
            Field::Integer(value) => optional_long(column.name, *value),
            Field::Text(value) => text(column.name, value),
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
        text("dataset", file.dataset.name()),
        text("s3_key", &file.key),
        text("status", status.as_str()),
        count("rows_in_file", counts.map(|c| c.rows)),
        count("rows_inserted", counts.map(|c| c.inserted)),
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
