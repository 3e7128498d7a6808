//! Configuration, read once at cold start from the environment, validated, and passed down
//! as a typed struct. Every variable is listed in the README.

use crate::cmc::{QuotesApi, RetryPolicy, Selection, DEFAULT_BASE_URL};
use crate::db::SslMode;
use crate::secret::Secret;
use std::time::Duration;

pub const DEFAULT_SYMBOLS: &str = "BTC,ETH,SOL,BNB,ADA";
pub const DEFAULT_CONVERT: &str = "USD";
pub const DEFAULT_LISTINGS_LIMIT: u32 = 100;

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

/// Every environment variable the load function's configuration reads.
pub const LOAD_VARIABLES: &[&str] = &[
    "BUCKET_NAME",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
    "LOAD_CONCURRENCY",
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

/// Where the CMC API key comes from: the environment for local runs, Secrets Manager in AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiKeySource {
    Value(Secret),
    SecretsManager { secret_id: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestConfig {
    pub bucket: String,
    /// An S3-compatible endpoint for local runs and tests; addressed path-style.
    pub s3_endpoint: Option<String>,
    pub cmc_base_url: String,
    pub api_key: ApiKeySource,
    pub selection: Selection,
    /// Which `quotes/latest` (v3 unless `CMC_QUOTES_API=v2`).
    pub quotes_api: QuotesApi,
    /// One CMC call (or set of calls) per currency: the free plan allows one convert per call.
    pub converts: Vec<String>,
    pub retry: RetryPolicy,
}

impl IngestConfig {
    pub fn from_env() -> Result<IngestConfig, ConfigError> {
        IngestConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`; empty values count as unset.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<IngestConfig, ConfigError> {
        let env = Env(&lookup);
        let bucket = env.get("BUCKET_NAME").ok_or(ConfigError::Missing {
            name: "BUCKET_NAME",
            hint: "name the S3 bucket that receives the snapshots",
        })?;
        let api_key = match (env.get("CMC_API_KEY"), env.get("CMC_API_KEY_SECRET_ARN")) {
            (Some(key), None) => ApiKeySource::Value(Secret::new(key)),
            (None, Some(arn)) => ApiKeySource::SecretsManager { secret_id: arn },
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflict(
                    "both CMC_API_KEY and CMC_API_KEY_SECRET_ARN are set: keep the secret ARN in AWS and the plain key for local runs only",
                ))
            }
            (None, None) => {
                return Err(ConfigError::Missing {
                    name: "CMC_API_KEY",
                    hint: "set CMC_API_KEY (local runs) or CMC_API_KEY_SECRET_ARN (in AWS)",
                })
            }
        };
        let cmc_base_url = env
            .get("CMC_BASE_URL")
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        if !(cmc_base_url.starts_with("https://") || cmc_base_url.starts_with("http://")) {
            return Err(env.invalid(
                "CMC_BASE_URL",
                &cmc_base_url,
                "expected an http:// or https:// URL",
            ));
        }
        let s3_endpoint = env
            .get("AWS_ENDPOINT_URL_S3")
            .or_else(|| env.get("AWS_ENDPOINT_URL"));

        let selection = match env.get("CMC_MODE").as_deref().unwrap_or("quotes") {
            "quotes" => quotes_selection(&env)?,
            "listings" => Selection::Listings {
                limit: env.number("CMC_LISTINGS_LIMIT", DEFAULT_LISTINGS_LIMIT, 1..=5000)?,
                page_size: env.number("CMC_LISTINGS_PAGE_SIZE", 5000, 1..=5000)?,
            },
            other => {
                return Err(env.invalid("CMC_MODE", other, "expected \"quotes\" or \"listings\""))
            }
        };

        let quotes_api = match env.get("CMC_QUOTES_API") {
            None => QuotesApi::default(),
            Some(text) => QuotesApi::parse(&text)
                .ok_or_else(|| env.invalid("CMC_QUOTES_API", &text, "expected \"v3\" or \"v2\""))?,
        };

        let convert_text = env
            .get("CMC_CONVERT")
            .unwrap_or_else(|| DEFAULT_CONVERT.to_owned());
        let mut converts = Vec::new();
        for currency in list(&convert_text).map(|c| c.to_ascii_uppercase()) {
            if !is_currency_code(&currency) {
                return Err(env.invalid(
                    "CMC_CONVERT",
                    &convert_text,
                    "expected currency symbols such as USD or USD,BRL",
                ));
            }
            if !converts.contains(&currency) {
                converts.push(currency);
            }
        }
        if converts.is_empty() {
            return Err(env.invalid("CMC_CONVERT", &convert_text, "name at least one currency"));
        }

        let defaults = RetryPolicy::default();
        let retry = RetryPolicy {
            max_attempts: env.number("CMC_MAX_ATTEMPTS", defaults.max_attempts, 1..=10)?,
            base_delay: Duration::from_millis(
                env.number("CMC_RETRY_BASE_MS", 500, 1..=60_000)?.into(),
            ),
            max_delay: defaults.max_delay,
            request_timeout: Duration::from_millis(
                env.number("CMC_TIMEOUT_MS", 10_000, 100..=300_000)?.into(),
            ),
        };
        Ok(IngestConfig {
            bucket,
            s3_endpoint,
            cmc_base_url,
            api_key,
            selection,
            quotes_api,
            converts,
            retry,
        })
    }
}

/// How the load function reaches PostgreSQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PgConnection {
    /// `DATABASE_URL` (local runs); may hold a password, so it is a secret.
    Url(Secret),
    /// `DB_HOST`, `DB_PORT`, `DB_NAME` and the RDS-managed secret `DB_SECRET_ARN`
    /// (`{"username": ..., "password": ...}`).
    Secret {
        host: String,
        port: u16,
        dbname: String,
        secret_arn: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkConfig {
    Postgres {
        connection: PgConnection,
        /// `DB_SSLMODE`; unset means `verify-full`, or `disable` for a loopback host.
        ssl_mode: Option<SslMode>,
        ca_file: Option<String>,
        /// Apply pending migrations on first connection (`DB_MIGRATE`, default true).
        migrate: bool,
    },
    DataApi {
        cluster_arn: String,
        secret_arn: String,
        database: String,
        /// A Data API endpoint other than AWS's (`AWS_ENDPOINT_URL_RDS_DATA`), for tests.
        endpoint: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadConfig {
    /// The bucket replays read from; S3 notifications name their own.
    pub bucket: String,
    pub s3_endpoint: Option<String>,
    pub sink: SinkConfig,
    /// Files loaded at once during a replay, and database connections kept open.
    pub concurrency: usize,
}

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
        Ok(LoadConfig {
            bucket,
            s3_endpoint,
            sink,
            concurrency,
        })
    }
}

/// Where the API's shared bearer token comes from, if it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// No token: the Function URL's own auth (`AWS_IAM`) guards the API.
    None,
    /// `API_TOKEN`, for local runs.
    Env(Secret),
    /// `API_TOKEN_SECRET_ARN`: a Secrets Manager secret, plain text or `{"token": ...}`.
    SecretArn(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiConfig {
    /// How to read the database; migrations are load's job, so they never run from here.
    pub sink: SinkConfig,
    pub token: TokenSource,
    /// The quote currency pages and requests show when they name none.
    pub default_currency: String,
    /// Health answers 503 once the newest snapshot is older than this.
    pub stale_after: Duration,
}

impl ApiConfig {
    pub fn from_env() -> Result<ApiConfig, ConfigError> {
        ApiConfig::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<ApiConfig, ConfigError> {
        let env = Env(&lookup);
        let sink = sink_config(&env, false)?;
        let token = match (env.get("API_TOKEN"), env.get("API_TOKEN_SECRET_ARN")) {
            (None, None) => TokenSource::None,
            (Some(token), None) if token.len() >= 16 => TokenSource::Env(Secret::new(token)),
            (Some(_), None) => {
                return Err(ConfigError::Invalid {
                    name: "API_TOKEN",
                    value: "[redacted]".to_owned(),
                    reason: "a shared token must be at least 16 characters".to_owned(),
                })
            }
            (None, Some(arn)) => TokenSource::SecretArn(arn),
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflict(
                    "both API_TOKEN and API_TOKEN_SECRET_ARN are set: use API_TOKEN locally, the secret in AWS",
                ))
            }
        };
        let default_currency = env
            .get("API_DEFAULT_CURRENCY")
            .unwrap_or_else(|| DEFAULT_CONVERT.to_owned())
            .to_ascii_uppercase();
        if !is_currency_code(&default_currency) {
            return Err(env.invalid(
                "API_DEFAULT_CURRENCY",
                &default_currency,
                "expected a currency code such as USD",
            ));
        }
        let stale_after = env.number("API_STALE_AFTER_SECONDS", 900, 60..=86_400)?;
        Ok(ApiConfig {
            sink,
            token,
            default_currency,
            stale_after: Duration::from_secs(stale_after.into()),
        })
    }
}

/// A quote currency as CMC names them: 2 to 10 ASCII letters or digits (USD, BRL, BTC).
pub fn is_currency_code(text: &str) -> bool {
    (2..=10).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `DB_SINK` and the variables of the sink it names: shared by load and the API.
/// `DB_MIGRATE` is read only where migrations may run (`migrations_allowed`).
fn sink_config(env: &Env<'_>, migrations_allowed: bool) -> Result<SinkConfig, ConfigError> {
    let required = |name: &'static str, hint: &'static str| {
        env.get(name).ok_or(ConfigError::Missing { name, hint })
    };
    let sink = match env.get("DB_SINK").as_deref().unwrap_or("postgres") {
        "postgres" => {
            let connection = match (env.get("DATABASE_URL"), env.get("DB_HOST")) {
                (Some(url), None) => PgConnection::Url(Secret::new(url)),
                (None, Some(host)) => PgConnection::Secret {
                    host,
                    port: env.number("DB_PORT", 5432, 1..=65535)? as u16,
                    dbname: env.get("DB_NAME").unwrap_or_else(|| "coinlake".to_owned()),
                    secret_arn: required("DB_SECRET_ARN", "name the RDS-managed secret with the database user and password")?,
                },
                (Some(_), Some(_)) => {
                    return Err(ConfigError::Conflict("both DATABASE_URL and DB_HOST are set: use DATABASE_URL locally, DB_HOST with DB_SECRET_ARN in AWS"))
                }
                (None, None) => {
                    return Err(ConfigError::Missing {
                        name: "DATABASE_URL",
                        hint: "set DATABASE_URL (local runs) or DB_HOST, DB_NAME and DB_SECRET_ARN (in AWS)",
                    })
                }
            };
            let ssl_mode = match env.get("DB_SSLMODE").as_deref() {
                None => None,
                Some("disable") => Some(SslMode::Disable),
                Some("verify-full") => Some(SslMode::VerifyFull),
                Some(other) => {
                    return Err(env.invalid(
                        "DB_SSLMODE",
                        other,
                        "expected \"verify-full\" or \"disable\" (loopback hosts only)",
                    ))
                }
            };
            let migrate = migrations_allowed
                && match env.get("DB_MIGRATE").as_deref() {
                    None | Some("true") => true,
                    Some("false") => false,
                    Some(other) => {
                        return Err(env.invalid("DB_MIGRATE", other, "expected true or false"))
                    }
                };
            SinkConfig::Postgres {
                connection,
                ssl_mode,
                ca_file: env.get("DB_CA_FILE"),
                migrate,
            }
        }
        "data-api" => SinkConfig::DataApi {
            cluster_arn: required(
                "DB_CLUSTER_ARN",
                "name the Aurora cluster the Data API writes to",
            )?,
            secret_arn: required(
                "DB_SECRET_ARN",
                "name the secret the Data API authenticates with",
            )?,
            database: env.get("DB_NAME").unwrap_or_else(|| "coinlake".to_owned()),
            endpoint: env.get("AWS_ENDPOINT_URL_RDS_DATA"),
        },
        other => {
            return Err(env.invalid("DB_SINK", other, "expected \"postgres\" or \"data-api\""))
        }
    };
    Ok(sink)
}

fn quotes_selection(env: &Env<'_>) -> Result<Selection, ConfigError> {
    let mut ids = Vec::new();
    let ids_text = env.get("CMC_IDS");
    for item in list(ids_text.as_deref().unwrap_or("")) {
        match item.parse::<i64>() {
            Ok(id) if id > 0 => {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            _ => {
                return Err(env.invalid(
                    "CMC_IDS",
                    ids_text.as_deref().unwrap_or(""),
                    "expected positive CoinMarketCap ids such as 1,1027",
                ))
            }
        }
    }
    if let Some(text) = ids_text.as_deref().filter(|_| ids.is_empty()) {
        return Err(env.invalid(
            "CMC_IDS",
            text,
            "it is set but names no id; unset it or list ids such as 1,1027",
        ));
    }
    // Symbols default only when no ids are given: CMC_IDS alone means exactly those coins.
    let symbols_text = env
        .get("CMC_SYMBOLS")
        .or_else(|| ids.is_empty().then(|| DEFAULT_SYMBOLS.to_owned()));
    let mut symbols = Vec::new();
    for symbol in list(symbols_text.as_deref().unwrap_or("")).map(|s| s.to_ascii_uppercase()) {
        if symbol.len() > 20
            || !symbol
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"$._-".contains(&b))
        {
            return Err(env.invalid(
                "CMC_SYMBOLS",
                symbols_text.as_deref().unwrap_or(""),
                "expected ticker symbols such as BTC,ETH",
            ));
        }
        if !symbols.contains(&symbol) {
            symbols.push(symbol);
        }
    }
    if let Some(text) = env.get("CMC_SYMBOLS").filter(|_| symbols.is_empty()) {
        return Err(env.invalid(
            "CMC_SYMBOLS",
            &text,
            "it is set but names no symbol; unset it or list symbols such as BTC,ETH",
        ));
    }
    if ids.is_empty() && symbols.is_empty() {
        return Err(ConfigError::Conflict(
            "CMC_IDS and CMC_SYMBOLS are both empty: name at least one coin",
        ));
    }
    Ok(Selection::Quotes { ids, symbols })
}

fn list(text: &str) -> impl Iterator<Item = &str> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<IngestConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        IngestConfig::from_lookup(|name| map.get(name).cloned())
    }

    const BASE: [(&str, &str); 2] = [("BUCKET_NAME", "lake"), ("CMC_API_KEY", "k")];

    fn with(extra: &[(&'static str, &'static str)]) -> Result<IngestConfig, ConfigError> {
        let mut vars = BASE.to_vec();
        vars.extend_from_slice(extra);
        config(&vars)
    }

    #[test]
    fn defaults_to_five_symbols_in_usd() {
        let c = with(&[]).unwrap();
        assert_eq!(c.cmc_base_url, DEFAULT_BASE_URL);
        assert_eq!(c.converts, ["USD"]);
        assert_eq!(
            c.selection,
            Selection::Quotes {
                ids: vec![],
                symbols: ["BTC", "ETH", "SOL", "BNB", "ADA"]
                    .map(String::from)
                    .to_vec()
            }
        );
        assert_eq!(c.retry, RetryPolicy::default());
        assert_eq!(c.s3_endpoint, None);
        assert_eq!(c.quotes_api, QuotesApi::V3);
    }

    #[test]
    fn the_legacy_v2_quotes_stay_selectable() {
        assert_eq!(
            with(&[("CMC_QUOTES_API", "V2")]).unwrap().quotes_api,
            QuotesApi::V2
        );
        assert_eq!(
            with(&[("CMC_QUOTES_API", "v3")]).unwrap().quotes_api,
            QuotesApi::V3
        );
    }

    #[test]
    fn ids_alone_mean_only_those_coins() {
        let c = with(&[("CMC_IDS", "1, 1027,1")]).unwrap();
        assert_eq!(
            c.selection,
            Selection::Quotes {
                ids: vec![1, 1027],
                symbols: vec![]
            }
        );
        let c = with(&[("CMC_IDS", "1"), ("CMC_SYMBOLS", "eth")]).unwrap();
        assert_eq!(
            c.selection,
            Selection::Quotes {
                ids: vec![1],
                symbols: vec!["ETH".into()]
            }
        );
    }

    #[test]
    fn reads_listings_mode_currencies_and_endpoints() {
        let c = with(&[
            ("CMC_MODE", "listings"),
            ("CMC_LISTINGS_LIMIT", "250"),
            ("CMC_LISTINGS_PAGE_SIZE", "100"),
            ("CMC_CONVERT", "usd, BRL,USD"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ])
        .unwrap();
        assert_eq!(
            c.selection,
            Selection::Listings {
                limit: 250,
                page_size: 100
            }
        );
        assert_eq!(c.converts, ["USD", "BRL"]);
        assert_eq!(c.s3_endpoint.as_deref(), Some("http://127.0.0.1:5000"));
    }

    #[test]
    fn the_key_comes_from_the_environment_or_a_secret_never_both() {
        let c = config(&[
            ("BUCKET_NAME", "b"),
            ("CMC_API_KEY_SECRET_ARN", "arn:aws:secretsmanager:x"),
        ])
        .unwrap();
        assert_eq!(
            c.api_key,
            ApiKeySource::SecretsManager {
                secret_id: "arn:aws:secretsmanager:x".into()
            }
        );
        assert!(matches!(
            with(&[("CMC_API_KEY_SECRET_ARN", "arn")]),
            Err(ConfigError::Conflict(_))
        ));
        assert!(matches!(
            config(&[("BUCKET_NAME", "b")]),
            Err(ConfigError::Missing {
                name: "CMC_API_KEY",
                ..
            })
        ));
        assert!(matches!(
            config(&[("CMC_API_KEY", "k")]),
            Err(ConfigError::Missing {
                name: "BUCKET_NAME",
                ..
            })
        ));
    }

    #[test]
    fn rejects_bad_values_with_the_variable_named() {
        for (name, value) in [
            ("CMC_MODE", "stream"),
            ("CMC_IDS", "1,abc"),
            ("CMC_IDS", "-5"),
            ("CMC_SYMBOLS", "BTC;DROP TABLE"),
            ("CMC_CONVERT", "US DOLLAR"),
            ("CMC_CONVERT", " , "),
            ("CMC_IDS", " , "),
            ("CMC_SYMBOLS", ",,"),
            ("CMC_LISTINGS_LIMIT", "0"),
            ("CMC_LISTINGS_LIMIT", "5001"),
            ("CMC_MAX_ATTEMPTS", "many"),
            ("CMC_BASE_URL", "ftp://example"),
            ("CMC_QUOTES_API", "v1"),
        ] {
            let mut vars = BASE.to_vec();
            vars.push((name, value));
            if name == "CMC_LISTINGS_LIMIT" {
                vars.push(("CMC_MODE", "listings"));
            }
            let error = config(&vars).expect_err(name).to_string();
            assert!(error.contains(name), "{error}");
        }
    }

    fn api(vars: &[(&str, &str)]) -> Result<ApiConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ApiConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn api_reads_the_database_like_load_but_never_migrates() {
        let c = api(&[("DATABASE_URL", "postgres://u@127.0.0.1/db")]).unwrap();
        assert!(matches!(
            c.sink,
            SinkConfig::Postgres { migrate: false, .. }
        ));
        assert_eq!(c.token, TokenSource::None);
        assert_eq!(c.default_currency, "USD");
        assert_eq!(c.stale_after, Duration::from_secs(900));

        let c = api(&[
            ("DB_SINK", "data-api"),
            ("DB_CLUSTER_ARN", "arn:cluster"),
            ("DB_SECRET_ARN", "arn:secret"),
            ("API_TOKEN_SECRET_ARN", "arn:token"),
            ("API_DEFAULT_CURRENCY", "brl"),
            ("API_STALE_AFTER_SECONDS", "600"),
        ])
        .unwrap();
        assert!(matches!(c.sink, SinkConfig::DataApi { .. }));
        assert_eq!(c.token, TokenSource::SecretArn("arn:token".to_owned()));
        assert_eq!(c.default_currency, "BRL");
        assert_eq!(c.stale_after, Duration::from_secs(600));
    }

    #[test]
    fn api_refuses_bad_tokens_currencies_and_staleness_without_echoing_the_token() {
        let db = ("DATABASE_URL", "postgres://u@127.0.0.1/db");
        let short = api(&[db, ("API_TOKEN", "hunter2")])
            .unwrap_err()
            .to_string();
        assert!(
            short.contains("API_TOKEN") && !short.contains("hunter2"),
            "{short}"
        );
        let both = api(&[
            db,
            ("API_TOKEN", "a-long-enough-shared-token"),
            ("API_TOKEN_SECRET_ARN", "arn:token"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            both.contains("API_TOKEN_SECRET_ARN") && !both.contains("a-long-enough"),
            "{both}"
        );
        for (name, value) in [
            ("API_DEFAULT_CURRENCY", "US DOLLAR"),
            ("API_STALE_AFTER_SECONDS", "5"),
            ("API_STALE_AFTER_SECONDS", "soon"),
        ] {
            let error = api(&[db, (name, value)]).unwrap_err().to_string();
            assert!(error.contains(name), "{error}");
        }
        assert!(api(&[]).unwrap_err().to_string().contains("DATABASE_URL"));
    }

    fn load(vars: &[(&str, &str)]) -> Result<LoadConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LoadConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn load_reads_a_local_url_or_the_aws_parts() {
        let local = load(&[
            ("BUCKET_NAME", "b"),
            ("DATABASE_URL", "postgres://u:pw@127.0.0.1/db"),
        ])
        .unwrap();
        assert_eq!(local.concurrency, 4);
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
        ] {
            let error = load(&vars).expect_err(expected).to_string();
            assert!(
                error.contains(expected),
                "{expected:?} missing from {error}"
            );
        }
    }

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
    }

    #[test]
    fn the_api_key_never_appears_in_the_config_debug_output() {
        let c = config(&[
            ("BUCKET_NAME", "b"),
            ("CMC_API_KEY", "super-secret-key-value"),
        ])
        .unwrap();
        assert!(!format!("{c:?}").contains("super-secret-key-value"));
    }
}
