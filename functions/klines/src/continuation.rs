//! Continuing a backfill too long for one invocation: the function invokes itself
//! asynchronously (`InvocationType: Event`) with what is left, so a range of any length
//! finishes without a person or a state machine driving it.

use crate::event::BackfillEvent;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;

/// Invokes this function with the next part of a backfill.
pub struct SelfInvoker {
    client: aws_sdk_lambda::Client,
    function_name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ContinuationError {
    #[error("the backfill needs another invocation, but the function does not know its own name (AWS_LAMBDA_FUNCTION_NAME is unset: outside Lambda, run what is left by hand)")]
    NoFunctionName,
    #[error("could not invoke {function} to continue the backfill: {reason}")]
    Invoke { function: String, reason: String },
    #[error(
        "invoking {function} to continue the backfill answered HTTP {status}, not 202 Accepted"
    )]
    NotAccepted { function: String, status: i32 },
}

impl SelfInvoker {
    /// `endpoint` points the client at another Lambda API (tests).
    pub fn new(
        sdk: &aws_config::SdkConfig,
        endpoint: Option<&str>,
        function_name: Option<String>,
    ) -> SelfInvoker {
        let mut builder = aws_sdk_lambda::config::Builder::from(sdk);
        if let Some(url) = endpoint {
            builder = builder.endpoint_url(url);
        }
        SelfInvoker {
            client: aws_sdk_lambda::Client::from_conf(builder.build()),
            function_name,
        }
    }

    /// Queues `next` as an asynchronous invocation of this function. Lambda accepts it
    /// (202) once it is stored; it then runs, and retries, like any asynchronous event.
    pub async fn continue_with(&self, next: &BackfillEvent) -> Result<(), ContinuationError> {
        let function = self
            .function_name
            .clone()
            .ok_or(ContinuationError::NoFunctionName)?;
        let payload = serde_json::to_vec(next).map_err(|e| ContinuationError::Invoke {
            function: function.clone(),
            reason: e.to_string(),
        })?;
        let reply = self
            .client
            .invoke()
            .function_name(&function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|e| ContinuationError::Invoke {
                function: function.clone(),
                reason: aws_sdk_lambda::error::DisplayErrorContext(&e).to_string(),
            })?;
        match reply.status_code() {
            202 => Ok(()),
            status => Err(ContinuationError::NotAccepted { function, status }),
        }
    }
}
