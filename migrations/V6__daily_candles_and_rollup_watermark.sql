-- The daily rollup: one candle per asset, quote currency and UTC day observed, with the
-- meaning of the curated layer's gold file (curated/ohlc_1d/...), computed from the day's
-- `quotes` rows. It outlives the month partitions retention drops, so the API's daily
-- candles and a year of history stay in PostgreSQL after the raw rows have gone to S3.

CREATE TABLE daily_candles (
    cmc_id          bigint      NOT NULL,
    quote_currency  text        NOT NULL,
    -- The observed day (quotes.observed_on): its rows include the update still current at
    -- midnight, so `open` is the price in effect when the day began, as in the gold file.
    day             date        NOT NULL,
    symbol          text        NOT NULL,
    open            numeric     NOT NULL,
    high            numeric     NOT NULL,
    low             numeric     NOT NULL,
    close           numeric     NOT NULL,
    samples         bigint      NOT NULL,
    volume_24h      numeric,
    market_cap      numeric,
    first_update    timestamptz NOT NULL,
    last_update     timestamptz NOT NULL,
    -- Not a gold column: the mean of the day's volume_24h, which the API's candles carry.
    avg_volume_24h  numeric,
    PRIMARY KEY (cmc_id, quote_currency, day)
);

COMMENT ON TABLE daily_candles IS
    'One candle per cmc_id, quote_currency and UTC day observed, from that day''s quotes rows taken in (last_updated, slot_at) order: the gold Parquet file''s columns and meaning. Kept after retention drops the month.';

-- Which days are rolled up, and from how many quotes rows: retention drops a month only
-- when this count, PostgreSQL's count and the silver object's `rows` all agree.
CREATE TABLE daily_rollups (
    day           date        PRIMARY KEY,
    quote_rows    bigint      NOT NULL,
    rolled_up_at  timestamptz NOT NULL
);

COMMENT ON TABLE daily_rollups IS
    'Days whose daily_candles are computed, with the number of quotes rows they were computed from.';

-- The watermark: a loaded run not yet rolled up names a day whose quotes changed since its
-- rollup. A run's row commits with its rows, so the one statement that marks runs and
-- rolls their days up (one snapshot) sees exactly the rows of the runs it marks.
ALTER TABLE ingest_runs ADD COLUMN rolled_up_at timestamptz;

CREATE INDEX ingest_runs_to_roll_up ON ingest_runs (slot_at)
    WHERE rolled_up_at IS NULL AND status = 'loaded';

GRANT SELECT ON daily_candles, daily_rollups TO coinlake_reader;
