//! Query parameters, validated into typed requests; anything wrong is a 400 that names the
//! parameter and what it accepts.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use coinlake::alerts::recent::{EventQuery, MAX_EVENTS};
use coinlake::config::is_currency_code;
use coinlake::layout::is_pair_symbol;
use coinlake::market::{Interval, KlineInterval, MAX_CANDLES, MAX_LATEST};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::http::StatusCode;

/// Assets `latest` lists when the request names no `limit`.
pub const DEFAULT_LATEST: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestParams {
    pub currency: String,
    pub limit: u32,
}

/// How the request names the asset: a ticker (resolved to an id) or the id itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetRef {
    Symbol(String),
    Id(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryParams {
    pub asset: AssetRef,
    pub currency: String,
    pub interval: Interval,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

pub fn currency(query: &QueryMap, default: &str) -> Result<String, ApiError> {
    match query.first("currency") {
        None | Some("") => Ok(default.to_owned()),
        Some(text) if is_currency_code(text) => Ok(text.to_ascii_uppercase()),
        Some(text) => Err(ApiError::bad_request(format!(
            "currency={text:?} is not a currency code such as USD or BRL"
        ))),
    }
}

pub fn latest(query: &QueryMap, default_currency: &str) -> Result<LatestParams, ApiError> {
    let limit = match query.first("limit") {
        None | Some("") => DEFAULT_LATEST,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=MAX_LATEST).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "limit={text:?} must be a whole number from 1 to {MAX_LATEST}"
                )))
            }
        },
    };
    Ok(LatestParams {
        currency: currency(query, default_currency)?,
        limit,
    })
}

pub fn history(
    query: &QueryMap,
    default_currency: &str,
    now: DateTime<Utc>,
) -> Result<HistoryParams, ApiError> {
    let asset = match (query.first("symbol"), query.first("cmc_id")) {
        (Some(symbol), None) if is_symbol(symbol) => AssetRef::Symbol(symbol.to_owned()),
        (Some(symbol), None) => {
            return Err(ApiError::bad_request(format!(
                "symbol={symbol:?} is not a ticker symbol (letters and digits, up to 20)"
            )))
        }
        (None, Some(id)) => match id.parse::<i64>() {
            Ok(id) if id > 0 => AssetRef::Id(id),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "cmc_id={id:?} must be a positive CoinMarketCap id"
                )))
            }
        },
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give either symbol or cmc_id, not both",
            ))
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "name the asset: symbol=BTC or cmc_id=1",
            ))
        }
    };
    let interval = match query.first("interval") {
        None | Some("") => Interval::Hour,
        Some(text) => Interval::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!("interval={text:?} must be 5m, 1h or 1d"))
        })?,
    };
    let (from, to) = range(query, now, interval.default_span())?;
    cap(from, to, interval.width(), interval.as_str())?;
    Ok(HistoryParams {
        asset,
        currency: currency(query, default_currency)?,
        interval,
        from,
        to,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KlineParams {
    pub symbol: String,
    pub interval: KlineInterval,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

pub fn klines(query: &QueryMap, now: DateTime<Utc>) -> Result<KlineParams, ApiError> {
    let symbol = match query.first("symbol") {
        None | Some("") => {
            return Err(ApiError::bad_request(
                "name the Binance pair: symbol=BTCUSDT",
            ))
        }
        Some(text) if is_pair_symbol(text) => text.to_owned(),
        Some(text) => {
            return Err(ApiError::bad_request(format!(
                "symbol={text:?} is not a Binance pair such as BTCUSDT (upper-case letters and digits, up to 20)"
            )))
        }
    };
    let interval = match query.first("interval") {
        None | Some("") => KlineInterval::Minute,
        Some(text) => KlineInterval::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!("interval={text:?} must be 1m, 5m, 15m or 1h"))
        })?,
    };
    let (from, to) = range(query, now, interval.default_span())?;
    cap(from, to, interval.width(), interval.as_str())?;
    Ok(KlineParams {
        symbol,
        interval,
        from,
        to,
    })
}

/// Events `alerts` lists when the request names no `limit`.
pub const DEFAULT_EVENTS: u32 = 50;

/// `/api/alerts`: `limit` (1–500), `since` (a date or an RFC 3339 time), `rule_id`.
pub fn alert_events(query: &QueryMap) -> Result<EventQuery, ApiError> {
    let limit = match query.first("limit") {
        None | Some("") => DEFAULT_EVENTS,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=MAX_EVENTS).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "limit={text:?} must be a whole number from 1 to {MAX_EVENTS}"
                )))
            }
        },
    };
    let since = match query.first("since") {
        None | Some("") => None,
        Some(text) => Some(time("since", text, false)?),
    };
    let rule_id = match query.first("rule_id") {
        None | Some("") => None,
        Some(text) => match text.parse::<i64>() {
            Ok(id) if id > 0 => Some(id),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "rule_id={text:?} must be a rule's id, a positive whole number"
                )))
            }
        },
    };
    Ok(EventQuery {
        limit,
        since,
        rule_id,
    })
}

/// `from` and `to` of a request, `to` defaulting to now and `from` to `span` before `to`;
/// `from` must come first.
fn range(
    query: &QueryMap,
    now: DateTime<Utc>,
    span: TimeDelta,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let to = match query.first("to") {
        None | Some("") => now,
        Some(text) => time("to", text, true)?,
    };
    let from = match query.first("from") {
        None | Some("") => to - span,
        Some(text) => time("from", text, false)?,
    };
    if from >= to {
        return Err(ApiError::bad_request(format!(
            "from ({}) must be before to ({})",
            from.to_rfc3339(),
            to.to_rfc3339()
        )));
    }
    Ok((from, to))
}

/// At most [`MAX_CANDLES`] candles of `width` per request.
fn cap(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    width: TimeDelta,
    name: &str,
) -> Result<(), ApiError> {
    let longest = width * MAX_CANDLES as i32;
    if to - from > longest {
        let span = if longest.num_days() >= 2 {
            format!("{} days", longest.num_days())
        } else {
            format!("{} hours", longest.num_hours())
        };
        return Err(ApiError::bad_request(format!(
            "from..to spans more than {MAX_CANDLES} candles of {name}: at most {span}; narrow the range or use a wider interval"
        )));
    }
    Ok(())
}

/// RFC 3339, or a date (`2024-06-01`, UTC). A date as `to` means the end of that day,
/// so `from=2024-06-01&to=2024-06-01` is that whole day.
fn time(name: &str, text: &str, end_of_day: bool) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let start = day.and_time(chrono::NaiveTime::MIN).and_utc();
        return Ok(if end_of_day {
            start + TimeDelta::days(1)
        } else {
            start
        });
    }
    Err(ApiError::bad_request(format!(
        "{name}={text:?} is not a date (2024-06-01) or an RFC 3339 time (2024-06-01T12:00:00Z)"
    )))
}

fn is_symbol(text: &str) -> bool {
    (1..=20).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn query(pairs: &[(&str, &str)]) -> QueryMap {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        QueryMap::from(map)
    }

    fn now() -> DateTime<Utc> {
        "2024-06-10T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn history_defaults_to_a_week_of_hourly_candles_in_the_default_currency() {
        let p = history(&query(&[("symbol", "BTC")]), "USD", now()).unwrap();
        assert_eq!(p.asset, AssetRef::Symbol("BTC".to_owned()));
        assert_eq!(p.interval, Interval::Hour);
        assert_eq!(p.currency, "USD");
        assert_eq!(p.to, now());
        assert_eq!(p.from, now() - TimeDelta::days(7));
    }

    #[test]
    fn klines_default_to_the_last_day_of_minutes() {
        let p = klines(&query(&[("symbol", "BTCUSDT")]), now()).unwrap();
        assert_eq!(p.symbol, "BTCUSDT");
        assert_eq!(p.interval, KlineInterval::Minute);
        assert_eq!((p.from, p.to), (now() - TimeDelta::days(1), now()));
        let p = klines(&query(&[("symbol", "ETHUSDT"), ("interval", "1h")]), now()).unwrap();
        assert_eq!(p.interval, KlineInterval::Hour);
        assert_eq!(p.from, now() - TimeDelta::days(7));
        let p = klines(
            &query(&[
                ("symbol", "BTCUSDT"),
                ("from", "2024-06-01T00:00:00Z"),
                ("to", "2024-06-02T09:20:00Z"),
            ]),
            now(),
        )
        .unwrap();
        assert_eq!(p.to - p.from, TimeDelta::minutes(2000));
    }

    #[test]
    fn dates_cover_whole_days_and_times_are_exact() {
        let p = history(
            &query(&[
                ("cmc_id", "1027"),
                ("from", "2024-06-01"),
                ("to", "2024-06-01"),
                ("interval", "5m"),
                ("currency", "brl"),
            ]),
            "USD",
            now(),
        )
        .unwrap();
        assert_eq!(p.asset, AssetRef::Id(1027));
        assert_eq!(p.from.to_rfc3339(), "2024-06-01T00:00:00+00:00");
        assert_eq!(p.to.to_rfc3339(), "2024-06-02T00:00:00+00:00");
        assert_eq!(p.currency, "BRL");
        let p = history(
            &query(&[
                ("symbol", "eth"),
                ("from", "2024-06-01T10:00:00+02:00"),
                ("to", "2024-06-01T12:00:00Z"),
            ]),
            "USD",
            now(),
        )
        .unwrap();
        assert_eq!(p.from.to_rfc3339(), "2024-06-01T08:00:00+00:00");
    }

    #[test]
    fn bad_parameters_are_refused_with_the_parameter_named() {
        for (pairs, expected) in [
            (vec![], "symbol=BTC or cmc_id=1"),
            (vec![("symbol", "BTC"), ("cmc_id", "1")], "not both"),
            (vec![("symbol", "BTC;DROP")], "symbol="),
            (vec![("cmc_id", "-1")], "cmc_id="),
            (vec![("symbol", "BTC"), ("interval", "2h")], "interval="),
            (vec![("symbol", "BTC"), ("from", "yesterday")], "from="),
            (vec![("symbol", "BTC"), ("to", "2024-13-01")], "to="),
            (vec![("symbol", "BTC"), ("currency", "U$D")], "currency="),
            (
                vec![
                    ("symbol", "BTC"),
                    ("from", "2024-06-02"),
                    ("to", "2024-06-01"),
                ],
                "must be before",
            ),
            (
                vec![
                    ("symbol", "BTC"),
                    ("interval", "5m"),
                    ("from", "2024-01-01"),
                ],
                "more than 2000 candles",
            ),
        ] {
            let error = history(&query(&pairs), "USD", now()).unwrap_err();
            assert_eq!(error.status, StatusCode::BAD_REQUEST);
            assert!(
                error.message.contains(expected),
                "{pairs:?}: {}",
                error.message
            );
        }
        for (pairs, expected) in [
            (vec![], "symbol=BTCUSDT"),
            (vec![("interval", "1m")], "symbol=BTCUSDT"),
            (
                vec![("symbol", "btcusdt")],
                "symbol=\"btcusdt\" is not a Binance pair",
            ),
            (vec![("symbol", "BTC-USDT")], "symbol="),
            (
                vec![("symbol", "BTCUSDT"), ("interval", "1d")],
                "interval=\"1d\" must be 1m, 5m, 15m or 1h",
            ),
            (vec![("symbol", "BTCUSDT"), ("from", "noon")], "from="),
            (
                vec![
                    ("symbol", "BTCUSDT"),
                    ("from", "2024-06-02"),
                    ("to", "2024-06-01"),
                ],
                "must be before",
            ),
            (
                vec![
                    ("symbol", "BTCUSDT"),
                    ("from", "2024-06-01"),
                    ("to", "2024-06-02"),
                ],
                "more than 2000 candles of 1m: at most 33 hours",
            ),
            (
                vec![
                    ("symbol", "BTCUSDT"),
                    ("interval", "1h"),
                    ("from", "2024-01-01"),
                ],
                "more than 2000 candles of 1h: at most 83 days",
            ),
        ] {
            let error = klines(&query(&pairs), now()).unwrap_err();
            assert_eq!(error.status, StatusCode::BAD_REQUEST);
            assert!(
                error.message.contains(expected),
                "{pairs:?}: {}",
                error.message
            );
        }
        for (pairs, expected) in [
            (
                vec![("limit", "0")],
                "limit=\"0\" must be a whole number from 1 to 500",
            ),
            (vec![("limit", "501")], "limit="),
            (
                vec![("since", "last week")],
                "since=\"last week\" is not a date",
            ),
            (vec![("rule_id", "0")], "rule_id=\"0\" must be a rule's id"),
            (vec![("rule_id", "x")], "rule_id="),
        ] {
            let error = alert_events(&query(&pairs)).unwrap_err();
            assert_eq!(error.status, StatusCode::BAD_REQUEST);
            assert!(
                error.message.contains(expected),
                "{pairs:?}: {}",
                error.message
            );
        }
        assert_eq!(
            alert_events(&query(&[("since", "2024-06-01"), ("rule_id", "3")])).unwrap(),
            EventQuery {
                limit: DEFAULT_EVENTS,
                since: Some("2024-06-01T00:00:00Z".parse().unwrap()),
                rule_id: Some(3)
            }
        );
        for limit in ["0", "501", "ten"] {
            let error = latest(&query(&[("limit", limit)]), "USD").unwrap_err();
            assert!(error.message.contains("limit="), "{}", error.message);
        }
        assert_eq!(
            latest(&query(&[]), "USD").unwrap(),
            LatestParams {
                currency: "USD".to_owned(),
                limit: DEFAULT_LATEST
            }
        );
    }
}
