//! Configuration, read once at cold start from the environment, validated, and passed down
//! as a typed struct. Every variable is listed in the README.
//!
//! One module per function (`ingest`, `klines`, `load`, `compact`, `api`); `database` reads the `DB_*` variables
//! load and the API share into [`crate::db::SinkConfig`], so `config` depends on `db` and
//! never the reverse. Every reader goes through an injected lookup so tests (and the
//! variable-list test below) can drive it without touching the process environment.

mod api;
mod compact;
mod database;
mod ingest;
mod klines;
mod load;

pub use crate::db::{PgConnection, SinkConfig};
pub use api::{ApiConfig, TokenSource};
pub use compact::CompactConfig;
pub use ingest::{ApiKeySource, IngestConfig, DEFAULT_LISTINGS_LIMIT, DEFAULT_SYMBOLS};
pub use klines::{KlinesConfig, DEFAULT_PAIRS};
pub use load::LoadConfig;

/// The quote currency ingest fetches and the API shows when none is named.
pub const DEFAULT_CONVERT: &str = "USD";

/// Every environment variable the ingest function's configuration reads; the template
/// and the README are tested against it.
pub const INGEST_VARIABLES: &[&str] = &[
    "BUCKET_NAME",
    "CMC_API_KEY",
    "CMC_API_KEY_SECRET_ARN",
    "CMC_BASE_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
    "CMC_MODE",
    "CMC_QUOTES_API",
    "CMC_IDS",
    "CMC_SYMBOLS",
    "CMC_LISTINGS_LIMIT",
    "CMC_LISTINGS_PAGE_SIZE",
    "CMC_CONVERT",
    "CMC_MAX_ATTEMPTS",
    "CMC_RETRY_BASE_MS",
    "CMC_TIMEOUT_MS",
];

/// Every environment variable the klines function's configuration reads.
pub const KLINES_VARIABLES: &[&str] = &[
    "BUCKET_NAME",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
    "BINANCE_BASE_URL",
    "KLINES_SYMBOLS",
    "BINANCE_MAX_ATTEMPTS",
    "BINANCE_RETRY_BASE_MS",
    "BINANCE_TIMEOUT_MS",
    "BINANCE_ARCHIVE_URL",
    "BACKFILL_PAIRS_IN_PARALLEL",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_ENDPOINT_URL_LAMBDA",
];

/// Every environment variable the load function's configuration reads.
pub const LOAD_VARIABLES: &[&str] = &[
    "BUCKET_NAME",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
    "LOAD_CONCURRENCY",
    "DB_RETENTION_DAYS",
    "DB_SINK",
    "DATABASE_URL",
    "DB_HOST",
    "DB_PORT",
    "DB_NAME",
    "DB_SECRET_ARN",
    "DB_SSLMODE",
    "DB_MIGRATE",
    "DB_CA_FILE",
    "DB_CLUSTER_ARN",
    "AWS_ENDPOINT_URL_RDS_DATA",
    "ALERT_TOPIC_ARN",
    "AWS_ENDPOINT_URL_SNS",
];

/// Every environment variable the compact function's configuration reads.
pub const COMPACT_VARIABLES: &[&str] = &[
    "BUCKET_NAME",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
    "COMPACT_DAYS_IN_PARALLEL",
    "COMPACT_OBJECTS_IN_PARALLEL",
];

/// Every environment variable the API function's configuration reads.
pub const API_VARIABLES: &[&str] = &[
    "DB_SINK",
    "DATABASE_URL",
    "DB_HOST",
    "DB_PORT",
    "DB_NAME",
    "DB_SECRET_ARN",
    "DB_SSLMODE",
    "DB_CA_FILE",
    "DB_CLUSTER_ARN",
    "AWS_ENDPOINT_URL_RDS_DATA",
    "API_TOKEN",
    "API_TOKEN_SECRET_ARN",
    "API_DEFAULT_CURRENCY",
    "API_STALE_AFTER_SECONDS",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not set: {hint}")]
    Missing {
        name: &'static str,
        hint: &'static str,
    },
    #[error("{name}={value:?} is invalid: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error("{0}")]
    Conflict(&'static str),
}

/// A quote currency as CMC names them: 2 to 10 ASCII letters or digits (USD, BRL, BTC).
pub fn is_currency_code(text: &str) -> bool {
    (2..=10).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The injected lookup (`std::env::var` in the binaries). An empty or blank value counts as
/// unset because template.yaml passes a parameter left at its `""` default (`CmcIds`,
/// `CmcSymbols`) through as an empty variable.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn invalid(&self, name: &'static str, value: &str, reason: &str) -> ConfigError {
        ConfigError::Invalid {
            name,
            value: value.to_owned(),
            reason: reason.to_owned(),
        }
    }

    fn number(
        &self,
        name: &'static str,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<u32, ConfigError> {
        let Some(text) = self.get(name) else {
            return Ok(default);
        };
        match text.parse::<u32>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(self.invalid(
                name,
                &text,
                &format!(
                    "expected a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )),
        }
    }
}

/// A lookup over fixed pairs, for the tests of every configuration; a later pair wins.
#[cfg(test)]
fn lookup_in(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names a configuration read, over every mode.
    fn names_read<C>(
        read: impl Fn(&dyn Fn(&str) -> Option<String>) -> C,
        variants: &[&[(&str, &str)]],
    ) -> Vec<String> {
        let seen = std::cell::RefCell::new(std::collections::BTreeSet::new());
        for vars in variants {
            let lookup = |name: &str| {
                seen.borrow_mut().insert(name.to_owned());
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            };
            let _ = read(&lookup);
        }
        seen.into_inner().into_iter().collect()
    }

    fn sorted(names: &[&str]) -> Vec<String> {
        let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        names.sort();
        names
    }

    #[test]
    fn the_variable_lists_name_exactly_what_the_configurations_read() {
        let ingest = names_read(
            |lookup| IngestConfig::from_lookup(lookup),
            &[
                &[("BUCKET_NAME", "b"), ("CMC_API_KEY", "k")],
                &[
                    ("BUCKET_NAME", "b"),
                    ("CMC_API_KEY", "k"),
                    ("CMC_MODE", "listings"),
                ],
            ],
        );
        assert_eq!(ingest, sorted(INGEST_VARIABLES));
        let load = names_read(
            |lookup| LoadConfig::from_lookup(lookup),
            &[
                &[("BUCKET_NAME", "b"), ("DATABASE_URL", "postgres://h/d")],
                &[
                    ("BUCKET_NAME", "b"),
                    ("DB_HOST", "h"),
                    ("DB_SECRET_ARN", "s"),
                ],
                &[
                    ("BUCKET_NAME", "b"),
                    ("DB_SINK", "data-api"),
                    ("DB_CLUSTER_ARN", "c"),
                    ("DB_SECRET_ARN", "s"),
                ],
            ],
        );
        assert_eq!(load, sorted(LOAD_VARIABLES));
        let api = names_read(
            |lookup| ApiConfig::from_lookup(lookup),
            &[
                &[("DATABASE_URL", "postgres://h/d"), ("API_TOKEN", "t")],
                &[("DB_HOST", "h"), ("DB_SECRET_ARN", "s")],
                &[
                    ("DB_SINK", "data-api"),
                    ("DB_CLUSTER_ARN", "c"),
                    ("DB_SECRET_ARN", "s"),
                ],
            ],
        );
        assert_eq!(api, sorted(API_VARIABLES));
        let compact = names_read(
            |lookup| CompactConfig::from_lookup(lookup),
            &[&[("BUCKET_NAME", "b")]],
        );
        assert_eq!(compact, sorted(COMPACT_VARIABLES));
        let klines = names_read(
            |lookup| KlinesConfig::from_lookup(lookup),
            &[&[("BUCKET_NAME", "b")]],
        );
        assert_eq!(klines, sorted(KLINES_VARIABLES));
    }
}
