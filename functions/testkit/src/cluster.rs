//! A PostgreSQL cluster a test owns: created with `initdb` in a temporary directory on a
//! free loopback port, optionally serving TLS with a certificate from a [`TestCa`], stopped
//! and started at will, and removed when dropped. For what the shared server cannot do:
//! TLS settings, outages.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A certificate authority made for one test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `hosts`, signed by this CA: `(certificate PEM, key PEM)`.
    pub fn server_certificate(&self, hosts: &[&str]) -> (String, String) {
        let params =
            CertificateParams::new(hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>())
                .expect("server params");
        let key = KeyPair::generate().expect("server key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("server certificate");
        (cert.pem(), key.serialize_pem())
    }
}

static SEQUENCE: AtomicU32 = AtomicU32::new(0);

pub struct EphemeralCluster {
    pub port: u16,
    dir: PathBuf,
    bindir: PathBuf,
    as_postgres: bool,
}

fn bindir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect(
            "PostgreSQL server binaries under /usr/lib/postgresql (scripts/setup.sh installs them)",
        )
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

impl EphemeralCluster {
    /// Creates and starts a cluster (trust authentication, user `postgres`); with `tls`, a
    /// `(certificate PEM, key PEM)`, it also serves TLS.
    pub fn start(tls: Option<(String, String)>) -> EphemeralCluster {
        let port = crate::free_port();
        let dir = std::env::temp_dir().join(format!(
            "coinlake-pg-{}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("cluster directory");
        let cluster = EphemeralCluster {
            port,
            dir,
            bindir: bindir(),
            as_postgres: is_root(),
        };
        // PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
        cluster.chown(&cluster.dir);
        cluster.run(
            "initdb",
            &[
                "-D",
                cluster.data().to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "-N",
            ],
        );
        let mut settings = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\nfsync = off\nmax_connections = 50\n",
            cluster.dir.display()
        );
        if let Some((cert, key)) = tls {
            for (name, pem) in [("server.crt", cert), ("server.key", key)] {
                let path = cluster.data().join(name);
                std::fs::write(&path, pem).expect("write TLS file");
                cluster.chown(&path);
                set_mode(&path, 0o600);
            }
            settings
                .push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        }
        let conf = cluster.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("postgresql.conf");
        text.push_str(&settings);
        std::fs::write(&conf, text).expect("postgresql.conf");
        cluster.start_again();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn chown(&self, path: &Path) {
        if self.as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(path)
                .status()
                .expect("chown");
            assert!(status.success(), "chown postgres {}", path.display());
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let binary = self.bindir.join(program);
        let output = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&binary)
                .args(args)
                .output()
        } else {
            Command::new(&binary).args(args).output()
        }
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
        assert!(
            output.status.success(),
            "{program} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts the (stopped) cluster and waits until it accepts connections.
    pub fn start_again(&self) {
        let log = self.dir.join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
    }

    /// Stops the cluster at once, as a crash or failover would.
    pub fn stop(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    /// From now on every role but `postgres` must log in over TCP with its password
    /// (SCRAM, as RDS requires), so a test can change a password and see it refused.
    pub fn require_passwords(&self) {
        let hba = "local all all trust\n\
                   host all postgres 127.0.0.1/32 trust\n\
                   host all all 127.0.0.1/32 scram-sha-256\n";
        std::fs::write(self.data().join("pg_hba.conf"), hba).expect("pg_hba.conf");
        self.run("pg_ctl", &["-D", self.data().to_str().unwrap(), "reload"]);
        // `reload` only signals the postmaster, which rereads the file on its own time.
        std::thread::sleep(std::time::Duration::from_millis(500));
    }

    /// `postgres://postgres@HOST:PORT/postgres`
    pub fn url(&self, host: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres", self.port)
    }

    /// A superuser connection over TCP (trusted even after `require_passwords`), for the
    /// test to create the roles and databases it then logs in to with passwords.
    pub async fn admin(&self) -> tokio_postgres::Client {
        self.connect("postgres", None, "postgres").await
    }

    /// A plaintext TCP connection to `dbname` as `user`, with `password` when the role
    /// needs one (every role but `postgres` after `require_passwords`).
    pub async fn connect(
        &self,
        user: &str,
        password: Option<&str>,
        dbname: &str,
    ) -> tokio_postgres::Client {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(self.port)
            .user(user)
            .dbname(dbname);
        if let Some(password) = password {
            config.password(password);
        }
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect to {dbname} as {user}: {e}"));
        tokio::spawn(connection);
        client
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

impl Drop for EphemeralCluster {
    fn drop(&mut self) {
        let binary = self.bindir.join("pg_ctl");
        let data = self.data();
        let args = [
            "-D",
            data.to_str().unwrap_or_default(),
            "-m",
            "immediate",
            "stop",
        ];
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&binary)
                .args(args)
                .output()
        } else {
            Command::new(&binary).args(args).output()
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
