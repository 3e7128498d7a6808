//! coinlake's whole-system tests, in `tests/integration/`: behaviour no single function
//! owns, checked with the real handlers of several functions and the deployment files.
//!
//! - `chaos_day`: a simulated day of 288 slots under injected faults, through the real
//!   `ingest` and `load` handlers, ending with every row stored exactly once.
//! - `athena_standin`: what Athena's OpenCSVSerde reads from the objects `ingest` writes, and
//!   what the named queries in `template.yaml` answer over them.
//! - `template_contract`: `template.yaml` held to the code (binaries, environment, layout,
//!   schema, IAM), before and after the SAM transform.
//!
//! The library itself is empty: Cargo needs a target besides the tests.
