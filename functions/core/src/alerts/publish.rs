//! Publishing one alert to SNS: the [`Publisher`] the outbox delivers through, and its
//! `aws-sdk-sns` implementation, which retries transient failures within the deadline.

use super::notification::Notification;
use crate::retry::{retry, RetryError, RetryPolicy, MIN_ATTEMPT};
use aws_sdk_sns::config::http::HttpResponse;
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;
use std::future::Future;
use std::time::{Duration, Instant};

/// A publish that did not succeed. `detail` names the service's code and message or the
/// transport failure; it never holds credentials (the SDK's error carries none).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("SNS Publish failed{}: {detail}", gave_up(*attempts, *why))]
pub struct PublishError {
    pub detail: String,
    /// Whether another attempt could succeed: throttling, a 5xx, a timeout, no connection.
    pub transient: bool,
    pub attempts: u32,
    why: Option<&'static str>,
}

fn gave_up(attempts: u32, why: Option<&'static str>) -> String {
    match why {
        Some(why) => format!(" after {attempts} attempts ({why})"),
        None => String::new(),
    }
}

impl PublishError {
    pub fn new(detail: impl Into<String>, transient: bool) -> PublishError {
        PublishError {
            detail: detail.into(),
            transient,
            attempts: 1,
            why: None,
        }
    }
}

impl RetryError for PublishError {
    fn is_transient(&self) -> bool {
        self.transient
    }

    fn gave_up(mut last: Self, attempts: u32, why: &'static str) -> Self {
        last.attempts = attempts;
        last.why = Some(why);
        last
    }
}

/// Where alerts go. The outbox calls it once per claimed event; an `Ok` is SNS's message
/// id, after which the event is marked sent.
pub trait Publisher: Send + Sync {
    fn publish(
        &self,
        notification: &Notification,
        deadline: Instant,
    ) -> impl Future<Output = Result<String, PublishError>> + Send;
}

/// Error codes SNS answers when it is busy or failing on its side (its service model's
/// `Throttled`/`KMSThrottling`/`InternalError`, and the SDKs' generic throttling codes).
const TRANSIENT_CODES: &[&str] = &[
    "Throttled",
    "ThrottlingException",
    "Throttling",
    "KMSThrottling",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "RequestTimeout",
];

/// Publishes to one topic. The client is built with the SDK's retries off
/// ([`crate::aws::sns_client`]): retrying here, by [`crate::retry`], keeps every attempt
/// inside the invocation's deadline and logs each one.
#[derive(Clone, Debug)]
pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
    policy: RetryPolicy,
}

impl SnsPublisher {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> SnsPublisher {
        SnsPublisher {
            client,
            topic_arn: topic_arn.into(),
            policy: RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(2),
                request_timeout: Duration::from_secs(5),
            },
        }
    }

    /// The same publisher with another retry policy (tests shorten the waits).
    pub fn with_policy(mut self, policy: RetryPolicy) -> SnsPublisher {
        self.policy = policy;
        self
    }

    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }

    async fn attempt(
        &self,
        notification: &Notification,
        deadline: Instant,
    ) -> Result<String, PublishError> {
        let Some(timeout) = RetryPolicy::attempt_timeout(self.policy.request_timeout, deadline)
        else {
            return Err(PublishError::new(
                format!(
                    "less than {} ms left before the deadline",
                    MIN_ATTEMPT.as_millis()
                ),
                false,
            ));
        };
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&notification.subject)
            .message(&notification.body);
        for (name, value) in &notification.attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| PublishError::new(format!("attribute {name}: {e}"), false))?;
            request = request.message_attributes(*name, value);
        }
        let sent = tokio::time::timeout(timeout, request.send())
            .await
            .map_err(|_| {
                PublishError::new(format!("no reply within {} ms", timeout.as_millis()), true)
            })?;
        match sent {
            Ok(output) => output
                .message_id
                .filter(|id| !id.is_empty())
                .ok_or_else(|| PublishError::new("the reply has no MessageId", false)),
            Err(error) => Err(classify(error)),
        }
    }
}

fn classify<E>(error: SdkError<E, HttpResponse>) -> PublishError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let transient = match &error {
        SdkError::ServiceError(service) => {
            service.raw().status().is_server_error()
                || TRANSIENT_CODES.contains(&service.err().code().unwrap_or(""))
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            true
        }
        _ => false,
    };
    PublishError::new(DisplayErrorContext(&error).to_string(), transient)
}

impl Publisher for SnsPublisher {
    async fn publish(
        &self,
        notification: &Notification,
        deadline: Instant,
    ) -> Result<String, PublishError> {
        retry(
            &self.policy,
            deadline,
            || self.attempt(notification, deadline),
            |error: &PublishError, wait| {
                tracing::warn!(
                    event_id = notification.event_id,
                    error = %error,
                    retry_in_ms = wait.as_millis() as u64,
                    "SNS publish failed; retrying"
                );
            },
        )
        .await
        .map(|done| done.value)
    }
}
