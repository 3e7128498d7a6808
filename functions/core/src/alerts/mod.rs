//! Alerts: rules evaluated against stored data, events recorded in the `alert_events`
//! outbox, their delivery to SNS, and the rules and events as the API reads and writes
//! them (docs/alerts.md).

pub mod deliver;
pub mod notification;
pub mod publish;
pub mod recent;
pub mod rules;
pub mod runner;
pub mod stale;
mod text_row;
