//! Successful runs end to end: CMC stand-in → handler → object on a real S3 server.

use crate::common;

use common::{param, schedule, World, API_KEY, QUOTES_APIS};
use serde_json::json;
use testkit::cmc::{any_quotes_path, coin, quotes_ok, Market, LISTINGS_PATH};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::Mock;

const KEY_1235: &str = "raw/quotes/year=2024/month=06/day=01/quotes_2024-06-01_12-35-00.csv";

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// Column `name` of every data row.
fn column(text: &str, name: &str) -> Vec<String> {
    let index = coinlake::schema::quote_column_names()
        .position(|c| c == name)
        .unwrap();
    csv_rows(text)
        .into_iter()
        .map(|row| row[index].clone())
        .collect()
}

#[tokio::test]
async fn quotes_by_id_write_one_csv_object_at_the_slot_key() {
    for api in QUOTES_APIS {
        quotes_by_id_in(World::with_api(api).await).await;
    }
}

async fn quotes_by_id_in(world: World) {
    // GIVEN a market and ids to follow, on the configured version's path
    Mock::given(method("GET"))
        .and(path(world.quotes_path()))
        .and(header("X-CMC_PRO_API_KEY", API_KEY))
        .respond_with(Market::recorded())
        .mount(&world.cmc)
        .await;
    let app = world.app(&[("CMC_IDS", "1027,1")]).await;

    // WHEN the 12:35 schedule fires (delivered at 12:37)
    let summary = ingest::handle(&app, schedule("2024-06-01T12:37:10Z"))
        .await
        .unwrap();

    // THEN one object holds both coins, ranked, with its metadata
    assert_eq!(world.bucket.keys().await, [KEY_1235]);
    assert_eq!(
        (
            summary.key.as_str(),
            summary.rows,
            summary.skipped,
            summary.credits
        ),
        (KEY_1235, 2, 0, 1)
    );
    let object = world.bucket.get(KEY_1235).await;
    let text = object.text();
    assert_eq!(column(&text, "symbol"), ["BTC", "ETH"]);
    assert_eq!(column(&text, "slot_at"), ["2024-06-01 12:35:00.000"; 2]);
    assert_eq!(column(&text, "price"), ["67432.1234567891", "3765.4921853"]);
    assert!(object.content_type.unwrap().starts_with("text/csv"));
    assert_eq!(object.metadata.get("rows").map(String::as_str), Some("2"));
    assert_eq!(
        object.metadata.get("slot").map(String::as_str),
        Some("2024-06-01T12:35:00Z")
    );
    assert_eq!(
        object.metadata.get("credits").map(String::as_str),
        Some("1")
    );
    let requests = world.cmc_requests().await;
    assert_eq!(requests.len(), 1);
    assert_eq!(param(&requests[0], "id").as_deref(), Some("1027,1"));
    assert_eq!(param(&requests[0], "convert").as_deref(), Some("USD"));
    assert_eq!(param(&requests[0], "skip_invalid").as_deref(), Some("true"));
}

#[tokio::test]
async fn v3_is_the_default_and_v2_is_asked_only_when_chosen() {
    for (world, expected) in [
        (World::new().await, "/v3/cryptocurrency/quotes/latest"),
        (
            World::with_api(coinlake::cmc::QuotesApi::V2).await,
            "/v2/cryptocurrency/quotes/latest",
        ),
    ] {
        world.serve_quotes(Market::recorded()).await;
        let app = world.app(&[("CMC_IDS", "1")]).await;
        ingest::handle(&app, schedule("2024-06-01T12:35:00Z"))
            .await
            .unwrap();
        let requests = world.cmc_requests().await;
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].url.path(), expected);
    }
}

#[tokio::test]
async fn symbols_resolve_to_the_highest_ranked_coin_and_later_runs_query_by_id() {
    for api in QUOTES_APIS {
        symbols_resolve_in(World::with_api(api).await).await;
    }
}

async fn symbols_resolve_in(world: World) {
    // GIVEN two coins share the symbol BTC: Bitcoin (rank 1) and a bridged token (rank 2841)
    world.serve_quotes(Market::recorded()).await;
    let app = world.app(&[("CMC_SYMBOLS", "btc,ETH")]).await;

    // WHEN two slots run in the same (warm) process
    let first = ingest::handle(&app, schedule("2024-06-01T12:35:00Z"))
        .await
        .unwrap();
    let second = ingest::handle(&app, schedule("2024-06-01T12:40:00Z"))
        .await
        .unwrap();

    // THEN both hold Bitcoin (id 1), the first asked by symbol, the second by the ids it learned
    for summary in [&first, &second] {
        let text = world.bucket.get(&summary.key).await.text();
        assert_eq!(column(&text, "cmc_id"), ["1", "1027"]);
        assert_eq!(column(&text, "name"), ["Bitcoin", "Ethereum"]);
    }
    let requests = world.cmc_requests().await;
    assert_eq!(requests.len(), 2);
    assert_eq!(param(&requests[0], "symbol").as_deref(), Some("BTC,ETH"));
    assert_eq!(param(&requests[1], "id").as_deref(), Some("1,1027"));
    assert_eq!(param(&requests[1], "symbol"), None);
}

#[tokio::test]
async fn an_unknown_symbol_is_skipped_and_reported_while_the_rest_is_written() {
    for api in QUOTES_APIS {
        let world = World::with_api(api).await;
        world.serve_quotes(Market::recorded()).await;
        let app = world.app(&[("CMC_SYMBOLS", "ETH,NOPE")]).await;

        let summary = ingest::handle(&app, schedule("2024-06-01T12:35:00Z"))
            .await
            .unwrap();

        assert_eq!((summary.rows, summary.skipped), (1, 1), "{api:?}");
        assert_eq!(summary.skipped_coins[0].coin, "symbol NOPE");
        assert_eq!(
            column(&world.bucket.get(KEY_1235).await.text(), "symbol"),
            ["ETH"]
        );
    }
}

#[tokio::test]
async fn an_unknown_id_is_skipped_and_reported_while_the_rest_is_written() {
    for api in QUOTES_APIS {
        // GIVEN CMC knows id 1 but not 999999999 (skip_invalid leaves it out of the reply)
        let world = World::with_api(api).await;
        world.serve_quotes(Market::recorded()).await;
        let app = world.app(&[("CMC_IDS", "1,999999999")]).await;

        let summary = ingest::handle(&app, schedule("2024-06-01T12:35:00Z"))
            .await
            .unwrap();

        assert_eq!((summary.rows, summary.skipped, summary.credits), (1, 1, 1));
        assert_eq!(summary.skipped_coins[0].coin, "id 999999999", "{api:?}");
        assert_eq!(
            column(&world.bucket.get(KEY_1235).await.text(), "cmc_id"),
            ["1"]
        );
    }
}

#[tokio::test]
async fn listings_are_fetched_page_by_page_up_to_the_limit() {
    // GIVEN a market of seven ranked coins, and pages of two
    let world = World::new().await;
    let coins = (1..=7)
        .map(|rank| {
            coin(
                100 + rank,
                &format!("C{rank}"),
                &format!("Coin {rank}"),
                Some(rank),
                &[("USD", json!(rank * 10))],
            )
        })
        .collect();
    Mock::given(method("GET"))
        .and(path(LISTINGS_PATH))
        .respond_with(Market::new(coins))
        .mount(&world.cmc)
        .await;
    let app = world
        .app(&[
            ("CMC_MODE", "listings"),
            ("CMC_LISTINGS_LIMIT", "5"),
            ("CMC_LISTINGS_PAGE_SIZE", "2"),
        ])
        .await;

    // WHEN the run asks for the top five
    let summary = ingest::handle(&app, schedule("2024-06-01T12:35:00Z"))
        .await
        .unwrap();

    // THEN three pages were fetched and the top five written in rank order
    let pages: Vec<(Option<String>, Option<String>)> = world
        .cmc_requests()
        .await
        .iter()
        .map(|r| (param(r, "start"), param(r, "limit")))
        .collect();
    let expected =
        [("1", "2"), ("3", "2"), ("5", "1")].map(|(s, l)| (Some(s.to_owned()), Some(l.to_owned())));
    assert_eq!(pages, expected);
    assert_eq!((summary.rows, summary.calls, summary.credits), (5, 3, 3));
    assert_eq!(
        column(&world.bucket.get(KEY_1235).await.text(), "cmc_rank"),
        ["1", "2", "3", "4", "5"]
    );
}

#[tokio::test]
async fn a_short_listings_page_ends_the_paging() {
    let world = World::new().await;
    let coins = (1..=3)
        .map(|rank| {
            coin(
                rank,
                &format!("C{rank}"),
                &format!("Coin {rank}"),
                Some(rank),
                &[("USD", json!(1))],
            )
        })
        .collect();
    Mock::given(method("GET"))
        .and(path(LISTINGS_PATH))
        .respond_with(Market::new(coins))
        .mount(&world.cmc)
        .await;
    let app = world
        .app(&[
            ("CMC_MODE", "listings"),
            ("CMC_LISTINGS_LIMIT", "10"),
            ("CMC_LISTINGS_PAGE_SIZE", "2"),
        ])
        .await;

    let summary = ingest::handle(&app, schedule("2024-06-01T12:35:00Z"))
        .await
        .unwrap();

    assert_eq!((summary.rows, summary.calls), (3, 2));
}

#[tokio::test]
async fn brl_quotes_are_requested_and_written_in_brl() {
    let world = World::new().await;
    Mock::given(method("GET"))
        .and(any_quotes_path())
        .and(query_param("convert", "BRL"))
        .respond_with(quotes_ok(
            json!({ "1": coin(1, "BTC", "Bitcoin", Some(1), &[("BRL", json!(351234.56))]) }),
            1,
        ))
        .expect(1)
        .mount(&world.cmc)
        .await;
    let app = world.app(&[("CMC_IDS", "1"), ("CMC_CONVERT", "brl")]).await;

    let summary = ingest::handle(&app, schedule("2024-06-01T12:35:00Z"))
        .await
        .unwrap();

    let text = world.bucket.get(&summary.key).await.text();
    assert_eq!(column(&text, "quote_currency"), ["BRL"]);
    assert_eq!(column(&text, "price"), ["351234.56"]);
    assert_eq!(summary.quote_currencies, ["BRL"]);
}

#[tokio::test]
async fn two_currencies_take_one_call_each_and_share_one_object() {
    let world = World::new().await;
    Mock::given(method("GET"))
        .and(any_quotes_path())
        .respond_with(Market::recorded())
        .expect(2)
        .mount(&world.cmc)
        .await;
    let app = world
        .app(&[("CMC_IDS", "1,1027"), ("CMC_CONVERT", "USD,BRL")])
        .await;

    let summary = ingest::handle(&app, schedule("2024-06-01T12:35:00Z"))
        .await
        .unwrap();

    assert_eq!((summary.rows, summary.calls, summary.credits), (4, 2, 2));
    let text = world.bucket.get(&summary.key).await.text();
    assert_eq!(
        column(&text, "quote_currency"),
        ["USD", "USD", "BRL", "BRL"]
    );
    assert_eq!(
        world
            .bucket
            .get(&summary.key)
            .await
            .metadata
            .get("quote-currencies")
            .map(String::as_str),
        Some("USD,BRL")
    );
    let converts: Vec<_> = world
        .cmc_requests()
        .await
        .iter()
        .map(|r| param(r, "convert"))
        .collect();
    assert_eq!(converts, [Some("USD".to_owned()), Some("BRL".to_owned())]);
}

#[tokio::test]
async fn the_same_event_twice_leaves_one_object_with_the_second_runs_content() {
    // GIVEN CMC's price moves between two deliveries of the same scheduled event
    let world = World::new().await;
    let priced = |price: i64| {
        quotes_ok(
            json!({ "1": coin(1, "BTC", "Bitcoin", Some(1), &[("USD", json!(price))]) }),
            1,
        )
    };
    world.serve_quotes_once(priced(100)).await;
    world.serve_quotes(priced(200)).await;
    let app = world.app(&[("CMC_IDS", "1")]).await;

    // WHEN the event is delivered twice
    ingest::handle(&app, schedule("2024-06-01T12:36:00Z"))
        .await
        .unwrap();
    ingest::handle(&app, schedule("2024-06-01T12:36:00Z"))
        .await
        .unwrap();

    // THEN exactly one object exists, holding the second run's price
    assert_eq!(world.bucket.keys().await, [KEY_1235]);
    assert_eq!(
        column(&world.bucket.get(KEY_1235).await.text(), "price"),
        ["200"]
    );
}

#[tokio::test]
async fn the_api_key_can_come_from_secrets_manager_as_json_or_plain_text() {
    let world = World::new().await;
    Mock::given(method("GET"))
        .and(any_quotes_path())
        .and(header("X-CMC_PRO_API_KEY", "key-from-secret"))
        .respond_with(Market::recorded())
        .expect(2)
        .mount(&world.cmc)
        .await;
    let secrets = aws_sdk_secretsmanager::Client::new(&world.bucket.sdk);
    for (name, value) in [
        ("json", r#"{"api_key": "key-from-secret"}"#),
        ("plain", "key-from-secret"),
    ] {
        let secret_name = format!("{}-{name}", world.bucket.name);
        let arn = secrets
            .create_secret()
            .name(&secret_name)
            .secret_string(value)
            .send()
            .await
            .unwrap()
            .arn
            .unwrap();
        let mut config = world.config(&[("CMC_IDS", "1")]);
        config.api_key = coinlake::config::ApiKeySource::SecretsManager {
            secret_id: arn.clone(),
        };
        let app = ingest::App::new(config, &world.bucket.sdk).await.unwrap();

        ingest::handle(&app, schedule("2024-06-01T12:35:00Z"))
            .await
            .unwrap();
        secrets
            .delete_secret()
            .secret_id(arn)
            .force_delete_without_recovery(true)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_missing_or_misshapen_secret_stops_the_cold_start_with_a_clear_error() {
    let world = World::new().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&world.bucket.sdk);
    let secret_name = format!("{}-shape", world.bucket.name);
    let arn = secrets
        .create_secret()
        .name(&secret_name)
        .secret_string(r#"{"key": "abc"}"#)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();

    for (secret_id, expected) in [
        (arn.as_str(), "has no string field \"api_key\""),
        ("coinlake/absent", "could not read secret coinlake/absent"),
    ] {
        let mut config = world.config(&[]);
        config.api_key = coinlake::config::ApiKeySource::SecretsManager {
            secret_id: secret_id.to_owned(),
        };
        let error = ingest::App::new(config, &world.bucket.sdk)
            .await
            .err()
            .expect("start-up fails")
            .to_string();
        assert!(error.contains(expected), "{error}");
        assert!(!error.contains("abc"), "{error}");
    }
    secrets
        .delete_secret()
        .secret_id(arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_credit_notice_in_the_reply_is_kept_in_the_objects_metadata() {
    // GIVEN CMC answering the first poll with a credit notice in its status (with a line
    // break and a non-ASCII dash, which S3 metadata cannot carry), the next without
    let world = World::with_api(coinlake::cmc::QuotesApi::V2).await;
    let data = json!({ "1": coin(1, "BTC", "Bitcoin", Some(1), &[("USD", json!(67000.5))]) });
    let mut status = testkit::cmc::status_ok(1);
    status["notice"] =
        json!("You have used 95% of your plan's daily credit limit.\n Upgrade — or wait.");
    Mock::given(method("GET"))
        .and(any_quotes_path())
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(json!({ "status": status, "data": data })),
        )
        .up_to_n_times(1)
        .mount(&world.cmc)
        .await;
    world.serve_quotes(quotes_ok(data.clone(), 1)).await;
    let app = world.app(&[("CMC_IDS", "1")]).await;

    // WHEN two slots are ingested
    let noticed = ingest::handle(&app, schedule("2024-06-01T12:35:00Z"))
        .await
        .unwrap();
    let quiet = ingest::handle(&app, schedule("2024-06-01T12:40:00Z"))
        .await
        .unwrap();

    // THEN the first object carries the notice as US-ASCII, the second none
    let expected = "You have used 95% of your plan's daily credit limit. Upgrade ? or wait.";
    let object = world.bucket.get(&noticed.key).await;
    assert_eq!(
        object.metadata.get("cmc-notice").map(String::as_str),
        Some(expected)
    );
    assert_eq!(noticed.cmc_notice.as_deref(), Some(expected));
    let object = world.bucket.get(&quiet.key).await;
    assert_eq!(object.metadata.get("cmc-notice"), None);
    assert_eq!(quiet.cmc_notice, None);
}
