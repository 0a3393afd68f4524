//! logpaste: a pastebin for log files, backed by one SQLite file that Litestream replicates.
//! It speaks LogPaste's HTTP API; see the README's HTTP API and Compatibility sections.

pub mod allocator;
pub mod cache;
pub mod client_addr;
pub mod config;
pub mod error;
pub mod fd_limit;
pub mod id;
pub mod memory_budget;
pub mod multipart_form;
pub mod paste_bytes;
pub mod rate_limit;
pub mod routes;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tick;
pub mod wal_writeback;
