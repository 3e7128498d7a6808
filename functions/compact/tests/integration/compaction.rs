//! A day of raw objects — late, duplicated and replayed slots among them — compacted, and
//! compared with what the load function stores for the same objects.

use crate::common::{date, quote, World};
use coinlake::layout::{curated_key, CuratedTable};
use coinlake::schema::{ColumnType, QUOTE_COLUMNS};
use serde_json::{json, Value};

const DAY: &str = "2024-06-01";

/// The objects of 2024-06-01 (and the slot before it), in the order they arrive.
async fn put_a_messy_day(world: &World) -> Vec<String> {
    let mut keys = Vec::new();
    // The day before: QC's update of 20:00 is still current at midnight.
    keys.push(
        world
            .put(
                "2024-05-31T23:55:00Z",
                &[quote(
                    5000,
                    "USD",
                    "0.5",
                    "2024-05-31T20:00:00Z",
                    "2024-05-31T23:55:00Z",
                )],
            )
            .await,
    );
    keys.push(
        world
            .put(
                "2024-06-01T00:00:00Z",
                &[
                    quote(
                        1,
                        "USD",
                        "67000.5",
                        "2024-05-31T23:58:00Z",
                        "2024-06-01T00:00:00Z",
                    ),
                    quote(
                        1027,
                        "USD",
                        "3500",
                        "2024-05-31T23:59:30Z",
                        "2024-06-01T00:00:00Z",
                    ),
                    quote(
                        5000,
                        "USD",
                        "0.5",
                        "2024-05-31T20:00:00Z",
                        "2024-06-01T00:00:00Z",
                    ),
                ],
            )
            .await,
    );
    let five_past = [
        quote(
            1,
            "USD",
            "67010",
            "2024-06-01T00:04:00Z",
            "2024-06-01T00:05:00Z",
        ),
        quote(
            1,
            "EUR",
            "61000.25",
            "2024-06-01T00:04:00Z",
            "2024-06-01T00:05:00Z",
        ),
        // ETH's update of 23:59:30 again: a duplicate.
        quote(
            1027,
            "USD",
            "3500",
            "2024-05-31T23:59:30Z",
            "2024-06-01T00:05:00Z",
        ),
        quote(
            5000,
            "USD",
            "0.000000012345678901",
            "2024-06-01T00:04:00Z",
            "2024-06-01T00:05:00Z",
        ),
    ];
    keys.push(world.put("2024-06-01T00:05:00Z", &five_past).await);
    keys.push(
        world
            .put(
                "2024-06-01T00:15:00Z",
                &[
                    quote(
                        1,
                        "USD",
                        "67020",
                        "2024-06-01T00:09:00Z",
                        "2024-06-01T00:15:00Z",
                    ),
                    quote(
                        1027,
                        "USD",
                        "3501",
                        "2024-06-01T00:14:00Z",
                        "2024-06-01T00:15:00Z",
                    ),
                ],
            )
            .await,
    );
    // A replay of the 00:05 slot: the same object written again.
    keys.push(world.put("2024-06-01T00:05:00Z", &five_past).await);
    keys.push(
        world
            .put(
                "2024-06-01T23:55:00Z",
                &[quote(
                    1,
                    "USD",
                    "66000",
                    "2024-06-01T23:54:00Z",
                    "2024-06-01T23:55:00Z",
                )],
            )
            .await,
    );
    // Late: the 00:10 slot lands after 00:15 and saw BTC's 00:09 update first.
    keys.push(
        world
            .put(
                "2024-06-01T00:10:00Z",
                &[
                    quote(
                        1,
                        "USD",
                        "67020",
                        "2024-06-01T00:09:00Z",
                        "2024-06-01T00:10:00Z",
                    ),
                    quote(
                        1027,
                        "USD",
                        "3499",
                        "2024-06-01T00:09:00Z",
                        "2024-06-01T00:10:00Z",
                    ),
                ],
            )
            .await,
    );
    keys
}

/// The day's rows in PostgreSQL, typed as the Parquet columns are: times in epoch
/// milliseconds, numbers as the nearest double.
async fn postgres_rows(world: &World, day: &str) -> Vec<Vec<Value>> {
    let columns: Vec<String> = QUOTE_COLUMNS
        .iter()
        .map(|c| match c.column_type {
            ColumnType::Timestamp => {
                format!("(extract(epoch FROM {}) * 1000)::bigint::text", c.name)
            }
            _ => format!("{}::text", c.name),
        })
        .collect();
    let sql = format!(
        "SELECT {} FROM quotes WHERE slot_at >= $1::date AND slot_at < $1::date + 1 \
         ORDER BY cmc_id, quote_currency, slot_at, last_updated",
        columns.join(", ")
    );
    let client = world.db.client().await;
    let rows = client
        .query(&sql, &[&date(day)])
        .await
        .expect("read the day's quotes");
    rows.iter()
        .map(|row| {
            QUOTE_COLUMNS
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let text: Option<String> = row.get(i);
                    match (text, c.column_type) {
                        (None, _) => Value::Null,
                        (Some(t), ColumnType::Text) => json!(t),
                        (Some(t), ColumnType::Decimal) => json!(t.parse::<f64>().expect("number")),
                        (Some(t), _) => json!(t.parse::<i64>().expect("integer")),
                    }
                })
                .collect()
        })
        .collect()
}

/// The silver file's rows as DuckDB reads them, in file order.
fn parquet_rows(file: &crate::common::Downloaded) -> Vec<Vec<Value>> {
    let columns: Vec<String> = QUOTE_COLUMNS
        .iter()
        .map(|c| match c.column_type {
            ColumnType::Timestamp => format!("epoch_ms({})", c.name),
            _ => c.name.to_owned(),
        })
        .collect();
    file.duckdb(&format!(
        "SELECT {} FROM read_parquet({{file}})",
        columns.join(", ")
    ))
}

#[tokio::test]
async fn a_messy_day_compacts_to_exactly_the_rows_postgresql_holds_for_it() {
    let world = World::new().await;
    let keys = put_a_messy_day(&world).await;

    let summary = world.compact(DAY, DAY).await.expect("compaction succeeds");
    let day = &summary["days"][0];
    assert_eq!(day["status"], "compacted", "{summary}");
    assert_eq!(day["objects"], 5, "00:00, 00:05, 00:10, 00:15 and 23:55");
    assert_eq!(day["rows_read"], 12);
    assert_eq!(
        day["rows"], 10,
        "ETH 23:59:30 and BTC 00:09 were each seen twice"
    );
    assert_eq!(day["duplicates"], 2);

    // The load function, fed the objects in the order they arrived.
    for key in &keys {
        world.load_object(key).await;
    }
    let silver = world
        .download(&curated_key(CuratedTable::Quotes, date(DAY)))
        .await;
    let from_parquet = parquet_rows(&silver);
    let from_postgres = postgres_rows(&world, DAY).await;
    assert_eq!(from_parquet.len(), 10);
    for (parquet, postgres) in from_parquet.iter().zip(&from_postgres) {
        assert_eq!(parquet, postgres);
    }
    assert_eq!(from_parquet, from_postgres);
    assert_eq!(silver.metadata.get("rows").map(String::as_str), Some("10"));
}

#[tokio::test]
async fn compacting_again_or_in_another_arrival_order_gives_the_same_bytes() {
    let world = World::new().await;
    put_a_messy_day(&world).await;
    world.compact(DAY, DAY).await.expect("first compaction");
    let silver_key = curated_key(CuratedTable::Quotes, date(DAY));
    let gold_key = curated_key(CuratedTable::Ohlc1d, date(DAY));
    let first = (
        world.bucket.get(&silver_key).await,
        world.bucket.get(&gold_key).await,
    );
    world.compact(DAY, DAY).await.expect("second compaction");
    let second = (
        world.bucket.get(&silver_key).await,
        world.bucket.get(&gold_key).await,
    );
    assert_eq!(first.0.body, second.0.body);
    assert_eq!(first.1.body, second.1.body);

    // The same objects, written in the opposite order to another bucket.
    let other = World::new().await;
    let source = world.bucket.keys().await;
    for key in source.iter().rev().filter(|k| k.starts_with("raw/")) {
        other
            .bucket
            .put_object(key, &world.bucket.get(key).await.text())
            .await;
    }
    other.compact(DAY, DAY).await.expect("compaction elsewhere");
    assert_eq!(other.bucket.get(&silver_key).await.body, first.0.body);
    assert_eq!(other.bucket.get(&gold_key).await.body, first.1.body);
}

#[tokio::test]
async fn a_rejected_object_fails_its_day_by_name_and_leaves_the_last_good_compaction() {
    let world = World::new().await;
    put_a_messy_day(&world).await;
    world.compact(DAY, DAY).await.expect("first compaction");
    let silver_key = curated_key(CuratedTable::Quotes, date(DAY));
    let before = world.bucket.get(&silver_key).await.body;

    let good = world
        .bucket
        .get("raw/quotes/year=2024/month=06/day=01/quotes_2024-06-01_00-00-00.csv")
        .await
        .text();
    let broken = good.replacen("67000.5", "sixty-seven thousand", 1);
    let bad_key = "raw/quotes/year=2024/month=06/day=01/quotes_2024-06-01_00-20-00.csv";
    world.bucket.put_object(bad_key, &broken).await;
    // The next day compacts in the same run; the failure of one does not stop the other.
    world
        .put(
            "2024-06-02T00:00:00Z",
            &[quote(
                1,
                "USD",
                "1",
                "2024-06-01T23:59:00Z",
                "2024-06-02T00:00:00Z",
            )],
        )
        .await;

    let error = world
        .compact(DAY, "2024-06-02")
        .await
        .expect_err("the day fails");
    assert_eq!(error.error_type, "ObjectRejected");
    assert!(
        error.error_message.contains(bad_key),
        "{}",
        error.error_message
    );
    assert!(
        error.error_message.contains("line 2, column price"),
        "{}",
        error.error_message
    );
    assert!(
        error.error_message.starts_with("1 of 2 days"),
        "{}",
        error.error_message
    );
    assert_eq!(
        world.bucket.get(&silver_key).await.body,
        before,
        "untouched"
    );
    assert!(world
        .bucket
        .keys()
        .await
        .contains(&curated_key(CuratedTable::Quotes, date("2024-06-02"))));
}

#[tokio::test]
async fn a_row_from_another_day_rejects_its_object() {
    let world = World::new().await;
    let misplaced = quote(
        1,
        "USD",
        "1",
        "2024-06-02T00:01:00Z",
        "2024-06-02T00:05:00Z",
    );
    let body =
        String::from_utf8(coinlake::csv_codec::encode_quotes(&[misplaced]).unwrap()).unwrap();
    let key = "raw/quotes/year=2024/month=06/day=01/quotes_2024-06-01_12-00-00.csv";
    world.bucket.put_object(key, &body).await;
    let error = world.compact(DAY, DAY).await.expect_err("rejected");
    assert!(
        error.error_message.contains("not on the object's day"),
        "{}",
        error.error_message
    );
    assert!(error.error_message.contains(key), "{}", error.error_message);
}

#[tokio::test]
async fn a_number_beyond_a_double_rejects_its_object_naming_the_column() {
    let world = World::new().await;
    let mut huge = quote(
        1,
        "USD",
        "1",
        "2024-06-01T11:59:00Z",
        "2024-06-01T12:00:00Z",
    );
    huge.total_supply =
        Some(coinlake::decimal::DecimalText::parse("1e350").expect("the CSV contract accepts it"));
    let key = world.put("2024-06-01T12:00:00Z", &[huge]).await;
    let error = world.compact(DAY, DAY).await.expect_err("rejected");
    assert_eq!(error.error_type, "ObjectRejected");
    assert!(
        error.error_message.contains(&key),
        "{}",
        error.error_message
    );
    assert!(
        error.error_message.contains("total_supply") && error.error_message.contains("DOUBLE"),
        "{}",
        error.error_message
    );
    assert_eq!(world.bucket.keys().await, vec![key], "nothing written");
}

#[tokio::test]
async fn an_empty_day_writes_nothing_and_foreign_keys_are_listed_not_read() {
    let world = World::new().await;
    let foreign = "raw/quotes/year=2024/month=06/day=01/notes.txt";
    world.bucket.put_object(foreign, "not a snapshot").await;
    let summary = world.compact(DAY, DAY).await.expect("nothing to do");
    assert_eq!(summary["days"][0]["status"], "empty");
    assert_eq!(summary["days"][0]["ignored"], json!([foreign]));
    assert_eq!(world.bucket.keys().await, vec![foreign.to_owned()]);
}

#[tokio::test]
async fn ranges_must_be_past_ordered_and_bounded() {
    let world = World::new().await;
    let today = chrono::Utc::now().date_naive().to_string();
    for (from, to, expected) in [
        (today.as_str(), today.as_str(), "is not over yet"),
        ("2024-06-02", "2024-06-01", "\"to\" is before \"from\""),
        ("2022-01-01", "2024-01-01", "at most 366 per event"),
    ] {
        let error = world.compact(from, to).await.expect_err(expected);
        assert_eq!(error.error_type, "InvalidRange");
        assert!(
            error.error_message.contains(expected),
            "{}",
            error.error_message
        );
    }
    assert!(world.bucket.keys().await.is_empty());
}

#[tokio::test]
async fn the_klines_dataset_is_refused_with_a_clear_error_and_nothing_written() {
    let world = World::new().await;
    world
        .bucket
        .put_object(
            "raw/klines/interval=1m/year=2024/month=06/day=01/klines_2024-06-01_12-35-00.csv",
            "symbol\n",
        )
        .await;

    let error = world
        .invoke(json!({"compact": {"dataset": "klines", "from": "2024-06-01", "to": "2024-06-01"}}))
        .await
        .expect_err("klines is not compacted");

    assert_eq!(error.error_type, "InvalidRange");
    assert!(
        error
            .error_message
            .contains("the klines dataset is not compacted"),
        "{}",
        error.error_message
    );
    assert_eq!(world.bucket.keys().await.len(), 1, "nothing may be written");
}

#[tokio::test]
async fn days_are_not_started_near_the_deadline_and_the_same_request_carries_on() {
    let world = World::new().await;
    for day in ["2024-06-01", "2024-06-02", "2024-06-03"] {
        let slot = format!("{day}T12:00:00Z");
        world
            .put(
                &slot,
                &[quote(1, "USD", "1", &format!("{day}T11:59:00Z"), &slot)],
            )
            .await;
    }
    let request =
        json!({"compact": {"dataset": "quotes", "from": "2024-06-01", "to": "2024-06-03"}});
    // A minute left: less than a day's margin, so no day is started.
    let error = world
        .invoke_with(request.clone(), chrono::TimeDelta::minutes(1))
        .await
        .expect_err("unfinished");
    assert_eq!(error.error_type, "Unfinished");
    assert!(
        error
            .error_message
            .contains("0 of 3 days done; 2024-06-01..2024-06-03 were not started"),
        "{}",
        error.error_message
    );
    assert!(world
        .bucket
        .keys()
        .await
        .iter()
        .all(|k| k.starts_with("raw/")));

    // One day done earlier; the same request, with time, does the other two and skips it.
    world
        .compact("2024-06-02", "2024-06-02")
        .await
        .expect("one day");
    let summary = world.invoke(request).await.expect("carries on");
    let statuses: Vec<&str> = summary["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["compacted", "up_to_date", "compacted"]);
}

#[tokio::test]
async fn the_daily_schedule_compacts_the_day_before_its_time() {
    let world = World::new().await;
    world
        .put(
            "2024-06-01T12:00:00Z",
            &[quote(
                1,
                "USD",
                "1",
                "2024-06-01T11:59:00Z",
                "2024-06-01T12:00:00Z",
            )],
        )
        .await;
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(testkit::workspace_root().join("events/compact-daily.json"))
            .expect("committed event"),
    )
    .expect("JSON");
    let summary = world.invoke(event).await.expect("compacts 2024-06-01");
    assert_eq!(summary["from"], "2024-06-01");
    assert_eq!(summary["days"][0]["rows"], 1);
}
