//! No code: this crate's Cargo.toml asks for the union of the features the workspace needs of
//! each third-party crate, so every build of any member compiles each of them once
//! (see .config/hakari.toml).
