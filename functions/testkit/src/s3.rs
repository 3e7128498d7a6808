//! A real S3-compatible server over HTTP: moto's server, shared when the test script
//! started one (`COINLAKE_TEST_S3_ENDPOINT`), otherwise started for this test alone. Each
//! test gets its own bucket, emptied and deleted when the test ends.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::config::{Credentials, Region};
use chrono::{DateTime, Utc};
use coinlake::csv_codec::encode_quotes;
use coinlake::layout::{object_key, Dataset};
use coinlake::quote::QuoteRow;
use coinlake::slot::Slot;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const ENDPOINT_VAR: &str = "COINLAKE_TEST_S3_ENDPOINT";

/// An AWS SDK configuration pointed at `endpoint` with throwaway credentials.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "testing", "testing", None, None, "testkit",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// A moto server owned by one test, stopped when dropped.
pub(crate) struct OwnedServer(Child);

impl Drop for OwnedServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A moto server of the caller's own: its address, and the handle that stops it.
pub(crate) fn start_moto() -> (String, OwnedServer) {
    let port = crate::free_port();
    let venv_binary = crate::workspace_root().join(".venv/bin/moto_server");
    let binary = if venv_binary.exists() {
        venv_binary.into_os_string()
    } else {
        "moto_server".into()
    };
    let child = Command::new(&binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start moto_server ({e}); run scripts/setup.sh or set {ENDPOINT_VAR}")
        });
    let server = OwnedServer(child);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "moto_server did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (format!("http://127.0.0.1:{port}"), server)
}

/// A uniquely named bucket on the S3 server, with helpers to read what a test wrote.
pub struct TestBucket {
    pub name: String,
    pub endpoint: String,
    pub sdk: SdkConfig,
    pub client: aws_sdk_s3::Client,
    server: Option<OwnedServer>,
}

static SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// One stored object as a reader sees it.
#[derive(Debug, Clone)]
pub struct StoredObject {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub metadata: HashMap<String, String>,
}

impl StoredObject {
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("object is UTF-8")
    }
}

impl TestBucket {
    pub async fn new() -> TestBucket {
        let (endpoint, server) = match std::env::var(ENDPOINT_VAR) {
            Ok(endpoint) if !endpoint.is_empty() => (endpoint, None),
            _ => {
                let (endpoint, server) = start_moto();
                (endpoint, Some(server))
            }
        };
        let sdk = sdk_config(&endpoint).await;
        let client = coinlake::aws::s3_client(&sdk, Some(&endpoint));
        let name = format!(
            "coinlake-test-{}-{}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed),
            chrono::Utc::now().timestamp_micros() % 1_000_000
        );
        client
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("create test bucket");
        TestBucket {
            name,
            endpoint,
            sdk,
            client,
            server,
        }
    }

    /// Every key in the bucket, sorted.
    pub async fn keys(&self) -> Vec<String> {
        list_keys(&self.client, &self.name).await
    }

    pub async fn get(&self, key: &str) -> StoredObject {
        let output = self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
            .expect("get object");
        let content_type = output.content_type.clone();
        let metadata = output.metadata.clone().unwrap_or_default();
        let body = output
            .body
            .collect()
            .await
            .expect("read object body")
            .into_bytes()
            .to_vec();
        StoredObject {
            body,
            content_type,
            metadata,
        }
    }

    /// Writes `rows` as the snapshot of the slot containing `at`, under the key ingest would
    /// write and with the `credits` metadata load records from it; returns the key.
    pub async fn put_snapshot(&self, at: DateTime<Utc>, rows: &[QuoteRow]) -> String {
        let key = object_key(Dataset::Quotes, Slot::containing(at));
        let body = encode_quotes(rows).expect("encode snapshot");
        self.client
            .put_object()
            .bucket(&self.name)
            .key(&key)
            .metadata("credits", "1")
            .body(body.into())
            .send()
            .await
            .expect("put snapshot");
        key
    }

    /// Writes an object directly, as another writer would.
    pub async fn put_object(&self, key: &str, body: &str) {
        self.client
            .put_object()
            .bucket(&self.name)
            .key(key)
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .expect("put object");
    }
}

async fn list_keys(client: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.expect("list objects");
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    keys.sort();
    keys
}

impl Drop for TestBucket {
    fn drop(&mut self) {
        if self.server.is_some() {
            // The server goes with the test, and its in-memory buckets with it.
            return;
        }
        let (endpoint, bucket) = (self.endpoint.clone(), self.name.clone());
        // Drop cannot await; a short-lived runtime on its own thread empties and deletes
        // the bucket so a shared server is left as it was found.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let sdk = sdk_config(&endpoint).await;
                let client = coinlake::aws::s3_client(&sdk, Some(&endpoint));
                for key in list_keys(&client, &bucket).await {
                    let _ = client.delete_object().bucket(&bucket).key(key).send().await;
                }
                let _ = client.delete_bucket().bucket(&bucket).send().await;
            });
        });
        let _ = cleanup.join();
    }
}
