//! Daily maintenance (`{"maintain": {}}`): the rollup of a day equals the day's gold Parquet
//! file, and retention drops exactly the months that S3 verifiably holds, through either
//! database path, and changes nothing when run again.

use crate::common::{invocation, quote, s3_event, World};
use chrono::{NaiveDate, TimeDelta};
use coinlake::curated::Compactor;
use coinlake::layout::{curated_key, CuratedTable, Dataset};
use coinlake::quote::QuoteRow;
use coinlake::store::{S3Reader, S3Store};
use serde_json::{json, Value};
use std::process::Command;
use testkit::data_api::DataApiEmulator;

/// Two days of March, two of April, one of May, one of June 2024.
const DAYS: [&str; 6] = [
    "2024-03-30",
    "2024-03-31",
    "2024-04-01",
    "2024-04-02",
    "2024-05-10",
    "2024-06-08",
];

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
}

/// A price with many digits, different for every coin, day and update.
fn price(base: u64, day: usize, update: usize) -> String {
    format!(
        "{}.{:09}",
        base + 7 * day as u64 + 3 * update as u64,
        (day as u64 * 7919 + update as u64 * 104_729) % 1_000_000_000
    )
}

/// Three slots of a day, BTC and ETH: the first slot still sees BTC's update of the evening
/// before (current at midnight), the last sees ETH's morning update again.
fn snapshots(day: &str, index: usize) -> Vec<(String, Vec<QuoteRow>)> {
    let before = (date(day) - TimeDelta::days(1)).to_string();
    let at = |d: &str, time: &str| format!("{d}T{time}Z");
    let btc = |update, d: &str, time: &str, slot: &str| {
        quote(1, "BTC", &price(60_000, index, update), &at(d, time), slot)
    };
    let eth = |update, time: &str, slot: &str| {
        let mut row = quote(
            1027,
            "ETH",
            &price(3_000, index, update),
            &at(day, time),
            slot,
        );
        row.volume_24h = None;
        row
    };
    let (first, second, last) = (
        at(day, "00:05:00"),
        at(day, "08:00:00"),
        at(day, "23:55:00"),
    );
    vec![
        (
            first.clone(),
            vec![
                btc(0, &before, "23:58:00", &first),
                eth(0, "00:03:00", &first),
            ],
        ),
        (
            second.clone(),
            vec![
                btc(1, day, "07:59:00", &second),
                eth(1, "07:58:00", &second),
            ],
        ),
        (
            last.clone(),
            vec![btc(2, day, "23:54:00", &last), eth(1, "07:58:00", &last)],
        ),
    ]
}

async fn load(world: &World, app: &load::App, slot: &str, rows: &[QuoteRow]) {
    let key = world.put_snapshot(slot, rows).await;
    load::handle(app, s3_event(&world.bucket.name, &[&key]))
        .await
        .unwrap_or_else(|e| panic!("loading {key}: {e}"));
}

async fn maintain(app: &load::App, today: &str) -> Value {
    let event = json!({ "maintain": { "scheduled_time": format!("{today}T01:00:00Z") } });
    let answer = load::handle(app, invocation(event))
        .await
        .unwrap_or_else(|e| panic!("maintenance: {e}"));
    serde_json::to_value(answer).expect("summary serialises")["maintain"].clone()
}

/// Runs `sql` in DuckDB (the project's .venv) on `key`'s object; doubles come back as their
/// shortest round-trip text, everything else as JSON.
async fn duckdb(world: &World, key: &str, sql: &str) -> Vec<Vec<Value>> {
    let object = world.bucket.get(key).await;
    let path = std::env::temp_dir().join(format!(
        "coinlake-maintain-{}-{}.parquet",
        std::process::id(),
        key.replace('/', "_")
    ));
    std::fs::write(&path, &object.body).expect("write temp file");
    let script = r#"
import duckdb, json, sys
rows = duckdb.sql(sys.argv[1]).fetchall()
print(json.dumps([[repr(c) if isinstance(c, float) else c for c in r] for r in rows], default=str))
"#;
    let sql = sql.replace("{file}", &format!("'{}'", path.display()));
    let python = testkit::workspace_root().join(".venv/bin/python");
    let output = Command::new(&python)
        .args(["-c", script, &sql])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let _ = std::fs::remove_file(&path);
    assert!(
        output.status.success(),
        "duckdb failed on {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("duckdb prints JSON")
}

/// A double as text, or null: the gold file's doubles are the nearest to the exact decimal.
fn double(text: Option<String>) -> Value {
    match text {
        Some(text) => {
            let value: f64 = text.parse().expect("a number");
            json!(format!("{value:?}"))
        }
        None => Value::Null,
    }
}

/// The day's rollup, each NUMERIC as its nearest double, in the gold file's order.
async fn rollup(world: &World, day: &str) -> Vec<Vec<Value>> {
    let client = world.db.client().await;
    client
        .query(
            "SELECT cmc_id, symbol, quote_currency, open::text, high::text, low::text, close::text, \
             samples, volume_24h::text, market_cap::text, \
             (extract(epoch FROM first_update) * 1000)::bigint, (extract(epoch FROM last_update) * 1000)::bigint \
             FROM daily_candles WHERE day = $1::text::date ORDER BY cmc_id, quote_currency",
            &[&day],
        )
        .await
        .expect("read daily_candles")
        .iter()
        .map(|row| {
            vec![
                json!(row.get::<_, i64>(0)),
                json!(row.get::<_, String>(1)),
                json!(row.get::<_, String>(2)),
                double(row.get(3)),
                double(row.get(4)),
                double(row.get(5)),
                double(row.get(6)),
                json!(row.get::<_, i64>(7)),
                double(row.get(8)),
                double(row.get(9)),
                json!(row.get::<_, i64>(10)),
                json!(row.get::<_, i64>(11)),
            ]
        })
        .collect()
}

async fn gold(world: &World, day: &str) -> Vec<Vec<Value>> {
    duckdb(
        world,
        &curated_key(CuratedTable::Ohlc1d, date(day)),
        "SELECT cmc_id, symbol, quote_currency, open, high, low, close, samples, volume_24h, \
         market_cap, epoch_ms(first_update), epoch_ms(last_update) \
         FROM read_parquet({file}) ORDER BY cmc_id, quote_currency",
    )
    .await
}

async fn partitions(world: &World) -> Vec<String> {
    world
        .texts(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'quotes'::regclass ORDER BY 1",
        )
        .await
}

async fn candles_table(world: &World) -> Vec<String> {
    world.texts(
        "SELECT format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', cmc_id, quote_currency, day, symbol, \
         open, high, low, close, samples, volume_24h, market_cap, first_update, last_update, avg_volume_24h) \
         FROM daily_candles ORDER BY cmc_id, quote_currency, day",
    )
    .await
}

/// Four months loaded; every day compacted by the real compactor; then April's last day
/// loses its silver object and a late slot adds a row to May's day after its compaction.
async fn four_months(world: &World) -> load::App {
    let app = world.app(&[]).await;
    for (index, day) in DAYS.iter().enumerate() {
        for (slot, rows) in snapshots(day, index) {
            load(world, &app, &slot, &rows).await;
        }
    }
    let client = world.bucket.client.clone();
    let compactor = Compactor::new(
        S3Reader::new(client.clone()),
        S3Store::new(client.clone(), world.bucket.name.clone()),
        2,
        4,
    );
    let compacted = compactor
        .compact_range(
            Dataset::Quotes,
            (date("2024-03-30"), date("2024-06-09")),
            date("2024-06-10"),
            false,
            None,
        )
        .await
        .expect("compaction");
    assert!(compacted.failures.is_empty(), "{compacted:?}");
    client
        .delete_object()
        .bucket(&world.bucket.name)
        .key(curated_key(CuratedTable::Quotes, date("2024-04-02")))
        .send()
        .await
        .expect("delete a silver object");
    let late = "2024-05-10T12:00:00Z";
    load(
        world,
        &app,
        late,
        &[quote(1, "BTC", "61234.5", "2024-05-10T11:59:00Z", late)],
    )
    .await;
    app
}

/// The load configuration for the Data API path, pointed at the emulator, with retention.
fn data_api_vars<'a>(database: &'a str, endpoint: &'a str) -> Vec<(&'static str, &'a str)> {
    let mut vars = crate::common::data_api_vars(database, endpoint);
    vars.push(("DB_RETENTION_DAYS", "7"));
    vars
}

async fn retention_drops_exactly_the_verified_months(data_api: bool) {
    // GIVEN four months in PostgreSQL and S3, April missing a silver object and May's day
    // holding a row its silver object does not
    let world = World::new().await;
    four_months(&world).await;
    let emulator = DataApiEmulator::start(&world.db.host, world.db.port).await;
    let app = if data_api {
        world
            .app(&data_api_vars(&world.db.name, &emulator.endpoint))
            .await
    } else {
        world.app(&[("DB_RETENTION_DAYS", "7")]).await
    };

    // WHEN maintenance runs on 2024-06-10, keeping 7 days
    let summary = maintain(&app, "2024-06-10").await;

    // THEN every day is rolled up, only March is dropped, and the kept months say why
    let rolled: Vec<String> = summary["days_rolled_up"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| format!("{}={}", d["day"].as_str().unwrap(), d["quote_rows"]))
        .collect();
    assert_eq!(
        rolled,
        [
            "2024-03-30=5",
            "2024-03-31=5",
            "2024-04-01=5",
            "2024-04-02=5",
            "2024-05-10=6",
            "2024-06-08=5"
        ],
        "{summary}"
    );
    assert_eq!(summary["keep_from"], "2024-06-03");
    assert_eq!(
        summary["months_dropped"],
        json!([{ "month": "2024-03", "partition": "quotes_2024_03", "days": 2, "rows": 10 }])
    );
    let kept = summary["months_kept"].as_array().unwrap();
    let kept: Vec<(String, Value, String)> = kept
        .iter()
        .map(|k| {
            (
                k["month"].as_str().unwrap().to_owned(),
                k["day"].clone(),
                k["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(kept.len(), 3, "{summary}");
    assert_eq!(
        (kept[0].0.as_str(), &kept[0].1),
        ("2024-04", &json!("2024-04-02"))
    );
    assert!(
        kept[0]
            .2
            .contains("quotes_2024-04-02.parquet does not exist"),
        "{}",
        kept[0].2
    );
    assert_eq!(
        (kept[1].0.as_str(), &kept[1].1),
        ("2024-05", &json!("2024-05-10"))
    );
    assert!(
        kept[1].2.contains("holds 5 rows, PostgreSQL 6"),
        "{}",
        kept[1].2
    );
    assert_eq!((kept[2].0.as_str(), &kept[2].1), ("2024-06", &Value::Null));
    assert!(kept[2].2.contains("within the retention"), "{}", kept[2].2);
    assert_eq!(
        partitions(&world).await,
        ["quotes_2024_04", "quotes_2024_05", "quotes_2024_06"]
    );

    // AND the dropped days still answer: from the rollup, equal to the gold files, and from
    // the silver files in S3
    for day in ["2024-03-30", "2024-03-31", "2024-04-01", "2024-06-08"] {
        let rollup = rollup(&world, day).await;
        assert_eq!(rollup.len(), 2, "{day}");
        assert_eq!(rollup, gold(&world, day).await, "{day}");
    }
    let silver = duckdb(
        &world,
        &curated_key(CuratedTable::Quotes, date("2024-03-31")),
        "SELECT count(*), count(DISTINCT cmc_id) FROM read_parquet({file})",
    )
    .await;
    assert_eq!(silver, [[json!(5), json!(2)]]);

    // AND running it again changes nothing
    let candles = candles_table(&world).await;
    let again = maintain(&app, "2024-06-10").await;
    assert_eq!(again["days_rolled_up"], json!([]), "{again}");
    assert_eq!(again["months_dropped"], json!([]));
    assert_eq!(again["months_kept"], summary["months_kept"]);
    assert_eq!(candles_table(&world).await, candles);
    assert_eq!(
        partitions(&world).await,
        ["quotes_2024_04", "quotes_2024_05", "quotes_2024_06"]
    );
}

#[tokio::test]
async fn retention_drops_exactly_the_verified_months_through_postgresql() {
    retention_drops_exactly_the_verified_months(false).await;
}

#[tokio::test]
async fn retention_drops_exactly_the_verified_months_through_the_data_api() {
    retention_drops_exactly_the_verified_months(true).await;
}

#[tokio::test]
async fn a_late_file_rolls_its_day_up_again_and_retention_off_drops_nothing() {
    // GIVEN a rolled-up day, and no retention configured
    let world = World::new().await;
    let app = world.app(&[]).await;
    for (slot, rows) in snapshots("2024-05-10", 0) {
        load(&world, &app, &slot, &rows).await;
    }
    let first = maintain(&app, "2024-06-10").await;
    assert_eq!(first["retention_days"], Value::Null);
    assert_eq!(
        first["days_rolled_up"],
        json!([{ "day": "2024-05-10", "quote_rows": 5 }])
    );

    // WHEN a late slot of that day and a slot of today arrive, and maintenance runs again
    let late = "2024-05-10T12:00:00Z";
    load(
        &world,
        &app,
        late,
        &[quote(1, "BTC", "99999.5", "2024-05-10T11:59:00Z", late)],
    )
    .await;
    let today = "2024-06-10T00:30:00Z";
    load(
        &world,
        &app,
        today,
        &[quote(1, "BTC", "1", "2024-06-10T00:29:00Z", today)],
    )
    .await;
    let second = maintain(&app, "2024-06-10").await;

    // THEN only the late file's day is rolled up again (today is not complete), its high
    // is the late price, and nothing is dropped
    assert_eq!(
        second["days_rolled_up"],
        json!([{ "day": "2024-05-10", "quote_rows": 6 }])
    );
    assert_eq!(second["months_dropped"], json!([]));
    assert_eq!(second["months_kept"], json!([]));
    let high = world
        .texts("SELECT high::text FROM daily_candles WHERE cmc_id = 1 AND day = '2024-05-10'")
        .await;
    assert_eq!(high, ["99999.5"]);
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM daily_candles WHERE day = '2024-06-10'")
            .await,
        0
    );
}
