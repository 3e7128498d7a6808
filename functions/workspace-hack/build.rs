// Cargo applies a crate's build-dependencies only when it has a build script; the unified
// build-dependency features need this one.
fn main() {}
