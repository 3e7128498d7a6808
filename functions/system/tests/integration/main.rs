//! The whole-system tests, one binary: each module drives more than one function, or holds
//! `template.yaml` to the code, and every test builds its own world so they run in parallel.

mod athena_standin;
mod chaos_alerts;
mod chaos_day;
mod common;
mod template_contract;
