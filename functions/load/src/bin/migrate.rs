//! Applies pending migrations by hand, with the load function's database settings
//! (`DATABASE_URL`, or `DB_HOST`/`DB_NAME`/`DB_SECRET_ARN`). `BUCKET_NAME` is not needed.

use coinlake::config::LoadConfig;
use coinlake::db::{migrate, Database};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(applied) if applied.is_empty() => {
            println!("database is up to date");
            ExitCode::SUCCESS
        }
        Ok(applied) => {
            println!("applied: {}", applied.join(", "));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("migrate: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let config = LoadConfig::from_lookup(|name| match name {
        "BUCKET_NAME" => {
            Some(std::env::var(name).unwrap_or_else(|_| "unused-by-migrate".to_owned()))
        }
        _ => std::env::var(name).ok(),
    })?;
    let sdk = coinlake::aws::load_sdk_config().await;
    let pool = Database::open(&config.sink, 1, &sdk).await?.into_pool()?;
    let mut client = pool.get().await?;
    Ok(migrate(&mut client).await?.applied)
}
