//! The homepage and the JS client in a real headless Chromium (Debian's chromium and
//! chromium-driver), against the real server over real HTTP.
//!
//! Every test starts its own app, chromedriver and browser, so tests run in parallel and
//! each cleans up after itself (process groups are killed by id when a guard drops).

#[path = "../common/mod.rs"]
mod common;
mod support;

mod branding;
mod cross_origin;
mod docs;
mod errors;
mod footer_csp;
mod keyboard;
mod look;
mod no_script;
mod upload;
