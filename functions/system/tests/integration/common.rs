//! The world the Athena reader test writes in: a CMC stand-in, a bucket on a real S3
//! server, and `ingest`'s handler called the way the Lambda runtime calls it.

use coinlake::config::IngestConfig;
use ingest::App;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use testkit::TestBucket;
use wiremock::MockServer;

pub struct World {
    pub cmc: MockServer,
    pub bucket: TestBucket,
}

impl World {
    pub async fn new() -> World {
        World {
            cmc: MockServer::start().await,
            bucket: TestBucket::new().await,
        }
    }

    /// `ingest` as a deployment would run it, pointed at this world, plus `extra`.
    pub async fn app(&self, extra: &[(&str, &str)]) -> App {
        let mut vars: Vec<(String, String)> = vec![
            ("BUCKET_NAME".into(), self.bucket.name.clone()),
            ("CMC_API_KEY".into(), "cmc-test-key-6f1d2a9b".into()),
            ("CMC_BASE_URL".into(), self.cmc.uri()),
            ("AWS_ENDPOINT_URL_S3".into(), self.bucket.endpoint.clone()),
            ("CMC_RETRY_BASE_MS".into(), "10".into()),
        ];
        for (name, value) in extra {
            vars.retain(|(n, _)| n != name);
            vars.push(((*name).into(), (*value).into()));
        }
        let config = IngestConfig::from_lookup(|name| {
            vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
        })
        .expect("test configuration is valid");
        App::new(config, &self.bucket.sdk)
            .await
            .expect("app starts")
    }
}

/// A scheduled invocation for the slot at `time`, with 30 s before the deadline.
pub fn schedule(time: &str) -> LambdaEvent<Value> {
    let mut context = Context::default();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    context.deadline = now_ms + Duration::from_secs(30).as_millis() as u64;
    context.request_id = "test-request".to_owned();
    LambdaEvent::new(serde_json::json!({ "scheduled_time": time }), context)
}
