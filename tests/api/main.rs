//! The LogPaste contract over real HTTP, against the real server and a real SQLite file.

#[path = "../common/mod.rs"]
mod common;

mod config;
mod homepage;
mod lifecycle;
mod rate_limit;
mod read;
mod storage;
mod upload;
