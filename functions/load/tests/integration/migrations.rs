//! Migrations apply from empty, re-run as no-ops, and survive several cold starts racing.

use coinlake::db::migrate;
use testkit::TestDatabase;

#[tokio::test]
async fn migrations_apply_from_empty_and_rerun_as_no_ops() {
    let db = TestDatabase::new().await;
    let mut client = db.client().await;

    let first = migrate(&mut client).await.unwrap();
    let second = migrate(&mut client).await.unwrap();

    assert!(
        first
            .applied
            .iter()
            .any(|m| m.contains("quotes_assets_ingest_runs")),
        "{:?}",
        first.applied
    );
    assert!(second.applied.is_empty(), "{:?}", second.applied);
    for table in ["quotes", "assets", "ingest_runs"] {
        let found: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = $1",
                &[&table],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(found, 1, "{table}");
    }
}

#[tokio::test]
async fn cold_starts_racing_to_migrate_apply_each_migration_once() {
    let db = TestDatabase::new().await;
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(db.client().await);
    }

    let results = futures::future::join_all(clients.iter_mut().map(migrate)).await;

    let reports: Vec<_> = results
        .into_iter()
        .map(|r| r.expect("every racer succeeds"))
        .collect();
    let applying = reports.iter().filter(|r| !r.applied.is_empty()).count();
    assert_eq!(
        applying, 1,
        "exactly one racer applies the migrations: {reports:?}"
    );
    let history: i64 = db
        .client()
        .await
        .query_one("SELECT count(*) FROM refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        history as usize,
        reports.iter().map(|r| r.applied.len()).sum::<usize>()
    );
}
