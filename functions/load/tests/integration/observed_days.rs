//! One row per CMC update per UTC day observed, the earliest slot of the day winning
//! whatever order the files load in (so a day's rows are what the curated Parquet day
//! holds), and the month partitions loads create as they need them.

use crate::common;

use common::{quote, s3_event, World};
use load::App;
use serde_json::{json, Value};
use testkit::TestDatabase;

/// Every stored quote with its day, slot, rank and file, in key order.
const DAY_ROWS: &str =
    "SELECT format('%s|%s|%s|%s|%s|%s|%s', cmc_id, last_updated, observed_on, slot_at, \
                        price, cmc_rank, s3_key) \
                        FROM quotes ORDER BY cmc_id, quote_currency, last_updated, observed_on";

/// Handles the notification of `key`; its response as JSON.
async fn load_one(world: &World, app: &App, key: &str) -> Value {
    let response = load::handle(app, s3_event(&world.bucket.name, &[key]))
        .await
        .expect("the file loads");
    serde_json::to_value(response).expect("JSON")
}

#[tokio::test]
async fn an_earlier_slot_loaded_after_a_later_one_replaces_it_and_reloads_change_nothing() {
    // GIVEN CMC's 12:34 update of BTC observed by the 12:35 and the 12:40 slots (CMC's rank
    // moved in between), and the 12:40 file loaded first
    let world = World::new().await;
    let mut later = quote(
        1,
        "BTC",
        "100",
        "2024-06-01T12:34:00Z",
        "2024-06-01T12:40:00Z",
    );
    later.cmc_rank = Some(2);
    let later = world.put_snapshot("2024-06-01T12:40:00Z", &[later]).await;
    let earlier = world.put_btc("2024-06-01T12:35:00Z", "100").await;
    let app = world.app(&[]).await;
    let load = |key| load_one(&world, &app, key);
    let counts = |key: &str, inserted: u64, replaced: u64, present: u64| {
        json!({ "results": [{ "status": "loaded", "key": key, "rows": 1, "inserted": inserted,
                              "replaced": replaced, "already_present": present }] })
    };
    assert_eq!(load(&later).await, counts(&later, 1, 0, 0));

    // WHEN the 12:35 file loads
    let replacing = load(&earlier).await;

    // THEN its row replaces the later observation, every column from the earlier slot
    assert_eq!(replacing, counts(&earlier, 0, 1, 0));
    let stored = world.texts(DAY_ROWS).await;
    assert_eq!(
        stored,
        [format!(
            "1|2024-06-01 12:34:00+00|2024-06-01|2024-06-01 12:35:00+00|100|1|{earlier}"
        )]
    );
    let ingested = world.texts("SELECT ingested_at::text FROM quotes").await;
    assert_eq!(ingested, ["2024-06-01 12:35:02+00"]);

    // AND loading either file again changes nothing
    let loaded_at = world.texts("SELECT loaded_at::text FROM quotes").await;
    assert_eq!(load(&earlier).await, counts(&earlier, 0, 0, 1));
    assert_eq!(load(&later).await, counts(&later, 0, 0, 1));
    assert_eq!(world.texts(DAY_ROWS).await, stored);
    assert_eq!(
        world.texts("SELECT loaded_at::text FROM quotes").await,
        loaded_at
    );

    // AND the runs record what each load did
    assert_eq!(
        world
            .texts(
                "SELECT format('%s|%s|%s|%s', s3_key, rows_inserted, rows_replaced, rows_present) \
             FROM ingest_runs ORDER BY id"
            )
            .await,
        [
            format!("{later}|1|0|0"),
            format!("{earlier}|0|1|0"),
            format!("{earlier}|0|0|1"),
            format!("{later}|0|0|1"),
        ]
    );
}

#[tokio::test]
async fn an_update_current_at_midnight_is_stored_once_for_each_day_that_observed_it() {
    // GIVEN BTC's 23:50 update observed by the 23:55 slot and again by 00:00 the next day
    let world = World::new().await;
    let before = world
        .put_snapshot(
            "2024-06-01T23:55:00Z",
            &[quote(
                1,
                "BTC",
                "101",
                "2024-06-01T23:50:00Z",
                "2024-06-01T23:55:00Z",
            )],
        )
        .await;
    let after = world
        .put_snapshot(
            "2024-06-02T00:00:00Z",
            &[quote(
                1,
                "BTC",
                "101",
                "2024-06-01T23:50:00Z",
                "2024-06-02T00:00:00Z",
            )],
        )
        .await;
    let app = world.app(&[]).await;

    // WHEN both load, the later first
    let response = load::handle(&app, s3_event(&world.bucket.name, &[&after, &before]))
        .await
        .unwrap();

    // THEN each day holds its own observation, both inserted
    assert_eq!(
        serde_json::to_value(response).unwrap(),
        json!({ "results": [
            { "status": "loaded", "key": after, "rows": 1, "inserted": 1, "replaced": 0, "already_present": 0 },
            { "status": "loaded", "key": before, "rows": 1, "inserted": 1, "replaced": 0, "already_present": 0 },
        ] })
    );
    assert_eq!(
        world.texts(DAY_ROWS).await,
        [
            format!("1|2024-06-01 23:50:00+00|2024-06-01|2024-06-01 23:55:00+00|101|1|{before}"),
            format!("1|2024-06-01 23:50:00+00|2024-06-02|2024-06-02 00:00:00+00|101|1|{after}"),
        ]
    );
}

/// Snapshots of two days around midnight whose slots overlap in the CMC updates they saw:
/// ETH's 23:45 update is seen by two slots of the first day and one of the second, BTC's
/// 23:58 update by three slots of the second day. The rank is the slot's number, so which
/// observation was kept shows.
fn around_midnight() -> Vec<(&'static str, Vec<coinlake::quote::QuoteRow>)> {
    let seen = |id: i64, symbol: &str, updated: &str, slot: &'static str, rank: i64| {
        let mut row = quote(id, symbol, "1", updated, slot);
        row.cmc_rank = Some(rank);
        row
    };
    vec![
        (
            "2024-06-01T23:50:00Z",
            vec![
                seen(1, "BTC", "2024-06-01T23:49:00Z", "2024-06-01T23:50:00Z", 1),
                seen(
                    1027,
                    "ETH",
                    "2024-06-01T23:45:00Z",
                    "2024-06-01T23:50:00Z",
                    1,
                ),
            ],
        ),
        (
            "2024-06-01T23:55:00Z",
            vec![
                seen(1, "BTC", "2024-06-01T23:49:00Z", "2024-06-01T23:55:00Z", 2),
                seen(
                    1027,
                    "ETH",
                    "2024-06-01T23:45:00Z",
                    "2024-06-01T23:55:00Z",
                    2,
                ),
            ],
        ),
        (
            "2024-06-02T00:00:00Z",
            vec![
                seen(1, "BTC", "2024-06-01T23:58:00Z", "2024-06-02T00:00:00Z", 3),
                seen(
                    1027,
                    "ETH",
                    "2024-06-01T23:45:00Z",
                    "2024-06-02T00:00:00Z",
                    3,
                ),
            ],
        ),
        (
            "2024-06-02T00:05:00Z",
            vec![
                seen(1, "BTC", "2024-06-01T23:58:00Z", "2024-06-02T00:05:00Z", 4),
                seen(
                    1027,
                    "ETH",
                    "2024-06-02T00:01:00Z",
                    "2024-06-02T00:05:00Z",
                    4,
                ),
            ],
        ),
        (
            "2024-06-02T00:10:00Z",
            vec![seen(
                1,
                "BTC",
                "2024-06-01T23:58:00Z",
                "2024-06-02T00:10:00Z",
                5,
            )],
        ),
    ]
}

#[tokio::test]
async fn a_days_rows_are_its_earliest_observations_whatever_order_the_files_load_in() {
    // GIVEN the snapshots around midnight, in S3
    let world = World::new().await;
    let mut keys = Vec::new();
    for (slot, rows) in around_midnight() {
        keys.push(world.put_snapshot(slot, &rows).await);
    }
    let forward: Vec<&str> = keys.iter().map(String::as_str).collect();
    let mut backward = forward.clone();
    backward.reverse();
    let shuffled = vec![forward[2], forward[4], forward[0], forward[3], forward[1]];

    // WHEN three databases load them: oldest first, newest first, and shuffled, the last
    // also with two loaders at once
    let mut tables = Vec::new();
    for order in [&forward, &backward, &shuffled] {
        let db = TestDatabase::new().await;
        let url = db.url();
        let app = world.app(&[("DATABASE_URL", url.as_str())]).await;
        let racing = world.app(&[("DATABASE_URL", url.as_str())]).await;
        let (one, two) = tokio::join!(
            load::handle(&app, s3_event(&world.bucket.name, order)),
            load::handle(&racing, s3_event(&world.bucket.name, order)),
        );
        one.unwrap();
        two.unwrap();
        let client = db.client().await;
        let rows: Vec<String> = client
            .query(DAY_ROWS, &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        tables.push(rows);
    }

    // THEN each holds, per update and day, the earliest slot of that day: the same rows
    let expected = [
        format!(
            "1|2024-06-01 23:49:00+00|2024-06-01|2024-06-01 23:50:00+00|1|1|{}",
            keys[0]
        ),
        format!(
            "1|2024-06-01 23:58:00+00|2024-06-02|2024-06-02 00:00:00+00|1|3|{}",
            keys[2]
        ),
        format!(
            "1027|2024-06-01 23:45:00+00|2024-06-01|2024-06-01 23:50:00+00|1|1|{}",
            keys[0]
        ),
        format!(
            "1027|2024-06-01 23:45:00+00|2024-06-02|2024-06-02 00:00:00+00|1|3|{}",
            keys[2]
        ),
        format!(
            "1027|2024-06-02 00:01:00+00|2024-06-02|2024-06-02 00:05:00+00|1|4|{}",
            keys[3]
        ),
    ];
    for table in &tables {
        assert_eq!(table, &expected);
    }
}

#[tokio::test]
async fn the_first_row_of_a_file_wins_when_it_holds_an_update_twice() {
    // GIVEN a file listing BTC's 12:34 update twice (listings pages shifted between two
    // requests), with different ranks
    let world = World::new().await;
    let slot = "2024-06-01T12:35:00Z";
    let mut first = quote(1, "BTC", "100", "2024-06-01T12:34:00Z", slot);
    first.cmc_rank = Some(7);
    let mut second = first.clone();
    second.cmc_rank = Some(8);
    let key = world.put_snapshot(slot, &[first, second]).await;
    let app = world.app(&[]).await;

    // WHEN it loads
    let response = load::handle(&app, s3_event(&world.bucket.name, &[&key]))
        .await
        .unwrap();

    // THEN the update is stored once, from the file's first row
    assert_eq!(
        serde_json::to_value(response).unwrap()["results"][0],
        json!({ "status": "loaded", "key": key, "rows": 2, "inserted": 1, "replaced": 0, "already_present": 1 })
    );
    assert_eq!(
        world.texts("SELECT cmc_rank::text FROM quotes").await,
        ["7"]
    );
}

#[tokio::test]
async fn loads_create_the_partition_of_each_new_month_even_when_they_race_for_it() {
    // GIVEN snapshots on both sides of three month ends, none loaded yet, and four
    // cold-started functions
    let world = World::new().await;
    let mut keys = Vec::new();
    for slot in [
        "2024-06-30T23:55:00Z",
        "2024-07-01T00:00:00Z",
        "2024-07-31T23:55:00Z",
        "2024-08-01T00:00:00Z",
        "2024-12-31T23:55:00Z",
        "2025-01-01T00:00:00Z",
    ] {
        keys.push(world.put_btc(slot, "1").await);
    }
    let mut apps = Vec::new();
    for _ in 0..4 {
        apps.push(world.app(&[("LOAD_CONCURRENCY", "1")]).await);
    }

    // WHEN each loads every file, in an order of its own, all at once
    let loads = apps.iter().enumerate().map(|(i, app)| {
        let mut order: Vec<&str> = keys.iter().map(String::as_str).collect();
        order.rotate_left(i * 2);
        if i % 2 == 1 {
            order.reverse();
        }
        let event = s3_event(&world.bucket.name, &order);
        async move { load::handle(app, event).await }
    });
    for result in futures::future::join_all(loads).await {
        result.expect("every load succeeds");
    }

    // THEN every load succeeded and each row sits in its month's partition
    let placed = world.texts(
        "SELECT format('%s|%s', tableoid::regclass, observed_on) FROM quotes ORDER BY observed_on",
    )
    .await;
    assert_eq!(
        placed,
        [
            "quotes_2024_06|2024-06-30",
            "quotes_2024_07|2024-07-01",
            "quotes_2024_07|2024-07-31",
            "quotes_2024_08|2024-08-01",
            "quotes_2024_12|2024-12-31",
            "quotes_2025_01|2025-01-01",
        ]
    );
    let partitions = world
        .texts(
            "SELECT format('%s: %s', c.relname, pg_get_expr(c.relpartbound, c.oid)) \
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'quotes'::regclass ORDER BY c.relname",
        )
        .await;
    assert_eq!(
        partitions,
        [
            "quotes_2024_06: FOR VALUES FROM ('2024-06-01') TO ('2024-07-01')",
            "quotes_2024_07: FOR VALUES FROM ('2024-07-01') TO ('2024-08-01')",
            "quotes_2024_08: FOR VALUES FROM ('2024-08-01') TO ('2024-09-01')",
            "quotes_2024_12: FOR VALUES FROM ('2024-12-01') TO ('2025-01-01')",
            "quotes_2025_01: FOR VALUES FROM ('2025-01-01') TO ('2025-02-01')",
        ]
    );
}

#[tokio::test]
async fn concurrent_calls_create_a_months_partition_once_without_an_error() {
    // GIVEN a migrated database and eight sessions, each in a transaction
    let world = World::new().await;
    world.migrate().await;
    let mut clients = Vec::new();
    for _ in 0..8 {
        let client = world.db.client().await;
        client.batch_execute("BEGIN").await.unwrap();
        clients.push(client);
    }

    // WHEN all ask for the partition of 2024-09 at once, then commit
    let created =
        futures::future::join_all(clients.iter().enumerate().map(|(i, client)| async move {
            let day = format!("2024-09-{:02}", i + 1);
            let created: bool = client
                .query_one(
                    "SELECT ensure_quotes_partition(CAST($1 AS text)::date)",
                    &[&day],
                )
                .await
                .expect("no error when calls race")
                .get(0);
            client.batch_execute("COMMIT").await.unwrap();
            created
        }))
        .await;

    // THEN exactly one created it, and it exists
    assert_eq!(created.iter().filter(|c| **c).count(), 1, "{created:?}");
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM pg_inherits WHERE inhparent = 'quotes'::regclass")
            .await,
        1
    );
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM pg_class WHERE relname = 'quotes_2024_09'")
            .await,
        1
    );
}
