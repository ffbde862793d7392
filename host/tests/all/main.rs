//! The `hutong` binary driven from outside, in one test binary.
//!
//! These tests run the real executable (`CARGO_BIN_EXE_hutong`), so they stay
//! in the host crate; they were three test binaries, each linking the host
//! library again. One binary links it once.

mod cli;
mod processes;
mod registry_cli;
mod support;
