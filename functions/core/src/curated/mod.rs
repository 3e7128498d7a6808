//! The curated layer: every raw object of a UTC day compacted into one Parquet file of
//! de-duplicated quotes (silver) and one of daily candles (gold).
//!
//! A day's objects are read through the same checks as a load (header, every field), held
//! compactly ([`table`]), reduced to one row per `(cmc_id, quote_currency, last_updated)` —
//! the earliest slot of the day wins, whatever order the objects arrived in — sorted, and
//! written whole with one PUT per file, so a reader sees the old day or the new one, never a
//! part. The same raw objects always give the same bytes.

pub mod ohlc;
pub mod parquet;
pub mod table;

use crate::layout::{curated_key, day_prefix, parse_object_key, CuratedTable, Dataset};
use crate::load::CsvRows;
use crate::sink::{RowSource, SourceError};
use crate::store::{Listed, ObjectMeta, ObjectReader, ObjectStore, ReadError, StoreError};
use chrono::NaiveDate;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use std::time::{Duration, Instant};
use table::DayTable;

/// A backfill covers at most this many days per event; split longer ranges.
pub const MAX_COMPACT_DAYS: i64 = 366;

const CONTENT_TYPE: &str = "application/vnd.apache.parquet";

/// A day is not started with less time than this left: a listings day takes about 16 s on
/// the benchmark machine, and S3 in AWS is slower than loopback; the margin keeps a day from
/// being cut off by the function's timeout half way (it would be redone, but the time lost).
pub const DAY_TIME_MARGIN: Duration = Duration::from_secs(120);

/// The silver object's metadata naming the raw objects it was built from.
const SOURCE_METADATA: &str = "raw-listing";

/// Why a day could not be compacted. Nothing was written for it: the curated objects of
/// the day, if any, are the previous compaction's.
#[derive(Debug, thiserror::Error)]
pub enum DayError {
    #[error("{day}: listing {prefix} failed: {source}")]
    List {
        day: NaiveDate,
        prefix: String,
        source: ReadError,
    },
    #[error("{day}: s3://{bucket}/{key} was listed but is gone; the day was not compacted")]
    Missing {
        day: NaiveDate,
        bucket: String,
        key: String,
    },
    #[error("{day}: s3://{bucket}/{key} is rejected, so the day was not compacted: {reason}")]
    Rejected {
        day: NaiveDate,
        bucket: String,
        key: String,
        reason: String,
    },
    #[error("{day}: {source}")]
    Read { day: NaiveDate, source: ReadError },
    #[error("{day}: {source}")]
    Encode {
        day: NaiveDate,
        source: parquet::EncodeError,
    },
    #[error("{day}: {source}")]
    Write { day: NaiveDate, source: StoreError },
}

impl DayError {
    pub fn day(&self) -> NaiveDate {
        match self {
            DayError::List { day, .. }
            | DayError::Missing { day, .. }
            | DayError::Rejected { day, .. }
            | DayError::Read { day, .. }
            | DayError::Encode { day, .. }
            | DayError::Write { day, .. } => *day,
        }
    }

    /// A stable name for the failure, and whether compacting again may succeed.
    pub fn kind(&self) -> (&'static str, bool) {
        match self {
            DayError::List { .. } | DayError::Read { .. } => ("S3ReadFailed", true),
            DayError::Write { .. } => ("S3WriteFailed", true),
            // Another compaction after the object is restored (or its day replayed) works.
            DayError::Missing { .. } => ("ObjectMissing", false),
            DayError::Rejected { .. } => ("ObjectRejected", false),
            DayError::Encode { .. } => ("EncodeFailed", false),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RangeError {
    #[error("compaction range {from}..{to} is empty: \"to\" is before \"from\"")]
    Backwards { from: NaiveDate, to: NaiveDate },
    #[error("compaction range {from}..{to} spans {days} days; at most {MAX_COMPACT_DAYS} per event, split it")]
    TooLong {
        from: NaiveDate,
        to: NaiveDate,
        days: i64,
    },
    #[error("{to} is not over yet (today is {today}, UTC): only past days are compacted; raw objects serve the current day")]
    NotOver { to: NaiveDate, today: NaiveDate },
    #[error("the {dataset} dataset is not compacted: only \"quotes\" has a curated layer; query {dataset} through its raw CSV table")]
    NotCurated { dataset: Dataset },
}

/// What compacting one day did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DaySummary {
    pub day: NaiveDate,
    /// `compacted`; `up_to_date` when the day's files were built from exactly the raw
    /// objects there are now (nothing is read or written); `empty` when the day has no raw
    /// objects (nothing is written).
    pub status: &'static str,
    pub objects: u64,
    pub rows_read: u64,
    pub rows: u64,
    pub duplicates: u64,
    pub candles: u64,
    pub key: Option<String>,
    pub ohlc_key: Option<String>,
    pub bytes: u64,
    /// Keys under the day's prefix that this layout did not write: left alone, listed here.
    pub ignored: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FailedDay {
    pub day: NaiveDate,
    pub error_type: &'static str,
    pub retryable: bool,
    pub error: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CompactSummary {
    pub dataset: &'static str,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub days: Vec<DaySummary>,
    pub failures: Vec<FailedDay>,
    /// Days not started because the invocation's deadline was near: the same request sent
    /// again carries on, skipping the days already up to date.
    pub unfinished: Vec<NaiveDate>,
}

/// What a raw object's arrival led to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LateObjectOutcome {
    /// Its day was compacted before it arrived, and has been compacted again.
    Recompacted { key: String, day: DaySummary },
    /// Nothing to do, and why.
    Skipped { key: String, reason: String },
}

pub struct Compactor<R, W> {
    objects: R,
    store: W,
    days_in_parallel: usize,
    objects_in_parallel: usize,
}

impl<R: ObjectReader, W: ObjectStore> Compactor<R, W> {
    /// Reads raw objects with `objects` from `store`'s bucket, where the curated objects are
    /// written. `days_in_parallel` bounds memory: each day in flight holds its rows.
    pub fn new(
        objects: R,
        store: W,
        days_in_parallel: usize,
        objects_in_parallel: usize,
    ) -> Compactor<R, W> {
        Compactor {
            objects,
            store,
            days_in_parallel: days_in_parallel.max(1),
            objects_in_parallel: objects_in_parallel.max(1),
        }
    }

    fn bucket(&self) -> &str {
        self.store.bucket()
    }

    /// Compacts every day from `from` to `to` (inclusive), all of them before `today`;
    /// `force` rebuilds days that are up to date. A failed day does not stop the others; it
    /// is listed in the summary's failures. No day is started within [`DAY_TIME_MARGIN`] of
    /// `deadline`: those are listed as unfinished.
    pub async fn compact_range(
        &self,
        dataset: Dataset,
        (from, to): (NaiveDate, NaiveDate),
        today: NaiveDate,
        force: bool,
        deadline: Option<Instant>,
    ) -> Result<CompactSummary, RangeError> {
        // The curated tables, their Parquet schema and the day's reduction are the quotes'.
        if dataset != Dataset::Quotes {
            return Err(RangeError::NotCurated { dataset });
        }
        let days = (to - from).num_days() + 1;
        if days < 1 {
            return Err(RangeError::Backwards { from, to });
        }
        if days > MAX_COMPACT_DAYS {
            return Err(RangeError::TooLong { from, to, days });
        }
        if to >= today {
            return Err(RangeError::NotOver { to, today });
        }
        tracing::info!(bucket = self.bucket(), %from, %to, days_in_parallel = self.days_in_parallel, "compaction started");
        let started = |day: NaiveDate| async move {
            let time_left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if time_left.is_some_and(|left| left < DAY_TIME_MARGIN) {
                return Err(day);
            }
            Ok(self.compact_day(dataset, day, force).await)
        };
        let mut results: Vec<Result<Result<DaySummary, DayError>, NaiveDate>> =
            futures::stream::iter(from.iter_days().take(days as usize))
                .map(started)
                .buffer_unordered(self.days_in_parallel)
                .collect()
                .await;
        results.sort_by_key(|r| match r {
            Ok(Ok(summary)) => summary.day,
            Ok(Err(error)) => error.day(),
            Err(day) => *day,
        });
        let mut summary = CompactSummary {
            dataset: dataset.name(),
            from,
            to,
            days: vec![],
            failures: vec![],
            unfinished: vec![],
        };
        for result in results {
            match result {
                Err(day) => summary.unfinished.push(day),
                Ok(Ok(day)) => summary.days.push(day),
                Ok(Err(error)) => {
                    let (error_type, retryable) = error.kind();
                    summary.failures.push(FailedDay {
                        day: error.day(),
                        error_type,
                        retryable,
                        error: error.to_string(),
                    });
                }
            }
        }
        tracing::info!(bucket = self.bucket(), %from, %to, done = summary.days.len(), failed = summary.failures.len(), unfinished = summary.unfinished.len(), "compaction finished");
        Ok(summary)
    }

    /// Recompacts the day of a raw object that arrived after its day was compacted (unless
    /// the day's files already hold it); any other object is left to the daily run.
    pub async fn on_raw_object(
        &self,
        bucket: &str,
        key: &str,
        today: NaiveDate,
    ) -> Result<LateObjectOutcome, DayError> {
        let skipped = |reason: String| LateObjectOutcome::Skipped {
            key: key.to_owned(),
            reason,
        };
        if bucket != self.bucket() {
            return Ok(skipped(format!(
                "the object is in bucket {bucket}, not {}",
                self.bucket()
            )));
        }
        let Some((dataset, slot)) = parse_object_key(key) else {
            return Ok(skipped("not a raw snapshot key".to_owned()));
        };
        if dataset != Dataset::Quotes {
            return Ok(skipped(format!(
                "the {dataset} dataset is not compacted; only quotes objects are"
            )));
        }
        let day = slot.start().date_naive();
        if day >= today {
            return Ok(skipped(format!(
                "{day} is not over; the daily compaction will read the object"
            )));
        }
        let silver = curated_key(CuratedTable::Quotes, day);
        let existing = self
            .objects
            .stat(bucket, &silver)
            .await
            .map_err(|source| DayError::Read { day, source })?;
        if existing.is_none() {
            return Ok(skipped(format!(
                "{day} has not been compacted yet; its compaction will read the object"
            )));
        }
        let summary = self.compact_day(dataset, day, false).await?;
        if summary.status == "up_to_date" {
            return Ok(skipped(format!(
                "{silver} was built from the day's objects as they are now, this one included"
            )));
        }
        tracing::info!(key, %day, "a raw object arrived after its day was compacted; the day was compacted again");
        Ok(LateObjectOutcome::Recompacted {
            key: key.to_owned(),
            day: summary,
        })
    }

    /// Compacts one day: reads all of its raw objects, then writes the gold file and the
    /// silver file. Nothing is written if any object cannot be read. Unless `force`, a day
    /// whose silver file was built from exactly the raw objects listed now (same keys,
    /// sizes and dates) is left as it is.
    pub async fn compact_day(
        &self,
        dataset: Dataset,
        day: NaiveDate,
        force: bool,
    ) -> Result<DaySummary, DayError> {
        let bucket = self.bucket();
        let prefix = day_prefix(dataset, day);
        let listed = self
            .objects
            .list_dated(bucket, &prefix)
            .await
            .map_err(|source| DayError::List {
                day,
                prefix: prefix.clone(),
                source,
            })?;
        let (sources, ignored): (Vec<Listed>, Vec<Listed>) = listed
            .into_iter()
            .partition(|l| parse_object_key(&l.key).is_some_and(|(d, _)| d == dataset));
        let ignored: Vec<String> = ignored.into_iter().map(|l| l.key).collect();
        let fingerprint = fingerprint(&sources);
        let keys: Vec<String> = sources.into_iter().map(|l| l.key).collect();
        for key in &ignored {
            tracing::warn!(key, %day, "not a raw snapshot key; left out of the compaction");
        }
        let mut summary = DaySummary {
            day,
            status: "empty",
            objects: keys.len() as u64,
            rows_read: 0,
            rows: 0,
            duplicates: 0,
            candles: 0,
            key: None,
            ohlc_key: None,
            bytes: 0,
            ignored,
        };
        if keys.is_empty() {
            tracing::info!(%day, "no raw objects; nothing to compact");
            return Ok(summary);
        }
        let silver_key = curated_key(CuratedTable::Quotes, day);
        if !force && self.built_from(day, &silver_key, &fingerprint).await? {
            tracing::info!(%day, "the day's files were built from these raw objects; left as they are");
            summary.status = "up_to_date";
            summary.key = Some(silver_key);
            summary.ohlc_key = Some(curated_key(CuratedTable::Ohlc1d, day));
            return Ok(summary);
        }

        let mut table = DayTable::default();
        let mut reads = futures::stream::iter(keys.iter())
            .map(|key| self.read_object(day, key))
            .buffer_unordered(self.objects_in_parallel);
        while let Some(rows) = reads.try_next().await? {
            for (position, row) in rows.1.iter().enumerate() {
                table
                    .push(row, position as u32)
                    .map_err(|e| rejected(day, bucket, rows.0, e))?;
            }
        }
        drop(reads);

        let curated = table.finish();
        let day_start = day
            .and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp_millis());
        let candles = ohlc::daily_candles(&curated, day_start);
        let provenance = vec![
            ("coinlake.day".to_owned(), day.to_string()),
            ("coinlake.raw_objects".to_owned(), keys.len().to_string()),
            (
                "coinlake.rows_read".to_owned(),
                curated.rows_read().to_string(),
            ),
        ];
        let encode = |source| DayError::Encode { day, source };
        let silver = encode_quotes(&curated, provenance.clone()).map_err(encode)?;
        let gold = encode_candles(&candles, provenance).map_err(encode)?;

        summary.status = "compacted";
        summary.rows_read = curated.rows_read() as u64;
        summary.rows = curated.len() as u64;
        summary.duplicates = summary.rows_read - summary.rows;
        summary.candles = candles.len() as u64;
        summary.bytes = silver.len() as u64;
        drop(candles);
        drop(curated);

        let meta = |rows: u64| ObjectMeta {
            content_type: CONTENT_TYPE,
            metadata: vec![
                ("rows".to_owned(), rows.to_string()),
                ("raw-objects".to_owned(), keys.len().to_string()),
                (SOURCE_METADATA.to_owned(), fingerprint.clone()),
            ],
        };
        // Gold first: once the silver object exists (what a late object's check looks at),
        // its candles do too.
        let ohlc_key = curated_key(CuratedTable::Ohlc1d, day);
        self.store
            .put(&ohlc_key, gold, meta(summary.candles))
            .await
            .map_err(|source| DayError::Write { day, source })?;
        let key = curated_key(CuratedTable::Quotes, day);
        self.store
            .put(&key, silver, meta(summary.rows))
            .await
            .map_err(|source| DayError::Write { day, source })?;
        tracing::info!(%day, key, rows = summary.rows, rows_read = summary.rows_read, objects = summary.objects, bytes = summary.bytes, "day compacted");
        summary.key = Some(key);
        summary.ohlc_key = Some(ohlc_key);
        Ok(summary)
    }

    /// Whether the silver object exists and names `fingerprint` as its sources. Existence is
    /// asked by listing first: the function may not list the whole bucket, and S3 answers
    /// such a role's HEAD of a missing key with 403.
    async fn built_from(
        &self,
        day: NaiveDate,
        silver: &str,
        fingerprint: &str,
    ) -> Result<bool, DayError> {
        let bucket = self.bucket();
        let read = |source| DayError::Read { day, source };
        if self
            .objects
            .stat(bucket, silver)
            .await
            .map_err(read)?
            .is_none()
        {
            return Ok(false);
        }
        let metadata = self.objects.metadata(bucket, silver).await.map_err(read)?;
        Ok(metadata
            .and_then(|m| m.get(SOURCE_METADATA).cloned())
            .is_some_and(|recorded| recorded == fingerprint))
    }

    /// Every row of one raw object, checked as a load checks it, and within its day.
    async fn read_object<'k>(
        &self,
        day: NaiveDate,
        key: &'k str,
    ) -> Result<(&'k str, Vec<crate::quote::QuoteRow>), DayError> {
        let bucket = self.bucket();
        let opened = self.objects.open(bucket, key).await.map_err(|e| match e {
            ReadError::NotFound { bucket, key } => DayError::Missing { day, bucket, key },
            other => DayError::Read { day, source: other },
        })?;
        let mut source = CsvRows::<_, crate::quote::QuoteRow>::new(opened.body);
        let mut rows = Vec::new();
        loop {
            match source.next_batch().await {
                Ok(Some(batch)) => rows.extend(batch),
                Ok(None) => break,
                Err(SourceError::Decode(error)) => return Err(rejected(day, bucket, key, error)),
                Err(SourceError::Read(cause)) => {
                    return Err(DayError::Read {
                        day,
                        source: ReadError::Other {
                            bucket: bucket.to_owned(),
                            key: key.to_owned(),
                            reason: cause.to_string(),
                            source: Box::new(cause),
                        },
                    })
                }
            }
        }
        if let Some(row) = rows.iter().find(|r| r.slot_at.date_naive() != day) {
            return Err(rejected(
                day,
                bucket,
                key,
                format!("a row's slot_at {} is not on the object's day", row.slot_at),
            ));
        }
        Ok((key, rows))
    }
}

/// The raw objects a day's files are built from, as one short text: FNV-1a (64 bits) over
/// each object's key, size and date, in key order. Deterministic across builds and
/// platforms, unlike std's hasher; a collision would only skip a recompaction an
/// identical listing would also skip.
fn fingerprint(sources: &[Listed]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for source in sources {
        feed(source.key.as_bytes());
        feed(&source.info.size.to_le_bytes());
        feed(&source.info.last_modified.timestamp_millis().to_le_bytes());
        feed(b"\n");
    }
    format!("{}:{hash:016x}", sources.len())
}

fn rejected(day: NaiveDate, bucket: &str, key: &str, reason: impl ToString) -> DayError {
    DayError::Rejected {
        day,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        reason: reason.to_string(),
    }
}

/// The silver file of a day.
pub fn encode_quotes(
    day: &table::CuratedDay,
    metadata: Vec<(String, String)>,
) -> Result<Vec<u8>, parquet::EncodeError> {
    use parquet::Cell;
    let columns = parquet::quote_columns();
    parquet::write(
        "quotes",
        &columns,
        &["cmc_id", "quote_currency", "slot_at"],
        metadata,
        day.rows(),
        |row, column| match column {
            0 => Cell::Int(Some(row.slot_at)),
            1 => Cell::Int(Some(row.cmc_id)),
            2 => Cell::Text(day.text(row.symbol)),
            3 => Cell::Text(day.text(row.name)),
            4 => Cell::Text(day.text(row.slug)),
            5 => Cell::Int(row.cmc_rank()),
            6 => Cell::Text(day.text(row.quote_currency)),
            7 => Cell::Double(Some(row.price)),
            8..=19 => Cell::Double(row.metric(column - 8)),
            20 => Cell::Int(row.num_market_pairs()),
            21 => Cell::Int(Some(row.last_updated)),
            _ => Cell::Int(Some(row.ingested_at)),
        },
    )
}

/// The gold file of a day.
pub fn encode_candles(
    candles: &[ohlc::Candle<'_>],
    metadata: Vec<(String, String)>,
) -> Result<Vec<u8>, parquet::EncodeError> {
    use parquet::Cell;
    parquet::write(
        "ohlc_1d",
        &parquet::OHLC_COLUMNS,
        &["cmc_id", "quote_currency"],
        metadata,
        candles.iter(),
        |c, column| match column {
            0 => Cell::Int(Some(c.cmc_id)),
            1 => Cell::Text(c.symbol),
            2 => Cell::Text(c.quote_currency),
            3 => Cell::Int(Some(c.bucket_start)),
            4 => Cell::Double(Some(c.open)),
            5 => Cell::Double(Some(c.high)),
            6 => Cell::Double(Some(c.low)),
            7 => Cell::Double(Some(c.close)),
            8 => Cell::Int(Some(c.samples)),
            9 => Cell::Double(c.volume_24h),
            10 => Cell::Double(c.market_cap),
            11 => Cell::Int(Some(c.first_update)),
            _ => Cell::Int(Some(c.last_update)),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ObjectInfo, Opened};
    use std::sync::Mutex;

    /// A bucket whose listing names an object that is gone by the time it is read: the
    /// race S3 cannot be made to lose on demand.
    struct Vanishing;

    impl ObjectReader for Vanishing {
        async fn stat(&self, _: &str, _: &str) -> Result<Option<ObjectInfo>, ReadError> {
            Ok(None)
        }

        async fn open(&self, bucket: &str, key: &str) -> Result<Opened, ReadError> {
            Err(ReadError::NotFound {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            })
        }

        async fn list_dated(&self, _: &str, prefix: &str) -> Result<Vec<Listed>, ReadError> {
            Ok(vec![Listed {
                key: format!("{prefix}quotes_2024-06-01_12-00-00.csv"),
                info: ObjectInfo {
                    last_modified: chrono::DateTime::UNIX_EPOCH,
                    size: 1,
                },
            }])
        }
    }

    #[derive(Default)]
    struct Written(Mutex<Vec<String>>);

    impl ObjectStore for Written {
        async fn put(&self, key: &str, _: Vec<u8>, _: ObjectMeta) -> Result<(), StoreError> {
            self.0.lock().unwrap().push(key.to_owned());
            Ok(())
        }

        fn bucket(&self) -> &str {
            "b"
        }
    }

    #[test]
    fn the_fingerprint_of_a_listing_is_the_same_on_every_build() {
        let listed = |key: &str, size, secs| Listed {
            key: key.to_owned(),
            info: ObjectInfo {
                last_modified: chrono::DateTime::from_timestamp(secs, 0).unwrap(),
                size,
            },
        };
        let day = [
            listed(
                "raw/quotes/year=2024/month=06/day=01/quotes_2024-06-01_00-00-00.csv",
                1874,
                1_717_200_003,
            ),
            listed(
                "raw/quotes/year=2024/month=06/day=01/quotes_2024-06-01_00-05-00.csv",
                1875,
                1_717_200_303,
            ),
        ];
        // A constant (FNV-1a, checked against an independent implementation): the value
        // stored in S3 must not change with the compiler.
        assert_eq!(fingerprint(&day), "2:bd7d6d5a892c701e");
        let mut later = day.clone();
        later[1].info.last_modified += chrono::TimeDelta::seconds(1);
        assert_ne!(fingerprint(&later), fingerprint(&day));
        assert_ne!(fingerprint(&day[..1]), fingerprint(&day));
    }

    #[tokio::test]
    async fn an_object_gone_between_listing_and_reading_fails_the_day_by_name() {
        let store = Written::default();
        let compactor = Compactor::new(Vanishing, store, 1, 1);
        let day = NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
        let error = compactor
            .compact_day(Dataset::Quotes, day, true)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ("ObjectMissing", false));
        assert!(
            error
                .to_string()
                .contains("quotes_2024-06-01_12-00-00.csv was listed but is gone"),
            "{error}"
        );
        assert!(compactor.store.0.lock().unwrap().is_empty());
    }
}
