//! testkit's own integration tests, one binary: the Data API stand-in against the real
//! PostgreSQL, and `template.yaml` held to the code.

mod data_api_emulator;
mod template_contract;
