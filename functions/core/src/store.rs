//! The object store the snapshots go to: a narrow trait, implemented on S3.

use std::future::Future;

/// What is written besides the bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    pub content_type: &'static str,
    /// User metadata (`x-amz-meta-*`), lowercase keys.
    pub metadata: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
#[error("could not write s3://{bucket}/{key}: {reason}")]
pub struct StoreError {
    pub bucket: String,
    pub key: String,
    pub reason: String,
}

pub trait ObjectStore: Send + Sync {
    /// Writes `body` at `key`, replacing any object already there.
    fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        meta: ObjectMeta,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The bucket, for messages and summaries.
    fn bucket(&self) -> &str;
}

#[derive(Clone, Debug)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Store {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> S3Store {
        S3Store {
            client,
            bucket: bucket.into(),
        }
    }
}

impl ObjectStore for S3Store {
    async fn put(&self, key: &str, body: Vec<u8>, meta: ObjectMeta) -> Result<(), StoreError> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(meta.content_type)
            .body(body.into());
        for (name, value) in meta.metadata {
            request = request.metadata(name, value);
        }
        request.send().await.map_err(|e| StoreError {
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            reason: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
        })?;
        Ok(())
    }

    fn bucket(&self) -> &str {
        &self.bucket
    }
}
