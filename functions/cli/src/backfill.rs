//! `coinlake backfill`: the library's backfill against a bucket, with a progress bar and a
//! summary, then a replay of the days into PostgreSQL (quiet: a backfill is old data and
//! fires no alert).

use crate::args::BackfillArgs;
use crate::bar::Bar;
use coinlake::alerts::evaluation::AlertMode;
use coinlake::backfill::{Backfill, BackfillRequest, BackfillSummary};
use coinlake::binance::{ArchiveClient, RetryPolicy};
use coinlake::layout::Dataset;
use coinlake::store::S3Store;
use std::error::Error;

pub async fn run(args: BackfillArgs) -> Result<bool, Box<dyn Error>> {
    let target = &args.target;
    let sdk = coinlake::aws::load_sdk_config().await;
    let s3 = coinlake::aws::s3_client(&sdk, target.s3_endpoint.as_deref());
    let archive = ArchiveClient::new(&args.archive_url, RetryPolicy::default())?;
    let runner = Backfill::new(archive, S3Store::new(s3, target.bucket.clone()))
        .with_concurrency(args.concurrency);
    let request = BackfillRequest {
        symbols: args.symbols.clone(),
        from: args.from,
        to: args.to,
    };
    let bar = Bar::new();
    // No deadline here: a local run goes on until done, so `remaining` stays empty.
    let summary = runner.run(&request, None, &bar).await;
    bar.finish();
    let summary = summary?;
    print(&summary, target.json)?;
    let mut ok = summary.failures.is_empty();

    let load = !args.no_load && (args.load || std::env::var_os("DATABASE_URL").is_some());
    if load && !summary.written.is_empty() {
        let replayed = crate::replay::replay(
            target,
            Dataset::Klines,
            args.from,
            args.to,
            AlertMode::Quiet,
        )
        .await?;
        crate::replay::print(&replayed, target.json)?;
        ok &= replayed.failures.is_empty();
    }
    Ok(ok)
}

fn print(summary: &BackfillSummary, json: bool) -> Result<(), Box<dyn Error>> {
    if json {
        println!("{}", serde_json::to_string_pretty(summary)?);
        return Ok(());
    }
    println!(
        "backfilled into s3://{}: {} objects (one per pair and day), {} rows; {} files not published, {} days with gaps, {} failed",
        summary.bucket,
        summary.written.len(),
        summary.rows,
        summary.skipped.len(),
        summary.gaps.len(),
        summary.failures.len()
    );
    for skipped in &summary.skipped {
        println!("  skipped {}: {}", skipped.file, skipped.reason);
    }
    for day in &summary.gaps {
        println!(
            "  gaps {} {}: {} minutes missing",
            day.symbol, day.day, day.missing_minutes
        );
    }
    for failure in &summary.failures {
        println!(
            "  failed {} {} ({}): {}",
            failure.symbol, failure.period, failure.kind, failure.error
        );
    }
    Ok(())
}
