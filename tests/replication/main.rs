//! The container's promise, proved on this host: the image's own scripts (entrypoint,
//! s6 service scripts, restore and launch helpers) run against the real Litestream
//! binary, a real S3-compatible server (moto on 127.0.0.1) and the real app.
//! There is no Docker engine here, so the image itself is not built.

#[path = "../common/ports.rs"]
mod ports;

mod crash;
mod divergence;
mod harness;
mod legacy;
mod migration;
mod modes;
mod outage;
mod schedule;
mod secrets;
mod stop;
mod supervision;
