//! A simulated day under faults: 288 five-minute slots driven through the real `ingest`
//! and `load` handlers against a CMC stand-in, an S3 server behind a switchable proxy, and
//! a PostgreSQL cluster this test owns, with faults injected on a seeded schedule. Lambda's
//! retries and dead-letter destinations are modelled as Lambda applies them; a replay
//! closes the day. Then: every answered slot has exactly one object, every row of every
//! object is in PostgreSQL exactly once, every failure is accounted for, nothing else
//! exists.
//!
//! Each fault must have had exactly its own effect (the table printed at the end, which the
//! docs/faults.md quotes): every attempt in a revoked-key window ends in `CmcUnauthorized`, the S3
//! outage in `S3WriteFailed` for ingest and `S3ReadFailed` for the load it meets, …
//!
//! Run `cargo nextest run -p system chaos_day --no-capture` to see the figures.

use chrono::{DateTime, TimeDelta, Utc};
use coinlake::config::{IngestConfig, LoadConfig};
use lambda_runtime::Diagnostic;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use testkit::cluster::EphemeralCluster;
use testkit::cmc::{coin, error, ok, QUOTES_PATH};
use testkit::proxy::FlakyProxy;
use testkit::{invocation, TestBucket};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SEED: u64 = 0x5eed_c014_1a4e;
const SLOTS: i64 = 288;
/// Lambda retries a failed asynchronous invocation twice before its on-failure destination.
const LAMBDA_ATTEMPTS: u32 = 3;

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
        }
    }
}

/// What one kind of slot (a fault, or none) saw: the figures docs/faults.md quotes.
#[derive(Default, Debug)]
struct Tally {
    slots: u64,
    cmc_requests: u64,
    written_first_try: u64,
    ingest_errors: BTreeMap<String, u64>,
    ingest_dead: BTreeMap<String, u64>,
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
        let price = base + (slot as f64) * 0.25;
        let mut c = coin(id, symbol, name, Some(id), &[("USD", json!(price))]);
        c["last_updated"] = json!(updated);
        c["quote"]["USD"]["last_updated"] = json!(updated);
        data.insert(id.to_string(), c);
    }
    Value::Object(data)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_of_faults_loses_nothing_and_duplicates_nothing() {
    let mut rng = Rng(SEED);
    let mut faults: BTreeMap<Fault, u64> = BTreeMap::new();
    let bucket = TestBucket::new().await;
    let s3 = FlakyProxy::start(bucket.endpoint.trim_start_matches("http://")).await;
    let cluster = EphemeralCluster::start(None);
    let cmc = MockServer::start().await;
    let stand_in = Scripted::default();
    Mock::given(method("GET"))
        .and(path(QUOTES_PATH))
        .respond_with(stand_in.clone())
        .mount(&cmc)
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
    let load_config = LoadConfig::from_lookup(lookup(vec![
        ("BUCKET_NAME", bucket.name.clone()),
        ("DATABASE_URL", cluster.url("127.0.0.1")),
        ("AWS_ENDPOINT_URL_S3", s3.url()),
    ]))
    .unwrap();
    let load_app = load::App::new(load_config, &bucket.sdk).await.unwrap();

    // The day's schedule: windows of slots for the outages, a die roll per slot for the rest.
    let unauthorized = 60..66; // a revoked key, until someone fixes the secret
                               // Starts the slot after a write, so the notification delivered during the outage
                               // meets an unreachable S3 on the load side too (S3ReadFailed), not only on ingest's.
    let s3_down = 121..124;
    let postgres_down = 150..160; // loads attempted while these slots are ingested fail
    let first = DateTime::parse_from_rfc3339("2024-06-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);

    let mut written: BTreeMap<String, i64> = BTreeMap::new(); // key -> slot
    let mut ingest_dead_letters: Vec<(i64, String)> = Vec::new();
    let mut load_dead_letters: Vec<(String, String)> = Vec::new();
    let mut notifications: VecDeque<(String, u32)> = VecDeque::new();
    let mut tallies: BTreeMap<&'static str, Tally> = BTreeMap::new();
    // key -> rows inserted by each successful load of it
    let mut inserts_per_key: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut ingest_retries = 0;
    let mut scripted_429s = 0u64;
    let mut load_retries = 0;
    let mut load_invocations = 0;

    for slot in 0..SLOTS {
        let at = first + TimeDelta::minutes(5 * slot);
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
        if slot == s3_down.start {
            s3.go_down();
        }
        if slot == s3_down.end {
            s3.come_back();
        }
        if slot == postgres_down.start {
            cluster.stop();
            *faults.entry(Fault::PostgresDown).or_default() += 1;
        }
        if slot == postgres_down.end {
            cluster.start_again();
        }
        if let Some(fault) = slot_fault {
            *faults.entry(fault).or_default() += 1;
        }
        let label = slot_fault.map_or(NO_FAULT, Fault::label);
        let requests_before = *stand_in.requests.lock().unwrap();

        // ingest, with Lambda's asynchronous retries; slot-wide faults outlast them
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
                            script.push_back(ok(json!({}), 1).set_delay(Duration::from_secs(5)));
                        }
                    }
                    Some(Fault::Unauthorized) => {
                        script.push_back(error(401, 1001, "This API Key is invalid."))
                    }
                    Some(Fault::MalformedBody) => script.push_back(
                        ResponseTemplate::new(200)
                            .set_body_string("{\"status\": {\"error_code\": 0}, \"data\": {\"1\""),
                    ),
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
                    tallies.entry(label).or_default().written_first_try += u64::from(attempt == 0);
                    break;
                }
                Err(e) => {
                    let kind = Diagnostic::from(e).error_type;
                    *tallies
                        .entry(label)
                        .or_default()
                        .ingest_errors
                        .entry(kind.clone())
                        .or_default() += 1;
                    outcome = Err(kind);
                }
            }
        }
        {
            let tally = tallies.entry(label).or_default();
            tally.slots += 1;
            tally.cmc_requests += *stand_in.requests.lock().unwrap() - requests_before;
            if let Err(kind) = &outcome {
                *tally.ingest_dead.entry(kind.clone()).or_default() += 1;
            }
        }
        match outcome {
            Ok(key) => {
                written.insert(key.clone(), slot);
                notifications.push_back((key.clone(), 0));
                if rng.below(100) < 10 {
                    *faults.entry(Fault::DuplicateNotification).or_default() += 1;
                    notifications.push_back((key, 0));
                }
            }
            Err(reason) => ingest_dead_letters.push((slot, reason)),
        }

        // S3 delivers notifications late and out of order: every third slot, a shuffled batch
        if slot % 3 == 2 || slot == SLOTS - 1 {
            let mut batch: Vec<_> = notifications.drain(..).collect();
            for i in (1..batch.len()).rev() {
                batch.swap(i, rng.below(i as u64 + 1) as usize);
            }
            // Loads are tallied under the outage they ran in, if any.
            let load_label = if postgres_down.contains(&slot) {
                Fault::PostgresDown.label()
            } else if s3_down.contains(&slot) {
                Fault::S3Down.label()
            } else {
                NO_FAULT
            };
            for (key, attempt) in batch {
                load_invocations += 1;
                tallies.entry(load_label).or_default().loads += 1;
                let event = invocation(s3_event(&bucket.name, &key), Duration::from_secs(60));
                let result = load::handle(&load_app, event).await;
                if let Ok(response) = &result {
                    let response = serde_json::to_value(response).unwrap();
                    let inserted = response["results"][0]["inserted"].as_u64().unwrap();
                    inserts_per_key
                        .entry(key.clone())
                        .or_default()
                        .push(inserted);
                }
                if let Err(e) = result {
                    let diagnostic = Diagnostic::from(e);
                    *tallies
                        .entry(load_label)
                        .or_default()
                        .load_errors
                        .entry(diagnostic.error_type.clone())
                        .or_default() += 1;
                    if attempt + 1 < LAMBDA_ATTEMPTS {
                        load_retries += 1;
                        notifications.push_back((key, attempt + 1));
                    } else {
                        load_dead_letters.push((key, diagnostic.error_type));
                    }
                }
            }
        }
    }
    s3.come_back();

    // The operator's recovery: replay the day.
    let replay = invocation(
        json!({ "replay": { "dataset": "quotes", "from": "2024-06-01", "to": "2024-06-01" } }),
        Duration::from_secs(600),
    );
    let summary = serde_json::to_value(
        load::handle(&load_app, replay)
            .await
            .expect("the replay succeeds"),
    )
    .unwrap();

    // Every answered slot has exactly one object, and nothing else was written.
    let keys: BTreeSet<String> = bucket.keys().await.into_iter().collect();
    assert_eq!(
        keys,
        written.keys().cloned().collect::<BTreeSet<_>>(),
        "objects are exactly the answered slots"
    );
    // Every failed slot is in the dead-letter path with its reason, and only those.
    let failed_slots: BTreeSet<i64> = ingest_dead_letters.iter().map(|(slot, _)| *slot).collect();
    assert_eq!(
        failed_slots.len() + written.len(),
        SLOTS as usize,
        "each slot either wrote or went to the dead letters"
    );
    for (slot, reason) in &ingest_dead_letters {
        assert!(!reason.is_empty(), "slot {slot} failed without a reason");
    }
    // Every row of every object is in PostgreSQL exactly once.
    let mut expected = BTreeSet::new();
    for key in &keys {
        let text = bucket.get(key).await.text();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split(',').collect();
            expected.insert(format!("{}|{}|{}", fields[1], fields[21], fields[7]));
        }
    }
    let client = cluster.admin().await;
    let stored: Vec<String> = client
        .query("SELECT format('%s|%s|%s', cmc_id, to_char(last_updated AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'), price) FROM quotes", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let stored_set: BTreeSet<String> = stored.iter().cloned().collect();
    let duplicates = stored.len() - stored_set.len();
    let lost = expected.difference(&stored_set).count();
    let extra = stored_set.difference(&expected).count();
    assert_eq!(
        (duplicates, lost, extra),
        (0, 0, 0),
        "duplicates, lost, extra rows"
    );
    // Every failed load left a trace: a dead letter, or a failed run in ingest_runs.
    let recorded_failures: i64 = client
        .query_one(
            "SELECT count(*) FROM ingest_runs WHERE status <> 'loaded'",
            &[],
        )
        .await
        .unwrap()
        .get(0);

    let mut figures = format!(
        "chaos day (seed {SEED:#x}): {SLOTS} slots, {} written, {} dead-lettered ({}); faults injected: {faults:?}; \
         CMC requests {}; ingest retries {ingest_retries}; load invocations {load_invocations}, retries {load_retries}, \
         dead-lettered {}; failed loads recorded in ingest_runs {recorded_failures}; replay: {} files, {} rows inserted, {} already present; \
         rows in objects {}, rows in PostgreSQL {}, duplicates {duplicates}, lost {lost}",
        written.len(),
        ingest_dead_letters.len(),
        ingest_dead_letters.iter().map(|(_, r)| r.as_str()).collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>().join(", "),
        *stand_in.requests.lock().unwrap(),
        load_dead_letters.len(),
        summary["total"]["files"],
        summary["total"]["inserted"],
        summary["total"]["already_present"],
        expected.len(),
        stored.len(),
    );
    figures.push('\n');
    print!("{figures}");

    // Each fault's effect, per kind of slot: the table docs/faults.md quotes.
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
            t.cmc_requests,
            counts(&t.ingest_errors),
            counts(&t.ingest_dead),
            t.loads,
            counts(&t.load_errors)
        ));
    }
    print!("{table}");

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
            t.ingest_errors,
            kinds(&[(kind, attempts * n(fault))]),
            "{}",
            fault.label()
        );
        assert_eq!(
            t.ingest_dead,
            kinds(&[(kind, n(fault))]),
            "{}",
            fault.label()
        );
        assert_eq!(t.written_first_try, 0, "{}", fault.label());
    }
    // A revoked key is never retried in-process: one request per invocation. While S3 is
    // down CMC still answers, once per invocation.
    for fault in [Fault::Unauthorized, Fault::S3Down] {
        assert_eq!(
            tallies[fault.label()].cmc_requests,
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
            (t.written_first_try, &t.ingest_errors, t.cmc_requests),
            (n(fault), &BTreeMap::new(), n(fault) + extra),
            "{}",
            fault.label()
        );
    }
    let calm = &tallies[NO_FAULT];
    assert_eq!(
        (
            calm.written_first_try,
            calm.cmc_requests,
            &calm.ingest_errors
        ),
        (calm.slots, calm.slots, &BTreeMap::new()),
        "slots without a fault"
    );
    // Loads fail exactly while an outage lasts, each with the outage's own error, and
    // never otherwise.
    for (fault, kind) in [
        (Fault::S3Down, "S3ReadFailed"),
        (Fault::PostgresDown, "DatabaseFailed"),
    ] {
        let t = &tallies[fault.label()];
        assert!(
            t.loads > 0,
            "{}: no load ran during the outage",
            fault.label()
        );
        assert_eq!(
            t.load_errors,
            kinds(&[(kind, t.loads)]),
            "{}",
            fault.label()
        );
    }
    assert_eq!(
        calm.load_errors,
        BTreeMap::new(),
        "loads outside the outages"
    );
    assert!(
        load_dead_letters
            .iter()
            .all(|(_, kind)| kind == "DatabaseFailed"),
        "only the database outage outlasts Lambda's retries: {load_dead_letters:?}"
    );
    // Each object was stored by exactly one successful load (3 rows), every other load of
    // it (duplicates, retries) inserted nothing; the dead-lettered ones by the replay.
    let dead_keys: BTreeSet<&String> = load_dead_letters.iter().map(|(key, _)| key).collect();
    for key in written.keys() {
        let inserts = inserts_per_key.get(key).cloned().unwrap_or_default();
        let storing = inserts.iter().filter(|&&n| n == 3).count();
        assert!(
            inserts.iter().all(|&n| n == 0 || n == 3),
            "{key}: {inserts:?}"
        );
        assert_eq!(
            storing + usize::from(dead_keys.contains(key) && storing == 0),
            1,
            "{key} stored once: loads inserted {inserts:?}, dead-lettered {}",
            dead_keys.contains(key)
        );
    }
    assert!(
        faults.len() >= 6,
        "every kind of fault was exercised: {faults:?}"
    );
    // What the replay inserted is exactly what the dead-lettered loads held (3 coins each).
    assert_eq!(
        summary["total"]["inserted"].as_u64(),
        Some(3 * load_dead_letters.len() as u64)
    );
    assert!(
        !load_dead_letters.is_empty() || load_retries > 0,
        "the database outage was felt by loads"
    );
}
