//! Binance klines objects (`raw/klines/interval=1m/...`) load into `klines_1m` exactly
//! once, through PostgreSQL and through the Data API alike: slot objects, archive days
//! that overlap them, replays and concurrent loads store each pair's minute once, the first
//! load winning; defective files are rejected whole; the quotes rollup and its watermark
//! never see a klines run.

use crate::common::{self, dataset_replay_event, invocation, quote, s3_event, utc, World};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use coinlake::binance::{closed_minutes, Kline};
use coinlake::decimal::DecimalText;
use coinlake::kline_csv::encode_klines;
use coinlake::layout::{archive_day_key, object_key, Dataset};
use coinlake::slot::Slot;
use lambda_runtime::Diagnostic;
use serde_json::{json, Value};
use testkit::data_api::DataApiEmulator;

/// The pairs of a slot object, in the order the file holds them.
const PAIRS: [&str; 5] = ["BNBUSDT", "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"];

/// One minute of `symbol`, with values that tell minutes apart and decimal text that a
/// float or a normalising NUMERIC cast would change (trailing zeros, 24 digits).
fn kline(symbol: &str, open_time: DateTime<Utc>, close: &str) -> Kline {
    let minute = open_time.timestamp() / 60 % 1440;
    let d = |text: &str| DecimalText::parse(text).expect("decimal");
    Kline {
        symbol: symbol.to_owned(),
        open_time,
        close_time: open_time + TimeDelta::milliseconds(59_999),
        open: d(&format!("{minute}.01000000")),
        high: d(&format!("{minute}.50000000")),
        low: d("0.00000001"),
        close: d(close),
        volume: d("12.34567000"),
        quote_volume: d("827103.123456789012345678"),
        trades: minute,
        taker_buy_base_volume: d("6.10000000"),
        taker_buy_quote_volume: d("0.00000000"),
    }
}

/// The klines of the slot at `slot`: the five minutes that closed before it, per pair.
fn slot_klines(slot: &str) -> Vec<Kline> {
    let (from, _) = closed_minutes(Slot::containing(utc(slot)));
    PAIRS
        .iter()
        .flat_map(|pair| {
            (0..5).map(move |m| kline(pair, from + TimeDelta::minutes(m), "100.25000000"))
        })
        .collect()
}

/// A whole day of one pair from the archive; its close differs from the slot objects', so
/// the table shows which load stored a minute.
fn archive_klines(day: NaiveDate, symbol: &str) -> Vec<Kline> {
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    (0..1440)
        .map(|m| kline(symbol, midnight + TimeDelta::minutes(m), "7.00"))
        .collect()
}

fn text(klines: &[Kline]) -> String {
    String::from_utf8(encode_klines(klines).expect("encode")).expect("UTF-8")
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
}

/// A load function over its own bucket and database, writing through PostgreSQL or
/// through the Data API stand-in.
struct Klines {
    world: World,
    app: load::App,
    _emulator: Option<DataApiEmulator>,
}

impl Klines {
    async fn new(data_api: bool) -> Klines {
        let world = World::new().await;
        let (app, emulator) = if data_api {
            // The Data API sink never migrates: the cluster is migrated beforehand.
            world.migrate().await;
            let emulator = DataApiEmulator::start(&world.db.host, world.db.port).await;
            let vars = common::data_api_vars(&world.db.name, &emulator.endpoint);
            (world.app(&vars).await, Some(emulator))
        } else {
            (world.app(&[]).await, None)
        };
        Klines {
            world,
            app,
            _emulator: emulator,
        }
    }

    /// Writes the slot object of `slot`; returns its key.
    async fn put_slot(&self, slot: &str) -> String {
        let key = object_key(Dataset::Klines, Slot::containing(utc(slot)));
        self.world
            .bucket
            .put_object(&key, &text(&slot_klines(slot)))
            .await;
        key
    }

    async fn put_archive(&self, date: &str, symbol: &str) -> String {
        let key = archive_day_key(day(date), symbol);
        self.world
            .bucket
            .put_object(&key, &text(&archive_klines(day(date), symbol)))
            .await;
        key
    }

    /// Loads `key` as its S3 notification would; returns the object's counts.
    async fn load(&self, key: &str) -> Value {
        let answer = load::handle(&self.app, s3_event(&self.world.bucket.name, &[key]))
            .await
            .unwrap_or_else(|e| panic!("loading {key}: {e}"));
        let mut result = serde_json::to_value(answer).expect("serialises")["results"][0].clone();
        assert_eq!(result["key"], key);
        result.as_object_mut().expect("object").remove("key");
        result
    }

    /// Every run as `dataset|slot_at|status|rows|inserted|replaced|present`, in order.
    async fn runs(&self) -> Vec<String> {
        self.world
            .texts(
                "SELECT format('%s|%s|%s|%s|%s|%s|%s', dataset, \
                 to_char(slot_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), status, rows_in_file, \
                 rows_inserted, rows_replaced, rows_present) FROM ingest_runs ORDER BY id",
            )
            .await
    }

    async fn count(&self, sql: &str) -> i64 {
        self.world.scalar(sql).await
    }

    /// The whole table as text, in key order.
    async fn table(&self) -> Vec<String> {
        self.world
            .texts(
                "SELECT format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', symbol, \
                 to_char(open_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'), \
                 to_char(close_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'), \
                 open, high, low, close, volume, quote_volume, trades, taker_buy_base_volume, \
                 taker_buy_quote_volume, s3_key) FROM klines_1m ORDER BY symbol, open_time",
            )
            .await
    }
}

fn counts(rows: u64, inserted: u64, already_present: u64) -> Value {
    json!({ "status": "loaded", "rows": rows, "inserted": inserted, "replaced": 0, "already_present": already_present })
}

async fn a_slot_object_loads_once_and_a_reload_is_all_already_present(data_api: bool) {
    // GIVEN the 12:35 slot object: five pairs, five minutes each
    let klines = Klines::new(data_api).await;
    let key = klines.put_slot("2024-06-01T12:35:00Z").await;

    // WHEN it loads, and loads again (a redelivered notification)
    let first = klines.load(&key).await;
    let table = klines.table().await;
    let second = klines.load(&key).await;

    // THEN 25 minutes are stored, with Binance's exact text, once
    assert_eq!(first, counts(25, 25, 0));
    assert_eq!(second, counts(25, 0, 25));
    assert_eq!(table.len(), 25);
    assert_eq!(klines.table().await, table, "the reload changed nothing");
    assert_eq!(
        table[5],
        format!(
            "BTCUSDT|2024-06-01 12:30:00.000|2024-06-01 12:30:59.999|750.01000000|750.50000000|\
             0.00000001|100.25000000|12.34567000|827103.123456789012345678|750|6.10000000|\
             0.00000000|{key}"
        )
    );
    assert_eq!(
        klines.runs().await,
        [
            "klines|2024-06-01 12:35|loaded|25|25|0|0",
            "klines|2024-06-01 12:35|loaded|25|0|0|25"
        ]
    );
    assert_eq!(klines.count("SELECT count(*) FROM quotes").await, 0);
    assert_eq!(klines.count("SELECT count(*) FROM assets").await, 0);
}

#[tokio::test]
async fn a_slot_object_loads_once_and_a_reload_is_all_already_present_through_postgresql() {
    a_slot_object_loads_once_and_a_reload_is_all_already_present(false).await;
}

#[tokio::test]
async fn a_slot_object_loads_once_and_a_reload_is_all_already_present_through_the_data_api() {
    a_slot_object_loads_once_and_a_reload_is_all_already_present(true).await;
}

async fn an_archive_day_adds_only_the_minutes_no_slot_object_stored(data_api: bool) {
    // GIVEN two slot objects loaded: ten of BTCUSDT's minutes
    let klines = Klines::new(data_api).await;
    let slots = [
        klines.put_slot("2024-06-01T12:35:00Z").await,
        klines.put_slot("2024-06-01T12:40:00Z").await,
    ];
    for key in &slots {
        klines.load(key).await;
    }

    // WHEN BTCUSDT's archive day arrives
    let archive = klines.put_archive("2024-06-01", "BTCUSDT").await;
    let loaded = klines.load(&archive).await;

    // THEN the ten minutes count as already present and keep the slot objects' values;
    // the run is recorded for the day's midnight
    assert_eq!(loaded, counts(1440, 1430, 10));
    assert_eq!(
        klines.count("SELECT count(*) FROM klines_1m").await,
        50 + 1430
    );
    for key in &slots {
        let from_slot = format!(
            "SELECT count(*) FROM klines_1m WHERE symbol = 'BTCUSDT' AND close = 100.25 AND s3_key = '{key}'"
        );
        assert_eq!(klines.count(&from_slot).await, 5, "{key}");
    }
    let from_archive = format!(
        "SELECT count(*) FROM klines_1m WHERE symbol = 'BTCUSDT' AND close = 7 AND s3_key = '{archive}'"
    );
    assert_eq!(klines.count(&from_archive).await, 1430);
    assert_eq!(
        klines.runs().await.last().map(String::as_str),
        Some("klines|2024-06-01 00:00|loaded|1440|1430|0|10")
    );
}

#[tokio::test]
async fn an_archive_day_adds_only_the_minutes_no_slot_object_stored_through_postgresql() {
    an_archive_day_adds_only_the_minutes_no_slot_object_stored(false).await;
}

#[tokio::test]
async fn an_archive_day_adds_only_the_minutes_no_slot_object_stored_through_the_data_api() {
    an_archive_day_adds_only_the_minutes_no_slot_object_stored(true).await;
}

async fn a_klines_replay_loads_the_days_slot_and_archive_objects(data_api: bool) {
    // GIVEN a day with a slot object and an archive object, the next day's slot object, and
    // a quotes snapshot of the same day
    let klines = Klines::new(data_api).await;
    let slot = klines.put_slot("2024-06-01T12:35:00Z").await;
    let archive = klines.put_archive("2024-06-01", "BTCUSDT").await;
    klines.put_slot("2024-06-02T00:05:00Z").await;
    klines.world.put_btc("2024-06-01T12:35:00Z", "99").await;

    // WHEN the klines of 2024-06-01 are replayed
    let answer = load::handle(
        &klines.app,
        dataset_replay_event("klines", "2024-06-01", "2024-06-01"),
    )
    .await
    .expect("replay");
    let summary = serde_json::to_value(answer).expect("serialises");

    // THEN both of its objects loaded, the archive adding what the slot did not store
    assert_eq!(summary["dataset"], "klines");
    assert_eq!(summary["failures"], json!([]));
    let total = json!({ "files": 2, "loaded": 2, "rows": 25 + 1440, "inserted": 25 + 1435,
                        "replaced": 0, "already_present": 5, "failed": 0 });
    assert_eq!(summary["total"], total);
    assert_eq!(summary["days"]["2024-06-01"], total);
    assert_eq!(
        klines.count("SELECT count(*) FROM klines_1m").await,
        25 + 1435
    );
    assert_eq!(
        klines
            .count(&format!(
                "SELECT count(*) FROM ingest_runs WHERE status = 'loaded' AND dataset = 'klines' \
                 AND s3_key IN ('{slot}', '{archive}')"
            ))
            .await,
        2
    );
    assert_eq!(klines.count("SELECT count(*) FROM ingest_runs").await, 2);
    assert_eq!(klines.count("SELECT count(*) FROM quotes").await, 0);
}

#[tokio::test]
async fn a_klines_replay_loads_the_days_slot_and_archive_objects_through_postgresql() {
    a_klines_replay_loads_the_days_slot_and_archive_objects(false).await;
}

#[tokio::test]
async fn a_klines_replay_loads_the_days_slot_and_archive_objects_through_the_data_api() {
    a_klines_replay_loads_the_days_slot_and_archive_objects(true).await;
}

async fn concurrent_loads_of_the_same_objects_store_each_minute_once(data_api: bool) {
    // GIVEN a slot object and the archive day overlapping it, and eight functions
    let klines = Klines::new(data_api).await;
    let keys = [
        klines.put_slot("2024-06-01T12:35:00Z").await,
        klines.put_archive("2024-06-01", "BTCUSDT").await,
    ];
    let mut apps = Vec::new();
    for _ in 0..8 {
        apps.push(match &klines._emulator {
            Some(emulator) => {
                let vars = common::data_api_vars(&klines.world.db.name, &emulator.endpoint);
                klines.world.app(&vars).await
            }
            None => klines.world.app(&[]).await,
        });
    }

    // WHEN all eight load both objects at once, half of them in the other order
    let loads = apps.iter().enumerate().map(|(i, app)| {
        let mut order: Vec<&str> = keys.iter().map(String::as_str).collect();
        if i % 2 == 1 {
            order.reverse();
        }
        let event = s3_event(&klines.world.bucket.name, &order);
        async move { load::handle(app, event).await }
    });
    let results = futures::future::join_all(loads).await;

    // THEN every load succeeded and each minute was inserted by exactly one of them
    for result in &results {
        assert!(result.is_ok(), "{:?}", result.as_ref().err());
    }
    let minutes = 25 + 1435;
    assert_eq!(
        klines.count("SELECT count(*) FROM klines_1m").await,
        minutes
    );
    assert_eq!(
        klines
            .count("SELECT sum(rows_inserted) FROM ingest_runs")
            .await,
        minutes
    );
    assert_eq!(
        klines
            .count("SELECT sum(rows_inserted + rows_present) FROM ingest_runs")
            .await,
        8 * (25 + 1440)
    );
    assert_eq!(
        klines
            .count("SELECT count(*) FROM ingest_runs WHERE status = 'loaded'")
            .await,
        16
    );
}

#[tokio::test]
async fn concurrent_loads_of_the_same_objects_store_each_minute_once_through_postgresql() {
    concurrent_loads_of_the_same_objects_store_each_minute_once(false).await;
}

#[tokio::test]
async fn concurrent_loads_of_the_same_objects_store_each_minute_once_through_the_data_api() {
    concurrent_loads_of_the_same_objects_store_each_minute_once(true).await;
}

/// The 12:40 slot object's lines with `edit` applied.
fn edited_slot(edit: impl Fn(&mut Vec<String>)) -> String {
    let mut lines: Vec<String> = text(&slot_klines("2024-06-01T12:40:00Z"))
        .lines()
        .map(str::to_owned)
        .collect();
    edit(&mut lines);
    lines.iter().map(|l| format!("{l}\n")).collect()
}

async fn defective_klines_files_are_rejected_whole(data_api: bool) {
    let slot_key = object_key(
        Dataset::Klines,
        Slot::containing(utc("2024-06-01T12:40:00Z")),
    );
    let archive_key = archive_day_key(day("2024-06-01"), "BTCUSDT");
    let quotes_file = String::from_utf8(
        coinlake::csv_codec::encode_quotes(&[quote(
            1,
            "BTC",
            "100",
            "2024-06-01T12:39:00Z",
            "2024-06-01T12:40:00Z",
        )])
        .expect("encode"),
    )
    .expect("UTF-8");
    // Line 1002 is the first row of the second batch the sink asks for.
    let mut archive_lines: Vec<String> = text(&archive_klines(day("2024-06-01"), "BTCUSDT"))
        .lines()
        .map(str::to_owned)
        .collect();
    archive_lines[1001] = archive_lines[1000].clone();
    let archive_repeat: String = archive_lines.iter().map(|l| format!("{l}\n")).collect();
    let cases: Vec<(&str, &str, String, &str)> = vec![
        (
            "bad header",
            &slot_key,
            edited_slot(|l| l[0] = l[0].replace("quote_volume", "quote_vol")),
            "line 1: the header does not match the klines schema: column 9 is \"quote_vol\", expected \"quote_volume\"",
        ),
        (
            "bad row",
            &slot_key,
            edited_slot(|l| l[3] = l[3].replace("0.00000001", "N/A")),
            "line 4, column low: \"N/A\" is not a decimal number",
        ),
        (
            "minute out of order",
            &slot_key,
            edited_slot(|l| l.swap(2, 3)),
            "line 4, column open_time: BNBUSDT 2024-06-01 12:36:00.000 is earlier than BNBUSDT 2024-06-01 12:37:00.000",
        ),
        (
            "pair out of order",
            &slot_key,
            edited_slot(|l| {
                let last = l.pop().expect("a row");
                l.insert(1, last);
            }),
            "line 3, column symbol: BNBUSDT 2024-06-01 12:35:00.000 sorts before XRPUSDT 2024-06-01 12:39:00.000",
        ),
        (
            "duplicate minute",
            &slot_key,
            edited_slot(|l| l[3] = l[2].clone()),
            "line 4, column open_time: BNBUSDT 2024-06-01 12:36:00.000 repeats BNBUSDT 2024-06-01 12:36:00.000",
        ),
        (
            "duplicate minute across batches",
            &archive_key,
            archive_repeat,
            "line 1002, column open_time: BTCUSDT 2024-06-01 16:39:00.000 repeats",
        ),
        (
            "quotes header in a klines key",
            &slot_key,
            quotes_file,
            "line 1: the header does not match the klines schema: column 1 is \"slot_at\", expected \"symbol\"",
        ),
    ];
    for (case, key, body, expected) in cases {
        // GIVEN a database holding the 12:35 slot's klines
        let klines = Klines::new(data_api).await;
        let good = klines.put_slot("2024-06-01T12:35:00Z").await;
        klines.load(&good).await;
        let before = klines.table().await;

        // WHEN a defective klines file arrives
        klines.world.bucket.put_object(key, &body).await;
        let failure = Diagnostic::from(
            load::handle(&klines.app, s3_event(&klines.world.bucket.name, &[key]))
                .await
                .expect_err(case),
        );

        // THEN it is rejected naming the line, nothing of it is stored, the run says why
        assert_eq!(failure.error_type, "FileRejected", "{case}");
        assert!(
            failure.error_message.contains(expected),
            "{case}: {}",
            failure.error_message
        );
        assert_eq!(klines.table().await, before, "{case}");
        let rejected = klines
            .world
            .texts(&format!(
                "SELECT format('%s|%s', dataset, error) FROM ingest_runs \
                 WHERE status = 'rejected' AND s3_key = '{key}'"
            ))
            .await;
        assert_eq!(rejected.len(), 1, "{case}");
        assert!(
            rejected[0].starts_with("klines|") && rejected[0].contains(expected),
            "{case}: {rejected:?}"
        );
    }
}

#[tokio::test]
async fn defective_klines_files_are_rejected_whole_through_postgresql() {
    defective_klines_files_are_rejected_whole(false).await;
}

#[tokio::test]
async fn defective_klines_files_are_rejected_whole_through_the_data_api() {
    defective_klines_files_are_rejected_whole(true).await;
}

async fn maintain(app: &load::App, today: &str) -> Value {
    let event = json!({ "maintain": { "scheduled_time": format!("{today}T01:00:00Z") } });
    let answer = load::handle(app, invocation(event))
        .await
        .unwrap_or_else(|e| panic!("maintenance: {e}"));
    serde_json::to_value(answer).expect("serialises")["maintain"].clone()
}

async fn klines_loads_leave_the_quotes_rollup_watermark_alone(data_api: bool) {
    // GIVEN a quotes snapshot and a klines slot object of 2024-06-01, loaded
    let klines = Klines::new(data_api).await;
    let quotes = klines.world.put_btc("2024-06-01T12:35:00Z", "99").await;
    klines.load(&quotes).await;
    let first = klines.put_slot("2024-06-01T12:35:00Z").await;
    klines.load(&first).await;

    // WHEN the day is rolled up, then a klines object of that day loads, and maintenance
    // runs again
    let rolled = maintain(&klines.app, "2024-06-02").await;
    let later = klines.put_slot("2024-06-01T12:40:00Z").await;
    klines.load(&later).await;
    let again = maintain(&klines.app, "2024-06-02").await;

    // THEN the rollup counted the quotes run's day from its quotes rows only, and the
    // klines loads neither marked nor reopened any day
    assert_eq!(
        rolled["days_rolled_up"],
        json!([{ "day": "2024-06-01", "quote_rows": 1 }])
    );
    assert_eq!(again["days_rolled_up"], json!([]));
    assert_eq!(
        klines
            .count(
                "SELECT count(*) FROM ingest_runs WHERE dataset = 'quotes' AND rolled_up_at IS NOT NULL"
            )
            .await,
        1
    );
    assert_eq!(
        klines
            .count("SELECT count(*) FROM ingest_runs WHERE dataset = 'klines' AND rolled_up_at IS NOT NULL")
            .await,
        0
    );
    assert_eq!(
        klines
            .world
            .texts("SELECT format('%s|%s', day, quote_rows) FROM daily_rollups ORDER BY day")
            .await,
        ["2024-06-01|1"]
    );
}

#[tokio::test]
async fn klines_loads_leave_the_quotes_rollup_watermark_alone_through_postgresql() {
    klines_loads_leave_the_quotes_rollup_watermark_alone(false).await;
}

#[tokio::test]
async fn klines_loads_leave_the_quotes_rollup_watermark_alone_through_the_data_api() {
    klines_loads_leave_the_quotes_rollup_watermark_alone(true).await;
}
