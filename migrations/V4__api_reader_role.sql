-- A read-only role for the api function (and any dashboard or BI tool): it may read the
-- tables, views and candle function, and write nothing. Give a login user its rights with
--   CREATE ROLE coinlake_api LOGIN PASSWORD '…' IN ROLE coinlake_reader;
-- and point the api function's DB secret at that user.
--
-- Roles belong to the whole server, not one database, so the role is created only if no
-- earlier migration (of this or another database on the same server) made it; two
-- databases migrating at once may race on it, which either way leaves one role.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'coinlake_reader') THEN
        CREATE ROLE coinlake_reader NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO coinlake_reader;
GRANT SELECT ON quotes, assets, ingest_runs TO coinlake_reader;
GRANT SELECT ON latest_quotes, ohlc_5m, ohlc_1h, ohlc_1d, price_moving_averages, price_changes
    TO coinlake_reader;
GRANT EXECUTE ON FUNCTION quote_ohlc(interval) TO coinlake_reader;
-- Tables and views later migrations add are readable too.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO coinlake_reader;
