//! CoinMarketCap stand-ins: response builders in CMC's recorded shapes, and a `Market`
//! responder that answers quotes (by id or symbol, in v2 or v3 shape by the path asked)
//! and listings from one list of coins.

use crate::standin::query_param;
use coinlake::cmc::QuotesApi;
use serde_json::{json, Value};
use wiremock::matchers::{path_regex, PathRegexMatcher};
use wiremock::{Request, Respond, ResponseTemplate};

/// The legacy v2 `quotes/latest`, for stand-ins scripted in its shape (run with
/// `CMC_QUOTES_API=v2`).
pub const QUOTES_PATH: &str = "/v2/cryptocurrency/quotes/latest";
pub const QUOTES_V3_PATH: &str = "/v3/cryptocurrency/quotes/latest";
pub const LISTINGS_PATH: &str = "/v1/cryptocurrency/listings/latest";

/// Matches `quotes/latest` in either version.
pub fn any_quotes_path() -> PathRegexMatcher {
    path_regex(r"^/v[23]/cryptocurrency/quotes/latest$")
}

/// The version a request asked for, from its path.
pub fn quotes_api_of(request: &Request) -> Option<QuotesApi> {
    [QuotesApi::V3, QuotesApi::V2]
        .into_iter()
        .find(|api| request.url.path() == api.path())
}

/// CMC ids of the fiat currencies the tests convert to, as v3 names them in each quote.
fn fiat_id(code: &str) -> Option<i64> {
    match code {
        "USD" => Some(2781),
        "BRL" => Some(2783),
        "EUR" => Some(2790),
        _ => None,
    }
}

/// A coin in v3 shape: its `quote` object keyed by currency becomes an array of quotes
/// naming their own currency (`{"id": 2781, "symbol": "USD", "price": …}`).
pub fn v3_coin(coin: &Value) -> Value {
    let mut coin = coin.clone();
    if let Some(quotes) = coin.get("quote").and_then(Value::as_object).cloned() {
        let listed: Vec<Value> = quotes
            .into_iter()
            .map(|(code, quote)| {
                let mut item = serde_json::Map::new();
                if let Some(id) = fiat_id(&code) {
                    item.insert("id".into(), json!(id));
                }
                item.insert("symbol".into(), json!(code));
                if let Value::Object(fields) = quote {
                    item.extend(fields);
                }
                Value::Object(item)
            })
            .collect();
        coin["quote"] = Value::Array(listed);
    }
    coin
}

/// v2 quotes `data` (keyed by id, or by symbol with an array each) as v3 sends it: one
/// array of coins in v3 shape. Anything else is passed through.
pub fn v3_data(v2: &Value) -> Value {
    match v2 {
        Value::Object(keyed) => Value::Array(
            keyed
                .values()
                .flat_map(|entry| match entry {
                    Value::Array(coins) => coins.clone(),
                    other => vec![other.clone()],
                })
                .map(|coin| v3_coin(&coin))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A successful `quotes/latest` reply written once in v2's keyed shape and served in the
/// shape of whichever version the request's path asks for.
#[derive(Clone)]
pub struct QuotesReply {
    data: Value,
    credits: i64,
}

/// HTTP 200 with quotes `data` given in v2 shape (see [`QuotesReply`]).
pub fn quotes_ok(data: Value, credits: i64) -> QuotesReply {
    QuotesReply { data, credits }
}

impl Respond for QuotesReply {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        match quotes_api_of(request) {
            Some(QuotesApi::V3) => ok(v3_data(&self.data), self.credits),
            _ => ok(self.data.clone(), self.credits),
        }
    }
}

/// The `status` object of a successful reply.
pub fn status_ok(credits: i64) -> Value {
    json!({
        "timestamp": "2024-06-01T12:35:02.511Z",
        "error_code": 0,
        "error_message": null,
        "elapsed": 31,
        "credit_count": credits,
        "notice": null
    })
}

/// HTTP 200 with `data`.
pub fn ok(data: Value, credits: i64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({ "status": status_ok(credits), "data": data }))
}

/// An error reply as CMC sends it: a `status` with the code and message, no `data`.
pub fn error(http: u16, code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(http).set_body_json(json!({
        "status": {
            "timestamp": "2024-06-01T12:35:02.511Z",
            "error_code": code,
            "error_message": message,
            "elapsed": 0,
            "credit_count": 0
        }
    }))
}

/// A coin as `quotes/latest` and `listings/latest` send it, with one quote per
/// `(currency, price)`; the other metrics are plausible fixed values.
pub fn coin(
    id: i64,
    symbol: &str,
    name: &str,
    rank: Option<i64>,
    prices: &[(&str, Value)],
) -> Value {
    let quotes: serde_json::Map<String, Value> = prices
        .iter()
        .map(|(currency, price)| ((*currency).to_owned(), quote(price.clone())))
        .collect();
    json!({
        "id": id,
        "name": name,
        "symbol": symbol,
        "slug": name.to_lowercase().replace(' ', "-"),
        "num_market_pairs": 512,
        "date_added": "2013-04-28T00:00:00.000Z",
        "tags": ["mineable"],
        "max_supply": null,
        "circulating_supply": 19_700_000,
        "total_supply": 19_700_000,
        "is_active": 1,
        "infinite_supply": false,
        "platform": null,
        "cmc_rank": rank,
        "is_fiat": 0,
        "self_reported_circulating_supply": null,
        "self_reported_market_cap": null,
        "tvl_ratio": null,
        "last_updated": "2024-06-01T12:34:00.000Z",
        "quote": quotes
    })
}

fn quote(price: Value) -> Value {
    json!({
        "price": price,
        "volume_24h": 23_000_000_000.5,
        "volume_change_24h": -3.2,
        "percent_change_1h": 0.12,
        "percent_change_24h": 1.5,
        "percent_change_7d": -2.25,
        "percent_change_30d": 10,
        "percent_change_60d": 12.1,
        "percent_change_90d": 20.3,
        "market_cap": 1_300_000_000_000.25,
        "market_cap_dominance": 54.1,
        "fully_diluted_market_cap": 1_400_000_000_000.75,
        "tvl": null,
        "last_updated": "2024-06-01T12:34:00.000Z"
    })
}

/// Answers quotes (by `id` or `symbol`, v2 or v3) and listings (`start`/`limit`) from a
/// fixed list of coins, for any `convert`: each coin's first quote is served under the requested
/// currency's name. Each reply costs 1 credit.
#[derive(Clone)]
pub struct Market {
    pub coins: Vec<Value>,
    /// Stamp every quote as updated in the current minute, as the live API would.
    pub live: bool,
}

impl Market {
    pub fn new(coins: Vec<Value>) -> Market {
        Market { coins, live: false }
    }

    /// The recorded-shape market in `fixtures/cmc/market.json`.
    pub fn recorded() -> Market {
        let coins: Vec<Value> = serde_json::from_str(&crate::fixture("cmc/market.json"))
            .expect("market fixture is JSON");
        Market::new(coins)
    }

    /// The recorded market with current update times, so successive local runs store new
    /// CMC updates instead of the same fixed one.
    pub fn live() -> Market {
        Market {
            live: true,
            ..Market::recorded()
        }
    }

    fn priced_in(&self, coin: &Value, convert: &str) -> Value {
        let mut coin = coin.clone();
        let mut first = coin["quote"]
            .as_object()
            .and_then(|q| q.values().next().cloned())
            .unwrap_or(Value::Null);
        if self.live {
            let minute = chrono::Utc::now()
                .format("%Y-%m-%dT%H:%M:00.000Z")
                .to_string();
            coin["last_updated"] = json!(minute);
            first["last_updated"] = json!(minute);
        }
        coin["quote"] = json!({ convert: first });
        coin
    }
}

impl Respond for Market {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let param = |name: &str| query_param(request, name);
        let convert = param("convert").unwrap_or_else(|| "USD".to_owned());
        let path = request.url.path();
        if path == LISTINGS_PATH {
            let start = param("start")
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(1)
                .max(1);
            let limit = param("limit")
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(100);
            let mut ranked = self.coins.clone();
            ranked.retain(|c| c["cmc_rank"].is_i64());
            ranked.sort_by_key(|c| c["cmc_rank"].as_i64());
            let page: Vec<Value> = ranked
                .iter()
                .skip(start - 1)
                .take(limit)
                .map(|c| self.priced_in(c, &convert))
                .collect();
            let credits = (page.len() as i64 + 199) / 200;
            return ok(Value::Array(page), credits.max(1));
        }
        let Some(api) = quotes_api_of(request) else {
            return error(404, 404, "Not found");
        };
        let shaped = |data: Value| match api {
            QuotesApi::V3 => ok(v3_data(&data), 1),
            QuotesApi::V2 => ok(data, 1),
        };
        if let Some(ids) = param("id") {
            let data: serde_json::Map<String, Value> =
                ids.split(',')
                    .filter_map(|id| {
                        let coin = self.coins.iter().find(|c| {
                            c["id"].as_i64().map(|n| n.to_string()).as_deref() == Some(id)
                        })?;
                        Some((id.to_owned(), self.priced_in(coin, &convert)))
                    })
                    .collect();
            return shaped(Value::Object(data));
        }
        if let Some(symbols) = param("symbol") {
            let data: serde_json::Map<String, Value> = symbols
                .split(',')
                .map(|symbol| {
                    let matches: Vec<Value> = self
                        .coins
                        .iter()
                        .filter(|c| c["symbol"].as_str() == Some(symbol))
                        .map(|c| self.priced_in(c, &convert))
                        .collect();
                    (symbol.to_owned(), Value::Array(matches))
                })
                .collect();
            return shaped(Value::Object(data));
        }
        error(400, 400, "\"id\" or \"symbol\" is required")
    }
}
