//! A stand-in for the Amazon RDS Data API (`rds-data`, REST-JSON) that runs the received
//! statements on a real PostgreSQL server, so tests can drive the Data API sink through the
//! real `aws-sdk-rdsdata` client and compare its rows with the direct PostgreSQL sink's.
//!
//! Only what coinlake uses is served: `BeginTransaction`, `ExecuteStatement`,
//! `BatchExecuteStatement`, `CommitTransaction` and `RollbackTransaction`. Requests are
//! SigV4-signed by the SDK; the signature is not checked.
//!
//! The Data API binds `:name` parameters server-side; here each placeholder is replaced by a
//! typed SQL literal and the statement runs with the simple query protocol. As strict as the
//! service's documented behaviour (RDS Data API reference, `SqlParameter` and `Field`):
//! a `stringValue` is `character varying` (so a string into a numeric or timestamp column
//! without a `typeHint` fails, as on Aurora), a `longValue` is `bigint`, a `doubleValue`
//! `double precision`; a `typeHint` applies to strings only, and `TIMESTAMP`, `DATE` and
//! `TIME` accept exactly `YYYY-MM-DD HH:MM:SS[.FFF]`, `YYYY-MM-DD` and `HH:MM:SS[.FFF]`.
//!
//! Faults are injected on a schedule ([`Fault`]): "the next N calls of operation X answer
//! error Y", either instead of running or after running (the reply lost, the work done).
//! Errors carry the status and `x-amzn-ErrorType` of the service model (`rds-data`
//! 2018-08-01), which is what the SDK parses.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use serde_json::{json, Value as JsonValue};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage, SimpleQueryRow};

const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// A Data API operation, for fault schedules and call counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    BeginTransaction,
    ExecuteStatement,
    BatchExecuteStatement,
    CommitTransaction,
    RollbackTransaction,
}

/// An error the real service answers that no SQL can provoke here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    /// 400: the Aurora Serverless v2 instance is paused and resuming.
    DatabaseResuming,
    /// 504: the writer instance is not available.
    DatabaseUnavailable,
    /// 503: the service is not available.
    ServiceUnavailable,
    /// 400: the statement timed out.
    StatementTimeout,
    /// 400: the account's request rate was exceeded (AWS common error).
    Throttling,
    /// 500: an internal error.
    InternalServerError,
    /// 404: the cluster has no DB instance.
    DatabaseNotFound,
}

impl FaultError {
    fn api_error(self) -> ApiError {
        let (status, kind, message) = match self {
            FaultError::DatabaseResuming => (
                StatusCode::BAD_REQUEST,
                "DatabaseResumingException",
                "The Aurora DB instance db-EXAMPLE is resuming after being auto-paused. Please wait a few seconds and try again.",
            ),
            FaultError::DatabaseUnavailable => (
                StatusCode::GATEWAY_TIMEOUT,
                "DatabaseUnavailableException",
                "The writer instance in the DB cluster isn't available.",
            ),
            FaultError::ServiceUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableError",
                "The service isn't available.",
            ),
            FaultError::StatementTimeout => (
                StatusCode::BAD_REQUEST,
                "StatementTimeoutException",
                "The execution of the SQL statement timed out.",
            ),
            FaultError::Throttling => (
                StatusCode::BAD_REQUEST,
                "ThrottlingException",
                "Rate exceeded",
            ),
            FaultError::InternalServerError => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerErrorException",
                "An internal error occurred.",
            ),
            FaultError::DatabaseNotFound => (
                StatusCode::NOT_FOUND,
                "DatabaseNotFoundException",
                "The DB cluster doesn't have a DB instance.",
            ),
        };
        ApiError {
            status,
            kind,
            message: message.to_owned(),
        }
    }
}

/// "The next `times` calls of `operation`, after `skip` more, answer `error`."
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub operation: Operation,
    pub error: FaultError,
    pub times: u32,
    pub skip: u32,
    /// Run the request first, then answer the error: the work is done, the reply lost.
    pub after_running: bool,
}

impl Fault {
    /// The next call of `operation` answers `error` without running.
    pub fn new(operation: Operation, error: FaultError) -> Fault {
        Fault {
            operation,
            error,
            times: 1,
            skip: 0,
            after_running: false,
        }
    }

    pub fn times(self, times: u32) -> Fault {
        Fault { times, ..self }
    }

    /// Lets `skip` calls of the operation through first.
    pub fn skip(self, skip: u32) -> Fault {
        Fault { skip, ..self }
    }

    pub fn after_running(self) -> Fault {
        Fault {
            after_running: true,
            ..self
        }
    }
}

/// A running emulator; the server stops when this is dropped.
pub struct DataApiEmulator {
    pub endpoint: String,
    server: JoinHandle<()>,
    state: Arc<Emulator>,
}

impl DataApiEmulator {
    /// Serves on a random 127.0.0.1 port; statements run on the PostgreSQL server at host:port
    /// as user `postgres` (trust auth, no password, no TLS), in the database each request names
    /// in its `database` field (BeginTransaction / ExecuteStatement / BatchExecuteStatement).
    pub async fn start(pg_host: &str, pg_port: u16) -> DataApiEmulator {
        let state = Arc::new(Emulator {
            pg_host: pg_host.to_owned(),
            pg_port,
            transactions: Mutex::new(HashMap::new()),
            next_transaction: AtomicU64::new(1),
            faults: Mutex::new(Vec::new()),
            calls: Mutex::new(HashMap::new()),
        });
        let router = Router::new()
            .route("/BeginTransaction", post(begin_transaction))
            .route("/Execute", post(execute_statement))
            .route("/BatchExecute", post(batch_execute_statement))
            .route("/CommitTransaction", post(commit_transaction))
            .route("/RollbackTransaction", post(rollback_transaction))
            // The real service takes requests up to 4 MiB; axum's default stops at 2 MiB.
            .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Data API emulator to a local port");
        let address = listener
            .local_addr()
            .expect("local address of the Data API emulator");
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "Data API emulator stopped");
            }
        });
        DataApiEmulator {
            endpoint: format!("http://{address}"),
            server,
            state,
        }
    }
}

impl DataApiEmulator {
    /// Schedules `fault`; faults for the same operation apply in the order injected.
    pub fn inject(&self, fault: Fault) {
        if let Ok(mut faults) = self.state.faults.lock() {
            faults.push(fault);
        }
    }

    /// Requests of `operation` received so far, faulted ones included.
    pub fn calls(&self, operation: Operation) -> u32 {
        self.state
            .calls
            .lock()
            .map_or(0, |calls| calls.get(&operation).copied().unwrap_or(0))
    }

    /// Whether every injected fault has been answered.
    pub fn faults_spent(&self) -> bool {
        self.state
            .faults
            .lock()
            .is_ok_and(|faults| faults.is_empty())
    }
}

impl Drop for DataApiEmulator {
    fn drop(&mut self) {
        self.server.abort();
        // HTTP connections the SDK keeps alive hold the state past the abort; dropping the
        // open transactions' clients now closes their sessions, so PostgreSQL rolls them back
        // and releases their locks.
        if let Ok(mut transactions) = self.state.transactions.lock() {
            transactions.clear();
        }
    }
}

struct Emulator {
    pg_host: String,
    pg_port: u16,
    /// Open transactions by id, each on a session of its own.
    transactions: Mutex<HashMap<String, Arc<Client>>>,
    next_transaction: AtomicU64,
    faults: Mutex<Vec<Fault>>,
    calls: Mutex<HashMap<Operation, u32>>,
}

/// What the schedule says about one request.
enum Scheduled {
    Run,
    Refuse(ApiError),
    RunThenAnswer(ApiError),
}

impl Emulator {
    /// Counts the request and takes the fault it meets, if any.
    fn schedule(&self, operation: Operation) -> Result<Scheduled, ApiError> {
        *self
            .calls
            .lock()
            .map_err(|_| ApiError::internal("call counts poisoned"))?
            .entry(operation)
            .or_default() += 1;
        let mut faults = self
            .faults
            .lock()
            .map_err(|_| ApiError::internal("fault schedule poisoned"))?;
        let Some(index) = faults.iter().position(|f| f.operation == operation) else {
            return Ok(Scheduled::Run);
        };
        let fault = &mut faults[index];
        if fault.skip > 0 {
            fault.skip -= 1;
            return Ok(Scheduled::Run);
        }
        let answer = fault.error.api_error();
        let after_running = fault.after_running;
        fault.times = fault.times.saturating_sub(1);
        if fault.times == 0 {
            faults.remove(index);
        }
        Ok(if after_running {
            Scheduled::RunThenAnswer(answer)
        } else {
            Scheduled::Refuse(answer)
        })
    }

    async fn connect(&self, database: &str) -> Result<Client, ApiError> {
        let (client, connection) = tokio_postgres::Config::new()
            .host(&self.pg_host)
            .port(self.pg_port)
            .user("postgres")
            .dbname(database)
            // Literal quoting below relies on standard strings; UTC matches the sinks' sessions.
            .options("-c TimeZone=UTC -c standard_conforming_strings=on")
            .connect(NoTls)
            .await
            .map_err(ApiError::database)?;
        // The connection ends when the client is dropped; its errors reach the client.
        tokio::spawn(connection);
        Ok(client)
    }

    fn transaction(&self, id: &str) -> Result<Arc<Client>, ApiError> {
        self.lock_transactions()?
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::transaction_not_found(id))
    }

    fn lock_transactions(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<String, Arc<Client>>>, ApiError> {
        self.transactions
            .lock()
            .map_err(|_| ApiError::internal("transaction table poisoned"))
    }

    /// The transaction's session, or a fresh autocommit session on the named database.
    async fn session(
        &self,
        transaction_id: Option<&str>,
        database: Option<&str>,
    ) -> Result<Arc<Client>, ApiError> {
        match transaction_id {
            Some(id) => self.transaction(id),
            None => Ok(Arc::new(self.connect(required_database(database)?).await?)),
        }
    }

    /// Removes the transaction and runs `command` (COMMIT or ROLLBACK) on its session.
    async fn finish(&self, id: &str, command: &str) -> Result<(), ApiError> {
        let client = self
            .lock_transactions()?
            .remove(id)
            .ok_or_else(|| ApiError::not_found(id))?;
        client
            .simple_query(command)
            .await
            .map_err(ApiError::database)?;
        Ok(())
    }
}

type Shared = State<Arc<Emulator>>;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BeginRequest {
    database: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecuteRequest {
    database: Option<String>,
    sql: String,
    #[serde(default)]
    parameters: Vec<SqlParameter>,
    transaction_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchRequest {
    database: Option<String>,
    sql: String,
    #[serde(default)]
    parameter_sets: Vec<Vec<SqlParameter>>,
    transaction_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EndRequest {
    transaction_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SqlParameter {
    name: String,
    value: Option<Field>,
    type_hint: Option<String>,
}

/// The `Field` union: exactly one member is set.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
enum Field {
    /// The SDK only ever sends `true`; any value means NULL.
    IsNull(IgnoredAny),
    BooleanValue(bool),
    LongValue(i64),
    /// A number, or the string `NaN` / `Infinity` / `-Infinity` Smithy JSON uses for those.
    DoubleValue(JsonValue),
    StringValue(String),
    BlobValue(IgnoredAny),
    ArrayValue(IgnoredAny),
}

/// Runs `handler` as the fault schedule for `operation` says.
async fn scheduled(
    emulator: &Emulator,
    operation: Operation,
    handler: impl Future<Output = Result<Response, ApiError>>,
) -> Result<Response, ApiError> {
    match emulator.schedule(operation)? {
        Scheduled::Run => handler.await,
        Scheduled::Refuse(error) => Err(error),
        Scheduled::RunThenAnswer(error) => {
            handler.await?;
            Err(error)
        }
    }
}

async fn begin_transaction(State(emulator): Shared, body: Bytes) -> Result<Response, ApiError> {
    scheduled(
        &emulator,
        Operation::BeginTransaction,
        begin(&emulator, &body),
    )
    .await
}

async fn begin(emulator: &Emulator, body: &[u8]) -> Result<Response, ApiError> {
    let request: BeginRequest = parse(body)?;
    let client = emulator
        .connect(required_database(request.database.as_deref())?)
        .await?;
    client
        .simple_query("BEGIN")
        .await
        .map_err(ApiError::database)?;
    let id = format!(
        "emulated-tx-{}-{}",
        std::process::id(),
        emulator.next_transaction.fetch_add(1, Ordering::Relaxed)
    );
    emulator
        .lock_transactions()?
        .insert(id.clone(), Arc::new(client));
    Ok(Json(json!({ "transactionId": id })).into_response())
}

async fn execute_statement(State(emulator): Shared, body: Bytes) -> Result<Response, ApiError> {
    scheduled(
        &emulator,
        Operation::ExecuteStatement,
        execute(&emulator, &body),
    )
    .await
}

async fn execute(emulator: &Emulator, body: &[u8]) -> Result<Response, ApiError> {
    let request: ExecuteRequest = parse(body)?;
    let sql = bind(&request.sql, &request.parameters)?;
    let client = emulator
        .session(
            request.transaction_id.as_deref(),
            request.database.as_deref(),
        )
        .await?;
    let outcome = run(&client, &sql).await?;
    let mut response = json!({ "numberOfRecordsUpdated": outcome.updated });
    if let Some(records) = outcome.records {
        response["records"] = JsonValue::Array(records);
    }
    Ok(Json(response).into_response())
}

async fn batch_execute_statement(
    State(emulator): Shared,
    body: Bytes,
) -> Result<Response, ApiError> {
    scheduled(
        &emulator,
        Operation::BatchExecuteStatement,
        batch_execute(&emulator, &body),
    )
    .await
}

async fn batch_execute(emulator: &Emulator, body: &[u8]) -> Result<Response, ApiError> {
    let request: BatchRequest = parse(body)?;
    let statements = request
        .parameter_sets
        .iter()
        .map(|set| bind(&request.sql, set))
        .collect::<Result<Vec<_>, _>>()?;
    let client = emulator
        .session(
            request.transaction_id.as_deref(),
            request.database.as_deref(),
        )
        .await?;
    if !statements.is_empty() {
        // One round trip for the whole batch; the newlines keep a trailing `--` comment in
        // the statement from swallowing the separator.
        run(&client, &statements.join("\n;\n")).await?;
    }
    let results: Vec<JsonValue> = statements
        .iter()
        .map(|_| json!({ "generatedFields": [] }))
        .collect();
    Ok(Json(json!({ "updateResults": results })).into_response())
}

async fn commit_transaction(State(emulator): Shared, body: Bytes) -> Result<Response, ApiError> {
    let commit = async {
        let request: EndRequest = parse(&body)?;
        emulator.finish(&request.transaction_id, "COMMIT").await?;
        Ok(Json(json!({ "transactionStatus": "Transaction Committed" })).into_response())
    };
    scheduled(&emulator, Operation::CommitTransaction, commit).await
}

async fn rollback_transaction(State(emulator): Shared, body: Bytes) -> Result<Response, ApiError> {
    let rollback = async {
        let request: EndRequest = parse(&body)?;
        emulator.finish(&request.transaction_id, "ROLLBACK").await?;
        Ok(Json(json!({ "transactionStatus": "Rollback Complete" })).into_response())
    };
    scheduled(&emulator, Operation::RollbackTransaction, rollback).await
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid request: {e}")))
}

/// The real service falls back to the secret's database; the emulator has no secrets.
fn required_database(database: Option<&str>) -> Result<&str, ApiError> {
    database.ok_or_else(|| ApiError::bad_request("the emulator needs a database in the request"))
}

/// What the last command of a statement produced.
struct Outcome {
    updated: u64,
    /// Present only when the command returns rows, as with the real service.
    records: Option<Vec<JsonValue>>,
}

async fn run(client: &Client, sql: &str) -> Result<Outcome, ApiError> {
    let messages = client.simple_query(sql).await.map_err(ApiError::database)?;
    let mut outcome = Outcome {
        updated: 0,
        records: None,
    };
    let mut rows: Option<Vec<JsonValue>> = None;
    for message in messages {
        match message {
            SimpleQueryMessage::RowDescription(_) => rows = Some(Vec::new()),
            SimpleQueryMessage::Row(row) => rows.get_or_insert_with(Vec::new).push(record(&row)),
            SimpleQueryMessage::CommandComplete(count) => {
                outcome = Outcome {
                    updated: count,
                    records: rows.take(),
                };
            }
            _ => {}
        }
    }
    Ok(outcome)
}

/// A row as Data API fields; the simple protocol returns text, so every value is a string.
fn record(row: &SimpleQueryRow) -> JsonValue {
    let fields = (0..row.len())
        .map(|i| match row.get(i) {
            Some(text) => json!({ "stringValue": text }),
            None => json!({ "isNull": true }),
        })
        .collect();
    JsonValue::Array(fields)
}

/// `sql` with every `:name` placeholder replaced by its parameter's literal.
fn bind(sql: &str, parameters: &[SqlParameter]) -> Result<String, ApiError> {
    let literals = parameters
        .iter()
        .map(|p| Ok((p.name.as_str(), literal(p)?)))
        .collect::<Result<HashMap<&str, String>, ApiError>>()?;
    substitute(sql, |name| {
        literals
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| ApiError::bad_request(format!("no value for parameter :{name}")))
    })
}

/// Copies `sql`, replacing placeholders with `value(name)`. Quoted strings, quoted
/// identifiers, comments and `::` casts are copied untouched.
fn substitute<'a>(
    sql: &str,
    mut value: impl FnMut(&str) -> Result<&'a str, ApiError>,
) -> Result<String, ApiError> {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let next = bytes.get(i + 1).copied();
        i = match (bytes[i], next) {
            (b'\'', _) => skip_quoted(bytes, i, b'\'', is_escape_string(bytes, i)),
            (b'"', _) => skip_quoted(bytes, i, b'"', false),
            (b'-', Some(b'-')) => skip_line_comment(bytes, i),
            (b'/', Some(b'*')) => skip_block_comment(bytes, i),
            (b'$', _) => skip_dollar_quoted(bytes, i),
            (b':', Some(b':')) => i + 2,
            (b':', Some(first)) if first.is_ascii_alphabetic() || first == b'_' => {
                let end = identifier_end(bytes, i + 1);
                out.push_str(&sql[copied..i]);
                out.push_str(value(&sql[i + 1..end])?);
                copied = end;
                end
            }
            _ => i + 1,
        };
    }
    out.push_str(&sql[copied..]);
    Ok(out)
}

fn is_identifier_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

fn identifier_end(bytes: &[u8], start: usize) -> usize {
    start
        + bytes[start..]
            .iter()
            .take_while(|b| is_identifier_byte(**b))
            .count()
}

/// `E'...'` strings treat backslashes as escapes, so `\'` does not end them.
fn is_escape_string(bytes: &[u8], quote: usize) -> bool {
    let prefix = quote.checked_sub(1).map(|p| bytes[p]);
    let before = quote.checked_sub(2).map(|p| bytes[p]);
    matches!(prefix, Some(b'E' | b'e')) && !before.is_some_and(is_identifier_byte)
}

/// Index just past the quoted text opening at `start`; a doubled quote stays inside.
fn skip_quoted(bytes: &[u8], start: usize, quote: u8, backslash_escapes: bool) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        let escaped = backslash_escapes && bytes[i] == b'\\';
        let doubled = bytes[i] == quote && bytes.get(i + 1) == Some(&quote);
        if escaped || doubled {
            i += 2;
        } else if bytes[i] == quote {
            return i + 1;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

fn skip_line_comment(bytes: &[u8], start: usize) -> usize {
    bytes[start..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(bytes.len(), |p| start + p + 1)
}

/// PostgreSQL block comments nest.
fn skip_block_comment(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0;
    let mut i = start;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1).copied()) {
            (b'/', Some(b'*')) => {
                depth += 1;
                i += 2;
            }
            (b'*', Some(b'/')) => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Skips `$tag$ ... $tag$` bodies (where `:=` and the like are plain text). A `$` that does
/// not open one, such as `$1` or one inside an identifier, is stepped over.
fn skip_dollar_quoted(bytes: &[u8], start: usize) -> usize {
    let inside_identifier = start
        .checked_sub(1)
        .is_some_and(|p| is_identifier_byte(bytes[p]) || bytes[p] == b'$');
    let tag_end = identifier_end(bytes, start + 1);
    let opens = !inside_identifier
        && bytes.get(tag_end) == Some(&b'$')
        && !bytes.get(start + 1).is_some_and(u8::is_ascii_digit);
    if !opens {
        return start + 1;
    }
    let delimiter = &bytes[start..=tag_end];
    let body = tag_end + 1;
    bytes[body..]
        .windows(delimiter.len())
        .position(|w| w == delimiter)
        .map_or(bytes.len(), |p| body + p + delimiter.len())
}

/// The SQL literal for a parameter, typed as the service binds it: strings as `character
/// varying` unless a `typeHint` names another type, longs as `bigint`, doubles as `double
/// precision`; NULL stays untyped.
fn literal(parameter: &SqlParameter) -> Result<String, ApiError> {
    let value = parameter.value.as_ref().ok_or_else(|| {
        ApiError::bad_request(format!("parameter {} has no value", parameter.name))
    })?;
    let hint = parameter.type_hint.as_deref();
    if hint.is_some() && !matches!(value, Field::StringValue(_)) {
        return Err(ApiError::bad_request(format!(
            "parameter {}: a typeHint applies only to a stringValue",
            parameter.name
        )));
    }
    Ok(match value {
        Field::IsNull(_) => "NULL".to_owned(),
        Field::BooleanValue(flag) => if *flag { "TRUE" } else { "FALSE" }.to_owned(),
        Field::LongValue(number) => format!("CAST({number} AS bigint)"),
        Field::DoubleValue(number) => double_literal(number)?,
        Field::StringValue(text) => {
            let target = match hint {
                None => "character varying",
                Some(hint) => {
                    check_format(&parameter.name, hint, text)?;
                    cast_type(hint)?
                }
            };
            format!("CAST({} AS {target})", quote(text)?)
        }
        Field::BlobValue(_) | Field::ArrayValue(_) => {
            return Err(ApiError::bad_request(format!(
                "parameter {}: blob and array values are not supported by the emulator",
                parameter.name
            )))
        }
    })
}

fn double_literal(number: &JsonValue) -> Result<String, ApiError> {
    match number {
        JsonValue::Number(n) => Ok(format!("CAST({n} AS double precision)")),
        JsonValue::String(special)
            if ["NaN", "Infinity", "-Infinity"].contains(&special.as_str()) =>
        {
            Ok(format!("CAST('{special}' AS double precision)"))
        }
        other => Err(ApiError::bad_request(format!(
            "invalid doubleValue {other}"
        ))),
    }
}

/// A standard single-quoted literal; PostgreSQL text cannot hold NUL, so it is refused as
/// the real service refuses it.
fn quote(text: &str) -> Result<String, ApiError> {
    if text.contains('\0') {
        return Err(ApiError::bad_request(
            "string values cannot contain a NUL byte",
        ));
    }
    Ok(format!("'{}'", text.replace('\'', "''")))
}

fn cast_type(hint: &str) -> Result<&'static str, ApiError> {
    match hint {
        "DECIMAL" => Ok("numeric"),
        "TIMESTAMP" => Ok("timestamp"),
        "DATE" => Ok("date"),
        "TIME" => Ok("time"),
        "UUID" => Ok("uuid"),
        "JSON" => Ok("json"),
        other => Err(ApiError::bad_request(format!("unknown typeHint {other}"))),
    }
}

/// The formats the `SqlParameter` reference documents for the date and time hints. The
/// reference names no error for a value outside them; the emulator answers
/// `BadRequestException` (400), which the sink treats as any other non-retryable error.
fn check_format(name: &str, hint: &str, text: &str) -> Result<(), ApiError> {
    let (format, valid) = match hint {
        "TIMESTAMP" => (
            "YYYY-MM-DD HH:MM:SS[.FFF]",
            text.split_once(' ')
                .is_some_and(|(date, time)| is_date(date) && is_time(time)),
        ),
        "DATE" => ("YYYY-MM-DD", is_date(text)),
        "TIME" => ("HH:MM:SS[.FFF]", is_time(text)),
        _ => return Ok(()),
    };
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "parameter {name}: {text:?} is not a valid {hint}; the accepted format is {format}"
        )))
    }
}

/// `pattern` with `9` for a digit; anything else must match exactly.
fn shaped(text: &str, pattern: &str) -> bool {
    text.len() == pattern.len()
        && text.bytes().zip(pattern.bytes()).all(|(t, p)| match p {
            b'9' => t.is_ascii_digit(),
            _ => t == p,
        })
}

fn is_date(text: &str) -> bool {
    shaped(text, "9999-99-99")
}

fn is_time(text: &str) -> bool {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    shaped(whole, "99:99:99")
        && fraction
            .is_none_or(|f| (1..=3).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()))
}

/// A modelled `rds-data` error: the SDK reads its shape from `x-amzn-errortype` and the
/// text from the body's `message`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "BadRequestException",
            message: message.into(),
        }
    }

    /// Shaped like the real service's text: the server's message, then its SQLSTATE.
    fn database(error: tokio_postgres::Error) -> ApiError {
        let message = match error.as_db_error() {
            Some(db) => format!("ERROR: {}; SQLState: {}", db.message(), db.code().code()),
            None => error.to_string(),
        };
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "DatabaseErrorException",
            message,
        }
    }

    /// CommitTransaction and RollbackTransaction model an unknown id as NotFoundException.
    fn not_found(id: &str) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            kind: "NotFoundException",
            message: format!("Transaction {id} is not found"),
        }
    }

    /// The statement operations have no NotFoundException; they model this one.
    fn transaction_not_found(id: &str) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            kind: "TransactionNotFoundException",
            message: format!("Transaction {id} is not found"),
        }
    }

    fn internal(message: &str) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "InternalServerErrorException",
            message: message.to_owned(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            // The service sends the code with its namespace after a colon; the SDK keeps
            // what comes before it.
            [(
                "x-amzn-ErrorType",
                format!(
                    "{}:http://internal.amazon.com/coral/com.amazon.rdsdataservice/",
                    self.kind
                ),
            )],
            Json(json!({ "message": self.message })),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(sql: &str, names: &[(&'static str, &'static str)]) -> String {
        let values: HashMap<&str, &str> = names.iter().copied().collect();
        substitute(sql, |name| Ok(values[name])).unwrap()
    }

    #[test]
    fn replaces_placeholders_but_not_casts_strings_or_comments() {
        let sql = "SELECT :a::text, ':a', \":a\", E'\\':a', $$ :a $$, $q$:a$q$, $1 -- :a\n/* /* :a */ :a */ :b";
        assert_eq!(
            bound(sql, &[("a", "1"), ("b", "2")]),
            "SELECT 1::text, ':a', \":a\", E'\\':a', $$ :a $$, $q$:a$q$, $1 -- :a\n/* /* :a */ :a */ 2"
        );
    }

    fn parameter(value: Field, hint: Option<&str>) -> SqlParameter {
        SqlParameter {
            name: "p".to_owned(),
            value: Some(value),
            type_hint: hint.map(str::to_owned),
        }
    }

    fn string(s: &str) -> Field {
        Field::StringValue(s.to_owned())
    }

    #[test]
    fn literals_are_typed_as_the_service_binds_them() {
        assert_eq!(
            literal(&parameter(string("it's :x"), None)).unwrap(),
            "CAST('it''s :x' AS character varying)"
        );
        assert_eq!(
            literal(&parameter(string("1.50"), Some("DECIMAL"))).unwrap(),
            "CAST('1.50' AS numeric)"
        );
        assert_eq!(
            literal(&parameter(Field::LongValue(-3), None)).unwrap(),
            "CAST(-3 AS bigint)"
        );
        assert_eq!(
            literal(&parameter(Field::IsNull(IgnoredAny), None)).unwrap(),
            "NULL"
        );
        assert_eq!(
            literal(&parameter(Field::DoubleValue(json!("NaN")), None)).unwrap(),
            "CAST('NaN' AS double precision)"
        );
        assert!(literal(&parameter(string("a\0b"), None)).is_err());
        assert!(literal(&parameter(string("x"), Some("BLOB"))).is_err());
        assert!(literal(&parameter(Field::LongValue(1), Some("DECIMAL"))).is_err());
    }

    #[test]
    fn date_and_time_hints_accept_only_the_documented_formats() {
        for good in [
            "2024-05-01 12:34:56",
            "2024-05-01 12:34:56.7",
            "2024-05-01 12:34:56.789",
        ] {
            assert!(
                literal(&parameter(string(good), Some("TIMESTAMP"))).is_ok(),
                "{good}"
            );
        }
        for bad in [
            "2024-05-01T12:34:56Z",
            "2024-05-01 12:34:56+00",
            "2024-05-01 12:34:56.789123",
            "2024-05-01",
            "2024-5-1 12:34:56",
            "2024-05-01 12:34:56.",
            "yesterday",
        ] {
            let error = literal(&parameter(string(bad), Some("TIMESTAMP"))).unwrap_err();
            assert_eq!(error.kind, "BadRequestException", "{bad}");
            assert!(
                error.message.contains("YYYY-MM-DD HH:MM:SS[.FFF]"),
                "{}",
                error.message
            );
        }
        assert!(literal(&parameter(string("2024-05-01"), Some("DATE"))).is_ok());
        assert!(literal(&parameter(string("01/05/2024"), Some("DATE"))).is_err());
        assert!(literal(&parameter(string("12:34:56.789"), Some("TIME"))).is_ok());
        assert!(literal(&parameter(string("12:34"), Some("TIME"))).is_err());
    }

    #[test]
    fn unknown_placeholder_is_a_bad_request() {
        let error = bind("SELECT :missing", &[]).unwrap_err();
        assert_eq!(error.kind, "BadRequestException");
    }
}
