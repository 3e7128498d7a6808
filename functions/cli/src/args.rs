//! The command line.

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use coinlake::layout::Dataset;

#[derive(Parser, Debug)]
#[command(name = "coinlake", version, about = "coinlake's local commands")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write pairs' one-minute klines for past days from Binance's archive into the
    /// bucket, one object per pair and day; then replay them into PostgreSQL.
    Backfill(BackfillArgs),
    /// Load a range of days of a dataset from the bucket into PostgreSQL.
    Replay(ReplayArgs),
}

#[derive(Args, Debug)]
pub struct Target {
    /// The bucket.
    #[arg(long, env = "BUCKET_NAME")]
    pub bucket: String,
    /// An S3-compatible endpoint (the local server); AWS's S3 without it.
    #[arg(long, env = "AWS_ENDPOINT_URL_S3")]
    pub s3_endpoint: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct BackfillArgs {
    /// Pairs, comma-separated: BTCUSDT,ETHUSDT
    #[arg(long, value_delimiter = ',', required = true)]
    pub symbols: Vec<String>,
    /// First day (UTC), YYYY-MM-DD.
    #[arg(long)]
    pub from: NaiveDate,
    /// Last day (UTC), YYYY-MM-DD; before today.
    #[arg(long)]
    pub to: NaiveDate,
    /// The archive's host.
    #[arg(long, env = "BINANCE_ARCHIVE_URL", default_value = coinlake::binance::DEFAULT_ARCHIVE_URL)]
    pub archive_url: String,
    /// Pairs downloaded at once.
    #[arg(long, default_value_t = coinlake::backfill::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// Replay the written days into PostgreSQL (the default when DATABASE_URL is set).
    #[arg(long, overrides_with = "no_load")]
    pub load: bool,
    /// Do not replay into PostgreSQL.
    #[arg(long)]
    pub no_load: bool,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// quotes or klines.
    #[arg(long, value_parser = parse_dataset)]
    pub dataset: Dataset,
    #[arg(long)]
    pub from: NaiveDate,
    #[arg(long)]
    pub to: NaiveDate,
    /// Let the replay fire alerts at the crossings it finds; without it a replay moves the
    /// rules' state quietly (old data is not news).
    #[arg(long)]
    pub alerts: bool,
    #[command(flatten)]
    pub target: Target,
}

fn parse_dataset(name: &str) -> Result<Dataset, String> {
    Dataset::parse(name).ok_or_else(|| {
        let names: Vec<&str> = Dataset::ALL.iter().map(|d| d.name()).collect();
        format!("{name:?} is not a dataset; one of {}", names.join(", "))
    })
}
