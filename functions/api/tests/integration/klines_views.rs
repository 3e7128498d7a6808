//! The klines views of migration V8 against hand-worked values: rollups, moving averages
//! (a window not yet full and one across a missing minute), VWAP, the CMC-Binance spread,
//! and the gaps of both datasets.

use crate::common::{World, Q};

/// Every row of `sql` (whose columns are all text), as strings; NULL as "NULL".
async fn rows(world: &World, sql: &str) -> Vec<Vec<String>> {
    rows_in(world, "UTC", sql).await
}

/// `rows` in a session whose TimeZone is `zone`.
async fn rows_in(world: &World, zone: &str, sql: &str) -> Vec<Vec<String>> {
    let client = world.db.client().await;
    client
        .batch_execute(&format!("SET TimeZone = '{zone}'"))
        .await
        .expect("set the session zone");
    client
        .query(sql, &[])
        .await
        .expect(sql)
        .iter()
        .map(|row| {
            (0..row.len())
                .map(|i| {
                    row.get::<_, Option<String>>(i)
                        .unwrap_or_else(|| "NULL".to_owned())
                })
                .collect()
        })
        .collect()
}

/// Whether every boolean `sql` returns is true (checks of exact numeric equality).
async fn all_true(world: &World, sql: &str) -> bool {
    let rows = world.db.client().await.query(sql, &[]).await.expect(sql);
    assert!(!rows.is_empty(), "{sql} returned no row");
    rows.iter()
        .all(|row| (0..row.len()).all(|i| row.get::<_, Option<bool>>(i) == Some(true)))
}

async fn world() -> World {
    let world = World::empty().await;
    world.insert_klines().await;
    world
}

#[tokio::test]
async fn five_minute_candles_are_first_open_extremes_last_close_and_sums_of_present_minutes() {
    // GIVEN ETHUSDT minutes 23:59, 00:00, 00:01, 00:02, 00:04, 00:05 (no 00:03)
    let world = world().await;

    // WHEN its five-minute candles are read
    let candles = rows(
        &world,
        "SELECT to_char(bucket_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), open::text, high::text, low::text, close::text,
                volume::text, quote_volume::text, trades::text, vwap::numeric(20,4)::text, minutes::text
         FROM klines_5m WHERE symbol = 'ETHUSDT' ORDER BY bucket_start",
    )
    .await;

    // THEN 23:55 holds one minute, 00:00 four (00:03 is missing), 00:05 one
    assert_eq!(
        candles,
        [
            [
                "2024-05-31 23:55",
                "3000",
                "3010",
                "2990",
                "3005",
                "2",
                "6000",
                "10",
                "3000.0000",
                "1"
            ],
            [
                "2024-06-01 00:00",
                "3005",
                "3030",
                "2980.25",
                "3025.75",
                "8",
                "24110",
                "21",
                "3013.7500",
                "4"
            ],
            [
                "2024-06-01 00:05",
                "3025.75",
                "3026",
                "3020",
                "3021",
                "1.5",
                "4531.5",
                "3",
                "3021.0000",
                "1"
            ],
        ]
    );
}

#[tokio::test]
async fn fifteen_minute_and_hourly_candles_cover_their_minutes_from_a_utc_origin() {
    let world = world().await;
    for view in ["klines_15m", "klines_1h"] {
        // in a session zone half an hour off UTC, which must not move the buckets
        let candles = rows_in(
            &world,
            "America/St_Johns",
            &format!(
                "SELECT to_char(bucket_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), open::text, high::text, low::text, close::text,
                        volume::text, quote_volume::text, trades::text, minutes::text
                 FROM {view} WHERE symbol = 'ETHUSDT' AND bucket_start >= '2024-06-01T00:00:00Z'"
            ),
        )
        .await;
        assert_eq!(
            candles,
            [[
                "2024-06-01 00:00",
                "3005",
                "3030",
                "2980.25",
                "3021",
                "9.5",
                "28641.5",
                "24",
                "5"
            ]],
            "{view}"
        );
        assert!(
            all_true(
                &world,
                &format!("SELECT vwap = 28641.5 / 9.5 FROM {view} WHERE symbol = 'ETHUSDT' AND bucket_start = '2024-06-01T00:00:00Z'")
            )
            .await,
            "{view}"
        );
    }
    // AND the minute view holds every stored minute, 00:02 without a VWAP (nothing traded)
    let minutes = rows(
        &world,
        "SELECT count(*)::text, count(vwap)::text FROM klines_1m_candles WHERE symbol = 'ETHUSDT'",
    )
    .await;
    assert_eq!(minutes, [["6", "5"]]);
}

#[tokio::test]
async fn moving_averages_are_null_until_the_window_is_full_and_across_a_missing_minute() {
    // GIVEN BTCUSDT minutes 0..=129 from 12:00 with close 67000 + i, minute 110 missing
    let world = world().await;
    let sma = |minute: i64| {
        format!(
            "SELECT coalesce(sma_7::numeric(20,4)::text, 'NULL'), coalesce(sma_25::numeric(20,4)::text, 'NULL'),
                    coalesce(sma_99::numeric(20,4)::text, 'NULL'), minutes_7::text
             FROM klines_1m_indicators
             WHERE symbol = 'BTCUSDT' AND open_time = timestamptz '2024-06-01 12:00:00+00' + interval '{minute} minutes'"
        )
    };
    for (minute, expected) in [
        // the first minutes: no window is full yet
        (0, ["NULL", "NULL", "NULL", "1"]),
        (5, ["NULL", "NULL", "NULL", "6"]),
        // minutes 0..=6: mean index 3
        (6, ["67003.0000", "NULL", "NULL", "7"]),
        // 25 minutes 0..=24: mean 12
        (24, ["67021.0000", "67012.0000", "NULL", "7"]),
        // 99 minutes 0..=98: mean 49
        (98, ["67095.0000", "67086.0000", "67049.0000", "7"]),
        // the last full windows before the hole: 11..=109 has mean 60
        (109, ["67106.0000", "67097.0000", "67060.0000", "7"]),
        // minute 110 is missing: every window holding it is not full
        (111, ["NULL", "NULL", "NULL", "6"]),
        (116, ["NULL", "NULL", "NULL", "6"]),
        // 111..=117 is full again (mean 114); 25 and 99 still reach back over 110
        (117, ["67114.0000", "NULL", "NULL", "7"]),
        (129, ["67126.0000", "NULL", "NULL", "7"]),
    ] {
        assert_eq!(
            rows(&world, &sma(minute)).await,
            [expected],
            "minute {minute}"
        );
    }
    assert!(rows(&world, &sma(110)).await.is_empty());
}

#[tokio::test]
async fn the_day_vwap_runs_from_midnight_utc_and_the_minute_vwap_is_its_own() {
    let world = world().await;
    // in a session zone whose midnight is not UTC's
    let vwaps = rows_in(
        &world,
        "Asia/Kolkata",
        "SELECT to_char(open_time AT TIME ZONE 'UTC', 'HH24:MI'), coalesce(vwap::numeric(20,4)::text, 'NULL'),
                day_vwap::numeric(20,4)::text
         FROM klines_1m_indicators WHERE symbol = 'ETHUSDT' ORDER BY open_time",
    )
    .await;
    assert_eq!(
        vwaps,
        [
            ["23:59", "3000.0000", "3000.0000"],
            // a new UTC day: 23:59 no longer counts
            ["00:00", "3010.0000", "3010.0000"],
            // (3010 + 9000) / (1 + 3)
            ["00:01", "3000.0000", "3002.5000"],
            // nothing traded: no minute VWAP, the day's unchanged
            ["00:02", "NULL", "3002.5000"],
            // 24110 / 8
            ["00:04", "3025.0000", "3013.7500"],
            // 28641.5 / 9.5
            ["00:05", "3021.0000", "3014.8947"],
        ]
    );
}

#[tokio::test]
async fn the_spread_sets_each_usd_quote_against_the_binance_minute_before_its_slot() {
    // GIVEN BTC quoted in USD by the 12:05 and 12:10 slots, in BRL by 12:05, ETH in USD by
    // 12:10 (ETHUSDT has no 12:09 minute)
    let world = world().await;
    let quote = |id, symbol, currency, price, updated, slot| Q {
        id,
        symbol,
        currency,
        rank: Some(1),
        price,
        updated,
        slot,
        change_24h: None,
    };
    world
        .insert(&[
            quote(
                1,
                "BTC",
                "USD",
                "67010.5",
                "2024-06-01T12:04:30Z",
                "2024-06-01T12:05:00Z",
            ),
            quote(
                1,
                "BTC",
                "USD",
                "67000",
                "2024-06-01T12:09:10Z",
                "2024-06-01T12:10:00Z",
            ),
            quote(
                1,
                "BTC",
                "BRL",
                "350000",
                "2024-06-01T12:04:30Z",
                "2024-06-01T12:05:00Z",
            ),
            quote(
                1027,
                "ETH",
                "USD",
                "3500",
                "2024-06-01T12:09:00Z",
                "2024-06-01T12:10:00Z",
            ),
        ])
        .await;

    // THEN one row per BTC USD slot, against minutes 12:04 (close 67004) and 12:09 (67009)
    let spreads = rows(
        &world,
        "SELECT to_char(slot_at AT TIME ZONE 'UTC', 'HH24:MI'), symbol, pair, cmc_price::text,
                to_char(binance_open_time AT TIME ZONE 'UTC', 'HH24:MI'), binance_close::text,
                spread::text, spread_bps::text
         FROM cmc_binance_spread ORDER BY slot_at",
    )
    .await;
    assert_eq!(
        spreads,
        [
            // 6.5 / 67004 = 0.97009… bps
            ["12:05", "BTC", "BTCUSDT", "67010.5", "12:04", "67004", "6.5", "0.9701"],
            // -9 / 67009 = -1.34310… bps
            ["12:10", "BTC", "BTCUSDT", "67000", "12:09", "67009", "-9", "-1.3431"],
        ]
    );
}

#[tokio::test]
async fn gaps_list_missing_minutes_per_pair_and_missing_quotes_slots_as_ranges() {
    // GIVEN quotes runs loaded for 12:00, 12:05 (twice: a replay), 12:20, 12:25 and 12:40; a
    // failed run for 12:30; and a klines run for 12:45
    let world = world().await;
    world
        .sql(
            "INSERT INTO ingest_runs (slot_at, dataset, s3_key, status, started_at, finished_at)
             SELECT s::timestamptz, d, 'raw/' || d || '/fixture.csv', st, s::timestamptz,
                    s::timestamptz + interval '1 second'
             FROM (VALUES ('2024-06-01T12:00:00Z', 'quotes', 'loaded'),
                          ('2024-06-01T12:05:00Z', 'quotes', 'loaded'),
                          ('2024-06-01T12:05:00Z', 'quotes', 'loaded'),
                          ('2024-06-01T12:20:00Z', 'quotes', 'loaded'),
                          ('2024-06-01T12:25:00Z', 'quotes', 'loaded'),
                          ('2024-06-01T12:30:00Z', 'quotes', 'failed'),
                          ('2024-06-01T12:40:00Z', 'quotes', 'loaded'),
                          ('2024-06-01T12:45:00Z', 'klines', 'loaded')) r(s, d, st)",
        )
        .await;

    let gaps = rows(
        &world,
        "SELECT dataset, coalesce(symbol, 'NULL'),
                to_char(first_missing AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'),
                to_char(last_missing AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), missing::text
         FROM data_gaps ORDER BY dataset, symbol, first_missing",
    )
    .await;
    assert_eq!(
        gaps,
        [
            [
                "klines",
                "BTCUSDT",
                "2024-06-01 13:50",
                "2024-06-01 13:50",
                "1"
            ],
            [
                "klines",
                "ETHUSDT",
                "2024-06-01 00:03",
                "2024-06-01 00:03",
                "1"
            ],
            // 12:10 and 12:15
            [
                "quotes",
                "NULL",
                "2024-06-01 12:10",
                "2024-06-01 12:15",
                "2"
            ],
            // a failed run fills no slot: 12:30 and 12:35
            [
                "quotes",
                "NULL",
                "2024-06-01 12:30",
                "2024-06-01 12:35",
                "2"
            ],
        ]
    );

    // AND a longer hole is one range: BTCUSDT loses 12:30..=12:59
    world
        .sql("DELETE FROM klines_1m WHERE symbol = 'BTCUSDT' AND open_time >= '2024-06-01T12:30:00Z' AND open_time < '2024-06-01T13:00:00Z'")
        .await;
    let btc = rows(
        &world,
        "SELECT to_char(first_missing AT TIME ZONE 'UTC', 'HH24:MI'), to_char(last_missing AT TIME ZONE 'UTC', 'HH24:MI'), missing::text
         FROM data_gaps WHERE dataset = 'klines' AND symbol = 'BTCUSDT' ORDER BY first_missing",
    )
    .await;
    assert_eq!(btc, [["12:30", "12:59", "30"], ["13:50", "13:50", "1"]]);
}
