-- The rollup watermark (V6) reads loaded quotes runs not rolled up yet. Klines runs share
-- ingest_runs (V7) but change no candle and are never marked rolled up, so the partial
-- index of V6 would gather every klines run for good; it now holds quotes runs only, and
-- the rollup names the dataset so the planner can use it.
DROP INDEX ingest_runs_to_roll_up;

CREATE INDEX ingest_runs_to_roll_up ON ingest_runs (slot_at)
    WHERE rolled_up_at IS NULL AND status = 'loaded' AND dataset = 'quotes';
