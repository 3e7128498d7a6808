//! The api integration tests, one binary: every test gets its own database on the real
//! PostgreSQL server and calls the handler with Function URL events.

mod alert_events;
mod alert_rules;
mod common;
mod health_and_auth;
mod history;
mod klines;
mod klines_views;
mod latest;
mod metrics;
mod reader_role;
mod readers_agree;
mod rotation;
