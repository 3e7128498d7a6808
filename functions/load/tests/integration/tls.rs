//! TLS `verify-full` against a live PostgreSQL: a server whose certificate chains to the
//! configured CA and names the host is accepted; any other is refused before a password or
//! a row crosses the wire.

use crate::common;

use common::{s3_event, World};
use lambda_runtime::Diagnostic;
use testkit::cluster::{EphemeralCluster, TestCa};
use testkit::{TestBucket, TestDatabase};

fn write_pem(dir: &std::path::Path, name: &str, pem: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn verify_full_accepts_only_a_server_signed_by_the_trusted_ca_under_the_right_name() {
    // GIVEN a PostgreSQL serving TLS with a certificate for "localhost" from a test CA
    let ca = TestCa::new("coinlake test CA");
    let impostor = TestCa::new("someone else's CA");
    let cluster = EphemeralCluster::start(Some(ca.server_certificate(&["localhost"])));
    let world = World {
        bucket: TestBucket::new().await,
        db: TestDatabase::new().await,
    };
    let key = world.put_btc("2024-06-01T12:35:00Z", "1").await;
    let dir = std::env::temp_dir().join(format!("coinlake-tls-{}", world.bucket.name));
    std::fs::create_dir_all(&dir).unwrap();
    let trusted = write_pem(&dir, "ca.pem", &ca.cert_pem());
    let untrusted = write_pem(&dir, "impostor.pem", &impostor.cert_pem());

    let attempt = |url: String, ca_file: Option<String>| {
        let world = &world;
        let key = key.clone();
        async move {
            let mut vars = vec![
                ("DATABASE_URL", url),
                ("DB_SSLMODE", "verify-full".to_owned()),
            ];
            if let Some(file) = ca_file {
                vars.push(("DB_CA_FILE", file));
            }
            let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let app = world.app(&vars).await;
            load::handle(&app, s3_event(&world.bucket.name, &[&key]))
                .await
                .map_err(Diagnostic::from)
        }
    };

    // WHEN the CA is not the server's, the name is not the certificate's, or only the RDS
    // bundle is trusted, THEN the connection is refused
    for (url, ca_file, why) in [
        (
            cluster.url("localhost"),
            Some(untrusted.clone()),
            "a certificate from another CA",
        ),
        (
            cluster.url("127.0.0.1"),
            Some(trusted.clone()),
            "a certificate for another name",
        ),
        (
            cluster.url("localhost"),
            None,
            "a CA outside the RDS bundle",
        ),
    ] {
        let failure = attempt(url, ca_file).await.expect_err(why);
        assert_eq!(failure.error_type, "DatabaseFailed", "{why}");
        assert!(
            failure.error_message.to_lowercase().contains("certificate"),
            "{why}: {}",
            failure.error_message
        );
    }

    // WHEN the server's CA is trusted and the name matches, THEN the file loads over TLS
    let loaded = attempt(cluster.url("localhost"), Some(trusted))
        .await
        .expect("verify-full with the right CA");
    assert_eq!(
        serde_json::to_value(loaded).unwrap()["results"][0]["inserted"],
        1
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn plaintext_is_refused_for_any_host_but_loopback() {
    let world = World::new().await;
    let config = world.config(&[
        (
            "DATABASE_URL",
            "postgres://postgres@db.internal.example:5432/coinlake",
        ),
        ("DB_SSLMODE", "disable"),
    ]);
    let error = load::App::new(config, &world.bucket.sdk)
        .await
        .err()
        .expect("refused at start-up")
        .to_string();
    assert!(
        error.contains(
            "DB_SSLMODE=disable is allowed only for a loopback host, not db.internal.example"
        ),
        "{error}"
    );
}
