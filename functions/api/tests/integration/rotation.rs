//! A rotated database secret while the api is warm: the next request that needs a new
//! connection reads the secret again, once, and answers. Against a PostgreSQL cluster this
//! test owns that requires passwords, and moto's Secrets Manager.

use crate::common::get;
use coinlake::config::ApiConfig;
use testkit::cluster::EphemeralCluster;
use testkit::logs::capture;
use testkit::TestBucket;

#[tokio::test]
async fn a_rotated_password_is_read_again_once_and_the_next_request_is_answered() {
    // GIVEN a migrated, empty database whose owner logs in with a password from a secret
    let (logs, _guard) = capture();
    let bucket = TestBucket::new().await;
    let cluster = EphemeralCluster::start(None);
    cluster.require_passwords();
    let admin = cluster.admin().await;
    let role = format!("coinlake_api_rotation_{}", std::process::id());
    for statement in [
        format!("CREATE ROLE {role} LOGIN CREATEROLE PASSWORD 'first-pw-5a7e'"),
        format!("CREATE DATABASE {role} OWNER {role}"),
    ] {
        admin.batch_execute(&statement).await.expect(&statement);
    }
    let mut owner = cluster.connect(&role, Some("first-pw-5a7e"), &role).await;
    coinlake::db::migrate(&mut owner).await.expect("migrate");
    drop(owner);
    let secrets = aws_sdk_secretsmanager::Client::new(&bucket.sdk);
    let value =
        |password: &str| serde_json::json!({ "username": role, "password": password }).to_string();
    let secret_arn = secrets
        .create_secret()
        .name(format!("{}-db", bucket.name))
        .secret_string(value("first-pw-5a7e"))
        .send()
        .await
        .expect("create secret")
        .arn
        .expect("secret ARN");
    let vars = [
        ("DB_HOST", "127.0.0.1".to_owned()),
        ("DB_PORT", cluster.port.to_string()),
        ("DB_NAME", role.clone()),
        ("DB_SECRET_ARN", secret_arn.clone()),
    ];
    let config = ApiConfig::from_lookup(|name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    })
    .expect("valid configuration");
    let app = api::App::new(config, &bucket.sdk).await.expect("app");
    assert_eq!(get(&app, "/api/health").await.json()["status"], "empty");

    // WHEN the password is rotated and the api's session ends (an idle timeout, a failover)
    admin
        .batch_execute(&format!("ALTER ROLE {role} PASSWORD 'second-pw-c3d1'"))
        .await
        .expect("alter role");
    secrets
        .put_secret_value()
        .secret_id(&secret_arn)
        .secret_string(value("second-pw-c3d1"))
        .send()
        .await
        .expect("rotate secret");
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
            &[&role],
        )
        .await
        .expect("end sessions");
    let answer = get(&app, "/api/health").await;

    // THEN the same warm app answers from the database after one re-read of the secret
    assert_eq!(answer.json()["status"], "empty", "{}", answer.text());
    let text = logs.text();
    assert_eq!(
        text.matches("the database refused the credentials; reading the secret again")
            .count(),
        1,
        "{text}"
    );
    assert!(!text.contains("first-pw-5a7e") && !text.contains("second-pw-c3d1"));
}
