//! Alerts: rules evaluated against stored data, events recorded in the `alert_events`
//! outbox, and their delivery to SNS (docs/alerts.md).

pub mod deliver;
pub mod notification;
pub mod publish;
pub mod runner;
pub mod stale;
