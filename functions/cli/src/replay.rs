//! `coinlake replay`, and the replay a backfill ends with: the load function's
//! `Loader::replay` over the bucket, into the database `DATABASE_URL` names.

use crate::args::{ReplayArgs, Target};
use chrono::NaiveDate;
use coinlake::alerts::evaluation::AlertMode;
use coinlake::config::LoadConfig;
use coinlake::db::Database;
use coinlake::layout::Dataset;
use coinlake::load::{Loader, ReplaySummary};
use coinlake::sink::AnySink;
use coinlake::store::S3Reader;
use std::error::Error;

pub async fn run(args: ReplayArgs) -> Result<bool, Box<dyn Error>> {
    let alerts = AlertMode::of_replay(args.alerts);
    let summary = replay(&args.target, args.dataset, args.from, args.to, alerts).await?;
    print(&summary, args.target.json)?;
    Ok(summary.failures.is_empty())
}

/// Loads `dataset`'s objects of `from..=to` with the load function's configuration
/// (`DATABASE_URL` and the rest), the bucket and S3 endpoint taken from `target`;
/// `alerts` says whether crossings fire.
pub async fn replay(
    target: &Target,
    dataset: Dataset,
    from: NaiveDate,
    to: NaiveDate,
    alerts: AlertMode,
) -> Result<ReplaySummary, Box<dyn Error>> {
    let config = LoadConfig::from_lookup(|name| match name {
        "BUCKET_NAME" => Some(target.bucket.clone()),
        "AWS_ENDPOINT_URL_S3" => target.s3_endpoint.clone(),
        _ => std::env::var(name).ok(),
    })?;
    let sdk = coinlake::aws::load_sdk_config().await;
    let database = Database::open(&config.sink, config.concurrency, &sdk).await?;
    let objects = S3Reader::new(coinlake::aws::s3_client(
        &sdk,
        config.s3_endpoint.as_deref(),
    ));
    let loader = Loader::new(objects, AnySink::new(database, true), config.concurrency);
    Ok(loader
        .replay(&config.bucket, dataset, from, to, None, alerts)
        .await?)
}

pub fn print(summary: &ReplaySummary, json: bool) -> Result<(), Box<dyn Error>> {
    if json {
        println!("{}", serde_json::to_string_pretty(summary)?);
        return Ok(());
    }
    let t = &summary.total;
    println!(
        "replayed {} {}..{}: {} files, {} loaded, {} rows ({} inserted, {} replaced, {} already present), {} failed, {} alerts fired",
        summary.dataset, summary.from, summary.to, t.files, t.loaded, t.rows, t.inserted, t.replaced, t.already_present, t.failed, t.alerts_fired
    );
    for failure in &summary.failures {
        println!(
            "  failed {} ({:?}): {}",
            failure.key, failure.error_type, failure.error
        );
    }
    Ok(())
}
