//! `coinlake::metrics` against the Embedded Metric Format as AWS's own library writes it:
//! every kind of line the functions emit goes through `scripts/emf_check.py`, which
//! rebuilds it with `aws_embedded_metrics` (its validators and its serializer) and passes
//! it only when it is exactly the document that library writes.

use coinlake::metrics::Metrics;
use coinlake::sink::LoadCounts;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// (exit code, stderr) of the checker over `lines`.
fn emf_check(lines: &[String]) -> (i32, String) {
    let root = testkit::workspace_root();
    let mut child = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("scripts/emf_check.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run scripts/emf_check.py with .venv's python (scripts/setup.sh installs it)");
    let input = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// One line of every kind the functions write, with the values a real run gives.
fn every_kind_of_line() -> Vec<String> {
    let (metrics, captured) = Metrics::captured("coinlake-IngestFunction-9XyZ1AbC");
    metrics.ingest_run(5, 1, Duration::from_millis(412), Duration::from_millis(38));
    metrics.klines_run(25, 3, Duration::from_millis(1_250));
    metrics.klines_run(0, 25, Duration::from_secs(55));
    metrics.loaded(
        "quotes",
        &LoadCounts::new(5, 3, 1),
        Some(chrono::TimeDelta::milliseconds(2_750)),
        Some(Duration::from_millis(95)),
    );
    metrics.loaded("klines", &LoadCounts::new(1440, 0, 0), None, None);
    metrics.compacted("quotes", 1440, 288, Duration::from_millis(3_100));
    metrics.request(200, Duration::from_micros(1_500));
    metrics.request(400, Duration::from_millis(2));
    metrics.request(503, Duration::from_millis(40));
    metrics.alerts_fired(2);
    metrics.alerts_delivered(1);
    captured.lines()
}

#[test]
fn every_line_the_functions_write_is_the_document_awss_emf_library_writes() {
    let lines = every_kind_of_line();
    assert_eq!(lines.len(), 11);
    let (code, stderr) = emf_check(&lines);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn the_checker_refuses_what_cloudwatch_would_not_extract() {
    let line = every_kind_of_line().remove(0);
    let broken = [
        // A unit CloudWatch does not know.
        line.replace("\"Unit\":\"Count\"", "\"Unit\":\"Rows\""),
        // A metric whose target is a string.
        line.replace("\"RowsWritten\":5", "\"RowsWritten\":\"5\""),
        // A dimension with no value at the root.
        line.replace("\"Function\":\"coinlake-IngestFunction-9XyZ1AbC\",", ""),
        // A timestamp in seconds, not milliseconds (too old for CloudWatch).
        {
            let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
            let ms = doc["_aws"]["Timestamp"].as_i64().unwrap();
            line.replace(&ms.to_string(), &(ms / 1000).to_string())
        },
    ];
    for (index, broken) in broken.iter().enumerate() {
        assert_ne!(broken, &line, "case {index} changed nothing");
        let (code, stderr) = emf_check(std::slice::from_ref(broken));
        assert_eq!(code, 1, "case {index} passed: {broken}");
        assert!(stderr.starts_with("line 1: "), "{stderr}");
    }
}
