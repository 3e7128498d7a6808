//! Binance candles read back out of `klines_1m`: one-minute candles with their moving
//! averages, and wider candles rolled up from the minutes, with the meaning of the V8 views
//! (`klines_1m_indicators`, `kline_rollup`). The views compute a pair's whole history before
//! a time filter applies; these statements read only the range asked for (and, for the
//! averages, the 98 minutes before it), which on a month of five pairs is the difference
//! between 300 ms and 7 ms (docs/database.md, "Klines views").

use super::text_row::Columns;
use super::{Market, MarketError, TextReader, MAX_CANDLES};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// Width of a Binance candle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum KlineInterval {
    #[serde(rename = "1m")]
    Minute,
    #[serde(rename = "5m")]
    FiveMinutes,
    #[serde(rename = "15m")]
    FifteenMinutes,
    #[serde(rename = "1h")]
    Hour,
}

impl KlineInterval {
    pub const ALL: [KlineInterval; 4] = [
        KlineInterval::Minute,
        KlineInterval::FiveMinutes,
        KlineInterval::FifteenMinutes,
        KlineInterval::Hour,
    ];

    pub fn parse(text: &str) -> Option<KlineInterval> {
        KlineInterval::ALL
            .into_iter()
            .find(|interval| interval.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KlineInterval::Minute => "1m",
            KlineInterval::FiveMinutes => "5m",
            KlineInterval::FifteenMinutes => "15m",
            KlineInterval::Hour => "1h",
        }
    }

    pub fn width(self) -> TimeDelta {
        match self {
            KlineInterval::Minute => TimeDelta::minutes(1),
            KlineInterval::FiveMinutes => TimeDelta::minutes(5),
            KlineInterval::FifteenMinutes => TimeDelta::minutes(15),
            KlineInterval::Hour => TimeDelta::hours(1),
        }
    }

    /// The range a request without `from` covers: a day of minutes or five-minute candles,
    /// a week of wider ones (all within [`MAX_CANDLES`]).
    pub fn default_span(self) -> TimeDelta {
        match self {
            KlineInterval::Minute | KlineInterval::FiveMinutes => TimeDelta::days(1),
            KlineInterval::FifteenMinutes | KlineInterval::Hour => TimeDelta::days(7),
        }
    }

    /// The width as a PostgreSQL interval literal (no colon: see `sql`).
    fn sql_width(self) -> &'static str {
        match self {
            KlineInterval::Minute => "1 minute",
            KlineInterval::FiveMinutes => "5 minutes",
            KlineInterval::FifteenMinutes => "15 minutes",
            KlineInterval::Hour => "1 hour",
        }
    }
}

/// Moving averages of the one-minute close over 7, 25 and 99 clock minutes ending at the
/// candle; each is `None` unless all of its minutes are stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MovingAverages {
    pub sma_7: Option<String>,
    pub sma_25: Option<String>,
    pub sma_99: Option<String>,
}

/// One Binance candle; `t` is the bucket's start. Numbers are exact decimal text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KlineCandle {
    pub t: DateTime<Utc>,
    pub open: String,
    pub high: String,
    pub low: String,
    pub close: String,
    pub volume: String,
    pub quote_volume: String,
    pub trades: i64,
    /// sum(quote_volume) / sum(volume); `None` when nothing traded.
    pub vwap: Option<String>,
    /// Minutes of the bucket that are stored (1 for a one-minute candle).
    pub minutes: i64,
    /// Only for one-minute candles.
    #[serde(flatten)]
    pub averages: Option<MovingAverages>,
}

/// Which candles: one pair, `[from, to)` by bucket start, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KlineQuery {
    pub symbol: String,
    pub interval: KlineInterval,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub limit: u32,
}

/// One-minute candles of `:symbol` in `[:from, :to)` with the moving averages of
/// `klines_1m_indicators`: the windows run over clock minutes (RANGE), so reading from 98
/// minutes before `:from` gives every window in range all the rows it can have.
pub const KLINES_1M: &str = "\
WITH k AS (
    SELECT k.open_time, k.open, k.high, k.low, k.close, k.volume, k.quote_volume, k.trades,
           CASE WHEN count(*) OVER w7 = 7 THEN avg(k.close) OVER w7 END AS sma_7,
           CASE WHEN count(*) OVER w25 = 25 THEN avg(k.close) OVER w25 END AS sma_25,
           CASE WHEN count(*) OVER w99 = 99 THEN avg(k.close) OVER w99 END AS sma_99
    FROM klines_1m k
    WHERE k.symbol = :symbol
      AND k.open_time >= CAST(:from AS timestamptz) - CAST('98 minutes' AS interval)
      AND k.open_time < CAST(:to AS timestamptz)
    WINDOW m AS (ORDER BY k.open_time),
           w7 AS (m RANGE BETWEEN CAST('6 minutes' AS interval) PRECEDING AND CURRENT ROW),
           w25 AS (m RANGE BETWEEN CAST('24 minutes' AS interval) PRECEDING AND CURRENT ROW),
           w99 AS (m RANGE BETWEEN CAST('98 minutes' AS interval) PRECEDING AND CURRENT ROW)
)
SELECT CAST(round(extract(epoch FROM k.open_time) * 1000) AS text),
       CAST(k.open AS text), CAST(k.high AS text), CAST(k.low AS text), CAST(k.close AS text),
       CAST(k.volume AS text), CAST(k.quote_volume AS text), CAST(k.trades AS text),
       CAST(k.quote_volume / nullif(k.volume, 0) AS text), '1',
       CAST(k.sma_7 AS text), CAST(k.sma_25 AS text), CAST(k.sma_99 AS text)
FROM k
WHERE k.open_time >= CAST(:from AS timestamptz)
ORDER BY k.open_time
LIMIT CAST(:limit AS integer)";

/// Candles `:width` wide of `:symbol` whose start is in `[:from, :to)`, as `kline_rollup`
/// computes them. Such a bucket holds only minutes from `:from` to `:to` + width, so those
/// are all that is read; buckets starting before `:from` are partial here and dropped.
/// The origin is the views' 2000-01-01 00:00 UTC, as epoch seconds: a time literal would
/// carry colons, which the `:name` rewrite would take for parameters.
pub const KLINES_ROLLUP: &str = "\
SELECT CAST(round(extract(epoch FROM b.bucket_start) * 1000) AS text),
       CAST(b.open AS text), CAST(b.high AS text), CAST(b.low AS text), CAST(b.close AS text),
       CAST(b.volume AS text), CAST(b.quote_volume AS text), CAST(b.trades AS text),
       CAST(b.vwap AS text), CAST(b.minutes AS text)
FROM (
    SELECT date_bin(CAST(:width AS interval), k.open_time, to_timestamp(946684800)) AS bucket_start,
           (array_agg(k.open ORDER BY k.open_time))[1] AS open,
           max(k.high) AS high,
           min(k.low) AS low,
           (array_agg(k.close ORDER BY k.open_time DESC))[1] AS close,
           sum(k.volume) AS volume,
           sum(k.quote_volume) AS quote_volume,
           sum(k.trades) AS trades,
           sum(k.quote_volume) / nullif(sum(k.volume), 0) AS vwap,
           count(*) AS minutes
    FROM klines_1m k
    WHERE k.symbol = :symbol
      AND k.open_time >= CAST(:from AS timestamptz)
      AND k.open_time < CAST(:to AS timestamptz) + CAST(:width AS interval)
    GROUP BY 1
) b
WHERE b.bucket_start >= CAST(:from AS timestamptz) AND b.bucket_start < CAST(:to AS timestamptz)
ORDER BY b.bucket_start
LIMIT CAST(:limit AS integer)";

impl<R: TextReader> Market<R> {
    /// Binance candles of one pair in time order; an unknown pair has none.
    pub async fn klines(&self, query: &KlineQuery) -> Result<Vec<KlineCandle>, MarketError> {
        let from = query.from.to_rfc3339();
        let to = query.to.to_rfc3339();
        let limit = query.limit.clamp(1, MAX_CANDLES).to_string();
        let minute = query.interval == KlineInterval::Minute;
        let mut parameters = vec![
            ("symbol", query.symbol.as_str()),
            ("from", from.as_str()),
            ("to", to.as_str()),
            ("limit", limit.as_str()),
        ];
        let sql = if minute {
            KLINES_1M
        } else {
            parameters.push(("width", query.interval.sql_width()));
            KLINES_ROLLUP
        };
        let rows = self.reader.query(sql, &parameters).await?;
        rows.iter()
            .map(|row| {
                let row = Columns(row);
                Ok(KlineCandle {
                    t: row.time(0)?,
                    open: row.text(1)?,
                    high: row.text(2)?,
                    low: row.text(3)?,
                    close: row.text(4)?,
                    volume: row.text(5)?,
                    quote_volume: row.text(6)?,
                    trades: row.integer(7)?,
                    vwap: row.optional(8),
                    minutes: row.integer(9)?,
                    averages: minute.then(|| MovingAverages {
                        sma_7: row.optional(10),
                        sma_25: row.optional(11),
                        sma_99: row.optional(12),
                    }),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_interval_parses_back_from_its_name() {
        for interval in KlineInterval::ALL {
            assert_eq!(KlineInterval::parse(interval.as_str()), Some(interval));
            let candles = interval.default_span().num_minutes() / interval.width().num_minutes();
            assert!(candles <= i64::from(MAX_CANDLES), "{interval:?}");
        }
        assert_eq!(KlineInterval::parse("1d"), None);
        assert_eq!(KlineInterval::parse("1M"), None);
    }
}
