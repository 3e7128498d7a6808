//! Operator metrics as CloudWatch Embedded Metric Format (EMF) lines: one JSON object per
//! line on stdout, from which CloudWatch Logs extracts the metrics in the `Coinlake`
//! namespace. No API call, no permission beyond the log group the function already writes.
//!
//! Why stdout works with the template's `LoggingConfig: LogFormat: JSON`: for runtimes
//! other than Java, .NET, Node.js and Python (Rust on `provided.al2023` among them) Lambda
//! structures only its own system logs as JSON and passes the function's stdout lines
//! through as they are, and it never encodes again a line that already is a JSON object
//! (Lambda Developer Guide, "Configuring JSON and plain text log formats"). Each EMF line
//! therefore reaches CloudWatch Logs as its own log event holding exactly the document, as
//! the EMF specification requires ("the LogEvent message MUST be a valid JSON object with
//! no additional data"; on Lambda, writing it to standard out is sufficient: CloudWatch
//! User Guide, "Specification: Embedded metric format"). With `LogFormat: Text` the same
//! holds, since a custom runtime's stdout gets no prefix either. What would break it is
//! writing the document through `tracing`: it would arrive nested inside a log record's
//! fields, so the lines are written beside the logs, never through them.
//!
//! Every metric is published with the dimension `Function` (the deployed function's name,
//! so two stacks in one account never mix), load's and compact's also with `Dataset`, the
//! api's request durations with `StatusClass`. [`CATALOGUE`] lists every metric this module
//! writes; the template's dashboard is tested against it.

use chrono::Utc;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The CloudWatch namespace of every coinlake metric.
pub const NAMESPACE: &str = "Coinlake";

/// The dimension naming the function that emitted a metric.
pub const FUNCTION: &str = "Function";
/// The dimension naming the dataset (`quotes`, `klines`) a load or compaction handled.
pub const DATASET: &str = "Dataset";
/// The dimension naming an API answer's status class (`2xx`, `4xx`, `5xx`).
pub const STATUS_CLASS: &str = "StatusClass";

const BY_FUNCTION: &[&str] = &[FUNCTION];
const BY_DATASET: &[&str] = &[FUNCTION, DATASET];
const BY_STATUS_CLASS: &[&str] = &[FUNCTION, STATUS_CLASS];

/// CloudWatch units this module uses (a subset of `StandardUnit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
        }
    }
}

/// One metric: its name, unit and the dimension keys it is published under. A metric's
/// identity in CloudWatch is the namespace, the name and the dimensions together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricSpec {
    pub name: &'static str,
    pub unit: Unit,
    pub dimensions: &'static [&'static str],
}

const fn spec(name: &'static str, unit: Unit, dimensions: &'static [&'static str]) -> MetricSpec {
    MetricSpec {
        name,
        unit,
        dimensions,
    }
}

/// Rows a run wrote to S3 (ingest: quotes; klines: klines).
pub const ROWS_WRITTEN: MetricSpec = spec("RowsWritten", Unit::Count, BY_FUNCTION);
/// CoinMarketCap credits an ingest run used (`status.credit_count`, summed over calls).
pub const CREDITS_USED: MetricSpec = spec("CreditsUsed", Unit::Count, BY_FUNCTION);
/// Time an ingest run spent fetching from CoinMarketCap (every call, retries included).
pub const FETCH_DURATION: MetricSpec = spec("FetchDuration", Unit::Milliseconds, BY_FUNCTION);
/// Time an ingest run spent encoding and writing its object to S3.
pub const WRITE_DURATION: MetricSpec = spec("WriteDuration", Unit::Milliseconds, BY_FUNCTION);
/// Minutes of a klines slot some pair has no kline for (summed over pairs).
pub const GAP_MINUTES: MetricSpec = spec("GapMinutes", Unit::Count, BY_FUNCTION);
/// A whole klines slot run.
pub const RUN_DURATION: MetricSpec = spec("RunDuration", Unit::Milliseconds, BY_FUNCTION);
/// Rows of a loaded file stored for the first time.
pub const ROWS_INSERTED: MetricSpec = spec("RowsInserted", Unit::Count, BY_DATASET);
/// Rows of a loaded file that replaced a later slot's observation of the same update.
pub const ROWS_REPLACED: MetricSpec = spec("RowsReplaced", Unit::Count, BY_DATASET);
/// Rows of a loaded file the database already held (a reload, or seen by an earlier slot).
pub const ROWS_ALREADY_PRESENT: MetricSpec = spec("RowsAlreadyPresent", Unit::Count, BY_DATASET);
/// Load time minus the end of the slot's data (a snapshot's scheduled time, the close of a
/// klines slot's last minute); only for slot objects loaded as they arrive.
pub const DATA_AGE: MetricSpec = spec("DataAge", Unit::Seconds, BY_DATASET);
/// Time one file took to load (read, store, commit).
pub const LOAD_DURATION: MetricSpec = spec("LoadDuration", Unit::Milliseconds, BY_DATASET);
/// Rows written to the curated objects of the days a compaction wrote.
pub const ROWS_COMPACTED: MetricSpec = spec("RowsCompacted", Unit::Count, BY_DATASET);
/// Raw objects read by a compaction for the days it wrote.
pub const OBJECTS_COMPACTED: MetricSpec = spec("ObjectsCompacted", Unit::Count, BY_DATASET);
/// A whole compaction invocation.
pub const COMPACT_DURATION: MetricSpec = spec("CompactDuration", Unit::Milliseconds, BY_DATASET);
/// One API request, by the class of its answer; its sample count is the request count.
pub const REQUEST_DURATION: MetricSpec =
    spec("RequestDuration", Unit::Milliseconds, BY_STATUS_CLASS);
/// Alert events evaluation inserted into the outbox (`alert_events`).
pub const ALERTS_FIRED: MetricSpec = spec("AlertsFired", Unit::Count, BY_FUNCTION);
/// Alert events published to the topic and marked sent.
pub const ALERTS_DELIVERED: MetricSpec = spec("AlertsDelivered", Unit::Count, BY_FUNCTION);

/// Every metric this module writes.
pub const CATALOGUE: &[MetricSpec] = &[
    ROWS_WRITTEN,
    CREDITS_USED,
    FETCH_DURATION,
    WRITE_DURATION,
    GAP_MINUTES,
    RUN_DURATION,
    ROWS_INSERTED,
    ROWS_REPLACED,
    ROWS_ALREADY_PRESENT,
    DATA_AGE,
    LOAD_DURATION,
    ROWS_COMPACTED,
    OBJECTS_COMPACTED,
    COMPACT_DURATION,
    REQUEST_DURATION,
    ALERTS_FIRED,
    ALERTS_DELIVERED,
];

/// A metric's value: a count or a measure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value64 {
    Count(u64),
    Measure(f64),
}

impl Value64 {
    fn to_json(self) -> Value {
        match self {
            Value64::Count(n) => json!(n),
            // CloudWatch takes finite numbers only; a NaN would make the line invalid.
            Value64::Measure(x) if x.is_finite() => json!(x),
            Value64::Measure(_) => json!(0),
        }
    }
}

/// Milliseconds of `duration`, fractional; a whole number of milliseconds stays whole
/// (an integer divided exactly, not seconds multiplied back).
pub fn millis(duration: Duration) -> Value64 {
    Value64::Measure(duration.as_nanos() as f64 / 1_000_000.0)
}

/// Where lines go: stdout in a function, memory in a test.
#[derive(Clone, Debug)]
enum Output {
    Stdout,
    Captured(Arc<Mutex<Vec<String>>>),
}

/// The lines a [`Metrics::captured`] emitter wrote.
#[derive(Clone, Debug, Default)]
pub struct Captured(Arc<Mutex<Vec<String>>>);

impl Captured {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// Writes one function's metrics. Cheap to clone; never fails the caller: a metric that
/// cannot be written is lost, the run it describes is not.
#[derive(Clone, Debug)]
pub struct Metrics {
    function: Arc<str>,
    output: Output,
}

impl Metrics {
    /// Metrics of a Lambda function: `Function` is the deployed name Lambda sets in
    /// `AWS_LAMBDA_FUNCTION_NAME`, or `local_name` outside Lambda.
    pub fn for_lambda(local_name: &str) -> Metrics {
        let name = std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .ok()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| local_name.to_owned());
        Metrics::stdout(&name)
    }

    /// Metrics of `function`, written to stdout.
    pub fn stdout(function: &str) -> Metrics {
        Metrics {
            function: function.into(),
            output: Output::Stdout,
        }
    }

    /// Metrics of `function` kept in memory, for tests.
    pub fn captured(function: &str) -> (Metrics, Captured) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let metrics = Metrics {
            function: function.into(),
            output: Output::Captured(lines.clone()),
        };
        (metrics, Captured(lines))
    }

    pub fn function(&self) -> &str {
        &self.function
    }

    /// An ingest run that wrote its snapshot.
    pub fn ingest_run(&self, rows: u64, credits: u64, fetch: Duration, write: Duration) {
        self.emit(
            &[],
            &[
                (ROWS_WRITTEN, Value64::Count(rows)),
                (CREDITS_USED, Value64::Count(credits)),
                (FETCH_DURATION, millis(fetch)),
                (WRITE_DURATION, millis(write)),
            ],
        );
    }

    /// A klines slot run (written or not: a run with no kline writes 0 rows).
    pub fn klines_run(&self, rows: u64, gap_minutes: u64, duration: Duration) {
        self.emit(
            &[],
            &[
                (ROWS_WRITTEN, Value64::Count(rows)),
                (GAP_MINUTES, Value64::Count(gap_minutes)),
                (RUN_DURATION, millis(duration)),
            ],
        );
    }

    /// Rows loaded: one file (`duration` is how long it took), or a replay's total
    /// (`None`: a replay's time says nothing of one file's). `data_age`: for a slot object
    /// loaded as it arrived, how long after the end of its slot's data it was committed;
    /// `None` for replays and archive days, whose age says nothing about the pipeline's
    /// delay.
    pub fn loaded(
        &self,
        dataset: &str,
        counts: &crate::sink::LoadCounts,
        data_age: Option<chrono::TimeDelta>,
        duration: Option<Duration>,
    ) {
        let mut values = vec![
            (ROWS_INSERTED, Value64::Count(counts.inserted)),
            (ROWS_REPLACED, Value64::Count(counts.replaced)),
            (ROWS_ALREADY_PRESENT, Value64::Count(counts.already_present)),
        ];
        if let Some(duration) = duration {
            values.push((LOAD_DURATION, millis(duration)));
        }
        if let Some(age) = data_age {
            values.push((
                DATA_AGE,
                Value64::Measure(age.num_milliseconds() as f64 / 1000.0),
            ));
        }
        self.emit(&[(DATASET, dataset)], &values);
    }

    /// A compaction invocation: the rows and raw objects of the days it wrote.
    pub fn compacted(&self, dataset: &str, rows: u64, objects: u64, duration: Duration) {
        self.emit(
            &[(DATASET, dataset)],
            &[
                (ROWS_COMPACTED, Value64::Count(rows)),
                (OBJECTS_COMPACTED, Value64::Count(objects)),
                (COMPACT_DURATION, millis(duration)),
            ],
        );
    }

    /// One API request answered with `status`.
    pub fn request(&self, status: u16, duration: Duration) {
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.emit(
            &[(STATUS_CLASS, class)],
            &[(REQUEST_DURATION, millis(duration))],
        );
    }

    /// Alert events inserted into the outbox by one evaluation (a load's transaction or
    /// the scheduled stale check). Nothing is written for zero: an absent datapoint and a
    /// zero read the same on a Sum graph, and quiet loads are the rule.
    pub fn alerts_fired(&self, count: u64) {
        if count > 0 {
            self.emit(&[], &[(ALERTS_FIRED, Value64::Count(count))]);
        }
    }

    /// Alert events published and marked sent by one delivery pass.
    pub fn alerts_delivered(&self, count: u64) {
        if count > 0 {
            self.emit(&[], &[(ALERTS_DELIVERED, Value64::Count(count))]);
        }
    }

    /// Writes one EMF document: the function and `dimensions` as the one dimension set,
    /// `values` as its metrics. Every metric of a line shares its dimensions (a
    /// MetricDirective applies its DimensionSets to all its Metrics).
    fn emit(&self, dimensions: &[(&str, &str)], values: &[(MetricSpec, Value64)]) {
        let line = self.document(dimensions, values, Utc::now().timestamp_millis());
        match &self.output {
            Output::Stdout => {
                // One write of the whole line under stdout's lock, so a log line written
                // by another thread never lands inside it.
                let mut text = line;
                text.push('\n');
                let _ = std::io::stdout().lock().write_all(text.as_bytes());
            }
            Output::Captured(lines) => {
                if let Ok(mut lines) = lines.lock() {
                    lines.push(line);
                }
            }
        }
    }

    fn document(
        &self,
        dimensions: &[(&str, &str)],
        values: &[(MetricSpec, Value64)],
        timestamp_ms: i64,
    ) -> String {
        let mut keys = vec![FUNCTION];
        keys.extend(dimensions.iter().map(|(k, _)| *k));
        debug_assert!(values
            .iter()
            .all(|(spec, _)| spec.dimensions == keys.as_slice()));
        let mut root = Map::new();
        root.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [keys],
                    "Metrics": values
                        .iter()
                        .map(|(spec, _)| json!({ "Name": spec.name, "Unit": spec.unit.as_str() }))
                        .collect::<Vec<_>>(),
                }],
            }),
        );
        root.insert(FUNCTION.to_owned(), json!(&*self.function));
        for (key, value) in dimensions {
            root.insert((*key).to_owned(), json!(value));
        }
        for (spec, value) in values {
            root.insert(spec.name.to_owned(), value.to_json());
        }
        Value::Object(root).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::LoadCounts;
    use std::collections::BTreeSet;

    fn parsed(line: &str) -> Value {
        serde_json::from_str(line).expect("one JSON object")
    }

    /// Every line each emitter writes, for one call of each.
    fn every_kind_of_line() -> Vec<String> {
        let (metrics, captured) = Metrics::captured("coinlake-LoadFunction-AbC");
        metrics.ingest_run(5, 1, Duration::from_millis(120), Duration::from_millis(30));
        metrics.klines_run(25, 2, Duration::from_millis(800));
        metrics.loaded(
            "quotes",
            &LoadCounts::new(5, 3, 1),
            Some(chrono::TimeDelta::milliseconds(4_250)),
            Some(Duration::from_millis(95)),
        );
        metrics.loaded("klines", &LoadCounts::new(25, 25, 0), None, None);
        metrics.compacted("quotes", 1440, 288, Duration::from_secs(3));
        metrics.request(200, Duration::from_micros(1500));
        metrics.request(404, Duration::from_millis(2));
        metrics.request(503, Duration::from_millis(40));
        metrics.alerts_fired(2);
        metrics.alerts_delivered(2);
        captured.lines()
    }

    #[test]
    fn a_load_line_carries_its_counts_age_and_dimensions_at_the_root() {
        let (metrics, captured) = Metrics::captured("coinlake-LoadFunction-AbC");
        metrics.loaded(
            "quotes",
            &LoadCounts::new(5, 3, 1),
            Some(chrono::TimeDelta::milliseconds(4_250)),
            Some(Duration::from_millis(95)),
        );
        let lines = captured.lines();
        assert_eq!(lines.len(), 1);
        assert!(!lines[0].contains('\n'), "one line: {}", lines[0]);
        let doc = parsed(&lines[0]);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Coinlake");
        assert_eq!(directive["Dimensions"], json!([["Function", "Dataset"]]));
        assert_eq!(doc["Function"], "coinlake-LoadFunction-AbC");
        assert_eq!(doc["Dataset"], "quotes");
        assert_eq!(
            (
                &doc["RowsInserted"],
                &doc["RowsReplaced"],
                &doc["RowsAlreadyPresent"]
            ),
            (&json!(3), &json!(1), &json!(1))
        );
        assert_eq!(doc["DataAge"], json!(4.25));
        assert_eq!(doc["LoadDuration"], json!(95.0));
        assert!(doc["_aws"]["Timestamp"].as_i64().unwrap() > 1_700_000_000_000);
        let units: Vec<(&str, &str)> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["Name"].as_str().unwrap(), m["Unit"].as_str().unwrap()))
            .collect();
        assert_eq!(
            units,
            [
                ("RowsInserted", "Count"),
                ("RowsReplaced", "Count"),
                ("RowsAlreadyPresent", "Count"),
                ("LoadDuration", "Milliseconds"),
                ("DataAge", "Seconds")
            ]
        );
    }

    #[test]
    fn a_replay_has_no_data_age_and_no_file_duration() {
        let (metrics, captured) = Metrics::captured("load");
        metrics.loaded("klines", &LoadCounts::new(1, 1, 0), None, None);
        let doc = parsed(&captured.lines()[0]);
        for absent in ["DataAge", "LoadDuration"] {
            assert!(doc.get(absent).is_none());
            assert!(!doc["_aws"].to_string().contains(absent));
        }
        assert_eq!(doc["RowsInserted"], 1);
    }

    #[test]
    fn api_requests_are_counted_by_status_class() {
        let (metrics, captured) = Metrics::captured("api");
        for status in [200, 304, 400, 401, 500, 503] {
            metrics.request(status, Duration::from_millis(1));
        }
        let classes: Vec<String> = captured
            .lines()
            .iter()
            .map(|l| parsed(l)["StatusClass"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(classes, ["2xx", "3xx", "4xx", "4xx", "5xx", "5xx"]);
    }

    #[test]
    fn no_alert_line_is_written_for_nothing() {
        let (metrics, captured) = Metrics::captured("load");
        metrics.alerts_fired(0);
        metrics.alerts_delivered(0);
        assert!(captured.lines().is_empty());
        metrics.alerts_fired(3);
        assert_eq!(parsed(&captured.lines()[0])["AlertsFired"], 3);
    }

    #[test]
    fn a_measure_that_is_not_a_number_is_written_as_zero() {
        assert_eq!(Value64::Measure(f64::NAN).to_json(), json!(0));
        assert_eq!(Value64::Measure(f64::INFINITY).to_json(), json!(0));
    }

    #[test]
    fn the_catalogue_is_exactly_what_the_emitters_write() {
        let mut written = BTreeSet::new();
        for line in every_kind_of_line() {
            let doc = parsed(&line);
            let directive = &doc["_aws"]["CloudWatchMetrics"][0];
            let dimensions: Vec<String> = directive["Dimensions"][0]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_str().unwrap().to_owned())
                .collect();
            for metric in directive["Metrics"].as_array().unwrap() {
                written.insert((
                    metric["Name"].as_str().unwrap().to_owned(),
                    metric["Unit"].as_str().unwrap().to_owned(),
                    dimensions.clone(),
                ));
            }
        }
        let catalogue: BTreeSet<(String, String, Vec<String>)> = CATALOGUE
            .iter()
            .map(|m| {
                (
                    m.name.to_owned(),
                    m.unit.as_str().to_owned(),
                    m.dimensions.iter().map(|d| d.to_string()).collect(),
                )
            })
            .collect();
        assert_eq!(written, catalogue);
        assert_eq!(catalogue.len(), CATALOGUE.len(), "a metric is listed twice");
    }

    #[test]
    fn every_line_names_only_members_it_holds() {
        for line in every_kind_of_line() {
            let doc = parsed(&line);
            let directive = &doc["_aws"]["CloudWatchMetrics"][0];
            for key in directive["Dimensions"][0].as_array().unwrap() {
                assert!(doc[key.as_str().unwrap()].is_string(), "{line}");
            }
            for metric in directive["Metrics"].as_array().unwrap() {
                assert!(doc[metric["Name"].as_str().unwrap()].is_number(), "{line}");
            }
        }
    }
}
