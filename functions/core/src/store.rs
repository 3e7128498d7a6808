//! The object store the snapshots go to: a narrow trait, implemented on S3.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::future::Future;
use tokio::io::AsyncRead;

/// What is written besides the bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    pub content_type: &'static str,
    /// User metadata (`x-amz-meta-*`), lowercase keys.
    pub metadata: Vec<(String, String)>,
}

/// `reason`: the cause and what lies beneath it, in one line (the SDK's own message says
/// only "dispatch failure"); `source` is that cause, for code that needs more.
#[derive(Debug, thiserror::Error)]
#[error("could not write s3://{bucket}/{key}: {reason}")]
pub struct StoreError {
    pub bucket: String,
    pub key: String,
    pub reason: String,
    pub source: Box<dyn std::error::Error + Send + Sync>,
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

/// Writes `body` at `key`, giving up at `deadline` so a hung write ends as a [`StoreError`]
/// the caller can report, not as a Lambda timeout mid-write.
pub async fn put_before(
    store: &impl ObjectStore,
    key: &str,
    body: Vec<u8>,
    meta: ObjectMeta,
    deadline: std::time::Instant,
) -> Result<(), StoreError> {
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    match tokio::time::timeout(left, store.put(key, body, meta)).await {
        Ok(written) => written,
        Err(elapsed) => Err(StoreError {
            bucket: store.bucket().to_owned(),
            key: key.to_owned(),
            reason: "the write did not finish before the invocation's deadline".to_owned(),
            source: Box::new(elapsed),
        }),
    }
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
            source: Box::new(e),
        })?;
        Ok(())
    }

    fn bucket(&self) -> &str {
        &self.bucket
    }
}

/// An object opened for reading: its body as a stream, and its user metadata.
pub struct Opened {
    pub body: Box<dyn AsyncRead + Send + Unpin>,
    pub metadata: HashMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("s3://{bucket}/{key} does not exist")]
    NotFound { bucket: String, key: String },
    /// `reason`: the cause and what lies beneath it, in one line (the SDK's own message
    /// says only "dispatch failure").
    #[error("could not read s3://{bucket}/{key}: {reason}")]
    Other {
        bucket: String,
        key: String,
        reason: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// What the bucket's listing tells of an object that exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub last_modified: DateTime<Utc>,
    pub size: u64,
}

/// One object of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub info: ObjectInfo,
}

impl ReadError {
    /// An S3 call's failure on `key` (or a listing's prefix), with the SDK's whole cause
    /// chain as the reason.
    fn from_sdk<E>(bucket: &str, key: &str, error: E) -> ReadError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        ReadError::Other {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            reason: aws_sdk_s3::error::DisplayErrorContext(&error).to_string(),
            source: Box::new(error),
        }
    }
}

/// Reading objects back: what the load and compact functions need of the bucket.
pub trait ObjectReader: Send + Sync {
    /// The object's date and size, or `None` when there is no such object.
    fn stat(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<ObjectInfo>, ReadError>> + Send;

    fn open(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Opened, ReadError>> + Send;

    /// Every object under `prefix`, with its date and size, sorted by key.
    fn list_dated(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<Listed>, ReadError>> + Send;

    /// Every key under `prefix`, sorted.
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, ReadError>> + Send {
        async move {
            let listed = self.list_dated(bucket, prefix).await?;
            Ok(listed.into_iter().map(|l| l.key).collect())
        }
    }

    /// The object's user metadata (`x-amz-meta-*`, lowercase keys), or `None` when there is
    /// no such object. By default from a GET whose body is left unread.
    fn metadata(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<HashMap<String, String>>, ReadError>> + Send {
        async move {
            match self.open(bucket, key).await {
                Ok(opened) => Ok(Some(opened.metadata)),
                Err(ReadError::NotFound { .. }) => Ok(None),
                Err(error) => Err(error),
            }
        }
    }
}

/// Reads from any bucket the client may access (S3 events name their bucket).
#[derive(Clone, Debug)]
pub struct S3Reader {
    client: aws_sdk_s3::Client,
}

impl S3Reader {
    pub fn new(client: aws_sdk_s3::Client) -> S3Reader {
        S3Reader { client }
    }
}

impl ObjectReader for S3Reader {
    /// A listing with the key as its prefix, not a HEAD: with `s3:ListBucket` granted only
    /// for some prefixes (as the functions' policies do), S3 answers a HEAD of a missing key
    /// with 403, indistinguishable from a real denial, while the listing answers.
    async fn stat(&self, bucket: &str, key: &str) -> Result<Option<ObjectInfo>, ReadError> {
        let listed = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(key)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| ReadError::from_sdk(bucket, key, e))?;
        Ok(listed
            .contents()
            .iter()
            .find(|o| o.key() == Some(key))
            .map(object_info))
    }

    async fn open(&self, bucket: &str, key: &str) -> Result<Opened, ReadError> {
        let output = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                let not_found = e.as_service_error().is_some_and(|s| s.is_no_such_key());
                if not_found {
                    ReadError::NotFound {
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                    }
                } else {
                    ReadError::from_sdk(bucket, key, e)
                }
            })?;
        let metadata = output.metadata.clone().unwrap_or_default();
        Ok(Opened {
            body: Box::new(output.body.into_async_read()),
            metadata,
        })
    }

    /// A HEAD. Its 404 needs `s3:ListBucket` on the bucket (without it S3 answers 403),
    /// which the load function, the one caller, has.
    async fn metadata(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<HashMap<String, String>>, ReadError> {
        match self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => Ok(Some(output.metadata.unwrap_or_default())),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(ReadError::from_sdk(bucket, key, e)),
        }
    }

    async fn list_dated(&self, bucket: &str, prefix: &str) -> Result<Vec<Listed>, ReadError> {
        let mut listed = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| ReadError::from_sdk(bucket, prefix, e))?;
            listed.extend(page.contents().iter().filter_map(|o| {
                Some(Listed {
                    key: o.key()?.to_owned(),
                    info: object_info(o),
                })
            }));
        }
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(listed)
    }
}

/// A date S3 did not give counts as the oldest: a caller deciding whether the object is
/// stale then errs towards redoing the work.
fn object_info(object: &aws_sdk_s3::types::Object) -> ObjectInfo {
    ObjectInfo {
        last_modified: object
            .last_modified()
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()))
            .unwrap_or(DateTime::<Utc>::MIN_UTC),
        size: object.size().unwrap_or(0).max(0) as u64,
    }
}
