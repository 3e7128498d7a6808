//! What to fetch (ids, symbols or the top of the listings) and how: symbols are resolved to
//! the highest-ranked coin once and remembered, listings are paged. Quotes are read in
//! either `quotes/latest` shape (v2 keyed objects, v3 arrays) into the same coins.

use super::client::{snippet, CmcClient, Endpoint, QuotesApi, Reply};
use super::error::CmcError;
use super::wire::{read_coin, Coin, UnreadableCoin};
use crate::secret::Secret;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

/// CMC's largest page for `listings/latest`.
pub const MAX_LISTINGS_PAGE: u32 = 5000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// `quotes/latest` for these ids and symbols.
    Quotes { ids: Vec<i64>, symbols: Vec<String> },
    /// The top `limit` coins by rank, `page_size` per request.
    Listings { limit: u32, page_size: u32 },
}

/// Coins one quote currency's calls returned.
#[derive(Debug, Default)]
pub struct Fetched {
    pub coins: Vec<Coin>,
    /// Coin objects that could not be read at all.
    pub unreadable: Vec<UnreadableCoin>,
    /// Requested ids or symbols CMC returned nothing for.
    pub missing: Vec<String>,
    pub credits: i64,
    pub calls: u32,
    /// The distinct `status.notice` texts the replies carried (CMC's credit warnings).
    pub notices: Vec<String>,
}

impl Fetched {
    fn account(&mut self, reply: &Reply) {
        self.credits += reply.status.credit_count.unwrap_or(0);
        self.calls += 1;
        if let Some(notice) = reply.status.notice.as_deref().map(str::trim) {
            if !notice.is_empty() && !self.notices.iter().any(|n| n == notice) {
                self.notices.push(notice.to_owned());
            }
        }
    }
}

/// Symbols collide (several coins share "BTC"-like tickers), so a configured symbol means
/// the highest-ranked coin with it. The choice is remembered for the life of the process:
/// later runs query by id, which is exact and cheaper to answer.
#[derive(Debug, Default)]
pub struct SymbolResolver {
    resolved: Mutex<HashMap<String, i64>>,
}

impl SymbolResolver {
    pub fn resolved(&self, symbol: &str) -> Option<i64> {
        self.lock().get(symbol).copied()
    }

    fn remember(&self, symbol: &str, id: i64) {
        self.lock().insert(symbol.to_owned(), id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        // A poisoned map still holds valid ids: a panic cannot leave one half-written.
        self.resolved
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl CmcClient {
    /// Fetches `selection` in one quote currency.
    pub async fn fetch(
        &self,
        selection: &Selection,
        resolver: &SymbolResolver,
        convert: &str,
        deadline: Instant,
    ) -> Result<Fetched, CmcError> {
        match selection {
            Selection::Quotes { ids, symbols } => {
                self.fetch_quotes(ids, symbols, resolver, convert, deadline)
                    .await
            }
            Selection::Listings { limit, page_size } => {
                self.fetch_listings(*limit, *page_size, convert, deadline)
                    .await
            }
        }
    }

    async fn fetch_quotes(
        &self,
        ids: &[i64],
        symbols: &[String],
        resolver: &SymbolResolver,
        convert: &str,
        deadline: Instant,
    ) -> Result<Fetched, CmcError> {
        let mut fetched = Fetched::default();
        let unresolved: Vec<String> = symbols
            .iter()
            .filter(|s| resolver.resolved(s).is_none())
            .cloned()
            .collect();
        let mut by_symbol_ids = Vec::new();
        if !unresolved.is_empty() {
            let reply = self
                .get(Endpoint::QuotesBySymbol(&unresolved), convert, deadline)
                .await?;
            fetched.account(&reply);
            let mut candidates = self.symbol_candidates(&reply, &unresolved)?;
            for symbol in &unresolved {
                match candidates.remove(symbol.as_str()).and_then(highest_ranked) {
                    Some((id, coin)) => {
                        tracing::info!(
                            symbol = symbol.as_str(),
                            cmc_id = id,
                            "resolved symbol to the highest-ranked coin"
                        );
                        resolver.remember(symbol, id);
                        by_symbol_ids.push(id);
                        fetched.coins.push(coin);
                    }
                    None => fetched.missing.push(format!("symbol {symbol}")),
                }
            }
        }

        let mut wanted: Vec<i64> = ids.to_vec();
        wanted.extend(symbols.iter().filter_map(|s| resolver.resolved(s)));
        let mut seen = by_symbol_ids;
        wanted.retain(|id| {
            let new = !seen.contains(id);
            seen.push(*id);
            new
        });
        if !wanted.is_empty() {
            let reply = self
                .get(Endpoint::QuotesById(&wanted), convert, deadline)
                .await?;
            fetched.account(&reply);
            let (mut coins, unplaced) = self.coins_by_id(&reply, &wanted)?;
            fetched.unreadable.extend(unplaced);
            for id in &wanted {
                match coins.remove(id) {
                    Some(Ok(coin)) => fetched.coins.push(coin),
                    Some(Err(unreadable)) => fetched.unreadable.push(unreadable),
                    None => fetched.missing.push(format!("id {id}")),
                }
            }
        }
        Ok(fetched)
    }

    /// The coins of a `quotes/latest?id=` reply for the `wanted` ids, read one by one. An
    /// id CMC skipped (`skip_invalid`) is absent from the map. Also returns the unreadable
    /// coin objects that name no id at all (v3 only: v2 keys every coin by its id).
    fn coins_by_id(
        &self,
        reply: &Reply,
        wanted: &[i64],
    ) -> Result<(CoinsById, Vec<UnreadableCoin>), CmcError> {
        let mut coins = HashMap::new();
        let mut unplaced = Vec::new();
        match self.quotes_api {
            QuotesApi::V2 => {
                let mut keyed = by_key(reply, &self.api_key)?;
                for id in wanted {
                    if let Some(raw) = keyed.remove(id.to_string().as_str()) {
                        coins.insert(*id, read_coin(raw, format!("id {id}")));
                    }
                }
            }
            QuotesApi::V3 => {
                for (index, raw) in as_array(reply, &self.api_key)?.into_iter().enumerate() {
                    // An unreadable coin is still placed by its id when it has one, so it
                    // is reported once, as v2 reports it, instead of also as missing.
                    let read = read_coin(raw, format!("quotes #{index}"));
                    let id = match &read {
                        Ok(coin) => coin.id,
                        Err(_) => serde_json::from_str::<IdOnly>(raw.get())
                            .ok()
                            .and_then(|only| only.id),
                    };
                    match (id, read) {
                        (Some(id), read) if wanted.contains(&id) && !coins.contains_key(&id) => {
                            let read = read.map_err(|unreadable| UnreadableCoin {
                                position: format!("id {id}"),
                                ..unreadable
                            });
                            coins.insert(id, read);
                        }
                        // A coin nobody asked for (or a repeat) is ignored, as in v2.
                        (Some(_), _) => {}
                        (None, Err(unreadable)) => unplaced.push(unreadable),
                        // A readable coin without an id cannot be a requested one.
                        (None, Ok(_)) => {}
                    }
                }
            }
        }
        Ok((coins, unplaced))
    }

    /// Each requested symbol's candidate coins in a `quotes/latest?symbol=` reply: v2 keys
    /// them by symbol (an array each); v3 lists every matching coin in one array, so they
    /// are grouped by their own `symbol`. Unreadable candidates are left out.
    fn symbol_candidates(
        &self,
        reply: &Reply,
        symbols: &[String],
    ) -> Result<HashMap<String, Vec<Coin>>, CmcError> {
        let mut candidates: HashMap<String, Vec<Coin>> = HashMap::new();
        match self.quotes_api {
            QuotesApi::V2 => {
                let mut keyed = by_key(reply, &self.api_key)?;
                for symbol in symbols {
                    if let Some(raw) = keyed.remove(symbol.as_str()) {
                        candidates.insert(symbol.clone(), readable_candidates(raw));
                    }
                }
            }
            QuotesApi::V3 => {
                for raw in as_array(reply, &self.api_key)? {
                    for coin in readable_candidates(raw) {
                        let requested = coin.symbol.as_deref().and_then(|own| {
                            symbols.iter().find(|s| s.eq_ignore_ascii_case(own.trim()))
                        });
                        if let Some(symbol) = requested {
                            candidates.entry(symbol.clone()).or_default().push(coin);
                        }
                    }
                }
            }
        }
        Ok(candidates)
    }

    async fn fetch_listings(
        &self,
        limit: u32,
        page_size: u32,
        convert: &str,
        deadline: Instant,
    ) -> Result<Fetched, CmcError> {
        let mut fetched = Fetched::default();
        let page_size = page_size.clamp(1, MAX_LISTINGS_PAGE);
        let mut start = 1;
        while start <= limit {
            let want = page_size.min(limit - start + 1);
            let reply = self
                .get(Endpoint::Listings { start, limit: want }, convert, deadline)
                .await?;
            fetched.account(&reply);
            // Borrowed from the reply: a 5,000-coin page is megabytes, and the coins are read
            // one at a time from it rather than from a second copy.
            let page: Vec<&RawValue> = serde_json::from_str(reply.data.get()).map_err(|_| {
                unexpected_shape("listings \"data\" is not an array", &reply, &self.api_key)
            })?;
            let got = page.len() as u32;
            for (offset, raw) in page.iter().enumerate() {
                match read_coin(raw, format!("listing #{}", start as usize + offset)) {
                    Ok(coin) => fetched.coins.push(coin),
                    Err(unreadable) => fetched.unreadable.push(unreadable),
                }
            }
            // A short page means the market has fewer coins than asked for.
            if got < want {
                break;
            }
            start += want;
        }
        Ok(fetched)
    }
}

/// Each requested id's coin, or why it could not be read.
type CoinsById = HashMap<i64, Result<Coin, UnreadableCoin>>;

/// Just the id of a coin object that could not be read whole.
#[derive(serde::Deserialize)]
struct IdOnly {
    #[serde(default, deserialize_with = "super::lenient::integer")]
    id: Option<i64>,
}

/// `data` of a v3 quotes reply: an array of coins.
fn as_array<'r>(reply: &'r Reply, api_key: &Secret) -> Result<Vec<&'r RawValue>, CmcError> {
    serde_json::from_str(reply.data.get())
        .map_err(|_| unexpected_shape("quotes \"data\" is not an array", reply, api_key))
}

/// `data` of a v2 quotes reply: an object keyed by id or by symbol.
fn by_key<'r>(
    reply: &'r Reply,
    api_key: &Secret,
) -> Result<BTreeMap<String, &'r RawValue>, CmcError> {
    serde_json::from_str(reply.data.get())
        .map_err(|_| unexpected_shape("quotes \"data\" is not an object", reply, api_key))
}

/// The readable coins of a symbol's candidates: an array in v2 (and possibly nested in
/// v3), a single object in v1-shaped replies.
fn readable_candidates(raw: &RawValue) -> Vec<Coin> {
    match raw.get().as_bytes().first() {
        Some(b'[') => serde_json::from_str::<Vec<&RawValue>>(raw.get())
            .map(|items| items.into_iter().flat_map(readable_candidates).collect())
            .unwrap_or_default(),
        Some(b'{') => read_coin(raw, "candidate").into_iter().collect(),
        _ => Vec::new(),
    }
}

/// The highest-ranked coin among a symbol's candidates. Unranked coins lose to ranked
/// ones; ties go to the oldest (lowest) id.
fn highest_ranked(candidates: Vec<Coin>) -> Option<(i64, Coin)> {
    candidates
        .into_iter()
        .filter_map(|coin| Some((coin.id?, coin)))
        .min_by_key(|(id, coin)| (coin.cmc_rank.unwrap_or(i64::MAX), *id))
}

fn unexpected_shape(reason: &str, reply: &Reply, api_key: &Secret) -> CmcError {
    CmcError::Malformed {
        http: 200,
        content_type: "application/json".to_owned(),
        reason: reason.to_owned(),
        snippet: snippet(reply.data.get().as_bytes(), api_key),
    }
}
