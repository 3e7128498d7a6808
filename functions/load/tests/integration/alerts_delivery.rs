//! Alert delivery from the `alert_events` outbox to SNS (moto's server over HTTP), and the
//! scheduled stale check, through the load function's handler and its `Alerting`. Events
//! are inserted directly: how price rules fire is another module's concern.

use crate::common::{self, data_api_vars, invocation, quote, s3_event, World};
use coinlake::alerts::publish::{Publisher, SnsPublisher};
use coinlake::alerts::runner::Delivery;
use coinlake::retry::RetryPolicy;
use lambda_runtime::Diagnostic;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use testkit::data_api::DataApiEmulator;
use testkit::proxy::FlakyProxy;
use testkit::sns::TestTopic;

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

async fn app_with_topic(world: &World, topic: &TestTopic, sns: &str) -> load::App {
    world
        .app(&[
            ("ALERT_TOPIC_ARN", topic.arn.as_str()),
            ("AWS_ENDPOINT_URL_SNS", sns),
        ])
        .await
}

/// A `price_above` rule on BTC (cmc 1, USD); returns its id.
async fn btc_rule(world: &World) -> i64 {
    world
        .scalar(
            "INSERT INTO alert_rules (label, source, cmc_id, quote_currency, kind, threshold) \
             VALUES ('BTC above 70k', 'cmc', 1, 'USD', 'price_above', 70000) RETURNING id",
        )
        .await
}

/// A market event of `rule` and an operator credit notice, as the load transaction inserts
/// them; returns their ids.
async fn two_events(world: &World, rule: i64) -> (i64, i64) {
    let market = world
        .scalar(&format!(
            "INSERT INTO alert_events (rule_id, audience, kind, label, source, cmc_id, \
             quote_currency, observed_at, value, threshold, message, dedupe_key) \
             VALUES ({rule}, 'market', 'price_above', 'BTC above 70k', 'cmc', 1, 'USD', \
             '2024-06-01T12:34:00Z', 70100.5, 70000, \
             'BTC above 70k: 70100.5 USD crossed above 70000', 'rule:{rule}:1717245240000') \
             RETURNING id"
        ))
        .await;
    let operator = world
        .scalar(
            "INSERT INTO alert_events (audience, kind, label, source, observed_at, message, \
             dedupe_key) VALUES ('operator', 'cmc_credit_notice', 'CMC credits', 'cmc', \
             '2024-06-01T12:35:00Z', 'CoinMarketCap: 95% of the daily credits used', \
             'cmc_credit_notice:daily:2024-06-01') RETURNING id",
        )
        .await;
    (market, operator)
}

async fn many_events(world: &World, count: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for n in 0..count {
        ids.push(
            world
                .scalar(&format!(
                    "INSERT INTO alert_events (audience, kind, label, observed_at, message, \
                     dedupe_key) VALUES ('operator', 'cmc_credit_notice', 'n{n}', now(), \
                     'notice {n}', 'test:{n}') RETURNING id"
                ))
                .await,
        );
    }
    ids
}

/// `id|sent|attempts|last_error|message_id|claimed` per event, in id order.
async fn outbox(world: &World) -> Vec<String> {
    world
        .texts(
            "SELECT format('%s|%s|%s|%s|%s|%s', id, sent_at IS NOT NULL, delivery_attempts, \
             coalesce(last_error, '-'), coalesce(message_id, '-'), claimed_until IS NOT NULL) \
             FROM alert_events ORDER BY id",
        )
        .await
}

fn published(delivery: &Delivery) -> (Vec<i64>, Vec<i64>, u64) {
    match delivery {
        Delivery::Published(summary) => (
            summary.delivered.clone(),
            summary.failed.iter().map(|f| f.event_id).collect(),
            summary.left_for_later,
        ),
        other => panic!("expected a delivery, got {other:?}"),
    }
}

#[tokio::test]
async fn unsent_events_are_published_once_with_their_subject_and_attributes() {
    // GIVEN a market event and an operator event in the outbox, and a topic
    let world = World::new().await;
    world.migrate().await;
    let topic = TestTopic::new().await;
    let rule = btc_rule(&world).await;
    let (market, operator) = two_events(&world, rule).await;
    let app = app_with_topic(&world, &topic, &topic.endpoint).await;

    // WHEN delivery runs twice
    let first = app.alerting.deliver(soon()).await.expect("delivery");
    let second = app.alerting.deliver(soon()).await.expect("delivery");

    // THEN each event was published once, in id order, and marked sent with SNS's id
    assert_eq!(published(&first), (vec![market, operator], vec![], 0));
    assert_eq!(published(&second), (vec![], vec![], 0));
    let messages = topic.published().await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    let btc = &messages[0];
    assert_eq!(
        btc.subject.as_deref(),
        Some("coinlake price_above: BTC above 70k")
    );
    assert!(
        btc.body
            .starts_with("BTC above 70k: 70100.5 USD crossed above 70000\n\n"),
        "{}",
        btc.body
    );
    assert!(
        btc.body
            .contains("\nobserved_at: 2024-06-01T12:34:00.000Z\n"),
        "{}",
        btc.body
    );
    let attributes: Vec<(&str, &str)> = btc
        .attributes
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let (rule_text, market_text) = (rule.to_string(), market.to_string());
    assert_eq!(
        attributes,
        [
            ("asset", "1"),
            ("audience", "market"),
            ("event_id", market_text.as_str()),
            ("kind", "price_above"),
            ("quote_currency", "USD"),
            ("rule_id", rule_text.as_str()),
            ("source", "cmc"),
        ]
    );
    let notice = &messages[1];
    assert_eq!(notice.attributes["audience"], "operator");
    assert_eq!(notice.attributes["event_id"], operator.to_string());
    assert!(!notice.attributes.contains_key("rule_id"));
    assert_eq!(
        outbox(&world).await,
        [
            format!("{market}|t|1|-|{}|f", btc.message_id),
            format!("{operator}|t|1|-|{}|f", notice.message_id),
        ]
    );
}

#[tokio::test]
async fn a_failed_publish_leaves_the_event_unsent_with_its_error_and_the_next_delivery_sends_it_once(
) {
    // GIVEN an event, and SNS behind a proxy that is down
    let world = World::new().await;
    world.migrate().await;
    let topic = TestTopic::new().await;
    let rule = btc_rule(&world).await;
    let (market, operator) = two_events(&world, rule).await;
    let proxy = FlakyProxy::start(topic.endpoint.trim_start_matches("http://")).await;
    proxy.go_down();
    let app = app_with_topic(&world, &topic, &proxy.url()).await;

    // WHEN delivery runs while SNS is unreachable
    let failed = app.alerting.deliver(soon()).await.expect("delivery runs");

    // THEN both events stay unsent, unclaimed, with the error, and nothing was published
    assert_eq!(published(&failed), (vec![], vec![market, operator], 0));
    let rows = outbox(&world).await;
    for row in &rows {
        assert!(
            row.contains("|f|1|SNS Publish failed after 3 attempts"),
            "{row}"
        );
        assert!(row.ends_with("|-|f"), "{row}");
        assert!(!row.contains("testing"), "credentials in {row}");
    }
    assert_eq!(topic.published().await.len(), 0);

    // WHEN SNS is back and delivery runs again, twice
    proxy.come_back();
    let retried = app.alerting.deliver(soon()).await.expect("delivery");
    let again = app.alerting.deliver(soon()).await.expect("delivery");

    // THEN each event was published exactly once, on its second attempt
    assert_eq!(published(&retried), (vec![market, operator], vec![], 0));
    assert_eq!(published(&again), (vec![], vec![], 0));
    let messages = topic.published().await;
    assert_eq!(messages.len(), 2);
    for row in outbox(&world).await {
        assert!(row.contains("|t|2|SNS Publish failed"), "{row}");
    }
}

#[tokio::test]
async fn a_5xx_from_sns_is_retried_within_the_deadline_and_then_reported() {
    // GIVEN an SNS that answers every request with a 500
    let sns = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(500).set_body_string(
            "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalError</Code>\
             <Message>try again</Message></Error></ErrorResponse>",
        ))
        .mount(&sns)
        .await;
    let sdk = testkit::s3::sdk_config(&sns.uri()).await;
    let publisher = SnsPublisher::new(
        coinlake::aws::sns_client(&sdk, Some(&sns.uri())),
        "arn:aws:sns:us-east-1:123456789012:alerts",
    )
    .with_policy(RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(10),
        request_timeout: Duration::from_secs(5),
    });
    let event = coinlake::alerts::notification::AlertEvent {
        id: 1,
        rule_id: None,
        audience: "operator".into(),
        kind: "cmc_credit_notice".into(),
        label: "CMC credits".into(),
        source: None,
        cmc_id: None,
        quote_currency: None,
        pair: None,
        observed_at: common::utc("2024-06-01T12:35:00Z"),
        value: None,
        threshold: None,
        message: "notice".into(),
        fired_at: common::utc("2024-06-01T12:35:00Z"),
        delivery_attempts: 1,
    };

    // WHEN one event is published
    let error = publisher
        .publish(&event.notification(), soon())
        .await
        .expect_err("SNS fails");

    // THEN it was sent three times and the error says why it gave up
    assert!(error.transient, "{error}");
    assert_eq!(error.attempts, 3, "{error}");
    assert_eq!(sns.received_requests().await.unwrap_or_default().len(), 3);
    let text = error.to_string();
    assert!(
        text.contains("InternalError") && text.contains("try again"),
        "{text}"
    );
}

#[tokio::test]
async fn a_topic_that_does_not_exist_is_reported_at_once_and_the_event_kept() {
    // GIVEN an event, and ALERT_TOPIC_ARN naming a topic SNS does not have
    let world = World::new().await;
    world.migrate().await;
    let topic = TestTopic::new().await;
    let ids = many_events(&world, 1).await;
    let missing = format!("{}-gone", topic.arn);
    let app = world
        .app(&[
            ("ALERT_TOPIC_ARN", missing.as_str()),
            ("AWS_ENDPOINT_URL_SNS", topic.endpoint.as_str()),
        ])
        .await;

    // WHEN delivery runs
    let delivery = app.alerting.deliver(soon()).await.expect("delivery runs");

    // THEN the publish was not retried, and the event waits with SNS's reason
    let Delivery::Published(summary) = delivery else {
        panic!("expected a delivery, got {delivery:?}");
    };
    assert_eq!(summary.failed.len(), 1, "{summary:?}");
    let error = &summary.failed[0].error;
    assert!(
        error.starts_with("SNS Publish failed: ") && error.contains("NotFound"),
        "{error}"
    );
    assert_eq!(
        outbox(&world).await,
        [format!("{}|f|1|{error}|-|f", ids[0])]
    );
}

#[tokio::test]
async fn a_live_claim_is_left_alone_and_a_passed_one_is_taken_again() {
    // GIVEN two events claimed by a deliverer that died: one claim still running, one passed
    let world = World::new().await;
    world.migrate().await;
    let topic = TestTopic::new().await;
    let ids = many_events(&world, 2).await;
    world
        .db
        .client()
        .await
        .batch_execute(&format!(
            "UPDATE alert_events SET delivery_attempts = 1, claimed_until = now() + interval '1 hour' \
             WHERE id = {}; \
             UPDATE alert_events SET delivery_attempts = 1, claimed_until = now() - interval '1 second' \
             WHERE id = {};",
            ids[0], ids[1]
        ))
        .await
        .unwrap();
    let app = app_with_topic(&world, &topic, &topic.endpoint).await;

    // WHEN delivery runs
    let delivery = app.alerting.deliver(soon()).await.expect("delivery");

    // THEN only the event whose claim passed was published, on its second attempt
    assert_eq!(published(&delivery), (vec![ids[1]], vec![], 0));
    let rows = outbox(&world).await;
    assert_eq!(rows[0], format!("{}|f|1|-|-|t", ids[0]));
    assert!(
        rows[1].starts_with(&format!("{}|t|2|-|", ids[1])),
        "{}",
        rows[1]
    );
    assert_eq!(topic.published().await.len(), 1);
}

#[tokio::test]
async fn two_deliverers_at_once_send_each_event_once() {
    // GIVEN 30 unsent events and two load functions sharing the database
    let world = World::new().await;
    world.migrate().await;
    let topic = TestTopic::new().await;
    let ids = many_events(&world, 30).await;
    let first = app_with_topic(&world, &topic, &topic.endpoint).await;
    let second = app_with_topic(&world, &topic, &topic.endpoint).await;

    // WHEN both deliver at the same time
    let (a, b) = tokio::join!(
        first.alerting.deliver(soon()),
        second.alerting.deliver(soon())
    );
    let (a, b) = (published(&a.unwrap()), published(&b.unwrap()));

    // THEN between them every event was delivered by exactly one, and published once
    let mut all: Vec<i64> = a.0.iter().chain(b.0.iter()).copied().collect();
    all.sort();
    assert_eq!(all, ids, "a: {a:?}, b: {b:?}");
    let messages = topic.published().await;
    let distinct: BTreeSet<&str> = messages
        .iter()
        .map(|m| m.attributes["event_id"].as_str())
        .collect();
    assert_eq!((messages.len(), distinct.len()), (30, 30));
    assert_eq!(
        world
            .scalar(
                "SELECT count(*) FROM alert_events WHERE sent_at IS NULL OR delivery_attempts <> 1"
            )
            .await,
        0
    );
}

#[tokio::test]
async fn the_stale_check_and_delivery_work_through_the_data_api() {
    // GIVEN two events, a stale rule on a source with no data, and the load function on
    // the Data API path
    let world = World::new().await;
    world.migrate().await;
    let topic = TestTopic::new().await;
    let rule = btc_rule(&world).await;
    let (market, operator) = two_events(&world, rule).await;
    let stale_rule = world
        .scalar(
            "INSERT INTO alert_rules (label, source, kind, window_minutes, evaluate_from) \
             VALUES ('klines', 'binance', 'stale', 30, '2024-06-01T12:00:00Z') RETURNING id",
        )
        .await;
    let emulator = DataApiEmulator::start(&world.db.host, world.db.port).await;
    let mut vars = data_api_vars(&world.db.name, &emulator.endpoint);
    vars.push(("ALERT_TOPIC_ARN", topic.arn.as_str()));
    vars.push(("AWS_ENDPOINT_URL_SNS", topic.endpoint.as_str()));
    let app = world.app(&vars).await;

    // WHEN the schedule's alerts event runs at 12:40
    let event = json!({ "alerts": { "scheduled_time": "2024-06-01T12:40:00Z" } });
    let answer = load::handle(&app, invocation(event))
        .await
        .expect("alerts event");

    // THEN the stale rule fired, and all three events were published once and marked sent
    let answer = serde_json::to_value(answer).unwrap();
    let stale = answer["alerts"]["stale"]["rules"][0].clone();
    assert_eq!(stale["rule_id"], stale_rule, "{answer}");
    assert_eq!(stale["outcome"], "fired", "{answer}");
    assert_eq!(stale["age_minutes"], "40.0", "{answer}");
    let fired = stale["event_id"].as_i64().expect("an event");
    assert_eq!(
        answer["alerts"]["delivery"]["delivered"],
        json!([market, operator, fired]),
        "{answer}"
    );
    assert_eq!(topic.published().await.len(), 3);
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM alert_events WHERE sent_at IS NULL")
            .await,
        0
    );
}

#[tokio::test]
async fn without_a_topic_events_are_recorded_and_nothing_is_sent_or_lost() {
    // GIVEN an event, and the load function without ALERT_TOPIC_ARN
    let world = World::new().await;
    world.migrate().await;
    let topic = TestTopic::new().await;
    let rule = btc_rule(&world).await;
    let (market, operator) = two_events(&world, rule).await;
    let (logs, guard) = testkit::logs::capture();
    let quiet = world.app(&[]).await;

    // WHEN the alerts event runs twice and a file is loaded
    let answer = load::handle(&quiet, invocation(json!({ "alerts": {} })))
        .await
        .expect("alerts event");
    load::handle(&quiet, invocation(json!({ "alerts": {} })))
        .await
        .expect("alerts event");
    let key = world.put_btc("2024-06-01T12:35:00Z", "67000").await;
    let loaded = load::handle(&quiet, s3_event(&world.bucket.name, &[&key]))
        .await
        .expect("load");
    drop(guard);

    // THEN the cold start said once that alerts are not delivered
    assert_eq!(
        logs.text().matches("ALERT_TOPIC_ARN is not set").count(),
        1,
        "{}",
        logs.text()
    );

    // THEN the answer says the events wait, the load says nothing of alerts, and the
    // outbox is untouched
    let answer = serde_json::to_value(answer).unwrap();
    assert_eq!(answer["alerts"]["delivery"]["unsent"], 2, "{answer}");
    assert!(answer["alerts"]["delivery"]["topic"]
        .as_str()
        .unwrap()
        .contains("ALERT_TOPIC_ARN is not set"));
    assert!(serde_json::to_value(loaded)
        .unwrap()
        .get("alerts")
        .is_none());
    assert_eq!(
        outbox(&world).await,
        [
            format!("{market}|f|0|-|-|f"),
            format!("{operator}|f|0|-|-|f")
        ]
    );

    // WHEN a topic is configured later
    let app = app_with_topic(&world, &topic, &topic.endpoint).await;
    let delivered = app.alerting.deliver(soon()).await.expect("delivery");

    // THEN the recorded events are delivered
    assert_eq!(published(&delivered).0, [market, operator]);
}

#[tokio::test]
async fn a_load_delivers_unsent_alerts_and_a_failed_delivery_never_fails_it() {
    // GIVEN an unsent event, and SNS behind a proxy
    let world = World::new().await;
    world.migrate().await;
    let topic = TestTopic::new().await;
    let rule = btc_rule(&world).await;
    let (market, operator) = two_events(&world, rule).await;
    let proxy = FlakyProxy::start(topic.endpoint.trim_start_matches("http://")).await;
    let app = app_with_topic(&world, &topic, &proxy.url()).await;

    // WHEN a file is loaded while SNS is down
    proxy.go_down();
    let key = world.put_btc("2024-06-01T12:35:00Z", "67000").await;
    let answer = load::handle(&app, s3_event(&world.bucket.name, &[&key]))
        .await
        .expect("the load succeeds");

    // THEN the load stands and the answer names the failed deliveries
    let answer = serde_json::to_value(answer).unwrap();
    assert_eq!(answer["results"][0]["status"], "loaded", "{answer}");
    assert_eq!(answer["alerts"]["delivered"], json!([]), "{answer}");
    assert_eq!(
        answer["alerts"]["failed"][0]["event_id"], market,
        "{answer}"
    );
    assert_eq!(world.scalar("SELECT count(*) FROM quotes").await, 1);

    // WHEN the next file is loaded with SNS back
    proxy.come_back();
    let key = world.put_btc("2024-06-01T12:40:00Z", "67100").await;
    let answer = load::handle(&app, s3_event(&world.bucket.name, &[&key]))
        .await
        .expect("the load succeeds");

    // THEN that load delivered both events
    let answer = serde_json::to_value(answer).unwrap();
    assert_eq!(
        answer["alerts"]["delivered"],
        json!([market, operator]),
        "{answer}"
    );
    assert_eq!(topic.published().await.len(), 2);
}

#[tokio::test]
async fn malformed_alerts_events_are_refused_clearly() {
    let world = World::new().await;
    let app = world.app(&[]).await;
    for (event, expected) in [
        (
            json!({ "alerts": { "scheduled_time": "soon" } }),
            "invalid alerts event: scheduled_time \"soon\" is not a time",
        ),
        (
            json!({ "alerts": { "scheduled_time": "2024-06-02T01:05:00Z", "rule": 1 } }),
            "unknown field `rule`",
        ),
        (json!({ "alerts": "now" }), "invalid alerts event"),
        (
            json!({ "alerts": { "scheduled_time": "2099-01-01T00:00:00Z" } }),
            "invalid alerts event: scheduled_time 2099-01-01T00:00:00+00:00 is in the future",
        ),
    ] {
        let error = load::handle(&app, invocation(event.clone()))
            .await
            .expect_err("refused");
        let diagnostic = Diagnostic::from(error);
        assert_eq!(diagnostic.error_type, "InvalidEvent", "{event}");
        assert!(
            diagnostic.error_message.contains(expected),
            "{event}: {}",
            diagnostic.error_message
        );
    }
}

/// The stale rules of the stale test, all watching since 12:00 with a 30-minute window.
async fn stale_rules(world: &World) -> Vec<i64> {
    let mut ids = Vec::new();
    for (label, source, cmc_id, quote_currency, pair) in [
        ("BTC quotes", "cmc", "1", "'USD'", "NULL"),
        ("ETH quotes", "cmc", "1027", "'USD'", "NULL"),
        ("any CMC quote", "cmc", "NULL", "NULL", "NULL"),
        ("never listed", "cmc", "99", "'USD'", "NULL"),
        ("BTCUSDT klines", "binance", "NULL", "NULL", "'BTCUSDT'"),
        ("any kline", "binance", "NULL", "NULL", "NULL"),
    ] {
        ids.push(
            world
                .scalar(&format!(
                    "INSERT INTO alert_rules (label, source, cmc_id, quote_currency, pair, kind, \
                     window_minutes, cooldown_minutes, evaluate_from) VALUES ('{label}', \
                     '{source}', {cmc_id}, {quote_currency}, {pair}, 'stale', 30, 0, \
                     '2024-06-01T12:00:00Z') RETURNING id"
                ))
                .await,
        );
    }
    ids
}

async fn kline(world: &World, pair: &str, open: &str) {
    world
        .db
        .client()
        .await
        .batch_execute(&format!(
            "INSERT INTO klines_1m (symbol, open_time, close_time, open, high, low, close, \
             volume, quote_volume, trades, taker_buy_base_volume, taker_buy_quote_volume, s3_key) \
             VALUES ('{pair}', '{open}', timestamptz '{open}' + interval '59.999 seconds', \
             1, 1, 1, 1, 1, 1, 1, 1, 1, 'raw/klines/test')"
        ))
        .await
        .expect("insert a kline");
}

/// Each rule's outcome of the check at `at`, in rule order.
async fn check(app: &load::App, at: &str) -> Vec<String> {
    let answer = load::handle(
        app,
        invocation(json!({ "alerts": { "scheduled_time": at } })),
    )
    .await
    .unwrap_or_else(|e| panic!("alerts at {at}: {e}"));
    let answer = serde_json::to_value(answer).unwrap();
    answer["alerts"]["stale"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|rule| rule["outcome"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn stale_rules_fire_once_stay_quiet_while_stale_and_rearm_on_fresh_data() {
    // GIVEN stale rules per asset and per source, quotes of BTC and ETH at 12:00, a
    // BTCUSDT minute closing at 12:00, and the load function with a topic
    let world = World::new().await;
    world.migrate().await;
    let topic = TestTopic::new().await;
    let rules = stale_rules(&world).await;
    let app = app_with_topic(&world, &topic, &topic.endpoint).await;
    let slot = "2024-06-01T12:00:00Z";
    let key = world
        .put_snapshot(
            slot,
            &[
                quote(1, "BTC", "67000", "2024-06-01T11:59:00Z", slot),
                quote(1027, "ETH", "3500", "2024-06-01T11:59:00Z", slot),
            ],
        )
        .await;
    load::handle(&app, s3_event(&world.bucket.name, &[&key]))
        .await
        .expect("load");
    kline(&world, "BTCUSDT", "2024-06-01T11:59:00Z").await;

    // WHEN the schedule checks at 12:20: THEN all is fresh, but for the asset never stored
    // it is only 20 minutes since the rule started
    assert_eq!(check(&app, "2024-06-01T12:20:00Z").await, ["fresh"; 6]);

    // WHEN it checks at 12:40 with nothing new: THEN every rule fires, once
    assert_eq!(check(&app, "2024-06-01T12:40:00Z").await, ["fired"; 6]);
    let messages = topic.published().await;
    assert_eq!(messages.len(), 6, "{messages:?}");
    assert!(messages.iter().all(|m| m.attributes["kind"] == "stale"));
    let btc = &messages[0];
    assert_eq!(btc.attributes["asset"], "1");
    assert!(
        btc.body.starts_with(
            "BTC quotes: CoinMarketCap asset 1 (USD) has had no new data for 40.0 minutes \
             (last at 2024-06-01 12:00:00 UTC; stale after 30 minutes)"
        ),
        "{}",
        btc.body
    );
    assert!(messages[3]
        .body
        .contains("nothing stored since the rule started"));
    assert_eq!(messages[4].attributes["asset"], "BTCUSDT");

    // WHEN it checks again while the data stays stale, and a late retry of 12:30 runs
    assert_eq!(
        check(&app, "2024-06-01T12:45:00Z").await,
        ["still_stale"; 6]
    );
    assert_eq!(check(&app, "2024-06-01T12:30:00Z").await, ["late"; 6]);

    // WHEN BTC quotes and an ETHUSDT minute arrive at 12:50 and it checks at 12:55
    let slot = "2024-06-01T12:50:00Z";
    let key = world
        .put_snapshot(
            slot,
            &[quote(1, "BTC", "67100", "2024-06-01T12:49:00Z", slot)],
        )
        .await;
    load::handle(&app, s3_event(&world.bucket.name, &[&key]))
        .await
        .expect("load");
    kline(&world, "ETHUSDT", "2024-06-01T12:49:00Z").await;

    // THEN what has fresh data re-arms: BTC, the CMC source, the Binance source
    assert_eq!(
        check(&app, "2024-06-01T12:55:00Z").await,
        [
            "rearmed",
            "still_stale",
            "rearmed",
            "still_stale",
            "still_stale",
            "rearmed"
        ]
    );

    // WHEN the data stops again and it checks at 13:30: THEN the re-armed rules fire again
    assert_eq!(
        check(&app, "2024-06-01T13:30:00Z").await,
        [
            "fired",
            "still_stale",
            "fired",
            "still_stale",
            "still_stale",
            "fired"
        ]
    );
    assert_eq!(topic.published().await.len(), 9);
    let keys = world
        .texts("SELECT dedupe_key FROM alert_events ORDER BY id")
        .await;
    let r = &rules;
    assert_eq!(
        keys,
        [
            format!("rule:{}:1717243200000:stale:1717243200000", r[0]),
            format!("rule:{}:1717243200000:stale:1717243200000", r[1]),
            format!("rule:{}:1717243200000:stale:1717243200000", r[2]),
            format!("rule:{}:1717243200000:stale:1717243200000", r[3]),
            format!("rule:{}:1717243200000:stale:1717243199999", r[4]),
            format!("rule:{}:1717243200000:stale:1717243199999", r[5]),
            format!("rule:{}:1717243200000:stale:1717246200000", r[0]),
            format!("rule:{}:1717243200000:stale:1717246200000", r[2]),
            format!("rule:{}:1717243200000:stale:1717246199999", r[5]),
        ]
    );
}

#[tokio::test]
async fn a_stale_rule_within_its_cooldown_waits_and_fires_if_the_outage_outlasts_it() {
    // GIVEN a whole-source rule with a two-hour cooldown that fired at 12:40
    let world = World::new().await;
    world.migrate().await;
    let app = world.app(&[]).await;
    world
        .scalar(
            "INSERT INTO alert_rules (label, source, kind, window_minutes, cooldown_minutes, \
             evaluate_from) VALUES ('klines', 'binance', 'stale', 30, 120, \
             '2024-06-01T12:00:00Z') RETURNING id",
        )
        .await;
    kline(&world, "BTCUSDT", "2024-06-01T11:59:00Z").await;
    assert_eq!(check(&app, "2024-06-01T12:40:00Z").await, ["fired"]);

    // WHEN data comes back, stops again and goes stale within the cooldown and stays stale
    // past its end; then comes back, and a short outage within the next cooldown ends
    // before it does
    kline(&world, "BTCUSDT", "2024-06-01T12:44:00Z").await;
    assert_eq!(check(&app, "2024-06-01T12:50:00Z").await, ["rearmed"]);
    assert_eq!(check(&app, "2024-06-01T13:20:00Z").await, ["cooldown"]);
    assert_eq!(check(&app, "2024-06-01T14:35:00Z").await, ["cooldown"]);
    assert_eq!(check(&app, "2024-06-01T14:45:00Z").await, ["fired"]);
    assert_eq!(check(&app, "2024-06-01T14:50:00Z").await, ["still_stale"]);
    kline(&world, "BTCUSDT", "2024-06-01T14:55:00Z").await;
    assert_eq!(check(&app, "2024-06-01T15:00:00Z").await, ["rearmed"]);
    assert_eq!(check(&app, "2024-06-01T15:30:00Z").await, ["cooldown"]);
    kline(&world, "BTCUSDT", "2024-06-01T15:35:00Z").await;
    assert_eq!(check(&app, "2024-06-01T15:40:00Z").await, ["fresh"]);

    // THEN the outage that outlasted the cooldown was reported once, when the cooldown
    // ended; the one within it never
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM alert_events WHERE observed_at = '2024-06-01T14:45:00Z'")
            .await,
        1
    );
    assert_eq!(world.scalar("SELECT count(*) FROM alert_events").await, 2);
}

#[tokio::test]
async fn the_stale_check_reads_the_newest_observations_through_indexes() {
    // GIVEN 20 days of quotes of 20 assets over two monthly partitions, 20 days of minutes of
    // five pairs, and a stale rule of each shape
    let world = World::new().await;
    world.migrate().await;
    stale_rules(&world).await;
    let client = world.db.client().await;
    client
        .batch_execute(
            "SELECT ensure_quotes_partition(d) FROM (VALUES (date '2024-05-01'), \
             (date '2024-06-01')) v(d);
             INSERT INTO quotes (cmc_id, quote_currency, last_updated, observed_on, slot_at, \
                 symbol, name, slug, price, ingested_at, s3_key)
             SELECT id, 'USD', ts - interval '1 minute', CAST(timezone('UTC', ts) AS date), ts, \
                 'S' || id, 'n', 's', 1, ts, 'k'
             FROM generate_series(1, 20) id,
                  generate_series(timestamptz '2024-05-20', timestamptz '2024-06-09', \
                                  interval '5 minutes') ts;
             INSERT INTO klines_1m (symbol, open_time, close_time, open, high, low, close, \
                 volume, quote_volume, trades, taker_buy_base_volume, taker_buy_quote_volume, s3_key)
             SELECT s, ts, ts + interval '59.999 seconds', 1, 1, 1, 1, 1, 1, 1, 1, 1, 'k'
             FROM unnest(ARRAY['BNBUSDT', 'BTCUSDT', 'ETHUSDT', 'SOLUSDT', 'XRPUSDT']) s,
                  generate_series(timestamptz '2024-05-20', timestamptz '2024-06-09', \
                                  interval '1 minute') ts;
             ANALYZE quotes, klines_1m;",
        )
        .await
        .expect("data");

    // WHEN the check runs, in a transaction whose scans PostgreSQL counts
    client.batch_execute("BEGIN").await.unwrap();
    let outcomes = common::texts(
        &client,
        "SELECT outcome FROM alert_stale_check('2024-06-09T00:10:00Z') ORDER BY rule_id",
    )
    .await;
    let scans = common::texts(
        &client,
        "SELECT format('%s|%s', coalesce(sum(seq_scan), 0), coalesce(sum(idx_scan), 0)) \
         FROM pg_stat_xact_user_tables \
         WHERE relname IN ('quotes_2024_05', 'quotes_2024_06', 'klines_1m')",
    )
    .await;
    client.batch_execute("ROLLBACK").await.unwrap();

    // THEN every rule was evaluated, and no data table was scanned sequentially
    assert_eq!(
        outcomes,
        ["fresh", "fired", "fresh", "fired", "fresh", "fresh"]
    );
    let (seq, idx) = scans[0].split_once('|').unwrap();
    assert_eq!(seq, "0", "sequential scans of the data: {}", scans[0]);
    assert!(idx.parse::<u64>().unwrap() > 0, "{}", scans[0]);
}

#[tokio::test]
async fn what_the_time_left_does_not_allow_is_released_untried() {
    // GIVEN 12 unsent events, and an SNS that takes 2 s to accept a message
    let world = World::new().await;
    world.migrate().await;
    let ids = many_events(&world, 12).await;
    let sns = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_delay(Duration::from_secs(2))
                .set_body_string(
                    "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">\
                     <PublishResult><MessageId>m-1</MessageId></PublishResult>\
                     <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>\
                     </PublishResponse>",
                ),
        )
        .mount(&sns)
        .await;
    let app = world
        .app(&[
            (
                "ALERT_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:alerts",
            ),
            ("AWS_ENDPOINT_URL_SNS", sns.uri().as_str()),
        ])
        .await;

    // WHEN delivery has 2.5 s
    let delivery = app
        .alerting
        .deliver(Instant::now() + Duration::from_millis(2500))
        .await
        .expect("delivery");

    // THEN the first batch's events it had no time for are released as they were, and the
    // events past the batch were never claimed
    let Delivery::Published(summary) = delivery else {
        panic!("expected a delivery, got {delivery:?}");
    };
    let tried = summary.delivered.len() + summary.failed.len();
    assert_eq!(tried as u64 + summary.left_for_later, 10, "{summary:?}");
    assert!(tried <= 1, "{summary:?}");
    let rows = outbox(&world).await;
    for (id, row) in ids.iter().zip(&rows).skip(tried) {
        assert_eq!(row, &format!("{id}|f|0|-|-|f"));
    }
    assert_eq!(
        sns.received_requests().await.unwrap_or_default().len(),
        tried
    );
}
