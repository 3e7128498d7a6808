//! Alerts (docs/alerts.md): rules evaluated in the load transaction, and operator alerts
//! such as CoinMarketCap's credit notices. Each concern is a module of its own.

pub mod credit_notice;
pub mod evaluation;
