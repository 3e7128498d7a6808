//! Numbers as the exact decimal text CoinMarketCap sent.
//!
//! CMC's JSON mixes integers and floats for the same field from one response to the next.
//! Parsing into `f64` and printing again would turn `0.1` into `0.1000000000000000055…` or
//! drop digits of a 17-digit supply, so every metric stays text: validated against the JSON
//! number grammar, and rewritten only when it uses an exponent (`1.5e-7` becomes
//! `0.00000015`), which Athena's DECIMAL and some CSV readers do not accept.

use bigdecimal::BigDecimal;
use std::fmt;
use std::str::FromStr;

/// Exponents beyond this are not market data; refusing them keeps a hostile `1e999999999`
/// from expanding into a gigabyte of zeros.
const MAX_EXPONENT: i64 = 400;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DecimalText(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a decimal number")]
pub struct NotADecimal(pub String);

impl DecimalText {
    /// Accepts JSON number syntax (`-12`, `0.5`, `1.5e-7`).
    pub fn parse(text: &str) -> Result<DecimalText, NotADecimal> {
        match classify(text) {
            Some(Shape::Plain) => Ok(DecimalText(text.to_owned())),
            Some(Shape::Exponent(exponent)) if exponent.abs() <= MAX_EXPONENT => {
                BigDecimal::from_str(text)
                    .map(|value| DecimalText(without_leading_zeros(&value.to_plain_string())))
                    .map_err(|_| NotADecimal(text.to_owned()))
            }
            _ => Err(NotADecimal(text.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The nearest `f64` (correctly rounded), or `None` beyond its range. The curated
    /// layer's DOUBLE columns hold this; the exact text stays in the raw CSV and PostgreSQL.
    pub fn to_f64(&self) -> Option<f64> {
        self.0.parse::<f64>().ok().filter(|v| v.is_finite())
    }

    /// The value as an integer when it has no fractional part (`42`, `42.0`).
    pub fn to_integer(&self) -> Option<i64> {
        let (whole, fraction) = self.0.split_once('.').unwrap_or((&self.0, ""));
        if fraction.bytes().all(|b| b == b'0') {
            whole.parse().ok()
        } else {
            None
        }
    }
}

impl fmt::Display for DecimalText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A zero with a positive exponent (`0e12`) prints as a run of zeros (`0000000000000`),
/// which is not valid number syntax; keep a single zero before the point.
fn without_leading_zeros(plain: &str) -> String {
    let (sign, digits) = plain
        .strip_prefix('-')
        .map_or(("", plain), |rest| ("-", rest));
    let trimmed = digits.trim_start_matches('0');
    let trimmed = if trimmed.is_empty() || trimmed.starts_with('.') {
        format!("0{trimmed}")
    } else {
        trimmed.to_owned()
    };
    format!("{sign}{trimmed}")
}

enum Shape {
    Plain,
    Exponent(i64),
}

/// Checks `text` against the JSON number grammar:
/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn classify(text: &str) -> Option<Shape> {
    let bytes = text.as_bytes();
    let mut i = usize::from(bytes.first() == Some(&b'-'));
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };

    let whole = digits(i);
    if whole == 0 || (whole > 1 && bytes[i] == b'0') {
        return None;
    }
    i += whole;
    if bytes.get(i) == Some(&b'.') {
        let fraction = digits(i + 1);
        if fraction == 0 {
            return None;
        }
        i += 1 + fraction;
    }
    if i == bytes.len() {
        return Some(Shape::Plain);
    }
    if !matches!(bytes[i], b'e' | b'E') {
        return None;
    }
    i += 1;
    let sign_len = usize::from(matches!(bytes.get(i), Some(b'+' | b'-')));
    let exponent_digits = digits(i + sign_len);
    if exponent_digits == 0 || i + sign_len + exponent_digits != bytes.len() {
        return None;
    }
    // Overlong exponents saturate, and are then refused by the caller's bound.
    let exponent = text[i..].parse::<i64>().unwrap_or(i64::MAX);
    Some(Shape::Exponent(exponent))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> String {
        DecimalText::parse(text).unwrap().as_str().to_owned()
    }

    #[test]
    fn keeps_plain_numbers_byte_for_byte() {
        for text in [
            "0",
            "-0",
            "42",
            "67432.1234567891234",
            "0.10000",
            "-3.5",
            "21000000",
            "123456789012345678901234567890.5",
        ] {
            assert_eq!(plain(text), text);
        }
    }

    #[test]
    fn rewrites_exponents_as_plain_decimals_without_rounding() {
        assert_eq!(plain("1.5e-7"), "0.00000015");
        assert_eq!(plain("1.5E-7"), "0.00000015");
        assert_eq!(plain("2e3"), "2000");
        assert_eq!(plain("2.5e+3"), "2500");
        assert_eq!(
            plain("-1.23456789012345678e-10"),
            "-0.000000000123456789012345678"
        );
    }

    #[test]
    fn whatever_it_rewrites_parses_again_unchanged() {
        for text in ["0e12", "1e3", "-0e3", "0.0e1", "2.5E+3", "1.5e-7", "0e-3"] {
            let once = plain(text);
            assert_eq!(plain(&once), once, "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_json_number() {
        for text in [
            "",
            "-",
            "abc",
            "1.",
            ".5",
            "01",
            "1e",
            "1e+",
            "NaN",
            "Infinity",
            "1,5",
            " 1",
            "1 ",
            "0x10",
            "1e999999",
            "1e99999999999999999999",
        ] {
            assert!(
                DecimalText::parse(text).is_err(),
                "{text:?} should be refused"
            );
        }
    }

    #[test]
    fn integral_values_convert_to_integers() {
        assert_eq!(DecimalText::parse("42").unwrap().to_integer(), Some(42));
        assert_eq!(DecimalText::parse("42.000").unwrap().to_integer(), Some(42));
        assert_eq!(DecimalText::parse("4.2e1").unwrap().to_integer(), Some(42));
        assert_eq!(DecimalText::parse("42.5").unwrap().to_integer(), None);
        assert_eq!(
            DecimalText::parse("99999999999999999999")
                .unwrap()
                .to_integer(),
            None
        );
    }
}
