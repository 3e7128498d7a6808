//! The `DB_*` variables load and the API share, read into the database settings `db` opens.

use super::{ConfigError, Env};
use crate::db::{PgConnection, SinkConfig, SslMode};
use crate::secret::Secret;

/// `DB_SINK` and the variables of the sink it names: shared by load and the API.
/// `DB_MIGRATE` is read only where migrations may run (`migrations_allowed`).
pub(super) fn sink_config(
    env: &Env<'_>,
    migrations_allowed: bool,
) -> Result<SinkConfig, ConfigError> {
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
