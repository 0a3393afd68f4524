//! At most N uploads per client per minute, as a sliding window: unlike a token bucket it
//! never lets a client exceed N in any 60 seconds. Memory is bounded: the table tracks at
//! most `max_clients` clients, each with at most N timestamps of 8 bytes. When an address
//! spray fills it with clients active this minute, the least recently seen eighth is
//! forgotten: a client that keeps knocking, limited or not, stays tracked and limited.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

use crate::client_addr::ClientKey;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Budget for the table, whatever the limit: clients tracked = budget / bytes per client.
const TABLE_BUDGET_BYTES: usize = 8 * 1024 * 1024;
/// Per-client overhead in the table besides its timestamps (key, deque, last seen, hash slot).
const CLIENT_OVERHEAD_BYTES: usize = 72;
/// Under a spray, one eviction pass frees this share of the table, so passes are rare.
const EVICT_ONE_IN: usize = 8;
/// How often a full table may be swept for clients idle for a whole window.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Limited { retry_after: Duration },
}

/// Times in milliseconds since the limiter's `epoch`: 64 bits, since 32 wrap after 49.7
/// days of uptime.
#[derive(Default)]
struct Client {
    /// Uploads allowed in the last window, oldest first.
    uploads: VecDeque<u64>,
    /// The client's latest attempt, allowed or limited: who to forget first under a spray.
    last_seen: u64,
}

struct Table {
    clients: HashMap<ClientKey, Client>,
    last_sweep: Instant,
}

impl Table {
    /// Forgets the `count` clients seen least recently (all of them, if fewer).
    fn evict_least_recently_seen(&mut self, count: usize) {
        let mut seen: Vec<u64> = self.clients.values().map(|c| c.last_seen).collect();
        if count == 0 || seen.is_empty() {
            return;
        }
        let nth = count.min(seen.len()) - 1;
        let (_, &mut threshold, _) = seen.select_nth_unstable(nth);
        // Everyone seen before the threshold goes, then ties until `count` are gone.
        let mut ties_to_drop = count - seen.iter().filter(|&&t| t < threshold).count();
        self.clients.retain(|_, client| {
            if client.last_seen < threshold {
                false
            } else if client.last_seen == threshold && ties_to_drop > 0 {
                ties_to_drop -= 1;
                false
            } else {
                true
            }
        });
    }
}

pub struct RateLimiter {
    per_minute: u32,
    max_clients: usize,
    epoch: Instant,
    table: Mutex<Table>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        let per_client = CLIENT_OVERHEAD_BYTES + 8 * per_minute as usize;
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
        let window_ms = WINDOW.as_millis() as u64;
        let key = ClientKey::from(ip);
        // A poisoned lock only means another request panicked mid-update; the table is
        // still a valid (if slightly stale) set of timestamps.
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());

        if !table.clients.contains_key(&key) && table.clients.len() >= self.max_clients {
            if now.duration_since(table.last_sweep) >= SWEEP_INTERVAL {
                table.last_sweep = now;
                table.clients.retain(|_, client| {
                    client
                        .uploads
                        .back()
                        .is_some_and(|&last| now_ms.saturating_sub(last) < window_ms)
                });
            }
            if table.clients.len() >= self.max_clients {
                // Every slot is held by a client active this minute (an address spray).
                // Forgetting the least recently seen resets their budgets, which a
                // sprayer with that many addresses has anyway; letting newcomers through
                // untracked instead would let one address upload without limit.
                table.evict_least_recently_seen((self.max_clients / EVICT_ONE_IN).max(1));
            }
        }

        let client = table.clients.entry(key).or_default();
        client.last_seen = now_ms;
        let uploads = &mut client.uploads;
        while uploads
            .front()
            .is_some_and(|&t| now_ms.saturating_sub(t) >= window_ms)
        {
            uploads.pop_front();
        }
        if uploads.len() >= self.per_minute as usize {
            let oldest = uploads.front().copied().unwrap_or(now_ms);
            let waited = now_ms.saturating_sub(oldest);
            let retry_after = Duration::from_millis(window_ms.saturating_sub(waited));
            return Decision::Limited { retry_after };
        }
        uploads.push_back(now_ms);
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

    fn millis_since_epoch(&self, now: Instant) -> u64 {
        // u64 milliseconds last 584 million years: no wrapping.
        now.duration_since(self.epoch).as_millis() as u64
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
        assert!(limiter.tracked_clients() <= 100);
        // After a quiet minute the sweep frees the table for new clients.
        let later = t0 + Duration::from_secs(61);
        limiter.check_at(ip("192.0.2.50"), later);
        assert_eq!(limiter.tracked_clients(), 1);
    }

    fn sprayed(i: u32) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i))
    }

    #[test]
    fn under_a_spray_a_client_that_keeps_trying_stays_limited() {
        let limiter = RateLimiter::with_capacity(2, 100);
        let t0 = Instant::now();
        let abuser = ip("192.0.2.66");
        assert_eq!(limiter.check_at(abuser, t0), Decision::Allowed);
        assert_eq!(limiter.check_at(abuser, t0), Decision::Allowed);
        // 10,000 fresh addresses within 10 s (all active this minute: no sweep frees a
        // slot), the abuser trying again after every ten.
        for i in 0..10_000u32 {
            let now = t0 + Duration::from_millis(u64::from(i));
            limiter.check_at(sprayed(i), now);
            if i % 10 == 9 {
                assert!(
                    matches!(limiter.check_at(abuser, now), Decision::Limited { .. }),
                    "the abuser got a third upload after {i} sprayed addresses"
                );
            }
            assert!(limiter.tracked_clients() <= 100);
        }
    }

    #[test]
    fn a_newcomer_to_a_table_full_of_active_clients_is_tracked_and_limited() {
        let limiter = RateLimiter::with_capacity(2, 100);
        let t0 = Instant::now();
        for i in 0..100u32 {
            limiter.check_at(sprayed(i), t0 + Duration::from_millis(u64::from(i)));
        }
        assert_eq!(limiter.tracked_clients(), 100);
        let newcomer = ip("192.0.2.77");
        let now = t0 + Duration::from_secs(1);
        assert_eq!(limiter.check_at(newcomer, now), Decision::Allowed);
        assert_eq!(limiter.check_at(newcomer, now), Decision::Allowed);
        assert!(matches!(
            limiter.check_at(newcomer, now),
            Decision::Limited { .. }
        ));
        // Room was made by forgetting the least recently seen eighth, not the newest.
        assert_eq!(limiter.tracked_clients(), 100 - 100 / EVICT_ONE_IN + 1);
        assert!(matches!(
            limiter.check_at(sprayed(99), now),
            Decision::Allowed
        ));
        assert_eq!(
            limiter.tracked_clients(),
            100 - 100 / EVICT_ONE_IN + 1,
            "the most recent sprayed client was still tracked"
        );
    }

    #[test]
    fn eviction_forgets_exactly_the_least_recently_seen_even_among_ties() {
        let limiter = RateLimiter::with_capacity(1, 16);
        let t0 = Instant::now();
        // Eight clients seen at the same instant, then eight later ones.
        for i in 0..16u32 {
            let at = if i < 8 {
                t0
            } else {
                t0 + Duration::from_millis(u64::from(i))
            };
            limiter.check_at(sprayed(i), at);
        }
        let mut table = limiter.table.lock().unwrap();
        table.evict_least_recently_seen(3);
        assert_eq!(
            table.clients.len(),
            13,
            "exactly three forgotten among the tied eight"
        );
        table.evict_least_recently_seen(6);
        assert_eq!(table.clients.len(), 7);
        for i in 8..15u32 {
            assert!(
                table.clients.contains_key(&ClientKey::from(sprayed(i + 1))),
                "a later client was forgotten before the tied early ones"
            );
        }
    }
}
