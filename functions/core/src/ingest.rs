//! One ingest run: fetch every quote currency from CMC, normalize, encode one CSV, and
//! write it at the slot's key. Either the whole snapshot is written or nothing is.

use crate::alerts::credit_notice;
use crate::cmc::{CmcClient, CmcError, Selection, SymbolResolver};
use crate::csv_codec::{encode_quotes, EncodeError};
use crate::layout::{object_key, Dataset};
use crate::normalize::{normalize, Skipped};
use crate::slot::Slot;
use crate::store::{put_before, ObjectMeta, ObjectStore, StoreError};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Time kept back from CMC calls for encoding and the S3 write, so a slow API fails the run
/// with a clear "out of time" instead of Lambda killing it mid-write.
pub const WRITE_RESERVE: Duration = Duration::from_millis(1500);

/// What a run did, returned by the Lambda and logged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IngestSummary {
    pub slot: Slot,
    pub bucket: String,
    pub key: String,
    pub rows: usize,
    pub skipped: usize,
    pub skipped_coins: Vec<Skipped>,
    pub quote_currencies: Vec<String>,
    pub calls: u32,
    pub credits: i64,
    /// Time spent fetching from CoinMarketCap (every call and retry), in milliseconds.
    pub fetch_ms: u64,
    /// Time spent encoding the snapshot and writing it to S3, in milliseconds.
    pub write_ms: u64,
    /// CoinMarketCap's credit notice as written to the object's `cmc-notice` metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmc_notice: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("slot {slot}: fetching {currency} quotes failed: {source}")]
    Cmc {
        slot: Slot,
        currency: String,
        source: CmcError,
    },
    #[error("slot {slot}: CoinMarketCap returned no usable {currency} quote ({skipped} coins skipped{detail}); nothing was written")]
    NoRows {
        slot: Slot,
        currency: String,
        skipped: usize,
        detail: String,
    },
    #[error("slot {slot}: {source}")]
    Encode { slot: Slot, source: EncodeError },
    #[error("slot {slot}: {source}")]
    Store { slot: Slot, source: StoreError },
}

impl IngestError {
    /// A stable name for the error's class, used as the Lambda error type.
    pub fn kind(&self) -> &'static str {
        match self {
            IngestError::Cmc { source, .. } => source.kind(),
            IngestError::NoRows { .. } => "NoUsableQuotes",
            IngestError::Encode { .. } => "CsvEncodeFailed",
            IngestError::Store { .. } => "S3WriteFailed",
        }
    }
}

pub struct Ingest<S> {
    cmc: CmcClient,
    store: S,
    selection: Selection,
    converts: Vec<String>,
    resolver: SymbolResolver,
}

impl<S: ObjectStore> Ingest<S> {
    pub fn new(cmc: CmcClient, store: S, selection: Selection, converts: Vec<String>) -> Ingest<S> {
        Ingest {
            cmc,
            store,
            selection,
            converts,
            resolver: SymbolResolver::default(),
        }
    }

    /// Runs the slot's ingest, finishing (or failing) before `deadline`.
    pub async fn run(&self, slot: Slot, deadline: Instant) -> Result<IngestSummary, IngestError> {
        let fetch_deadline = deadline
            .checked_sub(WRITE_RESERVE)
            .unwrap_or_else(Instant::now);
        let ingested_at = now_millis();
        let fetch_started = Instant::now();
        let mut rows = Vec::new();
        let mut skipped_coins = Vec::new();
        let (mut calls, mut credits) = (0, 0);
        let mut notices: Vec<String> = Vec::new();
        for currency in &self.converts {
            let fetched = self
                .cmc
                .fetch(&self.selection, &self.resolver, currency, fetch_deadline)
                .await
                .map_err(|source| IngestError::Cmc {
                    slot,
                    currency: currency.clone(),
                    source,
                })?;
            calls += fetched.calls;
            credits += fetched.credits;
            for notice in &fetched.notices {
                if !notices.contains(notice) {
                    notices.push(notice.clone());
                }
            }
            let normalized = normalize(&fetched, currency, slot, ingested_at);
            for skip in &normalized.skipped {
                tracing::warn!(%slot, coin = skip.coin, quote_currency = skip.quote_currency, reason = skip.reason, "coin skipped");
            }
            if normalized.rows.is_empty() {
                let detail = normalized
                    .skipped
                    .first()
                    .map(|s| format!("; first: {}: {}", s.coin, s.reason))
                    .unwrap_or_default();
                return Err(IngestError::NoRows {
                    slot,
                    currency: currency.clone(),
                    skipped: normalized.skipped.len(),
                    detail,
                });
            }
            rows.extend(normalized.rows);
            skipped_coins.extend(normalized.skipped);
        }

        let fetch_ms = fetch_started.elapsed().as_millis() as u64;
        let write_started = Instant::now();
        let body = encode_quotes(&rows).map_err(|source| IngestError::Encode { slot, source })?;
        let key = object_key(Dataset::Quotes, slot);
        let mut metadata = vec![
            ("slot".to_owned(), slot.to_string()),
            ("rows".to_owned(), rows.len().to_string()),
            ("skipped".to_owned(), skipped_coins.len().to_string()),
            ("credits".to_owned(), credits.to_string()),
            ("quote-currencies".to_owned(), self.converts.join(",")),
        ];
        // CMC's credit warning, for load to raise an operator alert from.
        let notice = credit_notice::metadata_value(&notices.join(" | "));
        if let Some(notice) = &notice {
            tracing::warn!(%slot, notice, "CoinMarketCap sent a credit notice");
            metadata.push((credit_notice::METADATA_KEY.to_owned(), notice.clone()));
        }
        let meta = ObjectMeta {
            content_type: "text/csv; charset=utf-8",
            metadata,
        };
        put_before(&self.store, &key, body, meta, deadline)
            .await
            .map_err(|source| IngestError::Store { slot, source })?;

        let summary = IngestSummary {
            slot,
            bucket: self.store.bucket().to_owned(),
            key,
            rows: rows.len(),
            skipped: skipped_coins.len(),
            skipped_coins,
            quote_currencies: self.converts.clone(),
            calls,
            credits,
            fetch_ms,
            write_ms: write_started.elapsed().as_millis() as u64,
            cmc_notice: notice,
        };
        tracing::info!(
            %slot,
            key = summary.key,
            rows = summary.rows,
            skipped = summary.skipped,
            calls,
            credits,
            "snapshot written"
        );
        Ok(summary)
    }
}

/// Millisecond precision: the CSV carries milliseconds, so what is written is what is read.
fn now_millis() -> DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(TimeDelta::milliseconds(1))
        .unwrap_or(now)
}
