//! Schema migrations from `migrations/`, embedded in the binary and applied by refinery.

use refinery::Target;
use tokio_postgres::Client;

refinery::embed_migrations!("../../migrations");

/// Any fixed number works; it only has to be the same for every coinlake process.
const MIGRATION_LOCK: i64 = 0x636f_696e_6c61_6b65; // "coinlake"

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("could not take the migration lock: {0}")]
    Lock(#[source] tokio_postgres::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] refinery::Error),
    #[error("there is no migration version {0}")]
    NoSuchVersion(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub applied: Vec<String>,
}

/// Applies pending migrations. Several cold starts may call this at once: a session-level
/// advisory lock lets one apply them while the others wait, then find nothing to do.
pub async fn migrate(client: &mut Client) -> Result<MigrationReport, MigrateError> {
    run(client, Target::Latest).await
}

/// Applies pending migrations up to and including `version` (`V<version>__…`), as
/// [`migrate`] does: for proving that a later migration converts the data of an earlier
/// schema.
pub async fn migrate_to(
    client: &mut Client,
    version: u32,
) -> Result<MigrationReport, MigrateError> {
    let version = version
        .try_into()
        .map_err(|_| MigrateError::NoSuchVersion(version))?;
    run(client, Target::Version(version)).await
}

async fn run(client: &mut Client, target: Target) -> Result<MigrationReport, MigrateError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(MigrateError::Lock)?;
    let result = migrations::runner()
        .set_target(target)
        .run_async(client)
        .await;
    // A failed unlock only matters while this session lives; the pool discards broken ones.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let report = result?;
    let applied: Vec<String> = report
        .applied_migrations()
        .iter()
        .map(|m| m.to_string())
        .collect();
    if !applied.is_empty() {
        tracing::info!(applied = ?applied, "database migrated");
    }
    Ok(MigrationReport { applied })
}
