-- Alerts: the rules people subscribe to and the record of what fired.
--
-- A rule watches one series (a CMC asset in one quote currency, or a Binance pair) or, for
-- `stale`, a whole source. Its state (`armed`, `evaluated_through`, `last_fired_at`) lives
-- on the rule row: evaluation locks the row, reads the observations after
-- `evaluated_through` in time order and moves the state on, so two loads evaluating at once
-- take turns and a crossing fires once. Observations before `evaluate_from` (the rule's
-- creation, unless set earlier on purpose) are never evaluated.
--
-- `alert_events` is the outbox: an event commits in the transaction that fired it (a load,
-- the stale check), and delivery to SNS marks it sent afterwards. A publish that fails
-- leaves it unsent for the next delivery to retry.

CREATE TABLE alert_rules (
    id                 bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    label              text        NOT NULL CHECK (label <> '' AND length(label) <= 200),
    source             text        NOT NULL CHECK (source IN ('cmc', 'binance')),
    -- The series: a CMC asset in one quote currency, or a Binance pair (its quote asset is
    -- part of the pair). Optional for `stale`, which then watches the whole source.
    cmc_id             integer     CHECK (cmc_id > 0),
    quote_currency     text        CHECK (quote_currency ~ '^[A-Z0-9]{2,10}$'),
    pair               text        CHECK (pair ~ '^[A-Z0-9]{5,20}$'),
    kind               text        NOT NULL
                                   CHECK (kind IN ('price_above', 'price_below', 'change_pct', 'stale')),
    -- price_above/price_below: a price in the series' quote currency; change_pct: a signed
    -- percentage (5 fires on a rise of 5 % or more, -5 on a fall of 5 % or more).
    threshold          numeric,
    -- change_pct: the window the change is measured over; stale: the age data may reach.
    window_minutes     integer     CHECK (window_minutes BETWEEN 1 AND 10080),
    -- How far back past the threshold the condition must go before the rule re-arms:
    -- percent of the threshold for prices, percentage points for change_pct.
    hysteresis         numeric     NOT NULL DEFAULT 0 CHECK (hysteresis >= 0 AND hysteresis < 100),
    -- Nothing is sent this soon after the last alert; the rule stays armed, so a condition
    -- still true when the cooldown ends fires then.
    cooldown_minutes   integer     NOT NULL DEFAULT 60 CHECK (cooldown_minutes BETWEEN 0 AND 10080),
    enabled            boolean     NOT NULL DEFAULT true,
    evaluate_from      timestamptz NOT NULL DEFAULT now(),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    -- Evaluation state.
    armed              boolean     NOT NULL DEFAULT true,
    evaluated_through  timestamptz,
    last_fired_at      timestamptz,
    CHECK (CASE source
               WHEN 'cmc' THEN pair IS NULL
               ELSE cmc_id IS NULL AND quote_currency IS NULL
           END),
    CHECK ((cmc_id IS NULL) = (quote_currency IS NULL)),
    CHECK (CASE kind
               WHEN 'stale' THEN threshold IS NULL AND window_minutes IS NOT NULL AND hysteresis = 0
               WHEN 'change_pct' THEN threshold <> 0 AND window_minutes IS NOT NULL
                                      AND (cmc_id IS NOT NULL OR pair IS NOT NULL)
               ELSE threshold > 0 AND window_minutes IS NULL
                    AND (cmc_id IS NOT NULL OR pair IS NOT NULL)
           END)
);

COMMENT ON TABLE alert_rules IS
    'Alert rules and their evaluation state; an alert fires once per crossing and re-arms after the condition has been false by the hysteresis.';

CREATE INDEX alert_rules_by_cmc_series ON alert_rules (cmc_id, quote_currency) WHERE source = 'cmc';
CREATE INDEX alert_rules_by_pair ON alert_rules (pair) WHERE source = 'binance';

CREATE TABLE alert_events (
    id                 bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- NULL for operator alerts (CMC credit notices) and once the rule is deleted; the
    -- event keeps what it needs to be read without it.
    rule_id            bigint      REFERENCES alert_rules (id) ON DELETE SET NULL,
    audience           text        NOT NULL CHECK (audience IN ('market', 'operator')),
    kind               text        NOT NULL
                                   CHECK (kind IN ('price_above', 'price_below', 'change_pct', 'stale',
                                                   'cmc_credit_notice')),
    label              text        NOT NULL,
    source             text        CHECK (source IN ('cmc', 'binance')),
    cmc_id             integer,
    quote_currency     text,
    pair               text,
    -- The observation that crossed (a price's time; for stale, the check's time).
    observed_at        timestamptz NOT NULL,
    -- What crossed: the price, the change in percent, or the data's age in minutes.
    value              numeric,
    threshold          numeric,
    message            text        NOT NULL,
    -- One event per rule and crossing, one operator alert per credit period: a second
    -- insert of the same key is dropped.
    dedupe_key         text        NOT NULL UNIQUE,
    -- The object whose load fired it; NULL for the scheduled stale check.
    s3_key             text,
    fired_at           timestamptz NOT NULL DEFAULT now(),
    -- Delivery (the outbox side).
    delivery_attempts  integer     NOT NULL DEFAULT 0,
    last_error         text,
    claimed_until      timestamptz,
    sent_at            timestamptz,
    message_id         text
);

COMMENT ON TABLE alert_events IS
    'Every alert fired, committed with the data that fired it; sent_at is set once SNS accepted it.';

CREATE INDEX alert_events_unsent ON alert_events (id) WHERE sent_at IS NULL;
CREATE INDEX alert_events_recent ON alert_events (fired_at DESC);
CREATE INDEX alert_events_by_rule ON alert_events (rule_id, fired_at DESC);

-- The api edits rules through a role of its own: the reader role stays read-only. Give the
-- api's login user both:
--   GRANT coinlake_reader, coinlake_alert_editor TO coinlake_api;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'coinlake_alert_editor') THEN
        CREATE ROLE coinlake_alert_editor NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO coinlake_alert_editor;
GRANT SELECT, INSERT, UPDATE, DELETE ON alert_rules TO coinlake_alert_editor;
-- Deleting a rule sets its events' rule_id to NULL as the table's owner: no UPDATE on
-- alert_events is needed.
GRANT SELECT ON alert_events TO coinlake_alert_editor;
GRANT SELECT ON alert_rules, alert_events TO coinlake_reader;
