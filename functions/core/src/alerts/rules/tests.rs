use super::*;

fn parse(body: &str) -> Result<RuleConfig, RuleError> {
    RuleConfig::from_json(body.as_bytes(), None)
}

fn problems(body: &str) -> String {
    match parse(body) {
        Ok(config) => panic!("accepted {body}: {config:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn a_price_rule_keeps_its_threshold_exact_and_takes_the_defaults() {
    let config = parse(
        r#"{"label": "BTC over 100k", "source": "cmc", "cmc_id": 1, "quote_currency": "usd",
            "kind": "price_above", "threshold": 100000.000000000000000001}"#,
    )
    .unwrap();
    assert_eq!(
        config,
        RuleConfig {
            label: "BTC over 100k".to_owned(),
            source: Source::Cmc,
            cmc_id: Some(1),
            quote_currency: Some("USD".to_owned()),
            pair: None,
            kind: Kind::PriceAbove,
            threshold: Some("100000.000000000000000001".to_owned()),
            window_minutes: None,
            hysteresis: "0".to_owned(),
            cooldown_minutes: DEFAULT_COOLDOWN,
            enabled: true,
            evaluate_from: None,
        }
    );
    let config = parse(
        r#"{"label": "ETH -5% in 1h", "source": "binance", "pair": "ETHUSDT", "kind": "change_pct",
            "threshold": "-5", "window_minutes": 60, "hysteresis": 1.5e0, "cooldown_minutes": 0,
            "enabled": false, "evaluate_from": "2024-06-01T12:00:00+02:00"}"#,
    )
    .unwrap();
    assert_eq!(config.threshold.as_deref(), Some("-5"));
    assert_eq!(config.hysteresis, "1.5");
    assert_eq!(config.cooldown_minutes, 0);
    assert!(!config.enabled);
    assert_eq!(
        config.evaluate_from.unwrap().to_rfc3339(),
        "2024-06-01T10:00:00+00:00"
    );
    let stale = parse(r#"{"label": "no Binance data", "source": "binance", "kind": "stale", "window_minutes": 15}"#)
        .unwrap();
    assert_eq!((stale.pair, stale.threshold), (None, None));
}

#[test]
fn read_only_fields_are_ignored_so_a_rule_read_back_can_be_sent_again() {
    let config = parse(
        r#"{"id": 7, "label": "x", "source": "cmc", "kind": "stale", "window_minutes": 30,
            "armed": false, "evaluated_through": null, "last_fired_at": "2024-01-01T00:00:00Z",
            "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
            "cmc_id": null, "quote_currency": null, "pair": null, "threshold": null}"#,
    )
    .unwrap();
    assert_eq!(config.kind, Kind::Stale);
}

#[test]
fn every_bad_field_is_named_with_the_rule() {
    let cmc = r#""source": "cmc", "cmc_id": 1, "quote_currency": "USD""#;
    for (body, expected) in [
        (format!(r#"{{{cmc}, "kind": "price_above", "threshold": 1}}"#), "rule (new, unlabelled): label is required"),
        (format!(r#"{{"label": "", {cmc}, "kind": "price_above", "threshold": 1}}"#), "label must not be empty"),
        (format!(r#"{{"label": "{}", {cmc}, "kind": "price_above", "threshold": 1}}"#, "x".repeat(201)), "label is 201 characters long; at most 200"),
        (format!(r#"{{"label": "a\nb", {cmc}, "kind": "price_above", "threshold": 1}}"#), "label must be one line"),
        (format!(r#"{{"label": 5, {cmc}, "kind": "price_above", "threshold": 1}}"#), "label must be a string, not 5"),
        (r#"{"label": "r", "source": "kraken", "kind": "stale", "window_minutes": 5}"#.to_owned(), "rule \"r\": source must be cmc or binance, not \"kraken\""),
        (r#"{"label": "r", "kind": "stale", "window_minutes": 5}"#.to_owned(), "source is required"),
        (format!(r#"{{"label": "r", {cmc}, "kind": "price_over", "threshold": 1}}"#), "kind must be price_above, price_below, change_pct or stale"),
        (format!(r#"{{"label": "r", {cmc}, "threshold": 1}}"#), "kind is required"),
        (r#"{"label": "r", "source": "cmc", "cmc_id": 0, "quote_currency": "USD", "kind": "price_above", "threshold": 1}"#.to_owned(), "cmc_id must be a whole number from 1 to 2147483647, not 0"),
        (r#"{"label": "r", "source": "cmc", "cmc_id": 1.5, "quote_currency": "USD", "kind": "price_above", "threshold": 1}"#.to_owned(), "cmc_id must be a whole number"),
        (r#"{"label": "r", "source": "cmc", "cmc_id": "1", "quote_currency": "USD", "kind": "price_above", "threshold": 1}"#.to_owned(), "cmc_id must be a whole number"),
        (r#"{"label": "r", "source": "cmc", "cmc_id": 1, "quote_currency": "U$D", "kind": "price_above", "threshold": 1}"#.to_owned(), "quote_currency must be a currency code"),
        (r#"{"label": "r", "source": "cmc", "cmc_id": 1, "kind": "price_above", "threshold": 1}"#.to_owned(), "quote_currency is required with the other"),
        (r#"{"label": "r", "source": "cmc", "quote_currency": "USD", "kind": "price_above", "threshold": 1}"#.to_owned(), "cmc_id is required with the other"),
        (r#"{"label": "r", "source": "cmc", "kind": "price_above", "threshold": 1}"#.to_owned(), "cmc_id is required: price and change rules watch one series"),
        (r#"{"label": "r", "source": "binance", "kind": "change_pct", "threshold": 1, "window_minutes": 5}"#.to_owned(), "pair is required: price and change rules"),
        (format!(r#"{{"label": "r", {cmc}, "pair": "BTCUSDT", "kind": "price_above", "threshold": 1}}"#), "pair is for source binance"),
        (r#"{"label": "r", "source": "binance", "pair": "BTCUSDT", "cmc_id": 1, "kind": "price_above", "threshold": 1}"#.to_owned(), "cmc_id is for source cmc"),
        (r#"{"label": "r", "source": "binance", "pair": "btcusdt", "kind": "price_above", "threshold": 1}"#.to_owned(), "pair must be a Binance pair such as BTCUSDT"),
        (r#"{"label": "r", "source": "binance", "pair": "BTC", "kind": "price_above", "threshold": 1}"#.to_owned(), "pair must be a Binance pair"),
        (format!(r#"{{"label": "r", {cmc}, "kind": "price_above"}}"#), "threshold is required for kinds price_above and price_below"),
        (format!(r#"{{"label": "r", {cmc}, "kind": "price_below", "threshold": 0}}"#), "threshold must be a price above 0"),
        (format!(r#"{{"label": "r", {cmc}, "kind": "price_below", "threshold": -3}}"#), "threshold must be a price above 0"),
        (format!(r#"{{"label": "r", {cmc}, "kind": "price_above", "threshold": "lots"}}"#), "threshold must be a decimal number such as 65000.5"),
        (format!(r#"{{"label": "r", {cmc}, "kind": "price_above", "threshold": true}}"#), "threshold must be a decimal number"),
        (format!(r#"{{"label": "r", {cmc}, "kind": "price_above", "threshold": 1e999}}"#), "threshold must be a decimal number"),
        (format!(r#"{{"label": "r", {cmc}, "kind": "price_above", "threshold": "{}"}}"#, "9".repeat(61)), "at most 60 characters"),
        (format!(r#"{{"label": "r", {cmc}, "kind": "price_above", "threshold": 1, "window_minutes": 5}}"#), "window_minutes is only for kinds change_pct and stale"),
        (format!(r#"{{"label": "r", {cmc}, "kind": "change_pct", "threshold": 0, "window_minutes": 60}}"#), "threshold must not be 0 for kind change_pct"),
        (format!(r#"{{"label": "r", {cmc}, "kind": "change_pct", "window_minutes": 60}}"#), "threshold is required for kind change_pct"),
        (format!(r#"{{"label": "r", {cmc}, "kind": "change_pct", "threshold": 5}}"#), "window_minutes is required for kind change_pct"),
        (format!(r#"{{"label": "r", {cmc}, "kind": "change_pct", "threshold": 5, "window_minutes": 0}}"#), "window_minutes must be a whole number from 1 to 10080, not 0"),
        (format!(r#"{{"label": "r", {cmc}, "kind": "change_pct", "threshold": 5, "window_minutes": 10081}}"#), "window_minutes must be a whole number from 1 to 10080"),
        (r#"{"label": "r", "source": "cmc", "kind": "stale"}"#.to_owned(), "window_minutes is required for kind stale"),
        (r#"{"label": "r", "source": "cmc", "kind": "stale", "window_minutes": 5, "threshold": 1}"#.to_owned(), "threshold is not used by kind stale"),
        (r#"{"label": "r", "source": "cmc", "kind": "stale", "window_minutes": 5, "hysteresis": 2}"#.to_owned(), "hysteresis must be 0 (or left out) for kind stale"),
        (format!(r#"{{"label": "r", {cmc}, "kind": "price_above", "threshold": 1, "hysteresis": 100}}"#), "hysteresis must be at least 0 and below 100"),
        (format!(r#"{{"label": "r", {cmc}, "kind": "price_above", "threshold": 1, "hysteresis": -1}}"#), "hysteresis must be at least 0 and below 100"),
        (format!(r#"{{"label": "r", {cmc}, "kind": "price_above", "threshold": 1, "cooldown_minutes": -1}}"#), "cooldown_minutes must be a whole number from 0 to 10080, not -1"),
        (format!(r#"{{"label": "r", {cmc}, "kind": "price_above", "threshold": 1, "cooldown_minutes": 10081}}"#), "cooldown_minutes must be a whole number from 0 to 10080"),
        (format!(r#"{{"label": "r", {cmc}, "kind": "price_above", "threshold": 1, "enabled": "yes"}}"#), "enabled must be true or false, not \"yes\""),
        (format!(r#"{{"label": "r", {cmc}, "kind": "price_above", "threshold": 1, "evaluate_from": "yesterday"}}"#), "evaluate_from must be an RFC 3339 time"),
        (format!(r#"{{"label": "r", {cmc}, "kind": "price_above", "threshold": 1, "colour": "red"}}"#), "colour is not a field of a rule"),
        (format!(r#"{{"label": "r", {cmc}, "kind": "price_above", "threshold": 1, "threshold": 2}}"#), "threshold is given twice"),
    ] {
        let message = problems(&body);
        assert!(message.contains(expected), "{body}\n  gave: {message}\n  expected: {expected}");
        assert!(message.starts_with("rule "), "{message}");
    }
}

#[test]
fn every_problem_of_a_body_is_listed_at_once() {
    let message = problems(
        r#"{"label": "multi", "source": "cmc", "kind": "price_above", "threshold": -1, "cooldown_minutes": "soon"}"#,
    );
    assert!(message.starts_with("rule \"multi\": "), "{message}");
    for field in ["cmc_id", "threshold", "cooldown_minutes"] {
        assert!(message.contains(field), "{field}: {message}");
    }
}

#[test]
fn a_replaced_rule_is_named_by_its_id_too() {
    let error = RuleConfig::from_json(
        br#"{"label": "mine", "source": "cmc", "kind": "stale"}"#,
        Some(42),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with("rule 42 \"mine\": window_minutes"),
        "{error}"
    );
    let error = RuleConfig::from_json(
        br#"{"source": "cmc", "kind": "stale", "window_minutes": 5}"#,
        Some(42),
    )
    .unwrap_err()
    .to_string();
    assert!(error.starts_with("rule 42: label is required"), "{error}");
}

#[test]
fn a_body_that_is_not_a_json_object_is_refused_as_such() {
    for body in ["", "{", "[1]", "\"rule\"", "{\"label\": }", "null"] {
        let error = parse(body).unwrap_err();
        assert!(matches!(error, RuleError::NotJson(_)), "{body}: {error}");
        assert!(
            error
                .to_string()
                .starts_with("the body is not a JSON object"),
            "{error}"
        );
    }
}

#[test]
fn a_start_further_back_than_a_week_is_refused_unless_it_is_the_rules_own() {
    let now: DateTime<Utc> = "2026-12-01T12:00:00Z".parse().unwrap();
    let mut config = RuleConfig::from_json(
        br#"{"label": "r", "source": "cmc", "cmc_id": 1, "quote_currency": "USD",
             "kind": "price_above", "threshold": "1"}"#,
        None,
    )
    .unwrap();
    assert_eq!(config.check_start(None, now), Ok(()));
    config.evaluate_from = Some("2026-11-24T12:00:00Z".parse().unwrap());
    assert_eq!(config.check_start(None, now), Ok(()));
    let old: DateTime<Utc> = "2026-11-24T11:59:59Z".parse().unwrap();
    config.evaluate_from = Some(old);
    assert_eq!(
        config.check_start(None, now),
        Err(
            "rule \"r\": evaluate_from must be within the last 7 days, not \
             2026-11-24T11:59:59Z: a start further back would evaluate all that history \
             inside one load"
                .to_owned()
        )
    );
    assert_eq!(config.check_start(Some(old), now), Ok(()));
    let stored_finer = old + chrono::TimeDelta::microseconds(123);
    assert_eq!(config.check_start(Some(stored_finer), now), Ok(()));
    let other = old - chrono::TimeDelta::days(30);
    assert!(config.check_start(Some(other), now).is_err());
}
