-- Binance one-minute klines (the `klines` dataset: raw/klines/interval=1m/...), one row per
-- pair and minute. A minute that closed is final on Binance, so the first load of it wins:
-- a slot object, an overlapping retry or an archive day that covers the same minute add
-- nothing (`ON CONFLICT DO NOTHING`, counted as already present).
--
-- Not partitioned: five pairs are 7,200 rows a day, 2.6 million a year, which the primary
-- key serves for every per-pair range the views and the API read.

CREATE TABLE klines_1m (
    symbol                  text        NOT NULL,
    open_time               timestamptz NOT NULL,
    close_time              timestamptz NOT NULL,
    open                    numeric     NOT NULL,
    high                    numeric     NOT NULL,
    low                     numeric     NOT NULL,
    close                   numeric     NOT NULL,
    volume                  numeric     NOT NULL,
    quote_volume            numeric     NOT NULL,
    trades                  bigint      NOT NULL,
    taker_buy_base_volume   numeric     NOT NULL,
    taker_buy_quote_volume  numeric     NOT NULL,
    s3_key                  text        NOT NULL,
    loaded_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, open_time),
    CHECK (close_time = open_time + interval '59.999 seconds'),
    CHECK (date_trunc('minute', open_time) = open_time),
    CHECK (trades >= 0)
);

COMMENT ON TABLE klines_1m IS
    'Binance spot one-minute klines by pair and open time, exact decimal values as Binance sent them; the first load of a minute wins.';

-- Loads of both datasets share ingest_runs (its `dataset` column tells them apart). The
-- rollup watermark (V6) reads loaded quotes runs not rolled up yet; klines runs change no
-- candle and are never marked rolled up, so V6's partial index would gather every klines
-- run for good. It holds quotes runs only, and the rollup names the dataset so the
-- planner can use it.
DROP INDEX ingest_runs_to_roll_up;

CREATE INDEX ingest_runs_to_roll_up ON ingest_runs (slot_at)
    WHERE rolled_up_at IS NULL AND status = 'loaded' AND dataset = 'quotes';

GRANT SELECT ON klines_1m TO coinlake_reader;
