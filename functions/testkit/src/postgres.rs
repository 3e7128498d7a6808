//! A database of its own for each test on the real PostgreSQL server, dropped when the
//! test ends. The server is `COINLAKE_TEST_PG` (a `host:port`, default 127.0.0.1:5432,
//! user postgres, trust auth), which `scripts/test.sh` makes sure answers.

use std::sync::atomic::{AtomicU32, Ordering};
use tokio_postgres::{Client, NoTls};

pub const SERVER_VAR: &str = "COINLAKE_TEST_PG";

static SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// `(host, port)` of the test server.
pub fn server() -> (String, u16) {
    let address = std::env::var(SERVER_VAR).unwrap_or_else(|_| "127.0.0.1:5432".to_owned());
    let (host, port) = address.rsplit_once(':').unwrap_or((&address, "5432"));
    (host.to_owned(), port.parse().unwrap_or(5432))
}

pub struct TestDatabase {
    pub name: String,
    pub host: String,
    pub port: u16,
}

async fn connect(host: &str, port: u16, dbname: &str) -> Client {
    let (client, connection) = tokio_postgres::Config::new()
        .host(host)
        .port(port)
        .user("postgres")
        .dbname(dbname)
        .options("-c TimeZone=UTC")
        .connect(NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!("cannot connect to PostgreSQL at {host}:{port} ({e}); run scripts/setup.sh")
        });
    tokio::spawn(connection);
    client
}

impl TestDatabase {
    pub async fn new() -> TestDatabase {
        let (host, port) = server();
        let name = format!(
            "coinlake_test_{}_{}_{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed),
            chrono::Utc::now().timestamp_micros() % 1_000_000
        );
        let admin = connect(&host, port, "postgres").await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        TestDatabase { name, host, port }
    }

    /// `postgres://postgres@host:port/name`
    pub fn url(&self) -> String {
        format!(
            "postgres://postgres@{}:{}/{}",
            self.host, self.port, self.name
        )
    }

    /// A fresh connection to this database (session time zone UTC).
    pub async fn client(&self) -> Client {
        connect(&self.host, self.port, &self.name).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (host, port, name) = (self.host.clone(), self.port, self.name.clone());
        // Drop cannot await: a short-lived runtime on its own thread drops the database.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let admin = connect(&host, port, "postgres").await;
                let _ = admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            });
        });
        let _ = cleanup.join();
    }
}
