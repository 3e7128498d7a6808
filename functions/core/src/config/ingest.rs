//! The ingest function's configuration: the bucket, the CMC key, which coins, which
//! currencies, and how patiently to call CMC.

use super::{is_currency_code, ConfigError, Env, DEFAULT_CONVERT};
use crate::cmc::{QuotesApi, RetryPolicy, Selection, DEFAULT_BASE_URL};
use crate::secret::Secret;
use std::time::Duration;

pub const DEFAULT_SYMBOLS: &str = "BTC,ETH,SOL,BNB,ADA";
pub const DEFAULT_LISTINGS_LIMIT: u32 = 100;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lookup_in;

    fn config(vars: &[(&str, &str)]) -> Result<IngestConfig, ConfigError> {
        IngestConfig::from_lookup(lookup_in(vars))
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
