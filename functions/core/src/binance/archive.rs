//! Binance's public archive of spot klines (https://github.com/binance/binance-public-data):
//! one zip per pair and day (`daily/`) or month (`monthly/`), each with a `.CHECKSUM` file
//! beside it holding the zip's SHA-256 (`<hex>  <file name>`, as `sha256sum` prints it).
//! The zip holds one CSV without a header in the 12 columns of `GET /api/v3/klines`.
//! Spot archives from 2025-01-01 on carry microsecond timestamps, older ones milliseconds,
//! so each time value is read by its magnitude.

use super::error::BinanceError;
use super::kline::{Kline, ELEMENT_NAMES, KLINE_ELEMENTS};
use crate::decimal::DecimalText;
use crate::retry::{retry, RetryPolicy};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::time::Instant;

/// The archive's host; configurable for tests and mirrors.
pub const DEFAULT_ARCHIVE_URL: &str = "https://data.binance.vision";

/// The most a zip may unpack to. A month of one pair's minutes is 44,640 rows of about
/// 150 bytes (about 7 MB); anything far larger is not a klines file.
pub const MAX_UNZIPPED_BYTES: u64 = 64 * 1024 * 1024;

/// Epoch microseconds pass this value in 1973; epoch milliseconds reach it only in 5138.
/// A time at or above it is read as microseconds, one below as milliseconds.
const MICROS_FROM: i64 = 100_000_000_000_000;

/// The period one archive file covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Period {
    Day(NaiveDate),
    /// The month of this date (always its first day).
    Month(NaiveDate),
}

impl Period {
    /// The first day it covers.
    pub fn first_day(self) -> NaiveDate {
        match self {
            Period::Day(day) | Period::Month(day) => day,
        }
    }

    /// The last day it covers.
    pub fn last_day(self) -> NaiveDate {
        match self {
            Period::Day(day) => day,
            Period::Month(first) => first
                .checked_add_months(chrono::Months::new(1))
                .and_then(|next| next.pred_opt())
                .unwrap_or(first),
        }
    }

    /// The days it covers, in order.
    pub fn days(self) -> impl Iterator<Item = NaiveDate> {
        let last = self.last_day();
        self.first_day().iter_days().take_while(move |d| *d <= last)
    }

    fn folder(self) -> &'static str {
        match self {
            Period::Day(_) => "daily",
            Period::Month(_) => "monthly",
        }
    }

    fn label(self) -> String {
        match self {
            Period::Day(day) => day.format("%Y-%m-%d").to_string(),
            Period::Month(first) => first.format("%Y-%m").to_string(),
        }
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

/// One archive zip: a pair's one-minute klines of a day or a month.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ArchiveFile {
    pub symbol: String,
    pub period: Period,
}

impl ArchiveFile {
    pub fn new(symbol: &str, period: Period) -> ArchiveFile {
        ArchiveFile {
            symbol: symbol.to_owned(),
            period,
        }
    }

    /// `BTCUSDT-1m-2024-06-01.zip` or `BTCUSDT-1m-2024-06.zip`.
    pub fn name(&self) -> String {
        format!("{}-1m-{}.zip", self.symbol, self.period.label())
    }

    /// The zip's path under the archive's host.
    pub fn path(&self) -> String {
        format!(
            "/data/spot/{}/klines/{}/1m/{}",
            self.period.folder(),
            self.symbol,
            self.name()
        )
    }

    /// The path of its `.CHECKSUM` file.
    pub fn checksum_path(&self) -> String {
        format!("{}.CHECKSUM", self.path())
    }
}

/// What the archive holds for a file.
#[derive(Debug)]
pub enum Fetched {
    /// The file's klines in file order, checked against its checksum.
    Klines(Vec<Kline>),
    /// HTTP 404: not published, because the day or month is not archived yet or the pair
    /// did not trade then. Not an error: the caller reports it.
    NotPublished,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{file}: {source}")]
    Http { file: String, source: BinanceError },
    #[error("{file} has no CHECKSUM file (HTTP 404 for {file}.CHECKSUM); an unverified file is not used")]
    ChecksumMissing { file: String },
    #[error("{file}.CHECKSUM is not \"<sha256 hex>  {file}\": it starts {snippet:?}")]
    ChecksumUnreadable { file: String, snippet: String },
    #[error("{file} does not match its CHECKSUM: expected SHA-256 {expected}, got {actual}; the file is not used")]
    ChecksumMismatch {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("{file} is not a readable zip with one CSV inside: {reason}")]
    BadZip { file: String, reason: String },
    #[error("{file} unpacks to more than {limit} bytes; not a klines file")]
    TooLarge { file: String, limit: u64 },
    #[error("{file}, line {line}: {reason}")]
    BadRow {
        file: String,
        line: u64,
        reason: String,
    },
}

impl ArchiveError {
    /// A stable name for the error's class, for logs, summaries and the Lambda error type.
    pub fn kind(&self) -> &'static str {
        match self {
            ArchiveError::Http { source, .. } => source.kind(),
            ArchiveError::ChecksumMissing { .. } => "ArchiveChecksumMissing",
            ArchiveError::ChecksumUnreadable { .. } => "ArchiveChecksumUnreadable",
            ArchiveError::ChecksumMismatch { .. } => "ArchiveChecksumMismatch",
            ArchiveError::BadZip { .. } => "ArchiveBadZip",
            ArchiveError::TooLarge { .. } => "ArchiveTooLarge",
            ArchiveError::BadRow { .. } => "ArchiveBadRow",
        }
    }

    /// Whether another attempt later may succeed (the archive was unreachable or busy past
    /// the retries); a file that fails its checksum or cannot be read fails the same way
    /// again until Binance replaces it.
    pub fn is_transient(&self) -> bool {
        match self {
            ArchiveError::Http { source, .. } => {
                source.is_transient()
                    || matches!(
                        source,
                        BinanceError::GaveUp { .. }
                            | BinanceError::NoTimeLeft
                            | BinanceError::WaitPastDeadline { .. }
                    )
            }
            _ => false,
        }
    }
}

pub struct ArchiveClient {
    http: reqwest::Client,
    base_url: String,
    retry: RetryPolicy,
}

impl std::fmt::Debug for ArchiveClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveClient")
            .field("base_url", &self.base_url)
            .field("retry", &self.retry)
            .finish()
    }
}

impl ArchiveClient {
    /// `base_url`: the archive's host, [`DEFAULT_ARCHIVE_URL`] in production.
    pub fn new(base_url: &str, retry: RetryPolicy) -> Result<ArchiveClient, reqwest::Error> {
        Ok(ArchiveClient {
            http: crate::http_client::download_client()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            retry,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Downloads `file` and its CHECKSUM, verifies the SHA-256, unzips (bounded) and reads
    /// every row. 5xx, timeouts and broken connections are retried as the API client does.
    pub async fn fetch(
        &self,
        file: &ArchiveFile,
        deadline: Instant,
    ) -> Result<Fetched, ArchiveError> {
        let name = file.name();
        let http = |source| ArchiveError::Http {
            file: name.clone(),
            source,
        };
        let Some(zip) = self
            .get(&file.symbol, &file.path(), deadline)
            .await
            .map_err(http)?
        else {
            return Ok(Fetched::NotPublished);
        };
        let Some(checksum) = self
            .get(&file.symbol, &file.checksum_path(), deadline)
            .await
            .map_err(http)?
        else {
            return Err(ArchiveError::ChecksumMissing { file: name });
        };
        verify_checksum(&name, &zip, &checksum)?;
        let csv = unzip_one(&name, &zip, MAX_UNZIPPED_BYTES)?;
        parse_archive_csv(&file.symbol, &name, &csv).map(Fetched::Klines)
    }

    /// One GET with the API client's retry policy; `None` for a 404.
    async fn get(
        &self,
        symbol: &str,
        path: &str,
        deadline: Instant,
    ) -> Result<Option<Bytes>, BinanceError> {
        let done = retry(
            &self.retry,
            deadline,
            || self.attempt(symbol, path, deadline),
            |error: &BinanceError, wait| {
                tracing::warn!(
                    symbol,
                    path,
                    error = %error,
                    error_kind = error.kind(),
                    retry_in_ms = wait.as_millis() as u64,
                    "Binance archive download failed; retrying"
                );
            },
        )
        .await?;
        Ok(done.value)
    }

    async fn attempt(
        &self,
        symbol: &str,
        path: &str,
        deadline: Instant,
    ) -> Result<Option<Bytes>, BinanceError> {
        // A month's zip is a few megabytes: allow it longer than one API page.
        let timeout = RetryPolicy::attempt_timeout(self.retry.request_timeout * 6, deadline)
            .ok_or(BinanceError::NoTimeLeft)?;
        let transport = |error| BinanceError::transport(error, timeout, &self.base_url);
        let response = self
            .http
            .get(format!("{}{path}", self.base_url))
            .timeout(timeout)
            .send()
            .await
            .map_err(transport)?;
        let http = response.status().as_u16();
        tracing::debug!(symbol, path, http, "Binance archive replied");
        if http == 404 {
            return Ok(None);
        }
        if response
            .content_length()
            .is_some_and(|length| length > MAX_UNZIPPED_BYTES)
        {
            return Err(BinanceError::Refused {
                symbol: symbol.to_owned(),
                http,
                code: 0,
                message: format!("{path} is larger than {MAX_UNZIPPED_BYTES} bytes"),
            });
        }
        let body = response.bytes().await.map_err(transport)?;
        if !(200..300).contains(&http) {
            let start: String = String::from_utf8_lossy(&body).chars().take(120).collect();
            return Err(BinanceError::classify(
                symbol,
                http,
                0,
                format!("{path}: a body starting {start:?}"),
                None,
            ));
        }
        Ok(Some(body))
    }
}

/// Checks `zip` against a CHECKSUM body (`<64 hex digits>  <file name>`; the name part is
/// not required, since the file was asked for by name).
pub fn verify_checksum(file: &str, zip: &[u8], checksum: &[u8]) -> Result<(), ArchiveError> {
    let text = String::from_utf8_lossy(checksum);
    let expected = text
        .split_whitespace()
        .next()
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| ArchiveError::ChecksumUnreadable {
            file: file.to_owned(),
            snippet: text.chars().take(80).collect(),
        })?;
    let actual = sha256_hex(zip);
    if actual != expected {
        return Err(ArchiveError::ChecksumMismatch {
            file: file.to_owned(),
            expected,
            actual,
        });
    }
    Ok(())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The one CSV inside the zip, read to at most `limit` bytes whatever its header claims.
fn unzip_one(file: &str, zip: &[u8], limit: u64) -> Result<Vec<u8>, ArchiveError> {
    let bad = |reason: String| ArchiveError::BadZip {
        file: file.to_owned(),
        reason,
    };
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(zip)).map_err(|e| bad(e.to_string()))?;
    if archive.len() != 1 {
        return Err(bad(format!("it holds {} files, 1 expected", archive.len())));
    }
    let entry = archive.by_index(0).map_err(|e| bad(e.to_string()))?;
    let too_large = || ArchiveError::TooLarge {
        file: file.to_owned(),
        limit,
    };
    if entry.size() > limit {
        return Err(too_large());
    }
    let mut csv = Vec::with_capacity(entry.size() as usize);
    entry
        .take(limit + 1)
        .read_to_end(&mut csv)
        .map_err(|e| bad(e.to_string()))?;
    if csv.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(csv)
}

/// Reads an archive CSV: no header (one is skipped if present), Binance's 12 columns per
/// row, times in epoch milliseconds or microseconds. `file` names the file in errors.
pub fn parse_archive_csv(symbol: &str, file: &str, csv: &[u8]) -> Result<Vec<Kline>, ArchiveError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv);
    let mut klines = Vec::new();
    for (index, record) in reader.byte_records().enumerate() {
        let line = index as u64 + 1;
        let bad = |reason: String| ArchiveError::BadRow {
            file: file.to_owned(),
            line,
            reason,
        };
        let record = record.map_err(|e| bad(e.to_string()))?;
        if index == 0 && is_header(&record) {
            continue;
        }
        klines.push(archive_row(symbol, &record).map_err(bad)?);
    }
    Ok(klines)
}

/// Spot kline files have no header, but a file that has one must not fail on it: a first
/// row whose first field is not a number is taken for a header.
fn is_header(record: &csv::ByteRecord) -> bool {
    record
        .get(0)
        .map(|f| !f.is_empty() && !f.iter().all(u8::is_ascii_digit))
        .unwrap_or(false)
}

fn archive_row(symbol: &str, record: &csv::ByteRecord) -> Result<Kline, String> {
    if record.len() < KLINE_ELEMENTS {
        return Err(format!(
            "{} columns, {} expected (column {}, {}, is missing)",
            record.len(),
            KLINE_ELEMENTS,
            record.len() + 1,
            ELEMENT_NAMES[record.len()]
        ));
    }
    let text = |i: usize| -> Result<&str, String> {
        std::str::from_utf8(&record[i])
            .map(str::trim)
            .map_err(|_| format!("column {} ({}) is not UTF-8", i + 1, ELEMENT_NAMES[i]))
    };
    let decimal = |i: usize| -> Result<DecimalText, String> {
        let t = text(i)?;
        DecimalText::parse(t).map_err(|_| {
            format!(
                "column {} ({}) is {t:?}, not a decimal",
                i + 1,
                ELEMENT_NAMES[i]
            )
        })
    };
    let time = |i: usize| -> Result<DateTime<Utc>, String> {
        let t = text(i)?;
        t.parse::<i64>()
            .ok()
            .filter(|v| *v >= 0)
            .and_then(|v| {
                let ms = if v >= MICROS_FROM {
                    v.div_euclid(1000)
                } else {
                    v
                };
                DateTime::from_timestamp_millis(ms)
            })
            .ok_or_else(|| {
                format!(
                    "column {} ({}) is {t:?}, not epoch milliseconds or microseconds",
                    i + 1,
                    ELEMENT_NAMES[i]
                )
            })
    };
    let trades = {
        let t = text(8)?;
        t.parse::<i64>()
            .ok()
            .filter(|v| *v >= 0)
            .ok_or_else(|| format!("column 9 (trades) is {t:?}, not a count"))?
    };
    Ok(Kline {
        symbol: symbol.to_owned(),
        open_time: time(0)?,
        open: decimal(1)?,
        high: decimal(2)?,
        low: decimal(3)?,
        close: decimal(4)?,
        volume: decimal(5)?,
        close_time: time(6)?,
        quote_volume: decimal(7)?,
        trades,
        taker_buy_base_volume: decimal(9)?,
        taker_buy_quote_volume: decimal(10)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS_ROW: &str = "1717200000000,67000.01000000,67010.00000000,66990.50000000,67005.00000000,12.34567000,1717200059999,827103.12345678,1234,6.10000000,408700.00000000,0\n";
    const US_ROW: &str = "1735689600000000,93576.00000000,93610.93000000,93537.50000000,93610.93000000,8.21827000,1735689659999999,769025.00000000,1070,5.80000000,542800.00000000,0\n";

    #[test]
    fn millisecond_and_microsecond_times_read_alike() {
        let ms = parse_archive_csv("BTCUSDT", "f.zip", MS_ROW.as_bytes()).unwrap();
        assert_eq!(ms[0].open_time.to_rfc3339(), "2024-06-01T00:00:00+00:00");
        assert_eq!(ms[0].close_time.timestamp_millis(), 1717200059999);
        let us = parse_archive_csv("BTCUSDT", "f.zip", US_ROW.as_bytes()).unwrap();
        assert_eq!(us[0].open_time.to_rfc3339(), "2025-01-01T00:00:00+00:00");
        assert_eq!(
            us[0].close_time.timestamp_millis(),
            1735689659999,
            "a microsecond close time ending 59999999 becomes :59.999"
        );
        assert_eq!(us[0].trades, 1070);
        assert_eq!(us[0].close.as_str(), "93610.93000000");
    }

    #[test]
    fn a_header_row_is_tolerated() {
        let csv = format!("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n{MS_ROW}");
        let klines = parse_archive_csv("BTCUSDT", "f.zip", csv.as_bytes()).unwrap();
        assert_eq!(klines.len(), 1);
    }

    #[test]
    fn a_bad_row_names_the_file_line_and_column() {
        let csv = format!("{MS_ROW}1717200060000,67000.01,x,1,1,1,1717200119999,1,1,1,1,0\n");
        let error =
            parse_archive_csv("BTCUSDT", "BTCUSDT-1m-2024-06-01.zip", csv.as_bytes()).unwrap_err();
        assert_eq!(error.kind(), "ArchiveBadRow");
        assert_eq!(
            error.to_string(),
            "BTCUSDT-1m-2024-06-01.zip, line 2: column 3 (high) is \"x\", not a decimal"
        );
        let short = parse_archive_csv("BTCUSDT", "f.zip", b"1717200000000,1,1,1,1,1\n")
            .unwrap_err()
            .to_string();
        assert!(
            short.contains("6 columns, 12 expected (column 7, close time"),
            "{short}"
        );
    }

    #[test]
    fn checksums_are_compared_in_lower_case_hex() {
        let body = b"zip bytes";
        let good = format!(
            "{}  BTCUSDT-1m-2024-06-01.zip\n",
            sha256_hex(body).to_uppercase()
        );
        assert!(verify_checksum("f.zip", body, good.as_bytes()).is_ok());
        let wrong = format!("{}  f.zip", "0".repeat(64));
        let error = verify_checksum("f.zip", body, wrong.as_bytes()).unwrap_err();
        assert_eq!(error.kind(), "ArchiveChecksumMismatch");
        assert!(error.to_string().contains(&sha256_hex(body)), "{error}");
        let junk = verify_checksum("f.zip", body, b"<html>").unwrap_err();
        assert_eq!(junk.kind(), "ArchiveChecksumUnreadable");
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        use std::io::Write;
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, body) in entries {
            writer
                .start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            writer.write_all(body).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn a_zip_must_hold_one_entry_within_the_size_bound() {
        let one = zip_of(&[("a.csv", MS_ROW.as_bytes())]);
        assert_eq!(unzip_one("f.zip", &one, 1000).unwrap(), MS_ROW.as_bytes());
        let large = unzip_one("f.zip", &one, 10).unwrap_err();
        assert_eq!(large.kind(), "ArchiveTooLarge");
        assert_eq!(
            large.to_string(),
            "f.zip unpacks to more than 10 bytes; not a klines file"
        );
        let two = zip_of(&[("a.csv", b"1"), ("b.csv", b"2")]);
        let error = unzip_one("f.zip", &two, 1000).unwrap_err();
        assert_eq!(error.kind(), "ArchiveBadZip");
        assert!(
            error.to_string().contains("it holds 2 files, 1 expected"),
            "{error}"
        );
        let junk = unzip_one("f.zip", b"not a zip", 1000).unwrap_err();
        assert_eq!(junk.kind(), "ArchiveBadZip");
    }

    #[test]
    fn files_are_named_as_the_archive_names_them() {
        let day = NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
        let daily = ArchiveFile::new("BTCUSDT", Period::Day(day));
        assert_eq!(
            daily.path(),
            "/data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-06-01.zip"
        );
        let monthly = ArchiveFile::new("BTCUSDT", Period::Month(day));
        assert_eq!(
            monthly.checksum_path(),
            "/data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-06.zip.CHECKSUM"
        );
        assert_eq!(Period::Month(day).days().count(), 30);
        let feb = NaiveDate::from_ymd_opt(2024, 2, 1).unwrap();
        assert_eq!(Period::Month(feb).last_day().to_string(), "2024-02-29");
    }
}
