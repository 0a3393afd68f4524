//! A small in-memory cache of recently read pastes. Pastes never change once stored, so a
//! cached copy is never stale and nothing ever needs invalidating.
//!
//! The cache is bounded in bytes, not entries, and evicts with CLOCK (second chance): a
//! paste read again since its last pass survives one more round, so a paste being read over
//! and over stays while one-off reads pass through.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;

use crate::id::ID_LENGTH;

/// What an entry costs besides its contents: key, map slot, queue slot, `Bytes` header.
const ENTRY_OVERHEAD_BYTES: usize = 64;

type Key = [u8; ID_LENGTH];

struct Entry {
    contents: Bytes,
    referenced: bool,
}

struct Inner {
    entries: HashMap<Key, Entry>,
    /// Keys in insertion order: the clock hand is the front.
    clock: VecDeque<Key>,
    bytes: usize,
}

pub struct PasteCache {
    max_bytes: usize,
    max_paste_bytes: usize,
    inner: Mutex<Inner>,
}

impl PasteCache {
    /// Holds at most `max_bytes` in all; pastes over `max_paste_bytes` are never cached.
    pub fn new(max_bytes: usize, max_paste_bytes: usize) -> Self {
        PasteCache {
            max_bytes,
            max_paste_bytes: max_paste_bytes.min(max_bytes),
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                clock: VecDeque::new(),
                bytes: 0,
            }),
        }
    }

    pub fn get(&self, id: &str) -> Option<Bytes> {
        let key = key(id)?;
        let mut inner = self.lock();
        let entry = inner.entries.get_mut(&key)?;
        entry.referenced = true;
        Some(entry.contents.clone())
    }

    pub fn insert(&self, id: &str, contents: &Bytes) {
        let Some(key) = key(id) else { return };
        let cost = contents.len() + ENTRY_OVERHEAD_BYTES;
        if contents.len() > self.max_paste_bytes || cost > self.max_bytes {
            return;
        }
        let mut inner = self.lock();
        if inner.entries.contains_key(&key) {
            return;
        }
        // Each turn either evicts an entry or clears one referenced bit, so this ends
        // within two passes over the queue.
        while inner.bytes + cost > self.max_bytes {
            let Some(oldest) = inner.clock.pop_front() else {
                break;
            };
            let Some(entry) = inner.entries.get_mut(&oldest) else {
                continue;
            };
            if entry.referenced {
                entry.referenced = false;
                inner.clock.push_back(oldest);
            } else if let Some(evicted) = inner.entries.remove(&oldest) {
                inner.bytes -= evicted.contents.len() + ENTRY_OVERHEAD_BYTES;
            }
        }
        inner.bytes += cost;
        inner.clock.push_back(key);
        inner.entries.insert(
            key,
            Entry {
                contents: contents.clone(),
                referenced: false,
            },
        );
    }

    /// Bytes held, overhead included (for tests).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a consistent map (every update is a few
        // plain assignments), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn key(id: &str) -> Option<Key> {
    id.as_bytes().try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paste(size: usize) -> Bytes {
        Bytes::from(vec![b'x'; size])
    }

    #[test]
    fn returns_what_was_stored() {
        let cache = PasteCache::new(10_000, 1_000);
        cache.insert("abcdefgh", &Bytes::from_static(b"hello"));
        assert_eq!(cache.get("abcdefgh").as_deref(), Some(&b"hello"[..]));
        assert_eq!(cache.get("abcdefgX"), None);
        assert_eq!(cache.get("short"), None);
    }

    #[test]
    fn stays_within_its_byte_budget() {
        let cache = PasteCache::new(10 * (100 + ENTRY_OVERHEAD_BYTES), 1_000);
        for n in 0..100 {
            cache.insert(&format!("{n:08}"), &paste(100));
            assert!(cache.bytes() <= 10 * (100 + ENTRY_OVERHEAD_BYTES));
        }
        let kept = (0..100)
            .filter(|n| cache.get(&format!("{n:08}")).is_some())
            .count();
        assert_eq!(kept, 10);
        // The newest survive a stream of one-off reads.
        assert!(cache.get("00000099").is_some());
    }

    #[test]
    fn a_paste_read_again_outlives_one_off_reads() {
        let cache = PasteCache::new(4 * (100 + ENTRY_OVERHEAD_BYTES), 1_000);
        cache.insert("hot00000", &paste(100));
        for n in 0..50 {
            assert!(cache.get("hot00000").is_some(), "evicted after {n} inserts");
            cache.insert(&format!("cold{n:04}"), &paste(100));
        }
    }

    #[test]
    fn large_pastes_are_not_cached() {
        let cache = PasteCache::new(10_000, 1_000);
        cache.insert("bigbig00", &paste(1_001));
        assert_eq!(cache.get("bigbig00"), None);
        assert_eq!(cache.bytes(), 0);
    }
}
