//! `GET /api/health`, the dashboard page, and what every route does with a token,
//! wrong methods, unknown paths, compression and a database that is down.

use crate::common::{call, get, World, TOKEN};
use serde_json::json;

#[tokio::test]
async fn health_reports_the_age_of_the_newest_snapshot_and_load() {
    // GIVEN the 13:00 snapshot loaded at 13:00:41, and the clock at 13:10
    let world = World::new().await;
    let app = world.app(&[]).await;

    let answer = get(&app, "/api/health").await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("cache-control"), "no-store");
    assert_eq!(
        answer.json(),
        json!({
            "status": "ok",
            "newest_snapshot": "2024-06-01T13:00:00Z",
            "snapshot_age_seconds": 600,
            "newest_load": "2024-06-01T13:00:41Z",
            "load_age_seconds": 559,
            "stale_after_seconds": 900
        })
    );
}

#[tokio::test]
async fn health_reports_quotes_loads_not_a_later_klines_load() {
    // GIVEN the 13:00 quotes load and a klines load that finished later
    let world = World::new().await;
    world
        .sql(
            "INSERT INTO ingest_runs (slot_at, dataset, s3_key, status, rows_in_file, rows_inserted, rows_present, rows_rejected, started_at, finished_at)
             VALUES ('2024-06-01T13:05:00Z', 'klines', 'raw/klines/interval=1m/year=2024/month=06/day=01/klines_2024-06-01_13-05-00.csv', 'loaded', 25, 25, 0, 0, '2024-06-01T13:05:02Z', '2024-06-01T13:05:03Z')",
        )
        .await;
    let app = world.app(&[]).await;

    let answer = get(&app, "/api/health").await;

    // THEN the newest load is still the quotes one: the API serves quotes
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["newest_load"], "2024-06-01T13:00:41Z");
    assert_eq!(answer.json()["load_age_seconds"], 559);
}

#[tokio::test]
async fn health_is_503_when_the_newest_snapshot_is_stale_or_there_is_none() {
    let world = World::new().await;
    let strict = world.app(&[("API_STALE_AFTER_SECONDS", "300")]).await;
    let stale = get(&strict, "/api/health").await;
    assert_eq!(stale.status, 503);
    assert_eq!(stale.json()["status"], "stale");

    let empty_world = World::empty().await;
    let app = empty_world.app(&[]).await;
    let empty = get(&app, "/api/health").await;
    assert_eq!(empty.status, 503);
    assert_eq!(
        empty.json(),
        json!({
            "status": "empty", "newest_snapshot": null, "snapshot_age_seconds": null,
            "newest_load": null, "load_age_seconds": null, "stale_after_seconds": 900
        })
    );
}

#[tokio::test]
async fn a_database_that_is_down_is_a_503_that_reveals_nothing_of_it() {
    // GIVEN an API whose database does not answer
    let world = World::new().await;
    let port = testkit::free_port();
    let url = format!("postgres://reader:pw-not-to-be-shown@127.0.0.1:{port}/coinlake");
    let app = world.app(&[("DATABASE_URL", url.as_str())]).await;

    for target in ["/api/latest", "/api/history?symbol=BTC", "/api/health"] {
        let answer = get(&app, target).await;
        assert_eq!(answer.status, 503, "{target}");
        let text = answer.text();
        assert!(text.contains("could not be read"), "{text}");
        assert!(
            !text.contains("pw-not-to-be-shown") && !text.contains(&port.to_string()),
            "{text}"
        );
    }
    // The page itself needs no database.
    assert_eq!(get(&app, "/").await.status, 200);
}

#[tokio::test]
async fn with_a_shared_token_the_data_needs_it_and_the_page_does_not() {
    let world = World::new().await;
    let app = world.app(&[("API_TOKEN", TOKEN)]).await;

    let missing = get(&app, "/api/latest").await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.header("www-authenticate"),
        "Bearer realm=\"coinlake\""
    );
    assert!(!missing.text().contains(TOKEN));

    let wrong = call(
        &app,
        "GET",
        "/api/health",
        &[("Authorization", "Bearer not-the-token")],
    )
    .await;
    assert_eq!(wrong.status, 401);

    let bearer = format!("Bearer {TOKEN}");
    let right = call(
        &app,
        "GET",
        "/api/latest",
        &[("Authorization", bearer.as_str())],
    )
    .await;
    assert_eq!(right.status, 200);
    assert_eq!(right.json()["assets"].as_array().unwrap().len(), 2);

    let page = get(&app, "/").await;
    assert_eq!(page.status, 200);
}

#[tokio::test]
async fn the_page_is_html_compressed_for_clients_that_take_gzip() {
    let world = World::empty().await;
    let app = world.app(&[]).await;

    let plain = get(&app, "/").await;
    assert_eq!(plain.header("content-type"), "text/html; charset=utf-8");
    assert!(plain.header("content-encoding").is_empty());
    let page = plain.text();
    assert!(page.contains("id=\"latest\"") && page.contains("id=\"chart\""));
    // Everything is inline: nothing is fetched from another origin.
    for external in ["src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(!page.contains(external), "the page loads {external}…");
    }

    let zipped = call(&app, "GET", "/", &[("Accept-Encoding", "gzip, br")]).await;
    assert_eq!(zipped.header("content-encoding"), "gzip");
    assert_eq!(zipped.text(), page);

    let head = call(&app, "HEAD", "/", &[]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}

#[tokio::test]
async fn other_methods_and_unknown_paths_get_clear_errors() {
    let world = World::empty().await;
    let app = world.app(&[]).await;

    let post = call(&app, "POST", "/api/latest", &[]).await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), "GET, HEAD");

    for target in ["/api/nothing", "/favicon.ico"] {
        let missing = get(&app, target).await;
        assert_eq!(missing.status, 404, "{target}");
        assert!(missing.json()["error"]
            .as_str()
            .unwrap()
            .contains("/api/latest"));
    }
}
