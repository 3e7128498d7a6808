//! Any JSON payload as the event of each Lambda: the slot trigger `ingest` and `klines`
//! share, `load`'s and `compact`'s event parsers, then the pure steps each handler takes
//! next (the slot and its object key for `ingest`, recognising snapshot keys for `load` and
//! `compact`).
//!
//! Properties checked (a panic is a finding): nothing panics; a slot `ingest` accepts lies
//! in the years Athena's projection reads, and the object key it writes for that slot is a
//! key `load` recognises, for that slot.

#![no_main]

use chrono::{DateTime, Datelike, TimeZone, Utc};
use coinlake::layout::{object_key, parse_object_key, Dataset};
use coinlake::slot::SLOT_YEARS;
use compact::event::CompactEvent;
use slot_trigger::Trigger;
use libfuzzer_sys::fuzz_target;
use load::event::LoadEvent;
use serde_json::Value;

fuzz_target!(|data: &[u8]| run(data));

fn run(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    // Also exercised by the error paths: every Display must format.
    match Trigger::parse(&value) {
        Ok(trigger) => {
            let now: DateTime<Utc> = Utc.with_ymd_and_hms(2024, 6, 1, 12, 37, 10).unwrap();
            match trigger.slot(now) {
                Ok(slot) => {
                    assert!(
                        SLOT_YEARS.contains(&slot.start().year()),
                        "ingest accepted {slot}, a slot Athena's projection never reads"
                    );
                    let _ = slot.to_string();
                    let key = object_key(Dataset::Quotes, slot);
                    assert_eq!(
                        parse_object_key(&key),
                        Some((Dataset::Quotes, slot)),
                        "load does not recognise the key ingest writes for {trigger:?}: {key}"
                    );
                }
                Err(error) => {
                    let _ = error.to_string();
                }
            }
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
    match LoadEvent::parse(&value) {
        Ok(LoadEvent::Objects(objects)) => {
            for object in objects {
                let _ = parse_object_key(&object.key);
            }
        }
        Ok(LoadEvent::Replay { from, to, .. }) => {
            // What `Loader::replay` computes first.
            let _ = (to - from).num_days();
        }
        Ok(LoadEvent::Maintain { today }) => {
            // What maintenance computes first: the retention cutoff, at the longest setting.
            let _ = today.and_then(|d| d.checked_sub_days(chrono::Days::new(36_500)));
        }
        Ok(LoadEvent::Alerts { at }) => {
            // What the stale check sends PostgreSQL: the time as RFC 3339 text.
            let _ = at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
    match CompactEvent::parse(&value) {
        Ok(CompactEvent::Daily { time }) => {
            // The day the handler compacts.
            let _ = time.map(|t| t.date_naive().pred_opt());
        }
        Ok(CompactEvent::Range { from, to, .. }) => {
            let _ = (to - from).num_days();
        }
        Ok(CompactEvent::ObjectCreated { key, .. }) => {
            let _ = parse_object_key(&key);
        }
        Ok(CompactEvent::OtherS3Event { .. }) => {}
        Err(error) => {
            let _ = error.to_string();
        }
    }
}
