//! The Data API reader answers exactly as the PostgreSQL reader, through the real
//! `aws-sdk-rdsdata` client against a Data API endpoint backed by the same database.

use crate::common::{get, World};
use testkit::data_api::DataApiEmulator;

#[tokio::test]
async fn both_readers_give_identical_answers() {
    let world = World::new().await;
    let emulator = DataApiEmulator::start(&world.db.host, world.db.port).await;
    let postgres = world.app(&[]).await;
    let data_api = world
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
        .await;

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
