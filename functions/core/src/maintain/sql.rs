//! The maintenance statements. Like the market queries they take `:name` text parameters
//! and answer text columns, so one statement runs through tokio-postgres and the Data API.

/// Rolls up, in one statement and so from one snapshot: every complete day (before
/// `:today`, `YYYY-MM-DD`) named by a loaded quotes run not rolled up yet (klines runs
/// share `ingest_runs` but change no candle), and the days of `:days`
/// (comma-separated dates, or empty). The runs are marked; a load that commits meanwhile is
/// not in the snapshot, neither its rows nor its run, so its day is rolled up next time.
/// Candles are upserted (a late file only adds or replaces rows of a series, never removes
/// one). Answers each day rolled up with the number of quotes rows it was computed from.
pub const ROLL_UP: &str = "\
WITH runs AS (
    UPDATE ingest_runs SET rolled_up_at = now()
    WHERE dataset = 'quotes' AND status = 'loaded' AND rolled_up_at IS NULL
      AND timezone('UTC', slot_at) < CAST(CAST(:today AS date) AS timestamp)
    RETURNING CAST(timezone('UTC', slot_at) AS date) AS day
), days AS (
    SELECT day, timezone('UTC', CAST(day AS timestamp)) AS starts
    FROM (SELECT day FROM runs
          UNION
          SELECT CAST(d AS date) FROM unnest(string_to_array(:days, ',')) AS d) named
), day_rows AS (
    -- The slot index finds a day's rows in any partition; observed_on prunes the rest.
    SELECT q.* FROM days d
    JOIN quotes q ON q.slot_at >= d.starts AND q.slot_at < d.starts + CAST('1 day' AS interval)
                 AND q.observed_on = d.day
), candles AS (
    INSERT INTO daily_candles (cmc_id, quote_currency, day, symbol, open, high, low, close,
                               samples, volume_24h, market_cap, first_update, last_update,
                               avg_volume_24h)
    SELECT q.cmc_id, q.quote_currency, q.observed_on,
           (array_agg(q.symbol ORDER BY q.last_updated DESC, q.slot_at DESC))[1],
           (array_agg(q.price ORDER BY q.last_updated, q.slot_at))[1],
           max(q.price),
           min(q.price),
           (array_agg(q.price ORDER BY q.last_updated DESC, q.slot_at DESC))[1],
           count(*),
           (array_agg(q.volume_24h ORDER BY q.last_updated DESC, q.slot_at DESC))[1],
           (array_agg(q.market_cap ORDER BY q.last_updated DESC, q.slot_at DESC))[1],
           min(q.last_updated),
           max(q.last_updated),
           avg(q.volume_24h)
    FROM day_rows q
    GROUP BY q.cmc_id, q.quote_currency, q.observed_on
    ON CONFLICT (cmc_id, quote_currency, day) DO UPDATE
    SET symbol = excluded.symbol, open = excluded.open, high = excluded.high,
        low = excluded.low, close = excluded.close, samples = excluded.samples,
        volume_24h = excluded.volume_24h, market_cap = excluded.market_cap,
        first_update = excluded.first_update, last_update = excluded.last_update,
        avg_volume_24h = excluded.avg_volume_24h
), counted AS (
    INSERT INTO daily_rollups (day, quote_rows, rolled_up_at)
    SELECT q.observed_on, count(*), now() FROM day_rows q GROUP BY q.observed_on
    ON CONFLICT (day) DO UPDATE
    SET quote_rows = excluded.quote_rows, rolled_up_at = excluded.rolled_up_at
    RETURNING day, quote_rows
)
SELECT CAST(day AS text), CAST(quote_rows AS text) FROM counted ORDER BY day";

/// The partitions of `quotes`, by name.
pub const PARTITIONS: &str = "\
SELECT CAST(c.relname AS text)
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = CAST('quotes' AS regclass)
ORDER BY c.relname";

/// Per day of `[:from, :to)` that has rows: PostgreSQL's count, and the count its rollup
/// was computed from (null when it has none).
pub const DAY_COUNTS: &str = "\
SELECT CAST(q.observed_on AS text), CAST(q.n AS text), CAST(r.quote_rows AS text)
FROM (SELECT observed_on, count(*) AS n FROM quotes
      WHERE observed_on >= CAST(:from AS date) AND observed_on < CAST(:to AS date)
      GROUP BY observed_on) q
LEFT JOIN daily_rollups r ON r.day = q.observed_on
ORDER BY q.observed_on";

/// `partition` is a name read from the catalogue and checked against `quotes_YYYY_MM`, so
/// quoting it is enough; identifiers cannot be parameters.
pub fn detach(partition: &str) -> String {
    format!("ALTER TABLE quotes DETACH PARTITION \"{partition}\"")
}

/// Per day, the rows of a detached partition: what is about to be dropped.
pub fn detached_counts(partition: &str) -> String {
    format!(
        "SELECT CAST(observed_on AS text), CAST(count(*) AS text) FROM \"{partition}\" \
         GROUP BY observed_on ORDER BY observed_on"
    )
}

pub fn drop(partition: &str) -> String {
    format!("DROP TABLE \"{partition}\"")
}
