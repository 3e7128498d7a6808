//! A minimal Lambda Runtime API (the HTTP interface a function's runtime polls), for
//! measuring a real function binary as Lambda runs it: how long it takes from process start
//! to its first poll (the "Init Duration"), and how long each invocation takes.
//! https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, Notify};

/// What one invocation returned, and how long it took from the event being handed out to
/// the answer arriving.
#[derive(Debug)]
pub struct Invocation {
    pub ok: bool,
    pub body: String,
    pub duration: Duration,
}

type Answer = oneshot::Sender<(bool, String, Instant)>;
/// A queued event: request id, payload, deadline (epoch milliseconds).
type Event = (String, Vec<u8>, u64);

#[derive(Clone)]
struct Shared {
    events: Arc<tokio::sync::Mutex<mpsc::Receiver<Event>>>,
    /// Answers awaited, by request id.
    waiting: Arc<Mutex<HashMap<String, Answer>>>,
    first_poll: Arc<Mutex<Option<Instant>>>,
    polled: Arc<Notify>,
}

pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    events: mpsc::Sender<Event>,
    shared: Shared,
    sequence: Mutex<u64>,
    task: tokio::task::JoinHandle<()>,
}

async fn next(State(shared): State<Shared>) -> impl IntoResponse {
    {
        let mut first = shared.first_poll.lock().expect("lock");
        if first.is_none() {
            *first = Some(Instant::now());
            shared.polled.notify_waiters();
        }
    }
    let Some((id, payload, deadline_ms)) = shared.events.lock().await.recv().await else {
        return (StatusCode::GONE, HeaderMap::new(), Bytes::new());
    };
    let mut headers = HeaderMap::new();
    let header = |v: String| HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static(""));
    headers.insert("lambda-runtime-aws-request-id", header(id));
    headers.insert(
        "lambda-runtime-deadline-ms",
        header(deadline_ms.to_string()),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:bench"),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        HeaderValue::from_static("Root=1-00000000-000000000000000000000000"),
    );
    (StatusCode::OK, headers, Bytes::from(payload))
}

async fn answer(shared: &Shared, id: &str, ok: bool, body: Bytes) -> StatusCode {
    let at = Instant::now();
    if let Some(done) = shared.waiting.lock().expect("lock").remove(id) {
        let _ = done.send((ok, String::from_utf8_lossy(&body).into_owned(), at));
    }
    StatusCode::ACCEPTED
}

async fn response(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&shared, &id, true, body).await
}

async fn error(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&shared, &id, false, body).await
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind runtime API");
        let address = listener.local_addr().expect("address").to_string();
        let (events, receiver) = mpsc::channel(16);
        let shared = Shared {
            events: Arc::new(tokio::sync::Mutex::new(receiver)),
            waiting: Arc::default(),
            first_poll: Arc::default(),
            polled: Arc::default(),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RuntimeApi {
            address,
            events,
            shared,
            sequence: Mutex::new(0),
            task,
        }
    }

    /// When the function first asked for an event: the end of its initialisation.
    pub async fn first_poll(&self, limit: Duration) -> Option<Instant> {
        let started = Instant::now();
        loop {
            let notified = self.shared.polled.notified();
            if let Some(at) = *self.shared.first_poll.lock().expect("lock") {
                return Some(at);
            }
            let left = limit.checked_sub(started.elapsed())?;
            if tokio::time::timeout(left, notified).await.is_err() {
                return *self.shared.first_poll.lock().expect("lock");
            }
        }
    }

    /// Hands `payload` to the function with `budget` to run, and waits for its answer.
    pub async fn invoke(&self, payload: &serde_json::Value, budget: Duration) -> Invocation {
        let id = {
            let mut sequence = self.sequence.lock().expect("lock");
            *sequence += 1;
            format!("bench-{sequence}")
        };
        let (done, answered) = oneshot::channel();
        self.shared
            .waiting
            .lock()
            .expect("lock")
            .insert(id.clone(), done);
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let handed = Instant::now();
        self.events
            .send((
                id,
                payload.to_string().into_bytes(),
                now_ms + budget.as_millis() as u64,
            ))
            .await
            .expect("runtime API running");
        let (ok, body, at) = answered.await.expect("the function answers");
        Invocation {
            ok,
            body,
            duration: at.saturating_duration_since(handed),
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A function's release binary (`cargo build --release -p NAME`), in `CARGO_TARGET_DIR` when
/// set, else the workspace's `target/`.
pub fn release_binary(name: &str) -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"));
    let path = target.join("release").join(name);
    assert!(
        path.exists(),
        "{} is missing: cargo build --release -p {name}",
        path.display()
    );
    path
}

/// A function binary running against a [`RuntimeApi`], as Lambda runs it; killed on drop.
pub struct FunctionProcess {
    child: std::process::Child,
}

impl FunctionProcess {
    /// Starts `name`'s release binary with Lambda's variables and `env`. Its output (JSON
    /// logs on stdout, as Lambda reads them) goes to `BENCH_LOG_DIR/<name>.log` when set
    /// (with `BENCH_RUST_LOG` for the level), else nowhere.
    pub fn spawn(name: &str, runtime: &RuntimeApi, env: &[(&str, String)]) -> FunctionProcess {
        let child = std::process::Command::new(release_binary(name))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env(
                "RUST_LOG",
                std::env::var("BENCH_RUST_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(function_log(name))
            .stderr(function_log(name))
            .spawn()
            .expect("start the function");
        FunctionProcess { child }
    }

    /// The process's peak resident memory so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn function_log(name: &str) -> std::process::Stdio {
    let Ok(dir) = std::env::var("BENCH_LOG_DIR") else {
        return std::process::Stdio::null();
    };
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(std::path::PathBuf::from(dir).join(format!("{name}.log")))
        .map(std::process::Stdio::from)
        .unwrap_or_else(|_| std::process::Stdio::null())
}
