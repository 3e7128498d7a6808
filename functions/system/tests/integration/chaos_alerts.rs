//! The alerts side of the day under faults (`chaos_day.rs`): the rules in the database
//! before the day starts, what the handlers reported delivering, a model of the stale check
//! built from what the test knows was stored when, and the checks of the outbox against the
//! topic and against the stored series.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use testkit::sns::Published;
use tokio_postgres::Client;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Series {
    Cmc(i32),
    Pair(&'static str),
    /// A whole source, for `stale`.
    Source(&'static str),
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub id: i64,
    pub label: &'static str,
    pub series: Series,
    pub kind: &'static str,
    pub threshold: f64,
    pub window_minutes: i64,
    pub hysteresis: f64,
}

impl Rule {
    fn source(&self) -> &'static str {
        match self.series {
            Series::Cmc(_) => "cmc",
            Series::Pair(_) => "binance",
            Series::Source(source) => source,
        }
    }

    /// The condition that fires an armed rule, on a price or (change_pct) a change.
    fn crossed(&self, value: f64) -> bool {
        match self.kind {
            "price_above" => value >= self.threshold,
            "price_below" => value <= self.threshold,
            _ if self.threshold > 0.0 => value >= self.threshold,
            _ => value <= self.threshold,
        }
    }

    /// The condition, false by the hysteresis, that re-arms a disarmed rule.
    fn rearmed(&self, value: f64) -> bool {
        let h = self.hysteresis;
        match self.kind {
            "price_above" => value < self.threshold * (1.0 - h / 100.0),
            "price_below" => value > self.threshold * (1.0 + h / 100.0),
            _ if self.threshold > 0.0 => value < self.threshold - h,
            _ => value > self.threshold + h,
        }
    }
}

/// The data is stale after this long without a new observation: longer than the delivery
/// lag plus a dead-lettered slot or two (15 to 20 minutes), shorter than the revoked-key
/// window's silence (up to 40 minutes) and the database outage's (55).
pub const STALE_AFTER_MINUTES: i64 = 25;

/// The day's rules, inserted before the first slot with `evaluate_from` = the day's start.
/// No cooldown: every crossing is sent, so each one can be counted. The price paths they
/// watch: BTC (CMC) rises 0.25 a slot and crosses once; SOL (CMC) runs a triangle of two
/// hours between 160 and 166; each Binance pair's close is 67,000.55 plus the minute of the
/// hour, a saw-tooth that crosses up and down every hour.
pub async fn create_rules(client: &Client, day_start: DateTime<Utc>) -> Vec<Rule> {
    let mut rules = vec![
        rule(
            "BTC above 67,030",
            Series::Cmc(1),
            "price_above",
            67030.0,
            0,
            0.0,
        ),
        rule(
            "SOL below 160.5",
            Series::Cmc(5426),
            "price_below",
            160.5,
            0,
            1.0,
        ),
        rule(
            "SOL up 1.5 % in 30 min",
            Series::Cmc(5426),
            "change_pct",
            1.5,
            30,
            0.5,
        ),
        rule(
            "BTCUSDT above 67,040",
            Series::Pair("BTCUSDT"),
            "price_above",
            67040.0,
            0,
            0.03,
        ),
        rule(
            "ETHUSDT below 67,010",
            Series::Pair("ETHUSDT"),
            "price_below",
            67010.0,
            0,
            0.02,
        ),
        rule(
            "CMC stale",
            Series::Source("cmc"),
            "stale",
            0.0,
            STALE_AFTER_MINUTES,
            0.0,
        ),
        rule(
            "Binance stale",
            Series::Source("binance"),
            "stale",
            0.0,
            STALE_AFTER_MINUTES,
            0.0,
        ),
    ];
    for rule in &mut rules {
        let (cmc_id, quote, pair) = match rule.series {
            Series::Cmc(id) => (Some(id), Some("USD"), None),
            Series::Pair(pair) => (None, None, Some(pair)),
            Series::Source(_) => (None, None, None),
        };
        let threshold = (rule.kind != "stale").then(|| rule.threshold.to_string());
        let window = (rule.window_minutes > 0).then_some(rule.window_minutes as i32);
        rule.id = client
            .query_one(
                "INSERT INTO alert_rules (label, source, cmc_id, quote_currency, pair, kind, \
                 threshold, window_minutes, hysteresis, cooldown_minutes, evaluate_from) \
                 VALUES ($1, $2, $3, $4, $5, $6, CAST($7 AS text)::numeric, $8, \
                 CAST($9 AS text)::numeric, 0, $10) RETURNING id",
                &[
                    &rule.label,
                    &rule.source(),
                    &cmc_id,
                    &quote,
                    &pair,
                    &rule.kind,
                    &threshold,
                    &window,
                    &rule.hysteresis.to_string(),
                    &day_start,
                ],
            )
            .await
            .expect("insert an alert rule")
            .get(0);
    }
    rules
}

fn rule(
    label: &'static str,
    series: Series,
    kind: &'static str,
    threshold: f64,
    window_minutes: i64,
    hysteresis: f64,
) -> Rule {
    Rule {
        id: 0,
        label,
        series,
        kind,
        threshold,
        window_minutes,
        hysteresis,
    }
}

/// What the handlers reported of their deliveries: after each load that stored something,
/// and from each scheduled alerts event.
#[derive(Default, Debug)]
pub struct Deliveries {
    pub delivered: BTreeMap<i64, u64>,
    /// Publishes that failed (each left the event unsent for a later delivery).
    pub failed_publishes: u64,
    /// Deliveries that could not run at all (the database unreachable).
    pub delivery_errors: u64,
}

impl Deliveries {
    /// Counts a `Delivery` as a response serialises it (`delivered`, `failed`), or a
    /// `delivery_error`; nothing when the response has none.
    pub fn count(&mut self, delivery: &Value) {
        if delivery.get("delivery_error").is_some() {
            self.delivery_errors += 1;
        }
        for id in delivery["delivered"].as_array().into_iter().flatten() {
            *self
                .delivered
                .entry(id.as_i64().expect("an event id"))
                .or_default() += 1;
        }
        self.failed_publishes += delivery["failed"].as_array().map_or(0, Vec::len) as u64;
    }
}

/// The stale check as the design states it, run on the newest observation the test knows
/// was stored at each check: the events it must have fired, by check time.
pub struct StaleModel {
    window: TimeDelta,
    evaluate_from: DateTime<Utc>,
    armed: bool,
    pub fired: Vec<DateTime<Utc>>,
}

impl StaleModel {
    pub fn new(evaluate_from: DateTime<Utc>) -> StaleModel {
        StaleModel {
            window: TimeDelta::minutes(STALE_AFTER_MINUTES),
            evaluate_from,
            armed: true,
            fired: Vec::new(),
        }
    }

    pub fn check(&mut self, at: DateTime<Utc>, newest: Option<DateTime<Utc>>) {
        let stale = at - newest.unwrap_or(self.evaluate_from) > self.window;
        if self.armed && stale {
            self.armed = false;
            self.fired.push(at);
        } else if !self.armed && !stale {
            self.armed = true;
        }
    }
}

/// One `alert_events` row.
#[derive(Debug)]
pub struct Event {
    pub id: i64,
    pub rule_id: Option<i64>,
    pub kind: String,
    pub audience: String,
    pub source: Option<String>,
    pub asset: Option<String>,
    pub quote_currency: Option<String>,
    pub observed_at: DateTime<Utc>,
    pub value: Option<f64>,
    pub sent: bool,
    pub message_id: Option<String>,
    pub delivery_attempts: i32,
}

pub async fn events(client: &Client) -> Vec<Event> {
    client
        .query(
            "SELECT id, rule_id, kind, audience, source, coalesce(CAST(cmc_id AS text), pair), \
             quote_currency, observed_at, CAST(value AS float8), sent_at IS NOT NULL, message_id, \
             delivery_attempts FROM alert_events ORDER BY id",
            &[],
        )
        .await
        .expect("read alert_events")
        .iter()
        .map(|row| Event {
            id: row.get(0),
            rule_id: row.get(1),
            kind: row.get(2),
            audience: row.get(3),
            source: row.get(4),
            asset: row.get(5),
            quote_currency: row.get(6),
            observed_at: row.get(7),
            value: row.get(8),
            sent: row.get(9),
            message_id: row.get(10),
            delivery_attempts: row.get(11),
        })
        .collect()
}

/// A rule's stored series: (observation time, price), in time order, as evaluation reads it.
async fn stored_series(client: &Client, series: Series) -> Vec<(DateTime<Utc>, f64)> {
    let rows = match series {
        Series::Cmc(id) => {
            client
                .query(
                    "SELECT DISTINCT ON (last_updated) last_updated, CAST(price AS float8) \
                     FROM quotes WHERE cmc_id = $1 AND quote_currency = 'USD' \
                     ORDER BY last_updated",
                    &[&i64::from(id)],
                )
                .await
        }
        Series::Pair(pair) => {
            client
                .query(
                    "SELECT close_time, CAST(close AS float8) FROM klines_1m \
                     WHERE symbol = $1 ORDER BY open_time",
                    &[&pair],
                )
                .await
        }
        Series::Source(_) => return Vec::new(),
    };
    rows.expect("read a stored series")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

/// How much older than its time minus the window a `change_pct` reference may be (V10).
const REFERENCE_SLACK: TimeDelta = TimeDelta::minutes(10);

/// The change in percent at `index` against the latest stored price at or before its time
/// minus the window, as evaluation measures it; `None` without such a price, or with one
/// across a gap (older than the window by more than [`REFERENCE_SLACK`]).
fn change_at(series: &[(DateTime<Utc>, f64)], index: usize, window: TimeDelta) -> Option<f64> {
    let (at, price) = series[index];
    let (when, reference) = *series[..=index]
        .iter()
        .rev()
        .find(|(t, _)| *t <= at - window)?;
    if when < at - window - REFERENCE_SLACK {
        return None;
    }
    Some((price - reference) / reference * 100.0)
}

/// Every price or change event of `rule` is a real crossing of the stored series: the
/// condition true at its observation with the value the event names, at or after the
/// day's start, and between two events of the rule the condition went false by the
/// hysteresis at some stored observation. Returns the crossings the whole stored day has,
/// evaluated in time order: the most the rule can have fired (a crossing whose
/// observations all reached the database after a later one had been evaluated is late).
pub async fn assert_crossings(
    client: &Client,
    rule: &Rule,
    events: &[&Event],
    day_start: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let series = stored_series(client, rule.series).await;
    let window = TimeDelta::minutes(rule.window_minutes);
    let value_at = |index: usize| -> Option<f64> {
        if rule.kind == "change_pct" {
            change_at(&series, index, window)
        } else {
            Some(series[index].1)
        }
    };
    let mut previous: Option<usize> = None;
    for event in events {
        let index = series
            .iter()
            .position(|(t, _)| *t == event.observed_at)
            .unwrap_or_else(|| {
                panic!(
                    "{}: event {} at an observation not stored",
                    rule.label, event.id
                )
            });
        let value = event.value.expect("a market event has a value");
        assert!(event.observed_at >= day_start, "{}: {event:?}", rule.label);
        assert!(
            rule.crossed(value),
            "{}: event {event:?} did not cross",
            rule.label
        );
        if rule.kind == "change_pct" {
            // Measured against the latest price stored at or before now − window when the
            // load ran: the final series' one, or an earlier one if that slot's load came
            // later (loads run late and out of order).
            let (at, price) = series[index];
            let matches = series[..index]
                .iter()
                .filter(|(t, _)| *t <= at - window)
                .any(|(_, reference)| near((price - reference) / reference * 100.0, value));
            assert!(
                matches,
                "{}: event {} names a change {value} no stored reference gives",
                rule.label, event.id
            );
        } else {
            assert!(
                near(series[index].1, value),
                "{}: event {} names {value}, the stored price is {}",
                rule.label,
                event.id,
                series[index].1
            );
        }
        if let Some(before) = previous {
            assert!(before < index, "{}: events out of time order", rule.label);
            let rearmed = (before + 1..index).any(|i| value_at(i).is_some_and(|v| rule.rearmed(v)));
            assert!(
                rearmed,
                "{}: event {} fired again without the condition going false by the hysteresis since {}",
                rule.label, event.id, series[before].0
            );
        }
        previous = Some(index);
    }
    let mut armed = true;
    let mut crossings = Vec::new();
    for (index, (at, _)) in series.iter().enumerate() {
        let Some(value) = value_at(index).filter(|_| *at >= day_start) else {
            continue;
        };
        if armed && rule.crossed(value) {
            armed = false;
            crossings.push(*at);
        } else if !armed && rule.rearmed(value) {
            armed = true;
        }
    }
    assert!(
        events.len() <= crossings.len(),
        "{}: {} events, the stored day has {} crossings",
        rule.label,
        events.len(),
        crossings.len()
    );
    crossings
}

/// Each message the topic received is one event: every `event_id` once, every row
/// published, with the row's attributes and SNS's message id recorded on the row.
pub fn assert_published_once(events: &[Event], published: &[Published]) {
    let mut seen = BTreeSet::new();
    for message in published {
        let id: i64 = message.attributes["event_id"]
            .parse()
            .expect("event_id is a number");
        assert!(seen.insert(id), "event {id} published twice");
        let event = events
            .iter()
            .find(|e| e.id == id)
            .unwrap_or_else(|| panic!("a message for event {id}, which is not in the outbox"));
        let mut expected = BTreeMap::new();
        expected.insert("audience".to_owned(), event.audience.clone());
        expected.insert("kind".to_owned(), event.kind.clone());
        expected.insert("event_id".to_owned(), id.to_string());
        for (name, value) in [
            ("source", &event.source),
            ("asset", &event.asset),
            ("quote_currency", &event.quote_currency),
            ("rule_id", &event.rule_id.map(|r| r.to_string())),
        ] {
            if let Some(value) = value {
                expected.insert(name.to_owned(), value.clone());
            }
        }
        assert_eq!(message.attributes, expected, "event {id}'s attributes");
        assert_eq!(
            event.message_id.as_deref(),
            Some(message.message_id.as_str()),
            "event {id} records SNS's message id"
        );
    }
    let unsent: Vec<i64> = events.iter().filter(|e| !e.sent).map(|e| e.id).collect();
    assert!(unsent.is_empty(), "events never delivered: {unsent:?}");
    assert_eq!(
        seen,
        events.iter().map(|e| e.id).collect(),
        "messages at the topic are exactly the outbox's rows"
    );
}
