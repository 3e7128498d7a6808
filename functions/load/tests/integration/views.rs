//! The analytics views (migration V2) over a small hand-made history loaded the real way:
//! latest quotes, OHLC candles, moving averages and price changes, all in UTC whatever the
//! session's time zone. Expected values are worked out by hand in the comments.

use crate::common;

use coinlake::decimal::DecimalText;
use coinlake::quote::QuoteRow;
use common::{quote, s3_event, World};
use tokio_postgres::Client;

fn decimal(text: &str) -> DecimalText {
    DecimalText::parse(text).expect("decimal")
}

fn with_volume(mut row: QuoteRow, volume: &str) -> QuoteRow {
    row.volume_24h = Some(decimal(volume));
    row
}

fn in_currency(mut row: QuoteRow, currency: &str) -> QuoteRow {
    row.quote_currency = currency.to_owned();
    row
}

/// The snapshots of the history every test but the daylight-saving one starts from, by
/// slot. Prices in USD, volume_24h 1000.5 unless said; times UTC.
///
/// | asset       | last_updated (price)                                                  |
/// |-------------|-----------------------------------------------------------------------|
/// | BTC (1)     | 05-31 23:00 (90.5)                                                    |
/// |             | 06-01 23:44 (102), 23:50:30 (100, volume 2000), 23:54:10 (103.5; seen |
/// |             |   again by the 00:05 slot, CMC had not updated)                       |
/// |             | 06-02 00:07 (99.25), 00:12 (101.75), 00:31 (105, volume 1500),        |
/// |             |   00:47 (97.5), 00:54:11 (100.5), 01:07 (101)                         |
/// | BTC in EUR  | 06-02 00:06 (92): older than BTC's newest USD quote                   |
/// | ETH (1027)  | 06-01 23:52 (3000), 23:57:30 (3030)                                   |
/// |             | 06-02 00:03 (2999.7), 01:01 (3099.69; seen again by the 01:10 slot)   |
/// | DUST (5)    | 06-02 00:02 (0), 00:07 (0.25, renamed DST)                            |
fn history() -> Vec<(&'static str, Vec<QuoteRow>)> {
    let mut renamed = quote(
        5,
        "DST",
        "0.25",
        "2024-06-02T00:07:00Z",
        "2024-06-02T00:10:00Z",
    );
    renamed.name = "Dust (renamed)".to_owned();
    vec![
        (
            "2024-05-31T23:05:00Z",
            vec![quote(
                1,
                "BTC",
                "90.5",
                "2024-05-31T23:00:00Z",
                "2024-05-31T23:05:00Z",
            )],
        ),
        (
            "2024-06-01T23:45:00Z",
            vec![quote(
                1,
                "BTC",
                "102",
                "2024-06-01T23:44:00Z",
                "2024-06-01T23:45:00Z",
            )],
        ),
        (
            "2024-06-01T23:55:00Z",
            vec![
                with_volume(
                    quote(
                        1,
                        "BTC",
                        "100",
                        "2024-06-01T23:50:30Z",
                        "2024-06-01T23:55:00Z",
                    ),
                    "2000",
                ),
                quote(
                    1027,
                    "ETH",
                    "3000",
                    "2024-06-01T23:52:00Z",
                    "2024-06-01T23:55:00Z",
                ),
            ],
        ),
        (
            "2024-06-02T00:00:00Z",
            vec![
                quote(
                    1,
                    "BTC",
                    "103.5",
                    "2024-06-01T23:54:10Z",
                    "2024-06-02T00:00:00Z",
                ),
                quote(
                    1027,
                    "ETH",
                    "3030",
                    "2024-06-01T23:57:30Z",
                    "2024-06-02T00:00:00Z",
                ),
            ],
        ),
        (
            "2024-06-02T00:05:00Z",
            vec![
                quote(
                    1,
                    "BTC",
                    "103.5",
                    "2024-06-01T23:54:10Z",
                    "2024-06-02T00:05:00Z",
                ),
                quote(
                    1027,
                    "ETH",
                    "2999.7",
                    "2024-06-02T00:03:00Z",
                    "2024-06-02T00:05:00Z",
                ),
                quote(
                    5,
                    "DUST",
                    "0",
                    "2024-06-02T00:02:00Z",
                    "2024-06-02T00:05:00Z",
                ),
            ],
        ),
        (
            "2024-06-02T00:10:00Z",
            vec![
                quote(
                    1,
                    "BTC",
                    "99.25",
                    "2024-06-02T00:07:00Z",
                    "2024-06-02T00:10:00Z",
                ),
                in_currency(
                    quote(
                        1,
                        "BTC",
                        "92",
                        "2024-06-02T00:06:00Z",
                        "2024-06-02T00:10:00Z",
                    ),
                    "EUR",
                ),
                renamed,
            ],
        ),
        (
            "2024-06-02T00:15:00Z",
            vec![quote(
                1,
                "BTC",
                "101.75",
                "2024-06-02T00:12:00Z",
                "2024-06-02T00:15:00Z",
            )],
        ),
        (
            "2024-06-02T00:35:00Z",
            vec![with_volume(
                quote(
                    1,
                    "BTC",
                    "105",
                    "2024-06-02T00:31:00Z",
                    "2024-06-02T00:35:00Z",
                ),
                "1500",
            )],
        ),
        (
            "2024-06-02T00:50:00Z",
            vec![quote(
                1,
                "BTC",
                "97.5",
                "2024-06-02T00:47:00Z",
                "2024-06-02T00:50:00Z",
            )],
        ),
        (
            "2024-06-02T00:55:00Z",
            vec![quote(
                1,
                "BTC",
                "100.5",
                "2024-06-02T00:54:11Z",
                "2024-06-02T00:55:00Z",
            )],
        ),
        (
            "2024-06-02T01:05:00Z",
            vec![quote(
                1027,
                "ETH",
                "3099.69",
                "2024-06-02T01:01:00Z",
                "2024-06-02T01:05:00Z",
            )],
        ),
        (
            "2024-06-02T01:10:00Z",
            vec![
                quote(
                    1,
                    "BTC",
                    "101",
                    "2024-06-02T01:07:00Z",
                    "2024-06-02T01:10:00Z",
                ),
                quote(
                    1027,
                    "ETH",
                    "3099.69",
                    "2024-06-02T01:01:00Z",
                    "2024-06-02T01:10:00Z",
                ),
            ],
        ),
    ]
}

/// Writes `snapshots` to S3 and loads them, oldest first, with one notification.
async fn load(world: &World, snapshots: Vec<(&'static str, Vec<QuoteRow>)>) {
    let mut keys = Vec::new();
    for (slot, rows) in &snapshots {
        keys.push(world.put_snapshot(slot, rows).await);
    }
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let app = world.app(&[]).await;
    load::handle(&app, s3_event(&world.bucket.name, &keys))
        .await
        .expect("the history loads");
}

/// A world holding [`history`]: 17 quotes (the two repeated observations stored once).
async fn world_with_history() -> World {
    let world = World::new().await;
    load(&world, history()).await;
    assert_eq!(world.scalar("SELECT count(*) FROM quotes").await, 17);
    world
}

/// The first column of every row of `sql`, as text.
async fn lines(client: &Client, sql: &str) -> Vec<String> {
    client
        .query(sql, &[])
        .await
        .expect(sql)
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// `view`'s candles of one asset in USD: start|symbol|open|high|low|close|avg volume|samples.
async fn candles(client: &Client, view: &str, cmc_id: i64) -> Vec<String> {
    lines(
        client,
        &format!(
            "SELECT format('%s|%s|%s|%s|%s|%s|%s|%s', bucket_start, symbol, open, high, low, close, \
             round(avg_volume_24h, 8), samples) \
             FROM {view} WHERE cmc_id = {cmc_id} AND quote_currency = 'USD' ORDER BY bucket_start"
        ),
    )
    .await
}

#[tokio::test]
async fn latest_quotes_hold_the_newest_update_of_each_asset_in_each_currency() {
    // GIVEN the history (BTC's newest USD update at 01:07; its only EUR one at 00:06, older;
    // ETH's newest at 01:01, seen by the 01:05 and 01:10 slots; DUST renamed DST)
    let world = world_with_history().await;
    let client = world.db.client().await;

    // WHEN latest_quotes is read
    let latest = lines(
        &client,
        "SELECT format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', cmc_id, symbol, name, \
         quote_currency, cmc_rank, price, percent_change_1h, percent_change_24h, \
         percent_change_7d, market_cap, volume_24h, last_updated, slot_at) \
         FROM latest_quotes ORDER BY cmc_id, quote_currency",
    )
    .await;

    // THEN there is one row per asset and currency, its newest, from the slot that saw it first
    assert_eq!(
        latest,
        [
            "1|BTC|BTC coin|EUR|1|92|0.1|-1.25|3|123456789012.123456789|1000.5|2024-06-02 00:06:00+00|2024-06-02 00:10:00+00",
            "1|BTC|BTC coin|USD|1|101|0.1|-1.25|3|123456789012.123456789|1000.5|2024-06-02 01:07:00+00|2024-06-02 01:10:00+00",
            "5|DST|Dust (renamed)|USD|5|0.25|0.1|-1.25|3|123456789012.123456789|1000.5|2024-06-02 00:07:00+00|2024-06-02 00:10:00+00",
            "1027|ETH|ETH coin|USD|1027|3099.69|0.1|-1.25|3|123456789012.123456789|1000.5|2024-06-02 01:01:00+00|2024-06-02 01:05:00+00",
        ]
    );
}

#[tokio::test]
async fn five_minute_candles_bucket_by_cmc_update_time_and_count_a_repeated_update_once() {
    // GIVEN the history: in 23:50-23:55 BTC was 100 (volume 2000) then 103.5, and the
    // 103.5 update was observed by two slots, both after midnight
    let world = world_with_history().await;
    let client = world.db.client().await;

    // WHEN BTC's five-minute candles are read
    let candles = candles(&client, "ohlc_5m", 1).await;

    // THEN each bucket is a five-minute span of last_updated, not of slot_at; the 23:50
    // bucket opens at 100, closes at 103.5, averages the volumes (2000 + 1000.5) / 2, and
    // counts the repeated update once
    assert_eq!(
        candles,
        [
            "2024-05-31 23:00:00+00|BTC|90.5|90.5|90.5|90.5|1000.50000000|1",
            "2024-06-01 23:40:00+00|BTC|102|102|102|102|1000.50000000|1",
            "2024-06-01 23:50:00+00|BTC|100|103.5|100|103.5|1500.25000000|2",
            "2024-06-02 00:05:00+00|BTC|99.25|99.25|99.25|99.25|1000.50000000|1",
            "2024-06-02 00:10:00+00|BTC|101.75|101.75|101.75|101.75|1000.50000000|1",
            "2024-06-02 00:30:00+00|BTC|105|105|105|105|1500.00000000|1",
            "2024-06-02 00:45:00+00|BTC|97.5|97.5|97.5|97.5|1000.50000000|1",
            "2024-06-02 00:50:00+00|BTC|100.5|100.5|100.5|100.5|1000.50000000|1",
            "2024-06-02 01:05:00+00|BTC|101|101|101|101|1000.50000000|1",
        ]
    );
}

#[tokio::test]
async fn hourly_and_daily_candles_open_at_the_first_update_and_close_at_the_last() {
    // GIVEN the history: BTC between 00:00 and 01:00 on 06-02 went 99.25, 101.75, 105
    // (volume 1500), 97.5, 100.5; then 101 at 01:07
    let world = world_with_history().await;
    let client = world.db.client().await;

    // WHEN the hourly and daily candles are read
    let hourly = candles(&client, "ohlc_1h", 1).await;
    let daily = candles(&client, "ohlc_1d", 1).await;
    let eth_daily = candles(&client, "ohlc_1d", 1027).await;
    let dust_hourly = candles(&client, "ohlc_1h", 5).await;

    // THEN open, high, low and close differ where the price rose and fell:
    //   23:00 on 06-01: 102, 100, 103.5 -> volume (1000.5 + 2000 + 1000.5) / 3 = 1333.666...
    //   00:00 on 06-02: volume (4 * 1000.5 + 1500) / 5 = 1100.4
    //   day 06-02: six updates, volume (5 * 1000.5 + 1500) / 6 = 1083.75
    assert_eq!(
        hourly,
        [
            "2024-05-31 23:00:00+00|BTC|90.5|90.5|90.5|90.5|1000.50000000|1",
            "2024-06-01 23:00:00+00|BTC|102|103.5|100|103.5|1333.66666667|3",
            "2024-06-02 00:00:00+00|BTC|99.25|105|97.5|100.5|1100.40000000|5",
            "2024-06-02 01:00:00+00|BTC|101|101|101|101|1000.50000000|1",
        ]
    );
    assert_eq!(
        daily,
        [
            "2024-05-31 00:00:00+00|BTC|90.5|90.5|90.5|90.5|1000.50000000|1",
            "2024-06-01 00:00:00+00|BTC|102|103.5|100|103.5|1333.66666667|3",
            "2024-06-02 00:00:00+00|BTC|99.25|105|97.5|101|1083.75000000|6",
        ]
    );
    // AND assets and currencies are not mixed (BTC's EUR quote is in no USD candle above)
    assert_eq!(
        eth_daily,
        [
            "2024-06-01 00:00:00+00|ETH|3000|3030|3000|3030|1000.50000000|2",
            "2024-06-02 00:00:00+00|ETH|2999.7|3099.69|2999.7|3099.69|1000.50000000|2",
        ]
    );
    // AND a candle carries the symbol of its latest update
    assert_eq!(
        dust_hourly,
        ["2024-06-02 00:00:00+00|DST|0|0.25|0|0.25|1000.50000000|2"]
    );
}

#[tokio::test]
async fn the_one_hour_average_includes_a_quote_exactly_an_hour_old_and_not_one_a_second_older() {
    // GIVEN the history: BTC at 23:54:10 (103.5), 00:07 (99.25), 00:12 (101.75), 00:31 (105),
    // 00:47 (97.5), 00:54:11 (100.5), 01:07 (101)
    let world = world_with_history().await;
    let client = world.db.client().await;

    // WHEN BTC's moving averages are read
    let averages = lines(
        &client,
        "SELECT format('%s|%s|%s|%s|%s|%s', last_updated, price, round(sma_1h, 8), \
         round(sma_24h, 8), round(sma_7d, 8), samples_24h) \
         FROM price_moving_averages WHERE cmc_id = 1 AND quote_currency = 'USD' \
         ORDER BY last_updated",
    )
    .await;

    // THEN at 00:54:11 the hour leaves out 23:54:10, one second too old:
    //   (99.25 + 101.75 + 105 + 97.5 + 100.5) / 5 = 100.8
    // AND at 01:07 it keeps 00:07, exactly an hour old:
    //   (99.25 + 101.75 + 105 + 97.5 + 100.5 + 101) / 6 = 100.8333...
    // AND at 01:07 the 24 hours hold the nine updates since 06-01 23:44 (910.5 / 9), the week
    //   all ten, with 05-31 23:00's 90.5 (1001 / 10)
    assert_eq!(
        averages,
        [
            "2024-05-31 23:00:00+00|90.5|90.50000000|90.50000000|90.50000000|1",
            "2024-06-01 23:44:00+00|102|102.00000000|102.00000000|96.25000000|1",
            "2024-06-01 23:50:30+00|100|101.00000000|101.00000000|97.50000000|2",
            "2024-06-01 23:54:10+00|103.5|101.83333333|101.83333333|99.00000000|3",
            "2024-06-02 00:07:00+00|99.25|101.18750000|101.18750000|99.05000000|4",
            "2024-06-02 00:12:00+00|101.75|101.30000000|101.30000000|99.50000000|5",
            "2024-06-02 00:31:00+00|105|101.91666667|101.91666667|100.28571429|6",
            "2024-06-02 00:47:00+00|97.5|101.16666667|101.28571429|99.93750000|7",
            "2024-06-02 00:54:11+00|100.5|100.80000000|101.18750000|100.00000000|8",
            "2024-06-02 01:07:00+00|101|100.83333333|101.16666667|100.10000000|9",
        ]
    );
}

#[tokio::test]
async fn price_changes_start_empty_and_give_the_percent_from_the_previous_update() {
    // GIVEN the history: ETH 3000, 3030, 2999.7, 3099.69; DUST 0 then 0.25; BTC 103.5 at
    // 23:54:10 (seen by two slots) then 99.25 at 00:07
    let world = world_with_history().await;
    let client = world.db.client().await;
    let changes = |cmc_id: i64| {
        format!(
            "SELECT format('%s|%s|%s|%s|%s|%s', symbol, last_updated, price, previous_price, \
             previous_updated, percent_change) \
             FROM price_changes WHERE cmc_id = {cmc_id} AND quote_currency = 'USD' \
             ORDER BY last_updated"
        )
    };

    // WHEN price_changes is read
    let eth = lines(&client, &changes(1027)).await;
    let dust = lines(&client, &changes(5)).await;
    let btc_after_the_repeat = lines(
        &client,
        "SELECT format('%s|%s|%s|%s', last_updated, previous_price, previous_updated, percent_change) \
         FROM price_changes WHERE cmc_id = 1 AND quote_currency = 'USD' \
         AND last_updated = '2024-06-02 00:07:00+00'",
    )
    .await;

    // THEN the first update has no previous one; then +30 / 3000 = 1 %, -30.3 / 3030 = -1 %,
    // +99.99 / 2999.7 = 3.333...% (rounded to 8 places)
    assert_eq!(
        eth,
        [
            "ETH|2024-06-01 23:52:00+00|3000|||",
            "ETH|2024-06-01 23:57:30+00|3030|3000|2024-06-01 23:52:00+00|1.00000000",
            "ETH|2024-06-02 00:03:00+00|2999.7|3030|2024-06-01 23:57:30+00|-1.00000000",
            "ETH|2024-06-02 01:01:00+00|3099.69|2999.7|2024-06-02 00:03:00+00|3.33333333",
        ]
    );
    // AND a change from a zero price has no percent
    assert_eq!(
        dust,
        [
            "DUST|2024-06-02 00:02:00+00|0|||",
            "DST|2024-06-02 00:07:00+00|0.25|0|2024-06-02 00:02:00+00|",
        ]
    );
    // AND an update observed twice is one previous update: -4.25 / 103.5 = -4.10628019... %
    assert_eq!(
        btc_after_the_repeat,
        ["2024-06-02 00:07:00+00|103.5|2024-06-01 23:54:10+00|-4.10628019"]
    );
}

#[tokio::test]
async fn an_update_observed_on_both_sides_of_midnight_counts_once_in_every_view() {
    // GIVEN BTC updated at 23:45 (seen by the 23:50 slot), 23:50 (seen by 23:55 and again
    // by 00:00 the next day) and 00:03 (seen by 00:05); ETH's newest update, 23:52, seen by
    // 23:55 and 00:00; the files loaded newest first
    let world = World::new().await;
    let mut snapshots = vec![
        (
            "2024-06-01T23:50:00Z",
            vec![quote(
                1,
                "BTC",
                "100",
                "2024-06-01T23:45:00Z",
                "2024-06-01T23:50:00Z",
            )],
        ),
        (
            "2024-06-01T23:55:00Z",
            vec![
                quote(
                    1,
                    "BTC",
                    "102",
                    "2024-06-01T23:50:00Z",
                    "2024-06-01T23:55:00Z",
                ),
                quote(
                    1027,
                    "ETH",
                    "3000",
                    "2024-06-01T23:52:00Z",
                    "2024-06-01T23:55:00Z",
                ),
            ],
        ),
        (
            "2024-06-02T00:00:00Z",
            vec![
                quote(
                    1,
                    "BTC",
                    "102",
                    "2024-06-01T23:50:00Z",
                    "2024-06-02T00:00:00Z",
                ),
                quote(
                    1027,
                    "ETH",
                    "3000",
                    "2024-06-01T23:52:00Z",
                    "2024-06-02T00:00:00Z",
                ),
            ],
        ),
        (
            "2024-06-02T00:05:00Z",
            vec![quote(
                1,
                "BTC",
                "99",
                "2024-06-02T00:03:00Z",
                "2024-06-02T00:05:00Z",
            )],
        ),
    ];
    snapshots.reverse();
    load(&world, snapshots).await;
    let client = world.db.client().await;

    // WHEN the table and the views are read
    let stored = world.scalar("SELECT count(*) FROM quotes").await;
    let updates = lines(
        &client,
        "SELECT format('%s|%s|%s', cmc_id, last_updated, slot_at) FROM quote_updates \
         ORDER BY cmc_id, last_updated",
    )
    .await;
    let latest = lines(
        &client,
        "SELECT format('%s|%s|%s', symbol, last_updated, slot_at) FROM latest_quotes ORDER BY cmc_id",
    )
    .await;
    let five_minutes = candles(&client, "ohlc_5m", 1).await;
    let daily = candles(&client, "ohlc_1d", 1).await;
    let averages = lines(
        &client,
        "SELECT format('%s|%s|%s', last_updated, round(sma_1h, 8), samples_24h) \
         FROM price_moving_averages WHERE cmc_id = 1 ORDER BY last_updated",
    )
    .await;
    let changes = lines(
        &client,
        "SELECT format('%s|%s|%s', last_updated, previous_price, previous_updated) \
         FROM price_changes WHERE cmc_id = 1 ORDER BY last_updated",
    )
    .await;

    // THEN both days' observations are stored (BTC 23:50 and ETH 23:52 twice each)
    assert_eq!(stored, 6);
    // AND every view sees each update once, as its first slot observed it
    assert_eq!(
        updates,
        [
            "1|2024-06-01 23:45:00+00|2024-06-01 23:50:00+00",
            "1|2024-06-01 23:50:00+00|2024-06-01 23:55:00+00",
            "1|2024-06-02 00:03:00+00|2024-06-02 00:05:00+00",
            "1027|2024-06-01 23:52:00+00|2024-06-01 23:55:00+00",
        ]
    );
    assert_eq!(
        latest,
        [
            "BTC|2024-06-02 00:03:00+00|2024-06-02 00:05:00+00",
            "ETH|2024-06-01 23:52:00+00|2024-06-01 23:55:00+00",
        ]
    );
    assert_eq!(
        five_minutes,
        [
            "2024-06-01 23:45:00+00|BTC|100|100|100|100|1000.50000000|1",
            "2024-06-01 23:50:00+00|BTC|102|102|102|102|1000.50000000|1",
            "2024-06-02 00:00:00+00|BTC|99|99|99|99|1000.50000000|1",
        ]
    );
    assert_eq!(
        daily,
        [
            "2024-06-01 00:00:00+00|BTC|100|102|100|102|1000.50000000|2",
            "2024-06-02 00:00:00+00|BTC|99|99|99|99|1000.50000000|1",
        ]
    );
    // (100 + 102) / 2 = 101; (100 + 102 + 99) / 3 = 100.333...
    assert_eq!(
        averages,
        [
            "2024-06-01 23:45:00+00|100.00000000|1",
            "2024-06-01 23:50:00+00|101.00000000|2",
            "2024-06-02 00:03:00+00|100.33333333|3",
        ]
    );
    assert_eq!(
        changes,
        [
            "2024-06-01 23:45:00+00||",
            "2024-06-01 23:50:00+00|100|2024-06-01 23:45:00+00",
            "2024-06-02 00:03:00+00|102|2024-06-01 23:50:00+00",
        ]
    );
}

#[tokio::test]
async fn buckets_are_utc_even_when_the_session_is_in_sao_paulo() {
    // GIVEN the history, and a session in America/Sao_Paulo (UTC-3), where BTC's updates
    // from 06-01 23:44 to 06-02 01:07 UTC all fall on 06-01 local time
    let world = world_with_history().await;
    let client = world.db.client().await;
    client
        .batch_execute("SET TIME ZONE 'America/Sao_Paulo'")
        .await
        .unwrap();

    // WHEN BTC's daily and hourly candles are read there
    let daily = lines(
        &client,
        "SELECT format('%s|%s|%s|%s', bucket_start, open, close, samples) FROM ohlc_1d \
         WHERE cmc_id = 1 AND quote_currency = 'USD' ORDER BY bucket_start",
    )
    .await;
    let daily_in_utc = lines(
        &client,
        "SELECT (bucket_start AT TIME ZONE 'UTC')::text FROM ohlc_1d \
         WHERE cmc_id = 1 AND quote_currency = 'USD' ORDER BY bucket_start",
    )
    .await;

    // THEN the days still start at 00:00 UTC (21:00 the day before in Sao Paulo)
    assert_eq!(
        daily,
        [
            "2024-05-30 21:00:00-03|90.5|90.5|1",
            "2024-05-31 21:00:00-03|102|103.5|3",
            "2024-06-01 21:00:00-03|99.25|101|6",
        ]
    );
    assert_eq!(
        daily_in_utc,
        [
            "2024-05-31 00:00:00",
            "2024-06-01 00:00:00",
            "2024-06-02 00:00:00",
        ]
    );

    // AND every view holds exactly the same rows (as instants) as it does in a UTC session
    for view in [
        "quote_updates",
        "latest_quotes",
        "ohlc_5m",
        "ohlc_1h",
        "ohlc_1d",
        "price_moving_averages",
        "price_changes",
    ] {
        client
            .batch_execute(&format!(
                "SET TIME ZONE 'America/Sao_Paulo'; \
                 CREATE TEMP TABLE seen_in_sao_paulo AS SELECT * FROM {view}; \
                 SET TIME ZONE 'UTC'"
            ))
            .await
            .unwrap();
        let seen = lines(
            &client,
            &format!(
                "SELECT format('%s|%s|%s', \
                   (SELECT count(*) FROM {view}), \
                   (SELECT count(*) FROM (SELECT * FROM {view} EXCEPT ALL SELECT * FROM seen_in_sao_paulo) d), \
                   (SELECT count(*) FROM (SELECT * FROM seen_in_sao_paulo EXCEPT ALL SELECT * FROM {view}) d))"
            ),
        )
        .await;
        let rows: usize = seen[0].split('|').next().unwrap().parse().unwrap();
        assert!(rows > 0, "{view} is empty");
        assert_eq!(seen, [format!("{rows}|0|0")], "{view} differs in Sao Paulo");
        client
            .batch_execute("DROP TABLE seen_in_sao_paulo")
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_week_average_spans_168_hours_even_across_a_daylight_saving_change() {
    // GIVEN a coin at 10 on 2024-03-03 12:00 UTC and at 20 exactly 168 hours later, with a
    // 1000 one second before the week; New York moved its clocks forward in between
    // (2024-03-10 07:00 UTC), so "7 days" back on its wall clock would be 167 hours
    let world = World::new().await;
    load(
        &world,
        vec![
            (
                "2024-03-03T12:00:00Z",
                vec![quote(
                    7,
                    "WK",
                    "1000",
                    "2024-03-03T11:59:59Z",
                    "2024-03-03T12:00:00Z",
                )],
            ),
            (
                "2024-03-03T12:05:00Z",
                vec![quote(
                    7,
                    "WK",
                    "10",
                    "2024-03-03T12:00:00Z",
                    "2024-03-03T12:05:00Z",
                )],
            ),
            (
                "2024-03-10T12:05:00Z",
                vec![quote(
                    7,
                    "WK",
                    "20",
                    "2024-03-10T12:00:00Z",
                    "2024-03-10T12:05:00Z",
                )],
            ),
        ],
    )
    .await;
    let client = world.db.client().await;
    client
        .batch_execute("SET TIME ZONE 'America/New_York'")
        .await
        .unwrap();

    // WHEN the moving averages are read in a New York session
    let week = lines(
        &client,
        "SELECT format('%s|%s|%s', price, round(sma_7d, 8), samples_24h) \
         FROM price_moving_averages WHERE cmc_id = 7 ORDER BY last_updated",
    )
    .await;

    // THEN the last quote's week holds the 10 exactly 168 hours old, not the 1000 before it
    assert_eq!(
        week,
        [
            "1000|1000.00000000|1",
            "10|505.00000000|2",
            "20|15.00000000|1",
        ]
    );
}

#[tokio::test]
async fn filters_on_the_candle_views_reach_the_quotes_table() {
    // GIVEN the history, and sequential scans disabled so that an index is used if it can be
    let world = world_with_history().await;
    let client = world.db.client().await;
    client
        .batch_execute("SET enable_seqscan = off")
        .await
        .unwrap();

    for view in ["ohlc_5m", "ohlc_1h", "ohlc_1d"] {
        // WHEN a view is queried for one asset
        let plan = lines(
            &client,
            &format!("EXPLAIN (COSTS OFF) SELECT * FROM {view} WHERE cmc_id = 1 AND quote_currency = 'USD'"),
        )
        .await
        .join("\n");

        // THEN quote_ohlc was inlined (no function scan) and the filter is an index condition
        assert!(!plan.contains("Function Scan"), "{view}:\n{plan}");
        assert!(
            plan.contains("Index Cond: ((cmc_id = 1) AND (quote_currency = 'USD'::text))"),
            "{view}:\n{plan}"
        );
    }
}
