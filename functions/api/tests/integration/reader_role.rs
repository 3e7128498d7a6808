//! The read-only role of migration V4: enough for every API answer, and nothing more.

use crate::common::{get, World};

#[tokio::test]
async fn the_reader_role_serves_every_answer_and_can_write_nothing() {
    // GIVEN a login user with only the coinlake_reader role
    let world = World::new().await;
    world.insert_klines().await;
    let user = format!(
        "coinlake_api_test_{}",
        world.db.name.trim_start_matches("coinlake_test_")
    );
    let admin = world.db.client().await;
    admin
        .batch_execute(&format!("CREATE ROLE {user} LOGIN IN ROLE coinlake_reader"))
        .await
        .expect("create the reader login");
    let url = format!(
        "postgres://{user}@{}:{}/{}",
        world.db.host, world.db.port, world.db.name
    );

    {
        // WHEN the API reads as that user
        let app = world.app(&[("DATABASE_URL", url.as_str())]).await;
        for target in [
            "/api/latest",
            "/api/history?symbol=BTC&interval=1d&from=2024-05-01",
            "/api/health",
            "/api/klines?symbol=BTCUSDT&from=2024-06-01T12:00:00Z&to=2024-06-01T14:00:00Z",
            "/api/klines?symbol=ETHUSDT&interval=1h",
        ] {
            // THEN every answer is served
            assert_eq!(get(&app, target).await.status, 200, "{target}");
        }

        // AND the same user cannot change anything
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect as the reader");
        tokio::spawn(connection);
        // AND it reads every view of the klines (V8)
        for view in [
            "klines_1m_candles",
            "klines_5m",
            "klines_15m",
            "klines_1h",
            "klines_1m_indicators",
            "cmc_binance_spread",
            "data_gaps",
            "kline_rollup(interval '30 minutes')",
        ] {
            client
                .batch_execute(&format!("SELECT * FROM {view}"))
                .await
                .unwrap_or_else(|e| panic!("{view}: {e}"));
        }
        for statement in [
            "DELETE FROM quotes",
            "DELETE FROM klines_1m",
            "UPDATE assets SET symbol = 'X'",
            "INSERT INTO ingest_runs (slot_at, dataset, s3_key, status, started_at) VALUES (now(), 'quotes', 'k', 'loaded', now())",
            "CREATE TABLE intruder (x int)",
        ] {
            let error = client.batch_execute(statement).await.expect_err(statement);
            let code = error.as_db_error().map(|e| e.code().code().to_owned());
            assert_eq!(code.as_deref(), Some("42501"), "{statement}: {error}");
        }
    }

    drop(world);
    admin_cleanup(&user).await;
}

/// Roles outlive databases: remove the test's login once its database is gone.
pub async fn admin_cleanup(user: &str) {
    let (host, port) = testkit::postgres::server();
    let (client, connection) = tokio_postgres::Config::new()
        .host(&host)
        .port(port)
        .user("postgres")
        .dbname("postgres")
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect as postgres");
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP ROLE IF EXISTS {user}"))
        .await
        .expect("drop the test login");
}
