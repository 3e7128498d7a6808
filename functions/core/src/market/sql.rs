//! The read queries behind the HTTP API. Every column comes back as text (`CAST(… AS
//! text)`) and every parameter goes in as text, so one statement runs unchanged through
//! tokio-postgres and through the Data API, whose records carry strings. Numbers stay the
//! exact decimal text stored in NUMERIC columns; times are epoch milliseconds, which no
//! session time zone or date style can change. Parameters are `:name` (rewritten to `$n`
//! for tokio-postgres); there are no `::` casts, and no colon inside a string literal,
//! which that rewrite does not understand.

/// The newest quote of every asset seen within a day of the newest snapshot in
/// `:currency`, best rank first. Each asset's quote comes from one backward step on the
/// `quotes` primary key instead of a scan of the whole history; an update observed on two
/// UTC days is stored twice, and its first observation answers.
pub const LATEST: &str = "\
WITH newest AS (
    SELECT max(slot_at) AS slot_at FROM quotes WHERE quote_currency = :currency
)
SELECT CAST(q.cmc_id AS text), q.symbol, q.name, CAST(q.cmc_rank AS text),
       CAST(q.price AS text), CAST(q.percent_change_1h AS text),
       CAST(q.percent_change_24h AS text), CAST(q.percent_change_7d AS text),
       CAST(q.market_cap AS text), CAST(q.volume_24h AS text),
       CAST(round(extract(epoch FROM q.last_updated) * 1000) AS text),
       CAST(round(extract(epoch FROM q.slot_at) * 1000) AS text)
FROM newest, assets a
CROSS JOIN LATERAL (
    SELECT * FROM quotes q
    WHERE q.cmc_id = a.cmc_id AND q.quote_currency = :currency
    ORDER BY q.last_updated DESC, q.slot_at
    LIMIT 1
) q
WHERE a.last_seen >= newest.slot_at - CAST('1 day' AS interval)
ORDER BY q.cmc_rank ASC NULLS LAST, q.cmc_id
LIMIT CAST(:limit AS integer)";

/// The asset a ticker means now: symbols collide, so the best-ranked among those seen most
/// recently.
pub const RESOLVE_SYMBOL: &str = "\
SELECT CAST(a.cmc_id AS text), a.symbol
FROM assets a
LEFT JOIN LATERAL (
    SELECT q.cmc_rank FROM quotes q
    WHERE q.cmc_id = a.cmc_id ORDER BY q.last_updated DESC, q.slot_at LIMIT 1
) r ON true
WHERE upper(a.symbol) = upper(:symbol)
ORDER BY a.last_seen DESC, r.cmc_rank ASC NULLS LAST, a.cmc_id
LIMIT 1";

/// Candles of one asset from the analytics views (`ohlc_5m`, `ohlc_1h`), in time order. `{view}` is one of those names, chosen from a closed set, never from input.
pub fn history(view: &str) -> String {
    format!(
        "\
SELECT CAST(round(extract(epoch FROM bucket_start) * 1000) AS text), CAST(open AS text), CAST(high AS text),
       CAST(low AS text), CAST(close AS text), CAST(avg_volume_24h AS text),
       CAST(samples AS text)
FROM {view}
WHERE cmc_id = CAST(:cmc_id AS bigint) AND quote_currency = :currency
  AND bucket_start >= CAST(:from AS timestamptz) AND bucket_start < CAST(:to AS timestamptz)
ORDER BY bucket_start
LIMIT CAST(:limit AS integer)"
    )
}

/// Daily candles of one asset, in time order, with the curated layer's meaning of a day: the
/// rows observed that UTC day (so `open` is the update in effect at midnight). Days the
/// rollup holds come from `daily_candles`, which outlives the raw rows retention drops; only
/// the days after the newest rolled-up day (today, and yesterday until maintenance has run)
/// are computed from `quotes`, so a year of candles never reads a year of quotes.
pub const HISTORY_1D: &str = "\
WITH newest AS (
    SELECT coalesce(max(day), CAST('-infinity' AS date)) AS day FROM daily_rollups
), rolled AS (
    SELECT c.day, c.open, c.high, c.low, c.close, c.avg_volume_24h, c.samples
    FROM daily_candles c
    WHERE c.cmc_id = CAST(:cmc_id AS bigint) AND c.quote_currency = :currency
      AND c.day >= CAST(timezone('UTC', CAST(:from AS timestamptz)) AS date)
      AND c.day <= CAST(timezone('UTC', CAST(:to AS timestamptz)) AS date)
), fresh AS (
    SELECT q.observed_on AS day,
           (array_agg(q.price ORDER BY q.last_updated, q.slot_at))[1] AS open,
           max(q.price) AS high,
           min(q.price) AS low,
           (array_agg(q.price ORDER BY q.last_updated DESC, q.slot_at DESC))[1] AS close,
           avg(q.volume_24h) AS avg_volume_24h,
           count(*) AS samples
    FROM quotes q, newest n
    WHERE q.cmc_id = CAST(:cmc_id AS bigint) AND q.quote_currency = :currency
      AND q.observed_on > n.day
      AND q.observed_on >= CAST(timezone('UTC', CAST(:from AS timestamptz)) AS date)
      AND q.observed_on <= CAST(timezone('UTC', CAST(:to AS timestamptz)) AS date)
    GROUP BY q.observed_on
)
SELECT CAST(round(extract(epoch FROM timezone('UTC', CAST(d.day AS timestamp))) * 1000) AS text),
       CAST(d.open AS text), CAST(d.high AS text), CAST(d.low AS text), CAST(d.close AS text),
       CAST(d.avg_volume_24h AS text), CAST(d.samples AS text)
FROM (SELECT * FROM rolled UNION ALL SELECT * FROM fresh) d
WHERE timezone('UTC', CAST(d.day AS timestamp)) >= CAST(:from AS timestamptz)
  AND timezone('UTC', CAST(d.day AS timestamp)) < CAST(:to AS timestamptz)
ORDER BY d.day
LIMIT CAST(:limit AS integer)";

/// The newest snapshot in the database and the newest successful load of one, for
/// freshness: quotes only, as the rest of the API serves quotes.
pub const FRESHNESS: &str = "\
SELECT CAST(round(extract(epoch FROM (SELECT max(slot_at) FROM quotes)) * 1000) AS text),
       CAST(round(extract(epoch FROM (
           SELECT finished_at FROM ingest_runs WHERE dataset = 'quotes' AND status = 'loaded'
           ORDER BY slot_at DESC, finished_at DESC LIMIT 1)) * 1000) AS text)";
