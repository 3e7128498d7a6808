-- `quotes` becomes the hot window of the curated layer: one row per CMC update per UTC day a
-- slot observed it (`observed_on`), the earliest slot of that day winning, exactly as the
-- day's curated Parquet object holds it; and one partition per calendar month, so a month
-- S3 already holds can later be dropped whole instead of deleted row by row.
--
-- An update still current at midnight is observed on two days and so stored twice (same
-- cmc_id, quote_currency and last_updated; another observed_on and slot_at). The views below
-- read `quote_updates`, which keeps its first observation, so they still see each real CMC
-- update once.
--
-- Existing rows (one per update) keep every value; their observed_on is the UTC date of
-- their slot_at. Views over `quotes` that an operator added by hand stop this migration
-- (DROP TABLE without CASCADE): drop them first and create them again after.

-- The views and the candle function read quotes; they are created again below.
DROP VIEW latest_quotes, ohlc_5m, ohlc_1h, ohlc_1d, price_moving_averages, price_changes;
DROP FUNCTION quote_ohlc(interval);

-- The unpartitioned table steps aside with its key and indexes, whose names the new table
-- takes.
ALTER TABLE quotes RENAME TO quotes_v4;
ALTER TABLE quotes_v4 RENAME CONSTRAINT quotes_pkey TO quotes_v4_pkey;
ALTER INDEX quotes_by_time RENAME TO quotes_v4_by_time;
ALTER INDEX quotes_by_slot RENAME TO quotes_v4_by_slot;

-- One row per CMC update per UTC day observed. Dropping a month is dropping a partition.
CREATE TABLE quotes (
    cmc_id                   bigint      NOT NULL,
    quote_currency           text        NOT NULL,
    last_updated             timestamptz NOT NULL,
    -- The UTC date of slot_at: which curated day the row belongs to. A plain column, not a
    -- generated one: PostgreSQL refuses generated columns in a partition key. The CHECK
    -- keeps it honest.
    observed_on              date        NOT NULL,
    slot_at                  timestamptz NOT NULL,
    symbol                   text        NOT NULL,
    name                     text        NOT NULL,
    slug                     text        NOT NULL,
    cmc_rank                 bigint,
    price                    numeric     NOT NULL,
    volume_24h               numeric,
    volume_change_24h        numeric,
    percent_change_1h        numeric,
    percent_change_24h       numeric,
    percent_change_7d        numeric,
    percent_change_30d       numeric,
    market_cap               numeric,
    market_cap_dominance     numeric,
    fully_diluted_market_cap numeric,
    circulating_supply       numeric,
    total_supply             numeric,
    max_supply               numeric,
    num_market_pairs         bigint,
    ingested_at              timestamptz NOT NULL,
    s3_key                   text        NOT NULL,
    loaded_at                timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT quotes_observed_on_is_the_utc_date_of_slot_at
        CHECK (observed_on = CAST(timezone('UTC', slot_at) AS date)),
    -- The partition key must be part of the primary key. Read forwards, the key is still
    -- "one asset over time"; read backwards, "latest per asset".
    PRIMARY KEY (cmc_id, quote_currency, last_updated, observed_on)
) PARTITION BY RANGE (observed_on);

COMMENT ON TABLE quotes IS
    'One row per CMC update (cmc_id, quote_currency, last_updated) per UTC day observed (observed_on), from the earliest slot of that day; partitioned by month of observed_on. Read quote_updates for one row per update.';
COMMENT ON COLUMN quotes.observed_on IS
    'The UTC date of slot_at: the curated day the row belongs to, and the partition key.';

-- Time-range scans across all assets (the OHLC and moving-average views, replays by day).
CREATE INDEX quotes_by_time ON quotes (last_updated);
CREATE INDEX quotes_by_slot ON quotes (slot_at);

-- The month's partition of `day`, created if missing; true when this call created it.
--
-- Loads call it inside their transaction for the months of the rows they are about to
-- insert (after upserting the assets, before touching quotes: the order that keeps
-- concurrent loads free of deadlocks, see functions/core/src/sink/sql.rs), so the first
-- load of a month creates that month's partition. Concurrent loads of a new month race
-- here: the advisory lock lets one create the partition while the others wait for its
-- commit and then find it (in READ COMMITTED, which loads use, each statement below sees
-- what committed before it started). The lock is taken only when the partition is missing,
-- so loads into an existing month never queue on it. Creating a partition takes an ACCESS
-- EXCLUSIVE lock on quotes, held until the creating load commits: once a month, for the
-- rest of one load.
--
-- There is deliberately no DEFAULT partition. With one, every later CREATE ... PARTITION OF
-- would scan it under that exclusive lock, and fail if it held rows of the new month, which
-- would first have to be moved out; and rows parked there would escape a retention that
-- drops whole months. Without one, a row for a month with no partition is refused (SQLSTATE
-- 23514), which a load never meets since it makes sure of its partitions first.
CREATE FUNCTION ensure_quotes_partition(day date)
RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
    month_start constant date := CAST(date_trunc('month', CAST(day AS timestamp)) AS date);
    month_end   constant date := CAST(CAST(month_start AS timestamp) + interval '1 month' AS date);
    partition   constant text := 'quotes_' || to_char(month_start, 'YYYY_MM');
    parent      constant regclass := 'quotes';
    parent_schema text;
BEGIN
    IF day IS NULL THEN
        RAISE EXCEPTION 'ensure_quotes_partition: day is NULL';
    END IF;
    IF EXISTS (SELECT FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = parent AND c.relname = partition) THEN
        RETURN false;
    END IF;
    -- Any fixed number works, the same in every coinlake database: ASCII "quotes_p".
    PERFORM pg_advisory_xact_lock(8175563244269952880);
    IF EXISTS (SELECT FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = parent AND c.relname = partition) THEN
        RETURN false;
    END IF;
    SELECT n.nspname INTO parent_schema
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = parent;
    EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.quotes FOR VALUES FROM (%L) TO (%L)',
                   parent_schema, partition, parent_schema, month_start, month_end);
    RETURN true;
END
$$;

COMMENT ON FUNCTION ensure_quotes_partition(date) IS
    'Creates the partition of quotes for the month of the given day (quotes_YYYY_MM) unless it exists; true if this call created it. Safe under concurrent calls.';

-- Only the loader (who owns quotes, as it must to add partitions) calls it.
REVOKE EXECUTE ON FUNCTION ensure_quotes_partition(date) FROM PUBLIC;

-- Every month the existing rows cover, then the rows themselves, unchanged.
SELECT ensure_quotes_partition(month)
FROM (SELECT DISTINCT CAST(date_trunc('month', timezone('UTC', slot_at)) AS date) AS month
      FROM quotes_v4) months
ORDER BY month;

INSERT INTO quotes (cmc_id, quote_currency, last_updated, observed_on, slot_at, symbol, name,
                    slug, cmc_rank, price, volume_24h, volume_change_24h, percent_change_1h,
                    percent_change_24h, percent_change_7d, percent_change_30d, market_cap,
                    market_cap_dominance, fully_diluted_market_cap, circulating_supply,
                    total_supply, max_supply, num_market_pairs, ingested_at, s3_key, loaded_at)
SELECT cmc_id, quote_currency, last_updated, CAST(timezone('UTC', slot_at) AS date), slot_at,
       symbol, name, slug, cmc_rank, price, volume_24h, volume_change_24h, percent_change_1h,
       percent_change_24h, percent_change_7d, percent_change_30d, market_cap,
       market_cap_dominance, fully_diluted_market_cap, circulating_supply, total_supply,
       max_supply, num_market_pairs, ingested_at, s3_key, loaded_at
FROM quotes_v4;

DROP TABLE quotes_v4;

-- A load now also replaces rows: an earlier slot of the same day, loaded after a later one,
-- takes its place. Loads before this migration never replaced anything.
ALTER TABLE ingest_runs ADD COLUMN rows_replaced integer;
UPDATE ingest_runs SET rows_replaced = 0 WHERE status = 'loaded';

-- One row per real CMC update: its first observation (the earliest day, and on that day the
-- earliest slot, which is the only one stored). The views below read it so that an update
-- observed on two days counts once. Filters on cmc_id, quote_currency and last_updated pass
-- through DISTINCT ON to the quotes key.
CREATE VIEW quote_updates AS
SELECT DISTINCT ON (q.cmc_id, q.quote_currency, q.last_updated)
       q.cmc_id,
       q.quote_currency,
       q.last_updated,
       q.observed_on,
       q.slot_at,
       q.symbol,
       q.name,
       q.slug,
       q.cmc_rank,
       q.price,
       q.volume_24h,
       q.volume_change_24h,
       q.percent_change_1h,
       q.percent_change_24h,
       q.percent_change_7d,
       q.percent_change_30d,
       q.market_cap,
       q.market_cap_dominance,
       q.fully_diluted_market_cap,
       q.circulating_supply,
       q.total_supply,
       q.max_supply,
       q.num_market_pairs,
       q.ingested_at,
       q.s3_key,
       q.loaded_at
FROM quotes q
ORDER BY q.cmc_id, q.quote_currency, q.last_updated, q.observed_on;

COMMENT ON VIEW quote_updates IS
    'One row per real CMC update (cmc_id, quote_currency, last_updated): its first observation.';

-- The views of V2, with the same columns and meaning (see V2 for why they bucket and window
-- in UTC), now over one row per update.

CREATE VIEW latest_quotes AS
SELECT DISTINCT ON (q.cmc_id, q.quote_currency)
       q.cmc_id,
       q.symbol,
       q.name,
       q.quote_currency,
       q.cmc_rank,
       q.price,
       q.percent_change_1h,
       q.percent_change_24h,
       q.percent_change_7d,
       q.market_cap,
       q.volume_24h,
       q.last_updated,
       q.slot_at
FROM quotes q
-- The newest update; of its observations (one per day), the first.
ORDER BY q.cmc_id, q.quote_currency, q.last_updated DESC, q.slot_at;

COMMENT ON VIEW latest_quotes IS
    'The newest quote (by last_updated) per cmc_id and quote_currency, as first observed.';

-- A SQL function with a single SELECT, STABLE, not STRICT and without SET clauses, so the
-- planner inlines it into the views below and their WHERE clauses push down into it.
CREATE FUNCTION quote_ohlc(bucket interval)
RETURNS TABLE (
    cmc_id          bigint,
    symbol          text,
    quote_currency  text,
    bucket_start    timestamptz,
    open            numeric,
    high            numeric,
    low             numeric,
    close           numeric,
    avg_volume_24h  numeric,
    samples         bigint
)
LANGUAGE sql STABLE
AS $$
SELECT q.cmc_id,
       (array_agg(q.symbol ORDER BY q.last_updated DESC))[1],
       q.quote_currency,
       date_bin(bucket, q.last_updated, timestamptz '2000-01-01 00:00:00+00'),
       (array_agg(q.price ORDER BY q.last_updated))[1],
       max(q.price),
       min(q.price),
       (array_agg(q.price ORDER BY q.last_updated DESC))[1],
       avg(q.volume_24h),
       count(*)
FROM quote_updates q
GROUP BY q.cmc_id, q.quote_currency,
         date_bin(bucket, q.last_updated, timestamptz '2000-01-01 00:00:00+00')
$$;

COMMENT ON FUNCTION quote_ohlc(interval) IS
    'Open/high/low/close of price per cmc_id, quote_currency and UTC bucket of the given width, each CMC update counted once (inlined into the ohlc_* views).';

CREATE VIEW ohlc_5m AS SELECT * FROM quote_ohlc(interval '5 minutes');

COMMENT ON VIEW ohlc_5m IS
    'Five-minute UTC candles of price per cmc_id and quote_currency (see quote_ohlc).';

CREATE VIEW ohlc_1h AS SELECT * FROM quote_ohlc(interval '1 hour');

COMMENT ON VIEW ohlc_1h IS
    'Hourly UTC candles of price per cmc_id and quote_currency (see quote_ohlc).';

CREATE VIEW ohlc_1d AS SELECT * FROM quote_ohlc(interval '1 day');

COMMENT ON VIEW ohlc_1d IS
    'Daily candles of price per cmc_id and quote_currency, days starting 00:00 UTC (see quote_ohlc).';

CREATE VIEW price_moving_averages AS
SELECT q.cmc_id,
       q.symbol,
       q.quote_currency,
       q.last_updated,
       q.price,
       avg(q.price)  OVER (w RANGE BETWEEN interval '1 hour' PRECEDING AND CURRENT ROW)    AS sma_1h,
       avg(q.price)  OVER (w RANGE BETWEEN interval '24 hours' PRECEDING AND CURRENT ROW)  AS sma_24h,
       avg(q.price)  OVER (w RANGE BETWEEN interval '168 hours' PRECEDING AND CURRENT ROW) AS sma_7d,
       count(*)      OVER (w RANGE BETWEEN interval '24 hours' PRECEDING AND CURRENT ROW)  AS samples_24h
FROM quote_updates q
WINDOW w AS (PARTITION BY q.cmc_id, q.quote_currency ORDER BY q.last_updated);

COMMENT ON VIEW price_moving_averages IS
    'Every CMC update with the average price over the preceding 1 h, 24 h and 168 h (inclusive) of its cmc_id and quote_currency, and the sample count of the 24 h window.';

CREATE VIEW price_changes AS
SELECT q.cmc_id,
       q.symbol,
       q.quote_currency,
       q.last_updated,
       q.price,
       lag(q.price) OVER w        AS previous_price,
       lag(q.last_updated) OVER w AS previous_updated,
       round((q.price - lag(q.price) OVER w) / nullif(lag(q.price) OVER w, 0) * 100, 8)
                                  AS percent_change
FROM quote_updates q
WINDOW w AS (PARTITION BY q.cmc_id, q.quote_currency ORDER BY q.last_updated);

COMMENT ON VIEW price_changes IS
    'Every CMC update with the previous update (by last_updated) of its cmc_id and quote_currency and the percent change from it, rounded to 8 places; NULL for the first update or a zero previous price.';

-- The read-only role of V4 keeps reading everything it read (the objects above are new).
GRANT SELECT ON quotes, quote_updates, latest_quotes, ohlc_5m, ohlc_1h, ohlc_1d,
                price_moving_averages, price_changes
    TO coinlake_reader;
GRANT EXECUTE ON FUNCTION quote_ohlc(interval) TO coinlake_reader;
