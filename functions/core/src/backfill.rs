//! A backfill: pairs' one-minute klines for a range of past days from Binance's public
//! archive, written as one object per pair and day (`layout::archive_day_key`).
//!
//! Whole calendar months inside the range come from the monthly zip (a daily zip per day
//! when the month is not published yet), the other days from daily zips. The range is
//! worked through one period (a month or a day) at a time, every pair of it at once up to
//! a bound, so memory stays at one month of one pair per worker. Given a deadline, no
//! period starts when less than a margin is left: the summary's `remaining` is the part
//! not done, for the caller to run next (a Lambda invokes itself with it). Objects are
//! deterministic, so running a period again rewrites identical bytes.

use crate::binance::{
    gaps, ArchiveClient, ArchiveError, ArchiveFile, Fetched, Gap, Kline, Period, SequenceError,
};
use crate::csv_codec::EncodeError;
use crate::kline_csv::encode_klines;
use crate::layout::{archive_day_key, is_pair_symbol};
use crate::store::{ObjectMeta, ObjectStore, StoreError};
use chrono::{Datelike, NaiveDate, TimeDelta, Utc};
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// The longest range one request may cover: 366 days of 1440 minutes per pair. Longer
/// backfills are split by the caller.
pub const MAX_BACKFILL_DAYS: i64 = 366;

/// The most pairs one request may name.
pub const MAX_BACKFILL_SYMBOLS: usize = 50;

/// Time kept free before the deadline when deciding whether to start a period: a month's
/// zip of every pair must download, unpack and write in it.
pub const DEFAULT_MARGIN: Duration = Duration::from_secs(90);

/// Pairs fetched at once.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// What to backfill: the pairs, and the days `from..=to` (UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillRequest {
    pub symbols: Vec<String>,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("a backfill needs at least one pair in \"symbols\"")]
    NoSymbols,
    #[error("{0:?} is not a Binance spot pair like \"BTCUSDT\" (upper-case letters and digits, at most 20)")]
    BadSymbol(String),
    #[error("{0} is named twice in \"symbols\"")]
    RepeatedSymbol(String),
    #[error("a backfill names at most {MAX_BACKFILL_SYMBOLS} pairs; {0} were given, split them")]
    TooManySymbols(usize),
    #[error("backfill range {from}..{to} is empty: \"to\" is before \"from\"")]
    Backwards { from: NaiveDate, to: NaiveDate },
    #[error("backfill range {from}..{to} reaches {today} (today, UTC) or later; the archive holds only days that have ended")]
    NotPast {
        from: NaiveDate,
        to: NaiveDate,
        today: NaiveDate,
    },
    #[error("backfill range {from}..{to} spans {days} days; at most {MAX_BACKFILL_DAYS} per request, split it")]
    TooLong {
        from: NaiveDate,
        to: NaiveDate,
        days: i64,
    },
}

impl RequestError {
    pub fn kind(&self) -> &'static str {
        "InvalidBackfillRequest"
    }
}

impl BackfillRequest {
    /// Checks the request against the rules above; `today` is the current UTC date.
    pub fn validate(&self, today: NaiveDate) -> Result<(), RequestError> {
        if self.symbols.is_empty() {
            return Err(RequestError::NoSymbols);
        }
        if self.symbols.len() > MAX_BACKFILL_SYMBOLS {
            return Err(RequestError::TooManySymbols(self.symbols.len()));
        }
        for (i, symbol) in self.symbols.iter().enumerate() {
            if !is_pair_symbol(symbol) {
                return Err(RequestError::BadSymbol(symbol.clone()));
            }
            if self.symbols[..i].contains(symbol) {
                return Err(RequestError::RepeatedSymbol(symbol.clone()));
            }
        }
        let (from, to) = (self.from, self.to);
        if to < from {
            return Err(RequestError::Backwards { from, to });
        }
        if to >= today {
            return Err(RequestError::NotPast { from, to, today });
        }
        let days = (to - from).num_days() + 1;
        if days > MAX_BACKFILL_DAYS {
            return Err(RequestError::TooLong { from, to, days });
        }
        Ok(())
    }

    /// The archive files to read, in date order: each whole calendar month inside the
    /// range as a month, every other day as a day.
    pub fn plan(&self) -> Vec<Period> {
        let mut periods = Vec::new();
        let mut day = self.from;
        while day <= self.to {
            let month = Period::Month(day.with_day(1).unwrap_or(day));
            if day.day() == 1 && month.last_day() <= self.to {
                periods.push(month);
                day = month.last_day() + TimeDelta::days(1);
            } else {
                periods.push(Period::Day(day));
                day += TimeDelta::days(1);
            }
        }
        periods
    }
}

/// One pair's period: the unit of work progress is reported in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unit {
    pub symbol: String,
    pub period: Period,
}

impl Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

/// Told when units start and end, e.g. to draw a progress bar. Calls come from the task
/// running the backfill, in any order across pairs.
pub trait Progress: Send + Sync {
    /// Before any work: how many units this call plans at most.
    fn planned(&self, _units: usize) {}
    fn started(&self, _unit: &Unit) {}
    fn finished(&self, _unit: &Unit, _outcome: &UnitOutcome) {}
}

/// Reports nothing.
pub struct Silent;
impl Progress for Silent {}

/// How one unit ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitOutcome {
    /// Objects written, with this many rows in all.
    Written {
        days: usize,
        rows: usize,
    },
    /// Nothing published for it.
    NotPublished,
    Failed {
        kind: &'static str,
    },
}

/// One object written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WrittenDay {
    pub symbol: String,
    pub day: NaiveDate,
    pub key: String,
    pub rows: usize,
    /// The archive file it came from.
    pub source: String,
}

/// A file the archive does not have (HTTP 404).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedFile {
    pub symbol: String,
    pub file: String,
    pub reason: String,
}

/// Minutes missing from a day that was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DayGaps {
    pub symbol: String,
    pub day: NaiveDate,
    pub missing_minutes: i64,
    pub gaps: Vec<Gap>,
}

/// A unit that failed; nothing of the file it names was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FailedUnit {
    pub symbol: String,
    pub period: String,
    pub kind: &'static str,
    /// Whether a later run may succeed (the archive was unreachable or busy).
    pub transient: bool,
    pub error: String,
}

/// What one call did. Lists are sorted by pair, then date.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BackfillSummary {
    pub bucket: String,
    pub written: Vec<WrittenDay>,
    pub rows: usize,
    pub skipped: Vec<SkippedFile>,
    pub gaps: Vec<DayGaps>,
    pub failures: Vec<FailedUnit>,
    /// The part not started before the deadline margin; run it next.
    pub remaining: Option<BackfillRequest>,
}

/// Why a unit failed.
#[derive(Debug, thiserror::Error)]
pub enum UnitError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("{file}: {source}")]
    Sequence { file: String, source: SequenceError },
    #[error("{file}: {source}")]
    Encode { file: String, source: EncodeError },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl UnitError {
    pub fn kind(&self) -> &'static str {
        match self {
            UnitError::Archive(e) => e.kind(),
            UnitError::Sequence { .. } => "ArchiveBadSequence",
            UnitError::Encode { .. } => "CsvEncodeFailed",
            UnitError::Store(_) => "S3WriteFailed",
        }
    }

    pub fn is_transient(&self) -> bool {
        match self {
            UnitError::Archive(e) => e.is_transient(),
            UnitError::Store(_) => true,
            _ => false,
        }
    }
}

/// What a unit produced, before it is folded into the summary.
#[derive(Default)]
struct UnitResult {
    written: Vec<WrittenDay>,
    skipped: Vec<SkippedFile>,
    gaps: Vec<DayGaps>,
}

pub struct Backfill<S> {
    archive: ArchiveClient,
    store: S,
    concurrency: usize,
    margin: Duration,
}

impl<S: ObjectStore> Backfill<S> {
    pub fn new(archive: ArchiveClient, store: S) -> Backfill<S> {
        Backfill {
            archive,
            store,
            concurrency: DEFAULT_CONCURRENCY,
            margin: DEFAULT_MARGIN,
        }
    }

    /// Pairs fetched at once (at least one).
    pub fn with_concurrency(mut self, concurrency: usize) -> Backfill<S> {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Time kept free before the deadline: no period starts with less left.
    pub fn with_margin(mut self, margin: Duration) -> Backfill<S> {
        self.margin = margin;
        self
    }

    /// Runs `request` until done or until less than the margin is left before
    /// `deadline` (`None`: no limit). Failed units are in the summary; only an invalid
    /// request is an error.
    pub async fn run(
        &self,
        request: &BackfillRequest,
        deadline: Option<Instant>,
        progress: &dyn Progress,
    ) -> Result<BackfillSummary, RequestError> {
        request.validate(Utc::now().date_naive())?;
        let plan = request.plan();
        progress.planned(plan.len() * request.symbols.len());
        let mut summary = BackfillSummary {
            bucket: self.store.bucket().to_owned(),
            ..BackfillSummary::default()
        };
        // Without a deadline, downloads still need one: a day is ample for any request.
        let hard_deadline =
            deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
        for period in plan {
            if let Some(deadline) = deadline {
                if Instant::now() + self.margin > deadline {
                    summary.remaining = Some(BackfillRequest {
                        symbols: request.symbols.clone(),
                        from: period.first_day(),
                        to: request.to,
                    });
                    break;
                }
            }
            let units = request.symbols.iter().map(|symbol| Unit {
                symbol: symbol.clone(),
                period,
            });
            let results: Vec<(Unit, Result<UnitResult, UnitError>)> = stream::iter(units)
                .map(|unit| async move {
                    progress.started(&unit);
                    let result = self.unit(&unit, hard_deadline).await;
                    progress.finished(&unit, &outcome(&result));
                    (unit, result)
                })
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
            for (unit, result) in results {
                match result {
                    Ok(done) => {
                        summary.written.extend(done.written);
                        summary.skipped.extend(done.skipped);
                        summary.gaps.extend(done.gaps);
                    }
                    Err(error) => {
                        tracing::warn!(symbol = unit.symbol, period = %unit.period, error = %error, error_kind = error.kind(), "backfill unit failed");
                        summary.failures.push(FailedUnit {
                            symbol: unit.symbol,
                            period: unit.period.to_string(),
                            kind: error.kind(),
                            transient: error.is_transient(),
                            error: error.to_string(),
                        });
                    }
                }
            }
        }
        summary.rows = summary.written.iter().map(|w| w.rows).sum();
        summary
            .written
            .sort_by(|a, b| (&a.symbol, a.day).cmp(&(&b.symbol, b.day)));
        summary
            .skipped
            .sort_by(|a, b| (&a.symbol, &a.file).cmp(&(&b.symbol, &b.file)));
        summary
            .gaps
            .sort_by(|a, b| (&a.symbol, a.day).cmp(&(&b.symbol, b.day)));
        summary
            .failures
            .sort_by(|a, b| (&a.symbol, &a.period).cmp(&(&b.symbol, &b.period)));
        Ok(summary)
    }

    /// One pair's period: a month falls back to its daily zips when the monthly one is
    /// not published.
    async fn unit(&self, unit: &Unit, deadline: Instant) -> Result<UnitResult, UnitError> {
        let file = ArchiveFile::new(&unit.symbol, unit.period);
        let mut result = UnitResult::default();
        match self.archive.fetch(&file, deadline).await? {
            Fetched::Klines(klines) => self.write_days(&file, klines, &mut result).await?,
            Fetched::NotPublished => {
                result.skipped.push(not_published(&file));
                if let Period::Month(_) = unit.period {
                    for day in unit.period.days() {
                        let daily = ArchiveFile::new(&unit.symbol, Period::Day(day));
                        match self.archive.fetch(&daily, deadline).await? {
                            Fetched::Klines(klines) => {
                                self.write_days(&daily, klines, &mut result).await?
                            }
                            Fetched::NotPublished => result.skipped.push(not_published(&daily)),
                        }
                    }
                }
            }
        }
        Ok(result)
    }

    /// Splits a file's klines into its days, checks each, and writes one object per day
    /// with rows. Every day is checked before the first is written, so a bad file writes
    /// nothing.
    async fn write_days(
        &self,
        file: &ArchiveFile,
        mut klines: Vec<Kline>,
        result: &mut UnitResult,
    ) -> Result<(), UnitError> {
        let name = file.name();
        // The archive is in time order; sorting here means the objects never depend on it.
        klines.sort_by_key(|k| k.open_time);
        let mut objects = Vec::new();
        let mut rest = klines.as_slice();
        for day in file.period.days() {
            let start = day.and_time(chrono::NaiveTime::MIN).and_utc();
            let end = start + TimeDelta::days(1);
            let count = rest.iter().take_while(|k| k.open_time < end).count();
            let (today, later) = rest.split_at(count);
            rest = later;
            // Anything before the file's first day is caught by the check below.
            let missing = gaps(today, start, end).map_err(|source| UnitError::Sequence {
                file: name.clone(),
                source,
            })?;
            if !missing.is_empty() {
                result.gaps.push(DayGaps {
                    symbol: file.symbol.clone(),
                    day,
                    missing_minutes: missing.iter().map(|(a, b)| (*b - *a).num_minutes()).sum(),
                    gaps: missing,
                });
            }
            // A day without rows (a month file of a pair listed mid-month) is reported as
            // a gap above; an empty object would only hold a header.
            if today.is_empty() {
                continue;
            }
            let body = encode_klines(today).map_err(|source| UnitError::Encode {
                file: name.clone(),
                source,
            })?;
            objects.push((day, today.len(), body));
        }
        if let Some(stray) = rest.first() {
            return Err(UnitError::Sequence {
                file: name,
                source: SequenceError::OutOfRange {
                    index: klines.len() - rest.len(),
                    open_time: stray.open_time,
                    from: file
                        .period
                        .first_day()
                        .and_time(chrono::NaiveTime::MIN)
                        .and_utc(),
                    to: (file.period.last_day() + TimeDelta::days(1))
                        .and_time(chrono::NaiveTime::MIN)
                        .and_utc(),
                },
            });
        }
        for (day, rows, body) in objects {
            let key = archive_day_key(day, &file.symbol);
            let meta = ObjectMeta {
                content_type: "text/csv; charset=utf-8",
                metadata: vec![
                    ("rows".to_owned(), rows.to_string()),
                    ("source".to_owned(), name.clone()),
                ],
            };
            self.store.put(&key, body, meta).await?;
            result.written.push(WrittenDay {
                symbol: file.symbol.clone(),
                day,
                key,
                rows,
                source: name.clone(),
            });
        }
        Ok(())
    }
}

fn not_published(file: &ArchiveFile) -> SkippedFile {
    SkippedFile {
        symbol: file.symbol.clone(),
        file: file.name(),
        reason: "not published (HTTP 404): not archived yet, or the pair did not trade then"
            .to_owned(),
    }
}

fn outcome(result: &Result<UnitResult, UnitError>) -> UnitOutcome {
    match result {
        Ok(done) if done.written.is_empty() && !done.skipped.is_empty() => {
            UnitOutcome::NotPublished
        }
        Ok(done) => UnitOutcome::Written {
            days: done.written.len(),
            rows: done.written.iter().map(|w| w.rows).sum(),
        },
        Err(error) => UnitOutcome::Failed { kind: error.kind() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn request(from: &str, to: &str) -> BackfillRequest {
        BackfillRequest {
            symbols: vec!["BTCUSDT".into()],
            from: date(from),
            to: date(to),
        }
    }

    #[test]
    fn whole_months_come_from_monthly_files_and_the_rest_from_days() {
        let plan = request("2024-05-30", "2024-07-02").plan();
        assert_eq!(
            plan,
            [
                Period::Day(date("2024-05-30")),
                Period::Day(date("2024-05-31")),
                Period::Month(date("2024-06-01")),
                Period::Day(date("2024-07-01")),
                Period::Day(date("2024-07-02")),
            ]
        );
        let partial = request("2024-06-01", "2024-06-29").plan();
        assert_eq!(
            partial.len(),
            29,
            "a month not wholly inside is read by day"
        );
        let exact = request("2024-02-01", "2024-02-29").plan();
        assert_eq!(exact, [Period::Month(date("2024-02-01"))]);
    }

    #[test]
    fn a_request_reads_and_writes_the_event_shape() {
        let json =
            r#"{"symbols": ["BTCUSDT", "ETHUSDT"], "from": "2024-06-01", "to": "2024-06-30"}"#;
        let parsed: BackfillRequest = serde_json::from_str(json).unwrap();
        assert_eq!(parsed.symbols, ["BTCUSDT", "ETHUSDT"]);
        assert_eq!(parsed.from, date("2024-06-01"));
        assert_eq!(
            serde_json::to_value(&parsed).unwrap(),
            serde_json::json!({"symbols": ["BTCUSDT", "ETHUSDT"], "from": "2024-06-01", "to": "2024-06-30"})
        );
    }

    #[test]
    fn requests_are_validated() {
        let today = date("2026-11-30");
        let check = |r: BackfillRequest| r.validate(today).map_err(|e| e.to_string());
        assert!(check(request("2024-06-01", "2024-06-30")).is_ok());
        assert_eq!(
            check(request("2024-06-02", "2024-06-01")).unwrap_err(),
            "backfill range 2024-06-02..2024-06-01 is empty: \"to\" is before \"from\""
        );
        assert!(check(request("2026-11-01", "2026-11-30"))
            .unwrap_err()
            .contains("reaches 2026-11-30 (today, UTC)"));
        assert!(check(request("2023-01-01", "2024-06-30"))
            .unwrap_err()
            .contains("at most 366 per request"));
        let mut bad = request("2024-06-01", "2024-06-01");
        bad.symbols = vec!["btc-usdt".into()];
        assert!(check(bad.clone())
            .unwrap_err()
            .contains("\"btc-usdt\" is not a Binance spot pair"));
        bad.symbols = vec![];
        assert_eq!(check(bad.clone()), Err(RequestError::NoSymbols.to_string()));
        bad.symbols = vec!["BTCUSDT".into(), "BTCUSDT".into()];
        assert!(check(bad).unwrap_err().contains("named twice"));
    }
}
