//! Field parsers that take whatever type CMC sends today. Its payloads change type between
//! responses (integer one call, float the next, sometimes null, sometimes absent in old
//! payloads), and one odd field must not cost the whole snapshot.

use crate::decimal::DecimalText;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// A string, or a number taken as its text; anything else is treated as absent.
pub fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let raw = Option::<Box<RawValue>>::deserialize(deserializer)?;
    Ok(raw.and_then(|raw| raw_text(&raw)))
}

/// An integer, an integral float (`3.0`) or a numeric string; anything else is absent.
pub fn integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let raw = Option::<Box<RawValue>>::deserialize(deserializer)?;
    Ok(raw
        .and_then(|raw| decimal(&raw).ok().flatten())
        .and_then(|d| d.to_integer()))
}

/// A JSON value as decimal text: `Ok(None)` for null, `Err` with the raw JSON for a value
/// that is present but not a number (reported by the caller, which knows the coin).
pub fn decimal(raw: &RawValue) -> Result<Option<DecimalText>, String> {
    let json = raw.get();
    if json == "null" {
        return Ok(None);
    }
    let candidate = if json.starts_with('"') {
        raw_text(raw)
    } else {
        Some(json.to_owned())
    };
    candidate
        .and_then(|text| DecimalText::parse(text.trim()).ok())
        .map(Some)
        .ok_or_else(|| json.chars().take(40).collect())
}

fn raw_text(raw: &RawValue) -> Option<String> {
    let json = raw.get();
    match json.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(json).ok(),
        Some(b'-' | b'0'..=b'9') => Some(json.to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "text")]
        t: Option<String>,
        #[serde(default, deserialize_with = "integer")]
        i: Option<i64>,
    }

    fn probe(json: &str) -> Probe {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn takes_integers_in_any_number_form_and_drops_the_rest() {
        assert_eq!(probe(r#"{"i": 7}"#).i, Some(7));
        assert_eq!(probe(r#"{"i": 7.0}"#).i, Some(7));
        assert_eq!(probe(r#"{"i": "7"}"#).i, Some(7));
        assert_eq!(probe(r#"{"i": 7.5}"#).i, None);
        assert_eq!(probe(r#"{"i": null}"#).i, None);
        assert_eq!(probe(r#"{"i": [1]}"#).i, None);
        assert_eq!(probe(r#"{}"#).i, None);
    }

    #[test]
    fn takes_text_from_strings_and_numbers() {
        assert_eq!(probe(r#"{"t": "Bitcoin"}"#).t.as_deref(), Some("Bitcoin"));
        assert_eq!(
            probe(r#"{"t": "say \"hi\""}"#).t.as_deref(),
            Some("say \"hi\"")
        );
        assert_eq!(probe(r#"{"t": 42}"#).t.as_deref(), Some("42"));
        assert_eq!(probe(r#"{"t": {"a": 1}}"#).t, None);
        assert_eq!(probe(r#"{"t": null}"#).t, None);
    }

    #[test]
    fn decimals_keep_their_text_and_report_non_numbers() {
        let raw = |json: &str| serde_json::from_str::<Box<RawValue>>(json).unwrap();
        assert_eq!(decimal(&raw("0.10")).unwrap().unwrap().as_str(), "0.10");
        assert_eq!(decimal(&raw("\"12.5\"")).unwrap().unwrap().as_str(), "12.5");
        assert_eq!(decimal(&raw("null")).unwrap(), None);
        assert_eq!(decimal(&raw("\"N/A\"")).unwrap_err(), "\"N/A\"");
        assert_eq!(decimal(&raw("true")).unwrap_err(), "true");
    }
}
