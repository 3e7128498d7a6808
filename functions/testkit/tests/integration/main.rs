//! testkit's own integration tests, one binary: the Data API stand-in against the real
//! PostgreSQL.

mod data_api_emulator;
