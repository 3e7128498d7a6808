//! What DuckDB, an engine this project did not write, makes of the curated files: the
//! types Athena's table declares, ZSTD, statistics on every column chunk, the sort order,
//! doubles equal to the raw text's nearest double, and candles it computes itself.

use crate::common::{date, quote, World};
use coinlake::curated::parquet::{quote_columns, OHLC_COLUMNS};
use coinlake::layout::{curated_key, CuratedTable};
use coinlake::schema::{ColumnType, QUOTE_COLUMNS};
use serde_json::{json, Value};

const DAY: &str = "2024-06-01";

/// Two coins in two currencies over a day's worth of slots, every fourth slot a repeat.
async fn a_day(world: &World) {
    for slot in 0..288 {
        let at = date(DAY).and_hms_opt(0, 0, 0).unwrap().and_utc()
            + chrono::TimeDelta::minutes(5 * slot);
        let updated = if slot % 4 == 3 {
            at - chrono::TimeDelta::minutes(6)
        } else {
            at - chrono::TimeDelta::minutes(1)
        };
        let price = |base: f64| format!("{:.6}", base + (slot as f64 * 7.3 % 97.0) - 48.0);
        let (at_text, updated_text) = (at.to_rfc3339(), updated.to_rfc3339());
        let rows = [
            quote(1, "USD", &price(67000.0), &updated_text, &at_text),
            quote(1, "EUR", &price(61000.0), &updated_text, &at_text),
            quote(1027, "USD", &price(3500.0), &updated_text, &at_text),
            quote(5000, "USD", "0.000000012345678901", &updated_text, &at_text),
        ];
        world.put(&at_text, &rows).await;
    }
}

fn athena_type(duckdb_type: &str) -> &str {
    match duckdb_type {
        "TIMESTAMP WITH TIME ZONE" => "timestamp",
        "BIGINT" => "bigint",
        "VARCHAR" => "string",
        "DOUBLE" => "double",
        other => panic!("a type Athena's table does not declare: {other}"),
    }
}

#[tokio::test]
async fn duckdb_reads_the_types_compression_statistics_and_order_athena_relies_on() {
    let world = World::new().await;
    a_day(&world).await;
    let summary = world.compact(DAY, DAY).await.expect("compacted");
    assert_eq!(summary["days"][0]["objects"], 288);

    let silver = world
        .download(&curated_key(CuratedTable::Quotes, date(DAY)))
        .await;
    let described = silver.duckdb(
        "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet({file}))",
    );
    let expected: Vec<Vec<Value>> = quote_columns()
        .iter()
        .map(|c| vec![json!(c.name), json!(c.curated_type.athena())])
        .collect();
    let found: Vec<Vec<Value>> = described
        .iter()
        .map(|r| vec![r[0].clone(), json!(athena_type(r[1].as_str().unwrap()))])
        .collect();
    assert_eq!(found, expected);

    // One row group; every chunk compressed with ZSTD and carrying statistics: a null
    // count, and a minimum and maximum unless the column is all null that day.
    let chunks = silver.duckdb(
        "SELECT row_group_id, compression, stats_null_count IS NOT NULL, \
           (stats_min_value IS NOT NULL AND stats_max_value IS NOT NULL) = (stats_null_count < row_group_num_rows), \
           count(*) FROM parquet_metadata({file}) GROUP BY ALL",
    );
    assert_eq!(
        chunks,
        vec![vec![
            json!(0),
            json!("ZSTD"),
            json!(true),
            json!(true),
            json!(23)
        ]]
    );
    let rows = 288 * 4 - 72 * 4;
    assert_eq!(
        silver.duckdb("SELECT count(*) FROM read_parquet({file})"),
        vec![vec![json!(rows)]]
    );

    let out_of_order = silver.duckdb(
        "SELECT count(*) FROM (SELECT cmc_id, quote_currency, slot_at, \
           lag(cmc_id) OVER w AS p_id, lag(quote_currency) OVER w AS p_cur, lag(slot_at) OVER w AS p_slot \
         FROM read_parquet({file}, file_row_number = true) WINDOW w AS (ORDER BY file_row_number)) \
         WHERE p_id IS NOT NULL AND (p_id, p_cur, p_slot) > (cmc_id, quote_currency, slot_at)",
    );
    assert_eq!(out_of_order, vec![vec![json!(0)]]);

    let stats = silver.duckdb(
        "SELECT stats_min_value, stats_max_value FROM parquet_metadata({file}) WHERE path_in_schema = 'cmc_id'",
    );
    assert_eq!(stats, vec![vec![json!("1"), json!("5000")]]);
}

#[tokio::test]
async fn every_double_is_the_nearest_to_the_raw_text_as_duckdb_parses_it() {
    let world = World::new().await;
    a_day(&world).await;
    world.compact(DAY, DAY).await.expect("compacted");
    let silver = world
        .download(&curated_key(CuratedTable::Quotes, date(DAY)))
        .await;
    // DuckDB parses one raw object's text itself; each of its rows is in the silver file
    // (the first slot's observations are never duplicates) with the same doubles.
    let raw_key = "raw/quotes/year=2024/month=06/day=01/quotes_2024-06-01_00-00-00.csv";
    let raw = world.download(raw_key).await;
    let csv_path = raw.path.with_extension("csv");
    std::fs::copy(&raw.path, &csv_path).unwrap();
    // Every decimal column: DuckDB's own parse of the text against the Parquet doubles.
    let decimals: Vec<&str> = QUOTE_COLUMNS
        .iter()
        .filter(|c| c.column_type == ColumnType::Decimal)
        .map(|c| c.name)
        .collect();
    let parsed: Vec<String> = decimals
        .iter()
        .map(|name| format!("NULLIF({name}, '')::DOUBLE"))
        .collect();
    let from_csv = crate::common::duckdb(
        &format!(
            "SELECT cmc_id::BIGINT, quote_currency, {} \
             FROM read_csv({{file}}, all_varchar = true) ORDER BY 1, 2",
            parsed.join(", ")
        ),
        &csv_path,
    );
    let _ = std::fs::remove_file(&csv_path);
    let from_parquet = silver.duckdb(&format!(
        "SELECT cmc_id, quote_currency, {} FROM read_parquet({{file}}) \
         WHERE slot_at = TIMESTAMPTZ '2024-06-01 00:00:00+00' ORDER BY 1, 2",
        decimals.join(", ")
    ));
    assert_eq!(from_csv.len(), 4);
    assert_eq!(from_parquet, from_csv);
}

#[tokio::test]
async fn the_gold_candles_are_what_duckdb_computes_from_the_silver_rows() {
    let world = World::new().await;
    a_day(&world).await;
    world.compact(DAY, DAY).await.expect("compacted");
    let silver = world
        .download(&curated_key(CuratedTable::Quotes, date(DAY)))
        .await;
    let gold = world
        .download(&curated_key(CuratedTable::Ohlc1d, date(DAY)))
        .await;

    let names: Vec<&str> = OHLC_COLUMNS.iter().map(|c| c.name).collect();
    let described =
        gold.duckdb("SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet({file}))");
    assert_eq!(
        described,
        names.iter().map(|n| vec![json!(n)]).collect::<Vec<_>>()
    );

    let candles = gold.duckdb(
        "SELECT cmc_id, symbol, quote_currency, epoch_ms(bucket_start), open, high, low, close, samples, \
         volume_24h, market_cap, epoch_ms(first_update), epoch_ms(last_update) FROM read_parquet({file})",
    );
    let expected = silver.duckdb(
        "SELECT cmc_id, last(symbol ORDER BY last_updated, slot_at), quote_currency, \
           epoch_ms(TIMESTAMPTZ '2024-06-01 00:00:00+00'), \
           first(price ORDER BY last_updated, slot_at), max(price), min(price), \
           last(price ORDER BY last_updated, slot_at), count(*), \
           last(volume_24h ORDER BY last_updated, slot_at), last(market_cap ORDER BY last_updated, slot_at), \
           epoch_ms(min(last_updated)), epoch_ms(max(last_updated)) \
         FROM read_parquet({file}) GROUP BY cmc_id, quote_currency ORDER BY cmc_id, quote_currency",
    );
    assert_eq!(candles.len(), 4);
    assert_eq!(candles, expected);
}
