//! A simulated day under faults: 288 five-minute slots driven through the real `ingest`,
//! `klines` and `load` handlers against a CMC stand-in, a Binance stand-in, an S3 server
//! behind a switchable proxy, and a PostgreSQL cluster this test owns, with faults injected
//! on seeded schedules (one per source, so each dataset's figures stand on their own).
//! Lambda's retries and dead-letter destinations are modelled as Lambda applies them; a
//! replay of each dataset closes the day. Then, for quotes and klines alike: every answered
//! slot has exactly one object, every row of every object is in PostgreSQL exactly once,
//! every failure is accounted for, nothing else exists; and the minutes Binance did not
//! send are missing from S3 and PostgreSQL both, never padded.
//!
//! Each fault must have had exactly its own effect (the tables printed at the end, which
//! docs/faults.md quotes): every attempt in a revoked-key window ends in `CmcUnauthorized`,
//! the S3 outage in `S3WriteFailed` for ingest and klines and `S3ReadFailed` for the loads
//! it meets, a ban whose `Retry-After` outlasts the invocation in
//! `BinanceWaitPastDeadline` and a write by Lambda's retry, …
//!
//! Alert rules watch the day (`chaos_alerts.rs`): the load function evaluates them in its
//! transactions and on its scheduled alerts event each slot, and delivers to an SNS topic
//! behind a proxy with an outage of its own. Every event must be a real crossing of the
//! stored series, delivered exactly once; the replays fire nothing; the stale rules fire
//! exactly where the test's model of the check says the stored data was stale.
//!
//! Run `cargo nextest run -p system chaos_day --no-capture` to see the figures.

use crate::chaos_alerts::{self, Deliveries, StaleModel};
use chrono::{DateTime, TimeDelta, Utc};
use coinlake::config::{IngestConfig, KlinesConfig, LoadConfig};
use coinlake::klines_run::{KlineGap, KlinesSummary};
use lambda_runtime::Diagnostic;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use testkit::binance::{self as binance_standin, KlineMarket, KLINES_PATH};
use testkit::cluster::EphemeralCluster;
use testkit::cmc::{coin, error, ok, QUOTES_PATH};
use testkit::proxy::FlakyProxy;
use testkit::sns::TestTopic;
use testkit::{invocation, TestBucket};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SEED: u64 = 0x5eed_c014_1a4e;
/// The Binance side's schedule has a seed of its own: the quotes figures do not move when
/// the klines schedule changes, and the other way round.
const KLINES_SEED: u64 = 0x5eed_b1a4_ce01;
const SLOTS: i64 = 288;
/// Lambda retries a failed asynchronous invocation twice before its on-failure destination.
const LAMBDA_ATTEMPTS: u32 = 3;
/// The klines function's pairs: two, so each slot's object has ten minutes.
const PAIRS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];
/// What each klines invocation has left: after the 1.5 s kept for the write, 3.5 s to
/// fetch, room for one `Retry-After: 1` wait with more than a second to spare on a loaded
/// machine.
const KLINES_BUDGET: Duration = Duration::from_millis(5000);

/// xorshift64*: a small, seeded, reproducible schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    RateLimitBurst,
    ServerErrors,
    SlowPastDeadline,
    Unauthorized,
    MalformedBody,
    S3Down,
    PostgresDown,
    DuplicateNotification,
    BinanceRateLimited,
    BinanceBanned,
    BinanceServerErrors,
    KlineGap,
}

impl Fault {
    fn label(self) -> &'static str {
        match self {
            Fault::RateLimitBurst => "429 burst",
            Fault::ServerErrors => "502 page",
            Fault::SlowPastDeadline => "slow past the deadline",
            Fault::Unauthorized => "revoked key (401)",
            Fault::MalformedBody => "truncated body",
            Fault::S3Down => "S3 unreachable",
            Fault::PostgresDown => "PostgreSQL down",
            Fault::DuplicateNotification => "duplicate notification",
            Fault::BinanceRateLimited => "429, Retry-After 1 s",
            Fault::BinanceBanned => "418, Retry-After past the deadline",
            Fault::BinanceServerErrors => "5xx burst",
            Fault::KlineGap => "gap (2 minutes not sent)",
        }
    }
}

/// What one kind of slot (a fault, or none) saw: the figures docs/faults.md quotes.
#[derive(Default, Debug)]
struct Tally {
    slots: u64,
    /// Requests the source's stand-in answered.
    requests: u64,
    written_first_try: u64,
    /// Slots written by one of Lambda's retries after their first invocation failed.
    written_on_retry: u64,
    run_errors: BTreeMap<String, u64>,
    run_dead: BTreeMap<String, u64>,
    loads: u64,
    load_errors: BTreeMap<String, u64>,
}

fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "-".to_owned();
    }
    map.iter()
        .map(|(kind, n)| format!("{n} `{kind}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn kinds(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_string(), *n))
        .collect()
}

const NO_FAULT: &str = "no fault";

/// Answers from a script first, then with the slot's market.
#[derive(Clone, Default)]
struct Scripted {
    script: Arc<Mutex<VecDeque<ResponseTemplate>>>,
    market: Arc<Mutex<Value>>,
    requests: Arc<Mutex<u64>>,
}

impl Respond for Scripted {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        *self.requests.lock().unwrap() += 1;
        match self.script.lock().unwrap().pop_front() {
            Some(response) => response,
            None => ok(self.market.lock().unwrap().clone(), 1),
        }
    }
}

/// The Binance stand-in: answers from a script first, then from the day's minutes as the
/// live API pages them (the gap minutes left out).
#[derive(Clone)]
struct BinanceScripted {
    script: Arc<Mutex<VecDeque<ResponseTemplate>>>,
    /// A pair every request of which gets a truncated body. Keyed by pair, not queued: a run
    /// that fails on one pair drops the other pair's request, which may still reach the
    /// stand-in after the next attempt began and would take a queued response meant for it.
    truncated: Arc<Mutex<Option<&'static str>>>,
    market: KlineMarket,
    requests: Arc<Mutex<u64>>,
}

impl Respond for BinanceScripted {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        *self.requests.lock().unwrap() += 1;
        let pair = request
            .url
            .query_pairs()
            .find(|(name, _)| name == "symbol")
            .map(|(_, value)| value.into_owned());
        if let Some(truncated) = *self.truncated.lock().unwrap() {
            if pair.as_deref() == Some(truncated) {
                return ResponseTemplate::new(200)
                    .insert_header("x-mbx-used-weight-1m", binance_standin::USED_WEIGHT)
                    .set_body_string("[[1717199700000,\"67055.01000000\",\"67055.9");
            }
        }
        match self.script.lock().unwrap().pop_front() {
            Some(response) => response,
            None => self.market.respond(request),
        }
    }
}

impl BinanceScripted {
    fn requests(&self) -> u64 {
        *self.requests.lock().unwrap()
    }
}

fn market(at: DateTime<Utc>, slot: i64) -> Value {
    let updated = (at - TimeDelta::seconds(30))
        .format("%Y-%m-%dT%H:%M:%S.000Z")
        .to_string();
    let mut data = serde_json::Map::new();
    for (id, symbol, name, base) in [
        (1, "BTC", "Bitcoin", 67000.0),
        (1027, "ETH", "Ethereum", 3700.0),
        (5426, "SOL", "Solana", 160.0),
    ] {
        // SOL runs a triangle between 160 and 166 every two hours, for the alert rules
        // that cross it up and down; BTC and ETH rise 0.25 a slot.
        let price = if id == 5426 {
            base + 0.5 * ((slot % 24) - 12).abs() as f64
        } else {
            base + (slot as f64) * 0.25
        };
        let mut c = coin(id, symbol, name, Some(id), &[("USD", json!(price))]);
        c["last_updated"] = json!(updated);
        c["quote"]["USD"]["last_updated"] = json!(updated);
        data.insert(id.to_string(), c);
    }
    Value::Object(data)
}

/// The minutes of a gap slot at `at` that Binance does not send for the first pair: two
/// in the middle of the slot's five, so the gap is neither at its start nor at its end.
fn gap_minutes(at: DateTime<Utc>) -> [DateTime<Utc>; 2] {
    [at - TimeDelta::minutes(3), at - TimeDelta::minutes(2)]
}

fn s3_event(bucket: &str, key: &str) -> Value {
    json!({ "Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2024-06-01T00:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": { "principalId": "ingest" }, "requestParameters": { "sourceIPAddress": "127.0.0.1" },
        "responseElements": {},
        "s3": { "s3SchemaVersion": "1.0", "configurationId": "load",
                "bucket": { "name": bucket, "ownerIdentity": { "principalId": "x" }, "arn": "arn:aws:s3:::x" },
                "object": { "key": key.replace('=', "%3D"), "size": 1 } }
    }]})
}

fn lookup(vars: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

/// One dataset's notifications on their way to `load`, and what its loads did.
#[derive(Default)]
struct Loads {
    pending: VecDeque<(String, u32)>,
    /// key -> rows inserted by each successful load of it
    inserts_per_key: BTreeMap<String, Vec<u64>>,
    dead_letters: Vec<(String, String)>,
    invocations: u64,
    retries: u64,
    /// The alert deliveries that ran after the loads that stored something.
    deliveries: Deliveries,
}

impl Loads {
    /// S3 delivers notifications late and out of order: the pending ones, shuffled, each
    /// an invocation of `load`; a failed one is retried by Lambda up to its attempts, then
    /// goes to the on-failure destination. Loads are tallied under `label`, the outage
    /// they ran in.
    async fn deliver(
        &mut self,
        app: &load::App,
        bucket: &str,
        rng: &mut Rng,
        label: &'static str,
        tallies: &mut BTreeMap<&'static str, Tally>,
    ) {
        let mut batch: Vec<_> = self.pending.drain(..).collect();
        for i in (1..batch.len()).rev() {
            batch.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for (key, attempt) in batch {
            self.invocations += 1;
            tallies.entry(label).or_default().loads += 1;
            let event = invocation(s3_event(bucket, &key), Duration::from_secs(60));
            match load::handle(app, event).await {
                Ok(response) => {
                    let response = serde_json::to_value(&response).unwrap();
                    let inserted = response["results"][0]["inserted"].as_u64().unwrap();
                    self.deliveries.count(&response["alerts"]);
                    self.inserts_per_key.entry(key).or_default().push(inserted);
                }
                Err(e) => {
                    let kind = Diagnostic::from(e).error_type;
                    *tallies
                        .entry(label)
                        .or_default()
                        .load_errors
                        .entry(kind.clone())
                        .or_default() += 1;
                    if attempt + 1 < LAMBDA_ATTEMPTS {
                        self.retries += 1;
                        self.pending.push_back((key, attempt + 1));
                    } else {
                        self.dead_letters.push((key, kind));
                    }
                }
            }
        }
    }

    /// Each object was stored by exactly one successful load (all its rows), every other
    /// load of it (duplicates, retries) inserted nothing; a dead-lettered one that no load
    /// stored is the replay's.
    fn assert_each_stored_once(&self, rows_of: &BTreeMap<String, u64>) {
        let dead_keys: BTreeSet<&String> = self.dead_letters.iter().map(|(key, _)| key).collect();
        for (key, &rows) in rows_of {
            let inserts = self.inserts_per_key.get(key).cloned().unwrap_or_default();
            let storing = inserts.iter().filter(|&&n| n == rows).count();
            assert!(
                inserts.iter().all(|&n| n == 0 || n == rows),
                "{key} ({rows} rows): {inserts:?}"
            );
            assert_eq!(
                storing + usize::from(dead_keys.contains(key) && storing == 0),
                1,
                "{key} stored once: loads inserted {inserts:?}, dead-lettered {}",
                dead_keys.contains(key)
            );
        }
    }

    /// The slot of the newest object a load has stored so far.
    fn newest_stored(&self, slot_of: &BTreeMap<String, i64>) -> Option<i64> {
        self.inserts_per_key
            .iter()
            .filter(|(_, inserts)| inserts.iter().any(|&n| n > 0))
            .filter_map(|(key, _)| slot_of.get(key).copied())
            .max()
    }

    /// The rows the replay must insert: those of the dead-lettered objects no load stored.
    fn left_to_the_replay(&self, rows_of: &BTreeMap<String, u64>) -> u64 {
        self.dead_letters
            .iter()
            .map(|(key, _)| key)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|key| {
                !self
                    .inserts_per_key
                    .get(*key)
                    .is_some_and(|inserts| inserts.iter().any(|&n| n > 0))
            })
            .map(|key| rows_of[key])
            .sum()
    }
}

/// One klines slot with Lambda's asynchronous retries: the fault's script is laid before
/// each invocation it affects; a slot-wide fault outlasts the retries.
#[allow(clippy::too_many_arguments)]
async fn klines_slot(
    app: &klines::App,
    binance: &BinanceScripted,
    at: DateTime<Utc>,
    fault: Option<Fault>,
    rng: &mut Rng,
    tally: &mut Tally,
    scripted_failures: &mut u64,
    retries: &mut u64,
) -> Result<KlinesSummary, String> {
    let requests_before = binance.requests();
    let mut outcome = Err(String::new());
    for attempt in 0..LAMBDA_ATTEMPTS {
        *retries += u64::from(attempt > 0);
        {
            let mut script = binance.script.lock().unwrap();
            script.clear();
            *binance.truncated.lock().unwrap() =
                (fault == Some(Fault::MalformedBody)).then_some(PAIRS[0]);
            match fault {
                // Waited out in-process: the next attempt comes after exactly Retry-After.
                Some(Fault::BinanceRateLimited) if attempt == 0 => {
                    *scripted_failures += 1;
                    script.push_back(binance_standin::rate_limited(1));
                }
                // A ban longer than the invocation: waiting would end in a Lambda timeout,
                // so the run fails at once and Lambda's retry, after the ban, writes.
                Some(Fault::BinanceBanned) if attempt == 0 => {
                    script.push_back(binance_standin::banned(600));
                }
                Some(Fault::BinanceServerErrors) if attempt == 0 => {
                    for i in 0..=rng.below(3) {
                        *scripted_failures += 1;
                        script.push_back(if i % 2 == 0 {
                            binance_standin::error(
                                503,
                                -1001,
                                "Internal error; unable to process your request. Please try again.",
                            )
                        } else {
                            ResponseTemplate::new(502)
                                .set_body_string("<html>502 Bad Gateway</html>")
                        });
                    }
                }
                // Binance slower than the whole first invocation, for every pair and retry.
                Some(Fault::SlowPastDeadline) if attempt == 0 => {
                    for _ in 0..4 * PAIRS.len() {
                        script.push_back(
                            binance_standin::ok(json!([])).set_delay(Duration::from_secs(10)),
                        );
                    }
                }
                _ => {}
            }
        }
        let event = invocation(json!({ "scheduled_time": at.to_rfc3339() }), KLINES_BUDGET);
        match klines::handle(app, event).await {
            Ok(klines::Outcome::Slot(summary)) => {
                if attempt == 0 {
                    tally.written_first_try += 1;
                } else {
                    tally.written_on_retry += 1;
                }
                outcome = Ok(summary);
                break;
            }
            Ok(other) => panic!("a slot's event gave {other:?}"),
            Err(e) => {
                let kind = Diagnostic::from(e).error_type;
                *tally.run_errors.entry(kind.clone()).or_default() += 1;
                outcome = Err(kind);
            }
        }
    }
    tally.slots += 1;
    tally.requests += binance.requests() - requests_before;
    if let Err(kind) = &outcome {
        *tally.run_dead.entry(kind.clone()).or_default() += 1;
    }
    outcome
}

/// The rows of a stored object as `first|second|third` of the named columns.
fn object_rows(text: &str, columns: [usize; 3]) -> Vec<String> {
    text.lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            format!(
                "{}|{}|{}",
                fields[columns[0]], fields[columns[1]], fields[columns[2]]
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_of_faults_loses_nothing_duplicates_nothing_and_delivers_each_alert_once() {
    let mut rng = Rng(SEED);
    let mut krng = Rng(KLINES_SEED);
    let mut faults: BTreeMap<Fault, u64> = BTreeMap::new();
    let mut klines_faults: BTreeMap<Fault, u64> = BTreeMap::new();
    let bucket = TestBucket::new().await;
    let s3 = FlakyProxy::start(bucket.endpoint.trim_start_matches("http://")).await;
    // The alerts topic, behind a proxy of its own for its outage.
    let topic = TestTopic::new().await;
    let sns = FlakyProxy::start(topic.endpoint.trim_start_matches("http://")).await;
    let cluster = EphemeralCluster::start(None);
    let cmc = MockServer::start().await;
    let stand_in = Scripted::default();
    Mock::given(method("GET"))
        .and(path(QUOTES_PATH))
        .respond_with(stand_in.clone())
        .mount(&cmc)
        .await;

    // The day's schedule: windows of slots for the outages, a die roll per slot for the rest.
    let unauthorized = 60..66; // a revoked key, until someone fixes the secret
                               // Starts the slot after a write, so the notification delivered during the outage
                               // meets an unreachable S3 on the load side too (S3ReadFailed), not only on ingest's.
    let s3_down = 121..124;
    let postgres_down = 150..160; // loads attempted while these slots are ingested fail
                                  // SNS unreachable from the slot whose minute 16:00 a load fires the ETHUSDT rule on:
                                  // that event waits in the outbox through loads and schedules until it is back.
    let sns_down = 193..198;
    let first = DateTime::parse_from_rfc3339("2024-06-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let slot_at = |slot: i64| first + TimeDelta::minutes(5 * slot);

    // The day's alert rules, in place before the first slot (the schema first, as the load
    // function's first call would apply it).
    let rules = {
        let mut client = cluster.admin().await;
        coinlake::db::migrate(&mut client)
            .await
            .expect("migrations apply");
        chaos_alerts::create_rules(&client, first).await
    };
    let mut cmc_stale = StaleModel::new(first);
    let mut binance_stale = StaleModel::new(first);
    let mut scheduled = Deliveries::default();
    let mut alerts_events_failed: BTreeMap<i64, String> = BTreeMap::new();

    // Binance's schedule is drawn up front: the gaps are part of the market it serves. The
    // shared outages hit klines as they hit quotes; a revoked CMC key does not (Binance's
    // market data needs none).
    let klines_schedule: Vec<Option<Fault>> = (0..SLOTS)
        .map(|slot| {
            if s3_down.contains(&slot) {
                return Some(Fault::S3Down);
            }
            match krng.below(100) {
                0..=2 => Some(Fault::BinanceRateLimited),
                3..=4 => Some(Fault::BinanceBanned),
                5..=10 => Some(Fault::BinanceServerErrors),
                // Each costs the fetch window of an invocation: kept rare for the run time.
                11 => Some(Fault::SlowPastDeadline),
                12..=13 => Some(Fault::MalformedBody),
                14..=16 => Some(Fault::KlineGap),
                _ => None,
            }
        })
        .collect();
    let gap_minutes_of_day: Vec<DateTime<Utc>> = (0..SLOTS)
        .filter(|&slot| klines_schedule[slot as usize] == Some(Fault::KlineGap))
        .flat_map(|slot| gap_minutes(slot_at(slot)))
        .collect();
    let day_from = first - TimeDelta::minutes(5);
    let day_to = first + TimeDelta::days(1);
    let binance = MockServer::start().await;
    let binance_stand_in = BinanceScripted {
        script: Arc::default(),
        truncated: Arc::default(),
        market: KlineMarket::default()
            .with(PAIRS[0], day_from, day_to, &gap_minutes_of_day)
            .with(PAIRS[1], day_from, day_to, &[]),
        requests: Arc::default(),
    };
    Mock::given(method("GET"))
        .and(path(KLINES_PATH))
        .respond_with(binance_stand_in.clone())
        .mount(&binance)
        .await;

    let ingest_config = IngestConfig::from_lookup(lookup(vec![
        ("BUCKET_NAME", bucket.name.clone()),
        ("CMC_API_KEY", "chaos-key".into()),
        ("CMC_BASE_URL", cmc.uri()),
        ("CMC_IDS", "1,1027,5426".into()),
        // The scripted stand-in answers in the legacy v2 shape on QUOTES_PATH.
        ("CMC_QUOTES_API", "v2".into()),
        ("CMC_RETRY_BASE_MS", "5".into()),
        ("CMC_MAX_ATTEMPTS", "4".into()),
        ("CMC_TIMEOUT_MS", "1000".into()),
        ("AWS_ENDPOINT_URL_S3", s3.url()),
    ]))
    .unwrap();
    let ingest_app = ingest::App::new(ingest_config, &bucket.sdk).await.unwrap();
    let klines_config = KlinesConfig::from_lookup(lookup(vec![
        ("BUCKET_NAME", bucket.name.clone()),
        ("BINANCE_BASE_URL", binance.uri()),
        ("KLINES_SYMBOLS", PAIRS.join(",")),
        ("BINANCE_RETRY_BASE_MS", "5".into()),
        ("BINANCE_MAX_ATTEMPTS", "4".into()),
        ("BINANCE_TIMEOUT_MS", "1000".into()),
        ("AWS_ENDPOINT_URL_S3", s3.url()),
    ]))
    .unwrap();
    let klines_app = klines::App::new(klines_config, &bucket.sdk).unwrap();
    let load_config = LoadConfig::from_lookup(lookup(vec![
        ("BUCKET_NAME", bucket.name.clone()),
        ("DATABASE_URL", cluster.url("127.0.0.1")),
        ("AWS_ENDPOINT_URL_S3", s3.url()),
        ("ALERT_TOPIC_ARN", topic.arn.clone()),
        ("AWS_ENDPOINT_URL_SNS", sns.url()),
    ]))
    .unwrap();
    let load_app = load::App::new(load_config, &bucket.sdk).await.unwrap();

    let mut written: BTreeMap<String, i64> = BTreeMap::new(); // key -> slot
    let mut ingest_dead_letters: Vec<(i64, String)> = Vec::new();
    let mut tallies: BTreeMap<&'static str, Tally> = BTreeMap::new();
    let mut quotes_loads = Loads::default();
    let mut ingest_retries = 0;
    let mut scripted_429s = 0u64;
    let mut klines_written: BTreeMap<String, KlinesSummary> = BTreeMap::new();
    let mut klines_slot_of: BTreeMap<String, i64> = BTreeMap::new();
    let mut klines_dead_letters: Vec<(i64, String)> = Vec::new();
    let mut klines_tallies: BTreeMap<&'static str, Tally> = BTreeMap::new();
    let mut klines_loads = Loads::default();
    let mut klines_retries = 0;
    let mut binance_scripted_failures = 0u64;

    for slot in 0..SLOTS {
        let at = slot_at(slot);
        *stand_in.market.lock().unwrap() = market(at, slot);
        let slot_fault = if unauthorized.contains(&slot) {
            Some(Fault::Unauthorized)
        } else if s3_down.contains(&slot) {
            Some(Fault::S3Down)
        } else {
            match rng.below(100) {
                0..=6 => Some(Fault::RateLimitBurst),
                7..=13 => Some(Fault::ServerErrors),
                14..=15 => Some(Fault::SlowPastDeadline),
                16..=17 => Some(Fault::MalformedBody),
                _ => None,
            }
        };
        let klines_fault = klines_schedule[slot as usize];
        if slot == s3_down.start {
            s3.go_down();
        }
        if slot == s3_down.end {
            s3.come_back();
        }
        if slot == postgres_down.start {
            cluster.stop();
            *faults.entry(Fault::PostgresDown).or_default() += 1;
            *klines_faults.entry(Fault::PostgresDown).or_default() += 1;
        }
        if slot == postgres_down.end {
            cluster.start_again();
        }
        if slot == sns_down.start {
            sns.go_down();
        }
        if slot == sns_down.end {
            sns.come_back();
        }
        if let Some(fault) = slot_fault {
            *faults.entry(fault).or_default() += 1;
        }
        if let Some(fault) = klines_fault {
            *klines_faults.entry(fault).or_default() += 1;
        }
        let label = slot_fault.map_or(NO_FAULT, Fault::label);
        let klines_label = klines_fault.map_or(NO_FAULT, Fault::label);
        let requests_before = *stand_in.requests.lock().unwrap();

        // ingest, with Lambda's asynchronous retries; slot-wide faults outlast them
        let ingest_slot = async {
            let mut outcome = Err(String::new());
            for attempt in 0..LAMBDA_ATTEMPTS {
                ingest_retries += u64::from(attempt > 0);
                {
                    let mut script = stand_in.script.lock().unwrap();
                    script.clear();
                    match slot_fault {
                        Some(Fault::RateLimitBurst) if attempt == 0 => {
                            for _ in 0..=rng.below(2) {
                                scripted_429s += 1;
                                script.push_back(error(
                                    429,
                                    1008,
                                    "You've exceeded your API Key's HTTP request rate limit.",
                                ));
                            }
                        }
                        Some(Fault::ServerErrors) if attempt == 0 => {
                            script.push_back(
                                ResponseTemplate::new(502)
                                    .set_body_string("<html>502 Bad Gateway</html>"),
                            );
                        }
                        Some(Fault::SlowPastDeadline) => {
                            for _ in 0..4 {
                                script
                                    .push_back(ok(json!({}), 1).set_delay(Duration::from_secs(5)));
                            }
                        }
                        Some(Fault::Unauthorized) => {
                            script.push_back(error(401, 1001, "This API Key is invalid."))
                        }
                        Some(Fault::MalformedBody) => {
                            script.push_back(ResponseTemplate::new(200).set_body_string(
                                "{\"status\": {\"error_code\": 0}, \"data\": {\"1\"",
                            ))
                        }
                        _ => {}
                    }
                }
                let event = invocation(
                    json!({ "scheduled_time": at.to_rfc3339() }),
                    Duration::from_millis(2500),
                );
                match ingest::handle(&ingest_app, event).await {
                    Ok(summary) => {
                        outcome = Ok(summary.key);
                        tallies.entry(label).or_default().written_first_try +=
                            u64::from(attempt == 0);
                        break;
                    }
                    Err(e) => {
                        let kind = Diagnostic::from(e).error_type;
                        *tallies
                            .entry(label)
                            .or_default()
                            .run_errors
                            .entry(kind.clone())
                            .or_default() += 1;
                        outcome = Err(kind);
                    }
                }
            }
            outcome
        };
        // The klines function runs on the same schedule, beside ingest.
        let klines_part = klines_slot(
            &klines_app,
            &binance_stand_in,
            at,
            klines_fault,
            &mut krng,
            klines_tallies.entry(klines_label).or_default(),
            &mut binance_scripted_failures,
            &mut klines_retries,
        );
        let (outcome, klines_outcome) = tokio::join!(ingest_slot, klines_part);
        {
            let tally = tallies.entry(label).or_default();
            tally.slots += 1;
            tally.requests += *stand_in.requests.lock().unwrap() - requests_before;
            if let Err(kind) = &outcome {
                *tally.run_dead.entry(kind.clone()).or_default() += 1;
            }
        }
        match outcome {
            Ok(key) => {
                written.insert(key.clone(), slot);
                quotes_loads.pending.push_back((key.clone(), 0));
                if rng.below(100) < 10 {
                    *faults.entry(Fault::DuplicateNotification).or_default() += 1;
                    quotes_loads.pending.push_back((key, 0));
                }
            }
            Err(reason) => ingest_dead_letters.push((slot, reason)),
        }
        match klines_outcome {
            Ok(summary) => {
                assert!(summary.written, "slot {slot}: klines fetched, none written");
                let key = summary.key.clone();
                klines_written.insert(key.clone(), summary);
                klines_slot_of.insert(key.clone(), slot);
                klines_loads.pending.push_back((key.clone(), 0));
                if krng.below(100) < 10 {
                    *klines_faults
                        .entry(Fault::DuplicateNotification)
                        .or_default() += 1;
                    klines_loads.pending.push_back((key, 0));
                }
            }
            Err(reason) => klines_dead_letters.push((slot, reason)),
        }

        // S3 delivers notifications late and out of order: every third slot, a shuffled batch
        if slot % 3 == 2 || slot == SLOTS - 1 {
            // Loads are tallied under the outage they ran in, if any.
            let load_label = if postgres_down.contains(&slot) {
                Fault::PostgresDown.label()
            } else if s3_down.contains(&slot) {
                Fault::S3Down.label()
            } else {
                NO_FAULT
            };
            tokio::join!(
                quotes_loads.deliver(&load_app, &bucket.name, &mut rng, load_label, &mut tallies),
                klines_loads.deliver(
                    &load_app,
                    &bucket.name,
                    &mut krng,
                    load_label,
                    &mut klines_tallies
                ),
            );
        }

        // The load function's five-minute schedule: the stale check at the slot's time,
        // then delivery of what is unsent. The model checks the same time against the
        // newest object the test saw a load store.
        let event = invocation(
            json!({ "alerts": { "scheduled_time": at.to_rfc3339() } }),
            Duration::from_secs(60),
        );
        match load::handle(&load_app, event).await {
            Ok(response) => {
                let response = serde_json::to_value(&response).unwrap();
                scheduled.count(&response["alerts"]["delivery"]);
                cmc_stale.check(at, quotes_loads.newest_stored(&written).map(slot_at));
                binance_stale.check(
                    at,
                    klines_loads
                        .newest_stored(&klines_slot_of)
                        .map(|k| slot_at(k) - TimeDelta::milliseconds(1)),
                );
            }
            Err(e) => {
                alerts_events_failed.insert(slot, Diagnostic::from(e).error_type);
            }
        }
    }
    s3.come_back();
    sns.come_back();
    let alerts_client = cluster.admin().await;
    let events_before_replays = chaos_alerts::events(&alerts_client).await.len();

    // The operator's recovery: replay the day, each dataset.
    let replay = |dataset: &str| {
        invocation(
            json!({ "replay": { "dataset": dataset, "from": "2024-06-01", "to": "2024-06-01" } }),
            Duration::from_secs(600),
        )
    };
    let summary = serde_json::to_value(
        load::handle(&load_app, replay("quotes"))
            .await
            .expect("the quotes replay succeeds"),
    )
    .unwrap();
    let klines_summary = serde_json::to_value(
        load::handle(&load_app, replay("klines"))
            .await
            .expect("the klines replay succeeds"),
    )
    .unwrap();

    // The replays are quiet: they fired nothing (what they delivered is counted).
    let mut replay_deliveries = Deliveries::default();
    for (dataset, summary) in [("quotes", &summary), ("klines", &klines_summary)] {
        // Left out of the summary when none fired.
        assert_eq!(
            summary["total"].get("alerts_fired"),
            None,
            "{dataset}: the replay fired alerts"
        );
        replay_deliveries.count(&summary["alerts"]);
    }
    assert_eq!(
        chaos_alerts::events(&alerts_client).await.len(),
        events_before_replays,
        "the replays added events"
    );
    // One last scheduled alerts event, at the end of the day, delivers what is left.
    let day_end = slot_at(SLOTS);
    let last = load::handle(
        &load_app,
        invocation(
            json!({ "alerts": { "scheduled_time": day_end.to_rfc3339() } }),
            Duration::from_secs(60),
        ),
    )
    .await
    .expect("the last alerts event succeeds");
    scheduled.count(&serde_json::to_value(&last).unwrap()["alerts"]["delivery"]);
    cmc_stale.check(day_end, written.values().max().map(|&s| slot_at(s)));
    binance_stale.check(
        day_end,
        klines_slot_of
            .values()
            .max()
            .map(|&k| slot_at(k) - TimeDelta::milliseconds(1)),
    );

    // Every answered slot has exactly one object, and nothing else was written.
    let keys: BTreeSet<String> = bucket.keys().await.into_iter().collect();
    let (klines_keys, keys): (BTreeSet<String>, BTreeSet<String>) = keys
        .into_iter()
        .partition(|key| key.starts_with("raw/klines/"));
    assert_eq!(
        keys,
        written.keys().cloned().collect::<BTreeSet<_>>(),
        "quotes objects are exactly the answered slots, and nothing else is in the bucket"
    );
    assert_eq!(
        klines_keys,
        klines_written.keys().cloned().collect::<BTreeSet<_>>(),
        "klines objects are exactly the answered slots"
    );
    // Every failed slot is in the dead-letter path with its reason, and only those.
    for (dataset, dead, written) in [
        ("quotes", &ingest_dead_letters, written.len()),
        ("klines", &klines_dead_letters, klines_written.len()),
    ] {
        let failed_slots: BTreeSet<i64> = dead.iter().map(|(slot, _)| *slot).collect();
        assert_eq!(
            failed_slots.len() + written,
            SLOTS as usize,
            "{dataset}: each slot either wrote or went to the dead letters"
        );
        for (slot, reason) in dead {
            assert!(
                !reason.is_empty(),
                "{dataset}: slot {slot} failed without a reason"
            );
        }
    }
    // Every row of every object is in PostgreSQL exactly once.
    let mut expected = BTreeSet::new();
    let mut rows_of_quotes: BTreeMap<String, u64> = BTreeMap::new();
    for key in &keys {
        let rows = object_rows(&bucket.get(key).await.text(), [1, 21, 7]);
        rows_of_quotes.insert(key.clone(), rows.len() as u64);
        expected.extend(rows);
    }
    let mut expected_klines = BTreeSet::new();
    let mut rows_of_klines: BTreeMap<String, u64> = BTreeMap::new();
    let mut klines_object_rows = 0;
    for key in &klines_keys {
        // symbol, open_time, close
        let rows = object_rows(&bucket.get(key).await.text(), [0, 1, 6]);
        assert_eq!(
            rows.len(),
            klines_written[key].rows,
            "{key}: the rows the run reported"
        );
        rows_of_klines.insert(key.clone(), rows.len() as u64);
        klines_object_rows += rows.len();
        expected_klines.extend(rows);
    }
    let client = cluster.admin().await;
    let texts = |sql: &'static str| {
        let client = &client;
        async move {
            client
                .query(sql, &[])
                .await
                .unwrap()
                .iter()
                .map(|row| row.get::<_, String>(0))
                .collect::<Vec<String>>()
        }
    };
    let stored = texts("SELECT format('%s|%s|%s', cmc_id, to_char(last_updated AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'), price) FROM quotes").await;
    let stored_klines = texts("SELECT format('%s|%s|%s', symbol, to_char(open_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'), close) FROM klines_1m").await;
    let compare = |expected: &BTreeSet<String>, stored: &[String]| {
        let stored_set: BTreeSet<String> = stored.iter().cloned().collect();
        (
            stored.len() - stored_set.len(),
            expected.difference(&stored_set).count(),
            stored_set.difference(expected).count(),
        )
    };
    let (duplicates, lost, extra) = compare(&expected, &stored);
    assert_eq!(
        (duplicates, lost, extra),
        (0, 0, 0),
        "quotes: duplicates, lost, extra rows"
    );
    let (klines_duplicates, klines_lost, klines_extra) = compare(&expected_klines, &stored_klines);
    assert_eq!(
        klines_object_rows,
        expected_klines.len(),
        "no minute is in two objects"
    );
    assert_eq!(
        (klines_duplicates, klines_lost, klines_extra),
        (0, 0, 0),
        "klines: duplicates, lost, extra minutes"
    );
    // The minutes Binance did not send were reported as gaps by their slots' runs, and are
    // in neither S3 nor PostgreSQL: never padded.
    let reported_gaps: Vec<KlineGap> = klines_written
        .values()
        .flat_map(|summary| summary.gaps.clone())
        .collect();
    let injected_gaps: Vec<KlineGap> = (0..SLOTS)
        .filter(|&slot| klines_schedule[slot as usize] == Some(Fault::KlineGap))
        .map(|slot| {
            let [from, last] = gap_minutes(slot_at(slot));
            KlineGap {
                symbol: PAIRS[0].to_owned(),
                from,
                to: last + TimeDelta::minutes(1),
            }
        })
        .collect();
    assert!(!injected_gaps.is_empty(), "the schedule has a gap");
    assert_eq!(
        reported_gaps, injected_gaps,
        "each gap reported, by its own slot"
    );
    let minute_text = |at: &DateTime<Utc>| at.format("%Y-%m-%d %H:%M:%S%.3f").to_string();
    for minute in &gap_minutes_of_day {
        let prefix = format!("{}|{}|", PAIRS[0], minute_text(minute));
        assert!(
            !expected_klines.iter().any(|row| row.starts_with(&prefix)),
            "{prefix}: a gap minute is in an object"
        );
        assert!(
            !stored_klines.iter().any(|row| row.starts_with(&prefix)),
            "{prefix}: a gap minute is in klines_1m"
        );
    }
    // The other pair's minutes of the gap slots are all there.
    for minute in &gap_minutes_of_day {
        let prefix = format!("{}|{}|", PAIRS[1], minute_text(minute));
        assert!(
            stored_klines.iter().any(|row| row.starts_with(&prefix)),
            "{prefix}: the other pair's minute is missing"
        );
    }
    // Every failed load left a trace: a dead letter, or a failed run in ingest_runs.
    let recorded_failures: i64 = client
        .query_one(
            "SELECT count(*) FROM ingest_runs WHERE status <> 'loaded'",
            &[],
        )
        .await
        .unwrap()
        .get(0);

    let dead_kinds = |dead: &[(i64, String)]| {
        dead.iter()
            .map(|(_, r)| r.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut figures = format!(
        "chaos day (seed {SEED:#x}): {SLOTS} slots, {} written, {} dead-lettered ({}); faults injected: {faults:?}; \
         CMC requests {}; ingest retries {ingest_retries}; load invocations {}, retries {}, \
         dead-lettered {}; failed loads recorded in ingest_runs {recorded_failures}; replay: {} files, {} rows inserted, {} already present; \
         rows in objects {}, rows in PostgreSQL {}, duplicates {duplicates}, lost {lost}",
        written.len(),
        ingest_dead_letters.len(),
        dead_kinds(&ingest_dead_letters),
        *stand_in.requests.lock().unwrap(),
        quotes_loads.invocations,
        quotes_loads.retries,
        quotes_loads.dead_letters.len(),
        summary["total"]["files"],
        summary["total"]["inserted"],
        summary["total"]["already_present"],
        expected.len(),
        stored.len(),
    );
    figures.push('\n');
    figures.push_str(&format!(
        "klines (seed {KLINES_SEED:#x}, {} pairs): {SLOTS} slots, {} written, {} dead-lettered ({}); faults injected: {klines_faults:?}; \
         Binance requests {}; klines retries {klines_retries}; gaps reported {} ({} minutes); load invocations {}, retries {}, \
         dead-lettered {}; replay: {} files, {} rows inserted, {} already present; \
         minutes in objects {}, minutes in PostgreSQL {}, duplicates {klines_duplicates}, lost {klines_lost}\n",
        PAIRS.len(),
        klines_written.len(),
        klines_dead_letters.len(),
        dead_kinds(&klines_dead_letters),
        binance_stand_in.requests(),
        reported_gaps.len(),
        gap_minutes_of_day.len(),
        klines_loads.invocations,
        klines_loads.retries,
        klines_loads.dead_letters.len(),
        klines_summary["total"]["files"],
        klines_summary["total"]["inserted"],
        klines_summary["total"]["already_present"],
        expected_klines.len(),
        stored_klines.len(),
    ));
    print!("{figures}");

    // Each fault's effect, per kind of slot: the tables docs/faults.md quotes.
    let mut table = String::from(
        "| fault | slots | CMC requests | ingest errors (every attempt) | slots dead-lettered | load invocations | load errors |\n|---|---|---|---|---|---|---|\n",
    );
    let mut labels = vec![NO_FAULT];
    labels.extend(
        [
            Fault::RateLimitBurst,
            Fault::ServerErrors,
            Fault::SlowPastDeadline,
            Fault::Unauthorized,
            Fault::MalformedBody,
            Fault::S3Down,
            Fault::PostgresDown,
        ]
        .map(Fault::label),
    );
    let empty = Tally::default();
    for label in &labels {
        let t = tallies.get(label).unwrap_or(&empty);
        if *label == Fault::PostgresDown.label() {
            // Ingest does not use the database: its slots are counted under their CMC fault.
            table.push_str(&format!(
                "| {label} | {} | | ingest unaffected | | {} | {} |\n",
                postgres_down.end - postgres_down.start,
                t.loads,
                counts(&t.load_errors)
            ));
            continue;
        }
        table.push_str(&format!(
            "| {label} | {} | {} | {} | {} | {} | {} |\n",
            t.slots,
            t.requests,
            counts(&t.run_errors),
            counts(&t.run_dead),
            t.loads,
            counts(&t.load_errors)
        ));
    }
    print!("{table}");

    let mut klines_table = String::from(
        "| fault (klines) | slots | Binance requests | klines errors (every attempt) | written by a Lambda retry | slots dead-lettered | load invocations | load errors |\n|---|---|---|---|---|---|---|---|\n",
    );
    let mut klines_labels = vec![NO_FAULT];
    klines_labels.extend(
        [
            Fault::BinanceRateLimited,
            Fault::BinanceBanned,
            Fault::BinanceServerErrors,
            Fault::SlowPastDeadline,
            Fault::MalformedBody,
            Fault::KlineGap,
            Fault::S3Down,
            Fault::PostgresDown,
        ]
        .map(Fault::label),
    );
    for label in &klines_labels {
        let t = klines_tallies.get(label).unwrap_or(&empty);
        if *label == Fault::PostgresDown.label() {
            // The klines function does not use the database either.
            klines_table.push_str(&format!(
                "| {label} | {} | | klines unaffected | | | {} | {} |\n",
                postgres_down.end - postgres_down.start,
                t.loads,
                counts(&t.load_errors)
            ));
            continue;
        }
        klines_table.push_str(&format!(
            "| {label} | {} | {} | {} | {} | {} | {} | {} |\n",
            t.slots,
            t.requests,
            counts(&t.run_errors),
            t.written_on_retry,
            counts(&t.run_dead),
            t.loads,
            counts(&t.load_errors)
        ));
    }
    print!("{klines_table}");

    let n = |fault: Fault| faults.get(&fault).copied().unwrap_or(0);
    let attempts = u64::from(LAMBDA_ATTEMPTS);
    // Slot-wide faults outlast Lambda's retries: every attempt fails with the fault's own
    // error, and the slot is dead-lettered with it.
    for (fault, kind) in [
        (Fault::Unauthorized, "CmcUnauthorized"),
        (Fault::MalformedBody, "CmcMalformedResponse"),
        (Fault::SlowPastDeadline, "CmcOutOfTime"),
        (Fault::S3Down, "S3WriteFailed"),
    ] {
        let t = &tallies[fault.label()];
        assert_eq!(t.slots, n(fault), "{}", fault.label());
        assert_eq!(
            t.run_errors,
            kinds(&[(kind, attempts * n(fault))]),
            "{}",
            fault.label()
        );
        assert_eq!(t.run_dead, kinds(&[(kind, n(fault))]), "{}", fault.label());
        assert_eq!(t.written_first_try, 0, "{}", fault.label());
    }
    // A revoked key is never retried in-process: one request per invocation. While S3 is
    // down CMC still answers, once per invocation.
    for fault in [Fault::Unauthorized, Fault::S3Down] {
        assert_eq!(
            tallies[fault.label()].requests,
            attempts * n(fault),
            "{}",
            fault.label()
        );
    }
    // Transient CMC faults are absorbed in-process: each slot written by its first
    // invocation, after exactly the scripted failures.
    for (fault, extra) in [
        (Fault::RateLimitBurst, scripted_429s),
        (Fault::ServerErrors, n(Fault::ServerErrors)),
    ] {
        let t = &tallies[fault.label()];
        assert_eq!(
            (t.written_first_try, &t.run_errors, t.requests),
            (n(fault), &BTreeMap::new(), n(fault) + extra),
            "{}",
            fault.label()
        );
    }
    let calm = &tallies[NO_FAULT];
    assert_eq!(
        (calm.written_first_try, calm.requests, &calm.run_errors),
        (calm.slots, calm.slots, &BTreeMap::new()),
        "slots without a fault"
    );
    // Loads fail exactly while an outage lasts, each with the outage's own error, and
    // never otherwise; for both datasets.
    for (dataset, tallies) in [("quotes", &tallies), ("klines", &klines_tallies)] {
        for (fault, kind) in [
            (Fault::S3Down, "S3ReadFailed"),
            (Fault::PostgresDown, "DatabaseFailed"),
        ] {
            let t = &tallies[fault.label()];
            assert!(
                t.loads > 0,
                "{dataset}, {}: no load ran during the outage",
                fault.label()
            );
            assert_eq!(
                t.load_errors,
                kinds(&[(kind, t.loads)]),
                "{dataset}, {}",
                fault.label()
            );
        }
        assert_eq!(
            tallies[NO_FAULT].load_errors,
            BTreeMap::new(),
            "{dataset}: loads outside the outages"
        );
    }
    for (dataset, loads) in [("quotes", &quotes_loads), ("klines", &klines_loads)] {
        assert!(
            loads
                .dead_letters
                .iter()
                .all(|(_, kind)| kind == "DatabaseFailed"),
            "{dataset}: only the database outage outlasts Lambda's retries: {:?}",
            loads.dead_letters
        );
        assert!(
            !loads.dead_letters.is_empty() || loads.retries > 0,
            "{dataset}: the database outage was felt by loads"
        );
    }
    quotes_loads.assert_each_stored_once(&rows_of_quotes);
    klines_loads.assert_each_stored_once(&rows_of_klines);
    assert!(
        faults.len() >= 6,
        "every kind of fault was exercised: {faults:?}"
    );
    // What each replay inserted is exactly what the dead-lettered loads held.
    assert_eq!(
        summary["total"]["inserted"].as_u64(),
        Some(quotes_loads.left_to_the_replay(&rows_of_quotes))
    );
    assert_eq!(
        summary["total"]["inserted"].as_u64(),
        Some(3 * quotes_loads.dead_letters.len() as u64)
    );
    assert_eq!(
        klines_summary["total"]["inserted"].as_u64(),
        Some(klines_loads.left_to_the_replay(&rows_of_klines)),
        "the klines replay inserted what the dead-lettered loads held"
    );

    // Klines, fault by fault.
    let kn = |fault: Fault| klines_faults.get(&fault).copied().unwrap_or(0);
    let pairs = PAIRS.len() as u64;
    for fault in [
        Fault::BinanceRateLimited,
        Fault::BinanceBanned,
        Fault::BinanceServerErrors,
        Fault::SlowPastDeadline,
        Fault::MalformedBody,
        Fault::KlineGap,
        Fault::S3Down,
        Fault::DuplicateNotification,
    ] {
        assert!(kn(fault) > 0, "klines: {} never drawn", fault.label());
    }
    // Slot-wide faults outlast Lambda's retries, each with its own error.
    for (fault, kind) in [
        (Fault::MalformedBody, "BinanceMalformedResponse"),
        (Fault::S3Down, "S3WriteFailed"),
    ] {
        let t = &klines_tallies[fault.label()];
        assert_eq!(
            (
                t.slots,
                &t.run_errors,
                &t.run_dead,
                t.written_first_try + t.written_on_retry
            ),
            (
                kn(fault),
                &kinds(&[(kind, attempts * kn(fault))]),
                &kinds(&[(kind, kn(fault))]),
                0
            ),
            "klines, {}",
            fault.label()
        );
    }
    // While S3 is down Binance answers every pair of every invocation.
    assert_eq!(
        klines_tallies[Fault::S3Down.label()].requests,
        attempts * pairs * kn(Fault::S3Down)
    );
    // A run stops at its first failed pair, so whether the other pair's request reached
    // the stand-in depends on timing; the bounds do not. A malformed reply and a ban are
    // never retried in-process: at most one request per pair and invocation (a ban's
    // slot: one failed invocation, then one that writes); a slow pair tries until the
    // fetch window closes (a second an attempt, then what is left), at most four times.
    for (fault, least, most) in [
        (
            Fault::MalformedBody,
            attempts * kn(Fault::MalformedBody),
            attempts * pairs * kn(Fault::MalformedBody),
        ),
        (
            Fault::BinanceBanned,
            (1 + pairs) * kn(Fault::BinanceBanned),
            2 * pairs * kn(Fault::BinanceBanned),
        ),
        (
            Fault::SlowPastDeadline,
            (1 + pairs) * kn(Fault::SlowPastDeadline),
            5 * pairs * kn(Fault::SlowPastDeadline),
        ),
    ] {
        let requests = klines_tallies[fault.label()].requests;
        assert!(
            (least..=most).contains(&requests),
            "klines, {}: {requests} requests, expected {least} to {most}",
            fault.label()
        );
    }
    // Faults that outlast one invocation but not Lambda's retries: the first invocation
    // fails with the fault's error, the second writes.
    for (fault, kind) in [
        (Fault::BinanceBanned, "BinanceWaitPastDeadline"),
        (Fault::SlowPastDeadline, "BinanceOutOfTime"),
    ] {
        let t = &klines_tallies[fault.label()];
        assert_eq!(
            (
                t.slots,
                &t.run_errors,
                t.written_first_try,
                t.written_on_retry,
                &t.run_dead
            ),
            (
                kn(fault),
                &kinds(&[(kind, kn(fault))]),
                0,
                kn(fault),
                &BTreeMap::new()
            ),
            "klines, {}",
            fault.label()
        );
    }
    // Rate limits and 5xx bursts are absorbed in-process, after exactly the scripted
    // failures; a gap costs nothing but its minutes.
    let absorbed = [
        Fault::BinanceRateLimited,
        Fault::BinanceServerErrors,
        Fault::KlineGap,
    ];
    let mut absorbed_requests = 0;
    for fault in absorbed {
        let t = &klines_tallies[fault.label()];
        assert_eq!(
            (t.slots, t.written_first_try, &t.run_errors, &t.run_dead),
            (kn(fault), kn(fault), &BTreeMap::new(), &BTreeMap::new()),
            "klines, {}",
            fault.label()
        );
        absorbed_requests += t.requests;
        if fault == Fault::KlineGap {
            assert_eq!(t.requests, pairs * kn(fault), "klines, {}", fault.label());
        }
    }
    assert_eq!(
        absorbed_requests,
        pairs * absorbed.iter().map(|&fault| kn(fault)).sum::<u64>() + binance_scripted_failures,
        "klines: one request per pair, plus one per scripted 429 or 5xx"
    );
    let calm = &klines_tallies[NO_FAULT];
    assert_eq!(
        (calm.written_first_try, calm.requests, &calm.run_errors),
        (calm.slots, pairs * calm.slots, &BTreeMap::new()),
        "klines slots without a fault"
    );
    // Alerts: every event delivered exactly once, each a real crossing, the stale rules
    // firing where the stored data says they must.
    let events = chaos_alerts::events(&alerts_client).await;
    let published = topic.published().await;
    let mut reported = Deliveries::default();
    for deliveries in [
        &quotes_loads.deliveries,
        &klines_loads.deliveries,
        &scheduled,
        &replay_deliveries,
    ] {
        for (&id, &n) in &deliveries.delivered {
            *reported.delivered.entry(id).or_default() += n;
        }
        reported.failed_publishes += deliveries.failed_publishes;
        reported.delivery_errors += deliveries.delivery_errors;
    }
    let slot_of_time = |t: DateTime<Utc>| (t - first).num_minutes().div_euclid(5);
    let mut alerts_table = String::from(
        "| alert rule | kind | crossings in the stored day | fired | delivered | publishes failed, then retried | duplicates |\n|---|---|---|---|---|---|---|\n",
    );
    let mut late: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let mut total_fired = 0;
    let mut fired_by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    let mut stale_slots: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for rule in &rules {
        let of_rule: Vec<&chaos_alerts::Event> = events
            .iter()
            .filter(|e| e.rule_id == Some(rule.id))
            .collect();
        let mut crossings = String::from("-");
        if rule.kind == "stale" {
            let model = if rule.label.starts_with("CMC") {
                &cmc_stale
            } else {
                &binance_stale
            };
            let fired_at: Vec<DateTime<Utc>> = of_rule.iter().map(|e| e.observed_at).collect();
            assert_eq!(
                fired_at, model.fired,
                "{}: the stale events are the checks at which the stored data was stale",
                rule.label
            );
            stale_slots.insert(
                rule.label,
                fired_at.iter().map(|&t| slot_of_time(t)).collect(),
            );
        } else {
            let in_order =
                chaos_alerts::assert_crossings(&alerts_client, rule, &of_rule, first).await;
            crossings = in_order.len().to_string();
            // The crossings the loads' order skipped as late, by slot, for the printout.
            let missed: Vec<i64> = in_order
                .iter()
                .filter(|&&t| {
                    !of_rule
                        .iter()
                        .any(|e| (e.observed_at - t).abs() < TimeDelta::minutes(20))
                })
                .map(|&t| slot_of_time(t))
                .collect();
            if !missed.is_empty() {
                late.insert(rule.label, missed);
            }
        }
        let delivered = of_rule
            .iter()
            .filter(|e| reported.delivered.get(&e.id) == Some(&1))
            .count();
        let retried: i32 = of_rule.iter().map(|e| e.delivery_attempts - 1).sum();
        total_fired += of_rule.len();
        *fired_by_kind.entry(rule.kind).or_default() += of_rule.len();
        alerts_table.push_str(&format!(
            "| {} | `{}` | {crossings} | {} | {delivered} | {retried} | 0 |\n",
            rule.label,
            rule.kind,
            of_rule.len()
        ));
    }
    let delivered_once = reported.delivered.values().filter(|&&n| n == 1).count();
    alerts_table.push_str(&format!(
        "| total | | | {total_fired} | {delivered_once} | {} | 0 |\n",
        reported.failed_publishes
    ));
    print!(
        "alerts: fired by kind {fired_by_kind:?}; stale events at slots {stale_slots:?}; \
         crossings not fired (late), by slot {late:?}; \
         {} messages at the topic; scheduled alerts events {} (failed: {alerts_events_failed:?}); \
         deliveries that could not run {}\n{alerts_table}",
        published.len(),
        SLOTS + 1,
        reported.delivery_errors,
    );

    // Every event is a rule's (no operator alert was raised: the stand-in sends no notice).
    assert_eq!(total_fired, events.len(), "events without a day's rule");
    // Delivered exactly once: each row at the topic once, with its attributes, and each
    // reported delivered once by the handler that published it.
    chaos_alerts::assert_published_once(&events, &published);
    assert_eq!(
        reported.delivered.keys().copied().collect::<Vec<_>>(),
        events.iter().map(|e| e.id).collect::<Vec<_>>(),
        "the handlers reported delivering exactly the outbox's rows"
    );
    assert_eq!(
        delivered_once,
        events.len(),
        "an event reported delivered twice"
    );
    // Every failed publish was an attempt the outbox counted, and was retried: each row's
    // attempts are its failed publishes plus the one that delivered it.
    let attempts: i64 = events.iter().map(|e| i64::from(e.delivery_attempts)).sum();
    assert_eq!(
        attempts,
        events.len() as i64 + reported.failed_publishes as i64,
        "delivery attempts = deliveries + failed publishes"
    );
    assert!(
        reported.failed_publishes > 0,
        "the SNS outage failed no publish: nothing was retried"
    );
    // The scheduled alerts event fails exactly while the database is down.
    assert_eq!(
        alerts_events_failed,
        postgres_down
            .clone()
            .map(|slot| (slot, "AlertsFailed".to_owned()))
            .collect::<BTreeMap<_, _>>(),
        "scheduled alerts events that failed"
    );
    // Each price rule fired; the oscillating series' rules, again and again.
    for rule in rules.iter().filter(|r| r.kind != "stale") {
        let fired = events.iter().filter(|e| e.rule_id == Some(rule.id)).count();
        let least = if rule.label.starts_with("BTC above") {
            1
        } else {
            5
        };
        assert!(
            fired >= least,
            "{}: fired {fired} times, expected at least {least}",
            rule.label
        );
    }
    // The stale rules fired in the outages that kept their source's data from the
    // database, and only there (never for a ban, a gap or a lone dead-lettered slot): the
    // revoked key (CMC), the S3 outage (Binance: its loads met S3 down and the retry came
    // after the check; CMC's data was 25 minutes old, not more), the database outage (both,
    // at the first check it answers). An outage's silence is noticed up to the delivery lag
    // (three slots) after it ends.
    let in_outage = |slot: i64, outages: &[&std::ops::Range<i64>]| {
        outages.iter().any(|o| (o.start..o.end + 3).contains(&slot))
    };
    let outages = [&unauthorized, &s3_down, &postgres_down];
    for (label, must) in [
        ("CMC stale", vec![&unauthorized, &postgres_down]),
        ("Binance stale", vec![&s3_down, &postgres_down]),
    ] {
        let slots = &stale_slots[label];
        assert!(
            slots.iter().all(|&slot| in_outage(slot, &outages)),
            "{label}: fired outside the outages: {slots:?}"
        );
        for outage in must {
            assert!(
                slots.iter().any(|&slot| in_outage(slot, &[outage])),
                "{label}: the outage {outage:?} did not fire it: {slots:?}"
            );
        }
    }
}
