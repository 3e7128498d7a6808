//! Rotated database secrets: a warm function whose password was changed reads the secret
//! again, once, and carries on; a secret that is still wrong fails clearly, naming the
//! secret and never a password. Against a PostgreSQL cluster this test owns that requires
//! passwords (the shared test server trusts every login), and moto's Secrets Manager.

use crate::common::{quote, s3_event};
use coinlake::config::LoadConfig;
use lambda_runtime::Diagnostic;
use std::sync::atomic::{AtomicU32, Ordering};
use testkit::cluster::EphemeralCluster;
use testkit::logs::{capture, CapturedLogs};
use testkit::TestBucket;

/// The warning `DbPool` logs before each re-read.
const REREAD: &str = "the database refused the credentials; reading the secret again";
static SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// A role with a password, the database it owns, and the RDS-shaped secret holding both.
struct Rotating {
    bucket: TestBucket,
    cluster: EphemeralCluster,
    admin: tokio_postgres::Client,
    secrets: aws_sdk_secretsmanager::Client,
    role: String,
    secret_arn: String,
}

fn secret_value(role: &str, password: &str) -> String {
    serde_json::json!({ "username": role, "password": password, "engine": "postgres" }).to_string()
}

impl Rotating {
    async fn new(password: &str) -> Rotating {
        let bucket = TestBucket::new().await;
        let cluster = EphemeralCluster::start(None);
        cluster.require_passwords();
        let admin = cluster.admin().await;
        let role = format!(
            "coinlake_rotation_{}_{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        for statement in [
            // CREATEROLE, as an RDS master user has: a migration creates the reader role.
            format!("CREATE ROLE {role} LOGIN CREATEROLE PASSWORD '{password}'"),
            format!("CREATE DATABASE {role} OWNER {role}"),
        ] {
            admin.batch_execute(&statement).await.expect(&statement);
        }
        let secrets = aws_sdk_secretsmanager::Client::new(&bucket.sdk);
        let secret_arn = secrets
            .create_secret()
            .name(format!("{}-db", bucket.name))
            .secret_string(secret_value(&role, password))
            .send()
            .await
            .expect("create the database secret")
            .arn
            .expect("secret ARN");
        Rotating {
            bucket,
            cluster,
            admin,
            secrets,
            role,
            secret_arn,
        }
    }

    fn config(&self, concurrency: usize) -> LoadConfig {
        let vars = [
            ("BUCKET_NAME", self.bucket.name.clone()),
            ("DB_HOST", "127.0.0.1".to_owned()),
            ("DB_PORT", self.cluster.port.to_string()),
            ("DB_NAME", self.role.clone()),
            ("DB_SECRET_ARN", self.secret_arn.clone()),
            ("LOAD_CONCURRENCY", concurrency.to_string()),
            ("AWS_ENDPOINT_URL_S3", self.bucket.endpoint.clone()),
        ];
        LoadConfig::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        })
        .expect("valid configuration")
    }

    /// The database changes the role's password; the secret follows with `secret_password`
    /// (a rotation's two steps, or a secret left behind when `None`).
    async fn rotate(&self, database_password: &str, secret_password: Option<&str>) {
        self.admin
            .batch_execute(&format!(
                "ALTER ROLE {} PASSWORD '{database_password}'",
                self.role
            ))
            .await
            .expect("alter role");
        if let Some(password) = secret_password {
            self.secrets
                .put_secret_value()
                .secret_id(&self.secret_arn)
                .secret_string(secret_value(&self.role, password))
                .send()
                .await
                .expect("put the new secret value");
        }
    }

    /// Ends the role's sessions, as an idle timeout or a failover does, so the next
    /// invocation must log in again.
    async fn end_sessions(&self) {
        self.admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
                &[&self.role],
            )
            .await
            .expect("terminate sessions");
    }

    async fn put_snapshot(&self, slot: &str, price: &str) -> String {
        let at: chrono::DateTime<chrono::Utc> = slot.parse().expect("slot");
        let updated = (at - chrono::TimeDelta::seconds(30)).to_rfc3339();
        self.bucket
            .put_snapshot(at, &[quote(1, "BTC", price, &updated, slot)])
            .await
    }

    async fn load(&self, app: &load::App, key: &str) -> Result<(), Diagnostic> {
        load::handle(app, s3_event(&self.bucket.name, &[key]))
            .await
            .map(|_| ())
            .map_err(Diagnostic::from)
    }

    async fn stored_quotes(&self) -> i64 {
        self.cluster
            .connect("postgres", None, &self.role)
            .await
            .query_one("SELECT count(*) FROM quotes", &[])
            .await
            .expect("count quotes")
            .get(0)
    }
}

fn rereads(logs: &CapturedLogs) -> usize {
    logs.text().matches(REREAD).count()
}

fn assert_no_password(text: &str, passwords: &[&str]) {
    for password in passwords {
        assert!(!text.contains(password), "a password leaked: {text}");
    }
}

#[tokio::test]
async fn a_rotated_password_is_read_again_once_and_the_warm_function_carries_on() {
    // GIVEN a warm load function that logged in with the first password
    let (logs, _guard) = capture();
    let world = Rotating::new("first-pw-7a1c").await;
    let app = load::App::new(world.config(4), &world.bucket.sdk)
        .await
        .expect("app starts");
    let first = world.put_snapshot("2024-06-01T12:35:00Z", "1").await;
    world.load(&app, &first).await.expect("first load");
    assert_eq!(rereads(&logs), 0);

    // WHEN the secret is rotated and its session ends before the next invocation
    world.rotate("second-pw-9b2d", Some("second-pw-9b2d")).await;
    world.end_sessions().await;
    let second = world.put_snapshot("2024-06-01T12:40:00Z", "2").await;
    let loaded = world.load(&app, &second).await;

    // THEN the same warm app loads it after exactly one re-read of the secret, and later
    // logins use the new credentials without reading it again
    loaded.expect("the load after rotation succeeds");
    assert_eq!(rereads(&logs), 1, "{}", logs.text());
    assert!(logs.text().contains(&world.secret_arn));
    world.end_sessions().await;
    let third = world.put_snapshot("2024-06-01T12:45:00Z", "3").await;
    world.load(&app, &third).await.expect("third load");
    assert_eq!(rereads(&logs), 1);
    assert_eq!(world.stored_quotes().await, 3);
    assert_no_password(&logs.text(), &["first-pw-7a1c", "second-pw-9b2d"]);
}

#[tokio::test]
async fn a_secret_still_wrong_after_reading_it_again_fails_naming_the_secret_not_the_password() {
    // GIVEN a warm load function
    let (logs, _guard) = capture();
    let world = Rotating::new("first-pw-3e5f").await;
    let app = load::App::new(world.config(4), &world.bucket.sdk)
        .await
        .expect("app starts");
    let first = world.put_snapshot("2024-06-01T12:35:00Z", "1").await;
    world.load(&app, &first).await.expect("first load");

    // WHEN the database password changes but the secret is not updated
    world.rotate("db-only-pw-8c4a", None).await;
    world.end_sessions().await;
    let second = world.put_snapshot("2024-06-01T12:40:00Z", "2").await;
    let error = world.load(&app, &second).await.expect_err("the load fails");

    // THEN the invocation fails (retryable) after one re-read, naming the secret and no password
    assert_eq!(error.error_type, "DatabaseFailed");
    assert!(
        error.error_message.contains(&world.secret_arn)
            && error
                .error_message
                .contains("also after reading the secret again")
            && error.error_message.contains("28P01"),
        "{}",
        error.error_message
    );
    assert_eq!(rereads(&logs), 1);
    assert_no_password(&error.error_message, &["first-pw-3e5f", "db-only-pw-8c4a"]);
    assert_no_password(&logs.text(), &["first-pw-3e5f", "db-only-pw-8c4a"]);
    assert_eq!(world.stored_quotes().await, 1);

    // AND a retry moments later fails at once, without reading the secret again
    let error = world.load(&app, &second).await.expect_err("still refused");
    assert!(
        error.error_message.contains(&world.secret_arn),
        "{}",
        error.error_message
    );
    assert_eq!(rereads(&logs), 1);

    // AND once the secret is corrected, Lambda's retry (a minute later in AWS; past the
    // 5 s re-read interval here) on the same warm app loads the file
    world
        .rotate("db-only-pw-8c4a", Some("db-only-pw-8c4a"))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(5100)).await;
    world.load(&app, &second).await.expect("the retry loads");
    assert_eq!(rereads(&logs), 2);
    assert_eq!(world.stored_quotes().await, 2);
}

#[tokio::test]
async fn a_pooled_connection_keeps_working_while_a_new_one_logs_in_with_the_rotated_secret() {
    // GIVEN a pool of two whose first connection is open and held
    let (logs, _guard) = capture();
    let world = Rotating::new("first-pw-1d9e").await;
    let config = world.config(2);
    let pool = coinlake::db::Database::open(&config.sink, 2, &world.bucket.sdk)
        .await
        .and_then(coinlake::db::Database::into_pool)
        .expect("pool");
    assert_eq!(pool.max_size(), 2);
    let held = pool.get().await.expect("first connection");

    // WHEN the password is rotated
    world.rotate("second-pw-4f0b", Some("second-pw-4f0b")).await;

    // THEN the open connection still works without a re-read (PostgreSQL checks passwords at login)
    let user: String = held
        .query_one("SELECT current_user::text", &[])
        .await
        .expect("the pooled connection still answers")
        .get(0);
    assert_eq!(user, world.role);
    assert_eq!(rereads(&logs), 0);
    // AND a second connection, refused with the old password, logs in after one re-read
    let second = pool
        .get()
        .await
        .expect("a new connection after the re-read");
    second
        .query_one("SELECT 1", &[])
        .await
        .expect("the new connection answers");
    assert_eq!(rereads(&logs), 1, "{}", logs.text());
    drop((held, second));
}

#[tokio::test]
async fn a_refused_login_whose_secret_cannot_be_read_again_fails_naming_the_secret() {
    // GIVEN a warm load function, then its password changed and its secret deleted
    let (logs, _guard) = capture();
    let world = Rotating::new("first-pw-6b3c").await;
    let app = load::App::new(world.config(4), &world.bucket.sdk)
        .await
        .expect("app starts");
    let first = world.put_snapshot("2024-06-01T12:35:00Z", "1").await;
    world.load(&app, &first).await.expect("first load");
    world.rotate("second-pw-2e8f", None).await;
    world
        .secrets
        .delete_secret()
        .secret_id(&world.secret_arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("delete the secret");
    world.end_sessions().await;

    // WHEN the next file arrives
    let second = world.put_snapshot("2024-06-01T12:40:00Z", "2").await;
    let error = world.load(&app, &second).await.expect_err("the load fails");

    // THEN a retryable DatabaseFailed says the secret could not be read again, and why
    assert_eq!(error.error_type, "DatabaseFailed");
    assert!(
        error.error_message.contains(&format!(
            "secret {} could not be read again",
            world.secret_arn
        )),
        "{}",
        error.error_message
    );
    assert_eq!(rereads(&logs), 1);
    assert_no_password(&logs.text(), &["first-pw-6b3c", "second-pw-2e8f"]);
    assert_eq!(world.stored_quotes().await, 1);
}
