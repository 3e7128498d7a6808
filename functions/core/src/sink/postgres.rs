//! The PostgreSQL sink: binary-safe text COPY of the file into a staging table, then its
//! dataset's preparing statements (quotes: assets, month partitions) and de-duplicating
//! `INSERT … SELECT`s, all in one transaction.

use super::sql::INSERT_RUN;
use super::{alerts_fired, credit_notice};
use super::{
    ContentRefused, FileInfo, LoadCounts, LoadRow, RowSource, RunRecord, RunStatus, Sink, SinkError,
};
use crate::alerts::credit_notice::{INSERT_CREDIT_NOTICE, LABEL};
use crate::csv_codec::encode_rows_into;
use crate::db::sql::numbered;
use crate::db::{migrate, DbError, DbPool};
use bytes::Bytes;
use futures::SinkExt;
use tokio::sync::OnceCell;

pub struct PostgresSink {
    pool: DbPool,
    migrate: bool,
    migrated: OnceCell<()>,
}

/// A server error caused by the file's content (SQLSTATE class 22, data exception, or 23,
/// integrity violation) rejects the file: loading it again cannot succeed. Anything else
/// (connection, server, locks) is worth a retry.
fn failure(error: tokio_postgres::Error) -> SinkError {
    let refused = error
        .as_db_error()
        .is_some_and(|db| matches!(db.code().code().get(..2), Some("22" | "23")));
    let error = DbError::postgres(error);
    if refused {
        ContentRefused(error).into()
    } else {
        error.into()
    }
}

/// A failure beside the driver's own (applying migrations, encoding a batch for COPY).
fn other(error: impl std::error::Error + Send + Sync + 'static) -> DbError {
    DbError::new(format!("PostgreSQL: {error}"), error)
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

    async fn client(&self) -> Result<deadpool_postgres::Object, DbError> {
        let mut client = self.pool.get().await.map_err(DbError::pool)?;
        if self.migrate {
            self.migrated
                .get_or_try_init(|| async { migrate(&mut client).await.map(|_| ()).map_err(other) })
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
    ) -> Result<LoadCounts, SinkError> {
        let statements = R::Row::statements();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(DbError::postgres)?;
        tx.batch_execute(&statements.create_staging)
            .await
            .map_err(DbError::postgres)?;
        let copy = tx
            .copy_in::<_, Bytes>(&statements.copy)
            .await
            .map_err(DbError::postgres)?;
        futures::pin_mut!(copy);
        let mut total = 0u64;
        let mut buffer = Vec::with_capacity(64 * 1024);
        // A source error returns here, dropping the unfinished COPY (which aborts it) and
        // the transaction (which rolls back): nothing of the file is stored.
        while let Some(batch) = rows.next_batch().await? {
            buffer.clear();
            encode_rows_into(&batch, &mut buffer).map_err(other)?;
            total += batch.len() as u64;
            copy.send(Bytes::copy_from_slice(&buffer))
                .await
                .map_err(failure)?;
        }
        copy.finish().await.map_err(failure)?;
        for sql in statements.prepare {
            tx.execute(*sql, &[]).await.map_err(failure)?;
        }
        let inserted = tx
            .execute(&numbered(&statements.insert), &[&file.key])
            .await
            .map_err(failure)?;
        let replaced = match &statements.replace {
            Some(sql) => tx
                .execute(&numbered(sql), &[&file.key])
                .await
                .map_err(failure)?,
            None => 0,
        };
        let mut counts = LoadCounts::new(total, inserted, replaced);
        // After every row write: the evaluation locks rules, which must come after rows.
        if inserted > 0 {
            let quiet = file.alerts.is_quiet();
            let row = tx
                .query_one(&numbered(statements.evaluate), &[&file.key, &quiet])
                .await
                .map_err(failure)?;
            counts.alerts_fired = alerts_fired(row.get::<_, Option<String>>(0).as_deref())
                .map_err(|detail| {
                    DbError::new(
                        format!("PostgreSQL: {detail}"),
                        std::io::Error::other(detail),
                    )
                })?;
        }
        if let Some(notice) = credit_notice(file) {
            tx.execute(
                &numbered(INSERT_CREDIT_NOTICE),
                &[
                    &LABEL,
                    &notice.observed_at,
                    &notice.message,
                    &notice.dedupe_key,
                    &file.key,
                ],
            )
            .await
            .map_err(failure)?;
        }
        insert_run(&*tx, file, RunStatus::Loaded, Some(counts), None).await?;
        tx.commit().await.map_err(DbError::postgres)?;
        Ok(counts)
    }

    async fn record_run(&self, run: &RunRecord) -> Result<(), SinkError> {
        let client = self.client().await?;
        Ok(insert_run(&**client, &run.file, run.status, None, Some(&run.error)).await?)
    }
}

async fn insert_run(
    client: &impl tokio_postgres::GenericClient,
    file: &FileInfo,
    status: RunStatus,
    counts: Option<LoadCounts>,
    error: Option<&str>,
) -> Result<(), DbError> {
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
                &count(counts.map(|c| c.replaced)),
                &count(counts.map(|c| c.already_present)),
                &rejected,
                &file.credits.map(|c| c as i32),
                &error,
                &file.started_at,
            ],
        )
        .await
        .map_err(DbError::postgres)?;
    Ok(())
}
