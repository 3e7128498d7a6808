//! What the stand-ins share: a request's query parameters, as the CMC and Binance
//! responders read them; and for the binaries (`cmc-standin`, `binance-standin`,
//! `binance-archive-standin`) a wiremock server on the loopback port named on the command
//! line, kept up until Ctrl-C.

use std::net::TcpListener;
use wiremock::{MockServer, Request};

/// The first value of the query parameter `name`, decoded.
pub fn query_param(request: &Request, name: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A server on `127.0.0.1` at the port given as the first argument, or `default_port`.
pub async fn server_from_args(default_port: u16) -> Result<MockServer, String> {
    let port: u16 = match std::env::args().nth(1) {
        Some(text) => text
            .parse()
            .map_err(|_| format!("PORT must be a number, got {text:?}"))?,
        None => default_port,
    };
    let listener = TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    Ok(MockServer::builder().listener(listener).start().await)
}

/// Says what is served where, then serves until Ctrl-C.
pub async fn serve_until_interrupted(what: &str, uri: &str) -> std::io::Result<()> {
    println!("{what} at {uri}");
    tokio::signal::ctrl_c().await
}
