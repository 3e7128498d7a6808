//! The PostgreSQL sink: binary-safe text COPY of the file into a staging table, then one
//! de-duplicating `INSERT … SELECT`, all in one transaction.

use super::sql::{copy_statement, create_staging_table, insert_quotes, INSERT_RUN, UPSERT_ASSETS};
use super::{
    FileInfo, LoadCounts, RowSource, RunRecord, RunStatus, Sink, SinkError, SinkFailure,
    SourceError,
};
use crate::csv_codec::encode_rows_into;
use crate::csv_codec::DecodeError;
use crate::db::sql::numbered;
use crate::db::DbPool;
use crate::db::{error_chain, migrate};
use bytes::Bytes;
use futures::SinkExt;
use tokio::sync::OnceCell;

pub struct PostgresSink {
    pool: DbPool,
    migrate: bool,
    migrated: OnceCell<()>,
}

fn db_error(error: impl std::fmt::Display) -> SinkError {
    SinkError(format!("PostgreSQL: {error}"))
}

fn chained(error: &dyn std::error::Error) -> SinkError {
    db_error(error_chain(error))
}

/// A server error caused by the file's content (SQLSTATE class 22, data exception, or 23,
/// integrity violation) rejects the file: loading it again cannot succeed. Anything else
/// (connection, server, locks) is worth a retry.
fn failure(error: tokio_postgres::Error) -> SinkFailure {
    let class = error
        .as_db_error()
        .map(|db| db.code().code().get(..2).unwrap_or("").to_owned());
    match class.as_deref() {
        Some("22" | "23") => SinkFailure::Source(SourceError::Decode(DecodeError::Database(
            pg_error(error).0,
        ))),
        _ => SinkFailure::Database(pg_error(error)),
    }
}

/// tokio-postgres prints "db error" for server errors; the server's message is the useful part.
fn pg_error(error: tokio_postgres::Error) -> SinkError {
    match error.as_db_error() {
        Some(db) => db_error(format!("{}: {}", db.code().code(), db.message())),
        None => chained(&error),
    }
}

impl PostgresSink {
    /// `migrate`: apply pending migrations on first use (what a cold start wants); off when
    /// migrations are applied by hand.
    pub fn new(pool: DbPool, migrate: bool) -> PostgresSink {
        PostgresSink {
            pool,
            migrate,
            migrated: OnceCell::new(),
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, SinkError> {
        let mut client = self.pool.get().await.map_err(|e| chained(&e))?;
        if self.migrate {
            self.migrated
                .get_or_try_init(|| async {
                    migrate(&mut client).await.map(|_| ()).map_err(db_error)
                })
                .await?;
        }
        Ok(client)
    }
}

impl Sink for PostgresSink {
    async fn load_file<R: RowSource>(
        &self,
        file: &FileInfo,
        rows: &mut R,
    ) -> Result<LoadCounts, SinkFailure> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        tx.batch_execute(&create_staging_table())
            .await
            .map_err(pg_error)?;
        let copy = tx
            .copy_in::<_, Bytes>(&copy_statement())
            .await
            .map_err(pg_error)?;
        futures::pin_mut!(copy);
        let mut total = 0u64;
        let mut buffer = Vec::with_capacity(64 * 1024);
        // A source error returns here, dropping the unfinished COPY (which aborts it) and
        // the transaction (which rolls back): nothing of the file is stored.
        while let Some(batch) = rows.next_batch().await? {
            buffer.clear();
            encode_rows_into(&batch, &mut buffer).map_err(db_error)?;
            total += batch.len() as u64;
            copy.send(Bytes::copy_from_slice(&buffer))
                .await
                .map_err(failure)?;
        }
        copy.finish().await.map_err(failure)?;
        tx.execute(UPSERT_ASSETS, &[]).await.map_err(failure)?;
        let inserted = tx
            .execute(&numbered(&insert_quotes()), &[&file.key])
            .await
            .map_err(failure)?;
        let counts = LoadCounts {
            rows: total,
            inserted,
            already_present: total - inserted,
        };
        insert_run(&*tx, file, RunStatus::Loaded, Some(counts), None).await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(counts)
    }

    async fn record_run(&self, run: &RunRecord) -> Result<(), SinkError> {
        let client = self.client().await?;
        insert_run(&**client, &run.file, run.status, None, Some(&run.error)).await
    }
}

async fn insert_run(
    client: &impl tokio_postgres::GenericClient,
    file: &FileInfo,
    status: RunStatus,
    counts: Option<LoadCounts>,
    error: Option<&str>,
) -> Result<(), SinkError> {
    let count = |value: Option<u64>| value.map(|v| v as i32);
    let rejected = counts.map(|_| 0i32);
    client
        .execute(
            &numbered(INSERT_RUN),
            &[
                &file.slot.start(),
                &file.dataset.name(),
                &file.key,
                &status.as_str(),
                &count(counts.map(|c| c.rows)),
                &count(counts.map(|c| c.inserted)),
                &count(counts.map(|c| c.already_present)),
                &rejected,
                &file.credits.map(|c| c as i32),
                &error,
                &file.started_at,
            ],
        )
        .await
        .map_err(pg_error)?;
    Ok(())
}
