//! Migrations apply from empty, re-run as no-ops, survive several cold starts racing, and
//! convert the data of an earlier schema.

use crate::common::texts;
use coinlake::db::{migrate, migrate_to};
use testkit::TestDatabase;

#[tokio::test]
async fn migrations_apply_from_empty_and_rerun_as_no_ops() {
    let db = TestDatabase::new().await;
    let mut client = db.client().await;

    let first = migrate(&mut client).await.unwrap();
    let second = migrate(&mut client).await.unwrap();

    assert!(
        first
            .applied
            .iter()
            .any(|m| m.contains("quotes_assets_ingest_runs")),
        "{:?}",
        first.applied
    );
    assert!(second.applied.is_empty(), "{:?}", second.applied);
    for table in ["quotes", "assets", "ingest_runs"] {
        let found: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = $1",
                &[&table],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(found, 1, "{table}");
    }
}

#[tokio::test]
async fn cold_starts_racing_to_migrate_apply_each_migration_once() {
    let db = TestDatabase::new().await;
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(db.client().await);
    }

    let results = futures::future::join_all(clients.iter_mut().map(migrate)).await;

    let reports: Vec<_> = results
        .into_iter()
        .map(|r| r.expect("every racer succeeds"))
        .collect();
    let applying = reports.iter().filter(|r| !r.applied.is_empty()).count();
    assert_eq!(
        applying, 1,
        "exactly one racer applies the migrations: {reports:?}"
    );
    let history: i64 = db
        .client()
        .await
        .query_one("SELECT count(*) FROM refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        history as usize,
        reports.iter().map(|r| r.applied.len()).sum::<usize>()
    );
}

/// Quotes as V4 stored them, across a year end, a leap day's month end and a month end,
/// five minutes apart, in two currencies, with nulls and awkward text; and two runs.
const V4_CONTENT: &str = "
INSERT INTO quotes (cmc_id, quote_currency, last_updated, slot_at, symbol, name, slug, cmc_rank,
                    price, volume_24h, percent_change_1h, max_supply, num_market_pairs,
                    ingested_at, s3_key, loaded_at)
SELECT c.id, c.currency, s.slot - interval '61.5 seconds', s.slot, 'C' || c.id,
       'Comma, \"Quoted\" ''Coin'' ' || c.id, '', CASE WHEN c.id > 1 THEN c.id END,
       1.000000000000000001 * c.id + extract(epoch FROM s.slot) / 1e9, NULL, -0.25,
       21000000.000000000000000001, 11, s.slot + interval '2 seconds',
       'raw/quotes/' || to_char(s.slot AT TIME ZONE 'UTC', 'YYYY-MM-DD_HH24-MI-SS') || '.csv',
       s.slot + interval '5 seconds'
FROM (SELECT generate_series(timestamptz '2023-12-31 23:45:00+00', timestamptz '2024-01-01 00:15:00+00', interval '5 minutes')
      UNION ALL
      SELECT generate_series(timestamptz '2024-02-29 23:50:00+00', timestamptz '2024-03-01 00:10:00+00', interval '5 minutes')
      UNION ALL
      SELECT generate_series(timestamptz '2024-05-31 23:55:00+00', timestamptz '2024-06-01 00:05:00+00', interval '5 minutes')
     ) AS s (slot),
     (VALUES (1, 'USD'), (1027, 'USD'), (1, 'EUR')) AS c (id, currency);
INSERT INTO ingest_runs (slot_at, dataset, s3_key, status, rows_in_file, rows_inserted, rows_present,
                         rows_rejected, started_at)
VALUES ('2024-06-01 00:05:00+00', 'quotes', 'raw/quotes/a.csv', 'loaded', 3, 3, 0, 0, now()),
       ('2024-06-01 00:05:00+00', 'quotes', 'raw/quotes/b.csv', 'rejected', NULL, NULL, NULL, NULL, now());
";

/// Every quote as V4 had it (all its columns, `observed_on` left out), in key order.
const V4_ROWS: &str =
    "SELECT (to_jsonb(q) - 'observed_on')::text FROM quotes q ORDER BY cmc_id, quote_currency, last_updated";

#[tokio::test]
async fn v5_partitions_a_v4_quotes_table_without_losing_or_changing_a_row() {
    // GIVEN a database at V4 holding quotes of five months, across month and year ends
    let db = TestDatabase::new().await;
    let mut client = db.client().await;
    let applied = migrate_to(&mut client, 4).await.unwrap();
    assert_eq!(applied.applied.len(), 4, "{applied:?}");
    client.batch_execute(V4_CONTENT).await.unwrap();
    let before = texts(&client, V4_ROWS).await;
    assert_eq!(before.len(), 3 * (7 + 5 + 3));

    // WHEN V5 applies, from a session whose time zone is 14 hours ahead of UTC
    let mut migrating = db.client().await;
    migrating
        .batch_execute("SET TIME ZONE 'Pacific/Kiritimati'")
        .await
        .unwrap();
    let applied = migrate_to(&mut migrating, 5).await.unwrap();

    // THEN every row is still there with every value, dated by the UTC day of its slot
    assert_eq!(applied.applied.len(), 1, "{applied:?}");
    assert!(
        applied.applied[0].contains("quotes_partitioned_by_observed_day"),
        "{applied:?}"
    );
    assert_eq!(texts(&client, V4_ROWS).await, before);
    let by_partition = texts(
        &client,
        "SELECT format('%s|%s|%s|%s', tableoid::regclass, min(observed_on), max(observed_on), count(*)) \
         FROM quotes GROUP BY tableoid ORDER BY 1",
    )
    .await;
    assert_eq!(
        by_partition,
        [
            "quotes_2023_12|2023-12-31|2023-12-31|9",
            "quotes_2024_01|2024-01-01|2024-01-01|12",
            "quotes_2024_02|2024-02-29|2024-02-29|6",
            "quotes_2024_03|2024-03-01|2024-03-01|9",
            "quotes_2024_05|2024-05-31|2024-05-31|3",
            "quotes_2024_06|2024-06-01|2024-06-01|6",
        ]
    );
    let misdated: i64 = client
        .query_one(
            "SELECT count(*) FROM quotes WHERE observed_on <> (slot_at AT TIME ZONE 'UTC')::date",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(misdated, 0);

    // AND the views read the converted rows, each update once
    let counts = texts(
        &client,
        "SELECT format('%s|%s|%s|%s', (SELECT count(*) FROM quote_updates), \
         (SELECT count(*) FROM latest_quotes), (SELECT sum(samples) FROM ohlc_5m), \
         (SELECT count(*) FROM price_changes))",
    )
    .await;
    assert_eq!(counts, ["45|3|45|45"]);

    // AND the read-only role reads all of it and still cannot add partitions
    let grants = texts(
        &client,
        "SELECT format('%s:%s', object, allowed) FROM (VALUES \
           ('quotes', has_table_privilege('coinlake_reader', 'quotes', 'SELECT')), \
           ('quote_updates', has_table_privilege('coinlake_reader', 'quote_updates', 'SELECT')), \
           ('latest_quotes', has_table_privilege('coinlake_reader', 'latest_quotes', 'SELECT')), \
           ('ohlc_5m', has_table_privilege('coinlake_reader', 'ohlc_5m', 'SELECT')), \
           ('ohlc_1h', has_table_privilege('coinlake_reader', 'ohlc_1h', 'SELECT')), \
           ('ohlc_1d', has_table_privilege('coinlake_reader', 'ohlc_1d', 'SELECT')), \
           ('price_moving_averages', has_table_privilege('coinlake_reader', 'price_moving_averages', 'SELECT')), \
           ('price_changes', has_table_privilege('coinlake_reader', 'price_changes', 'SELECT')), \
           ('quote_ohlc', has_function_privilege('coinlake_reader', 'quote_ohlc(interval)', 'EXECUTE')), \
           ('ensure_quotes_partition', has_function_privilege('coinlake_reader', 'ensure_quotes_partition(date)', 'EXECUTE')), \
           ('insert', has_table_privilege('coinlake_reader', 'quotes', 'INSERT')) \
         ) AS g (object, allowed)",
    )
    .await;
    assert_eq!(
        grants,
        [
            "quotes:t",
            "quote_updates:t",
            "latest_quotes:t",
            "ohlc_5m:t",
            "ohlc_1h:t",
            "ohlc_1d:t",
            "price_moving_averages:t",
            "price_changes:t",
            "quote_ohlc:t",
            "ensure_quotes_partition:f",
            "insert:f",
        ]
    );

    // AND runs loaded before V5 replaced nothing
    assert_eq!(
        texts(
            &client,
            "SELECT format('%s|%s', status, rows_replaced) FROM ingest_runs ORDER BY id"
        )
        .await,
        ["loaded|0", "rejected|"]
    );
}
