//! The compact function's configuration: the bucket it reads raw objects from and writes
//! the curated layer to, and how much it does at once.

use super::{ConfigError, Env};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactConfig {
    pub bucket: String,
    pub s3_endpoint: Option<String>,
    /// Days compacted at once in a backfill. Each day in flight holds its rows in memory
    /// (about 250 MB for a 1.44-million-row listings day): keep 1 in listings mode.
    pub days_in_parallel: usize,
    /// Raw objects of a day read at once.
    pub objects_in_parallel: usize,
}

impl CompactConfig {
    pub fn from_env() -> Result<CompactConfig, ConfigError> {
        CompactConfig::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<CompactConfig, ConfigError> {
        let env = Env(&lookup);
        let bucket = env.get("BUCKET_NAME").ok_or(ConfigError::Missing {
            name: "BUCKET_NAME",
            hint: "name the S3 bucket that holds the raw snapshots",
        })?;
        let s3_endpoint = env
            .get("AWS_ENDPOINT_URL_S3")
            .or_else(|| env.get("AWS_ENDPOINT_URL"));
        Ok(CompactConfig {
            bucket,
            s3_endpoint,
            days_in_parallel: env.number("COMPACT_DAYS_IN_PARALLEL", 2, 1..=8)? as usize,
            objects_in_parallel: env.number("COMPACT_OBJECTS_IN_PARALLEL", 16, 1..=64)? as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lookup_in;

    #[test]
    fn compact_needs_a_bucket_and_bounds_its_parallelism() {
        let config = CompactConfig::from_lookup(lookup_in(&[("BUCKET_NAME", "b")])).unwrap();
        assert_eq!(
            (config.days_in_parallel, config.objects_in_parallel),
            (2, 16)
        );
        assert!(matches!(
            CompactConfig::from_lookup(lookup_in(&[])),
            Err(ConfigError::Missing {
                name: "BUCKET_NAME",
                ..
            })
        ));
        let error = CompactConfig::from_lookup(lookup_in(&[
            ("BUCKET_NAME", "b"),
            ("COMPACT_DAYS_IN_PARALLEL", "0"),
        ]))
        .unwrap_err();
        assert!(
            error.to_string().contains("COMPACT_DAYS_IN_PARALLEL"),
            "{error}"
        );
    }
}
