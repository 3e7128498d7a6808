//! `GET /api/latest`: the newest quote of every asset in the current market.

use crate::common::{get, midnight_market, World};
use serde_json::json;

#[tokio::test]
async fn latest_lists_the_current_market_best_rank_first_with_exact_numbers() {
    // GIVEN BTC and ETH quoted up to 13:00, and two coins last seen over a day earlier
    let world = World::new().await;
    let app = world.app(&[]).await;

    // WHEN the latest prices are asked for
    let answer = get(&app, "/api/latest").await;

    // THEN each current asset appears once, with its newest quote, numbers as stored
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), "application/json");
    assert_eq!(
        answer.json(),
        json!({
            "currency": "USD",
            "generated_at": "2024-06-01T13:10:00Z",
            "assets": [
                {
                    "cmc_id": 1, "symbol": "BTC", "name": "BTC coin", "cmc_rank": 1,
                    "price": "67050.125", "percent_change_1h": "0.1", "percent_change_24h": "0.9",
                    "percent_change_7d": null, "market_cap": "1000000.5", "volume_24h": "2000",
                    "last_updated": "2024-06-01T12:58:00Z", "slot_at": "2024-06-01T13:00:00Z"
                },
                {
                    "cmc_id": 1027, "symbol": "ETH", "name": "ETH coin", "cmc_rank": 2,
                    "price": "3765", "percent_change_1h": "0.1", "percent_change_24h": null,
                    "percent_change_7d": null, "market_cap": "1000000.5", "volume_24h": "2000",
                    "last_updated": "2024-06-01T12:59:00Z", "slot_at": "2024-06-01T13:00:00Z"
                }
            ]
        })
    );
}

#[tokio::test]
async fn latest_answers_in_the_requested_currency_and_honours_the_limit() {
    let world = World::new().await;
    let app = world.app(&[]).await;

    let brl = get(&app, "/api/latest?currency=brl").await.json();
    assert_eq!(brl["currency"], "BRL");
    let assets = brl["assets"].as_array().unwrap();
    assert_eq!(assets.len(), 1, "{brl}");
    assert_eq!(assets[0]["symbol"], "ETH");
    assert_eq!(assets[0]["price"], "19500.75");

    let one = get(&app, "/api/latest?limit=1").await.json();
    assert_eq!(one["assets"].as_array().unwrap().len(), 1);
    assert_eq!(one["assets"][0]["symbol"], "BTC");

    let none = get(&app, "/api/latest?currency=EUR").await;
    assert_eq!(none.status, 200);
    assert_eq!(none.json()["assets"], json!([]));
}

#[tokio::test]
async fn latest_refuses_bad_parameters_with_a_400_naming_them() {
    let world = World::new().await;
    let app = world.app(&[]).await;
    for (target, named) in [
        ("/api/latest?currency=U%24D", "currency="),
        ("/api/latest?limit=0", "limit="),
        ("/api/latest?limit=many", "limit="),
    ] {
        let answer = get(&app, target).await;
        assert_eq!(answer.status, 400, "{target}");
        let error = answer.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(named), "{target}: {error}");
    }
}

#[tokio::test]
async fn an_empty_database_has_an_empty_market() {
    let world = World::empty().await;
    let app = world.app(&[]).await;
    let answer = get(&app, "/api/latest").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["assets"], json!([]));
}

#[tokio::test]
async fn the_sample_function_url_event_gets_the_latest_prices() {
    // GIVEN events/api-latest.json, the event `cargo lambda invoke api` sends
    let world = World::new().await;
    let app = world.app(&[]).await;
    let event = std::fs::read_to_string(testkit::workspace_root().join("events/api-latest.json"))
        .expect("events/api-latest.json");
    let request = lambda_http::request::from_str(&event).expect("a Function URL event");

    // WHEN the handler gets it as Lambda delivers it
    let response = api::handle(&app, request).await.expect("an answer");

    // THEN the latest prices come back
    assert_eq!(response.status(), 200);
    let lambda_http::Body::Text(body) = response.body() else {
        panic!("a small JSON answer is sent as text");
    };
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["currency"], "USD");
    assert_eq!(body["assets"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_update_observed_on_both_sides_of_midnight_is_listed_once_as_first_seen() {
    // GIVEN BTC's newest update (23:50) stored for 05-31 (slot 23:55) and 06-01 (slot 00:00)
    let world = World::empty().await;
    world.insert(&midnight_market()).await;
    let app = world.app(&[]).await;

    // WHEN the latest prices are asked for
    let body = get(&app, "/api/latest").await.json();

    // THEN BTC appears once, with the slot that saw the update first
    let assets = body["assets"].as_array().unwrap();
    assert_eq!(assets.len(), 1, "{body}");
    assert_eq!(assets[0]["price"], "67200");
    assert_eq!(assets[0]["last_updated"], "2024-05-31T23:50:00Z");
    assert_eq!(assets[0]["slot_at"], "2024-05-31T23:55:00Z");
}
