//! The exact CSV bytes for a recorded-shape CMC response: nulls, integers next to floats,
//! exponents, numeric strings, names with commas and quotes, a coin without a price.

use chrono::{DateTime, Utc};
use coinlake::cmc::{CmcClient, QuotesApi, RetryPolicy, Selection, SymbolResolver};
use coinlake::csv_codec::encode_quotes;
use coinlake::normalize::{normalize, Skipped};
use coinlake::secret::Secret;
use coinlake::slot::Slot;
use std::time::{Duration, Instant};
use testkit::cmc::{QUOTES_PATH, QUOTES_V3_PATH};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const GOLDEN: &str = "golden/quotes_edge_cases.csv";

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn recorded_response_encodes_to_the_golden_csv() {
    golden_for(
        QuotesApi::V2,
        QUOTES_PATH,
        "cmc/quotes_by_id_edge_cases.json",
    )
    .await;
}

/// The v3 reply of the same market (`data` an array, each `quote` an array naming its own
/// currency) must give the same bytes: the CSV contract does not depend on the API version.
#[tokio::test]
async fn the_v3_reply_of_the_same_market_encodes_to_the_same_golden_csv() {
    golden_for(
        QuotesApi::V3,
        QUOTES_V3_PATH,
        "cmc/quotes_v3_by_id_edge_cases.json",
    )
    .await;
}

async fn golden_for(api: QuotesApi, quotes_path: &str, fixture: &str) {
    // GIVEN CMC answers quotes/latest with the edge-case fixture
    let cmc = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(quotes_path))
        .and(query_param("id", "1,1027,28301,30001,30002"))
        .and(query_param("convert", "USD"))
        .and(header("X-CMC_PRO_API_KEY", "golden-key"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/json")
                .set_body_string(testkit::fixture(fixture)),
        )
        .expect(1)
        .mount(&cmc)
        .await;
    let client = CmcClient::new(
        &cmc.uri(),
        Secret::new("golden-key"),
        RetryPolicy::default(),
    )
    .unwrap()
    .with_quotes_api(api);
    let selection = Selection::Quotes {
        ids: vec![1, 1027, 28301, 30001, 30002],
        symbols: vec![],
    };

    // WHEN it is fetched, normalized and encoded
    let deadline = Instant::now() + Duration::from_secs(10);
    let fetched = client
        .fetch(&selection, &SymbolResolver::default(), "USD", deadline)
        .await
        .unwrap();
    let slot = Slot::containing(utc("2024-06-01T12:35:00Z"));
    let normalized = normalize(&fetched, "USD", slot, utc("2024-06-01T12:35:02.123Z"));
    let csv = String::from_utf8(encode_quotes(&normalized.rows).unwrap()).unwrap();

    // THEN the bytes are the golden file's, and the priceless coin is reported
    if api == QuotesApi::V2 && std::env::var_os("UPDATE_GOLDEN").is_some() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testkit/fixtures")
            .join(GOLDEN);
        std::fs::write(path, &csv).unwrap();
    }
    assert_eq!(csv, testkit::fixture(GOLDEN));
    assert_eq!(fetched.credits, 1);
    assert_eq!(
        normalized.skipped,
        [Skipped {
            coin: "DLT (id 30001)".into(),
            quote_currency: "USD".into(),
            reason: "no price".into()
        }]
    );
}
