//! Backfill events through the handler: an archive stand-in serving generated zips, a real
//! S3 server, and a stand-in for Lambda's Invoke API receiving the continuation.

use crate::common::{invocation, World};
use chrono::NaiveDate;
use klines::handler::{BackfillOutcome, MAX_HOPS};
use klines::Outcome;
use lambda_runtime::Diagnostic;
use serde_json::{json, Value};
use std::time::Duration;
use testkit::binance_archive::{daily_path, generated_zip, parse_path, ArchiveStandin};
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const FUNCTION: &str = "coinlake-test-KlinesFunction";

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a date")
}

fn backfill(symbols: &[&str], from: &str, to: &str) -> Value {
    json!({"backfill": {"symbols": symbols, "from": from, "to": to}})
}

/// The archive, S3 and a Lambda API stand-in that accepts asynchronous invocations.
struct Setup {
    world: World,
    archive: ArchiveStandin,
    lambda: MockServer,
}

impl Setup {
    async fn new() -> Setup {
        let lambda = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/2015-03-31/functions/[^/]+/invocations$"))
            .respond_with(ResponseTemplate::new(202))
            .with_priority(10)
            .mount(&lambda)
            .await;
        Setup {
            world: World::new().await,
            archive: ArchiveStandin::start().await,
            lambda,
        }
    }

    async fn run(&self, payload: Value, budget: Duration) -> Result<BackfillOutcome, Diagnostic> {
        self.run_as(Some(FUNCTION), payload, budget).await
    }

    async fn run_as(
        &self,
        function: Option<&str>,
        payload: Value,
        budget: Duration,
    ) -> Result<BackfillOutcome, Diagnostic> {
        let archive = self.archive.uri();
        let lambda = self.lambda.uri();
        let mut vars = vec![
            ("BINANCE_ARCHIVE_URL", archive.as_str()),
            ("AWS_ENDPOINT_URL_LAMBDA", lambda.as_str()),
        ];
        if let Some(name) = function {
            vars.push(("AWS_LAMBDA_FUNCTION_NAME", name));
        }
        let app = self.world.app(&vars);
        match klines::handle(&app, invocation(payload, budget)).await {
            Ok(Outcome::Backfill(outcome)) => Ok(outcome),
            Ok(other) => panic!("a backfill event gave {other:?}"),
            Err(error) => Err(Diagnostic::from(error)),
        }
    }

    /// The first day's files answer after 3 s: with the 90 s margin and a 92 s budget, no
    /// second period can start.
    async fn slow_first_day(&self, symbols: &[&str], first: &str) {
        for symbol in symbols {
            let file = daily_path(symbol, day(first));
            let zip = generated_zip(&parse_path(&file).expect("an archive path"));
            Mock::given(method("GET"))
                .and(path(file.as_str()))
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_body_bytes(zip)
                        .set_delay(Duration::from_secs(3)),
                )
                .with_priority(1)
                .mount(&self.archive.server)
                .await;
        }
    }

    async fn continuations(&self) -> Vec<wiremock::Request> {
        self.lambda.received_requests().await.unwrap_or_default()
    }
}

const WHOLE: Duration = Duration::from_secs(900);
const CUT: Duration = Duration::from_secs(92);

#[tokio::test]
async fn a_backfill_that_fits_writes_one_object_per_pair_and_day_and_does_not_continue() {
    let setup = Setup::new().await;
    let outcome = setup
        .run(
            backfill(&["BTCUSDT", "ETHUSDT"], "2024-12-31", "2025-01-01"),
            WHOLE,
        )
        .await
        .expect("the backfill succeeds");
    assert_eq!((outcome.hop, outcome.continued), (0, false));
    assert_eq!(outcome.summary.rows, 4 * 1440);
    assert_eq!(outcome.summary.remaining, None);
    let keys = setup.world.bucket.keys().await;
    assert_eq!(
        keys,
        [
            "raw/klines/interval=1m/year=2024/month=12/day=31/klines_2024-12-31_archive_BTCUSDT.csv",
            "raw/klines/interval=1m/year=2024/month=12/day=31/klines_2024-12-31_archive_ETHUSDT.csv",
            "raw/klines/interval=1m/year=2025/month=01/day=01/klines_2025-01-01_archive_BTCUSDT.csv",
            "raw/klines/interval=1m/year=2025/month=01/day=01/klines_2025-01-01_archive_ETHUSDT.csv",
        ]
    );
    // 2025-01-01 is archived in microseconds; its object reads like any other day's.
    let body = setup.world.bucket.get(&keys[2]).await.body;
    let klines = crate::common::decode(&body);
    assert_eq!(klines.len(), 1440);
    assert_eq!(
        klines[0].open_time.to_rfc3339(),
        "2025-01-01T00:00:00+00:00"
    );
    assert_eq!(
        klines[1439]
            .close_time
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "2025-01-01T23:59:59.999Z"
    );
    assert!(setup.continuations().await.is_empty());
}

#[tokio::test]
async fn a_backfill_cut_by_the_deadline_invokes_itself_with_the_rest_which_finishes_it() {
    let setup = Setup::new().await;
    let pairs = ["BTCUSDT", "ETHUSDT"];
    setup.slow_first_day(&pairs, "2024-05-31").await;
    let first = setup
        .run(backfill(&pairs, "2024-05-31", "2024-06-02"), CUT)
        .await
        .expect("the first part succeeds");
    assert_eq!((first.hop, first.continued), (0, true));
    assert_eq!(first.summary.written.len(), 2);

    let sent = setup.continuations().await;
    assert_eq!(sent.len(), 1, "one continuation");
    assert_eq!(
        sent[0].url.path(),
        format!("/2015-03-31/functions/{FUNCTION}/invocations")
    );
    assert_eq!(
        sent[0]
            .headers
            .get("x-amz-invocation-type")
            .and_then(|v| v.to_str().ok()),
        Some("Event"),
        "queued asynchronously, not waited for"
    );
    let next: Value = serde_json::from_slice(&sent[0].body).expect("a JSON event");
    assert_eq!(
        next,
        json!({"backfill": {"symbols": pairs, "from": "2024-06-01", "to": "2024-06-02"}, "hop": 1})
    );

    let second = setup
        .run(next, WHOLE)
        .await
        .expect("the continuation succeeds");
    assert_eq!((second.hop, second.continued), (1, false));
    assert_eq!(second.summary.written.len(), 4);
    assert_eq!(
        setup.continuations().await.len(),
        1,
        "the last part ends the chain"
    );
    assert_eq!(setup.world.bucket.keys().await.len(), 6);
}

#[tokio::test]
async fn a_part_that_cannot_be_written_fails_the_last_invocation_naming_it() {
    let setup = Setup::new().await;
    setup
        .archive
        .wrong_checksum(&daily_path("ETHUSDT", day("2024-06-02")))
        .await;
    let error = setup
        .run(
            backfill(&["BTCUSDT", "ETHUSDT"], "2024-06-01", "2024-06-02"),
            WHOLE,
        )
        .await
        .expect_err("a failed part fails the invocation");
    assert_eq!(error.error_type, "BackfillFailed");
    assert!(
        error.error_message.contains("1 pair-period"),
        "{}",
        error.error_message
    );
    assert!(
        error.error_message.contains("ETHUSDT"),
        "{}",
        error.error_message
    );
    assert!(
        error.error_message.contains("ArchiveChecksumMismatch"),
        "{}",
        error.error_message
    );
    assert_eq!(
        setup.world.bucket.keys().await.len(),
        3,
        "the other parts are written"
    );

    // A failure of an earlier invocation is carried to the last one and reported there.
    let carried = json!({
        "backfill": {"symbols": ["BTCUSDT"], "from": "2024-06-03", "to": "2024-06-03"},
        "hop": 2,
        "earlier_failures": [{"symbol": "ETHUSDT", "period": "2024-06-02", "kind": "ArchiveChecksumMismatch"}]
    });
    let error = setup
        .run(carried, WHOLE)
        .await
        .expect_err("reported at the end");
    assert_eq!(error.error_type, "BackfillFailed");
    assert!(
        error.error_message.contains("2024-06-02"),
        "{}",
        error.error_message
    );
    assert_eq!(setup.world.bucket.keys().await.len(), 4);
}

#[tokio::test]
async fn a_budget_below_the_margin_is_refused_as_no_progress_instead_of_looping() {
    let setup = Setup::new().await;
    let error = setup
        .run(
            backfill(&["BTCUSDT"], "2024-06-01", "2024-06-02"),
            Duration::from_secs(60),
        )
        .await
        .expect_err("no period can start");
    assert_eq!(error.error_type, "BackfillNoProgress");
    assert!(
        error.error_message.contains("longer timeout"),
        "{}",
        error.error_message
    );
    setup.world.assert_nothing_written().await;
    assert!(setup.continuations().await.is_empty());
}

#[tokio::test]
async fn a_chain_past_the_hop_limit_stops_before_doing_anything() {
    let setup = Setup::new().await;
    let mut event = backfill(&["BTCUSDT"], "2024-06-01", "2024-06-01");
    event["hop"] = json!(MAX_HOPS + 1);
    let error = setup.run(event, WHOLE).await.expect_err("stopped");
    assert_eq!(error.error_type, "BackfillTooManyHops");
    setup.world.assert_nothing_written().await;
}

#[tokio::test]
async fn a_continuation_that_cannot_be_queued_fails_the_invocation() {
    let pairs = ["BTCUSDT"];
    // Outside Lambda the function has no name to invoke.
    let setup = Setup::new().await;
    setup.slow_first_day(&pairs, "2024-05-31").await;
    let error = setup
        .run_as(None, backfill(&pairs, "2024-05-31", "2024-06-01"), CUT)
        .await
        .expect_err("no way to continue");
    assert_eq!(error.error_type, "BackfillContinuationFailed");
    assert!(
        error.error_message.contains("AWS_LAMBDA_FUNCTION_NAME"),
        "{}",
        error.error_message
    );

    // Lambda refuses the invocation.
    let setup = Setup::new().await;
    setup.slow_first_day(&pairs, "2024-05-31").await;
    Mock::given(method("POST"))
        .and(header("x-amz-invocation-type", "Event"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({
                    "Type": "User",
                    "message": "User is not authorized to perform: lambda:InvokeFunction"
                }))
                .insert_header("x-amzn-errortype", "AccessDeniedException"),
        )
        .with_priority(1)
        .mount(&setup.lambda)
        .await;
    let error = setup
        .run(backfill(&pairs, "2024-05-31", "2024-06-01"), CUT)
        .await
        .expect_err("refused");
    assert_eq!(error.error_type, "BackfillContinuationFailed");
    assert!(
        error.error_message.contains(FUNCTION),
        "{}",
        error.error_message
    );
    assert!(
        error.error_message.contains("not authorized"),
        "{}",
        error.error_message
    );
}

#[tokio::test]
async fn an_invalid_backfill_request_is_refused_before_any_download() {
    let setup = Setup::new().await;
    for (event, kind, text) in [
        (
            backfill(&["btcusdt"], "2024-06-01", "2024-06-02"),
            "InvalidBackfillRequest",
            "\"btcusdt\" is not a Binance spot pair",
        ),
        (
            backfill(&["BTCUSDT"], "2024-06-02", "2024-06-01"),
            "InvalidBackfillRequest",
            "\"to\" is before \"from\"",
        ),
        (
            json!({"backfill": {"symbols": ["BTCUSDT"], "from": "2024-06-01"}}),
            "InvalidEvent",
            "missing field `to`",
        ),
    ] {
        let error = setup.run(event, WHOLE).await.expect_err("refused");
        assert_eq!(error.error_type, kind);
        assert!(
            error.error_message.contains(text),
            "{}",
            error.error_message
        );
    }
    setup.world.assert_nothing_written().await;
    assert!(setup
        .archive
        .server
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty());
}

#[tokio::test]
async fn the_sample_backfill_event_backfills_june_for_two_pairs() {
    let setup = Setup::new().await;
    let outcome = setup
        .run(crate::common::sample_event("klines-backfill.json"), WHOLE)
        .await
        .expect("the sample succeeds");
    assert_eq!(outcome.summary.written.len(), 60, "30 days of 2 pairs");
    assert_eq!(outcome.summary.rows, 60 * 1440);
    // June 2024 is a whole past month: one monthly zip per pair, split into days.
    let asked: Vec<String> = setup
        .archive
        .server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| r.url.path().to_owned())
        .filter(|p| p.ends_with(".zip"))
        .collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(asked.iter().all(|p| p.contains("/monthly/")), "{asked:?}");
}
