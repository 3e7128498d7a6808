//! One klines run: the five closed minutes of a slot for every configured pair, fetched
//! from Binance, written as one CSV object at the slot's key. Either every pair's answer
//! is in hand and the object is written, or nothing is.

use crate::binance::{closed_minutes, gaps, BinanceClient, BinanceError, Kline, SequenceError};
use crate::csv_codec::EncodeError;
use crate::ingest::WRITE_RESERVE;
use crate::kline_csv::encode_klines;
use crate::layout::{object_key, Dataset};
use crate::slot::Slot;
use crate::store::{put_before, ObjectMeta, ObjectStore, StoreError};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use std::time::Instant;

/// Pairs asked at once: one klines call weighs 2 of the IP's 6000 per minute, so this
/// bounds the run's time, not its weight.
pub const PAIRS_IN_PARALLEL: usize = 4;

/// What a run did, returned by the Lambda and logged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KlinesSummary {
    pub slot: Slot,
    pub bucket: String,
    /// The slot's key, written or not.
    pub key: String,
    /// The pairs asked for, in configured order.
    pub pairs: Vec<String>,
    pub rows: usize,
    pub skipped: Vec<SkippedPair>,
    pub gaps: Vec<KlineGap>,
    /// False when no pair returned a kline: then no object was written.
    pub written: bool,
}

/// A pair left out of the object, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedPair {
    pub symbol: String,
    pub reason: String,
}

/// Minutes of the slot a pair has no kline for, `[from, to)`; reported, never padded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KlineGap {
    pub symbol: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum KlinesRunError {
    #[error("slot {slot}: fetching {symbol} klines failed: {source}; nothing was written")]
    Binance {
        slot: Slot,
        symbol: String,
        source: BinanceError,
    },
    #[error("slot {slot}: Binance sent {symbol} klines that cannot be used: {source}; nothing was written")]
    Sequence {
        slot: Slot,
        symbol: String,
        source: SequenceError,
    },
    #[error("slot {slot}: {source}")]
    Encode { slot: Slot, source: EncodeError },
    #[error("slot {slot}: {source}")]
    Store { slot: Slot, source: StoreError },
}

impl KlinesRunError {
    /// A stable name for the error's class, used as the Lambda error type.
    pub fn kind(&self) -> &'static str {
        match self {
            KlinesRunError::Binance { source, .. } => source.kind(),
            KlinesRunError::Sequence { .. } => "BinanceMalformedResponse",
            KlinesRunError::Encode { .. } => "CsvEncodeFailed",
            KlinesRunError::Store { .. } => "S3WriteFailed",
        }
    }
}

/// One pair's part of the run.
enum PairOutcome {
    Fetched {
        klines: Vec<Kline>,
        gaps: Vec<KlineGap>,
    },
    Skipped(SkippedPair),
}

pub struct KlinesRun<S> {
    binance: BinanceClient,
    store: S,
    pairs: Vec<String>,
}

impl<S: ObjectStore> KlinesRun<S> {
    pub fn new(binance: BinanceClient, store: S, pairs: Vec<String>) -> KlinesRun<S> {
        KlinesRun {
            binance,
            store,
            pairs,
        }
    }

    pub fn pairs(&self) -> &[String] {
        &self.pairs
    }

    /// Runs the slot, finishing (or failing) before `deadline`.
    pub async fn run(
        &self,
        slot: Slot,
        deadline: Instant,
    ) -> Result<KlinesSummary, KlinesRunError> {
        let fetch_deadline = deadline
            .checked_sub(WRITE_RESERVE)
            .unwrap_or_else(Instant::now);
        // `buffered` keeps the configured order and stops at the first error in it.
        let outcomes: Vec<PairOutcome> = futures::stream::iter(&self.pairs)
            .map(|symbol| self.fetch_pair(slot, symbol, fetch_deadline))
            .buffered(PAIRS_IN_PARALLEL)
            .try_collect()
            .await?;

        let mut klines = Vec::new();
        let mut skipped = Vec::new();
        let mut all_gaps = Vec::new();
        for outcome in outcomes {
            match outcome {
                PairOutcome::Fetched { klines: got, gaps } => {
                    klines.extend(got);
                    all_gaps.extend(gaps);
                }
                PairOutcome::Skipped(skip) => skipped.push(skip),
            }
        }
        klines.sort_by(|a, b| (&a.symbol, a.open_time).cmp(&(&b.symbol, b.open_time)));

        let key = object_key(Dataset::Klines, slot);
        let mut summary = KlinesSummary {
            slot,
            bucket: self.store.bucket().to_owned(),
            key,
            pairs: self.pairs.clone(),
            rows: klines.len(),
            skipped,
            gaps: all_gaps,
            written: false,
        };
        if klines.is_empty() {
            tracing::warn!(%slot, key = summary.key, skipped = summary.skipped.len(), gaps = summary.gaps.len(), "no pair returned a kline; nothing written");
            return Ok(summary);
        }

        let body =
            encode_klines(&klines).map_err(|source| KlinesRunError::Encode { slot, source })?;
        let meta = ObjectMeta {
            content_type: "text/csv; charset=utf-8",
            metadata: vec![
                ("slot".to_owned(), slot.to_string()),
                ("rows".to_owned(), klines.len().to_string()),
                ("pairs".to_owned(), self.pairs.join(",")),
                ("skipped".to_owned(), summary.skipped.len().to_string()),
                ("gaps".to_owned(), summary.gaps.len().to_string()),
            ],
        };
        put_before(&self.store, &summary.key, body, meta, deadline)
            .await
            .map_err(|source| KlinesRunError::Store { slot, source })?;
        summary.written = true;
        tracing::info!(
            %slot,
            key = summary.key,
            rows = summary.rows,
            skipped = summary.skipped.len(),
            gaps = summary.gaps.len(),
            "klines written"
        );
        Ok(summary)
    }

    async fn fetch_pair(
        &self,
        slot: Slot,
        symbol: &str,
        deadline: Instant,
    ) -> Result<PairOutcome, KlinesRunError> {
        let (from, to) = closed_minutes(slot);
        let klines = match self.binance.klines(symbol, from, to, deadline).await {
            Ok(klines) => klines,
            // A delisted or mistyped pair must not cost the other pairs their slot.
            Err(error @ BinanceError::UnknownSymbol(_)) => {
                tracing::warn!(%slot, symbol, error = %error, error_kind = error.kind(), "pair skipped");
                return Ok(PairOutcome::Skipped(SkippedPair {
                    symbol: symbol.to_owned(),
                    reason: error.to_string(),
                }));
            }
            Err(source) => {
                return Err(KlinesRunError::Binance {
                    slot,
                    symbol: symbol.to_owned(),
                    source,
                })
            }
        };
        let missing = gaps(&klines, from, to).map_err(|source| KlinesRunError::Sequence {
            slot,
            symbol: symbol.to_owned(),
            source,
        })?;
        let gaps = missing
            .into_iter()
            .map(|(from, to)| {
                tracing::warn!(%slot, symbol, %from, %to, "Binance sent no klines for these minutes");
                KlineGap {
                    symbol: symbol.to_owned(),
                    from,
                    to,
                }
            })
            .collect();
        Ok(PairOutcome::Fetched { klines, gaps })
    }
}
