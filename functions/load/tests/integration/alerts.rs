//! Alert evaluation in the load transaction (migration V10): known price paths loaded as
//! real files fire each rule exactly at its crossing, hold hysteresis and cooldown, skip
//! late observations, respect disabled rules and `evaluate_from`, fire once under
//! concurrent loads, stay quiet in a replay unless asked, and fire nothing for a rejected
//! file. CoinMarketCap's credit notice raises one operator alert per period. Both sinks.

use crate::common::{self, dataset_replay_event, invocation, quote, s3_event, utc, World};
use chrono::{DateTime, TimeDelta, Utc};
use coinlake::binance::Kline;
use coinlake::decimal::DecimalText;
use coinlake::kline_csv::encode_klines;
use coinlake::layout::{object_key, Dataset};
use coinlake::slot::Slot;
use serde_json::json;
use std::collections::BTreeSet;
use testkit::data_api::DataApiEmulator;

/// One minute of `pair` closing at `close`.
fn minute(pair: &str, open_time: DateTime<Utc>, close: &str) -> Kline {
    let d = |text: &str| DecimalText::parse(text).expect("decimal");
    Kline {
        symbol: pair.to_owned(),
        open_time,
        close_time: open_time + TimeDelta::milliseconds(59_999),
        open: d(close),
        high: d(close),
        low: d(close),
        close: d(close),
        volume: d("1"),
        quote_volume: d("1"),
        trades: 1,
        taker_buy_base_volume: d("0"),
        taker_buy_quote_volume: d("0"),
    }
}

/// Consecutive minutes of `pair` from `first`, closing at `closes`.
fn path(pair: &str, first: &str, closes: &[&str]) -> Vec<Kline> {
    closes
        .iter()
        .enumerate()
        .map(|(i, close)| minute(pair, utc(first) + TimeDelta::minutes(i as i64), close))
        .collect()
}

/// `close_time` of the minute opening at `open`, as the events table prints it.
fn closed(open: &str) -> String {
    (utc(open) + TimeDelta::milliseconds(59_999))
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string()
}

/// A load function over its own bucket and migrated database, through PostgreSQL or
/// through the Data API stand-in.
struct Alerts {
    world: World,
    app: load::App,
    emulator: Option<DataApiEmulator>,
}

impl Alerts {
    async fn new(data_api: bool) -> Alerts {
        let world = World::new().await;
        world.migrate().await;
        let (app, emulator) = if data_api {
            let emulator = DataApiEmulator::start(&world.db.host, world.db.port).await;
            let vars = common::data_api_vars(&world.db.name, &emulator.endpoint);
            (world.app(&vars).await, Some(emulator))
        } else {
            (world.app(&[]).await, None)
        };
        Alerts {
            world,
            app,
            emulator,
        }
    }

    /// Another load function on the same bucket and database (a concurrent invocation).
    async fn another_app(&self) -> load::App {
        match &self.emulator {
            Some(emulator) => {
                let vars = common::data_api_vars(&self.world.db.name, &emulator.endpoint);
                self.world.app(&vars).await
            }
            None => self.world.app(&[]).await,
        }
    }

    /// Inserts a rule (`columns` and `values` as SQL); evaluation starts at 2024-01-01
    /// unless `columns` sets `evaluate_from`. Returns its id.
    async fn rule(&self, columns: &str, values: &str) -> i64 {
        let (columns, values) = if columns.contains("evaluate_from") {
            (columns.to_owned(), values.to_owned())
        } else {
            (
                format!("{columns}, evaluate_from"),
                format!("{values}, '2024-01-01T00:00:00Z'"),
            )
        };
        self.world
            .scalar(&format!(
                "INSERT INTO alert_rules ({columns}) VALUES ({values}) RETURNING id"
            ))
            .await
    }

    /// Writes `klines` as the slot object of `slot`; returns its key.
    async fn put_klines(&self, slot: &str, klines: &[Kline]) -> String {
        let key = object_key(Dataset::Klines, Slot::containing(utc(slot)));
        let text = String::from_utf8(encode_klines(klines).expect("encode")).expect("UTF-8");
        self.world.bucket.put_object(&key, &text).await;
        key
    }

    /// Loads `key` as its S3 notification would; returns how many alerts it fired.
    async fn load(&self, key: &str) -> u64 {
        load_with(&self.app, &self.world.bucket.name, key).await
    }

    /// Every event as `rule|observed_at|value|message`, in id order.
    async fn events(&self) -> Vec<String> {
        self.world
            .texts(
                "SELECT format('%s|%s|%s|%s', coalesce(rule_id::text, '-'), \
                 to_char(observed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'), value, message) \
                 FROM alert_events ORDER BY id",
            )
            .await
    }

    /// When rule `id`'s events were observed, in time order.
    async fn fired_at(&self, id: i64) -> Vec<String> {
        self.world
            .texts(&format!(
                "SELECT to_char(observed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') \
                 FROM alert_events WHERE rule_id = {id} ORDER BY observed_at"
            ))
            .await
    }

    /// Rule `id`'s state as `armed or disarmed|evaluated_through|last_fired_at`.
    async fn state(&self, id: i64) -> String {
        self.world
            .texts(&format!(
                "SELECT format('%s|%s|%s', CASE WHEN armed THEN 'armed' ELSE 'disarmed' END, \
                 coalesce(to_char(evaluated_through AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'), '-'), \
                 coalesce(to_char(last_fired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'), '-')) \
                 FROM alert_rules WHERE id = {id}"
            ))
            .await
            .concat()
    }
}

async fn load_with(app: &load::App, bucket: &str, key: &str) -> u64 {
    let answer = load::handle(app, s3_event(bucket, &[key]))
        .await
        .unwrap_or_else(|e| panic!("loading {key}: {e}"));
    let result = serde_json::to_value(answer).expect("serialises")["results"][0].clone();
    assert_eq!(result["status"], "loaded", "{result}");
    result["alerts_fired"].as_u64().unwrap_or(0)
}

const BTC_ABOVE: &str = "'btc 100k', 'cmc', 1, 'USD', 'price_above', 100000";
const RULE_COLUMNS: &str = "label, source, cmc_id, quote_currency, kind, threshold";

#[tokio::test]
async fn price_above_fires_at_each_crossing_and_rearms_only_past_the_hysteresis() {
    for data_api in [false, true] {
        // GIVEN BTC/USD above 100,000 with a 1 % hysteresis and no cooldown
        let alerts = Alerts::new(data_api).await;
        let rule = alerts
            .rule(
                &format!("{RULE_COLUMNS}, hysteresis, cooldown_minutes"),
                &format!("{BTC_ABOVE}, 1, 0"),
            )
            .await;

        // WHEN a price path is loaded a snapshot at a time: below, crossing, inside the
        // band (no re-arm), above again (no re-fire), out of the band (re-arm), crossing
        let prices = [
            "99000",
            "100250.12",
            "99500",
            "100100",
            "98999.99",
            "100000",
        ];
        let mut fired = Vec::new();
        for (i, price) in prices.iter().enumerate() {
            let slot = format!("2024-06-01T12:{:02}:00Z", 5 * i);
            let key = alerts.world.put_btc(&slot, price).await;
            fired.push(alerts.load(&key).await);
        }

        // THEN exactly the second and sixth observations fired, with readable messages
        assert_eq!(fired, [0, 1, 0, 0, 0, 1], "data_api={data_api}");
        assert_eq!(
            alerts.events().await,
            [
                format!("{rule}|2024-06-01 12:04:00.000|100250.12|BTC (1) USD 100,250.12 rose above 100,000 (rule 'btc 100k')"),
                format!("{rule}|2024-06-01 12:24:00.000|100000|BTC (1) USD 100,000 rose above 100,000 (rule 'btc 100k')"),
            ],
            "data_api={data_api}"
        );
        assert_eq!(
            alerts.state(rule).await,
            "disarmed|2024-06-01 12:24:00.000|2024-06-01 12:24:00.000"
        );
        let event = alerts
            .world
            .texts(
                "SELECT format('%s|%s|%s|%s|%s|%s|%s|%s', audience, kind, source, cmc_id, \
                 quote_currency, threshold, dedupe_key, s3_key IS NOT NULL AND sent_at IS NULL) \
                 FROM alert_events ORDER BY id LIMIT 1",
            )
            .await;
        assert_eq!(
            event,
            [format!(
                "market|price_above|cmc|1|USD|100000|rule:{rule}:{}:{}|t",
                utc("2024-01-01T00:00:00Z").timestamp_millis(),
                utc("2024-06-01T12:04:00Z").timestamp_millis()
            )]
        );
        // A reload of a file stores nothing new and fires nothing.
        let again = alerts.world.put_btc("2024-06-01T12:25:00Z", "100000").await;
        assert_eq!(alerts.load(&again).await, 0);
        assert_eq!(alerts.events().await.len(), 2);
    }
}

#[tokio::test]
async fn price_below_and_change_pct_fire_exactly_at_their_crossings() {
    for data_api in [false, true] {
        // GIVEN a Binance pair watched for a fall below 90, a rise of 5 % and a fall of
        // 5 % over 3 minutes, with a hysteresis of 1 (percent, percentage points)
        let alerts = Alerts::new(data_api).await;
        let columns =
            "label, source, pair, kind, threshold, window_minutes, hysteresis, cooldown_minutes";
        let below = alerts
            .rule(
                columns,
                "'below 90', 'binance', 'BTCUSDT', 'price_below', 90, NULL, 1, 0",
            )
            .await;
        let rise = alerts
            .rule(
                columns,
                "'up 5', 'binance', 'BTCUSDT', 'change_pct', 5, 3, 1, 0",
            )
            .await;
        let fall = alerts
            .rule(
                columns,
                "'down 5', 'binance', 'BTCUSDT', 'change_pct', -5, 3, 1, 0",
            )
            .await;
        // ETHUSDT moves too, but no rule watches it.
        let mut klines = path(
            "BTCUSDT",
            "2024-06-01T12:00:00Z",
            // minute: 0    1      2      3      4      5      6      7       8       9     10
            &[
                "100", "101", "104", "105", "100", "95.5", "89.9", "90.5", "90.8", "89", "95.1",
            ],
        );
        klines.extend(path("ETHUSDT", "2024-06-01T12:00:00Z", &["1", "2", "0.5"]));

        // WHEN the path loads as one file
        let key = alerts.put_klines("2024-06-01T12:15:00Z", &klines).await;
        let fired = alerts.load(&key).await;

        // THEN each rule fired where its condition became true while armed. Below 90: at
        // minute 6 (89.9); 90.5 and 90.8 stay inside the band (re-arm above 90.9), so 89
        // at minute 9 does not fire. +5 % (against the close 3 minutes before): +5.0 % at
        // minute 3; −0.99 % at minute 4 re-arms; +5.08 % at minute 10 fires again. −5 %:
        // −8.17 % at minute 5; −9.5 % and −4.92 % stay inside the band (re-arm above −4),
        // −1.0 % at minute 9 re-arms, and nothing falls 5 % after it.
        assert_eq!(
            alerts.fired_at(below).await,
            [closed("2024-06-01T12:06:00Z")],
            "data_api={data_api}"
        );
        assert_eq!(
            alerts.fired_at(rise).await,
            [
                closed("2024-06-01T12:03:00Z"),
                closed("2024-06-01T12:10:00Z")
            ],
            "data_api={data_api}"
        );
        assert_eq!(
            alerts.fired_at(fall).await,
            [closed("2024-06-01T12:05:00Z")],
            "data_api={data_api}"
        );
        assert_eq!(fired, 4);
        let messages = alerts.events().await;
        assert!(
            messages
                .iter()
                .any(|m| m.ends_with("|BTCUSDT 89.9 fell below 90 (rule 'below 90')")),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.ends_with(
                "|5.000000|BTCUSDT rose 5 % in 3 minutes, from 100 to 105 (rule 'up 5')"
            )),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.ends_with(
                "|-8.173077|BTCUSDT fell 8.17 % in 3 minutes, from 104 to 95.5 (rule 'down 5')"
            )),
            "{messages:?}"
        );
    }
}

#[tokio::test]
async fn a_cooldown_holds_alerts_back_and_a_condition_still_true_after_it_fires() {
    // GIVEN a rule with a 30-minute cooldown and no hysteresis
    let alerts = Alerts::new(false).await;
    let rule = alerts
        .rule(
            &format!("{RULE_COLUMNS}, cooldown_minutes"),
            &format!("{BTC_ABOVE}, 30"),
        )
        .await;

    // WHEN BTC crosses at 12:04 (fires), falls back, crosses again at 12:14 within the
    // cooldown and stays above until 12:34, when the cooldown has passed; then falls back
    // and crosses once more at 12:44, within the cooldown of the 12:34 alert, and falls
    let mut fired = Vec::new();
    for (slot, price) in [
        ("12:00", "99000"),
        ("12:05", "101000"),
        ("12:10", "99000"),
        ("12:15", "101000"),
        ("12:20", "101500"),
        ("12:35", "101200"),
        ("12:40", "99000"),
        ("12:45", "101000"),
        ("12:50", "99000"),
    ] {
        let key = alerts
            .world
            .put_btc(&format!("2024-06-01T{slot}:00Z"), price)
            .await;
        fired.push(alerts.load(&key).await);
    }

    // THEN the crossings within a cooldown sent nothing and left the rule armed: the
    // condition still true once the first cooldown ended fired at 12:34; the last crossing
    // never fired, the price fell before its cooldown ended
    assert_eq!(fired, [0, 1, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(
        alerts.fired_at(rule).await,
        ["2024-06-01 12:04:00.000", "2024-06-01 12:34:00.000"]
    );
    assert_eq!(
        alerts.state(rule).await,
        "armed|2024-06-01 12:49:00.000|2024-06-01 12:34:00.000"
    );
}

#[tokio::test]
async fn a_change_over_a_gap_in_the_data_is_not_a_change_in_the_window() {
    // GIVEN a rule on a rise of 5 % in 60 minutes, and BTC at 100 on June 1
    let alerts = Alerts::new(false).await;
    let rule = alerts
        .rule(
            &format!("{RULE_COLUMNS}, window_minutes, cooldown_minutes"),
            "'up 5 in 1h', 'cmc', 1, 'USD', 'change_pct', 5, 60, 0",
        )
        .await;
    let mut fired = Vec::new();
    // WHEN nothing is stored for three days, then BTC is at 106 and 107, and an hour
    // after the first of those at 113
    for (slot, price) in [
        ("2024-06-01T00:05:00Z", "100"),
        ("2024-06-04T00:05:00Z", "106"),
        ("2024-06-04T00:10:00Z", "107"),
        ("2024-06-04T01:05:00Z", "113"),
    ] {
        let key = alerts.world.put_btc(slot, price).await;
        fired.push(alerts.load(&key).await);
    }

    // THEN the rise over the gap fired nothing: the price an hour before was not stored
    // (the one before it is days older); the rise within the hour after it did
    assert_eq!(fired, [0, 0, 0, 1]);
    assert_eq!(alerts.fired_at(rule).await, ["2024-06-04 01:04:00.000"]);
}

#[tokio::test]
async fn an_archive_day_a_backfill_wrote_loads_quietly() {
    // GIVEN a rule on BTCUSDT above 100, and an archive day of its minutes crossing it,
    // as a backfill writes it
    let alerts = Alerts::new(false).await;
    let rule = alerts
        .rule(
            "label, source, pair, kind, threshold, cooldown_minutes",
            "'above 100', 'binance', 'BTCUSDT', 'price_above', 100, 0",
        )
        .await;
    let key = coinlake::layout::archive_day_key(
        chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(),
        "BTCUSDT",
    );
    let klines = path("BTCUSDT", "2024-06-01T12:00:00Z", &["99", "101", "99"]);
    let text = String::from_utf8(encode_klines(&klines).expect("encode")).expect("UTF-8");
    alerts.world.bucket.put_object(&key, &text).await;

    // WHEN its S3 notification is handled
    let fired = alerts.load(&key).await;

    // THEN the day is stored and evaluated quietly: the state moved over it, no alert
    assert_eq!(fired, 0);
    assert_eq!(alerts.events().await, Vec::<String>::new());
    assert_eq!(
        alerts.state(rule).await,
        format!("armed|{}|-", closed("2024-06-01T12:02:00Z"))
    );
}

#[tokio::test]
async fn late_observations_never_fire() {
    // GIVEN a rule evaluated through 12:19 with BTC below the threshold
    let alerts = Alerts::new(false).await;
    let rule = alerts
        .rule(
            &format!("{RULE_COLUMNS}, cooldown_minutes"),
            &format!("{BTC_ABOVE}, 0"),
        )
        .await;
    for slot in ["2024-06-01T12:10:00Z", "2024-06-01T12:20:00Z"] {
        let key = alerts.world.put_btc(slot, "99000").await;
        assert_eq!(alerts.load(&key).await, 0);
    }
    assert_eq!(alerts.state(rule).await, "armed|2024-06-01 12:19:00.000|-");

    // WHEN an earlier slot with a crossing price arrives late
    let late = alerts.world.put_btc("2024-06-01T12:15:00Z", "101000").await;
    let fired_late = alerts.load(&late).await;

    // THEN its rows are stored but it fires nothing and the state stands
    assert_eq!(fired_late, 0);
    assert_eq!(
        alerts
            .world
            .scalar("SELECT count(*) FROM quotes WHERE price = 101000")
            .await,
        1
    );
    assert_eq!(alerts.events().await, Vec::<String>::new());
    assert_eq!(alerts.state(rule).await, "armed|2024-06-01 12:19:00.000|-");
    // A crossing after the watermark still fires.
    let next = alerts.world.put_btc("2024-06-01T12:25:00Z", "101000").await;
    assert_eq!(alerts.load(&next).await, 1);
    assert_eq!(alerts.fired_at(rule).await, ["2024-06-01 12:24:00.000"]);
}

#[tokio::test]
async fn disabled_rules_and_observations_before_evaluate_from_never_fire() {
    // GIVEN a disabled rule, and a rule evaluating from 12:10
    let alerts = Alerts::new(false).await;
    let disabled = alerts
        .rule(
            &format!("{RULE_COLUMNS}, cooldown_minutes, enabled"),
            &format!("{BTC_ABOVE}, 0, false"),
        )
        .await;
    let from_ten = alerts
        .rule(
            &format!("{RULE_COLUMNS}, cooldown_minutes, evaluate_from"),
            &format!("{BTC_ABOVE}, 0, '2024-06-01T12:10:00Z'"),
        )
        .await;

    // WHEN BTC is above the threshold at 12:04 and 12:14, below at 12:09
    let mut fired = Vec::new();
    for (slot, price) in [("12:05", "101000"), ("12:10", "99000"), ("12:15", "101000")] {
        let key = alerts
            .world
            .put_btc(&format!("2024-06-01T{slot}:00Z"), price)
            .await;
        fired.push(alerts.load(&key).await);
    }

    // THEN only the observation at or after evaluate_from fired, and only for the
    // enabled rule, whose state is untouched
    assert_eq!(fired, [0, 0, 1]);
    assert_eq!(alerts.fired_at(from_ten).await, ["2024-06-01 12:14:00.000"]);
    assert_eq!(alerts.fired_at(disabled).await, Vec::<String>::new());
    assert_eq!(alerts.state(disabled).await, "armed|-|-");
}

#[tokio::test]
async fn overlapping_loads_at_once_fire_each_crossing_once() {
    for data_api in [false, true] {
        let alerts = Alerts::new(data_api).await;
        let apps = [
            alerts.another_app().await,
            alerts.another_app().await,
            alerts.another_app().await,
            alerts.another_app().await,
        ];
        for round in 0..3 {
            // GIVEN a pair crossing 100 five times, in two objects holding the same minutes
            let pair = format!("ROUND{round}USDT");
            let rule = alerts
                .rule(
                    "label, source, pair, kind, threshold, cooldown_minutes",
                    &format!("'round {round}', 'binance', '{pair}', 'price_above', 100, 0"),
                )
                .await;
            let first = format!("2024-06-0{}T12:00:00Z", round + 1);
            let closes = [
                "99", "101", "99", "101", "99", "101", "99", "101", "99", "101",
            ];
            let klines = path(&pair, &first, &closes);
            let a = alerts
                .put_klines(&format!("2024-06-0{}T12:15:00Z", round + 1), &klines)
                .await;
            let b = alerts
                .put_klines(&format!("2024-06-0{}T12:20:00Z", round + 1), &klines)
                .await;

            // WHEN four functions load them at once, two each
            let bucket = &alerts.world.bucket.name;
            let loads = apps.iter().enumerate().map(|(i, app)| {
                let key = if i % 2 == 0 { a.clone() } else { b.clone() };
                async move { load_with(app, bucket, &key).await }
            });
            let fired: u64 = futures::future::join_all(loads).await.into_iter().sum();

            // THEN each crossing fired once, whichever load evaluated it
            let crossings: Vec<String> = (0..5)
                .map(|i| {
                    closed(
                        &(utc(&first) + TimeDelta::minutes(2 * i + 1))
                            .format("%Y-%m-%dT%H:%M:%SZ")
                            .to_string(),
                    )
                })
                .collect();
            assert_eq!(
                alerts.fired_at(rule).await,
                crossings,
                "data_api={data_api} round {round}"
            );
            assert_eq!(fired, 5, "data_api={data_api} round {round}");
        }
    }
}

#[tokio::test]
async fn concurrent_loads_of_different_slots_fire_only_crossings_of_the_series_once() {
    // GIVEN twelve slot objects of one pair, alternating between 90 and 110 each slot, and
    // a rule above 100 with a 5 % hysteresis: the series crosses at the first minute of
    // every 110 slot
    let alerts = Alerts::new(false).await;
    let rule = alerts
        .rule(
            "label, source, pair, kind, threshold, hysteresis, cooldown_minutes",
            "'swing', 'binance', 'SWINGUSDT', 'price_above', 100, 5, 0",
        )
        .await;
    let start = utc("2024-06-01T12:00:00Z");
    let mut keys = Vec::new();
    let mut crossings = BTreeSet::new();
    let mut last_minute = start;
    for slot in 0..12i64 {
        let first = start + TimeDelta::minutes(5 * slot);
        let level = if slot % 2 == 0 { "90" } else { "110" };
        if slot % 2 == 1 {
            crossings.insert(
                (first + TimeDelta::milliseconds(59_999))
                    .format("%Y-%m-%d %H:%M:%S%.3f")
                    .to_string(),
            );
        }
        let klines: Vec<Kline> = (0..5)
            .map(|m| minute("SWINGUSDT", first + TimeDelta::minutes(m), level))
            .collect();
        last_minute = first + TimeDelta::minutes(4);
        let at = (first + TimeDelta::minutes(5))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        keys.push(alerts.put_klines(&at, &klines).await);
    }
    let mut apps = Vec::new();
    for _ in 0..6 {
        apps.push(alerts.another_app().await);
    }

    // WHEN six functions load them at once, two slots each
    let bucket = &alerts.world.bucket.name;
    let loads = apps.iter().enumerate().map(|(i, app)| {
        let mine = [keys[i].clone(), keys[i + 6].clone()];
        async move {
            let mut fired = 0;
            for key in &mine {
                fired += load_with(app, bucket, key).await;
            }
            fired
        }
    });
    let fired: u64 = futures::future::join_all(loads).await.into_iter().sum();

    // THEN every alert is a crossing of the series, none twice; a slot that committed
    // after a later one is late and skipped (never a false alert), and the rule is
    // evaluated through the series' last minute
    let events = alerts.fired_at(rule).await;
    let distinct: BTreeSet<String> = events.iter().cloned().collect();
    assert_eq!(distinct.len(), events.len(), "{events:?}");
    assert!(
        distinct.is_subset(&crossings),
        "{events:?} not in {crossings:?}"
    );
    assert!(!events.is_empty());
    assert_eq!(fired, events.len() as u64);
    let through = (last_minute + TimeDelta::milliseconds(59_999))
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string();
    assert!(
        alerts.state(rule).await.contains(&format!("|{through}|")),
        "{}",
        alerts.state(rule).await
    );
    // Loaded one after another, the same slots fire every crossing.
    let sequential = Alerts::new(false).await;
    let again = sequential
        .rule(
            "label, source, pair, kind, threshold, hysteresis, cooldown_minutes",
            "'swing', 'binance', 'SWINGUSDT', 'price_above', 100, 5, 0",
        )
        .await;
    for slot in 0..12i64 {
        let first = start + TimeDelta::minutes(5 * slot);
        let level = if slot % 2 == 0 { "90" } else { "110" };
        let klines: Vec<Kline> = (0..5)
            .map(|m| minute("SWINGUSDT", first + TimeDelta::minutes(m), level))
            .collect();
        let at = (first + TimeDelta::minutes(5))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let key = sequential.put_klines(&at, &klines).await;
        sequential.load(&key).await;
    }
    let all: BTreeSet<String> = sequential.fired_at(again).await.into_iter().collect();
    assert_eq!(all, crossings);
}

#[tokio::test]
async fn a_replay_is_quiet_and_moves_the_state_unless_it_asks_for_alerts() {
    for data_api in [false, true] {
        // GIVEN two days in which BTC crosses 100,000, and a rule watching it
        let alerts = Alerts::new(data_api).await;
        let rule = alerts
            .rule(
                &format!("{RULE_COLUMNS}, cooldown_minutes"),
                &format!("{BTC_ABOVE}, 0"),
            )
            .await;
        // The second day swings across the threshold three times in half an hour.
        for day in ["2024-06-01", "2024-06-02"] {
            for (minute, price) in [
                ("00", "99000"),
                ("05", "101000"),
                ("10", "99000"),
                ("15", "101000"),
                ("20", "99000"),
                ("25", "101000"),
            ] {
                if day == "2024-06-01" && minute > "05" {
                    break;
                }
                alerts
                    .world
                    .put_btc(&format!("{day}T12:{minute}:00Z"), price)
                    .await;
            }
        }

        // WHEN the first day is replayed as a replay is by default
        let quiet = load::handle(
            &alerts.app,
            dataset_replay_event("quotes", "2024-06-01", "2024-06-01"),
        )
        .await
        .expect("replay");
        let quiet = serde_json::to_value(quiet).unwrap();

        // THEN nothing fired, but the rule moved past the crossing (disarmed)
        assert_eq!(quiet["total"]["loaded"], 2, "{quiet}");
        assert!(quiet["total"].get("alerts_fired").is_none(), "{quiet}");
        assert_eq!(alerts.events().await, Vec::<String>::new());
        assert_eq!(
            alerts.state(rule).await,
            "disarmed|2024-06-01 12:04:00.000|-"
        );

        // WHEN the second day is replayed with "alerts": true
        let loud = load::handle(
            &alerts.app,
            invocation(json!({ "replay": { "dataset": "quotes", "from": "2024-06-02", "to": "2024-06-02", "alerts": true } })),
        )
        .await
        .expect("replay");
        let loud = serde_json::to_value(loud).unwrap();

        // THEN each of its crossings fired, in time order as a live load would (the files
        // load one at a time, oldest first: one evaluated after a later one would be late)
        assert_eq!(loud["total"]["alerts_fired"], 3, "{loud}");
        assert_eq!(
            alerts.fired_at(rule).await,
            [
                "2024-06-02 12:04:00.000",
                "2024-06-02 12:14:00.000",
                "2024-06-02 12:24:00.000"
            ]
        );
    }
}

#[tokio::test]
async fn a_rejected_file_fires_nothing_and_leaves_the_rules_as_they_were() {
    // GIVEN a rule, and a snapshot whose first row crosses but whose second is invalid
    let alerts = Alerts::new(false).await;
    let rule = alerts
        .rule(
            &format!("{RULE_COLUMNS}, cooldown_minutes"),
            &format!("{BTC_ABOVE}, 0"),
        )
        .await;
    let rows = [
        quote(
            1,
            "BTC",
            "101000",
            "2024-06-01T12:39:00Z",
            "2024-06-01T12:40:00Z",
        ),
        quote(
            2,
            "XRP",
            "0.5",
            "2024-06-01T12:39:00Z",
            "2024-06-01T12:40:00Z",
        ),
    ];
    let text = String::from_utf8(coinlake::csv_codec::encode_quotes(&rows).unwrap()).unwrap();
    let text = text.replacen(",0.5,", ",N/A,", 1);
    let key = object_key(
        Dataset::Quotes,
        Slot::containing(utc("2024-06-01T12:40:00Z")),
    );
    alerts.world.bucket.put_object(&key, &text).await;

    // WHEN it is loaded
    let error = load::handle(&alerts.app, s3_event(&alerts.world.bucket.name, &[&key]))
        .await
        .expect_err("rejected");

    // THEN it was rejected whole: no quote, no alert, the rule untouched
    assert!(
        error.to_string().contains("is not a decimal number"),
        "{error}"
    );
    assert_eq!(alerts.world.scalar("SELECT count(*) FROM quotes").await, 0);
    assert_eq!(alerts.events().await, Vec::<String>::new());
    assert_eq!(alerts.state(rule).await, "armed|-|-");
}

/// Writes a one-row snapshot of `slot` whose metadata carries CMC's `notice`.
async fn put_with_notice(world: &World, slot: &str, notice: &str) -> String {
    let updated = (utc(slot) - TimeDelta::minutes(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let body = coinlake::csv_codec::encode_quotes(&[quote(1, "BTC", "1", &updated, slot)]).unwrap();
    let key = object_key(Dataset::Quotes, Slot::containing(utc(slot)));
    world
        .bucket
        .client
        .put_object()
        .bucket(&world.bucket.name)
        .key(&key)
        .metadata("credits", "1")
        .metadata("cmc-notice", notice)
        .body(body.into())
        .send()
        .await
        .expect("put snapshot");
    key
}

const DAILY: &str = "You have used 95% of your plan's daily credit limit.";
const MONTHLY: &str = "You have used 95% of your plan's monthly credit limit.";

#[tokio::test]
async fn a_credit_notice_raises_one_operator_alert_per_period() {
    for data_api in [false, true] {
        // GIVEN snapshots that carry CMC's notice: three the same day, two the next, then
        // monthly ones across a month's end
        let alerts = Alerts::new(data_api).await;
        let world = &alerts.world;
        let mut keys = Vec::new();
        for (slot, notice) in [
            ("2024-06-01T12:00:00Z", DAILY),
            ("2024-06-01T12:05:00Z", DAILY),
            ("2024-06-01T23:55:00Z", DAILY),
            ("2024-06-02T00:00:00Z", DAILY),
            ("2024-06-02T00:05:00Z", DAILY),
            ("2024-06-02T00:10:00Z", MONTHLY),
            ("2024-06-30T23:55:00Z", MONTHLY),
            ("2024-07-01T00:00:00Z", MONTHLY),
        ] {
            keys.push(put_with_notice(world, slot, notice).await);
        }

        // WHEN each is loaded, one of them twice
        for key in &keys {
            alerts.load(key).await;
        }
        alerts.load(&keys[0]).await;

        // THEN one operator alert per day or month named, with CMC's text
        let notices = world
            .texts(
                "SELECT format('%s|%s|%s|%s|%s|%s', audience, kind, rule_id IS NULL, dedupe_key, \
                 to_char(observed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), message) \
                 FROM alert_events ORDER BY id",
            )
            .await;
        assert_eq!(
            notices,
            [
                format!("operator|cmc_credit_notice|t|cmc_credit_notice:daily:2024-06-01|2024-06-01 12:00|CoinMarketCap credit notice (daily credits, 2024-06-01): {DAILY}"),
                format!("operator|cmc_credit_notice|t|cmc_credit_notice:daily:2024-06-02|2024-06-02 00:00|CoinMarketCap credit notice (daily credits, 2024-06-02): {DAILY}"),
                format!("operator|cmc_credit_notice|t|cmc_credit_notice:monthly:2024-06|2024-06-02 00:10|CoinMarketCap credit notice (monthly credits, 2024-06): {MONTHLY}"),
                format!("operator|cmc_credit_notice|t|cmc_credit_notice:monthly:2024-07|2024-07-01 00:00|CoinMarketCap credit notice (monthly credits, 2024-07): {MONTHLY}"),
            ],
            "data_api={data_api}"
        );

        // AND a quiet replay of a day whose snapshots carry a notice raises none
        put_with_notice(world, "2024-06-03T12:00:00Z", DAILY).await;
        load::handle(
            &alerts.app,
            dataset_replay_event("quotes", "2024-06-03", "2024-06-03"),
        )
        .await
        .expect("replay");
        assert_eq!(
            world
                .scalar("SELECT count(*) FROM alert_events WHERE dedupe_key LIKE '%2024-06-03'")
                .await,
            0
        );
    }
}

#[tokio::test]
async fn concurrent_quotes_loads_across_a_month_end_with_rules_neither_deadlock_nor_fire_twice() {
    // GIVEN four snapshots of 40 coins across a month's end (a partition to create),
    // each coin at 90 then 110 then 90 then 110, and a rule above 100 on eight of them
    let alerts = Alerts::new(false).await;
    let mut rules = Vec::new();
    for coin in 1..=8 {
        rules.push(
            alerts
                .rule(
                    &format!("{RULE_COLUMNS}, cooldown_minutes"),
                    &format!("'coin {coin}', 'cmc', {coin}, 'USD', 'price_above', 100, 0"),
                )
                .await,
        );
    }
    let slots = [
        "2024-06-30T23:50:00Z",
        "2024-06-30T23:55:00Z",
        "2024-07-01T00:00:00Z",
        "2024-07-01T00:05:00Z",
    ];
    let mut keys = Vec::new();
    let mut crossings = BTreeSet::new();
    for (i, slot) in slots.iter().enumerate() {
        let updated = utc(slot) - TimeDelta::minutes(1);
        let price = if i % 2 == 0 { "90" } else { "110" };
        if i % 2 == 1 {
            crossings.insert(updated.format("%Y-%m-%d %H:%M:%S%.3f").to_string());
        }
        let rows: Vec<_> = (1..=40)
            .map(|id| {
                let updated = updated.format("%Y-%m-%dT%H:%M:%SZ").to_string();
                quote(id, &format!("C{id}"), price, &updated, slot)
            })
            .collect();
        keys.push(alerts.world.put_snapshot(slot, &rows).await);
    }
    let mut apps = Vec::new();
    for _ in 0..8 {
        apps.push(alerts.another_app().await);
    }

    // WHEN eight functions each load every snapshot, in different orders, at once
    let bucket = &alerts.world.bucket.name;
    let loads = apps.iter().enumerate().map(|(i, app)| {
        let mut order: Vec<&str> = keys.iter().map(String::as_str).collect();
        let files = order.len();
        order.rotate_left(i % files);
        if i % 2 == 1 {
            order.reverse();
        }
        async move {
            let answer = load::handle(app, s3_event(bucket, &order)).await;
            let answer = answer.unwrap_or_else(|e| panic!("function {i}: {e}"));
            let results = serde_json::to_value(answer).expect("serialises")["results"].clone();
            results
                .as_array()
                .expect("results")
                .iter()
                .map(|r| r["alerts_fired"].as_u64().unwrap_or(0))
                .sum::<u64>()
        }
    });
    let fired: u64 = futures::future::join_all(loads).await.into_iter().sum();

    // THEN every invocation succeeded, and each rule fired only crossings, none twice
    let mut events = 0;
    for rule in rules {
        let at = alerts.fired_at(rule).await;
        let distinct: BTreeSet<String> = at.iter().cloned().collect();
        assert_eq!(distinct.len(), at.len(), "rule {rule}: {at:?}");
        assert!(distinct.is_subset(&crossings), "rule {rule}: {at:?}");
        events += at.len() as u64;
    }
    assert_eq!(fired, events);
    assert_eq!(
        alerts.world.scalar("SELECT count(*) FROM quotes").await,
        160
    );
}

#[tokio::test]
async fn only_the_loading_owner_may_evaluate() {
    // GIVEN the migrated database
    let alerts = Alerts::new(false).await;

    // WHEN the reader's and the rule editor's rights are asked
    let rights = alerts
        .world
        .texts(
            "SELECT format('%s:%s:%s', r.role, f.name, has_function_privilege(r.role, f.signature, 'EXECUTE')) \
             FROM (VALUES ('coinlake_reader'), ('coinlake_alert_editor')) AS r (role), \
                  (VALUES ('quote', 'evaluate_quote_alerts(text, boolean)'), \
                          ('kline', 'evaluate_kline_alerts(text, boolean)'), \
                          ('rule', 'evaluate_alert_rule(alert_rules, text, boolean)')) AS f (name, signature) \
             ORDER BY 1",
        )
        .await;

    // THEN neither may run an evaluation (which moves rule state and fires alerts)
    assert_eq!(
        rights,
        [
            "coinlake_alert_editor:kline:f",
            "coinlake_alert_editor:quote:f",
            "coinlake_alert_editor:rule:f",
            "coinlake_reader:kline:f",
            "coinlake_reader:quote:f",
            "coinlake_reader:rule:f",
        ]
    );
}
