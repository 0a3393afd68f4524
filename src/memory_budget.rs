//! A cap on the bytes of uploads, or of large responses, held in memory at once.
//! - Each upload is read whole into memory before it is committed, so a fleet of devices
//!   sending 2 MiB logs together (or 250 connections through Fly's proxy) would need more
//!   memory than a small machine has (400 uploads of 2 MiB at once peaked at ~975 MB). Past
//!   the cap, uploads wait for room: their bodies stay in the kernel's buffers and the
//!   clients' own.
//! - A response stays in memory until its client has read it, and actix copies each piece
//!   it is given into its write buffer: clients asking for large pastes faster than they
//!   read them (or never reading) would hold as much. Past the cap, GETs of large pastes
//!   wait for room before reading the paste.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::client_addr::ClientKey;

/// Bytes held at once with the default 2 MiB limit: 16 pastes of the limit.
pub const DEFAULT_BUDGET_BYTES: usize = 32 * 1024 * 1024;

pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    total: u32,
    /// Uploads waiting for room now: while there are any, slow holders are cut off (the
    /// upload budget's rule; the response budget's holders are dropped by the stall timeout).
    waiting: AtomicUsize,
}

/// Counts an upload as waiting for as long as it lives (also when its wait is abandoned).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl MemoryBudget {
    /// At least `largest`, so that one upload or paste of any allowed size always fits.
    pub fn new(largest: usize) -> Self {
        let total = DEFAULT_BUDGET_BYTES.max(largest).min(u32::MAX as usize) as u32;
        MemoryBudget {
            permits: Arc::new(Semaphore::new(total as usize)),
            total,
            waiting: AtomicUsize::new(0),
        }
    }

    /// `bytes` held until the returned reservation is dropped, if they are free now.
    pub fn try_reserve(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        self.permits
            .clone()
            .try_acquire_many_owned(self.clamp(bytes))
            .ok()
    }

    /// Waits until `bytes` are free (at most the whole budget) and holds them until the
    /// returned reservation is dropped. Reserved in one piece, before any byte is read: two
    /// uploads holding half of what each needs would otherwise wait on each other.
    pub async fn reserve(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let bytes = self.clamp(bytes);
        if let Ok(permit) = self.permits.clone().try_acquire_many_owned(bytes) {
            return Some(permit);
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.waiting);
        // Err only if the semaphore is closed, which nothing does.
        self.permits.clone().acquire_many_owned(bytes).await.ok()
    }

    /// At most the whole budget, so that any one paste fits.
    fn clamp(&self, bytes: usize) -> u32 {
        u32::try_from(bytes)
            .unwrap_or(u32::MAX)
            .clamp(1, self.total)
    }

    /// Whether some upload is waiting for room right now.
    pub fn has_waiters(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) > 0
    }

    #[cfg(test)]
    fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

/// A memory budget of which no one client takes more than a share: a few clients that
/// never read their responses could otherwise hold all of it until the stall timeout drops
/// them, and every other client's large pastes would wait.
pub struct SharedBudget {
    whole: MemoryBudget,
    share: u32,
    clients: Mutex<HashMap<ClientKey, Arc<Semaphore>>>,
}

/// Room in a `SharedBudget`: the client's share and the whole budget's, given back together.
#[derive(Debug)]
pub struct Room {
    _client: Option<OwnedSemaphorePermit>,
    _whole: OwnedSemaphorePermit,
}

/// Clients tracked before those holding nothing are forgotten.
const TRACKED_CLIENTS: usize = 1024;

impl SharedBudget {
    /// A budget of at least `largest`; each client may hold a quarter of it, and always at
    /// least `largest`, so that any one paste fits in a share.
    pub fn new(largest: usize) -> Self {
        let whole = MemoryBudget::new(largest);
        let share = (whole.total / 4).max(whole.clamp(largest));
        SharedBudget {
            whole,
            share,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Room for `bytes` if it is free now, in `client`'s share and in the whole budget.
    pub fn try_reserve(&self, client: Option<IpAddr>, bytes: usize) -> Option<Room> {
        let share = match client {
            Some(ip) => Some(
                self.client_share(ip)
                    .try_acquire_many_owned(self.share_of(bytes))
                    .ok()?,
            ),
            None => None,
        };
        Some(Room {
            _whole: self.whole.try_reserve(bytes)?,
            _client: share,
        })
    }

    /// Waits for room for `bytes`: first in `client`'s share, then in the whole budget
    /// (always in that order, so that no two requests wait on each other).
    pub async fn reserve(&self, client: Option<IpAddr>, bytes: usize) -> Option<Room> {
        let share = match client {
            Some(ip) => Some(
                self.client_share(ip)
                    .acquire_many_owned(self.share_of(bytes))
                    .await
                    .ok()?,
            ),
            None => None,
        };
        Some(Room {
            _whole: self.whole.reserve(bytes).await?,
            _client: share,
        })
    }

    #[cfg(test)]
    pub(crate) fn available(&self) -> usize {
        self.whole.available()
    }

    fn share_of(&self, bytes: usize) -> u32 {
        self.whole.clamp(bytes).min(self.share)
    }

    fn client_share(&self, ip: IpAddr) -> Arc<Semaphore> {
        // Only lookups and inserts happen under the lock: a poisoned map is still a map.
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if clients.len() >= TRACKED_CLIENTS {
            // A share nobody holds or waits for is only the map's: forget it.
            clients.retain(|_, share| Arc::strong_count(share) > 1);
        }
        clients
            .entry(ClientKey::from(ip))
            .or_insert_with(|| Arc::new(Semaphore::new(self.share as usize)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MIB: usize = 1024 * 1024;

    #[tokio::test]
    async fn uploads_past_the_budget_wait_until_room_is_given_back() {
        let budget = MemoryBudget::new(2 * MIB);
        let held: Vec<_> = futures_util::future::join_all(
            (0..DEFAULT_BUDGET_BYTES / (2 * MIB)).map(|_| budget.reserve(2 * MIB)),
        )
        .await;
        assert_eq!(budget.available(), 0);
        assert!(!budget.has_waiters());
        let waiting = tokio::time::timeout(Duration::from_millis(200), budget.reserve(1)).await;
        assert!(waiting.is_err(), "reserved past the budget");
        // An abandoned wait no longer counts.
        assert!(!budget.has_waiters());
        tokio::select! {
            biased;
            _ = budget.reserve(1) => panic!("reserved past the budget"),
            // (checked inside: select! drops the other branch before running a handler)
            _ = async {
                tokio::task::yield_now().await;
                assert!(budget.has_waiters());
            } => {}
        }
        assert!(!budget.has_waiters());
        drop(held);
        assert_eq!(budget.available(), DEFAULT_BUDGET_BYTES);
        assert!(budget.reserve(1).await.is_some());
    }

    #[tokio::test]
    async fn one_client_takes_at_most_its_share_and_others_still_find_room() {
        let budget = SharedBudget::new(2 * MIB);
        let greedy: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        // A quarter of the 32 MiB: four pastes of 2 MiB.
        let held: Vec<Room> = (0..4)
            .map(|_| budget.try_reserve(Some(greedy), 2 * MIB).unwrap())
            .collect();
        assert!(budget.try_reserve(Some(greedy), 2 * MIB).is_none());
        let waited =
            tokio::time::timeout(Duration::from_millis(200), budget.reserve(Some(greedy), 1)).await;
        assert!(waited.is_err(), "took more than its share");
        assert!(budget.try_reserve(Some(other), 2 * MIB).is_some());
        drop(held);
        assert!(budget.try_reserve(Some(greedy), 2 * MIB).is_some());
        // A share always fits the largest paste, even when that is more than a quarter.
        let large = SharedBudget::new(24 * MIB);
        assert!(large.try_reserve(Some(greedy), 24 * MIB).is_some());
    }

    #[tokio::test]
    async fn one_upload_of_any_allowed_size_always_fits() {
        let largest = 3 * DEFAULT_BUDGET_BYTES;
        let budget = MemoryBudget::new(largest);
        let whole = budget.reserve(largest).await;
        assert!(whole.is_some());
        assert_eq!(budget.available(), 0);
        drop(whole);
        // More than the budget asks for all of it, and still gets it.
        let more = tokio::time::timeout(Duration::from_secs(5), budget.reserve(largest * 2)).await;
        assert!(more.is_ok_and(|reserved| reserved.is_some()));
    }
}
