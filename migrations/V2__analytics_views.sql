-- Analytics views over `quotes`. Every bucket and window is computed on the absolute time
-- line (UTC), whatever the session's TimeZone: buckets with date_bin from a UTC origin
-- (date_trunc on timestamptz would cut days in the session's zone), windows in hours
-- (timestamptz +/- '1 day' follows the session zone's daylight-saving changes). All of them
-- are plain SQL that the planner sees through, so a filter on cmc_id / quote_currency
-- reaches the quotes primary key.

-- The current state of every asset: the newest CMC update per (cmc_id, quote_currency),
-- for dashboards and "what is it worth now" lookups.
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
ORDER BY q.cmc_id, q.quote_currency, q.last_updated DESC;

COMMENT ON VIEW latest_quotes IS
    'The newest quote (by last_updated) per cmc_id and quote_currency.';

-- Candles of any width, bucketed by CMC's update time (last_updated) from a UTC origin.
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
FROM quotes q
GROUP BY q.cmc_id, q.quote_currency,
         date_bin(bucket, q.last_updated, timestamptz '2000-01-01 00:00:00+00')
$$;

COMMENT ON FUNCTION quote_ohlc(interval) IS
    'Open/high/low/close of price per cmc_id, quote_currency and UTC bucket of the given width (inlined into the ohlc_* views).';

-- Five-minute candles (the ingest slot width), for intraday charts.
CREATE VIEW ohlc_5m AS SELECT * FROM quote_ohlc(interval '5 minutes');

COMMENT ON VIEW ohlc_5m IS
    'Five-minute UTC candles of price per cmc_id and quote_currency (see quote_ohlc).';

-- Hourly candles, for charts over days.
CREATE VIEW ohlc_1h AS SELECT * FROM quote_ohlc(interval '1 hour');

COMMENT ON VIEW ohlc_1h IS
    'Hourly UTC candles of price per cmc_id and quote_currency (see quote_ohlc).';

-- Daily candles (UTC days), for charts over months.
CREATE VIEW ohlc_1d AS SELECT * FROM quote_ohlc(interval '1 day');

COMMENT ON VIEW ohlc_1d IS
    'Daily candles of price per cmc_id and quote_currency, days starting 00:00 UTC (see quote_ohlc).';

-- Trend lines: every quote with the simple moving averages of price over the hour, day and
-- week up to and including it (time windows, so gaps in the data shorten the sample, not
-- stretch the window). 24 and 168 hours rather than 1 and 7 days: see the top of the file.
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
FROM quotes q
WINDOW w AS (PARTITION BY q.cmc_id, q.quote_currency ORDER BY q.last_updated);

COMMENT ON VIEW price_moving_averages IS
    'Every quote with the average price over the preceding 1 h, 24 h and 168 h (inclusive) of its cmc_id and quote_currency, and the sample count of the 24 h window.';

-- Update-to-update moves: every quote with the one before it of the same asset and quote
-- currency, and the percent change between them (NULL for the first, or from a zero price).
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
FROM quotes q
WINDOW w AS (PARTITION BY q.cmc_id, q.quote_currency ORDER BY q.last_updated);

COMMENT ON VIEW price_changes IS
    'Every quote with the previous quote (by last_updated) of its cmc_id and quote_currency and the percent change from it, rounded to 8 places; NULL for the first quote or a zero previous price.';
