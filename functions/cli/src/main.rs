//! `coinlake`: local commands over the same library the functions run.
//!
//! - `coinlake backfill --symbols BTCUSDT,ETHUSDT --from 2024-06-01 --to 2024-06-30`
//!   writes the pairs' days from Binance's archive into the bucket, with a progress bar,
//!   then replays them into PostgreSQL when `DATABASE_URL` is set (or `--load`).
//! - `coinlake replay --dataset quotes --from … --to …` loads a bucket's days into
//!   PostgreSQL.
//!
//! The bucket, the S3 endpoint and the database come from the environment as for the
//! functions (`BUCKET_NAME`, `AWS_ENDPOINT_URL_S3`, `DATABASE_URL`).

mod args;
mod backfill;
mod bar;
mod replay;

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args = args::Cli::parse();
    init_logs();
    let result = match args.command {
        args::Command::Backfill(command) => backfill::run(command).await,
        args::Command::Replay(command) => replay::run(command).await,
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

/// Warnings and errors to stderr, readable at a terminal (`RUST_LOG` for more).
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
