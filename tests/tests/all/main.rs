//! Every integration test of the host, in one test binary.
//!
//! Each file here was its own test binary, and each of those linked the whole
//! host again: wasmtime, cranelift and sqlx, which dominate the link. One
//! binary links them once (the shape wasmtime's own `tests/all/` uses), so a
//! change to the harness or the host relinks one executable instead of one
//! per file. The files stay what they were: one module per area, each with
//! its module doc saying what it covers.

mod app_origin;
mod app_output;
mod auth;
mod browser;
mod case_apps;
mod cases;
mod data;
mod e_voting;
mod events;
mod exports;
mod install;
mod isolation;
mod kv;
mod languages;
mod new_app;
mod notify;
mod open311;
mod party_building;
mod registry;
mod residents;
mod residents_console;
mod sandbox;
mod schedules;
mod sign_in;
mod smart_care;
