//! The Data API reader answers exactly as the PostgreSQL reader, through the real
//! `aws-sdk-rdsdata` client against a Data API endpoint backed by the same database.

use crate::common::{get, World};
use api::App;
use std::time::{Duration, Instant};
use testkit::data_api::{DataApiEmulator, Fault, FaultError, Operation};

pub async fn data_api_app(world: &World, emulator: &DataApiEmulator) -> App {
    world
        .app(&[
            ("DATABASE_URL", ""),
            ("DB_SINK", "data-api"),
            (
                "DB_CLUSTER_ARN",
                "arn:aws:rds:us-east-1:123456789012:cluster:coinlake",
            ),
            (
                "DB_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:db",
            ),
            ("DB_NAME", world.db.name.as_str()),
            ("AWS_ENDPOINT_URL_RDS_DATA", emulator.endpoint.as_str()),
        ])
        .await
}

#[tokio::test]
async fn both_readers_give_identical_answers() {
    let world = World::new().await;
    let emulator = DataApiEmulator::start(&world.db.host, world.db.port).await;
    let postgres = world.app(&[]).await;
    let data_api = data_api_app(&world, &emulator).await;

    for target in [
        "/api/latest",
        "/api/latest?currency=BRL",
        "/api/history?symbol=BTC&interval=5m",
        "/api/history?cmc_id=1027&interval=1d&from=2024-05-01",
        "/api/history.csv?symbol=BTC&from=2024-06-01&to=2024-06-01",
        "/api/health",
        "/api/history?symbol=NOPE",
    ] {
        let direct = get(&postgres, target).await;
        let through_api = get(&data_api, target).await;
        assert_eq!(direct.status, through_api.status, "{target}");
        assert_eq!(direct.text(), through_api.text(), "{target}");
    }
}

#[tokio::test]
async fn a_resuming_cluster_delays_the_answer_and_one_that_stays_paused_gets_a_503() {
    // GIVEN a paused cluster: the next three reads answer DatabaseResumingException
    let world = World::new().await;
    let emulator = DataApiEmulator::start(&world.db.host, world.db.port).await;
    let postgres = world.app(&[]).await;
    let data_api = data_api_app(&world, &emulator).await;
    emulator.inject(Fault::new(Operation::ExecuteStatement, FaultError::DatabaseResuming).times(3));

    // THEN the answer waits for the resume and is the same as PostgreSQL's
    let through_api = get(&data_api, "/api/latest").await;
    assert!(emulator.faults_spent());
    let direct = get(&postgres, "/api/latest").await;
    assert_eq!(through_api.status, 200, "{}", through_api.text());
    assert_eq!(direct.text(), through_api.text());

    // GIVEN a cluster that keeps answering "resuming" (or throttling)
    emulator
        .inject(Fault::new(Operation::ExecuteStatement, FaultError::Throttling).times(u32::MAX));
    let started = Instant::now();
    let answer = get(&data_api, "/api/latest").await;

    // THEN the API gives up within its read budget, well inside the 10 s function timeout
    assert_eq!(answer.status, 503, "{}", answer.text());
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}
