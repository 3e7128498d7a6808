//! Backfills from the archive stand-in into moto's S3: one object per pair and day,
//! milliseconds and microseconds alike, months split into days, every refused file
//! (checksum wrong or missing, corrupt zip, bad row) writing nothing of its own while the
//! rest is written, 404s reported as skipped, and a run cut by its deadline finishing in a
//! second call with exactly the objects one uninterrupted run writes.

use chrono::NaiveDate;
use coinlake::backfill::{
    Backfill, BackfillRequest, BackfillSummary, FailedUnit, Progress, Silent, Unit, UnitOutcome,
};
use coinlake::binance::{ArchiveClient, Kline, RetryPolicy};
use coinlake::kline_csv::{check_kline_header, decode_kline_row};
use coinlake::store::S3Store;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use testkit::binance_archive::{daily_path, monthly_path, ArchiveStandin};
use testkit::TestBucket;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

fn day(text: &str) -> NaiveDate {
    text.parse().expect("a date")
}

fn request(symbols: &[&str], from: &str, to: &str) -> BackfillRequest {
    BackfillRequest {
        symbols: symbols.iter().map(|s| s.to_string()).collect(),
        from: day(from),
        to: day(to),
    }
}

fn backfill(standin: &ArchiveStandin, bucket: &TestBucket) -> Backfill<S3Store> {
    let retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        request_timeout: Duration::from_secs(10),
    };
    let archive = ArchiveClient::new(&standin.uri(), retry).expect("archive client");
    Backfill::new(
        archive,
        S3Store::new(bucket.client.clone(), bucket.name.clone()),
    )
    .with_concurrency(2)
}

async fn run(
    standin: &ArchiveStandin,
    bucket: &TestBucket,
    r: &BackfillRequest,
) -> BackfillSummary {
    backfill(standin, bucket)
        .run(r, None, &Silent)
        .await
        .expect("a valid request")
}

/// Backfills one pair's one day into a new bucket.
async fn backfill_day(
    standin: &ArchiveStandin,
    symbol: &str,
    d: &str,
) -> (TestBucket, BackfillSummary) {
    let bucket = TestBucket::new().await;
    let summary = run(standin, &bucket, &request(&[symbol], d, d)).await;
    (bucket, summary)
}

/// Backfills BTCUSDT's 2024-06-01, which `standin` is set up to spoil: nothing may be
/// written, and the day is the one failure.
async fn refused_day(standin: &ArchiveStandin) -> FailedUnit {
    let (bucket, summary) = backfill_day(standin, "BTCUSDT", "2024-06-01").await;
    assert!(bucket.keys().await.is_empty());
    assert_eq!(summary.failures.len(), 1, "{summary:?}");
    summary.failures.into_iter().next().expect("one failure")
}

fn key(symbol: &str, d: &str) -> String {
    coinlake::layout::archive_day_key(day(d), symbol)
}

/// The object's rows, read back through the klines CSV contract.
async fn rows(bucket: &TestBucket, key: &str) -> Vec<Kline> {
    let body = bucket.get(key).await.body;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body.as_slice());
    let mut records = reader.byte_records();
    let header = records.next().expect("a header").expect("a record");
    check_kline_header(&header).expect("the klines header");
    records
        .enumerate()
        .map(|(i, r)| decode_kline_row(&r.expect("a record"), i as u64 + 2).expect("a valid row"))
        .collect()
}

fn text_of(kline: &Kline) -> (String, String) {
    let f = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string();
    (f(kline.open_time), f(kline.close_time))
}

#[tokio::test]
async fn a_millisecond_day_and_a_microsecond_day_give_objects_of_the_same_shape() {
    let standin = ArchiveStandin::start().await;
    let bucket = TestBucket::new().await;
    let summary = run(
        &standin,
        &bucket,
        &request(&["BTCUSDT"], "2024-12-31", "2025-01-01"),
    )
    .await;

    assert_eq!(
        bucket.keys().await,
        [key("BTCUSDT", "2024-12-31"), key("BTCUSDT", "2025-01-01")]
    );
    assert_eq!(summary.rows, 2 * 1440);
    assert!(
        summary.failures.is_empty() && summary.gaps.is_empty(),
        "{summary:?}"
    );
    for (d, first, last) in [
        ("2024-12-31", "2024-12-31 00:00", "2024-12-31 23:59"),
        ("2025-01-01", "2025-01-01 00:00", "2025-01-01 23:59"),
    ] {
        let klines = rows(&bucket, &key("BTCUSDT", d)).await;
        assert_eq!(klines.len(), 1440, "{d}");
        assert_eq!(
            text_of(&klines[0]),
            (format!("{first}:00.000"), format!("{first}:59.999")),
            "{d}"
        );
        assert_eq!(
            text_of(&klines[1439]),
            (format!("{last}:00.000"), format!("{last}:59.999")),
            "{d}"
        );
    }
    let object = bucket.get(&key("BTCUSDT", "2025-01-01")).await;
    assert_eq!(
        object.metadata.get("source").map(String::as_str),
        Some("BTCUSDT-1m-2025-01-01.zip")
    );
}

#[tokio::test]
async fn a_month_comes_from_its_monthly_zip_split_into_one_object_per_pair_and_day() {
    let standin = ArchiveStandin::start().await;
    let bucket = TestBucket::new().await;
    let summary = run(
        &standin,
        &bucket,
        &request(&["BTCUSDT", "ETHUSDT"], "2024-06-01", "2024-06-30"),
    )
    .await;

    let keys = bucket.keys().await;
    assert_eq!(keys.len(), 60, "{keys:?}");
    assert_eq!(summary.written.len(), 60);
    assert_eq!(summary.rows, 60 * 1440);
    assert_eq!(standin.hits(&monthly_path("BTCUSDT", 2024, 6)).await, 1);
    assert_eq!(
        standin
            .hits(&daily_path("BTCUSDT", day("2024-06-15")))
            .await,
        0
    );
    let mid = rows(&bucket, &key("ETHUSDT", "2024-06-15")).await;
    assert_eq!(mid.len(), 1440);
    assert!(mid
        .iter()
        .all(|k| k.symbol == "ETHUSDT" && k.open_time.date_naive() == day("2024-06-15")));
    assert!(
        mid.windows(2).all(|w| w[0].open_time < w[1].open_time),
        "sorted by open time"
    );
}

#[tokio::test]
async fn a_month_not_yet_published_is_read_from_its_daily_zips() {
    let standin = ArchiveStandin::start().await;
    standin
        .not_published(&monthly_path("BTCUSDT", 2024, 2))
        .await;
    let bucket = TestBucket::new().await;
    let summary = run(
        &standin,
        &bucket,
        &request(&["BTCUSDT"], "2024-02-01", "2024-02-29"),
    )
    .await;

    assert_eq!(bucket.keys().await.len(), 29);
    assert_eq!(
        standin
            .hits(&daily_path("BTCUSDT", day("2024-02-29")))
            .await,
        1
    );
    assert_eq!(summary.skipped.len(), 1);
    assert_eq!(summary.skipped[0].file, "BTCUSDT-1m-2024-02.zip");
}

#[tokio::test]
async fn a_wrong_checksum_is_refused_and_only_that_pair_day_is_missing() {
    let standin = ArchiveStandin::start().await;
    standin
        .wrong_checksum(&daily_path("BTCUSDT", day("2024-06-01")))
        .await;
    let bucket = TestBucket::new().await;
    let summary = run(
        &standin,
        &bucket,
        &request(&["BTCUSDT", "ETHUSDT"], "2024-06-01", "2024-06-02"),
    )
    .await;

    assert_eq!(
        bucket.keys().await,
        [
            key("ETHUSDT", "2024-06-01"),
            key("BTCUSDT", "2024-06-02"),
            key("ETHUSDT", "2024-06-02"),
        ]
    );
    assert_eq!(summary.failures.len(), 1, "{summary:?}");
    let failure = &summary.failures[0];
    assert_eq!(
        (failure.symbol.as_str(), failure.period.as_str()),
        ("BTCUSDT", "2024-06-01")
    );
    assert_eq!(failure.kind, "ArchiveChecksumMismatch");
    assert!(!failure.transient);
    assert!(
        failure.error.starts_with(
            "BTCUSDT-1m-2024-06-01.zip does not match its CHECKSUM: expected SHA-256 "
        ),
        "{}",
        failure.error
    );
}

#[tokio::test]
async fn a_zip_without_checksum_is_refused() {
    let standin = ArchiveStandin::start().await;
    standin
        .no_checksum(&daily_path("BTCUSDT", day("2024-06-01")))
        .await;
    let failure = refused_day(&standin).await;

    assert_eq!(failure.kind, "ArchiveChecksumMissing");
    assert!(failure
        .error
        .contains("BTCUSDT-1m-2024-06-01.zip has no CHECKSUM file"));
}

#[tokio::test]
async fn a_day_not_published_is_reported_as_skipped() {
    let standin = ArchiveStandin::start().await;
    standin
        .not_published(&daily_path("ETHUSDT", day("2024-06-02")))
        .await;
    let bucket = TestBucket::new().await;
    let summary = run(
        &standin,
        &bucket,
        &request(&["ETHUSDT"], "2024-06-01", "2024-06-02"),
    )
    .await;

    assert_eq!(bucket.keys().await, [key("ETHUSDT", "2024-06-01")]);
    assert!(summary.failures.is_empty());
    assert_eq!(summary.skipped.len(), 1);
    assert_eq!(summary.skipped[0].file, "ETHUSDT-1m-2024-06-02.zip");
    assert!(summary.skipped[0]
        .reason
        .contains("not published (HTTP 404)"));
}

#[tokio::test]
async fn a_corrupt_zip_is_refused() {
    let standin = ArchiveStandin::start().await;
    standin
        .corrupt_zip(&daily_path("BTCUSDT", day("2024-06-01")))
        .await;
    let failure = refused_day(&standin).await;

    assert_eq!(failure.kind, "ArchiveBadZip");
    assert!(failure
        .error
        .starts_with("BTCUSDT-1m-2024-06-01.zip is not a readable zip"));
}

#[tokio::test]
async fn a_bad_row_is_refused_naming_the_file_and_line() {
    let standin = ArchiveStandin::start().await;
    let file = daily_path("BTCUSDT", day("2024-06-01"));
    let start = day("2024-06-01")
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let good = |m: i64| {
        testkit::binance_archive::archive_row("BTCUSDT", start + chrono::TimeDelta::minutes(m))
    };
    let csv = format!(
        "{}{}1717200120000,67000.01,67010,66990.5,67005,12.3,1717200179999,8271,oops,6.1,4087,0\n",
        good(0),
        good(1)
    );
    standin.serve_csv(&file, &csv).await;
    let failure = refused_day(&standin).await;

    assert_eq!(failure.kind, "ArchiveBadRow");
    assert_eq!(
        failure.error,
        "BTCUSDT-1m-2024-06-01.zip, line 3: column 9 (trades) is \"oops\", not a count"
    );
}

#[tokio::test]
async fn a_row_from_another_day_is_refused() {
    let standin = ArchiveStandin::start().await;
    let file = daily_path("BTCUSDT", day("2024-06-01"));
    let csv =
        testkit::binance_archive::archive_csv("BTCUSDT", day("2024-06-01"), day("2024-06-02"));
    standin.serve_csv(&file, &csv).await;
    let failure = refused_day(&standin).await;

    assert_eq!(failure.kind, "ArchiveBadSequence");
    assert!(
        failure
            .error
            .contains("2024-06-02 00:00:00 UTC, outside the range"),
        "{}",
        failure.error
    );
}

#[tokio::test]
async fn missing_minutes_are_reported_as_gaps() {
    let standin = ArchiveStandin::start().await;
    let file = daily_path("BTCUSDT", day("2024-06-01"));
    let csv: String =
        testkit::binance_archive::archive_csv("BTCUSDT", day("2024-06-01"), day("2024-06-01"))
            .lines()
            .enumerate()
            .filter(|(i, _)| !(600..610).contains(i))
            .map(|(_, l)| format!("{l}\n"))
            .collect();
    standin.serve_csv(&file, &csv).await;
    let (bucket, summary) = backfill_day(&standin, "BTCUSDT", "2024-06-01").await;

    assert_eq!(
        rows(&bucket, &key("BTCUSDT", "2024-06-01")).await.len(),
        1430
    );
    assert_eq!(summary.gaps.len(), 1);
    assert_eq!(summary.gaps[0].missing_minutes, 10);
    assert_eq!(
        summary.gaps[0].gaps[0].0.to_rfc3339(),
        "2024-06-01T10:00:00+00:00"
    );
}

#[tokio::test]
async fn a_pair_listed_mid_month_gets_objects_from_its_first_day_and_gaps_before() {
    let standin = ArchiveStandin::start().await;
    let csv =
        testkit::binance_archive::archive_csv("NEWUSDT", day("2024-06-25"), day("2024-06-30"));
    standin
        .serve_csv(&monthly_path("NEWUSDT", 2024, 6), &csv)
        .await;
    let bucket = TestBucket::new().await;
    let summary = run(
        &standin,
        &bucket,
        &request(&["NEWUSDT"], "2024-06-01", "2024-06-30"),
    )
    .await;

    assert_eq!(bucket.keys().await.len(), 6);
    assert_eq!(bucket.keys().await[0], key("NEWUSDT", "2024-06-25"));
    assert_eq!(summary.gaps.len(), 24);
    assert_eq!(
        (summary.gaps[0].day, summary.gaps[0].missing_minutes),
        (day("2024-06-01"), 1440)
    );
    assert!(summary.failures.is_empty());
}

#[tokio::test]
async fn server_errors_are_retried_then_the_file_is_read() {
    let standin = ArchiveStandin::start().await;
    let file = daily_path("BTCUSDT", day("2024-06-01"));
    standin.fail_first(&file, 503, 2).await;
    let (bucket, summary) = backfill_day(&standin, "BTCUSDT", "2024-06-01").await;

    assert!(summary.failures.is_empty(), "{summary:?}");
    assert_eq!(bucket.keys().await, [key("BTCUSDT", "2024-06-01")]);
    assert_eq!(standin.hits(&file).await, 3);
}

#[tokio::test]
async fn server_errors_past_the_retries_fail_the_unit_as_transient() {
    let standin = ArchiveStandin::start().await;
    let file = daily_path("BTCUSDT", day("2024-06-01"));
    standin.fail_first(&file, 502, 10).await;
    let failure = refused_day(&standin).await;

    assert_eq!(failure.kind, "BinanceOutOfTime");
    assert!(failure.transient);
    assert!(failure.error.contains("HTTP 502"), "{}", failure.error);
}

/// Records what a progress bar would be told.
#[derive(Default)]
struct Recorded(Mutex<Vec<String>>);

impl Progress for Recorded {
    fn planned(&self, units: usize) {
        self.0
            .lock()
            .expect("lock")
            .push(format!("planned {units}"));
    }
    fn started(&self, unit: &Unit) {
        self.0
            .lock()
            .expect("lock")
            .push(format!("started {} {}", unit.symbol, unit.period));
    }
    fn finished(&self, unit: &Unit, outcome: &UnitOutcome) {
        self.0.lock().expect("lock").push(format!(
            "finished {} {} {outcome:?}",
            unit.symbol, unit.period
        ));
    }
}

#[tokio::test]
async fn a_run_cut_by_its_deadline_returns_the_rest_and_a_second_call_finishes_it_identically() {
    let whole = request(&["BTCUSDT", "ETHUSDT"], "2024-05-31", "2024-06-02");
    let standin = ArchiveStandin::start().await;
    // The first period's files answer slowly, so the second cannot start within the margin.
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        let file = daily_path(symbol, day("2024-05-31"));
        let zip = testkit::binance_archive::generated_zip(
            &testkit::binance_archive::parse_path(&file).expect("a path"),
        );
        Mock::given(method("GET"))
            .and(path(file.as_str()))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_bytes(zip)
                    .set_delay(Duration::from_secs(3)),
            )
            .with_priority(1)
            .mount(&standin.server)
            .await;
    }

    let cut = TestBucket::new().await;
    let runner = backfill(&standin, &cut).with_margin(Duration::from_secs(10));
    let progress = Recorded::default();
    let deadline = Instant::now() + Duration::from_secs(12);
    let first = runner
        .run(&whole, Some(deadline), &progress)
        .await
        .expect("valid");
    assert_eq!(
        first.remaining,
        Some(request(&["BTCUSDT", "ETHUSDT"], "2024-06-01", "2024-06-02"))
    );
    assert_eq!(first.written.len(), 2, "{first:?}");
    let told = progress.0.lock().expect("lock").clone();
    assert_eq!(told[0], "planned 6");
    assert!(
        told.contains(&"finished ETHUSDT 2024-05-31 Written { days: 1, rows: 1440 }".to_owned()),
        "{told:?}"
    );

    let rest = first.remaining.clone().expect("a rest");
    let second = runner.run(&rest, None, &Silent).await.expect("valid");
    assert_eq!(second.remaining, None);
    assert_eq!(second.written.len(), 4);

    let single = TestBucket::new().await;
    let once = run(&standin, &single, &whole).await;
    assert_eq!(once.remaining, None);
    let keys = single.keys().await;
    assert_eq!(cut.keys().await, keys);
    assert_eq!(keys.len(), 6);
    for key in &keys {
        assert_eq!(cut.get(key).await.body, single.get(key).await.body, "{key}");
    }
}

#[tokio::test]
async fn an_invalid_request_is_refused_before_any_download() {
    let standin = ArchiveStandin::start().await;
    let bucket = TestBucket::new().await;
    let runner = backfill(&standin, &bucket);
    let today = chrono::Utc::now().date_naive();
    let cases = [
        (
            request(&["BTCUSDT"], "2024-06-02", "2024-06-01"),
            "is empty: \"to\" is before \"from\"",
        ),
        (
            request(&["btcusdt"], "2024-06-01", "2024-06-01"),
            "is not a Binance spot pair",
        ),
        (
            request(&[], "2024-06-01", "2024-06-01"),
            "at least one pair",
        ),
        (
            request(&["BTCUSDT"], "2022-01-01", "2024-06-01"),
            "at most 366 per request",
        ),
        (
            BackfillRequest {
                symbols: vec!["BTCUSDT".into()],
                from: today,
                to: today,
            },
            "today, UTC",
        ),
    ];
    for (bad, expected) in cases {
        let error = runner.run(&bad, None, &Silent).await.expect_err("refused");
        assert_eq!(error.kind(), "InvalidBackfillRequest");
        assert!(error.to_string().contains(expected), "{error}");
    }
    assert!(standin
        .server
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty());
    assert!(bucket.keys().await.is_empty());
}
