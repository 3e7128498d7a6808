//! Alerts: rules people subscribe to, and the events they fire (migration V9).

pub mod recent;
pub mod rules;
mod text_row;
