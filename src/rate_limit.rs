//! At most N uploads per client per minute, as a sliding window: unlike a token bucket it
//! never lets a client exceed N in any 60 seconds. Memory is bounded: the table tracks at
//! most `max_clients` clients, each with at most N timestamps of 4 bytes.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Budget for the table, whatever the limit: clients tracked = budget / bytes per client.
const TABLE_BUDGET_BYTES: usize = 8 * 1024 * 1024;
/// Per-client overhead in the table besides its timestamps (key, deque, hash slot).
const CLIENT_OVERHEAD_BYTES: usize = 64;
/// How often a full table may be swept for clients idle for a whole window.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Limited { retry_after: Duration },
}

/// IPv4 addresses are keyed whole; IPv6 by their /64, which one host usually owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClientKey {
    V4(u32),
    V6(u64),
}

impl From<IpAddr> for ClientKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => ClientKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey::V4(u32::from(v4)),
                None => ClientKey::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

struct Table {
    /// Upload times per client, in milliseconds since `epoch`, oldest first.
    clients: HashMap<ClientKey, VecDeque<u32>>,
    last_sweep: Instant,
}

pub struct RateLimiter {
    per_minute: u32,
    max_clients: usize,
    epoch: Instant,
    table: Mutex<Table>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        let per_client = CLIENT_OVERHEAD_BYTES + 4 * per_minute as usize;
        Self::with_capacity(per_minute, (TABLE_BUDGET_BYTES / per_client).max(1024))
    }

    pub fn with_capacity(per_minute: u32, max_clients: usize) -> Self {
        let epoch = Instant::now();
        RateLimiter {
            per_minute,
            max_clients,
            epoch,
            table: Mutex::new(Table {
                clients: HashMap::new(),
                last_sweep: epoch,
            }),
        }
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Counts an upload by `ip` now, unless it would exceed the limit.
    pub fn check(&self, ip: IpAddr) -> Decision {
        self.check_at(ip, Instant::now())
    }

    pub fn check_at(&self, ip: IpAddr, now: Instant) -> Decision {
        let now_ms = self.millis_since_epoch(now);
        let window_ms = WINDOW.as_millis() as u32;
        let key = ClientKey::from(ip);
        // A poisoned lock only means another request panicked mid-update; the table is
        // still a valid (if slightly stale) set of timestamps.
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());

        if !table.clients.contains_key(&key) && table.clients.len() >= self.max_clients {
            if now.duration_since(table.last_sweep) >= SWEEP_INTERVAL {
                table.last_sweep = now;
                table.clients.retain(|_, times| {
                    times
                        .back()
                        .is_some_and(|&last| now_ms.saturating_sub(last) < window_ms)
                });
            }
            if table.clients.len() >= self.max_clients {
                // Every slot is held by a client active this minute (an address spray).
                // Untracked newcomers get no more than a fresh address would anyway;
                // clients already tracked keep their limit.
                return Decision::Allowed;
            }
        }

        let times = table.clients.entry(key).or_default();
        while times
            .front()
            .is_some_and(|&t| now_ms.saturating_sub(t) >= window_ms)
        {
            times.pop_front();
        }
        if times.len() >= self.per_minute as usize {
            let oldest = times.front().copied().unwrap_or(now_ms);
            let waited = now_ms.saturating_sub(oldest);
            let retry_after = Duration::from_millis(u64::from(window_ms.saturating_sub(waited)));
            return Decision::Limited { retry_after };
        }
        times.push_back(now_ms);
        Decision::Allowed
    }

    /// Clients currently tracked (for tests and metrics).
    pub fn tracked_clients(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clients
            .len()
    }

    fn millis_since_epoch(&self, now: Instant) -> u32 {
        // Wraps after 49 days; a wrapped stamp only makes one window look expired early.
        now.duration_since(self.epoch).as_millis() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn allows_n_per_sliding_minute() {
        let limiter = RateLimiter::new(3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check_at(ip("192.0.2.1"), t0), Decision::Allowed);
        }
        let Decision::Limited { retry_after } =
            limiter.check_at(ip("192.0.2.1"), t0 + Duration::from_secs(20))
        else {
            panic!("fourth upload in a minute was allowed");
        };
        assert_eq!(retry_after, Duration::from_secs(40));
        // Another client is not affected.
        assert_eq!(limiter.check_at(ip("192.0.2.2"), t0), Decision::Allowed);
        // A minute after the first uploads, room again; but only for as many as expired.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(limiter.check_at(ip("192.0.2.1"), later), Decision::Allowed);
        assert_eq!(limiter.check_at(ip("192.0.2.1"), later), Decision::Allowed);
        assert_eq!(limiter.check_at(ip("192.0.2.1"), later), Decision::Allowed);
        assert!(matches!(
            limiter.check_at(ip("192.0.2.1"), later),
            Decision::Limited { .. }
        ));
    }

    #[test]
    fn ipv6_clients_share_their_slash_64() {
        let limiter = RateLimiter::new(1);
        let t0 = Instant::now();
        assert_eq!(limiter.check_at(ip("2001:db8::1"), t0), Decision::Allowed);
        assert!(matches!(
            limiter.check_at(ip("2001:db8::ffff:1"), t0),
            Decision::Limited { .. }
        ));
        assert_eq!(
            limiter.check_at(ip("2001:db8:0:1::1"), t0),
            Decision::Allowed
        );
    }

    #[test]
    fn table_stays_bounded_under_address_spraying() {
        let limiter = RateLimiter::with_capacity(2, 100);
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            let addr = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            limiter.check_at(addr, t0);
        }
        assert_eq!(limiter.tracked_clients(), 100);
        // After a quiet minute the sweep frees the table for new clients.
        let later = t0 + Duration::from_secs(61);
        limiter.check_at(ip("192.0.2.50"), later);
        assert_eq!(limiter.tracked_clients(), 1);
    }
}
