//! The Function URL handler: route, authorize, answer. Every request gets an HTTP answer —
//! bad parameters a 400 naming the parameter, a database outage a 503 — never a Lambda
//! error, which a Function URL would turn into a bare 502.

use crate::alerts;
use crate::app::App;
use crate::dashboard;
use crate::params::{self, ApiError, AssetRef, HistoryParams, KlineParams};
use crate::respond::{accepts_gzip, Answer};
use chrono::{DateTime, Utc};
use coinlake::market::{Candle, HistoryQuery, KlineCandle, KlineQuery, MarketError, MAX_CANDLES};
use constant_time_eq::constant_time_eq;
use lambda_http::http::header::{ACCEPT_ENCODING, ALLOW, AUTHORIZATION};
use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

/// Latest and history answers may be cached briefly: a snapshot lands every five minutes.
const SHORT_CACHE: &str = "private, max-age=30";

pub async fn handle(app: &App, request: Request) -> Result<Response<Body>, lambda_http::Error> {
    handle_at(app, request, Utc::now()).await
}

/// `handle` with the clock fixed at `now` (what defaults and freshness are measured from).
pub async fn handle_at(
    app: &App,
    request: Request,
    now: DateTime<Utc>,
) -> Result<Response<Body>, lambda_http::Error> {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let gzip = accepts_gzip(
        request
            .headers()
            .get(ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    );
    let answer = answer(app, &request, &method, &path, now).await;
    let elapsed = started.elapsed();
    tracing::info!(
        method = %method,
        path,
        status = answer.status.as_u16(),
        elapsed_ms = elapsed.as_millis() as u64,
        "request answered"
    );
    app.metrics.request(answer.status.as_u16(), elapsed);
    Ok(answer.into_response(gzip, method == Method::HEAD))
}

async fn answer(
    app: &App,
    request: &Request,
    method: &Method,
    path: &str,
    now: DateTime<Utc>,
) -> Answer {
    let route = Route::of(path);
    let allowed = route.methods();
    if !allowed.contains(method) {
        let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
        let mut answer = Answer::error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{path} answers only {}", names.join(", ")),
        );
        answer.headers.push((ALLOW, names.join(", ")));
        return answer;
    }
    if route == Route::Page {
        return Answer::html(dashboard::PAGE);
    }
    if !path.starts_with("/api/") {
        return Answer::error(StatusCode::NOT_FOUND, &not_found(path));
    }
    if let Err(error) = authorize(app, request) {
        return Answer::error(error.status, &error.message);
    }
    let writes = *method != Method::GET && *method != Method::HEAD;
    if writes {
        if let Err(error) = authorize_write(app, request) {
            return Answer::error(error.status, &error.message);
        }
    }
    let query = request.query_string_parameters();
    let result = match (route, path) {
        (Route::AlertRules, _) if *method == Method::POST => alerts::create(app, request).await,
        (Route::AlertRules, _) => alerts::list(app).await,
        (Route::AlertRule(id), _) => match alerts::rule_id(id) {
            Err(error) => Err(error),
            Ok(id) if *method == Method::PUT => alerts::replace(app, request, id).await,
            Ok(id) if *method == Method::DELETE => alerts::delete(app, id).await,
            Ok(id) => alerts::get(app, id).await,
        },
        (_, "/api/alerts") => alerts::events(app, &query, now).await,
        (_, "/api/latest") => latest(app, &query, now).await,
        (_, "/api/history") => history(app, &query, now)
            .await
            .map(|(history, _)| Answer::json(StatusCode::OK, &history, SHORT_CACHE)),
        (_, "/api/history.csv") => history(app, &query, now)
            .await
            .map(|(history, params)| history_csv(&history, &params)),
        (_, "/api/klines") => klines(app, &query, now)
            .await
            .map(|(klines, _)| Answer::json(StatusCode::OK, &klines, SHORT_CACHE)),
        (_, "/api/klines.csv") => klines(app, &query, now)
            .await
            .map(|(klines, params)| klines_csv(&klines, &params)),
        (_, "/api/health") => health(app, now).await,
        _ => Err(ApiError::not_found(not_found(path))),
    };
    result.unwrap_or_else(|error| Answer::error(error.status, &error.message))
}

/// What a path is, for the methods it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    Page,
    /// `/api/alert-rules`: list and create.
    AlertRules,
    /// `/api/alert-rules/<id>`: read, replace, delete (the id not checked yet).
    AlertRule(&'a str),
    /// Everything else: read-only.
    Other,
}

impl<'a> Route<'a> {
    fn of(path: &'a str) -> Route<'a> {
        if path == "/" || path.is_empty() {
            return Route::Page;
        }
        if path == alerts::RULES_PATH {
            return Route::AlertRules;
        }
        match path
            .strip_prefix(alerts::RULES_PATH)
            .and_then(|rest| rest.strip_prefix('/'))
        {
            Some(id) => Route::AlertRule(id),
            None => Route::Other,
        }
    }

    fn methods(self) -> &'static [Method] {
        const READ: [Method; 2] = [Method::GET, Method::HEAD];
        const LIST: [Method; 3] = [Method::GET, Method::HEAD, Method::POST];
        const ONE: [Method; 4] = [Method::GET, Method::HEAD, Method::PUT, Method::DELETE];
        match self {
            Route::AlertRules => &LIST,
            Route::AlertRule(_) => &ONE,
            Route::Page | Route::Other => &READ,
        }
    }
}

fn not_found(path: &str) -> String {
    format!(
        "no such page: {path}; try / (dashboard), /api/latest, /api/history, /api/history.csv, /api/klines, /api/klines.csv, /api/health, /api/alerts or /api/alert-rules"
    )
}

/// With a shared token configured, every `/api/` request must carry it as a bearer token.
/// The page itself is public (it holds no data) and sends the token it was given.
fn authorize(app: &App, request: &Request) -> Result<(), ApiError> {
    let Some(token) = &app.token else {
        return Ok(());
    };
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(presented)
            if constant_time_eq(presented.as_bytes(), token.expose().as_bytes()) =>
        {
            Ok(())
        }
        _ => Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "this API needs the shared token: send Authorization: Bearer <token> (the dashboard takes it as #token=… in its address)".to_owned(),
        }),
    }
}

/// A write needs an identity: the shared token (checked by `authorize`), or a SigV4
/// signature the Function URL verified (`AWS_IAM` auth puts the caller in the request
/// context; a public URL never does). A public URL without a token serves its reads to
/// anyone and its writes to no one.
fn authorize_write(app: &App, request: &Request) -> Result<(), ApiError> {
    if app.token.is_some() {
        return Ok(());
    }
    let signed = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .authorizer
            .as_ref()
            .and_then(|authorizer| authorizer.iam.as_ref())
            .is_some_and(|iam| iam.user_arn.is_some() || iam.caller_id.is_some()),
        _ => false,
    };
    if signed {
        Ok(())
    } else {
        Err(ApiError {
            status: StatusCode::FORBIDDEN,
            message: "changing alert rules needs the shared token or IAM auth, and this API has neither: its reads are public, its writes refused (set ApiTokenSecretArn, or ApiAuthType=AWS_IAM)".to_owned(),
        })
    }
}

/// The database failing is the server's problem, not the request's: a 503 the client
/// may retry, with the detail in the log rather than in the answer.
fn unavailable(error: MarketError) -> ApiError {
    tracing::error!(error = %error, "database read failed");
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: "the database could not be read just now; try again shortly".to_owned(),
    }
}

#[derive(Serialize)]
struct Latest<'a> {
    currency: &'a str,
    generated_at: DateTime<Utc>,
    assets: Vec<coinlake::market::LatestQuote>,
}

async fn latest(
    app: &App,
    query: &lambda_http::aws_lambda_events::query_map::QueryMap,
    now: DateTime<Utc>,
) -> Result<Answer, ApiError> {
    let params = params::latest(query, &app.default_currency)?;
    let assets = app
        .market
        .latest(&params.currency, params.limit)
        .await
        .map_err(unavailable)?;
    Ok(Answer::json(
        StatusCode::OK,
        &Latest {
            currency: &params.currency,
            generated_at: now,
            assets,
        },
        SHORT_CACHE,
    ))
}

#[derive(Serialize)]
struct History {
    symbol: String,
    cmc_id: i64,
    currency: String,
    interval: &'static str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    candles: Vec<Candle>,
}

async fn history(
    app: &App,
    query: &lambda_http::aws_lambda_events::query_map::QueryMap,
    now: DateTime<Utc>,
) -> Result<(History, HistoryParams), ApiError> {
    let params = params::history(query, &app.default_currency, now)?;
    let (cmc_id, symbol) = match &params.asset {
        AssetRef::Symbol(symbol) => app
            .market
            .resolve_symbol(symbol)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                ApiError::not_found(format!("no asset with symbol {symbol:?} has been stored"))
            })?,
        AssetRef::Id(id) => (*id, String::new()),
    };
    let candles = app
        .market
        .history(&HistoryQuery {
            cmc_id,
            currency: params.currency.clone(),
            interval: params.interval,
            from: params.from,
            to: params.to,
            limit: MAX_CANDLES,
        })
        .await
        .map_err(unavailable)?;
    Ok((
        History {
            symbol,
            cmc_id,
            currency: params.currency.clone(),
            interval: params.interval.as_str(),
            from: params.from,
            to: params.to,
            candles,
        },
        params,
    ))
}

fn history_csv(history: &History, params: &HistoryParams) -> Answer {
    let header = [
        "bucket_start",
        "open",
        "high",
        "low",
        "close",
        "avg_volume_24h",
        "samples",
    ];
    let rows = history.candles.iter().map(|candle| {
        vec![
            bucket_start(candle.t),
            candle.open.clone(),
            candle.high.clone(),
            candle.low.clone(),
            candle.close.clone(),
            candle.avg_volume_24h.clone().unwrap_or_default(),
            candle.samples.to_string(),
        ]
    });
    let name = if history.symbol.is_empty() {
        history.cmc_id.to_string()
    } else {
        history.symbol.clone()
    };
    let name = format!("{name}_{}", params.currency);
    candles_csv(
        &header,
        rows,
        &name,
        params.interval.as_str(),
        params.from,
        params.to,
    )
}

#[derive(Serialize)]
struct Klines {
    symbol: String,
    interval: &'static str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    candles: Vec<KlineCandle>,
}

/// Binance candles of one pair. A pair never stored answers with no candles, like a range
/// before its first minute: the dashboard then falls back to CoinMarketCap candles.
async fn klines(
    app: &App,
    query: &lambda_http::aws_lambda_events::query_map::QueryMap,
    now: DateTime<Utc>,
) -> Result<(Klines, KlineParams), ApiError> {
    let params = params::klines(query, now)?;
    let candles = app
        .market
        .klines(&KlineQuery {
            symbol: params.symbol.clone(),
            interval: params.interval,
            from: params.from,
            to: params.to,
            limit: MAX_CANDLES,
        })
        .await
        .map_err(unavailable)?;
    Ok((
        Klines {
            symbol: params.symbol.clone(),
            interval: params.interval.as_str(),
            from: params.from,
            to: params.to,
            candles,
        },
        params,
    ))
}

fn klines_csv(klines: &Klines, params: &KlineParams) -> Answer {
    let header = [
        "bucket_start",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "quote_volume",
        "trades",
        "vwap",
        "minutes",
        "sma_7",
        "sma_25",
        "sma_99",
    ];
    let rows = klines.candles.iter().map(|candle| {
        let average = |pick: fn(&coinlake::market::MovingAverages) -> &Option<String>| {
            candle
                .averages
                .as_ref()
                .and_then(|a| pick(a).clone())
                .unwrap_or_default()
        };
        vec![
            bucket_start(candle.t),
            candle.open.clone(),
            candle.high.clone(),
            candle.low.clone(),
            candle.close.clone(),
            candle.volume.clone(),
            candle.quote_volume.clone(),
            candle.trades.to_string(),
            candle.vwap.clone().unwrap_or_default(),
            candle.minutes.to_string(),
            average(|a| &a.sma_7),
            average(|a| &a.sma_25),
            average(|a| &a.sma_99),
        ]
    });
    candles_csv(
        &header,
        rows,
        &params.symbol,
        params.interval.as_str(),
        params.from,
        params.to,
    )
}

/// A CSV download of candles: `header`, then the rows, named
/// `coinlake_<name>_<interval>_<from>_<to>.csv`.
fn candles_csv(
    header: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
    name: &str,
    interval: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Answer {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing records into a Vec cannot fail.
    let _ = writer.write_record(header);
    for row in rows {
        let _ = writer.write_record(&row);
    }
    let body = writer.into_inner().unwrap_or_default();
    let filename = format!(
        "coinlake_{name}_{interval}_{}_{}.csv",
        from.format("%Y%m%dT%H%M"),
        to.format("%Y%m%dT%H%M")
    );
    Answer::csv(body, &filename, SHORT_CACHE)
}

fn bucket_start(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    newest_snapshot: Option<DateTime<Utc>>,
    snapshot_age_seconds: Option<i64>,
    newest_load: Option<DateTime<Utc>>,
    load_age_seconds: Option<i64>,
    stale_after_seconds: u64,
}

async fn health(app: &App, now: DateTime<Utc>) -> Result<Answer, ApiError> {
    let freshness = app.market.freshness().await.map_err(unavailable)?;
    let age = |at: Option<DateTime<Utc>>| at.map(|at| (now - at).num_seconds().max(0));
    let snapshot_age = age(freshness.newest_snapshot);
    let stale_after = app.stale_after.as_secs();
    let status = match snapshot_age {
        None => "empty",
        Some(age) if age as u64 > stale_after => "stale",
        Some(_) => "ok",
    };
    let code = if status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(Answer::json(
        code,
        &Health {
            status,
            newest_snapshot: freshness.newest_snapshot,
            snapshot_age_seconds: snapshot_age,
            newest_load: freshness.newest_load,
            load_age_seconds: age(freshness.newest_load),
            stale_after_seconds: stale_after,
        },
        "no-store",
    ))
}
