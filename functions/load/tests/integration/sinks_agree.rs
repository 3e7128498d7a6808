//! The PostgreSQL sink and the Aurora Data API sink store identical rows for the same
//! files. The Data API side runs through the real `aws-sdk-rdsdata` client against an
//! endpoint that executes the received statements on the real PostgreSQL server.

use crate::common;

use coinlake::decimal::DecimalText;
use common::{data_api_vars, quote, s3_event, World};
use lambda_runtime::Diagnostic;
use testkit::data_api::DataApiEmulator;
use testkit::TestDatabase;

#[tokio::test]
async fn both_sinks_write_identical_tables_for_the_same_files() {
    // GIVEN snapshots with nulls, awkward names and a repeated CMC update, and two databases
    let world = World::new().await;
    let mut odd = quote(
        28301,
        "C,Q",
        "0.00000015",
        "2024-06-01T12:30:00Z",
        "2024-06-01T12:35:00Z",
    );
    odd.name = "Comma, \"Quoted\" 'Coin' :id".to_owned();
    odd.cmc_rank = None;
    odd.slug = String::new(); // CMC sometimes has none: stored as '' by both sinks
    odd.market_cap = None;
    odd.max_supply = Some(DecimalText::parse("21000000.000000000000000001").unwrap());
    let first = world
        .put_snapshot(
            "2024-06-01T12:35:00Z",
            &[
                quote(
                    1,
                    "BTC",
                    "67432.12345678912345",
                    "2024-06-01T12:34:00Z",
                    "2024-06-01T12:35:00Z",
                ),
                odd,
            ],
        )
        .await;
    let second = world
        .put_snapshot(
            "2024-06-01T12:40:00Z",
            &(1..=1200)
                .map(|id| {
                    quote(
                        id,
                        &format!("C{id}"),
                        "2.5",
                        "2024-06-01T12:34:00Z",
                        "2024-06-01T12:40:00Z",
                    )
                })
                .collect::<Vec<_>>(),
        )
        .await;
    let aurora = TestDatabase::new().await;
    let mut client = aurora.client().await;
    coinlake::db::migrate(&mut client).await.unwrap();
    let emulator = DataApiEmulator::start(&aurora.host, aurora.port).await;
    let postgres_app = world.app(&[]).await;
    let data_api_app = world
        .app(&data_api_vars(&aurora.name, &emulator.endpoint))
        .await;

    // WHEN each sink loads the files, the second one twice
    for app in [&postgres_app, &data_api_app] {
        for keys in [
            &[first.as_str()][..],
            &[second.as_str()],
            &[second.as_str()],
        ] {
            load::handle(app, s3_event(&world.bucket.name, keys))
                .await
                .unwrap();
        }
    }

    // THEN quotes, assets and the run counts are the same in both databases
    let mirror = World {
        bucket: testkit::TestBucket::new().await,
        db: aurora,
    };
    assert_eq!(
        world.quotes_table().await.len(),
        1201,
        "BTC at 12:34 is in both files"
    );
    assert_eq!(world.quotes_table().await, mirror.quotes_table().await);
    assert_eq!(world.assets_table().await, mirror.assets_table().await);
    let runs = "SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s', s3_key, status, rows_in_file, rows_inserted, \
                rows_replaced, rows_present, rows_rejected, credits), ',' ORDER BY id) FROM ingest_runs";
    let direct_runs: String = world
        .db
        .client()
        .await
        .query_one(runs, &[])
        .await
        .unwrap()
        .get(0);
    let data_api_runs: String = mirror
        .db
        .client()
        .await
        .query_one(runs, &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(direct_runs, data_api_runs);
    assert_eq!(
        world
            .scalar("SELECT sum(rows_present) FROM ingest_runs")
            .await,
        1 + 1200
    );
}

#[tokio::test]
async fn the_data_api_sink_rejects_a_bad_file_whole_and_rolls_back() {
    let world = World::new().await;
    world.migrate().await;
    let emulator = DataApiEmulator::start(&world.db.host, world.db.port).await;
    let app = world
        .app(&data_api_vars(&world.db.name, &emulator.endpoint))
        .await;
    // 1,500 good rows (two batches staged) and then a bad one
    let rows: Vec<_> = (1..=1500)
        .map(|id| {
            quote(
                id,
                &format!("C{id}"),
                "1",
                "2024-06-01T12:39:00Z",
                "2024-06-01T12:40:00Z",
            )
        })
        .collect();
    let mut text = String::from_utf8(coinlake::csv_codec::encode_quotes(&rows).unwrap()).unwrap();
    text.push_str(
        &text
            .lines()
            .nth(1)
            .unwrap()
            .replacen(",USD,1,", ",USD,abc,", 1),
    );
    text.push('\n');
    let key = "raw/quotes/year=2024/month=06/day=01/quotes_2024-06-01_12-40-00.csv";
    world.bucket.put_object(key, &text).await;

    let failure = Diagnostic::from(
        load::handle(&app, s3_event(&world.bucket.name, &[key]))
            .await
            .unwrap_err(),
    );

    assert_eq!(failure.error_type, "FileRejected");
    assert!(
        failure.error_message.contains("line 1502, column price"),
        "{}",
        failure.error_message
    );
    assert_eq!(world.scalar("SELECT count(*) FROM quotes").await, 0);
    assert_eq!(world.scalar("SELECT count(*) FROM assets").await, 0);
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM ingest_runs WHERE status = 'rejected'")
            .await,
        1
    );
}

#[tokio::test]
async fn both_sinks_replace_a_later_observation_with_an_earlier_slot_alike() {
    // GIVEN BTC's 12:34 update observed by the 12:40 and 12:35 slots, and two databases
    let world = World::new().await;
    let later = world
        .put_snapshot(
            "2024-06-01T12:40:00Z",
            &[
                quote(
                    1,
                    "BTC",
                    "100",
                    "2024-06-01T12:34:00Z",
                    "2024-06-01T12:40:00Z",
                ),
                quote(
                    1027,
                    "ETH",
                    "5",
                    "2024-06-01T12:39:00Z",
                    "2024-06-01T12:40:00Z",
                ),
            ],
        )
        .await;
    let earlier = world.put_btc("2024-06-01T12:35:00Z", "100").await;
    let aurora = TestDatabase::new().await;
    let mut client = aurora.client().await;
    coinlake::db::migrate(&mut client).await.unwrap();
    let emulator = DataApiEmulator::start(&aurora.host, aurora.port).await;
    let postgres_app = world.app(&[]).await;
    let data_api_app = world
        .app(&data_api_vars(&aurora.name, &emulator.endpoint))
        .await;

    // WHEN each sink loads the later file, then the earlier one twice
    for app in [&postgres_app, &data_api_app] {
        for key in [&later, &earlier, &earlier] {
            load::handle(app, s3_event(&world.bucket.name, &[key]))
                .await
                .unwrap();
        }
    }

    // THEN both hold BTC from the 12:35 slot, and both recorded one replacement
    let mirror = World {
        bucket: testkit::TestBucket::new().await,
        db: aurora,
    };
    let stored = world.quotes_table().await;
    assert!(
        stored[0].contains("|2024-06-01 12:35:00+00|") && stored[0].contains(&earlier),
        "{stored:?}"
    );
    assert_eq!(stored, mirror.quotes_table().await);
    let runs =
        "SELECT string_agg(format('%s|%s|%s|%s', rows_in_file, rows_inserted, rows_replaced, \
                rows_present), ',' ORDER BY id) FROM ingest_runs";
    for db in [&world, &mirror] {
        let recorded: String = db
            .db
            .client()
            .await
            .query_one(runs, &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(recorded, "2|2|0|0,1|0|1|0,1|0|0|1");
    }
}
