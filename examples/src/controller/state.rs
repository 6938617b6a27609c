//! Shared state and the bookkeeping that the final report checks, and the instrumented
//! limiter of the queue.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use gosync_core::Clock;
use gosync_ratelimit::{MaxOf, RateLimiter};

use super::{Config, Key, RELAXED};

/// What the verification knows about one object, under its own lock.
///
/// An informer event bumps `seq` before and after its `add` (and counts itself in
/// `adds_in_progress` in between); a worker snapshots both when it finishes the key. A
/// retry may legitimately run before its backoff has passed only if an informer event
/// re-added the key, which means an event window overlapped the span from the previous
/// finish to the retry's start: that is what the worker's quiet check detects.
#[derive(Debug, Default)]
pub(crate) struct KeyState {
    pub(crate) seq: u64,
    pub(crate) adds_in_progress: u32,
    /// `(seq, adds_in_progress > 0)` when a worker last finished this key; `None`
    /// before the first finish (then a retry cannot be checked).
    pub(crate) finished: Option<(u64, bool)>,
    /// The retry this key is waiting for, filled in by the recording limiter.
    pub(crate) pending: Option<PendingRetry>,
    /// Attempts since the key was last forgotten.
    pub(crate) attempts: u32,
}

#[derive(Debug)]
pub(crate) struct PendingRetry {
    /// Snapshot at the finish before the failed attempt.
    pub(crate) finished: Option<(u64, bool)>,
    pub(crate) failures_before: u32,
    pub(crate) delay: Duration,
    pub(crate) requested_at: Instant,
}

// Statistics only: every counter is read after the workers that update it are joined
// (or for the status line, where a stale value is fine), so `Relaxed` suffices.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) events: AtomicU64,
    pub(crate) reconciles: AtomicU64,
    pub(crate) applied: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) given_up: AtomicU64,
    pub(crate) in_flight: AtomicUsize,
    // The checks.
    pub(crate) overlaps: AtomicU64,
    pub(crate) delays_recorded: AtomicU64,
    pub(crate) delays_below_formula: AtomicU64,
    pub(crate) delays_held_by_bucket: AtomicU64,
    pub(crate) retries_checked: AtomicU64,
    pub(crate) retries_preempted: AtomicU64,
    pub(crate) retries_early: AtomicU64,
    pub(crate) lateness_ns: AtomicU64,
    pub(crate) give_up_wrong_attempts: AtomicU64,
    pub(crate) transient_given_up: AtomicU64,
    // What the workers sent through the pipe.
    pub(crate) frames_sent: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) checksum_sent: AtomicU64,
    pub(crate) send_errors: AtomicU64,
    /// A second Ctrl-C shut the queue down without the drain.
    pub(crate) hard_stop: AtomicBool,
    /// The informer has stopped and the queue is draining (for the status line).
    pub(crate) draining: AtomicBool,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) cfg: Config,
    pub(crate) clock: Clock,
    /// The informer's cache: each object's latest version (0: never seen).
    pub(crate) versions: Vec<AtomicU64>,
    pub(crate) keys: Vec<Mutex<KeyState>>,
    /// The in-flight set: `true` while a worker holds the key.
    pub(crate) busy: Vec<AtomicBool>,
    pub(crate) n: Counters,
    pub(crate) given_up_keys: Vec<AtomicU64>,
}

impl Shared {
    pub(crate) fn new(cfg: Config, clock: Clock) -> Shared {
        Shared {
            clock,
            versions: (0..cfg.objects).map(|_| AtomicU64::new(0)).collect(),
            keys: (0..cfg.objects).map(|_| Mutex::default()).collect(),
            busy: (0..cfg.objects).map(|_| AtomicBool::new(false)).collect(),
            given_up_keys: (0..cfg.objects).map(|_| AtomicU64::new(0)).collect(),
            n: Counters::default(),
            cfg,
        }
    }

    pub(crate) fn key(&self, key: Key) -> MutexGuard<'_, KeyState> {
        // A worker that panicked is reported by the join; its state is still readable.
        self.keys[key as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn permanent(&self, key: Key) -> bool {
        self.cfg.permanent_every > 0 && key % self.cfg.permanent_every == 0
    }

    /// How many first attempts at this version of the object fail.
    pub(crate) fn planned_failures(&self, key: Key, version: u64) -> u32 {
        if self.permanent(key) {
            return u32::MAX;
        }
        let h = mix(self.cfg.seed ^ (u64::from(key) << 32) ^ version);
        if self.cfg.max_transient > 0 && h % 100 < self.cfg.fail_pct {
            1 + ((h >> 32) % u64::from(self.cfg.max_transient)) as u32
        } else {
            0
        }
    }

    /// The per-item delay after `failures` earlier failures: `min(base · 2^failures, max)`,
    /// computed here independently of the limiter.
    pub(crate) fn expected_delay(&self, failures: u32) -> Duration {
        let base = self.cfg.retry_base.as_nanos();
        let ns = if failures < 64 && base.leading_zeros() > failures {
            base << failures
        } else {
            u128::MAX
        };
        let ns = ns.min(self.cfg.retry_max.as_nanos());
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }
}

/// SplitMix64's finalizer: a well-mixed hash of `x`.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The queue's limiter, instrumented: it records each delay it hands out (with the
/// failure count before it and the time) in the key's state, for the report to check
/// against the formula and against when the retry actually ran.
pub struct RecordingLimiter {
    pub(crate) inner: MaxOf<Key>,
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for RecordingLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingLimiter").finish_non_exhaustive()
    }
}

impl RateLimiter<Key> for RecordingLimiter {
    fn when(&self, key: &Key) -> Duration {
        let failures_before = self.inner.num_requeues(key);
        let delay = self.inner.when(key);
        let requested_at = self.shared.clock.now();
        let n = &self.shared.n;
        n.delays_recorded.fetch_add(1, RELAXED);
        let expected = self.shared.expected_delay(failures_before);
        if delay < expected {
            n.delays_below_formula.fetch_add(1, RELAXED);
        } else if delay > expected {
            n.delays_held_by_bucket.fetch_add(1, RELAXED);
        }
        if let Some(p) = &mut self.shared.key(*key).pending {
            p.failures_before = failures_before;
            p.delay = delay;
            p.requested_at = requested_at;
        }
        delay
    }

    fn forget(&self, key: &Key) {
        self.inner.forget(key);
    }

    fn num_requeues(&self, key: &Key) -> u32 {
        self.inner.num_requeues(key)
    }
}
