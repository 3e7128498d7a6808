//! AWS clients and Secrets Manager reads, configured once per cold start.

use crate::secret::Secret;
use aws_config::SdkConfig;

/// The shared SDK configuration from the standard chain (environment, profile, the
/// Lambda role's credentials).
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// An S3 client; with an `endpoint` (a local S3-compatible server) it addresses buckets
/// path-style, since such servers rarely resolve `bucket.host` names.
pub fn s3_client(sdk: &SdkConfig, endpoint: Option<&str>) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(sdk);
    if let Some(url) = endpoint {
        builder = builder.endpoint_url(url).force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// An RDS Data API client; `endpoint` points it at another Data API (tests). The SDK's own
/// retries are off: they would repeat a `CommitTransaction` that answered 504 (the commit
/// may have happened) and never retry `DatabaseResumingException` (a 400), so every call
/// goes through `data_api::call`, which knows both.
pub fn rds_data_client(sdk: &SdkConfig, endpoint: Option<&str>) -> aws_sdk_rdsdata::Client {
    let mut builder = aws_sdk_rdsdata::config::Builder::from(sdk)
        .retry_config(aws_config::retry::RetryConfig::disabled());
    if let Some(url) = endpoint {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_rdsdata::Client::from_conf(builder.build())
}

/// An SNS client for alert delivery; `endpoint` points it at another SNS (tests). The
/// SDK's own retries are off: `alerts::publish` retries within the invocation's deadline.
pub fn sns_client(sdk: &SdkConfig, endpoint: Option<&str>) -> aws_sdk_sns::Client {
    let mut builder = aws_sdk_sns::config::Builder::from(sdk)
        .retry_config(aws_config::retry::RetryConfig::disabled());
    if let Some(url) = endpoint {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_sns::Client::from_conf(builder.build())
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// `reason`: the SDK error and its causes in one line; `source`: that error. Neither
    /// holds the secret's value: the read failed before there was one.
    #[error("could not read secret {secret_id}: {reason}")]
    Read {
        secret_id: String,
        reason: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("secret {secret_id} has no SecretString (binary secrets are not supported)")]
    NotAString { secret_id: String },
    #[error("secret {secret_id} is empty")]
    Empty { secret_id: String },
    #[error("secret {secret_id} has no string field {field:?}: store it as JSON with {{\"{field}\": \"...\"}}")]
    MissingField {
        secret_id: String,
        field: &'static str,
    },
}

/// Reads a secret's string value.
pub async fn read_secret(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<Secret, SecretError> {
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| SecretError::Read {
            secret_id: secret_id.to_owned(),
            reason: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
            source: Box::new(e),
        })?;
    let value = output
        .secret_string
        .ok_or_else(|| SecretError::NotAString {
            secret_id: secret_id.to_owned(),
        })?;
    Ok(Secret::new(value))
}

/// The CMC API key from a secret stored either as the plain key or as `{"api_key": "..."}`.
pub fn api_key_from_secret(secret_id: &str, value: &Secret) -> Result<Secret, SecretError> {
    plain_or_field(secret_id, value, "api_key")
}

/// The API's shared bearer token, stored as the plain token or as `{"token": "..."}`.
pub fn token_from_secret(secret_id: &str, value: &Secret) -> Result<Secret, SecretError> {
    plain_or_field(secret_id, value, "token")
}

fn plain_or_field(
    secret_id: &str,
    value: &Secret,
    field: &'static str,
) -> Result<Secret, SecretError> {
    let text = value.expose().trim();
    if text.is_empty() {
        return Err(SecretError::Empty {
            secret_id: secret_id.to_owned(),
        });
    }
    if !text.starts_with('{') {
        return Ok(Secret::new(text));
    }
    let missing = || SecretError::MissingField {
        secret_id: secret_id.to_owned(),
        field,
    };
    let json: serde_json::Value = serde_json::from_str(text).map_err(|_| missing())?;
    match json.get(field).and_then(|v| v.as_str()).map(str::trim) {
        Some(key) if !key.is_empty() => Ok(Secret::new(key)),
        _ => Err(missing()),
    }
}

/// The user and password of an RDS-managed database secret
/// (`{"username": "...", "password": "...", ...}`).
pub fn db_credentials_from_secret(
    secret_id: &str,
    value: &Secret,
) -> Result<(String, Secret), SecretError> {
    let json: serde_json::Value =
        serde_json::from_str(value.expose()).map_err(|_| SecretError::MissingField {
            secret_id: secret_id.to_owned(),
            field: "username",
        })?;
    let field = |name: &'static str| {
        json.get(name)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or(SecretError::MissingField {
                secret_id: secret_id.to_owned(),
                field: name,
            })
    };
    Ok((field("username")?, Secret::new(field("password")?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(value: &str) -> Result<String, String> {
        api_key_from_secret("arn:s", &Secret::new(value))
            .map(|s| s.expose().to_owned())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn reads_plain_and_json_secrets() {
        assert_eq!(key("abc-123\n").unwrap(), "abc-123");
        assert_eq!(
            key(r#"{"api_key": "abc-123", "note": "x"}"#).unwrap(),
            "abc-123"
        );
    }

    #[test]
    fn reads_rds_managed_database_secrets() {
        let secret = Secret::new(
            r#"{"username": "coinlake", "password": "p@ss:w0rd", "engine": "postgres"}"#,
        );
        let (user, password) = db_credentials_from_secret("arn:db", &secret).unwrap();
        assert_eq!(
            (user.as_str(), password.expose()),
            ("coinlake", "p@ss:w0rd")
        );
        for shape in [
            r#"{"username": "u"}"#,
            r#"{"password": "p@ss"}"#,
            "p@ss",
            r#"{"username": "", "password": "p@ss"}"#,
        ] {
            let error = db_credentials_from_secret("arn:db", &Secret::new(shape))
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("arn:db") && !error.contains("p@ss"),
                "{error}"
            );
        }
    }

    #[test]
    fn refuses_empty_and_wrongly_shaped_secrets_without_echoing_them() {
        assert!(key("  ").unwrap_err().contains("is empty"));
        let error = key(r#"{"key": "abc-123"}"#).unwrap_err();
        assert!(
            error.contains("api_key") && !error.contains("abc-123"),
            "{error}"
        );
        let error = key(r#"{"api_key": 42}"#).unwrap_err();
        assert!(error.contains("api_key"), "{error}");
        let error = key(r#"{not json abc-123"#).unwrap_err();
        assert!(!error.contains("abc-123"), "{error}");
    }
}
