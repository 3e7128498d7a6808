-- coinlake's tables. Numbers are NUMERIC (exact decimal text from the CSV), times are
-- timestamptz (UTC in the files).

CREATE TABLE assets (
    cmc_id      bigint      PRIMARY KEY,
    symbol      text        NOT NULL,
    name        text        NOT NULL,
    slug        text        NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL
);

-- One row per real CMC update of a coin in a quote currency: two slots that observed the
-- same update, or the same file loaded twice, insert it once.
CREATE TABLE quotes (
    cmc_id                   bigint      NOT NULL,
    quote_currency           text        NOT NULL,
    last_updated             timestamptz NOT NULL,
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
    -- The key doubles as the index for "one asset over time" and, read backwards,
    -- "latest per asset".
    PRIMARY KEY (cmc_id, quote_currency, last_updated)
);

-- Time-range scans across all assets (the OHLC and moving-average views, replays by day).
CREATE INDEX quotes_by_time ON quotes (last_updated);
CREATE INDEX quotes_by_slot ON quotes (slot_at);

-- One row per load attempt of an S3 object: what it held and what became of it.
CREATE TABLE ingest_runs (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slot_at          timestamptz NOT NULL,
    dataset          text        NOT NULL,
    s3_key           text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('loaded', 'rejected', 'failed')),
    rows_in_file     integer,
    rows_inserted    integer,
    rows_present     integer,
    rows_rejected    integer,
    credits          integer,
    error            text,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz NOT NULL DEFAULT now(),
    duration_ms      integer GENERATED ALWAYS AS
                         ((extract(epoch FROM finished_at - started_at) * 1000)::integer) STORED
);

CREATE INDEX ingest_runs_by_slot ON ingest_runs (slot_at DESC);
CREATE INDEX ingest_runs_by_key ON ingest_runs (s3_key);
