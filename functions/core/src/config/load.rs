//! The load function's configuration: the bucket replays read, the database it writes, how
//! many files it loads at once, and how long PostgreSQL keeps the raw quotes.

use super::{database::sink_config, ConfigError, Env};
use crate::db::SinkConfig;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadConfig {
    /// The bucket replays read from; S3 notifications name their own.
    pub bucket: String,
    pub s3_endpoint: Option<String>,
    pub sink: SinkConfig,
    /// Files loaded at once during a replay, and database connections kept open.
    pub concurrency: usize,
    /// `DB_RETENTION_DAYS`: a month of `quotes` whose every day is older than this many days
    /// (and verified in S3) may be dropped; `None` keeps everything.
    pub retention_days: Option<u32>,
    /// `ALERT_TOPIC_ARN`: the SNS topic alerts are published to; `None` records them in
    /// `alert_events` without delivering them.
    pub alert_topic_arn: Option<String>,
    /// `AWS_ENDPOINT_URL_SNS` (or `AWS_ENDPOINT_URL`): another SNS, for local runs and tests.
    pub sns_endpoint: Option<String>,
}

/// The shortest retention: the dashboard's hourly chart shows the last 7 days by default and
/// `price_moving_averages` reaches 7 days back, both from the raw rows. Months go whole, so
/// PostgreSQL still holds between this and a month more.
pub const MIN_RETENTION_DAYS: u32 = 7;
/// A hundred years: past it the number is a typo, not a policy.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

impl LoadConfig {
    pub fn from_env() -> Result<LoadConfig, ConfigError> {
        LoadConfig::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<LoadConfig, ConfigError> {
        let env = Env(&lookup);
        let bucket = env.get("BUCKET_NAME").ok_or(ConfigError::Missing {
            name: "BUCKET_NAME",
            hint: "name the S3 bucket that holds the snapshots",
        })?;
        let s3_endpoint = env
            .get("AWS_ENDPOINT_URL_S3")
            .or_else(|| env.get("AWS_ENDPOINT_URL"));
        let concurrency = env.number("LOAD_CONCURRENCY", 4, 1..=32)? as usize;
        let sink = sink_config(&env, true)?;
        let retention_days = match env.get("DB_RETENTION_DAYS") {
            None => None,
            Some(_) => Some(env.number(
                "DB_RETENTION_DAYS",
                MIN_RETENTION_DAYS,
                MIN_RETENTION_DAYS..=MAX_RETENTION_DAYS,
            )?),
        };
        let alert_topic_arn = env
            .get("ALERT_TOPIC_ARN")
            .map(|arn| {
                if is_sns_topic_arn(&arn) {
                    Ok(arn)
                } else {
                    Err(env.invalid(
                        "ALERT_TOPIC_ARN",
                        &arn,
                        "expected an SNS topic ARN like arn:aws:sns:us-east-1:123456789012:coinlake-alerts",
                    ))
                }
            })
            .transpose()?;
        let sns_endpoint = env
            .get("AWS_ENDPOINT_URL_SNS")
            .or_else(|| env.get("AWS_ENDPOINT_URL"));
        Ok(LoadConfig {
            bucket,
            s3_endpoint,
            sink,
            concurrency,
            retention_days,
            alert_topic_arn,
            sns_endpoint,
        })
    }
}

/// `arn:<partition>:sns:<region>:<account>:<name>`, each part present.
fn is_sns_topic_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "sns"
        && parts.iter().all(|part| !part.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lookup_in;
    use crate::db::{PgConnection, SslMode};

    fn load(vars: &[(&str, &str)]) -> Result<LoadConfig, ConfigError> {
        LoadConfig::from_lookup(lookup_in(vars))
    }

    #[test]
    fn load_reads_a_local_url_or_the_aws_parts() {
        let local = load(&[
            ("BUCKET_NAME", "b"),
            ("DATABASE_URL", "postgres://u:pw@127.0.0.1/db"),
        ])
        .unwrap();
        assert_eq!(local.concurrency, 4);
        assert_eq!(local.retention_days, None);
        assert!(matches!(
            local.sink,
            SinkConfig::Postgres {
                connection: PgConnection::Url(_),
                ssl_mode: None,
                migrate: true,
                ..
            }
        ));
        assert!(
            !format!("{local:?}").contains("pw"),
            "the URL's password must not show"
        );
        let aws = load(&[
            ("BUCKET_NAME", "b"),
            ("DB_HOST", "db.x.rds.amazonaws.com"),
            ("DB_SECRET_ARN", "arn:s"),
            ("DB_SSLMODE", "verify-full"),
        ])
        .unwrap();
        assert_eq!(
            aws.sink,
            SinkConfig::Postgres {
                connection: PgConnection::Secret {
                    host: "db.x.rds.amazonaws.com".into(),
                    port: 5432,
                    dbname: "coinlake".into(),
                    secret_arn: "arn:s".into()
                },
                ssl_mode: Some(SslMode::VerifyFull),
                ca_file: None,
                migrate: true,
            }
        );
        let data_api = load(&[
            ("BUCKET_NAME", "b"),
            ("DB_SINK", "data-api"),
            ("DB_CLUSTER_ARN", "arn:c"),
            ("DB_SECRET_ARN", "arn:s"),
        ])
        .unwrap();
        assert!(
            matches!(data_api.sink, SinkConfig::DataApi { ref database, .. } if database == "coinlake")
        );
    }

    #[test]
    fn the_alert_topic_is_optional_and_must_be_an_sns_topic_arn() {
        let with = |arn: &str| {
            load(&[
                ("BUCKET_NAME", "b"),
                ("DATABASE_URL", "postgres://h/db"),
                ("ALERT_TOPIC_ARN", arn),
            ])
        };
        assert_eq!(with("").unwrap().alert_topic_arn, None);
        let arn = "arn:aws:sns:eu-west-1:123456789012:coinlake-alerts";
        assert_eq!(with(arn).unwrap().alert_topic_arn.as_deref(), Some(arn));
        for refused in [
            "coinlake-alerts",
            "arn:aws:sqs:eu-west-1:123456789012:q",
            "arn:aws:sns:eu-west-1:123456789012:",
            "arn:aws:sns:eu-west-1:123456789012:t:sub",
        ] {
            let error = with(refused).expect_err(refused).to_string();
            assert!(error.contains("ALERT_TOPIC_ARN"), "{error}");
        }
    }

    #[test]
    fn retention_is_off_unless_set_and_then_at_least_a_week() {
        let with = |days: &str| {
            load(&[
                ("BUCKET_NAME", "b"),
                ("DATABASE_URL", "postgres://h/db"),
                ("DB_RETENTION_DAYS", days),
            ])
        };
        assert_eq!(with("").unwrap().retention_days, None);
        assert_eq!(with("7").unwrap().retention_days, Some(7));
        assert_eq!(with(" 90 ").unwrap().retention_days, Some(90));
        for refused in ["0", "6", "-1", "1.5", "ninety", "36501"] {
            assert!(with(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn load_refuses_incomplete_or_unknown_database_settings() {
        for (vars, expected) in [
            (vec![("BUCKET_NAME", "b")], "DATABASE_URL"),
            (
                vec![("BUCKET_NAME", "b"), ("DB_HOST", "h")],
                "DB_SECRET_ARN",
            ),
            (
                vec![
                    ("BUCKET_NAME", "b"),
                    ("DATABASE_URL", "postgres://h/db"),
                    ("DB_HOST", "h"),
                ],
                "DATABASE_URL and DB_HOST",
            ),
            (
                vec![
                    ("BUCKET_NAME", "b"),
                    ("DATABASE_URL", "postgres://h/db"),
                    ("DB_SSLMODE", "prefer"),
                ],
                "DB_SSLMODE",
            ),
            (vec![("BUCKET_NAME", "b"), ("DB_SINK", "mysql")], "DB_SINK"),
            (
                vec![
                    ("BUCKET_NAME", "b"),
                    ("DB_SINK", "data-api"),
                    ("DB_SECRET_ARN", "s"),
                ],
                "DB_CLUSTER_ARN",
            ),
            (
                vec![
                    ("BUCKET_NAME", "b"),
                    ("DATABASE_URL", "postgres://h/db"),
                    ("LOAD_CONCURRENCY", "0"),
                ],
                "LOAD_CONCURRENCY",
            ),
            (vec![("DATABASE_URL", "postgres://h/db")], "BUCKET_NAME"),
            (
                vec![
                    ("BUCKET_NAME", "b"),
                    ("DATABASE_URL", "postgres://h/db"),
                    ("DB_RETENTION_DAYS", "6"),
                ],
                "DB_RETENTION_DAYS=\"6\" is invalid: expected a whole number from 7 to 36500",
            ),
        ] {
            let error = load(&vars).expect_err(expected).to_string();
            assert!(
                error.contains(expected),
                "{expected:?} missing from {error}"
            );
        }
    }
}
