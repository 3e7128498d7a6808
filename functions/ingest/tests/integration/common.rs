//! The world an ingest test runs in: a CMC stand-in, a bucket on a real S3 server, and
//! the handler called the way the Lambda runtime calls it.

use coinlake::cmc::QuotesApi;
use coinlake::config::IngestConfig;
use ingest::App;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use std::time::Duration;
use testkit::cmc::any_quotes_path;
use testkit::TestBucket;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Respond};

pub const API_KEY: &str = "cmc-test-key-6f1d2a9b";

/// Both `quotes/latest` versions, for the tests that run under each.
pub const QUOTES_APIS: [QuotesApi; 2] = [QuotesApi::V3, QuotesApi::V2];

pub struct World {
    pub cmc: MockServer,
    pub bucket: TestBucket,
    /// `Some` sets `CMC_QUOTES_API`; `None` leaves the default.
    pub quotes_api: Option<QuotesApi>,
}

impl World {
    /// A world whose configuration leaves `CMC_QUOTES_API` at its default.
    pub async fn new() -> World {
        World {
            cmc: MockServer::start().await,
            bucket: TestBucket::new().await,
            quotes_api: None,
        }
    }

    /// A world configured for `api`'s `quotes/latest`.
    pub async fn with_api(api: QuotesApi) -> World {
        World {
            quotes_api: Some(api),
            ..World::new().await
        }
    }

    /// The path the configured version asks.
    pub fn quotes_path(&self) -> &'static str {
        self.quotes_api.unwrap_or_default().path()
    }

    /// The configuration a deployment would have, pointed at this world, plus `extra`.
    pub fn config(&self, extra: &[(&str, &str)]) -> IngestConfig {
        let mut vars: Vec<(String, String)> = vec![
            ("BUCKET_NAME".into(), self.bucket.name.clone()),
            ("CMC_API_KEY".into(), API_KEY.into()),
            ("CMC_BASE_URL".into(), self.cmc.uri()),
            ("AWS_ENDPOINT_URL_S3".into(), self.bucket.endpoint.clone()),
            ("CMC_RETRY_BASE_MS".into(), "10".into()),
        ];
        if let Some(api) = self.quotes_api {
            vars.push(("CMC_QUOTES_API".into(), api.as_str().into()));
        }
        for (name, value) in extra {
            vars.retain(|(n, _)| n != name);
            vars.push(((*name).into(), (*value).into()));
        }
        IngestConfig::from_lookup(|name| {
            vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
        })
        .expect("test configuration is valid")
    }

    pub async fn app(&self, extra: &[(&str, &str)]) -> App {
        App::new(self.config(extra), &self.bucket.sdk)
            .await
            .expect("app starts")
    }

    /// Answers every `quotes/latest` request (either version) with `response`.
    pub async fn serve_quotes(&self, response: impl Respond + 'static) {
        Mock::given(method("GET"))
            .and(any_quotes_path())
            .respond_with(response)
            .mount(&self.cmc)
            .await;
    }

    /// Answers the next `quotes/latest` request only with `response`; the ones after it
    /// fall through to whatever was mounted next.
    pub async fn serve_quotes_once(&self, response: impl Respond + 'static) {
        Mock::given(method("GET"))
            .and(any_quotes_path())
            .respond_with(response)
            .up_to_n_times(1)
            .mount(&self.cmc)
            .await;
    }

    /// How many requests the CMC stand-in has received.
    pub async fn cmc_requests(&self) -> Vec<wiremock::Request> {
        self.cmc.received_requests().await.unwrap_or_default()
    }
}

pub use testkit::invocation;

pub fn schedule(time: &str) -> LambdaEvent<Value> {
    invocation(
        serde_json::json!({ "scheduled_time": time }),
        Duration::from_secs(30),
    )
}

/// A sample event from `events/`.
pub fn sample_event(name: &str) -> Value {
    let path = testkit::workspace_root().join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("sample event exists"))
        .expect("sample event is JSON")
}

/// A query parameter of a received request.
pub fn param(request: &wiremock::Request, name: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
