#![allow(dead_code)]
//! Ports for servers a test starts as child processes, which must be told their port
//! before they bind it.
//!
//! A port found by binding port 0 and closing the socket is only free until someone else
//! takes it, and on a busy machine the child takes a second or more to bind (the
//! entrypoint's restore, Litestream's start). Meanwhile the kernel may hand the same port
//! to the next bind to port 0 (the in-process servers of the tests running alongside) or
//! to an outgoing connection: the child then cannot listen, and a stranger may even
//! answer in its place (seen once: a replication test's stack "healthy" and taking a
//! paste, then failing its clean stop). These ports come from outside the kernel's
//! ephemeral range, which it never hands out by itself, and each is held by a lock file
//! for as long as the test process lives, so that no two tests (each its own process
//! under nextest, threads of one under `cargo test`) pick the same one.

use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Mutex;

/// The lock files of the ports handed out: closed (and so released) when the process ends.
static HELD: Mutex<Vec<File>> = Mutex::new(Vec::new());

/// Ports used below the ephemeral range (or above it, when there is no room below).
const SPAN: u16 = 10_000;

/// A port nobody listens on, that the kernel will not hand out by itself, and that no
/// other test holds.
pub fn free_port() -> u16 {
    let (first, last) = candidate_range();
    let dir = std::env::temp_dir().join("logpaste-test-ports");
    std::fs::create_dir_all(&dir).expect("create the port lock folder");
    let count = u32::from(last - first) + 1;
    // A random start: tests starting together mostly look at different ports.
    let start = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish() as u32
        % count;
    for offset in 0..count {
        let port = first + ((start + offset) % count) as u16;
        let Some(lock) = try_lock(&dir, port) else {
            continue;
        };
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            HELD.lock().unwrap_or_else(|e| e.into_inner()).push(lock);
            return port;
        }
    }
    panic!("no free port in {first}..={last}");
}

/// Whether `port` lies in the range the kernel picks ports from by itself.
pub fn is_ephemeral(port: u16) -> bool {
    let (low, high) = ephemeral_range();
    (low..=high).contains(&port)
}

/// Whether some test process holds `port` now.
pub fn is_held(port: u16) -> bool {
    let dir = std::env::temp_dir().join("logpaste-test-ports");
    try_lock(&dir, port).is_none()
}

fn candidate_range() -> (u16, u16) {
    let (low, high) = ephemeral_range();
    if low >= 1024 + SPAN {
        (low - SPAN, low - 1)
    } else if high <= u16::MAX - SPAN {
        (high + 1, high + SPAN)
    } else {
        panic!("the ephemeral port range {low}-{high} leaves no room for fixed test ports");
    }
}

/// `net.ipv4.ip_local_port_range` (Linux's default if it cannot be read).
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut fields = text.split_whitespace().map(|f| f.parse::<u16>().ok());
            Some((fields.next()??, fields.next()??))
        })
        .unwrap_or((32768, 60999))
}

/// The lock file of `port`, locked, unless another process (or another call) holds it.
fn try_lock(dir: &Path, port: u16) -> Option<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{port}.lock")))
        .expect("open a port lock file");
    // SAFETY: flock on a descriptor this function owns.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    locked.then_some(file)
}
