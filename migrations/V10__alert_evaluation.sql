-- Alert evaluation, run by every load inside its transaction once the file's rows are
-- stored (docs/alerts.md). One call per load: `evaluate_quote_alerts` or
-- `evaluate_kline_alerts` (the Data API sink pays a round trip per statement).
--
-- Locking: a load has written (and locked) its quotes or klines rows in key order before it
-- gets here; the call then locks the enabled rules of the series its file touched, in id
-- order, and only then, in later statements that see what a concurrent load committed while
-- this one waited, reads the observations after each rule's `evaluated_through`. Rules are
-- never locked before a row write, so the two lock orders cannot cross: concurrent loads
-- take turns on a rule and a crossing fires once.

-- A number as an alert message shows it: thousands separated, no trailing zeros
-- (100250.1200 -> '100,250.12'); beyond what the pattern holds, as plain text.
CREATE FUNCTION alert_number(value numeric) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN abs(value) >= 1e36 THEN CAST(trim_scale(value) AS text) ELSE
           CASE WHEN value < 0 THEN '-' ELSE '' END
        || to_char(trunc(abs(value)), 'FM999,999,999,999,999,999,999,999,999,999,990')
        || CASE WHEN trim_scale(abs(value) - trunc(abs(value))) = 0 THEN ''
                ELSE substr(CAST(trim_scale(abs(value) - trunc(abs(value))) AS text), 2)
           END
           END
$$;

-- Evaluates one locked rule over the stored observations of its series after
-- `evaluated_through` (and at or after `evaluate_from`), in time order, moves its state and
-- inserts the events it fires. Returns how many it fired. `p_quiet`: state moves, nothing
-- fires (a replay of old data).
CREATE FUNCTION evaluate_alert_rule(ar alert_rules, p_s3_key text, p_quiet boolean)
RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    observations refcursor;
    observed     timestamptz;
    price        numeric;
    symbol       text;
    reference    numeric;
    value        numeric;
    crossed      boolean;
    rearmed      boolean;
    is_armed     boolean     := ar.armed;
    last_fired   timestamptz := ar.last_fired_at;
    through      timestamptz := ar.evaluated_through;
    since        timestamptz := greatest(coalesce(ar.evaluated_through, '-infinity'),
                                         ar.evaluate_from - interval '1 microsecond');
    kline_close  constant interval := interval '59.999 seconds';
    -- How much older than now - window a change_pct reference may be: two CMC slots. An
    -- older one means the data has a gap, and a move over the gap is not a move "in the
    -- window".
    reference_slack constant interval := interval '10 minutes';
    window_start timestamptz;
    series       text;
    message      text;
    inserted     integer;
    fired        integer := 0;
BEGIN
    IF ar.kind NOT IN ('price_above', 'price_below', 'change_pct') THEN
        RETURN 0;
    END IF;
    -- A CMC series: one observation per CMC update (a quote stored on two UTC days is the
    -- same update seen twice). A Binance pair: one per closed minute, keyed by open time.
    IF ar.source = 'cmc' THEN
        OPEN observations FOR
            SELECT DISTINCT ON (q.last_updated) q.last_updated, q.price, q.symbol
            FROM quotes q
            WHERE q.cmc_id = ar.cmc_id AND q.quote_currency = ar.quote_currency
              AND q.last_updated > since
            ORDER BY q.last_updated, q.observed_on;
    ELSE
        OPEN observations FOR
            SELECT k.close_time, k.close, k.symbol
            FROM klines_1m k
            WHERE k.symbol = ar.pair AND k.open_time > since - kline_close
            ORDER BY k.open_time;
    END IF;

    LOOP
        FETCH observations INTO observed, price, symbol;
        EXIT WHEN NOT FOUND;
        through := observed;
        IF ar.kind = 'change_pct' THEN
            -- The latest stored price at or before now - window, and no more than
            -- `reference_slack` before it; without one (a gap in the data) or with a price
            -- of zero there is no change to measure and the observation is passed.
            window_start := observed - make_interval(mins => ar.window_minutes);
            IF ar.source = 'cmc' THEN
                SELECT q.price INTO reference FROM quotes q
                WHERE q.cmc_id = ar.cmc_id AND q.quote_currency = ar.quote_currency
                  AND q.last_updated <= window_start
                  AND q.last_updated >= window_start - reference_slack
                ORDER BY q.last_updated DESC LIMIT 1;
            ELSE
                SELECT k.close INTO reference FROM klines_1m k
                WHERE k.symbol = ar.pair
                  AND k.open_time <= window_start - kline_close
                  AND k.open_time >= window_start - kline_close - reference_slack
                ORDER BY k.open_time DESC LIMIT 1;
            END IF;
            IF NOT FOUND OR reference <= 0 THEN
                CONTINUE;
            END IF;
            value := round((price - reference) / reference * 100, 6);
            IF ar.threshold > 0 THEN
                crossed := value >= ar.threshold;
                rearmed := value < ar.threshold - ar.hysteresis;
            ELSE
                crossed := value <= ar.threshold;
                rearmed := value > ar.threshold + ar.hysteresis;
            END IF;
        ELSE
            value := price;
            IF ar.kind = 'price_above' THEN
                crossed := price >= ar.threshold;
                rearmed := price < ar.threshold * (1 - ar.hysteresis / 100);
            ELSE
                crossed := price <= ar.threshold;
                rearmed := price > ar.threshold * (1 + ar.hysteresis / 100);
            END IF;
        END IF;

        IF is_armed AND crossed AND p_quiet THEN
            -- A quiet evaluation (a replay of old data) moves the state as a live one
            -- would, and sends nothing.
            is_armed := false;
        ELSIF is_armed AND crossed
              AND last_fired IS NOT NULL
              AND observed < last_fired + make_interval(mins => ar.cooldown_minutes) THEN
            -- Within the cooldown of the last alert (by observation time) nothing is sent
            -- and the rule stays armed: the first observation after the cooldown at which
            -- the condition still holds fires, so a condition that stays true is reported.
            NULL;
        ELSIF is_armed AND crossed THEN
            is_armed := false;
            series := CASE ar.source
                          WHEN 'cmc' THEN format('%s (%s) %s', symbol, ar.cmc_id, ar.quote_currency)
                          ELSE ar.pair
                      END;
            message := CASE ar.kind
                WHEN 'price_above' THEN format('%s %s rose above %s', series,
                                               alert_number(price), alert_number(ar.threshold))
                WHEN 'price_below' THEN format('%s %s fell below %s', series,
                                               alert_number(price), alert_number(ar.threshold))
                ELSE format('%s %s %s %% in %s minutes, from %s to %s', series,
                            CASE WHEN value >= 0 THEN 'rose' ELSE 'fell' END,
                            alert_number(round(abs(value), 2)), ar.window_minutes,
                            alert_number(reference), alert_number(price))
            END || format(' (rule %L)', ar.label);
            INSERT INTO alert_events (rule_id, audience, kind, label, source, cmc_id,
                                      quote_currency, pair, observed_at, value, threshold,
                                      message, dedupe_key, s3_key)
            VALUES (ar.id, 'market', ar.kind, ar.label, ar.source, ar.cmc_id,
                    ar.quote_currency, ar.pair, observed, value, ar.threshold,
                    message,
                    -- The rule's start is part of the key: a rule started over (a
                    -- changed condition) may fire again for an observation it fired
                    -- for before.
                    format('rule:%s:%s:%s', ar.id,
                           CAST(floor(extract(epoch FROM ar.evaluate_from) * 1000) AS bigint),
                           CAST(floor(extract(epoch FROM observed) * 1000) AS bigint)),
                    p_s3_key)
            ON CONFLICT (dedupe_key) DO NOTHING;
            GET DIAGNOSTICS inserted = ROW_COUNT;
            fired := fired + inserted;
            -- The cooldown runs from an alert that exists, not from a dropped duplicate.
            IF inserted > 0 THEN
                last_fired := observed;
            END IF;
        ELSIF NOT is_armed AND rearmed THEN
            is_armed := true;
        END IF;
    END LOOP;
    CLOSE observations;

    IF through IS DISTINCT FROM ar.evaluated_through THEN
        UPDATE alert_rules
        SET armed = is_armed,
            evaluated_through = through,
            last_fired_at = last_fired
        WHERE id = ar.id;
    END IF;
    RETURN fired;
END
$$;

-- The rules of the series in the staged file (`load_quotes`), locked in id order, then
-- evaluated. Returns how many alerts fired.
CREATE FUNCTION evaluate_quote_alerts(p_s3_key text, p_quiet boolean) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    ids   bigint[];
    ar    alert_rules;
    fired integer := 0;
BEGIN
    SELECT coalesce(array_agg(locked.id ORDER BY locked.id), '{}') INTO ids
    FROM (SELECT r.id FROM alert_rules r
          WHERE r.source = 'cmc' AND r.enabled AND r.kind <> 'stale'
            AND EXISTS (SELECT 1 FROM load_quotes s
                        WHERE s.cmc_id = r.cmc_id AND s.quote_currency = r.quote_currency)
          ORDER BY r.id
          FOR UPDATE OF r) locked;
    -- A statement of its own: it reads the rules as they are once locked, and the rows
    -- concurrent loads committed while this one waited.
    FOR ar IN SELECT * FROM alert_rules WHERE id = ANY (ids) AND enabled ORDER BY id LOOP
        fired := fired + evaluate_alert_rule(ar, p_s3_key, p_quiet);
    END LOOP;
    RETURN fired;
END
$$;

-- The same for the pairs in the staged klines file (`load_klines`).
CREATE FUNCTION evaluate_kline_alerts(p_s3_key text, p_quiet boolean) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    ids   bigint[];
    ar    alert_rules;
    fired integer := 0;
BEGIN
    SELECT coalesce(array_agg(locked.id ORDER BY locked.id), '{}') INTO ids
    FROM (SELECT r.id FROM alert_rules r
          WHERE r.source = 'binance' AND r.enabled AND r.kind <> 'stale'
            AND EXISTS (SELECT 1 FROM load_klines s WHERE s.symbol = r.pair)
          ORDER BY r.id
          FOR UPDATE OF r) locked;
    FOR ar IN SELECT * FROM alert_rules WHERE id = ANY (ids) AND enabled ORDER BY id LOOP
        fired := fired + evaluate_alert_rule(ar, p_s3_key, p_quiet);
    END LOOP;
    RETURN fired;
END
$$;

COMMENT ON FUNCTION evaluate_quote_alerts(text, boolean) IS
    'Run by a quotes load after its rows are stored: locks the rules of the staged series in id order, evaluates them, inserts the events fired (none when quiet); returns how many fired.';
COMMENT ON FUNCTION evaluate_kline_alerts(text, boolean) IS
    'Run by a klines load after its rows are stored: locks the rules of the staged pairs in id order, evaluates them, inserts the events fired (none when quiet); returns how many fired.';

-- Only loads evaluate, as the owner (the user that migrates and loads): neither the reader
-- nor the rule editor can run an evaluation or fire an alert. (The editor may write a
-- rule's state columns, which the API does only to start a changed rule over.)
REVOKE EXECUTE ON FUNCTION evaluate_alert_rule(alert_rules, text, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION evaluate_quote_alerts(text, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION evaluate_kline_alerts(text, boolean) FROM PUBLIC;
