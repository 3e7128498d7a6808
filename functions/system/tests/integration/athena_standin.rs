//! What Athena reads from the objects the real ingest path writes, and what the views and
//! named queries in `template.yaml` answer over it: `scripts/compact_standin.py` writes the
//! curated Parquet days to the compact function's contract, `scripts/athena_reader.py`
//! reads a copy of the bucket with Hive's own OpenCSVSerde and Spark's Parquet reader over
//! the template's tables (Spark with Hive support, the template's SerDe parameters, the
//! partitions its projection computes), then runs the views and the named queries in DuckDB
//! over exactly those rows, at moments the test chooses. One JVM start for the whole test.
//! The klines function's objects go through the same reader and the klines saved query.

use crate::common;

use chrono::{Days, NaiveDate};
use common::{schedule, World};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use testkit::cmc::{any_quotes_path, coin, quotes_ok};
use wiremock::matchers::method;
use wiremock::Mock;

/// The market CMC reports at one slot: BTC and ETH moving, and an unranked coin whose name
/// needs CSV quoting and whose max supply is null.
fn market(updated: &str, btc: f64, eth: f64) -> Vec<Value> {
    let mut coins = vec![
        coin(1, "BTC", "Bitcoin", Some(1), &[("USD", json!(btc))]),
        coin(1027, "ETH", "Ethereum", Some(2), &[("USD", json!(eth))]),
        coin(
            28301,
            "C,Q",
            "Comma, \"Quoted\" Coin",
            None,
            &[("USD", json!(0.5))],
        ),
    ];
    for c in &mut coins {
        updated_at(c, updated);
        c["quote"]["USD"]["volume_24h"] = json!(1000);
    }
    coins[0]["max_supply"] = json!(21000000);
    coins
}

fn updated_at(coin: &mut Value, updated: &str) {
    coin["last_updated"] = json!(updated);
    coin["quote"]["USD"]["last_updated"] = json!(updated);
}

/// Names and symbols that break a reader whose escape differs from the writer's, each with
/// what Athena must read for it (control characters become spaces in the normalizer).
const HOSTILE: [(i64, &str, &str, &str, &str); 7] = [
    (9001, "B\\S", "Back\\slash Coin", "B\\S", "Back\\slash Coin"),
    (
        9002,
        "END\\",
        "Ends in a backslash\\",
        "END\\",
        "Ends in a backslash\\",
    ),
    (
        9003,
        "Q\"",
        "Say \\\"hi\\\", \"Comma, Quoted\"",
        "Q\"",
        "Say \\\"hi\\\", \"Comma, Quoted\"",
    ),
    (
        9004,
        "LB\n",
        "Line\nBreak\r\nand\ttab",
        "LB ",
        "Line Break  and tab",
    ),
    (9005, "ÜNI", "Ünïcødé ✓ 币 🚀", "ÜNI", "Ünïcødé ✓ 币 🚀"),
    // Read with a backslash escape, this puts "not a rank\"" into cmc_rank, so the typed
    // view's BIGINT cast fails for the whole partition.
    (
        9006,
        "SHIFT",
        "Shift\\\",0,not a rank\\",
        "SHIFT",
        "Shift\\\",0,not a rank\\",
    ),
    (9007, "\\\\", "\"\"\\\"\"", "\\\\", "\"\"\\\"\""),
];

/// July 2nd: the hostile coins, two coins sharing one ticker, and a quote CMC last updated
/// four days before the slot (its price is still the one in effect that day).
fn hostile_market(updated: &str, twin_one: f64, twin_two: f64) -> Vec<Value> {
    let mut coins = vec![coin(1, "BTC", "Bitcoin", Some(1), &[("USD", json!(62000))])];
    for (id, symbol, name, _, _) in HOSTILE {
        coins.push(coin(id, symbol, name, None, &[("USD", json!(0.25))]));
    }
    coins.push(coin(
        9010,
        "TWIN",
        "Twin One",
        Some(50),
        &[("USD", json!(twin_one))],
    ));
    coins.push(coin(
        9011,
        "TWIN",
        "Twin Two",
        Some(60),
        &[("USD", json!(twin_two))],
    ));
    for c in &mut coins {
        updated_at(c, updated);
        c["quote"]["USD"]["volume_24h"] = json!(500);
    }
    let mut stale = coin(9020, "OLD", "Stale Coin", Some(70), &[("USD", json!(3))]);
    updated_at(&mut stale, "2024-06-28T10:00:00Z");
    stale["quote"]["USD"]["volume_24h"] = json!(500);
    coins.push(stale);
    coins
}

/// The klines function's run of `slot`, for the default pairs, against a Binance stand-in.
async fn klines_slot(world: &World, binance: &wiremock::MockServer, slot: &str) {
    let vars = [
        ("BUCKET_NAME", world.bucket.name.clone()),
        ("BINANCE_BASE_URL", binance.uri()),
        ("AWS_ENDPOINT_URL_S3", world.bucket.endpoint.clone()),
    ];
    let config = coinlake::config::KlinesConfig::from_lookup(|name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap();
    let app = klines::App::new(config, &world.bucket.sdk).unwrap();
    match klines::handle(&app, schedule(slot)).await.unwrap() {
        klines::Outcome::Slot(summary) => assert_eq!(summary.rows, 25),
        other => panic!("a schedule's event gave {other:?}"),
    }
}

/// The klines saved query's name in template.yaml.
const KLINES_QUERY: &str = "coinlake - klines, one row per minute";

async fn ingest_slot(world: &World, slot: &str, coins: Vec<Value>) {
    world.cmc.reset().await;
    let ids: Vec<String> = coins.iter().map(|c| c["id"].to_string()).collect();
    let data: serde_json::Map<String, Value> = coins
        .into_iter()
        .map(|c| (c["id"].to_string(), c))
        .collect();
    Mock::given(method("GET"))
        .and(any_quotes_path())
        .respond_with(quotes_ok(Value::Object(data), 1))
        .mount(&world.cmc)
        .await;
    let app = world.app(&[("CMC_IDS", &ids.join(","))]).await;
    ingest::handle(&app, schedule(slot)).await.unwrap();
}

/// A query's answer: rows of text values, NULL as `None`.
type Answer = Vec<Vec<Option<String>>>;

#[derive(Deserialize)]
struct Read {
    escape_char: String,
    /// By Glue table name.
    tables: BTreeMap<String, TableRead>,
    parquet_problems: Vec<String>,
    /// By query time, then by query name.
    queries: BTreeMap<String, BTreeMap<String, Answer>>,
    /// The same, with `quotes` replaced by `quotes_raw`.
    raw_only_queries: BTreeMap<String, BTreeMap<String, Answer>>,
    /// By query time, then by view: [day, rows of `quotes`] or [day, distinct updates of
    /// `quotes_raw`].
    rows_per_day: BTreeMap<String, BTreeMap<String, Vec<(NaiveDate, u64)>>>,
    /// By query time: the days the view `quotes` takes from each source.
    window: BTreeMap<String, Window>,
}

#[derive(Deserialize)]
struct TableRead {
    rows: Vec<ReadRow>,
    unprojected: Vec<String>,
}

#[derive(Deserialize)]
struct ReadRow {
    file: String,
    fields: Vec<Option<String>>,
}

#[derive(Deserialize)]
struct Window {
    from: NaiveDate,
    to: NaiveDate,
    curated: Vec<NaiveDate>,
    raw: Vec<NaiveDate>,
}

/// The moments the queries run at: the first three over CSV days only, the others with
/// compacted days in the month, across a year's end and at the end of a 30-day month.
const JUNE_1: &str = "2024-06-01 12:47:00";
const JULY_2: &str = "2024-07-02 10:07:00";
const DEC_31: &str = "2023-12-31 23:58:00";
/// 12:50's snapshot repeats 12:45's updates: quotes keeps none of its rows.
const JUNE_1_LATER: &str = "2024-06-01 13:00:00";
/// June 1st (and May 31st) from Parquet, June 2nd from CSV.
const JUNE_3: &str = "2024-06-03 08:00:00";
const JULY_4: &str = "2024-07-04 00:10:00";
/// Yesterday is December 31st: the CSV window crosses the year.
const NEW_YEAR: &str = "2024-01-01 00:10:00";
const JUNE_30: &str = "2024-06-30 12:00:00";
const MOMENTS: [&str; 8] = [
    JUNE_1,
    JULY_2,
    DEC_31,
    JUNE_1_LATER,
    JUNE_3,
    JULY_4,
    NEW_YEAR,
    JUNE_30,
];

#[tokio::test]
async fn athena_reads_every_field_the_writer_wrote_and_the_named_queries_answer() {
    // GIVEN four snapshots: one on May 31st, three on June 1st (12:40 missing)
    let world = World::new().await;
    ingest_slot(
        &world,
        "2024-05-31T23:55:00Z",
        market("2024-05-31T23:54:00Z", 60000.0, 3000.0),
    )
    .await;
    ingest_slot(
        &world,
        "2024-06-01T12:30:00Z",
        market("2024-06-01T12:29:00Z", 67000.0, 3700.0),
    )
    .await;
    ingest_slot(
        &world,
        "2024-06-01T12:35:00Z",
        market("2024-06-01T12:34:00Z", 68000.5, 3650.0),
    )
    .await;
    ingest_slot(
        &world,
        "2024-06-01T12:45:00Z",
        market("2024-06-01T12:44:00Z", 66500.25, 3800.0),
    )
    .await;
    // AND a slot that saw no new update, and June 2nd's first two slots: the update still
    // in effect at midnight, then a new one
    ingest_slot(
        &world,
        "2024-06-01T12:50:00Z",
        market("2024-06-01T12:44:00Z", 66500.25, 3800.0),
    )
    .await;
    ingest_slot(
        &world,
        "2024-06-02T00:00:00Z",
        market("2024-06-01T12:44:00Z", 66500.25, 3800.0),
    )
    .await;
    ingest_slot(
        &world,
        "2024-06-02T00:05:00Z",
        market("2024-06-02T00:04:00Z", 66000.0, 3790.0),
    )
    .await;
    // AND two snapshots on July 2nd of hostile names, twin tickers and a stale quote
    ingest_slot(
        &world,
        "2024-07-02T10:00:00Z",
        hostile_market("2024-07-02T09:59:00Z", 10.0, 20.0),
    )
    .await;
    ingest_slot(
        &world,
        "2024-07-02T10:05:00Z",
        hostile_market("2024-07-02T10:04:00Z", 11.0, 19.0),
    )
    .await;
    // AND one snapshot before 2024, which the old projection range never read
    ingest_slot(
        &world,
        "2023-12-31T23:55:00Z",
        market("2023-12-31T23:54:00Z", 42000.0, 2300.0),
    )
    .await;
    // AND the klines of two slots on June 1st, and an archive object repeating the first
    // minute of one pair with another trade count
    let binance = wiremock::MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(testkit::binance::OpenMarket)
        .mount(&binance)
        .await;
    klines_slot(&world, &binance, "2024-06-01T12:35:00Z").await;
    klines_slot(&world, &binance, "2024-06-01T12:40:00Z").await;
    let first_slot =
        "raw/klines/interval=1m/year=2024/month=06/day=01/klines_2024-06-01_12-35-00.csv";
    let slot_text = world.bucket.get(first_slot).await.text();
    let mut lines = slot_text.lines();
    let (header, first) = (lines.next().unwrap(), lines.next().unwrap());
    assert!(
        first.starts_with("ADAUSDT,2024-06-01 12:30:00.000,"),
        "{first}"
    );
    let mut repeated: Vec<&str> = first.split(',').collect();
    let slot_trades = repeated[9].to_owned();
    repeated[9] = "9999";
    let archive =
        coinlake::layout::archive_day_key(NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(), "ADAUSDT");
    world
        .bucket
        .put_object(&archive, &format!("{header}\n{}\n", repeated.join(",")))
        .await;

    let data = std::env::temp_dir().join(format!("coinlake-athena-{}", world.bucket.name));
    let mut written = BTreeMap::new();
    let mut klines_written = BTreeMap::new();
    for key in world.bucket.keys().await {
        let body = world.bucket.get(&key).await.body;
        let file = data.join(&key);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &body).unwrap();
        if key.starts_with(&coinlake::layout::Dataset::Klines.prefix()) {
            klines_written.insert(key, body);
        } else {
            written.insert(key, body);
        }
    }
    assert_eq!(written.len(), 10);
    assert_eq!(klines_written.len(), 3);

    // AND every day compacted into Parquet as the compact function's contract says
    let root = testkit::workspace_root();
    let template = root.join("template.yaml");
    let compacted = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("scripts/compact_standin.py"))
        .args(["--template", template.to_str().unwrap()])
        .args(["--data", data.to_str().unwrap()])
        .output()
        .expect("run scripts/compact_standin.py with .venv's python (scripts/setup.sh installs pyarrow)");
    assert!(
        compacted.status.success(),
        "{}",
        String::from_utf8_lossy(&compacted.stderr)
    );
    let curated: BTreeSet<String> = String::from_utf8(compacted.stdout)
        .unwrap()
        .lines()
        .map(|path| {
            let path = std::path::Path::new(path).strip_prefix(&data).unwrap();
            path.to_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(curated.len(), 2 * 5, "a silver and a gold object per day");

    // WHEN Athena's readers read them with the template's tables, and the template's views
    // and queries run over those rows as Athena would at chosen moments
    let mut reader = Command::new(root.join(".venv/bin/python"));
    reader
        .arg(root.join("scripts/athena_reader.py"))
        .args(["--template", template.to_str().unwrap()])
        .args(["--data", data.to_str().unwrap()]);
    for moment in MOMENTS {
        reader.args(["--at", moment]);
    }
    let output = reader
        .output()
        .expect("run scripts/athena_reader.py with .venv's python (scripts/setup.sh installs pyspark and a JRE)");
    std::fs::remove_dir_all(&data).unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: Read = serde_json::from_slice(&output.stdout).unwrap();
    let csv = &read.tables["quotes_csv"];

    // THEN the table's escape character is one the writer never emits
    let escape = read.escape_char.chars().next().unwrap();
    assert!(
        escape.is_control(),
        "{escape:?}: the normalizer turns only control characters into spaces"
    );
    for (key, body) in written.iter().chain(&klines_written) {
        assert!(!String::from_utf8_lossy(body).contains(escape), "{key}");
    }

    // AND every object is read (the 2023 one too), every field byte for byte as an
    // RFC 4180 reader reads the writer's CSV
    assert!(csv.unprojected.is_empty(), "{:?}", csv.unprojected);
    let mut by_file: BTreeMap<&str, Vec<&Vec<Option<String>>>> = BTreeMap::new();
    for row in &csv.rows {
        by_file.entry(&row.file).or_default().push(&row.fields);
    }
    assert_eq!(
        by_file.keys().copied().collect::<Vec<_>>(),
        written.keys().map(String::as_str).collect::<Vec<_>>()
    );
    for (key, body) in &written {
        let expected: Vec<Vec<Option<String>>> = csv::Reader::from_reader(body.as_slice())
            .records()
            .map(|r| r.unwrap().iter().map(|f| Some(f.to_owned())).collect())
            .collect();
        let got: Vec<Vec<Option<String>>> =
            by_file[key.as_str()].iter().map(|r| (*r).clone()).collect();
        assert_eq!(got, expected, "{key}");
    }

    // AND every klines object is read through klines_csv, field for field
    let klines = &read.tables["klines_csv"];
    assert!(klines.unprojected.is_empty(), "{:?}", klines.unprojected);
    let mut klines_by_file: BTreeMap<&str, Vec<Vec<Option<String>>>> = BTreeMap::new();
    for row in &klines.rows {
        klines_by_file
            .entry(&row.file)
            .or_default()
            .push(row.fields.clone());
    }
    assert_eq!(
        klines_by_file.keys().copied().collect::<Vec<_>>(),
        klines_written
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    for (key, body) in &klines_written {
        let expected: Vec<Vec<Option<String>>> = csv::Reader::from_reader(body.as_slice())
            .records()
            .map(|r| r.unwrap().iter().map(|f| Some(f.to_owned())).collect())
            .collect();
        assert_eq!(klines_by_file[key.as_str()], expected, "{key}");
    }
    assert_eq!(klines.rows.len(), 2 * 25 + 1);

    // AND the klines saved query keeps one row per pair and minute, the slot object's
    let by_minute = &read.queries[JUNE_1][KLINES_QUERY];
    assert_eq!(by_minute.len(), 50);
    let minutes: BTreeSet<(Option<String>, Option<String>)> = by_minute
        .iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(minutes.len(), 50);
    assert_eq!(by_minute[0][0].as_deref(), Some("ADAUSDT"));
    assert_eq!(by_minute[0][1].as_deref(), Some("2024-06-01 12:30:00"));
    assert_eq!(by_minute[0][9].as_deref(), Some(slot_trades.as_str()));
    assert!(read.queries[JULY_2][KLINES_QUERY].is_empty());

    // AND the hostile names read as the normalizer left them
    let july = "raw/quotes/year=2024/month=07/day=02/quotes_2024-07-02_10-00-00.csv";
    for (id, _, _, symbol, name) in HOSTILE {
        let row = by_file[july]
            .iter()
            .find(|r| r[1].as_deref() == Some(&id.to_string()))
            .unwrap_or_else(|| panic!("coin {id} was not read"));
        assert_eq!(row[2].as_deref(), Some(symbol), "coin {id}");
        assert_eq!(row[3].as_deref(), Some(name), "coin {id}");
        assert_eq!(row[6].as_deref(), Some("USD"), "coin {id}");
        assert_eq!(row[7].as_deref(), Some("0.25"), "coin {id}");
        assert_eq!(row[19].as_deref(), Some(""), "coin {id}: null max_supply");
    }

    let rows = |at: &str, name: &str| -> Vec<Vec<String>> {
        read.queries[at][name]
            .iter()
            .map(|row| {
                row.iter()
                    .map(|v| v.clone().unwrap_or_else(|| "NULL".into()))
                    .collect()
            })
            .collect()
    };

    // AND every curated object is read through its table, as compact's contract wrote it
    assert!(
        read.parquet_problems.is_empty(),
        "{:#?}",
        read.parquet_problems
    );
    let mut read_curated = BTreeSet::new();
    for table in ["quotes_curated", "ohlc_1d"] {
        let table = &read.tables[table];
        assert!(table.unprojected.is_empty(), "{:?}", table.unprojected);
        read_curated.extend(table.rows.iter().map(|r| r.file.clone()));
    }
    assert_eq!(read_curated, curated);
    // June 1st's silver day: one row per update of the day (12:50 repeated 12:45's), the
    // earliest slot's
    let june_first: Vec<&ReadRow> = read.tables["quotes_curated"]
        .rows
        .iter()
        .filter(|r| r.file.contains("quotes_2024-06-01"))
        .collect();
    assert_eq!(june_first.len(), 3 * 3);
    assert!(june_first
        .iter()
        .all(|r| r.fields[0].as_deref() != Some("2024-06-01 12:50:00")));

    // AND at every moment, every query answers over `quotes` (Parquet and CSV) what it
    // answers over every CSV row
    for moment in MOMENTS {
        for (name, answer) in &read.queries[moment] {
            let mut complete = answer.clone();
            let mut raw = read.raw_only_queries[moment][name].clone();
            complete.sort();
            raw.sort();
            assert_eq!(complete, raw, "{name} at {moment}");
        }
    }

    // AND `quotes` holds one row per update and day, from Parquet as from CSV
    for moment in MOMENTS {
        let days = &read.rows_per_day[moment];
        assert!(!days["quotes"].is_empty(), "{moment}");
        assert_eq!(days["quotes"], days["quotes_raw"], "{moment}");
    }

    // AND the view takes every day before yesterday from Parquet, yesterday and today from
    // CSV, and nothing twice
    for moment in MOMENTS {
        let window = &read.window[moment];
        let today: NaiveDate = moment[..10].parse().unwrap();
        let yesterday = today - Days::new(1);
        assert_eq!(window.raw, [yesterday, today], "{moment}");
        let before: Vec<NaiveDate> = window
            .from
            .iter_days()
            .take_while(|d| *d < yesterday)
            .collect();
        assert_eq!(window.curated, before, "{moment}");
        assert!(window.to > today);
    }
    // A 30-day query on June 30th opens 28 Parquet days and two days of CSV.
    let june_30 = &read.window[JUNE_30];
    let in_june = |days: &[NaiveDate]| {
        days.iter()
            .filter(|d| d.format("%m").to_string() == "06")
            .count()
    };
    assert_eq!((in_june(&june_30.curated), in_june(&june_30.raw)), (28, 2));

    // AND on June 1st each query returns what the snapshots hold
    let june = JUNE_1;
    assert_eq!(
        rows(june, "coinlake - latest prices"),
        [
            ["BTC", "USD", "66500.25", "1.5", "2024-06-01 12:44:00"],
            ["ETH", "USD", "3800.0", "1.5", "2024-06-01 12:44:00"],
            ["C,Q", "USD", "0.5", "1.5", "2024-06-01 12:44:00"],
        ]
    );
    assert_eq!(
        rows(june, "coinlake - daily OHLC"),
        [
            [
                "BTC",
                "1",
                "USD",
                "2024-06-01",
                "67000.0",
                "68000.5",
                "66500.25",
                "66500.25",
                "1000.0",
                "3"
            ],
            [
                "C,Q",
                "28301",
                "USD",
                "2024-06-01",
                "0.5",
                "0.5",
                "0.5",
                "0.5",
                "1000.0",
                "3"
            ],
            [
                "ETH",
                "1027",
                "USD",
                "2024-06-01",
                "3700.0",
                "3800.0",
                "3650.0",
                "3800.0",
                "1000.0",
                "3"
            ],
        ]
    );
    assert_eq!(
        rows(june, "coinlake - one symbol's history"),
        [
            [
                "2024-06-01 12:29:00",
                "67000.0",
                "1000.0",
                "1300000000000.25"
            ],
            [
                "2024-06-01 12:34:00",
                "68000.5",
                "1000.0",
                "1300000000000.25"
            ],
            [
                "2024-06-01 12:44:00",
                "66500.25",
                "1000.0",
                "1300000000000.25"
            ],
        ]
    );
    let missing: Vec<String> = rows(june, "coinlake - missing slots today")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(
        missing.len(),
        153 - 2,
        "00:00 to 12:40 is 153 slots; 12:30 and 12:35 were written"
    );
    assert_eq!(
        missing.first().map(String::as_str),
        Some("2024-06-01 00:00:00")
    );
    assert_eq!(
        missing.last().map(String::as_str),
        Some("2024-06-01 12:40:00")
    );
    assert!(!missing
        .iter()
        .any(|s| s.ends_with("12:30:00") || s.ends_with("12:35:00")));

    // AND on July 2nd the typed view and every query run over the hostile rows; the twins
    // keep one row each and the stale quote is dated by the slot that saw it
    let july_at = JULY_2;
    let latest = rows(july_at, "coinlake - latest prices");
    assert_eq!(latest.len(), 1 + HOSTILE.len() + 3);
    for (_, _, _, symbol, _) in HOSTILE {
        assert!(
            latest.contains(&vec![
                symbol.to_owned(),
                "USD".into(),
                "0.25".into(),
                "1.5".into(),
                "2024-07-02 10:04:00".into()
            ]),
            "{symbol:?} missing from {latest:?}"
        );
    }
    let ohlc = rows(july_at, "coinlake - daily OHLC");
    let ohlc_of =
        |id: &str| -> Vec<Vec<String>> { ohlc.iter().filter(|r| r[1] == id).cloned().collect() };
    assert_eq!(
        ohlc_of("9010"),
        [[
            "TWIN",
            "9010",
            "USD",
            "2024-07-02",
            "10.0",
            "11.0",
            "10.0",
            "11.0",
            "500.0",
            "2"
        ]]
    );
    assert_eq!(
        ohlc_of("9011"),
        [[
            "TWIN",
            "9011",
            "USD",
            "2024-07-02",
            "20.0",
            "20.0",
            "19.0",
            "19.0",
            "500.0",
            "2"
        ]]
    );
    assert_eq!(
        ohlc_of("9020"),
        [[
            "OLD",
            "9020",
            "USD",
            "2024-07-02",
            "3.0",
            "3.0",
            "3.0",
            "3.0",
            "500.0",
            "1"
        ]]
    );
    assert_eq!(ohlc.len(), 1 + HOSTILE.len() + 3);
    assert_eq!(
        rows(july_at, "coinlake - one symbol's history"),
        [
            [
                "2024-07-02 09:59:00",
                "62000.0",
                "500.0",
                "1300000000000.25"
            ],
            [
                "2024-07-02 10:04:00",
                "62000.0",
                "500.0",
                "1300000000000.25"
            ]
        ]
    );
    assert_eq!(rows(july_at, "coinlake - missing slots today").len(), 120);

    // AND the 2023 snapshot answers like any other
    assert_eq!(
        rows(DEC_31, "coinlake - latest prices"),
        [
            ["BTC", "USD", "42000.0", "1.5", "2023-12-31 23:54:00"],
            ["ETH", "USD", "2300.0", "1.5", "2023-12-31 23:54:00"],
            ["C,Q", "USD", "0.5", "1.5", "2023-12-31 23:54:00"],
        ]
    );

    // AND a snapshot whose quotes all repeat earlier updates still counts as written
    let missing_later: Vec<String> = rows(JUNE_1_LATER, "coinlake - missing slots today")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(
        missing_later.len(),
        156 - 4,
        "00:00 to 12:55; four slots written"
    );
    assert!(!missing_later.iter().any(|s| s.ends_with("12:50:00")));

    // AND on June 3rd the month's candles come from Parquet (June 1st) and from CSV (June
    // 2nd, opening at the price still in effect at midnight), and the compacted candles of
    // ohlc_1d are the same
    let btc = |at: &str, name: &str| -> Vec<Vec<String>> {
        rows(at, name).into_iter().filter(|r| r[1] == "1").collect()
    };
    assert_eq!(
        btc(JUNE_3, "coinlake - daily OHLC"),
        [
            [
                "BTC",
                "1",
                "USD",
                "2024-06-01",
                "67000.0",
                "68000.5",
                "66500.25",
                "66500.25",
                "1000.0",
                "3"
            ],
            [
                "BTC",
                "1",
                "USD",
                "2024-06-02",
                "66500.25",
                "66500.25",
                "66000.0",
                "66000.0",
                "1000.0",
                "2"
            ],
        ]
    );
    for at in [JUNE_3, JULY_4] {
        let candles = |row: &Vec<String>, samples: usize| -> Vec<String> {
            let mut candle = row[..8].to_vec();
            candle.push(row[samples].clone());
            candle
        };
        let from_quotes: Vec<Vec<String>> = rows(at, "coinlake - daily OHLC")
            .iter()
            .map(|r| candles(r, 9))
            .collect();
        let compacted: Vec<Vec<String>> = rows(at, "coinlake - daily OHLC, compacted days")
            .iter()
            .map(|r| candles(r, 10))
            .collect();
        assert!(!compacted.is_empty(), "{at}");
        assert_eq!(compacted, from_quotes, "{at}");
    }
    // ohlc_1d's close carries the close's volume and market cap
    assert_eq!(
        btc(JULY_4, "coinlake - daily OHLC, compacted days"),
        [[
            "BTC",
            "1",
            "USD",
            "2024-07-02",
            "62000.0",
            "62000.0",
            "62000.0",
            "62000.0",
            "500.0",
            "1300000000000.25",
            "2"
        ]]
    );
}
