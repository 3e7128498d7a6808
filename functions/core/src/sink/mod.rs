//! Where loaded rows go: PostgreSQL over a TCP connection, or Aurora through the RDS Data
//! API. Both load a file in one transaction, staging its rows and storing them with the
//! statements of its dataset ([`LoadRow`]), and record the run in `ingest_runs`. Quotes:
//! the month partitions its rows need are created, each real CMC update is stored once per
//! UTC day observed (the earliest slot of the day winning), the assets are upserted.
//! Klines: each pair's minute is stored once, the first load winning.

mod data_api;
mod postgres;
mod sql;

pub use data_api::DataApiSink;
pub use postgres::PostgresSink;

use crate::alerts::credit_notice::CreditNotice;
use crate::alerts::evaluation::AlertMode;
use crate::csv_codec::DecodeError;
use crate::db::{Database, DbError};
use crate::layout::Dataset;
use crate::schema::Row;
use crate::slot::Slot;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::future::Future;
use std::time::Instant;

/// The object being loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    pub key: String,
    pub dataset: Dataset,
    pub slot: Slot,
    /// CMC credits the snapshot cost, from the object's metadata.
    pub credits: Option<i64>,
    pub started_at: DateTime<Utc>,
    /// When the invocation ends: retries stop in time to record the outcome.
    pub deadline: Option<Instant>,
    /// Whether the load's alert evaluation may fire (a replay is quiet unless asked).
    pub alerts: AlertMode,
    /// CoinMarketCap's credit notice from the object's metadata (`cmc-notice`), quotes
    /// only; it raises one operator alert per period.
    pub cmc_notice: Option<String>,
}

/// What loading one file did: `rows` = `inserted` + `replaced` + `already_present`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LoadCounts {
    /// Rows in the file.
    pub rows: u64,
    /// Rows whose CMC update was not yet stored for their UTC day.
    pub inserted: u64,
    /// Rows that took the place of a later slot's observation of the same update the same
    /// day (a file loaded after a later one of its day).
    pub replaced: u64,
    /// Rows whose CMC update was already stored for their day from this or an earlier slot
    /// (a reload, or an earlier slot of the day saw it).
    pub already_present: u64,
    /// Market alerts the load's evaluation fired (inserted into `alert_events`); left out
    /// of the JSON when none did.
    #[serde(skip_serializing_if = "is_zero")]
    pub alerts_fired: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

impl LoadCounts {
    /// The counts of a file of `rows` rows of which `inserted` were stored and `replaced`
    /// replaced a later observation; the rest were already present.
    pub fn new(rows: u64, inserted: u64, replaced: u64) -> LoadCounts {
        LoadCounts {
            rows,
            inserted,
            replaced,
            already_present: rows.saturating_sub(inserted + replaced),
            alerts_fired: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Loaded,
    /// The file is invalid; loading it again cannot help.
    Rejected,
    /// Something outside the file failed (database, network); a retry may succeed.
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Loaded => "loaded",
            RunStatus::Rejected => "rejected",
            RunStatus::Failed => "failed",
        }
    }
}

/// A row of `ingest_runs` for a load that did not commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRecord {
    pub file: FileInfo,
    pub status: RunStatus,
    pub error: String,
}

/// Why a file's rows could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The content breaks the CSV contract: loading it again cannot succeed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The bytes stopped coming (the connection to S3 was cut): a retry may succeed.
    #[error("reading the object failed: {0}")]
    Read(#[source] std::io::Error),
}

/// The database refused the file's content (SQLSTATE class 22, data exception, or 23,
/// integrity violation): loading it again cannot succeed.
#[derive(Debug, thiserror::Error)]
#[error("the database refused the file's content: {0}")]
pub struct ContentRefused(#[source] pub DbError);

/// Why a sink could not load a file or record a run.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The rows could not be read; [`SourceError`] says whether a retry may help.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The file cannot be stored as it is.
    #[error(transparent)]
    Refused(#[from] ContentRefused),
    /// The database failed (connection, server, locks, a commit of unknown outcome), not
    /// the file: a retry may succeed.
    #[error(transparent)]
    Database(#[from] DbError),
}

/// A dataset's row as the sinks load it: its columns and fields ([`Row`]) and the
/// statements that stage and store it.
pub trait LoadRow: Row + Send + Sync + 'static {
    fn statements() -> Statements;
}

/// The SQL that loads one dataset, run in this order in the file's transaction.
pub struct Statements {
    /// Creates the per-session staging table.
    pub create_staging: String,
    /// `COPY` of CSV data lines into the staging table.
    pub copy: String,
    /// Stages one row from named parameters, for sinks that cannot COPY.
    pub stage_row: String,
    /// Run after staging, without parameters; what they change is not counted.
    pub prepare: &'static [&'static str],
    /// Stores the staged rows not stored yet; takes `:s3_key`; affects the inserted rows.
    pub insert: String,
    /// Replaces stored rows with staged ones, after `insert`; takes `:s3_key`; affects the
    /// replaced rows. `None` where the first load of a row wins.
    pub replace: Option<String>,
    /// Evaluates the alert rules of the staged series after the rows are stored (migration
    /// V10); takes `:s3_key` and `:quiet`, answers the number fired as text. Run only when
    /// the file stored a new row.
    pub evaluate: &'static str,
}

/// Rows of one file, in batches, read as the sink asks for them so a file never has to
/// be held in memory whole.
pub trait RowSource: Send {
    type Row: LoadRow;

    /// The next batch, or `None` after the last row.
    fn next_batch(
        &mut self,
    ) -> impl Future<Output = Result<Option<Vec<Self::Row>>, SourceError>> + Send;
}

pub trait Sink: Send + Sync {
    /// Loads every row of `rows` in one transaction and records the run; on any error the
    /// database is left as it was.
    fn load_file<R: RowSource>(
        &self,
        file: &FileInfo,
        rows: &mut R,
    ) -> impl Future<Output = Result<LoadCounts, SinkError>> + Send;

    /// Records a load that did not commit.
    fn record_run(&self, run: &RunRecord) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// The number of alerts the evaluation answered (as text), or why the answer is not one.
fn alerts_fired(answer: Option<&str>) -> Result<u64, String> {
    answer
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| format!("the alert evaluation answered {answer:?}, not a count"))
}

/// The operator alert of the file's CoinMarketCap credit notice, unless the load is quiet.
fn credit_notice(file: &FileInfo) -> Option<CreditNotice> {
    if file.alerts.is_quiet() || file.dataset != Dataset::Quotes {
        return None;
    }
    file.cmc_notice
        .as_deref()
        .map(|notice| CreditNotice::new(notice, file.slot.start()))
}

/// The sink chosen at start-up (`DB_SINK`).
pub enum AnySink {
    Postgres(PostgresSink),
    DataApi(DataApiSink),
}

impl AnySink {
    /// The sink writing to `database`; `migrate` applies pending migrations on first use
    /// (PostgreSQL only: the Data API sink never runs them).
    pub fn new(database: Database, migrate: bool) -> AnySink {
        match database {
            Database::Postgres(pool) => AnySink::Postgres(PostgresSink::new(pool, migrate)),
            Database::DataApi(target) => AnySink::DataApi(DataApiSink::new(target)),
        }
    }
}

impl Sink for AnySink {
    async fn load_file<R: RowSource>(
        &self,
        file: &FileInfo,
        rows: &mut R,
    ) -> Result<LoadCounts, SinkError> {
        match self {
            AnySink::Postgres(sink) => sink.load_file(file, rows).await,
            AnySink::DataApi(sink) => sink.load_file(file, rows).await,
        }
    }

    async fn record_run(&self, run: &RunRecord) -> Result<(), SinkError> {
        match self {
            AnySink::Postgres(sink) => sink.record_run(run).await,
            AnySink::DataApi(sink) => sink.record_run(run).await,
        }
    }
}
