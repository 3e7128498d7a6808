-- Views over the Binance one-minute klines (klines_1m, V7): wider candles, moving averages,
-- VWAP, the spread against CoinMarketCap, and the holes in both datasets. Like the quotes
-- views (V2, V5), every bucket is cut on the UTC time line from a UTC origin, whatever the
-- session's TimeZone, and all of it is plain SQL the planner sees through: a filter on
-- `symbol` reaches the klines_1m primary key. Nothing is materialised: on a month of five
-- pairs the API's reads take milliseconds (docs/database.md, "Klines views").

-- Candles of any whole number of minutes: open is the first stored minute's open, close the
-- last stored minute's close; `minutes` says how many of the bucket's minutes are stored, so
-- a reader can tell a full bucket from one with holes. `vwap` is the bucket's volume-weighted
-- average price, sum(quote_volume) / sum(volume), NULL when nothing traded.
-- A SQL function with a single SELECT, STABLE, not STRICT and without SET clauses, so the
-- planner inlines it into the views below and their WHERE clauses push down into it.
CREATE FUNCTION kline_rollup(bucket interval)
RETURNS TABLE (
    symbol        text,
    bucket_start  timestamptz,
    open          numeric,
    high          numeric,
    low           numeric,
    close         numeric,
    volume        numeric,
    quote_volume  numeric,
    trades        bigint,
    vwap          numeric,
    minutes       bigint
)
LANGUAGE sql STABLE
AS $$
SELECT k.symbol,
       date_bin(bucket, k.open_time, timestamptz '2000-01-01 00:00:00+00'),
       (array_agg(k.open ORDER BY k.open_time))[1],
       max(k.high),
       min(k.low),
       (array_agg(k.close ORDER BY k.open_time DESC))[1],
       sum(k.volume),
       sum(k.quote_volume),
       CAST(sum(k.trades) AS bigint),
       sum(k.quote_volume) / nullif(sum(k.volume), 0),
       count(*)
FROM klines_1m k
GROUP BY k.symbol, date_bin(bucket, k.open_time, timestamptz '2000-01-01 00:00:00+00')
$$;

COMMENT ON FUNCTION kline_rollup(interval) IS
    'Candles of the given width per Binance pair and UTC bucket from klines_1m: first open, max high, min low, last close, summed volume, quote_volume and trades, VWAP, and the number of stored minutes (inlined into the klines_* views).';

-- One-minute candles: the stored rows with the minute's own VWAP, in the columns of the
-- wider views, so a reader switches width by switching view.
CREATE VIEW klines_1m_candles AS
SELECT k.symbol,
       k.open_time AS bucket_start,
       k.open,
       k.high,
       k.low,
       k.close,
       k.volume,
       k.quote_volume,
       k.trades,
       k.quote_volume / nullif(k.volume, 0) AS vwap,
       CAST(1 AS bigint) AS minutes
FROM klines_1m k;

COMMENT ON VIEW klines_1m_candles IS
    'One-minute candles per Binance pair (klines_1m) in the columns of klines_5m/15m/1h, with the minute''s VWAP.';

CREATE VIEW klines_5m AS SELECT * FROM kline_rollup(interval '5 minutes');

COMMENT ON VIEW klines_5m IS
    'Five-minute UTC candles per Binance pair (see kline_rollup).';

CREATE VIEW klines_15m AS SELECT * FROM kline_rollup(interval '15 minutes');

COMMENT ON VIEW klines_15m IS
    'Fifteen-minute UTC candles per Binance pair (see kline_rollup).';

CREATE VIEW klines_1h AS SELECT * FROM kline_rollup(interval '1 hour');

COMMENT ON VIEW klines_1h IS
    'Hourly UTC candles per Binance pair (see kline_rollup).';

-- Moving averages of the one-minute close, and the running VWAP of the UTC day.
--
-- A period is a minute of the clock, not a stored row: the N-period average of minute T is
-- the mean close of minutes T-(N-1) .. T, and it is NULL unless all N of them are stored.
-- Averaging the last N stored rows instead would quietly stretch the window over a gap
-- (after a two-hour outage, "SMA 25" would mix prices two hours apart). So the average is
-- NULL for the first N-1 minutes of a pair's history and for the N-1 minutes after each
-- missing minute, and the counts say how full each window is.
--
-- The day VWAP runs from 00:00 UTC to the row's minute inclusive, over the stored minutes.
--
-- A filter on symbol passes through the windows (they are partitioned by it); a filter on
-- open_time cannot (it would cut the windows short), so a range read of one pair computes
-- its whole history. The API reads a range with its own bounded query of the same meaning
-- (coinlake::market, KLINES_1M), which a test holds equal to this view.
CREATE VIEW klines_1m_indicators AS
SELECT k.symbol,
       k.open_time,
       k.close,
       k.volume,
       k.quote_volume,
       k.quote_volume / nullif(k.volume, 0) AS vwap,
       CASE WHEN count(*) OVER w7 = 7 THEN avg(k.close) OVER w7 END    AS sma_7,
       CASE WHEN count(*) OVER w25 = 25 THEN avg(k.close) OVER w25 END AS sma_25,
       CASE WHEN count(*) OVER w99 = 99 THEN avg(k.close) OVER w99 END AS sma_99,
       count(*) OVER w7  AS minutes_7,
       count(*) OVER w25 AS minutes_25,
       count(*) OVER w99 AS minutes_99,
       sum(k.quote_volume) OVER day / nullif(sum(k.volume) OVER day, 0) AS day_vwap
FROM klines_1m k
WINDOW m   AS (PARTITION BY k.symbol ORDER BY k.open_time),
       w7  AS (m RANGE BETWEEN interval '6 minutes' PRECEDING AND CURRENT ROW),
       w25 AS (m RANGE BETWEEN interval '24 minutes' PRECEDING AND CURRENT ROW),
       w99 AS (m RANGE BETWEEN interval '98 minutes' PRECEDING AND CURRENT ROW),
       day AS (PARTITION BY k.symbol, date_bin(interval '1 day', k.open_time,
                                               timestamptz '2000-01-01 00:00:00+00')
               ORDER BY k.open_time);

COMMENT ON VIEW klines_1m_indicators IS
    'Every stored minute per Binance pair with its VWAP, the mean close of the 7, 25 and 99 clock minutes ending at it (NULL unless all of them are stored; minutes_N counts those stored), and the running VWAP of its UTC day.';

-- CoinMarketCap against Binance. Each CMC quote in USD, at the slot that stored it, beside
-- the close of the <SYMBOL>USDT minute that ended as the slot began (open_time = slot - 1
-- minute): the latest Binance price the slot could have seen. USD and USDT are taken as
-- equal; USDT trades within a few basis points of the dollar in normal markets, so a spread
-- of that size is the stablecoin, not a price disagreement. A slot that stored no new CMC
-- update of the asset (CMC had not updated it) has no row, nor does one whose Binance
-- minute is missing.
CREATE VIEW cmc_binance_spread AS
SELECT q.slot_at,
       q.cmc_id,
       q.symbol,
       k.symbol                                  AS pair,
       q.price                                   AS cmc_price,
       q.last_updated                            AS cmc_last_updated,
       k.open_time                               AS binance_open_time,
       k.close                                   AS binance_close,
       q.price - k.close                         AS spread,
       round((q.price - k.close) / nullif(k.close, 0) * 10000, 4) AS spread_bps
FROM quotes q
JOIN klines_1m k
  ON k.symbol = upper(q.symbol) || 'USDT'
 AND k.open_time = q.slot_at - interval '1 minute'
WHERE q.quote_currency = 'USD';

COMMENT ON VIEW cmc_binance_spread IS
    'Per CMC slot and asset, the CMC USD price against the close of the Binance <SYMBOL>USDT minute before the slot (USD taken as USDT): spread = cmc - binance, spread_bps relative to Binance, rounded to 4 places.';

-- What is missing, as ranges: minutes of a Binance pair between its first and last stored
-- minute, and five-minute slots between the first and last loaded quotes run that no quotes
-- run loaded. Before the first or after the last there is nothing to call a hole. One row per
-- hole: its first and last missing minute or slot, and how many.
CREATE VIEW data_gaps AS
SELECT 'klines' AS dataset,
       g.symbol,
       g.previous + interval '1 minute'   AS first_missing,
       g.open_time - interval '1 minute'  AS last_missing,
       CAST(extract(epoch FROM g.open_time - g.previous) / 60 AS bigint) - 1 AS missing
FROM (
    SELECT k.symbol,
           k.open_time,
           lag(k.open_time) OVER (PARTITION BY k.symbol ORDER BY k.open_time) AS previous
    FROM klines_1m k
) g
WHERE g.open_time - g.previous > interval '1 minute'
UNION ALL
SELECT 'quotes' AS dataset,
       CAST(NULL AS text) AS symbol,
       g.previous + interval '5 minutes'  AS first_missing,
       g.slot_at - interval '5 minutes'   AS last_missing,
       CAST(extract(epoch FROM g.slot_at - g.previous) / 300 AS bigint) - 1 AS missing
FROM (
    SELECT s.slot_at, lag(s.slot_at) OVER (ORDER BY s.slot_at) AS previous
    FROM (SELECT DISTINCT r.slot_at FROM ingest_runs r
          WHERE r.dataset = 'quotes' AND r.status = 'loaded') s
) g
WHERE g.slot_at - g.previous > interval '5 minutes';

COMMENT ON VIEW data_gaps IS
    'Holes in the data as ranges: per Binance pair the minutes missing from klines_1m between its first and last stored minute (dataset klines), and the five-minute slots without a loaded quotes run between the first and last loaded one (dataset quotes, symbol NULL).';

GRANT SELECT ON klines_1m_candles, klines_5m, klines_15m, klines_1h, klines_1m_indicators,
                cmc_binance_spread, data_gaps
    TO coinlake_reader;
GRANT EXECUTE ON FUNCTION kline_rollup(interval) TO coinlake_reader;
