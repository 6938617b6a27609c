//! The sharded per-item failure counter behind the per-item limiters, and its bounds.
//!
//! # Design
//!
//! The map is split into a power-of-two number of shards, each a `Mutex` around a
//! `hashbrown::HashTable`, padded to its own cache lines. A key is hashed once; some
//! middle bits of the hash pick the shard and the full hash finds the entry, so two
//! threads only contend when their keys land in the same shard. Each operation takes
//! exactly one shard lock and never holds two, so there is no lock order to respect.
//!
//! # Bounds
//!
//! A controller that forgets to call `forget` would otherwise grow the map forever.
//! [`FailureMapBounds`] can cap the number of keys (the least recently failed key of a
//! full shard is evicted) and/or expire keys whose last failure is older than a TTL.
//! An evicted or expired key behaves exactly as if it had been forgotten.

use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use gosync_core::clock::Clock;
use gosync_core::sync::Mutex;

use crate::KeyRef;
use hashbrown::HashTable;

/// The key hasher: foldhash, randomly seeded per map (hashbrown's default).
#[cfg(not(loom))]
type MapHasher = hashbrown::DefaultHashBuilder;
/// Under loom, a fixed-key hasher, so every modelled execution picks the same shard.
#[cfg(loom)]
type MapHasher = std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>;

/// Shards per map: enough that two to a few dozen threads rarely meet on one lock.
#[cfg(not(loom))]
const DEFAULT_SHARDS: usize = 64;
/// Under loom, two shards keep the model small while still exercising the sharding.
#[cfg(loom)]
const DEFAULT_SHARDS: usize = 2;

/// Limits on how many keys a per-item limiter remembers.
///
/// The default is unbounded, like client-go: a key is remembered from its first failure
/// until `forget`. A bound makes a forgotten `forget` harmless:
///
/// * [`capacity`](FailureMapBounds::capacity)`(n)`: at most `n` keys are remembered. The
///   map is split into shards (a power of two, at most 64 and at most `n`), each holding
///   at most `n / shards` keys; recording a new key in a full shard evicts that shard's
///   least recently failed key. Eviction is thus LRU per shard, an approximation of a
///   global LRU.
/// * [`idle_expiry`](FailureMapBounds::idle_expiry)`(ttl)`: a key whose last failure was
///   `ttl` or longer ago (by the limiter's [`Clock`]) counts as forgotten. Expired keys
///   are also swept out of memory: a shard is swept at most once per `ttl`, when a new
///   key is recorded into it.
///
/// An evicted or expired key behaves exactly as if `forget` had been called: its next
/// failure starts the backoff again from the beginning.
///
/// # Examples
///
/// ```
/// use gosync_ratelimit::{ExponentialLimiter, FailureMapBounds, RateLimiter};
/// use gosync_core::clock::FakeClock;
/// use std::time::Duration;
///
/// let fake = FakeClock::new();
/// let bounds = FailureMapBounds::new()
///     .capacity(10_000)
///     .idle_expiry(Duration::from_secs(600))
///     .clock(fake.clock());
/// let limiter = ExponentialLimiter::with_bounds(
///     Duration::from_millis(5),
///     Duration::from_secs(1000),
///     bounds,
/// );
/// limiter.when(&"job");
/// limiter.when(&"job");
/// assert_eq!(limiter.num_requeues(&"job"), 2);
/// fake.advance(Duration::from_secs(600));
/// assert_eq!(limiter.num_requeues(&"job"), 0); // idle too long: forgotten
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "bounds do nothing until passed to a limiter"]
pub struct FailureMapBounds {
    capacity: Option<usize>,
    idle_expiry: Option<Duration>,
    clock: Clock,
}

impl FailureMapBounds {
    /// No bound (the default): keys are remembered until `forget`.
    pub fn new() -> FailureMapBounds {
        FailureMapBounds::default()
    }

    /// Remember at most `capacity` keys (see the type docs for the eviction rule).
    /// A capacity of 0 is treated as 1.
    pub fn capacity(mut self, capacity: usize) -> FailureMapBounds {
        self.capacity = Some(capacity.max(1));
        self
    }

    /// Forget a key whose last failure is `ttl` or more ago. `Duration::MAX` (or any
    /// TTL beyond what the clock can represent) never expires; `Duration::ZERO` expires
    /// every key at once, so every failure counts as the first.
    pub fn idle_expiry(mut self, ttl: Duration) -> FailureMapBounds {
        self.idle_expiry = Some(ttl);
        self
    }

    /// The clock that measures idle time (the real clock by default).
    pub fn clock(mut self, clock: Clock) -> FailureMapBounds {
        self.clock = clock;
        self
    }
}

/// One remembered key.
struct Entry<K> {
    key: K,
    failures: u32,
    /// Bits 64..96 of the stamp (see [`Entry::touched`]), beside `failures` so that a
    /// 96-bit stamp takes no more room than a 64-bit one would.
    touched_hi: u32,
    /// Bits 0..64 of the stamp.
    touched_lo: u64,
}

/// The largest stamp: 2⁹⁶ − 1 nanoseconds is about 2.5 · 10¹² years, beyond what an
/// `Instant` can reach from the epoch.
const STAMP_MAX: u128 = (1 << 96) - 1;

impl<K> Entry<K> {
    /// Last failure: the shard's tick (capacity bound) or the clock's nanoseconds since
    /// `FailureMap::epoch` (idle expiry). Not a `u64`: nanoseconds since the epoch pass
    /// `u64::MAX` after about 584 years, and a saturated stamp would never expire.
    #[inline]
    fn touched(&self) -> u128 {
        (u128::from(self.touched_hi) << 64) | u128::from(self.touched_lo)
    }

    #[inline]
    fn touch(&mut self, stamp: u128) {
        debug_assert!(stamp <= STAMP_MAX);
        self.touched_hi = (stamp >> 64) as u32;
        self.touched_lo = stamp as u64;
    }
}

struct Shard<K> {
    table: HashTable<Entry<K>>,
    /// A per-shard logical clock for LRU eviction under a capacity bound.
    tick: u64,
    /// When (nanoseconds since the epoch) this shard is next swept of expired keys.
    next_sweep: u128,
}

/// A cache-line padded value, so neighbouring shard locks do not false-share.
#[repr(align(128))]
struct Padded<T>(T);

/// Counts failures per key, sharded; see the module docs.
pub(crate) struct FailureMap<K> {
    shards: Box<[Padded<Mutex<Shard<K>>>]>,
    hasher: MapHasher,
    shard_mask: usize,
    /// Keys per shard when bounded, else `usize::MAX`.
    shard_capacity: usize,
    /// Idle expiry in nanoseconds (`None`: never expires).
    ttl: Option<u64>,
    clock: Clock,
    epoch: Instant,
}

impl<K: Hash + Eq + Clone> FailureMap<K> {
    pub(crate) fn new(bounds: FailureMapBounds) -> FailureMap<K> {
        let mut shards = DEFAULT_SHARDS;
        let mut shard_capacity = usize::MAX;
        if let Some(cap) = bounds.capacity {
            // The largest power of two <= min(DEFAULT_SHARDS, cap), so cap / shards >= 1
            // and shards * (cap / shards) <= cap.
            while shards > cap {
                shards /= 2;
            }
            shard_capacity = cap / shards;
        }
        let ttl = bounds
            .idle_expiry
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let ttl = ttl.filter(|&t| t != u64::MAX);
        let epoch = bounds.clock.now();
        FailureMap {
            shards: (0..shards)
                .map(|_| {
                    Padded(Mutex::new(Shard {
                        table: HashTable::new(),
                        tick: 0,
                        next_sweep: 0,
                    }))
                })
                .collect(),
            hasher: MapHasher::default(),
            shard_mask: shards - 1,
            shard_capacity,
            ttl,
            clock: bounds.clock,
            epoch,
        }
    }

    /// Records one failure of `key` and returns the failure count *before* it (the
    /// exponent client-go uses). The count saturates at `u32::MAX`.
    pub(crate) fn record(&self, key: &K) -> u32 {
        let hash = self.hasher.hash_one(key);
        let now = if self.ttl.is_some() {
            self.now_nanos()
        } else {
            0
        };
        let mut shard = self.shard(hash).lock();
        let shard = &mut *shard;
        shard.tick += 1;
        let stamp = if self.ttl.is_some() {
            now
        } else {
            u128::from(shard.tick)
        };
        if let Some(e) = shard.table.find_mut(hash, |e| e.key == *key) {
            let before = if Self::expired(self.ttl, e.touched(), now) {
                0
            } else {
                e.failures
            };
            e.failures = before.saturating_add(1);
            e.touch(stamp);
            return before;
        }
        self.make_room(shard, now);
        let mut entry = Entry {
            key: key.clone(),
            failures: 1,
            touched_hi: 0,
            touched_lo: 0,
        };
        entry.touch(stamp);
        let hasher = &self.hasher;
        shard
            .table
            .insert_unique(hash, entry, |e| hasher.hash_one(&e.key));
        0
    }

    /// Before inserting into `shard`: sweep expired keys if due, then evict the least
    /// recently failed key if the shard is still full.
    #[cold]
    fn make_room_slow(&self, shard: &mut Shard<K>, now: u128) {
        if let Some(ttl) = self.ttl {
            if now >= shard.next_sweep {
                shard
                    .table
                    .retain(|e| !Self::expired(Some(ttl), e.touched(), now));
                shard.next_sweep = now + u128::from(ttl);
            }
        }
        if shard.table.len() >= self.shard_capacity {
            if let Some(oldest) = shard.table.iter().map(Entry::touched).min() {
                let mut evicted = false;
                shard.table.retain(|e| {
                    let evict = !evicted && e.touched() == oldest;
                    evicted |= evict;
                    !evict
                });
            }
        }
    }

    #[inline]
    fn make_room(&self, shard: &mut Shard<K>, now: u128) {
        let sweep_due = self.ttl.is_some() && now >= shard.next_sweep;
        if sweep_due || shard.table.len() >= self.shard_capacity {
            self.make_room_slow(shard, now);
        }
    }

    /// Forgets `key`.
    pub(crate) fn forget(&self, key: &K) {
        let hash = self.hasher.hash_one(key);
        let mut shard = self.shard(hash).lock();
        if let Ok(entry) = shard.table.find_entry(hash, |e| e.key == *key) {
            entry.remove();
        }
    }

    /// The failures recorded for `key` since it was last forgotten (0 if expired).
    pub(crate) fn failures(&self, key: &K) -> u32 {
        let hash = self.hasher.hash_one(key);
        let now = if self.ttl.is_some() {
            self.now_nanos()
        } else {
            0
        };
        let shard = self.shard(hash).lock();
        match shard.table.find(hash, |e| e.key == *key) {
            Some(e) if !Self::expired(self.ttl, e.touched(), now) => e.failures,
            _ => 0,
        }
    }
}

impl<K> FailureMap<K> {
    /// The hash of a borrowed form of a key: equal to the owned key's
    /// (`BuildHasher::hash_one` is `build_hasher`, `hash`, `finish`).
    #[inline]
    fn hash_ref(&self, key: &dyn KeyRef<K>) -> u64 {
        let mut state = self.hasher.build_hasher();
        key.hash_key(&mut state);
        state.finish()
    }

    /// [`forget`](FailureMap::forget) by a borrowed form of the key.
    pub(crate) fn forget_ref(&self, key: &dyn KeyRef<K>) {
        let hash = self.hash_ref(key);
        let mut shard = self.shard(hash).lock();
        if let Ok(entry) = shard.table.find_entry(hash, |e| key.eq_key(&e.key)) {
            entry.remove();
        }
    }

    /// [`failures`](FailureMap::failures) by a borrowed form of the key.
    pub(crate) fn failures_ref(&self, key: &dyn KeyRef<K>) -> u32 {
        let hash = self.hash_ref(key);
        let now = if self.ttl.is_some() {
            self.now_nanos()
        } else {
            0
        };
        let shard = self.shard(hash).lock();
        match shard.table.find(hash, |e| key.eq_key(&e.key)) {
            Some(e) if !Self::expired(self.ttl, e.touched(), now) => e.failures,
            _ => 0,
        }
    }

    #[inline]
    fn shard(&self, hash: u64) -> &Mutex<Shard<K>> {
        // hashbrown uses the low bits (bucket) and the top 7 bits (tag), and the middle
        // bits of a fast hasher's output for small integer keys are not uniform enough
        // to pick a shard from directly (1,000 consecutive integers once hit only 44 of
        // 64 shards). A Fibonacci multiply folds every bit of the hash into the bits
        // taken, so the choice is uniform and does not correlate with either.
        let mixed = hash.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        &self.shards[(mixed >> 40) as usize & self.shard_mask].0
    }

    /// The clock's time in nanoseconds since the epoch (only read when a TTL is set).
    #[inline]
    fn now_nanos(&self) -> u128 {
        let since = self.clock.now().saturating_duration_since(self.epoch);
        since.as_nanos().min(STAMP_MAX)
    }

    #[inline]
    fn expired(ttl: Option<u64>, touched: u128, now: u128) -> bool {
        matches!(ttl, Some(ttl) if now.saturating_sub(touched) >= u128::from(ttl))
    }

    /// How many keys are held in memory right now (expired ones not yet swept
    /// included). Skips shards that are locked at the moment.
    pub(crate) fn len_approx(&self) -> usize {
        self.shards
            .iter()
            .filter_map(|s| s.0.try_lock().map(|s| s.table.len()))
            .sum()
    }
}

impl<K> fmt::Debug for FailureMap<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailureMap")
            .field("shards", &self.shards.len())
            .field("keys", &self.len_approx())
            .field(
                "capacity",
                &(self.shard_capacity != usize::MAX)
                    .then(|| self.shard_capacity * self.shards.len()),
            )
            .field("idle_expiry", &self.ttl.map(Duration::from_nanos))
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_take_no_more_room_than_a_u64() {
        let mut e = Entry {
            key: 0u64,
            failures: 0,
            touched_hi: 0,
            touched_lo: 0,
        };
        for stamp in [
            0,
            1,
            u128::from(u64::MAX),
            u128::from(u64::MAX) + 1,
            STAMP_MAX,
        ] {
            e.touch(stamp);
            assert_eq!(e.touched(), stamp);
        }
        // Key, count and a 64-bit stamp: the high bits fit beside the count.
        assert_eq!(
            std::mem::size_of::<Entry<u64>>(),
            std::mem::size_of::<(u64, u32, u64)>()
        );
    }
}
