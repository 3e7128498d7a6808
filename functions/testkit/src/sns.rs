//! An SNS topic of its own for each test, on a moto server of its own, and what was
//! published to it: moto records every message it accepted, with its subject and message
//! attributes, and serves the record at `/moto-api/data.json`. That proves what SNS was
//! asked to deliver without a subscriber (and without an SQS client to build); fan-out to
//! subscribers is SNS's side.
//!
//! Not the shared server of [`crate::s3`]: `data.json` serialises every model the server
//! holds, and a bucket another test deleted makes it answer 500.

use crate::s3::{sdk_config, start_moto, OwnedServer};
use aws_config::SdkConfig;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

static SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// One message as SNS accepted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub message_id: String,
    pub subject: Option<String>,
    pub body: String,
    /// Name to string value.
    pub attributes: BTreeMap<String, String>,
}

pub struct TestTopic {
    pub arn: String,
    pub endpoint: String,
    pub sdk: SdkConfig,
    pub client: aws_sdk_sns::Client,
    _server: OwnedServer,
}

impl TestTopic {
    pub async fn new() -> TestTopic {
        let (endpoint, server) = start_moto();
        let sdk = sdk_config(&endpoint).await;
        let client = coinlake::aws::sns_client(&sdk, Some(&endpoint));
        let name = format!(
            "coinlake-test-{}-{}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed),
            chrono::Utc::now().timestamp_micros() % 1_000_000
        );
        let arn = client
            .create_topic()
            .name(&name)
            .send()
            .await
            .expect("create test topic")
            .topic_arn
            .expect("a topic ARN");
        TestTopic {
            arn,
            endpoint,
            sdk,
            client,
            _server: server,
        }
    }

    /// Every message published to this topic so far, oldest first.
    pub async fn published(&self) -> Vec<Published> {
        let url = format!("{}/moto-api/data.json", self.endpoint);
        let text = reqwest::get(&url)
            .await
            .and_then(|r| r.error_for_status())
            .expect("moto's data.json")
            .text()
            .await
            .expect("moto's data.json");
        let data: Value = serde_json::from_str(&text).expect("moto's data.json is JSON");
        let topics = data["sns"]["Topic"].as_array().cloned().unwrap_or_default();
        let topic = topics
            .iter()
            .find(|t| t["arn"] == self.arn.as_str())
            .unwrap_or_else(|| panic!("moto has no topic {}", self.arn));
        topic["sent_notifications"]
            .as_array()
            .expect("sent_notifications")
            .iter()
            .map(|sent| Published {
                message_id: sent[0].as_str().expect("message id").to_owned(),
                body: sent[1].as_str().expect("message").to_owned(),
                subject: sent[2].as_str().map(str::to_owned),
                attributes: sent[3]
                    .as_object()
                    .map(|attributes| {
                        attributes
                            .iter()
                            .map(|(name, value)| {
                                let text = value["Value"].as_str().unwrap_or_default().to_owned();
                                (name.clone(), text)
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect()
    }
}
