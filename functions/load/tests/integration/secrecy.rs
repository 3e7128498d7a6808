//! The database password never reaches logs or errors, even when the connection fails; and
//! symbols and names full of SQL and CSV metacharacters round-trip unchanged.

use crate::common;

use common::{quote, s3_event, World};
use lambda_runtime::Diagnostic;

const PASSWORD: &str = "pw-7f3a9c1e-do-not-log";

#[tokio::test]
async fn the_database_password_never_reaches_logs_or_errors() {
    let (logs, _guard) = testkit::logs::capture();
    let world = World::new().await;
    let key = world.put_btc("2024-06-01T12:35:00Z", "1").await;
    let closed_port = testkit::free_port();
    let mut seen = Vec::new();
    for url in [
        format!("postgres://coinlake:{PASSWORD}@127.0.0.1:{closed_port}/coinlake"),
        // A live server rejecting the user: the password is sent, and must not come back.
        format!(
            "postgres://no_such_user:{PASSWORD}@{}:{}/{}",
            world.db.host, world.db.port, world.db.name
        ),
    ] {
        let config = world.config(&[("DATABASE_URL", &url)]);
        seen.push(format!("{config:?}"));
        let app = load::App::new(config, &world.bucket.sdk).await.unwrap();
        let failure = load::handle(&app, s3_event(&world.bucket.name, &[&key]))
            .await
            .unwrap_err();
        let shown = format!("{failure} {failure:?}");
        seen.push(format!("{shown} {:?}", Diagnostic::from(failure)));
    }

    let logs = logs.text();
    assert!(
        logs.contains("load failed"),
        "the capture sees the failures"
    );
    assert!(
        !logs.contains(PASSWORD),
        "the password leaked into the logs"
    );
    for text in seen {
        assert!(
            text.contains("DatabaseFailed") || text.contains("Postgres"),
            "{text}"
        );
        assert!(!text.contains(PASSWORD), "the password leaked into {text}");
    }
}

#[tokio::test]
async fn sql_and_csv_metacharacters_round_trip_unchanged() {
    let world = World::new().await;
    let mut hostile = quote(
        666,
        "X'); DROP TABLE quotes; --",
        "1",
        "2024-06-01T12:34:00Z",
        "2024-06-01T12:35:00Z",
    );
    hostile.name = "Robert\"); DELETE FROM assets; -- , \"quoted\", semi;colon, back\\slash, 'single', $1 :name, unicode ✓".to_owned();
    hostile.slug = "%_wildcards_%".to_owned();
    let key = world
        .put_snapshot("2024-06-01T12:35:00Z", &[hostile.clone()])
        .await;
    let app = world.app(&[]).await;

    load::handle(&app, s3_event(&world.bucket.name, &[&key]))
        .await
        .unwrap();

    let row = world
        .db
        .client()
        .await
        .query_one("SELECT symbol, name, slug FROM quotes", &[])
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            row.get::<_, String>(2)
        ),
        (hostile.symbol, hostile.name, hostile.slug)
    );
    assert_eq!(world.scalar("SELECT count(*) FROM assets").await, 1);
}
