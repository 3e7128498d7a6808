-- Stale-data alerts: `alert_stale_check(at)` evaluates every enabled `stale` rule at the
-- time `at`, as the load function's scheduled alerts event calls it every five minutes.
--
-- A rule's newest observation is read through indexes, never by scanning the data:
--   cmc, one asset    the first slot that saw the asset's newest CMC update (`quotes`
--                     primary key, newest `last_updated` first, in every monthly partition)
--   cmc, any asset    the newest `slot_at` (`quotes_by_slot`)
--   binance, one pair the newest minute's `close_time` (`klines_1m` primary key)
--   binance, any pair the newest of each pair's newest minute, the pairs found by a skip
--                     scan of the primary key (a handful of index probes, not a scan)
-- Only observations at or before `at` count, so a check run late for an earlier time
-- judges that time. For one asset the first slot that saw the newest update is used, not
-- the latest row: `quotes` holds an update again on each UTC day it is observed, and that
-- copy is not new data.
--
-- The data is stale when `at` is more than `window_minutes` after the newest observation
-- (after `evaluate_from` when nothing was ever stored). As for the other kinds, an armed
-- rule fires once and disarms; within `cooldown_minutes` of its last alert it sends
-- nothing and stays armed (the first check after the cooldown that finds the data still
-- stale fires); it re-arms once the data is fresh again. Rules are locked in id order,
-- so two checks at once take turns, and a check at or before the rule's
-- `evaluated_through` is late and changes nothing. The event's dedupe key names the newest
-- observation: one stale episode is one event, however often it is checked.

CREATE FUNCTION alert_stale_check(check_at timestamptz)
RETURNS TABLE (rule_id bigint, outcome text, newest timestamptz, age_minutes numeric, event_id bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    stale_rule alert_rules%ROWTYPE;
    basis     timestamptz;
    is_stale  boolean;
    series    text;
    seen      text;
BEGIN
    IF check_at IS NULL THEN
        RAISE EXCEPTION 'alert_stale_check needs a time' USING ERRCODE = '22004';
    END IF;
    FOR stale_rule IN
        SELECT * FROM alert_rules r
        WHERE r.kind = 'stale' AND r.enabled
        ORDER BY r.id
        FOR UPDATE
    LOOP
        rule_id := stale_rule.id;
        newest := NULL;
        age_minutes := NULL;
        event_id := NULL;
        IF stale_rule.evaluated_through IS NOT NULL AND check_at <= stale_rule.evaluated_through THEN
            outcome := 'late';
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF check_at < stale_rule.evaluate_from THEN
            outcome := 'not_started';
            RETURN NEXT;
            CONTINUE;
        END IF;

        IF stale_rule.source = 'cmc' AND stale_rule.cmc_id IS NOT NULL THEN
            SELECT min(q.slot_at) INTO newest
            FROM quotes q
            WHERE q.cmc_id = stale_rule.cmc_id
              AND q.quote_currency = stale_rule.quote_currency
              AND q.slot_at <= check_at
              AND q.last_updated = (
                  SELECT n.last_updated FROM quotes n
                  WHERE n.cmc_id = stale_rule.cmc_id
                    AND n.quote_currency = stale_rule.quote_currency
                    AND n.slot_at <= check_at
                  ORDER BY n.last_updated DESC
                  LIMIT 1);
            series := format('CoinMarketCap asset %s (%s)', stale_rule.cmc_id, stale_rule.quote_currency);
        ELSIF stale_rule.source = 'cmc' THEN
            SELECT max(q.slot_at) INTO newest FROM quotes q WHERE q.slot_at <= check_at;
            series := 'CoinMarketCap';
        ELSIF stale_rule.pair IS NOT NULL THEN
            SELECT k.close_time INTO newest
            FROM klines_1m k
            WHERE k.symbol = stale_rule.pair
              AND k.open_time <= check_at - interval '59.999 seconds'
            ORDER BY k.open_time DESC
            LIMIT 1;
            series := format('Binance pair %s', stale_rule.pair);
        ELSE
            WITH RECURSIVE pairs(symbol) AS (
                (SELECT k.symbol FROM klines_1m k ORDER BY k.symbol LIMIT 1)
                UNION ALL
                SELECT (SELECT k.symbol FROM klines_1m k
                        WHERE k.symbol > p.symbol ORDER BY k.symbol LIMIT 1)
                FROM pairs p
                WHERE p.symbol IS NOT NULL
            )
            SELECT max((SELECT k.close_time FROM klines_1m k
                        WHERE k.symbol = pairs.symbol
                          AND k.open_time <= check_at - interval '59.999 seconds'
                        ORDER BY k.open_time DESC
                        LIMIT 1))
            INTO newest
            FROM pairs
            WHERE pairs.symbol IS NOT NULL;
            series := 'Binance';
        END IF;

        basis := coalesce(newest, stale_rule.evaluate_from);
        age_minutes := round(CAST(extract(epoch FROM check_at - basis) AS numeric) / 60, 1);
        is_stale := check_at - basis > make_interval(mins => stale_rule.window_minutes);

        IF stale_rule.armed AND is_stale THEN
            IF stale_rule.last_fired_at IS NOT NULL
               AND check_at < stale_rule.last_fired_at + make_interval(mins => stale_rule.cooldown_minutes) THEN
                -- Nothing sent and the rule stays armed: the first check after the
                -- cooldown that still finds the data stale fires, so an outage that
                -- outlasts the cooldown is reported.
                outcome := 'cooldown';
                UPDATE alert_rules SET evaluated_through = check_at
                WHERE id = stale_rule.id;
            ELSE
                seen := CASE WHEN newest IS NULL
                             THEN format('nothing stored since the rule started at %s',
                                         to_char(basis AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'))
                             ELSE format('last at %s',
                                         to_char(basis AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'))
                        END;
                INSERT INTO alert_events (rule_id, audience, kind, label, source, cmc_id,
                                          quote_currency, pair, observed_at, value, threshold,
                                          message, dedupe_key)
                VALUES (stale_rule.id, 'market', 'stale', stale_rule.label, stale_rule.source, stale_rule.cmc_id,
                        stale_rule.quote_currency, stale_rule.pair, check_at, age_minutes,
                        stale_rule.window_minutes,
                        format('%s: %s has had no new data for %s minutes (%s; stale after %s minutes)',
                               stale_rule.label, series, age_minutes, seen, stale_rule.window_minutes),
                        -- The rule's start is part of the key: a rule started over may
                        -- report an episode it reported before.
                        format('rule:%s:%s:stale:%s', stale_rule.id,
                               CAST(floor(extract(epoch FROM stale_rule.evaluate_from) * 1000) AS bigint),
                               CAST(floor(extract(epoch FROM basis) * 1000) AS bigint)))
                ON CONFLICT (dedupe_key) DO NOTHING
                RETURNING id INTO event_id;
                outcome := CASE WHEN event_id IS NULL THEN 'duplicate' ELSE 'fired' END;
                -- The cooldown runs from an alert that exists, not from a dropped duplicate.
                UPDATE alert_rules
                SET armed = false,
                    last_fired_at = CASE WHEN event_id IS NULL THEN last_fired_at ELSE check_at END,
                    evaluated_through = check_at
                WHERE id = stale_rule.id;
            END IF;
        ELSIF NOT stale_rule.armed AND NOT is_stale THEN
            outcome := 'rearmed';
            UPDATE alert_rules SET armed = true, evaluated_through = check_at
            WHERE id = stale_rule.id;
        ELSE
            outcome := CASE WHEN is_stale THEN 'still_stale' ELSE 'fresh' END;
            UPDATE alert_rules SET evaluated_through = check_at WHERE id = stale_rule.id;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;

COMMENT ON FUNCTION alert_stale_check(timestamptz) IS
    'Evaluates every enabled stale rule at the given time (rules locked in id order); fires one alert_events row per stale episode and re-arms on fresh data. One row per rule: its outcome (fired, duplicate, cooldown, rearmed, still_stale, fresh, late, not_started).';

-- It writes rules and events: only its owner (the load function's user) runs it, not the
-- reader role or the api's rule editor.
REVOKE EXECUTE ON FUNCTION alert_stale_check(timestamptz) FROM PUBLIC;
