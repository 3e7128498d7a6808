//! `GET /api/alerts`: the newest events first, filtered by time and rule, with how far
//! their delivery got.

use crate::common::{get, World};
use crate::readers_agree::data_api_app;
use serde_json::{json, Value};
use testkit::data_api::DataApiEmulator;

/// A rule, and four events: its sent crossing, its pending one, a failing operator
/// notice, and one of a deleted rule.
async fn fired(world: &World) -> i64 {
    world
        .sql(
            "INSERT INTO alert_rules (label, source, cmc_id, quote_currency, kind, threshold, hysteresis)
             VALUES ('BTC above 67k', 'cmc', 1, 'USD', 'price_above', 67000, 0.5);
             INSERT INTO alert_events (rule_id, audience, kind, label, source, cmc_id, quote_currency, pair,
                                       observed_at, value, threshold, message, dedupe_key, fired_at,
                                       delivery_attempts, last_error, sent_at, message_id)
             VALUES
             ((SELECT id FROM alert_rules), 'market', 'price_above', 'BTC above 67k', 'cmc', 1, 'USD', NULL,
              '2024-06-01T12:09:00Z', 67100, 67000, 'BTC 67100 USD crossed above 67000', 'a', '2024-06-01T12:10:05Z',
              1, NULL, '2024-06-01T12:10:06Z', 'msg-1'),
             ((SELECT id FROM alert_rules), 'market', 'price_above', 'BTC above 67k', 'cmc', 1, 'USD', NULL,
              '2024-06-01T12:58:00Z', 67050.125, 67000, 'BTC 67050.125 USD crossed above 67000', 'b', '2024-06-01T13:00:41Z',
              0, NULL, NULL, NULL),
             (NULL, 'operator', 'cmc_credit_notice', 'CoinMarketCap credits', NULL, NULL, NULL, NULL,
              '2024-06-01T13:00:00Z', NULL, NULL, 'daily credits 95% used', 'cmc_credit_notice:daily:2024-06-01', '2024-06-01T13:00:40Z',
              3, 'secret-looking topic arn:aws:sns:us-east-1:123456789012:alerts', NULL, NULL),
             (NULL, 'market', 'change_pct', 'ETHUSDT -5% in 1h', 'binance', NULL, NULL, 'ETHUSDT',
              '2024-05-31T23:59:59.999Z', -5.25, -5, 'ETHUSDT fell 5.25 % in 60 min', 'c', '2024-06-01T00:00:10Z',
              1, NULL, '2024-06-01T00:00:11Z', 'msg-0');",
        )
        .await;
    let client = world.db.client().await;
    let row = client
        .query_one("SELECT id FROM alert_rules", &[])
        .await
        .expect("the rule");
    row.get(0)
}

#[tokio::test]
async fn recent_alerts_come_newest_first_with_their_delivery() {
    // GIVEN four fired alerts
    let world = World::new().await;
    let rule = fired(&world).await;
    let app = world.app(&[]).await;

    // WHEN they are listed
    let answer = get(&app, "/api/alerts").await;

    // THEN newest first, each with what crossed and where its delivery stands
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("cache-control"), "no-store");
    let body = answer.json();
    assert_eq!(body["generated_at"], "2024-06-01T13:10:00Z");
    let events = body["events"].as_array().expect("events");
    let labels: Vec<&str> = events
        .iter()
        .map(|e| e["label"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        labels,
        [
            "BTC above 67k",
            "CoinMarketCap credits",
            "BTC above 67k",
            "ETHUSDT -5% in 1h"
        ]
    );
    let newest = &events[0];
    assert_eq!(
        (
            &newest["rule_id"],
            &newest["kind"],
            &newest["value"],
            &newest["threshold"],
            &newest["observed_at"],
            &newest["fired_at"]
        ),
        (
            &json!(rule),
            &json!("price_above"),
            &json!("67050.125"),
            &json!("67000"),
            &json!("2024-06-01T12:58:00Z"),
            &json!("2024-06-01T13:00:41Z")
        )
    );
    assert_eq!(
        newest["delivery"],
        json!({"status": "pending", "attempts": 0, "sent_at": null, "message_id": null})
    );
    assert_eq!(
        events[1]["delivery"],
        json!({"status": "retrying", "attempts": 3, "sent_at": null, "message_id": null})
    );
    assert_eq!(
        (
            &events[1]["audience"],
            &events[1]["rule_id"],
            &events[1]["source"]
        ),
        (&json!("operator"), &Value::Null, &Value::Null)
    );
    assert_eq!(
        events[2]["delivery"],
        json!({"status": "sent", "attempts": 1, "sent_at": "2024-06-01T12:10:06Z", "message_id": "msg-1"})
    );
    assert_eq!(
        (
            &events[3]["pair"],
            &events[3]["value"],
            &events[3]["observed_at"]
        ),
        (
            &json!("ETHUSDT"),
            &json!("-5.25"),
            &json!("2024-05-31T23:59:59.999Z")
        )
    );
    // AND a delivery's error stays out of the answer
    assert!(!answer.text().contains("arn:aws:sns"), "{}", answer.text());
}

#[tokio::test]
async fn limit_since_and_rule_pick_the_events() {
    let world = World::new().await;
    let rule = fired(&world).await;
    let app = world.app(&[]).await;
    let labels = |body: Value| -> Vec<String> {
        body["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["fired_at"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    for (target, expected) in [
        (
            "/api/alerts?limit=2".to_owned(),
            vec!["2024-06-01T13:00:41Z", "2024-06-01T13:00:40Z"],
        ),
        (
            "/api/alerts?since=2024-06-01T12:10:05Z".to_owned(),
            vec![
                "2024-06-01T13:00:41Z",
                "2024-06-01T13:00:40Z",
                "2024-06-01T12:10:05Z",
            ],
        ),
        ("/api/alerts?since=2024-06-02".to_owned(), vec![]),
        (
            format!("/api/alerts?rule_id={rule}"),
            vec!["2024-06-01T13:00:41Z", "2024-06-01T12:10:05Z"],
        ),
        (format!("/api/alerts?rule_id={}", rule + 1), vec![]),
        (
            format!("/api/alerts?rule_id={rule}&since=2024-06-01T13:00:00%2B00:00&limit=1"),
            vec!["2024-06-01T13:00:41Z"],
        ),
    ] {
        let answer = get(&app, &target).await;
        assert_eq!(answer.status, 200, "{target}: {}", answer.text());
        assert_eq!(labels(answer.json()), expected, "{target}");
    }
}

#[tokio::test]
async fn the_data_api_reader_lists_the_same_events() {
    let world = World::new().await;
    let rule = fired(&world).await;
    let emulator = DataApiEmulator::start(&world.db.host, world.db.port).await;
    let postgres = world.app(&[]).await;
    let data_api = data_api_app(&world, &emulator).await;
    for target in [
        "/api/alerts".to_owned(),
        "/api/alerts?limit=1&since=2024-06-01".to_owned(),
        format!("/api/alerts?rule_id={rule}"),
        "/api/alert-rules".to_owned(),
        format!("/api/alert-rules/{rule}"),
    ] {
        let direct = get(&postgres, &target).await;
        let through_api = get(&data_api, &target).await;
        assert_eq!(direct.status, 200, "{target}: {}", direct.text());
        assert_eq!(direct.text(), through_api.text(), "{target}");
    }
}
