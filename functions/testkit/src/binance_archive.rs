//! A stand-in for Binance's public kline archive (`data.binance.vision`): a wiremock
//! responder that makes any pair's daily or monthly zip on request, in the archive's
//! format (one CSV inside, no header, the 12 columns of `GET /api/v3/klines`, epoch
//! milliseconds before 2025-01-01 and microseconds from then on), and its `.CHECKSUM`
//! (`<sha256 hex>  <file name>`). Tests mount faults over it at a higher priority: a wrong
//! checksum, none, a 404, a corrupt zip, a bad row, a 5xx before success.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use coinlake::binance::archive::sha256_hex;
use std::io::Write;
use std::sync::Mutex;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// From this day on, spot archives carry microsecond timestamps.
pub fn microseconds_from() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// One archive row for `symbol`'s minute opening at `open`; values vary with the pair
/// and the minute so rows are told apart.
pub fn archive_row(symbol: &str, open: DateTime<Utc>) -> String {
    let minute = open.timestamp() / 60 % 1440;
    let base = 100 + symbol.len() as i64 * 1000;
    let (open_t, close_t) = if open.date_naive() >= microseconds_from() {
        let us = open.timestamp_micros();
        (us, us + 59_999_999)
    } else {
        let ms = open.timestamp_millis();
        (ms, ms + 59_999)
    };
    format!(
        "{open_t},{base}.{minute:04}0000,{high}.00000000,{base}.00000000,{base}.{minute:04}5000,12.34567000,{close_t},832451.12345670,{trades},6.10000000,411234.50000000,0\n",
        high = base + 1,
        trades = 1000 + minute,
    )
}

/// The archive CSV of `symbol` for the days `first..=last`, every minute present.
pub fn archive_csv(symbol: &str, first: NaiveDate, last: NaiveDate) -> String {
    let mut csv = String::new();
    for day in first.iter_days().take_while(|d| *d <= last) {
        let start = day.and_time(chrono::NaiveTime::MIN).and_utc();
        for m in 0..1440 {
            csv.push_str(&archive_row(symbol, start + TimeDelta::minutes(m)));
        }
    }
    csv
}

/// A zip holding `csv` as `entry`, deflated, with a fixed timestamp: the same input gives
/// the same bytes.
pub fn zip_of(entry: &str, csv: &[u8]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let written = writer
        .start_file(entry, options)
        .and_then(|()| writer.write_all(csv).map_err(Into::into))
        .and_then(|()| writer.finish());
    match written {
        Ok(cursor) => cursor.into_inner(),
        Err(e) => panic!("cannot build the zip {entry}: {e}"),
    }
}

/// The `.CHECKSUM` body for `zip` named `name`, as the archive serves it.
pub fn checksum_of(zip: &[u8], name: &str) -> String {
    format!("{}  {name}\n", sha256_hex(zip))
}

/// A file the archive serves, parsed from its path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requested {
    pub symbol: String,
    pub first: NaiveDate,
    pub last: NaiveDate,
    /// `BTCUSDT-1m-2024-06-01.zip`
    pub name: String,
    pub checksum: bool,
}

/// Reads `/data/spot/{daily,monthly}/klines/<S>/1m/<S>-1m-<period>.zip[.CHECKSUM]`.
pub fn parse_path(path: &str) -> Option<Requested> {
    let rest = path.strip_prefix("/data/spot/")?;
    let (folder, rest) = rest.split_once("/klines/")?;
    let (symbol, file) = rest.split_once("/1m/")?;
    let (name, checksum) = match file.strip_suffix(".CHECKSUM") {
        Some(name) => (name, true),
        None => (file, false),
    };
    let period = name
        .strip_prefix(&format!("{symbol}-1m-"))?
        .strip_suffix(".zip")?;
    let (first, last) = match folder {
        "daily" => {
            let day = NaiveDate::parse_from_str(period, "%Y-%m-%d").ok()?;
            (day, day)
        }
        "monthly" => {
            let first = NaiveDate::parse_from_str(&format!("{period}-01"), "%Y-%m-%d").ok()?;
            let next = first.checked_add_months(chrono::Months::new(1))?;
            (first, next.pred_opt()?)
        }
        _ => return None,
    };
    Some(Requested {
        symbol: symbol.to_owned(),
        first,
        last,
        name: name.to_owned(),
        checksum,
    })
}

/// The zip a request names, generated.
pub fn generated_zip(requested: &Requested) -> Vec<u8> {
    let csv = archive_csv(&requested.symbol, requested.first, requested.last);
    zip_of(&requested.name.replace(".zip", ".csv"), csv.as_bytes())
}

/// Serves every file as generated; days from today on are 404, as the archive has not
/// published them. The last zip made is kept, since its CHECKSUM is asked for next.
#[derive(Default)]
pub struct GeneratedArchive {
    last: Mutex<Option<(String, Vec<u8>)>>,
}

impl GeneratedArchive {
    fn zip(&self, requested: &Requested) -> Vec<u8> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match last.as_ref() {
            Some((name, zip)) if *name == requested.name => zip.clone(),
            _ => {
                let zip = generated_zip(requested);
                *last = Some((requested.name.clone(), zip.clone()));
                zip
            }
        }
    }
}

impl Respond for GeneratedArchive {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let Some(requested) = parse_path(request.url.path()) else {
            return ResponseTemplate::new(404);
        };
        if requested.last >= Utc::now().date_naive() {
            return ResponseTemplate::new(404);
        }
        let zip = self.zip(&requested);
        if requested.checksum {
            ResponseTemplate::new(200).set_body_string(checksum_of(&zip, &requested.name))
        } else {
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/zip")
                .set_body_bytes(zip)
        }
    }
}

/// A running archive stand-in.
pub struct ArchiveStandin {
    pub server: MockServer,
}

/// Overrides take precedence over the generated archive (wiremock: lower runs first).
const OVERRIDE: u8 = 1;

impl ArchiveStandin {
    pub async fn start() -> ArchiveStandin {
        ArchiveStandin::on(MockServer::start().await).await
    }

    /// Serves the generated archive on `server`.
    pub async fn on(server: MockServer) -> ArchiveStandin {
        Mock::given(method("GET"))
            .respond_with(GeneratedArchive::default())
            .with_priority(10)
            .mount(&server)
            .await;
        ArchiveStandin { server }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    async fn answer(&self, at: &str, response: ResponseTemplate) {
        Mock::given(method("GET"))
            .and(path(at))
            .respond_with(response)
            .with_priority(OVERRIDE)
            .mount(&self.server)
            .await;
    }

    /// `file_path`'s zip is served as `zip` with a CHECKSUM that matches it.
    pub async fn serve_zip(&self, file_path: &str, zip: Vec<u8>) {
        let name = file_path.rsplit('/').next().unwrap_or(file_path);
        self.answer(
            &format!("{file_path}.CHECKSUM"),
            ResponseTemplate::new(200).set_body_string(checksum_of(&zip, name)),
        )
        .await;
        self.answer(file_path, ResponseTemplate::new(200).set_body_bytes(zip))
            .await;
    }

    /// `file_path` (a zip) serves `csv` zipped, with a matching CHECKSUM: for bad rows.
    pub async fn serve_csv(&self, file_path: &str, csv: &str) {
        let entry = file_path
            .rsplit('/')
            .next()
            .unwrap_or(file_path)
            .replace(".zip", ".csv");
        self.serve_zip(file_path, zip_of(&entry, csv.as_bytes()))
            .await;
    }

    /// The CHECKSUM of `file_path` names another hash.
    pub async fn wrong_checksum(&self, file_path: &str) {
        let name = file_path.rsplit('/').next().unwrap_or(file_path);
        self.answer(
            &format!("{file_path}.CHECKSUM"),
            ResponseTemplate::new(200)
                .set_body_string(format!("{}  {name}\n", sha256_hex(b"something else"))),
        )
        .await;
    }

    /// `file_path` has no CHECKSUM (404).
    pub async fn no_checksum(&self, file_path: &str) {
        self.answer(&format!("{file_path}.CHECKSUM"), ResponseTemplate::new(404))
            .await;
    }

    /// `file_path` and its CHECKSUM are not published (404).
    pub async fn not_published(&self, file_path: &str) {
        self.answer(file_path, ResponseTemplate::new(404)).await;
        self.no_checksum(file_path).await;
    }

    /// `file_path` is bytes that are not a zip, with a CHECKSUM that matches them.
    pub async fn corrupt_zip(&self, file_path: &str) {
        let mut zip = b"PK\x03\x04 this is not a zip archive".to_vec();
        zip.extend_from_slice(&[0u8; 64]);
        self.serve_zip(file_path, zip).await;
    }

    /// `file_path` answers `status` `times` times, then as usual.
    pub async fn fail_first(&self, file_path: &str, status: u16, times: u64) {
        Mock::given(method("GET"))
            .and(path(file_path))
            .respond_with(ResponseTemplate::new(status).set_body_string("<html>busy</html>"))
            .up_to_n_times(times)
            .with_priority(OVERRIDE)
            .mount(&self.server)
            .await;
    }

    /// How many requests reached `file_path`.
    pub async fn hits(&self, file_path: &str) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == file_path)
            .count()
    }
}

/// The archive path of `symbol`'s daily zip of `day`.
pub fn daily_path(symbol: &str, day: NaiveDate) -> String {
    format!(
        "/data/spot/daily/klines/{symbol}/1m/{symbol}-1m-{}.zip",
        day.format("%Y-%m-%d")
    )
}

/// The archive path of `symbol`'s monthly zip of `year`-`month`.
pub fn monthly_path(symbol: &str, year: i32, month: u32) -> String {
    format!("/data/spot/monthly/klines/{symbol}/1m/{symbol}-1m-{year:04}-{month:02}.zip")
}

/// The first day of `day`'s month.
pub fn month_of(day: NaiveDate) -> (i32, u32) {
    (day.year(), day.month())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_to_what_they_name() {
        let r = parse_path("/data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-02.zip.CHECKSUM")
            .unwrap();
        assert_eq!(r.first.to_string(), "2024-02-01");
        assert_eq!(r.last.to_string(), "2024-02-29");
        assert!(r.checksum);
        assert_eq!(r.name, "BTCUSDT-1m-2024-02.zip");
        assert!(
            parse_path("/data/spot/daily/klines/BTCUSDT/1m/ETHUSDT-1m-2024-02-01.zip").is_none()
        );
    }

    #[test]
    fn rows_use_milliseconds_before_2025_and_microseconds_after() {
        let day = |s: &str| {
            s.parse::<NaiveDate>()
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
        };
        let old = archive_row("BTCUSDT", day("2024-12-31"));
        assert!(old.starts_with("1735603200000,"), "{old}");
        assert!(old.contains(",1735603259999,"), "{old}");
        let new = archive_row("BTCUSDT", day("2025-01-01"));
        assert!(new.starts_with("1735689600000000,"), "{new}");
        assert!(new.contains(",1735689659999999,"), "{new}");
        assert_eq!(
            zip_of("a.csv", b"x"),
            zip_of("a.csv", b"x"),
            "deterministic zips"
        );
    }
}
