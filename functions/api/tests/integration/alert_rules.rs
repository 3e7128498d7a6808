//! Managing alert rules over HTTP: create, read, replace, delete, every refusal, who may
//! write, and the database role writes need.

use crate::common::{get, send, send_with, World, TOKEN};
use serde_json::{json, Value};
use testkit::data_api::{DataApiEmulator, Fault, FaultError, Operation};

const BTC_ABOVE: &str = r#"{"label": "BTC above 70k", "source": "cmc", "cmc_id": 1,
    "quote_currency": "USD", "kind": "price_above", "threshold": 70000.50, "hysteresis": 1}"#;

async fn token_app(world: &World) -> api::App {
    world.app(&[("API_TOKEN", TOKEN)]).await
}

#[tokio::test]
async fn a_rule_is_created_read_listed_replaced_and_deleted() {
    // GIVEN an API with a shared token
    let world = World::new().await;
    let app = token_app(&world).await;

    // WHEN a rule is created
    let created = send(&app, "POST", "/api/alert-rules", BTC_ABOVE).await;

    // THEN it answers 201 with the rule, where it lives, the defaults and a fresh state
    assert_eq!(created.status, 201, "{}", created.text());
    let rule = created.json();
    let id = rule["id"].as_i64().expect("an id");
    assert_eq!(created.header("location"), format!("/api/alert-rules/{id}"));
    assert_eq!(
        (
            &rule["label"],
            &rule["threshold"],
            &rule["hysteresis"],
            &rule["cooldown_minutes"],
            &rule["enabled"],
            &rule["armed"],
            &rule["evaluated_through"],
            &rule["last_fired_at"],
            &rule["window_minutes"],
            &rule["pair"],
        ),
        (
            &json!("BTC above 70k"),
            &json!("70000.50"),
            &json!("1"),
            &json!(60),
            &json!(true),
            &json!(true),
            &Value::Null,
            &Value::Null,
            &Value::Null,
            &Value::Null,
        )
    );
    assert!(rule["evaluate_from"].is_string() && rule["created_at"].is_string());

    // AND it reads back alone and in the list
    let one = get_with_token(&app, &format!("/api/alert-rules/{id}")).await;
    assert_eq!(one, rule);
    let stale = send(
        &app,
        "POST",
        "/api/alert-rules",
        r#"{"label": "Binance quiet", "source": "binance", "kind": "stale", "window_minutes": 15}"#,
    )
    .await;
    assert_eq!(stale.status, 201, "{}", stale.text());
    let list = get_with_token(&app, "/api/alert-rules").await;
    let labels: Vec<&str> = list["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r["label"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(labels, ["BTC above 70k", "Binance quiet"]);

    // AND it can be deleted: 204, then gone, its events kept without it
    world
        .sql(&format!(
            "INSERT INTO alert_events (rule_id, audience, kind, label, source, cmc_id, quote_currency, observed_at, value, threshold, message, dedupe_key)
             VALUES ({id}, 'market', 'price_above', 'BTC above 70k', 'cmc', 1, 'USD', '2024-06-01T12:00:00Z', 70001, 70000.50, 'BTC crossed 70000.50', 'rule:{id}:1')"
        ))
        .await;
    let deleted = send_with(
        &app,
        "DELETE",
        &format!("/api/alert-rules/{id}"),
        &[("authorization", &format!("Bearer {TOKEN}"))],
        None,
        false,
    )
    .await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());
    let gone = send(&app, "GET", &format!("/api/alert-rules/{id}"), "").await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()["error"], format!("there is no alert rule {id}"));
    let events = get_with_token(&app, "/api/alerts").await;
    assert_eq!(events["events"][0]["rule_id"], Value::Null);
    assert_eq!(events["events"][0]["label"], "BTC above 70k");
    for method in ["PUT", "DELETE"] {
        let again = send(&app, method, &format!("/api/alert-rules/{id}"), BTC_ABOVE).await;
        assert_eq!(again.status, 404, "{method}");
    }
}

async fn get_with_token(app: &api::App, target: &str) -> Value {
    let answer = send_with(
        app,
        "GET",
        target,
        &[("authorization", &format!("Bearer {TOKEN}"))],
        None,
        false,
    )
    .await;
    assert_eq!(answer.status, 200, "{target}: {}", answer.text());
    answer.json()
}

#[tokio::test]
async fn replacing_a_rule_keeps_its_state_unless_the_condition_changes() {
    // GIVEN a rule that has fired and is disarmed
    let world = World::new().await;
    let app = token_app(&world).await;
    let id = send(&app, "POST", "/api/alert-rules", BTC_ABOVE)
        .await
        .json()["id"]
        .as_i64()
        .expect("id");
    world
        .sql(&format!(
            "UPDATE alert_rules SET armed = false, evaluate_from = '2024-06-01T00:00:00Z',
                    evaluated_through = '2024-06-01T12:58:00Z', last_fired_at = '2024-06-01T12:58:05Z'
             WHERE id = {id}"
        ))
        .await;
    let path = format!("/api/alert-rules/{id}");

    // WHEN only the label, cooldown and the threshold's spelling change
    let same_condition = BTC_ABOVE
        .replace("BTC above 70k", "BTC over 70k")
        .replace("70000.50", "\"70000.5\"")
        .replace(
            "\"hysteresis\": 1",
            "\"hysteresis\": 1.0, \"cooldown_minutes\": 5",
        );
    let kept = send(&app, "PUT", &path, &same_condition).await;

    // THEN the configuration is replaced and the state stays
    assert_eq!(kept.status, 200, "{}", kept.text());
    let kept = kept.json();
    assert_eq!(
        (&kept["label"], &kept["cooldown_minutes"], &kept["armed"]),
        (&json!("BTC over 70k"), &json!(5), &json!(false))
    );
    assert_eq!(kept["evaluated_through"], "2024-06-01T12:58:00Z");
    assert_eq!(kept["evaluate_from"], "2024-06-01T00:00:00Z");
    assert_eq!(kept["last_fired_at"], "2024-06-01T12:58:05Z");

    // WHEN the threshold changes
    let changed = send(
        &app,
        "PUT",
        &path,
        &same_condition.replace("\"70000.5\"", "71000"),
    )
    .await;

    // THEN the rule starts over: armed, nothing evaluated, evaluated from now on
    assert_eq!(changed.status, 200, "{}", changed.text());
    let changed = changed.json();
    assert_eq!(
        (
            &changed["threshold"],
            &changed["armed"],
            &changed["evaluated_through"]
        ),
        (&json!("71000"), &json!(true), &Value::Null)
    );
    assert_ne!(changed["evaluate_from"], "2024-06-01T00:00:00Z");
    // AND the last alert still counts for the cooldown
    assert_eq!(changed["last_fired_at"], "2024-06-01T12:58:05Z");

    // WHEN a disabled rule is enabled again with an explicit start
    world
        .sql(&format!(
            "UPDATE alert_rules SET enabled = false, armed = false, evaluated_through = '2024-06-01T13:00:00Z' WHERE id = {id}"
        ))
        .await;
    let start = (chrono::Utc::now() - chrono::TimeDelta::days(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let enabled = send(
        &app,
        "PUT",
        &path,
        &same_condition
            .replace("\"70000.5\"", "71000")
            .replace("}", &format!(", \"evaluate_from\": \"{start}\"}}")),
    )
    .await
    .json();
    // THEN it starts over from that time, judging nothing it missed while disabled
    assert_eq!(
        (
            &enabled["enabled"],
            &enabled["armed"],
            &enabled["evaluated_through"],
            &enabled["evaluate_from"]
        ),
        (&json!(true), &json!(true), &Value::Null, &json!(start))
    );

    // GIVEN a fired rule read back whole, its start stored finer than the answer shows it
    world
        .sql(&format!(
            "UPDATE alert_rules SET armed = false, evaluate_from = '2024-06-01T00:00:00.000123Z',
                    evaluated_through = '2024-06-01T13:00:00Z' WHERE id = {id}"
        ))
        .await;
    let mut whole = get_with_token(&app, &path).await;
    assert_eq!(whole["evaluate_from"], "2024-06-01T00:00:00Z");

    // WHEN it is sent back unchanged
    let echoed = send(&app, "PUT", &path, &whole.to_string()).await.json();
    // THEN nothing starts over
    assert_eq!(
        (
            &echoed["armed"],
            &echoed["evaluated_through"],
            &echoed["evaluate_from"]
        ),
        (
            &json!(false),
            &json!("2024-06-01T13:00:00Z"),
            &json!("2024-06-01T00:00:00Z")
        )
    );

    // WHEN it is sent back with another threshold, its old start still in it
    whole["threshold"] = json!("72000");
    let edited = send(&app, "PUT", &path, &whole.to_string()).await.json();
    // THEN it starts over from now, not from its old start: the past is not evaluated again
    assert_eq!(
        (&edited["armed"], &edited["evaluated_through"]),
        (&json!(true), &Value::Null)
    );
    assert_ne!(edited["evaluate_from"], "2024-06-01T00:00:00Z");
}

#[tokio::test]
async fn every_bad_request_gets_a_clear_refusal_and_changes_nothing() {
    let world = World::new().await;
    let app = token_app(&world).await;
    let id = send(&app, "POST", "/api/alert-rules", BTC_ABOVE)
        .await
        .json()["id"]
        .as_i64()
        .expect("id");
    let token = format!("Bearer {TOKEN}");
    let auth = ("authorization", token.as_str());
    let json_type = ("content-type", "application/json");
    let big = format!(r#"{{"label": "{}"}}"#, "x".repeat(17 * 1024));

    for (method, target, headers, body, status, expected) in [
        (
            "POST",
            "/api/alert-rules".to_owned(),
            vec![auth, json_type],
            Some("{\"label\": "),
            400,
            "the body is not a JSON object: EOF while parsing",
        ),
        (
            "POST",
            "/api/alert-rules".to_owned(),
            vec![auth, json_type],
            None,
            400,
            "the body is not a JSON object",
        ),
        (
            "POST",
            "/api/alert-rules".to_owned(),
            vec![auth, json_type],
            Some("[]"),
            400,
            "the body is not a JSON object",
        ),
        (
            "POST",
            "/api/alert-rules".to_owned(),
            vec![auth],
            Some(BTC_ABOVE),
            415,
            "Content-Type: application/json (the request's content type: none)",
        ),
        (
            "POST",
            "/api/alert-rules".to_owned(),
            vec![auth, ("content-type", "text/plain")],
            Some(BTC_ABOVE),
            415,
            "(the request's content type: \"text/plain\")",
        ),
        (
            "POST",
            "/api/alert-rules".to_owned(),
            vec![auth, json_type],
            Some(big.as_str()),
            413,
            "a rule takes at most 16384",
        ),
        (
            "POST",
            "/api/alert-rules".to_owned(),
            vec![auth, json_type],
            Some(r#"{"label": "r", "source": "cmc", "kind": "price_above", "threshold": 10}"#),
            400,
            "rule \"r\": cmc_id is required: price and change rules watch one series",
        ),
        (
            "POST",
            "/api/alert-rules".to_owned(),
            vec![auth, json_type],
            Some(r#"{"label": "r", "source": "cmc", "kind": "stale", "window_minutes": 99999}"#),
            400,
            "rule \"r\": window_minutes must be a whole number from 1 to 10080, not 99999",
        ),
        (
            "POST",
            "/api/alert-rules".to_owned(),
            vec![auth, json_type],
            Some(
                r#"{"label": "r", "source": "binance", "pair": "BTCUSDT", "kind": "change_pct", "threshold": 0, "window_minutes": 60, "armed": false, "note": 1}"#,
            ),
            400,
            "rule \"r\": note is not a field of a rule",
        ),
        (
            "PUT",
            format!("/api/alert-rules/{id}"),
            vec![auth, json_type],
            Some(
                r#"{"label": "r", "source": "cmc", "cmc_id": 1, "quote_currency": "USD", "kind": "price_above", "threshold": -1}"#,
            ),
            400,
            &format!("rule {id} \"r\": threshold must be a price above 0"),
        ),
        (
            "PUT",
            "/api/alert-rules/abc".to_owned(),
            vec![auth, json_type],
            Some(BTC_ABOVE),
            400,
            "/api/alert-rules/abc: a rule is named by its id, a positive whole number",
        ),
        (
            "GET",
            "/api/alert-rules/0".to_owned(),
            vec![auth],
            None,
            400,
            "a rule is named by its id",
        ),
        (
            "PUT",
            format!("/api/alert-rules/{}", id + 100),
            vec![auth, json_type],
            Some(BTC_ABOVE),
            404,
            &format!("there is no alert rule {}", id + 100),
        ),
        (
            "PATCH",
            format!("/api/alert-rules/{id}"),
            vec![auth, json_type],
            Some(BTC_ABOVE),
            405,
            "answers only GET, HEAD, PUT, DELETE",
        ),
        (
            "PUT",
            "/api/alert-rules".to_owned(),
            vec![auth, json_type],
            Some(BTC_ABOVE),
            405,
            "answers only GET, HEAD, POST",
        ),
        (
            "POST",
            "/api/alerts".to_owned(),
            vec![auth, json_type],
            Some(BTC_ABOVE),
            405,
            "answers only GET, HEAD",
        ),
        (
            "GET",
            "/api/alerts?limit=0".to_owned(),
            vec![auth],
            None,
            400,
            "limit=\"0\" must be a whole number from 1 to 500",
        ),
        (
            "GET",
            "/api/alerts?since=soon".to_owned(),
            vec![auth],
            None,
            400,
            "since=\"soon\" is not a date",
        ),
        (
            "GET",
            "/api/alerts?rule_id=-2".to_owned(),
            vec![auth],
            None,
            400,
            "rule_id=\"-2\" must be a rule's id",
        ),
    ] {
        let answer = send_with(&app, method, &target, &headers, body, false).await;
        assert_eq!(
            answer.status,
            status,
            "{method} {target}: {}",
            answer.text()
        );
        let message = answer.json()["error"].as_str().unwrap_or("").to_owned();
        assert!(
            message.contains(expected),
            "{method} {target}: {message}\n  expected: {expected}"
        );
        if status == 405 {
            assert!(
                !answer.header("allow").is_empty(),
                "{method} {target}: no Allow"
            );
        }
    }
    // AND nothing changed
    let rules = get_with_token(&app, "/api/alert-rules").await;
    assert_eq!(rules["rules"].as_array().map(Vec::len), Some(1));
    assert_eq!(rules["rules"][0]["threshold"], "70000.50");
}

#[tokio::test]
async fn writes_need_the_token_or_iam_auth_even_when_reads_are_public() {
    let world = World::new().await;

    // GIVEN an API with a token: a write without it, or with another, is refused
    let app = token_app(&world).await;
    for headers in [
        vec![("content-type", "application/json")],
        vec![
            ("content-type", "application/json"),
            ("authorization", "Bearer not-the-token-at-all"),
        ],
    ] {
        let answer = send_with(
            &app,
            "POST",
            "/api/alert-rules",
            &headers,
            Some(BTC_ABOVE),
            false,
        )
        .await;
        assert_eq!(answer.status, 401, "{}", answer.text());
        assert!(!answer.text().contains(TOKEN));
    }
    // AND signing does not replace the token
    let answer = send_with(
        &app,
        "POST",
        "/api/alert-rules",
        &[("content-type", "application/json")],
        Some(BTC_ABOVE),
        true,
    )
    .await;
    assert_eq!(answer.status, 401);

    // GIVEN a public API without a token
    let public = world.app(&[]).await;
    // THEN reads are served
    assert_eq!(get(&public, "/api/alert-rules").await.status, 200);
    assert_eq!(get(&public, "/api/alerts").await.status, 200);
    // AND every write is refused, whatever the body
    for (method, target) in [
        ("POST", "/api/alert-rules"),
        ("PUT", "/api/alert-rules/1"),
        ("DELETE", "/api/alert-rules/1"),
    ] {
        let answer = send_with(
            &public,
            method,
            target,
            &[("content-type", "application/json")],
            Some(BTC_ABOVE),
            false,
        )
        .await;
        assert_eq!(answer.status, 403, "{method} {target}: {}", answer.text());
        assert!(answer.json()["error"]
            .as_str()
            .unwrap_or("")
            .contains("needs the shared token or IAM auth"));
    }
    assert_eq!(
        get(&public, "/api/alert-rules").await.json()["rules"],
        json!([])
    );

    // GIVEN a request the Function URL verified with AWS_IAM auth
    let signed = send_with(
        &public,
        "POST",
        "/api/alert-rules",
        &[("content-type", "application/json")],
        Some(BTC_ABOVE),
        true,
    )
    .await;
    // THEN it may write
    assert_eq!(signed.status, 201, "{}", signed.text());
}

#[tokio::test]
async fn a_database_user_without_the_editor_role_reads_rules_and_is_told_why_it_cannot_write() {
    // GIVEN the API logging in as a user with only coinlake_reader, and one with both roles
    let world = World::new().await;
    let suffix = world
        .db
        .name
        .trim_start_matches("coinlake_test_")
        .to_owned();
    let reader = format!("coinlake_api_reader_{suffix}");
    let editor = format!("coinlake_api_editor_{suffix}");
    world
        .sql(&format!(
            "CREATE ROLE {reader} LOGIN IN ROLE coinlake_reader;
             CREATE ROLE {editor} LOGIN IN ROLE coinlake_reader, coinlake_alert_editor;"
        ))
        .await;
    let url = |user: &str| {
        format!(
            "postgres://{user}@{}:{}/{}",
            world.db.host, world.db.port, world.db.name
        )
    };
    let reading = world
        .app(&[
            ("DATABASE_URL", url(&reader).as_str()),
            ("API_TOKEN", TOKEN),
        ])
        .await;
    let editing = world
        .app(&[
            ("DATABASE_URL", url(&editor).as_str()),
            ("API_TOKEN", TOKEN),
        ])
        .await;

    // WHEN the editor creates a rule
    let created = send(&editing, "POST", "/api/alert-rules", BTC_ABOVE).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_i64().expect("id");

    // THEN the reader sees it and every write of the reader is refused with the reason
    assert_eq!(
        get_with_token(&reading, "/api/alert-rules").await["rules"][0]["id"],
        id
    );
    assert_eq!(
        get_with_token(&reading, "/api/alerts").await["events"],
        json!([])
    );
    for (method, target) in [
        ("POST", "/api/alert-rules".to_owned()),
        ("PUT", format!("/api/alert-rules/{id}")),
        ("DELETE", format!("/api/alert-rules/{id}")),
    ] {
        let answer = send(&reading, method, &target, BTC_ABOVE).await;
        assert_eq!(answer.status, 500, "{method}: {}", answer.text());
        let message = answer.json()["error"].as_str().unwrap_or("").to_owned();
        assert!(
            message.contains("needs the coinlake_alert_editor role"),
            "{message}"
        );
        // AND it reveals nothing of the database
        for internal in ["permission denied", "42501", "alert_rules", reader.as_str()] {
            assert!(!message.contains(internal), "{internal}: {message}");
        }
    }
    // AND the editor can still change and delete it
    let path = format!("/api/alert-rules/{id}");
    assert_eq!(send(&editing, "PUT", &path, BTC_ABOVE).await.status, 200);
    assert_eq!(send(&editing, "DELETE", &path, "").await.status, 204);

    drop(reading);
    drop(editing);
    drop(world);
    for user in [reader, editor] {
        crate::reader_role::admin_cleanup(&user).await;
    }
}

#[tokio::test]
async fn the_data_api_reader_manages_rules_as_postgresql_does() {
    // GIVEN the same database reached directly and through the Data API
    let world = World::new().await;
    let emulator = DataApiEmulator::start(&world.db.host, world.db.port).await;
    let postgres = token_app(&world).await;
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
            ("API_TOKEN", TOKEN),
        ])
        .await;

    // WHEN a rule is created through the Data API
    let created = send(&data_api, "POST", "/api/alert-rules", BTC_ABOVE).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_i64().expect("id");
    let path = format!("/api/alert-rules/{id}");

    // THEN both readers answer the same
    for target in [
        "/api/alert-rules",
        path.as_str(),
        "/api/alerts",
        "/api/alerts?rule_id=1",
    ] {
        assert_eq!(
            get_with_token(&postgres, target).await,
            get_with_token(&data_api, target).await,
            "{target}"
        );
    }
    // AND replacing and deleting work through it, NULLs and exact decimals included
    let stale = r#"{"label": "quiet", "source": "cmc", "kind": "stale", "window_minutes": 20}"#;
    let replaced = send(&data_api, "PUT", &path, stale).await;
    assert_eq!(replaced.status, 200, "{}", replaced.text());
    assert_eq!(replaced.json(), get_with_token(&postgres, &path).await);
    assert_eq!(replaced.json()["threshold"], Value::Null);
    assert_eq!(send(&data_api, "DELETE", &path, "").await.status, 204);
    assert_eq!(send(&postgres, "GET", &path, "").await.status, 404);
}

#[tokio::test]
async fn a_write_the_data_api_may_have_run_is_never_sent_twice() {
    // GIVEN the Data API answering 504 once after it ran the statement
    let world = World::new().await;
    let emulator = DataApiEmulator::start(&world.db.host, world.db.port).await;
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
            ("API_TOKEN", TOKEN),
        ])
        .await;
    emulator.inject(
        Fault::new(Operation::ExecuteStatement, FaultError::DatabaseUnavailable).after_running(),
    );

    // WHEN a rule is created
    let created = send(&data_api, "POST", "/api/alert-rules", BTC_ABOVE).await;

    // THEN the answer is a 503 to retry, and the rule was inserted once, not twice
    assert_eq!(created.status, 503, "{}", created.text());
    assert!(created.json()["error"]
        .as_str()
        .unwrap_or("")
        .contains("may or may not have been made: read the rules before trying again"));
    let rules = get_with_token(&data_api, "/api/alert-rules").await;
    assert_eq!(rules["rules"].as_array().map(Vec::len), Some(1));
    let id = rules["rules"][0]["id"].as_i64().expect("id");

    // AND a delete answered the same way is not repeated into a 404
    emulator.inject(
        Fault::new(Operation::ExecuteStatement, FaultError::DatabaseUnavailable).after_running(),
    );
    let deleted = send(&data_api, "DELETE", &format!("/api/alert-rules/{id}"), "").await;
    assert_eq!(deleted.status, 503, "{}", deleted.text());
    assert_eq!(
        get_with_token(&data_api, "/api/alert-rules").await["rules"],
        json!([])
    );

    // AND a paused cluster, which refuses before running anything, is still waited for
    emulator.inject(Fault::new(Operation::ExecuteStatement, FaultError::DatabaseResuming).times(2));
    let created = send(&data_api, "POST", "/api/alert-rules", BTC_ABOVE).await;
    assert_eq!(created.status, 201, "{}", created.text());
}

#[tokio::test]
async fn a_refusal_for_lack_of_the_editor_role_reads_the_same_through_the_data_api() {
    // GIVEN a database that refuses rule writes as PostgreSQL refuses a missing privilege
    // (the Data API endpoint logs in as the owner, so the refusal is raised by a trigger
    // with the same SQLSTATE, 42501)
    let world = World::new().await;
    world
        .sql(
            "CREATE FUNCTION refuse_rule_writes() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'permission denied for table alert_rules' USING ERRCODE = '42501'; END $$;
             CREATE TRIGGER refuse_rule_writes BEFORE INSERT OR UPDATE OR DELETE ON alert_rules
             FOR EACH ROW EXECUTE FUNCTION refuse_rule_writes();",
        )
        .await;
    let emulator = DataApiEmulator::start(&world.db.host, world.db.port).await;
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
            ("API_TOKEN", TOKEN),
        ])
        .await;

    // WHEN a rule is created through the Data API
    let answer = send(&data_api, "POST", "/api/alert-rules", BTC_ABOVE).await;

    // THEN the answer names the missing role, and nothing of the database
    assert_eq!(answer.status, 500, "{}", answer.text());
    let message = answer.json()["error"].as_str().unwrap_or("").to_owned();
    assert!(
        message.contains("needs the coinlake_alert_editor role"),
        "{message}"
    );
    for internal in ["permission denied", "42501", "alert_rules", "SQLState"] {
        assert!(!message.contains(internal), "{internal}: {message}");
    }
}

#[tokio::test]
async fn the_sample_signed_event_creates_a_rule() {
    // GIVEN events/api-alert-rule-create.json: a POST a Function URL with AWS_IAM auth
    // verified, as `cargo lambda invoke api` sends it
    let world = World::new().await;
    let app = world.app(&[]).await;
    let event = std::fs::read_to_string(
        testkit::workspace_root().join("events/api-alert-rule-create.json"),
    )
    .expect("events/api-alert-rule-create.json");
    let request = lambda_http::request::from_str(&event).expect("a Function URL event");

    // WHEN the handler gets it as Lambda delivers it
    let response = api::handle(&app, request).await.expect("an answer");

    // THEN the rule is created
    assert_eq!(response.status(), 201);
    let lambda_http::Body::Text(body) = response.body() else {
        panic!("a small JSON answer is sent as text");
    };
    let rule: Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(
        (&rule["label"], &rule["threshold"], &rule["hysteresis"]),
        (&json!("BTC above 70k"), &json!("70000"), &json!("0.5"))
    );
}

#[tokio::test]
async fn a_start_further_back_than_a_week_is_refused_and_an_old_one_sent_back_is_kept() {
    // GIVEN the api with a token, and a rule that has watched since June 2024
    let world = World::new().await;
    let app = token_app(&world).await;
    let too_old = BTC_ABOVE.replace("}", ", \"evaluate_from\": \"2024-06-01T00:00:00Z\"}");

    // WHEN a rule is created to start then
    let refused = send(&app, "POST", "/api/alert-rules", &too_old).await;
    // THEN it is refused, saying why, and nothing is stored
    assert_eq!(refused.status, 400);
    assert!(
        refused
            .text()
            .contains("evaluate_from must be within the last 7 days, not 2024-06-01T00:00:00Z"),
        "{}",
        refused.text()
    );
    assert_eq!(
        get_with_token(&app, "/api/alert-rules").await["rules"],
        json!([])
    );

    // WHEN a rule whose start is that old (set by hand) is read and sent back, and then
    // sent with another start as old
    let id = send(&app, "POST", "/api/alert-rules", BTC_ABOVE)
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    world
        .sql(&format!(
            "UPDATE alert_rules SET evaluate_from = '2024-06-01T00:00:00Z' WHERE id = {id}"
        ))
        .await;
    let path = format!("/api/alert-rules/{id}");
    let mut whole = get_with_token(&app, &path).await;
    let kept = send(&app, "PUT", &path, &whole.to_string()).await;
    whole["evaluate_from"] = json!("2024-05-01T00:00:00Z");
    let moved = send(&app, "PUT", &path, &whole.to_string()).await;

    // THEN its own start is kept; another as old is refused
    assert_eq!(kept.status, 200, "{}", kept.text());
    assert_eq!(kept.json()["evaluate_from"], "2024-06-01T00:00:00Z");
    assert_eq!(moved.status, 400, "{}", moved.text());
}
