//! Alerts (docs/alerts.md): rules evaluated in the load transaction, operator alerts such
//! as CoinMarketCap's credit notices, events recorded in the `alert_events` outbox, their
//! delivery to SNS, the scheduled stale check, and the rules and events as the API reads
//! and writes them. Each concern is a module of its own.

pub mod credit_notice;
pub mod deliver;
pub mod evaluation;
pub mod notification;
pub mod publish;
pub mod recent;
pub mod rules;
pub mod runner;
pub mod stale;
