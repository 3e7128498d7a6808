//! Files that are not valid snapshots are rejected whole, with the file, line and column
//! named; what the database held before is untouched, and the rejection is recorded.

use crate::common;

use common::{quote, s3_event, World};
use lambda_runtime::Diagnostic;

const KEY: &str = "raw/quotes/year=2024/month=06/day=01/quotes_2024-06-01_12-40-00.csv";

/// A valid file's text with `edit` applied to its lines.
fn edited(edit: impl Fn(&mut Vec<String>)) -> String {
    let rows = [
        quote(
            1,
            "BTC",
            "100",
            "2024-06-01T12:39:00Z",
            "2024-06-01T12:40:00Z",
        ),
        quote(
            2,
            "XRP",
            "0.5",
            "2024-06-01T12:39:00Z",
            "2024-06-01T12:40:00Z",
        ),
    ];
    let text = String::from_utf8(coinlake::csv_codec::encode_quotes(&rows).unwrap()).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    edit(&mut lines);
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn replace_field(line: &mut String, index: usize, value: &str) {
    let mut fields: Vec<String> = line.split(',').map(str::to_owned).collect();
    fields[index] = value.to_owned();
    *line = fields.join(",");
}

#[tokio::test]
async fn invalid_files_are_rejected_whole_and_leave_the_database_as_it_was() {
    let cases: Vec<(&str, String, &str)> = vec![
        ("header mismatch", edited(|l| l[0] = l[0].replace("price", "prize")), "line 1: the header does not match the quotes schema: column 8 is \"prize\", expected \"price\""),
        ("missing column", edited(|l| l[0] = l[0].replace(",ingested_at", "")), "missing column \"ingested_at\""),
        ("wrong column count", edited(|l| l[2].push_str(",extra")), "line 3: expected 23 fields, found 24"),
        ("unquoted comma in a price", edited(|l| replace_field(&mut l[2], 7, "12,5")), "line 3: expected 23 fields, found 24"),
        ("price text", edited(|l| replace_field(&mut l[2], 7, "N/A")), "line 3, column price: \"N/A\" is not a decimal number"),
        ("empty price", edited(|l| replace_field(&mut l[1], 7, "")), "line 2, column price: is empty but required"),
        ("bad timestamp", edited(|l| replace_field(&mut l[1], 21, "2024-06-01T12:39:00Z")), "line 2, column last_updated: \"2024-06-01T12:39:00Z\" is not a timestamp"),
        ("bad integer", edited(|l| replace_field(&mut l[1], 1, "one")), "line 2, column cmc_id: \"one\" is not an integer"),
        ("empty file", String::new(), "the file is empty: no header row"),
        ("header only", edited(|l| l.truncate(1)), "the file has a header but no rows"),
        ("NUL in a name", edited(|l| replace_field(&mut l[1], 3, "Bit\u{0}coin")), "line 2, column name: contains a NUL character"),
        ("invalid UTF-8", edited(|l| replace_field(&mut l[1], 3, "\u{FFFD}")), "line 2, column name: not valid UTF-8"),
    ];
    for (case, body, expected) in cases {
        // GIVEN a database that already holds a loaded snapshot
        let world = World::new().await;
        let good = world.put_btc("2024-06-01T12:35:00Z", "99").await;
        let app = world.app(&[]).await;
        load::handle(&app, s3_event(&world.bucket.name, &[&good]))
            .await
            .unwrap();
        let (quotes, assets) = (world.quotes_table().await, world.assets_table().await);

        // WHEN a defective file arrives
        // U+FFFD stands in for bytes a &str cannot hold: 0xFF is never valid UTF-8.
        let bytes = body
            .replace('\u{FFFD}', "\u{1}")
            .into_bytes()
            .into_iter()
            .map(|b| if b == 1 { 0xFF } else { b })
            .collect::<Vec<u8>>();
        world
            .bucket
            .client
            .put_object()
            .bucket(&world.bucket.name)
            .key(KEY)
            .body(bytes.into())
            .send()
            .await
            .unwrap();
        let result = load::handle(&app, s3_event(&world.bucket.name, &[KEY])).await;
        let failure = Diagnostic::from(result.expect_err(case));

        // THEN it is rejected with the file, line and column named, and nothing changed
        assert_eq!(failure.error_type, "FileRejected", "{case}");
        assert!(
            failure
                .error_message
                .contains(&format!("s3://{}/{KEY} was rejected", world.bucket.name)),
            "{case}: {}",
            failure.error_message
        );
        assert!(
            failure.error_message.contains(expected),
            "{case}: {expected:?} missing from {}",
            failure.error_message
        );
        assert_eq!(
            (world.quotes_table().await, world.assets_table().await),
            (quotes, assets),
            "{case}"
        );
        let recorded = world.scalar(&format!("SELECT count(*) FROM ingest_runs WHERE status = 'rejected' AND s3_key = '{KEY}' AND error LIKE '%{expected}%'", expected = expected.replace('\'', "''"))).await;
        assert_eq!(recorded, 1, "{case}: the rejection is recorded");
    }
}

#[tokio::test]
async fn a_bad_row_after_the_first_batch_still_rejects_the_whole_file() {
    // GIVEN 2,500 valid rows and one bad one at the end (three COPY batches in)
    let world = World::new().await;
    let rows: Vec<_> = (1..=2500)
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
            .replacen(",USD,1,", ",USD,one,", 1),
    );
    text.push('\n');
    world.bucket.put_object(KEY, &text).await;
    let app = world.app(&[]).await;

    let failure = Diagnostic::from(
        load::handle(&app, s3_event(&world.bucket.name, &[KEY]))
            .await
            .unwrap_err(),
    );

    assert!(
        failure.error_message.contains("line 2502, column price"),
        "{}",
        failure.error_message
    );
    assert_eq!(world.scalar("SELECT count(*) FROM quotes").await, 0);
    assert_eq!(world.scalar("SELECT count(*) FROM assets").await, 0);
}

#[tokio::test]
async fn a_missing_object_is_a_clear_error_and_recorded() {
    let world = World::new().await;
    let app = world.app(&[]).await;

    let failure = Diagnostic::from(
        load::handle(&app, s3_event(&world.bucket.name, &[KEY]))
            .await
            .unwrap_err(),
    );

    assert_eq!(failure.error_type, "ObjectMissing");
    assert!(
        failure
            .error_message
            .contains(&format!("s3://{}/{KEY} does not exist", world.bucket.name)),
        "{}",
        failure.error_message
    );
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM ingest_runs WHERE status = 'rejected'")
            .await,
        1
    );
}

#[tokio::test]
async fn an_unreachable_database_fails_the_invocation_and_a_replay_recovers_exactly_once() {
    // GIVEN two snapshots written while the database was down
    let world = World::new().await;
    let a = world.put_btc("2024-06-01T12:35:00Z", "1").await;
    let b = world.put_btc("2024-06-02T00:00:00Z", "2").await;
    let closed_port = testkit::free_port();
    let down = world
        .app(&[(
            "DATABASE_URL",
            &format!(
                "postgres://postgres@127.0.0.1:{closed_port}/{}",
                world.db.name
            ),
        )])
        .await;

    // WHEN their notifications arrive, the invocations fail (so Lambda retries them)
    for key in [&a, &b] {
        let failure = Diagnostic::from(
            load::handle(&down, s3_event(&world.bucket.name, &[key]))
                .await
                .unwrap_err(),
        );
        assert_eq!(failure.error_type, "DatabaseFailed");
        assert!(
            failure.error_message.contains("rolled back"),
            "{}",
            failure.error_message
        );
    }

    // THEN once the database is back, a replay of both days loads everything once…
    let up = world.app(&[]).await;
    let summary = serde_json::to_value(
        load::handle(&up, common::replay_event("2024-06-01", "2024-06-02"))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["total"]["inserted"], 2);
    // …and replaying again finds everything already present
    let again = serde_json::to_value(
        load::handle(&up, common::replay_event("2024-06-01", "2024-06-02"))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            again["total"]["inserted"].as_u64(),
            again["total"]["already_present"].as_u64()
        ),
        (Some(0), Some(2))
    );
    assert_eq!(world.scalar("SELECT count(*) FROM quotes").await, 2);
}
