//! Athena's named queries in `template.yaml`, run by DuckDB (the local stand-in for
//! Athena, `scripts/athena_duckdb.py`) over CSV objects the real ingest path wrote, in the
//! bucket's Hive layout, read with the Glue table's column types.

use crate::common;

use common::{schedule, World};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Command;
use testkit::cmc::{any_quotes_path, coin, quotes_ok};
use wiremock::matchers::method;
use wiremock::Mock;

/// The market CMC reports at one slot: BTC and ETH moving, and an unranked coin whose name
/// needs CSV quoting and whose max supply is null.
fn market(updated: &str, btc: f64, eth: f64) -> Value {
    let mut coins = vec![
        coin(1, "BTC", "Bitcoin", Some(1), &[("USD", json!(btc))]),
        coin(1027, "ETH", "Ethereum", Some(2), &[("USD", json!(eth))]),
        coin(
            28301,
            "C,Q",
            "Comma, \"Quoted\" Coin",
            None,
            &[("USD", json!(0.5))],
        ),
    ];
    for c in &mut coins {
        c["last_updated"] = json!(updated);
        c["quote"]["USD"]["last_updated"] = json!(updated);
        c["quote"]["USD"]["volume_24h"] = json!(1000);
    }
    coins[0]["max_supply"] = json!(21000000);
    json!({ "1": coins[0], "1027": coins[1], "28301": coins[2] })
}

async fn ingest_slot(world: &World, slot: &str, updated: &str, btc: f64, eth: f64) {
    world.cmc.reset().await;
    Mock::given(method("GET"))
        .and(any_quotes_path())
        .respond_with(quotes_ok(market(updated, btc, eth), 1))
        .mount(&world.cmc)
        .await;
    let app = world.app(&[("CMC_IDS", "1,1027,28301")]).await;
    ingest::handle(&app, schedule(slot)).await.unwrap();
}

#[tokio::test]
async fn the_named_queries_answer_over_real_snapshots() {
    // GIVEN four snapshots: one on May 31st, three on June 1st (12:40 missing)
    let world = World::new().await;
    ingest_slot(
        &world,
        "2024-05-31T23:55:00Z",
        "2024-05-31T23:54:00Z",
        60000.0,
        3000.0,
    )
    .await;
    ingest_slot(
        &world,
        "2024-06-01T12:30:00Z",
        "2024-06-01T12:29:00Z",
        67000.0,
        3700.0,
    )
    .await;
    ingest_slot(
        &world,
        "2024-06-01T12:35:00Z",
        "2024-06-01T12:34:00Z",
        68000.5,
        3650.0,
    )
    .await;
    ingest_slot(
        &world,
        "2024-06-01T12:45:00Z",
        "2024-06-01T12:44:00Z",
        66500.25,
        3800.0,
    )
    .await;
    let data = std::env::temp_dir().join(format!("coinlake-athena-{}", world.bucket.name));
    for key in world.bucket.keys().await {
        let file = data.join(&key);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, world.bucket.get(&key).await.body).unwrap();
    }

    // WHEN DuckDB runs the template's queries as Athena would, at 12:47 on June 1st
    let root = testkit::workspace_root();
    let output = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("scripts/athena_duckdb.py"))
        .args(["--template", root.join("template.yaml").to_str().unwrap()])
        .args([
            "--data",
            data.to_str().unwrap(),
            "--today",
            "2024-06-01",
            "--now",
            "2024-06-01 12:47:00",
        ])
        .output()
        .expect("run scripts/athena_duckdb.py with .venv's python (scripts/setup.sh installs it)");
    std::fs::remove_dir_all(&data).unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: BTreeMap<String, Vec<Vec<Option<String>>>> =
        serde_json::from_slice(&output.stdout).unwrap();
    let rows = |name: &str| -> Vec<Vec<String>> {
        results[name]
            .iter()
            .map(|row| {
                row.iter()
                    .map(|v| v.clone().unwrap_or_else(|| "NULL".into()))
                    .collect()
            })
            .collect()
    };

    // THEN each query returns what the snapshots hold
    assert_eq!(
        rows("coinlake - latest prices"),
        [
            ["BTC", "USD", "66500.25", "1.5", "2024-06-01 12:44:00"],
            ["ETH", "USD", "3800.0", "1.5", "2024-06-01 12:44:00"],
            ["C,Q", "USD", "0.5", "1.5", "2024-06-01 12:44:00"],
        ]
    );
    assert_eq!(
        rows("coinlake - daily OHLC"),
        [
            [
                "BTC",
                "USD",
                "2024-06-01",
                "67000.0",
                "68000.5",
                "66500.25",
                "66500.25",
                "1000.0",
                "3"
            ],
            [
                "C,Q",
                "USD",
                "2024-06-01",
                "0.5",
                "0.5",
                "0.5",
                "0.5",
                "1000.0",
                "3"
            ],
            [
                "ETH",
                "USD",
                "2024-06-01",
                "3700.0",
                "3800.0",
                "3650.0",
                "3800.0",
                "1000.0",
                "3"
            ],
        ]
    );
    assert_eq!(
        rows("coinlake - one symbol's history"),
        [
            [
                "2024-06-01 12:29:00",
                "67000.0",
                "1000.0",
                "1300000000000.25"
            ],
            [
                "2024-06-01 12:34:00",
                "68000.5",
                "1000.0",
                "1300000000000.25"
            ],
            [
                "2024-06-01 12:44:00",
                "66500.25",
                "1000.0",
                "1300000000000.25"
            ],
        ]
    );
    let missing: Vec<String> = rows("coinlake - missing slots today")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(
        missing.len(),
        153 - 2,
        "00:00 to 12:40 is 153 slots; 12:30 and 12:35 were written"
    );
    assert_eq!(
        missing.first().map(String::as_str),
        Some("2024-06-01 00:00:00")
    );
    assert_eq!(
        missing.last().map(String::as_str),
        Some("2024-06-01 12:40:00")
    );
    assert!(!missing
        .iter()
        .any(|s| s.ends_with("12:30:00") || s.ends_with("12:35:00")));
}
