//! Loading raw objects into the database: one object (from an S3 notification), or every
//! object of a dataset and date range (a replay, after an outage). The key says the
//! dataset: `quotes` snapshots go to `quotes`, `klines` slot and archive objects to
//! `klines_1m`. Each file loads whole, exactly once, or not at all.

mod csv_rows;

pub use csv_rows::{CsvRow, CsvRows};

use crate::alerts::credit_notice::{self, METADATA_KEY};
use crate::alerts::evaluation::AlertMode;
use crate::binance::Kline;
use crate::csv_codec::DecodeError;
use crate::db::DbError;
use crate::layout::{day_prefix, parse_archive_day_key, parse_object_key, Dataset};
use crate::quote::QuoteRow;
use crate::sink::{
    ContentRefused, FileInfo, LoadCounts, RunRecord, RunStatus, Sink, SinkError, SourceError,
};
use crate::store::{ObjectReader, ReadError};
use chrono::{NaiveDate, Utc};
use futures::StreamExt;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// Rows handed to the sink at a time: large enough for efficient COPY chunks and Data API
/// batches, small enough that memory stays flat however large the file.
pub const BATCH_ROWS: usize = 1000;

/// A replay covers at most this many days per event; split longer ranges.
pub const MAX_REPLAY_DAYS: i64 = 366;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("s3://{bucket}/{key} was rejected, nothing of it was loaded: {source}")]
    Rejected {
        bucket: String,
        key: String,
        source: Rejection,
    },
    #[error("{0}; nothing was loaded")]
    Missing(ReadError),
    #[error(transparent)]
    Read(ReadError),
    #[error("loading s3://{bucket}/{key} failed and was rolled back: {source}")]
    Database {
        bucket: String,
        key: String,
        source: DbError,
    },
}

/// Why a file was rejected; loading it again cannot succeed.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Refused(#[from] ContentRefused),
}

impl LoadError {
    pub fn kind(&self) -> LoadErrorKind {
        match self {
            LoadError::Rejected { .. } => LoadErrorKind::FileRejected,
            LoadError::Missing(_) => LoadErrorKind::ObjectMissing,
            LoadError::Read(_) => LoadErrorKind::S3ReadFailed,
            LoadError::Database { .. } => LoadErrorKind::DatabaseFailed,
        }
    }

    /// Whether loading the same object again may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind().is_transient()
    }
}

/// The class of a [`LoadError`]: whether a retry may help, and a stable name for it (the
/// Lambda error type, and `error_type` in a replay's summary).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadErrorKind {
    /// The file is invalid or the database refused its content.
    FileRejected,
    /// The object is not in the bucket (deleted, or a notification for a key never written).
    ObjectMissing,
    /// S3 could not be read; the object is there.
    S3ReadFailed,
    /// The database failed; the file is fine.
    DatabaseFailed,
}

impl LoadErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LoadErrorKind::FileRejected => "FileRejected",
            LoadErrorKind::ObjectMissing => "ObjectMissing",
            LoadErrorKind::S3ReadFailed => "S3ReadFailed",
            LoadErrorKind::DatabaseFailed => "DatabaseFailed",
        }
    }

    /// Whether loading the same object again may succeed.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            LoadErrorKind::S3ReadFailed | LoadErrorKind::DatabaseFailed
        )
    }
}

impl Serialize for LoadErrorKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// What happened to one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LoadOutcome {
    Loaded {
        key: String,
        #[serde(flatten)]
        counts: LoadCounts,
    },
    /// Not a snapshot this layout writes (other prefix, not `.csv`); left alone.
    Ignored { key: String },
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DayCounts {
    pub files: u64,
    pub loaded: u64,
    pub rows: u64,
    pub inserted: u64,
    pub replaced: u64,
    pub already_present: u64,
    pub failed: u64,
    /// Alerts fired; left out of the JSON when none did (a quiet replay fires none).
    #[serde(skip_serializing_if = "is_zero")]
    pub alerts_fired: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FailedFile {
    pub key: String,
    pub error_type: LoadErrorKind,
    pub error: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplaySummary {
    pub dataset: &'static str,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Per day (`YYYY-MM-DD`), in date order; days without objects are listed with zeros.
    pub days: BTreeMap<NaiveDate, DayCounts>,
    pub total: DayCounts,
    pub failures: Vec<FailedFile>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("replay range {from}..{to} is empty: \"to\" is before \"from\"")]
    Backwards { from: NaiveDate, to: NaiveDate },
    #[error("replay range {from}..{to} spans {days} days; at most {MAX_REPLAY_DAYS} per event, split it")]
    TooLong {
        from: NaiveDate,
        to: NaiveDate,
        days: i64,
    },
    #[error("listing {prefix}: {source}")]
    List { prefix: String, source: ReadError },
}

pub struct Loader<O, S> {
    objects: O,
    sink: S,
    concurrency: usize,
}

impl<O: ObjectReader, S: Sink> Loader<O, S> {
    /// `concurrency`: files loaded at once during a replay (and database connections used).
    pub fn new(objects: O, sink: S, concurrency: usize) -> Loader<O, S> {
        Loader {
            objects,
            sink,
            concurrency: concurrency.max(1),
        }
    }

    /// Loads one object. Keys this layout does not write are ignored; a file with any
    /// invalid row is rejected whole and recorded in `ingest_runs`. `deadline`: when the
    /// invocation ends (retries inside the sink stop before it). Alerts fire, but for an
    /// archive day: a backfill writes history, which is evaluated quietly like a replay's
    /// (its files load in any order, and days-old crossings are no news).
    pub async fn load_object(
        &self,
        bucket: &str,
        key: &str,
        deadline: Option<Instant>,
    ) -> Result<LoadOutcome, LoadError> {
        let alerts = if parse_archive_day_key(key).is_some() {
            AlertMode::Quiet
        } else {
            AlertMode::Fire
        };
        self.load_object_with(bucket, key, deadline, alerts).await
    }

    /// [`Loader::load_object`], its alert evaluation in `alerts` mode.
    pub async fn load_object_with(
        &self,
        bucket: &str,
        key: &str,
        deadline: Option<Instant>,
        alerts: AlertMode,
    ) -> Result<LoadOutcome, LoadError> {
        let Some((dataset, slot)) = parse_object_key(key) else {
            tracing::info!(bucket, key, "not a coinlake snapshot key; ignored");
            return Ok(LoadOutcome::Ignored {
                key: key.to_owned(),
            });
        };
        let mut file = FileInfo {
            key: key.to_owned(),
            dataset,
            slot,
            credits: None,
            started_at: Utc::now(),
            deadline,
            alerts,
            cmc_notice: None,
        };
        let opened = match self.objects.open(bucket, key).await {
            Ok(opened) => opened,
            Err(error @ ReadError::NotFound { .. }) => {
                self.record(&file, RunStatus::Rejected, &error.to_string())
                    .await;
                return Err(LoadError::Missing(error));
            }
            Err(error) => return Err(LoadError::Read(error)),
        };
        file.credits = opened.metadata.get("credits").and_then(|c| c.parse().ok());
        if dataset == Dataset::Quotes {
            // Written by ingest already sanitised; cleaned again, as anyone can write metadata.
            file.cmc_notice = opened
                .metadata
                .get(METADATA_KEY)
                .and_then(|notice| credit_notice::metadata_value(notice));
        }
        let loaded = match dataset {
            Dataset::Quotes => {
                let mut rows = CsvRows::<_, QuoteRow>::new(opened.body);
                self.sink.load_file(&file, &mut rows).await
            }
            Dataset::Klines => {
                let mut rows = CsvRows::<_, Kline>::new(opened.body);
                self.sink.load_file(&file, &mut rows).await
            }
        };
        match loaded {
            Ok(counts) => {
                tracing::info!(
                    key,
                    dataset = dataset.name(),
                    rows = counts.rows,
                    inserted = counts.inserted,
                    replaced = counts.replaced,
                    already_present = counts.already_present,
                    alerts_fired = counts.alerts_fired,
                    quiet = file.alerts.is_quiet(),
                    cmc_notice = file.cmc_notice.as_deref(),
                    "file loaded"
                );
                Ok(LoadOutcome::Loaded {
                    key: key.to_owned(),
                    counts,
                })
            }
            Err(SinkError::Source(SourceError::Decode(source))) => {
                Err(self.rejected(&file, bucket, source.into()).await)
            }
            Err(SinkError::Refused(refused)) => {
                Err(self.rejected(&file, bucket, refused.into()).await)
            }
            Err(SinkError::Source(SourceError::Read(cause))) => {
                Err(LoadError::Read(ReadError::Other {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    reason: cause.to_string(),
                    source: Box::new(cause),
                }))
            }
            Err(SinkError::Database(source)) => {
                let error = LoadError::Database {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    source,
                };
                self.record(&file, RunStatus::Failed, &error.to_string())
                    .await;
                Err(error)
            }
        }
    }

    /// The rejection, recorded in `ingest_runs`.
    async fn rejected(&self, file: &FileInfo, bucket: &str, source: Rejection) -> LoadError {
        let error = LoadError::Rejected {
            bucket: bucket.to_owned(),
            key: file.key.clone(),
            source,
        };
        self.record(file, RunStatus::Rejected, &error.to_string())
            .await;
        error
    }

    /// Best effort: the database may be the thing that failed.
    async fn record(&self, file: &FileInfo, status: RunStatus, error: &str) {
        let run = RunRecord {
            file: file.clone(),
            status,
            error: error.to_owned(),
        };
        if let Err(e) = self.sink.record_run(&run).await {
            tracing::warn!(key = file.key, error = %e, "could not record the failed load in ingest_runs");
        }
    }

    /// Loads every snapshot of `dataset` from `from` to `to` (inclusive) in `bucket`.
    /// `alerts`: a replay of old data is [`AlertMode::Quiet`] unless asked otherwise; one
    /// that fires loads its files one at a time in time order.
    pub async fn replay(
        &self,
        bucket: &str,
        dataset: Dataset,
        from: NaiveDate,
        to: NaiveDate,
        deadline: Option<Instant>,
        alerts: AlertMode,
    ) -> Result<ReplaySummary, ReplayError> {
        let days = (to - from).num_days() + 1;
        if days < 1 {
            return Err(ReplayError::Backwards { from, to });
        }
        if days > MAX_REPLAY_DAYS {
            return Err(ReplayError::TooLong { from, to, days });
        }
        let mut summary = ReplaySummary {
            dataset: dataset.name(),
            from,
            to,
            days: BTreeMap::new(),
            total: DayCounts::default(),
            failures: vec![],
        };
        let mut keys = Vec::new();
        for day in from.iter_days().take(days as usize) {
            let prefix = day_prefix(dataset, day);
            let listed = self
                .objects
                .list(bucket, &prefix)
                .await
                .map_err(|source| ReplayError::List { prefix, source })?;
            let day_keys: Vec<String> = listed
                .into_iter()
                .filter(|k| parse_object_key(k).is_some())
                .collect();
            summary.days.insert(
                day,
                DayCounts {
                    files: day_keys.len() as u64,
                    ..DayCounts::default()
                },
            );
            keys.extend(day_keys.into_iter().map(|k| (day, k)));
        }
        // Alerts fire at crossings in time order, and an observation evaluated after a later
        // one is late and skipped: a replay that fires loads its files one at a time, oldest
        // key first (a key's name sorts by its slot). A quiet one fires nothing and may race.
        let concurrency = if alerts.is_quiet() {
            self.concurrency
        } else {
            keys.sort();
            1
        };
        tracing::info!(bucket, %from, %to, files = keys.len(), concurrency, quiet = alerts.is_quiet(), "replay started");

        let mut results = futures::stream::iter(keys)
            .map(|(day, key)| async move {
                let result = self.load_object_with(bucket, &key, deadline, alerts).await;
                (day, key, result)
            })
            .buffer_unordered(concurrency);
        while let Some((day, key, result)) = results.next().await {
            let counts = summary.days.entry(day).or_default();
            match result {
                Ok(LoadOutcome::Loaded { counts: loaded, .. }) => {
                    counts.loaded += 1;
                    counts.rows += loaded.rows;
                    counts.inserted += loaded.inserted;
                    counts.replaced += loaded.replaced;
                    counts.already_present += loaded.already_present;
                    counts.alerts_fired += loaded.alerts_fired;
                }
                Ok(LoadOutcome::Ignored { .. }) => {}
                Err(error) => {
                    counts.failed += 1;
                    summary.failures.push(FailedFile {
                        key,
                        error_type: error.kind(),
                        error: error.to_string(),
                    });
                }
            }
        }
        for day in summary.days.values() {
            let total = &mut summary.total;
            total.files += day.files;
            total.loaded += day.loaded;
            total.rows += day.rows;
            total.inserted += day.inserted;
            total.replaced += day.replaced;
            total.already_present += day.already_present;
            total.failed += day.failed;
            total.alerts_fired += day.alerts_fired;
        }
        summary.failures.sort_by(|a, b| a.key.cmp(&b.key));
        tracing::info!(bucket, %from, %to, total = ?summary.total, "replay finished");
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_kind_serialises_as_its_lambda_error_type() {
        for kind in [
            LoadErrorKind::FileRejected,
            LoadErrorKind::ObjectMissing,
            LoadErrorKind::S3ReadFailed,
            LoadErrorKind::DatabaseFailed,
        ] {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::from(kind.as_str())
            );
        }
        assert!(!LoadErrorKind::FileRejected.is_transient());
        assert!(!LoadErrorKind::ObjectMissing.is_transient());
        assert!(LoadErrorKind::S3ReadFailed.is_transient());
        assert!(LoadErrorKind::DatabaseFailed.is_transient());
    }
}
