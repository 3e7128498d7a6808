//! The klines function's configuration: the bucket, the Binance host, which pairs, how
//! patiently to call Binance, and for backfills the archive host and how the function
//! reaches itself to continue.

use super::{ConfigError, Env};
use crate::binance::{RetryPolicy, DEFAULT_ARCHIVE_URL, DEFAULT_BASE_URL};
use crate::layout::is_pair_symbol;
use std::time::Duration;

pub const DEFAULT_PAIRS: &str = "BTCUSDT,ETHUSDT,SOLUSDT,BNBUSDT,ADAUSDT";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KlinesConfig {
    pub bucket: String,
    /// An S3-compatible endpoint for local runs and tests; addressed path-style.
    pub s3_endpoint: Option<String>,
    pub binance_base_url: String,
    /// Binance spot pairs (`BTCUSDT`), in the order configured, each once.
    pub pairs: Vec<String>,
    pub retry: RetryPolicy,
    /// Binance's public archive (`data.binance.vision`), for backfills.
    pub archive_url: String,
    /// Pairs a backfill fetches at once; each holds up to a month's zip in memory.
    pub backfill_pairs_in_parallel: usize,
    /// This function's own name (`AWS_LAMBDA_FUNCTION_NAME`, set by Lambda), which a
    /// backfill too long for one invocation invokes to continue; `None` outside Lambda.
    pub function_name: Option<String>,
    /// A Lambda-compatible endpoint for tests; the SDK's default elsewhere.
    pub lambda_endpoint: Option<String>,
}

impl KlinesConfig {
    pub fn from_env() -> Result<KlinesConfig, ConfigError> {
        KlinesConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`; empty values count as unset.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<KlinesConfig, ConfigError> {
        let env = Env(&lookup);
        let bucket = env.get("BUCKET_NAME").ok_or(ConfigError::Missing {
            name: "BUCKET_NAME",
            hint: "name the S3 bucket that receives the klines",
        })?;
        let s3_endpoint = env
            .get("AWS_ENDPOINT_URL_S3")
            .or_else(|| env.get("AWS_ENDPOINT_URL"));
        let binance_base_url = env
            .get("BINANCE_BASE_URL")
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let http_url = |name: &'static str, url: &str| {
            if url.starts_with("https://") || url.starts_with("http://") {
                Ok(())
            } else {
                Err(env.invalid(name, url, "expected an http:// or https:// URL"))
            }
        };
        http_url("BINANCE_BASE_URL", &binance_base_url)?;
        let archive_url = env
            .get("BINANCE_ARCHIVE_URL")
            .unwrap_or_else(|| DEFAULT_ARCHIVE_URL.to_owned());
        http_url("BINANCE_ARCHIVE_URL", &archive_url)?;
        let backfill_pairs_in_parallel =
            env.number("BACKFILL_PAIRS_IN_PARALLEL", 2, 1..=8)? as usize;
        let function_name = env.get("AWS_LAMBDA_FUNCTION_NAME");
        let lambda_endpoint = env
            .get("AWS_ENDPOINT_URL_LAMBDA")
            .or_else(|| env.get("AWS_ENDPOINT_URL"));

        let pairs_text = env
            .get("KLINES_SYMBOLS")
            .unwrap_or_else(|| DEFAULT_PAIRS.to_owned());
        let mut pairs: Vec<String> = Vec::new();
        for pair in pairs_text.split(',').map(str::trim) {
            if !is_pair_symbol(pair) {
                return Err(env.invalid(
                    "KLINES_SYMBOLS",
                    &pairs_text,
                    &format!("{pair:?} is not a Binance spot pair; expected upper-case pairs such as BTCUSDT,ETHUSDT"),
                ));
            }
            // A repeat would fetch and write the same klines twice in one object.
            if pairs.iter().any(|p| p == pair) {
                return Err(env.invalid(
                    "KLINES_SYMBOLS",
                    &pairs_text,
                    &format!("{pair} is listed twice; name each pair once"),
                ));
            }
            pairs.push(pair.to_owned());
        }

        let defaults = RetryPolicy::default();
        let retry = RetryPolicy {
            max_attempts: env.number("BINANCE_MAX_ATTEMPTS", defaults.max_attempts, 1..=10)?,
            base_delay: Duration::from_millis(
                env.number("BINANCE_RETRY_BASE_MS", 500, 1..=60_000)?.into(),
            ),
            max_delay: defaults.max_delay,
            request_timeout: Duration::from_millis(
                env.number("BINANCE_TIMEOUT_MS", 10_000, 100..=300_000)?
                    .into(),
            ),
        };
        Ok(KlinesConfig {
            bucket,
            s3_endpoint,
            binance_base_url,
            pairs,
            retry,
            archive_url,
            backfill_pairs_in_parallel,
            function_name,
            lambda_endpoint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lookup_in;

    fn config(vars: &[(&str, &str)]) -> Result<KlinesConfig, ConfigError> {
        let mut all = vec![("BUCKET_NAME", "lake")];
        all.extend_from_slice(vars);
        KlinesConfig::from_lookup(lookup_in(&all))
    }

    #[test]
    fn defaults_to_five_usdt_pairs_on_the_market_data_host() {
        let c = config(&[]).unwrap();
        assert_eq!(
            c.pairs,
            ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "ADAUSDT"]
        );
        assert_eq!(c.binance_base_url, DEFAULT_BASE_URL);
        assert_eq!(c.retry, RetryPolicy::default());
        assert_eq!(c.s3_endpoint, None);
        assert_eq!(c.archive_url, DEFAULT_ARCHIVE_URL);
        assert_eq!(c.backfill_pairs_in_parallel, 2);
        assert_eq!(c.function_name, None);
        assert_eq!(c.lambda_endpoint, None);
    }

    #[test]
    fn reads_the_backfill_settings_and_refuses_bad_ones() {
        let c = config(&[
            ("BINANCE_ARCHIVE_URL", "http://127.0.0.1:9000"),
            ("BACKFILL_PAIRS_IN_PARALLEL", "4"),
            ("AWS_LAMBDA_FUNCTION_NAME", "stack-KlinesFunction-x"),
            ("AWS_ENDPOINT_URL_LAMBDA", "http://127.0.0.1:9001"),
        ])
        .unwrap();
        assert_eq!(c.archive_url, "http://127.0.0.1:9000");
        assert_eq!(c.backfill_pairs_in_parallel, 4);
        assert_eq!(c.function_name.as_deref(), Some("stack-KlinesFunction-x"));
        assert_eq!(c.lambda_endpoint.as_deref(), Some("http://127.0.0.1:9001"));
        for (name, value) in [
            ("BINANCE_ARCHIVE_URL", "data.binance.vision"),
            ("BACKFILL_PAIRS_IN_PARALLEL", "0"),
            ("BACKFILL_PAIRS_IN_PARALLEL", "9"),
        ] {
            let error = config(&[(name, value)]).unwrap_err().to_string();
            assert!(error.contains(name), "{error}");
        }
    }

    #[test]
    fn reads_pairs_host_and_retry_settings() {
        let c = config(&[
            ("KLINES_SYMBOLS", " ETHBTC , BTCUSDT"),
            ("BINANCE_BASE_URL", "http://127.0.0.1:8788"),
            ("BINANCE_RETRY_BASE_MS", "10"),
            ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:5000"),
        ])
        .unwrap();
        assert_eq!(c.pairs, ["ETHBTC", "BTCUSDT"]);
        assert_eq!(c.binance_base_url, "http://127.0.0.1:8788");
        assert_eq!(c.retry.base_delay, Duration::from_millis(10));
        assert_eq!(c.s3_endpoint.as_deref(), Some("http://127.0.0.1:5000"));
    }

    #[test]
    fn refuses_bad_pairs_and_repeats_naming_the_variable() {
        for value in ["btcusdt", "BTC-USDT", "BTCUSDT,,ETHUSDT", "BTCUSDT,BTCUSDT"] {
            let error = config(&[("KLINES_SYMBOLS", value)])
                .expect_err(value)
                .to_string();
            assert!(error.contains("KLINES_SYMBOLS"), "{error}");
        }
        let twice = config(&[("KLINES_SYMBOLS", "BTCUSDT,ETHUSDT,BTCUSDT")])
            .unwrap_err()
            .to_string();
        assert!(twice.contains("BTCUSDT is listed twice"), "{twice}");
    }

    #[test]
    fn refuses_a_missing_bucket_and_a_bad_host() {
        assert!(matches!(
            KlinesConfig::from_lookup(lookup_in(&[])),
            Err(ConfigError::Missing {
                name: "BUCKET_NAME",
                ..
            })
        ));
        let error = config(&[("BINANCE_BASE_URL", "ftp://x")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("BINANCE_BASE_URL"), "{error}");
        let error = config(&[("BINANCE_MAX_ATTEMPTS", "0")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("BINANCE_MAX_ATTEMPTS"), "{error}");
    }
}
