//! The work of the informer and of a worker, without their waits: a driver calls these
//! between its own waits (blocking on a thread, or awaited in a task).

use std::fmt;
use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use gosync_context::Context;
use gosync_pool::PoolGuard;
use gosync_ratelimit::{Limit, TokenBucket};

use super::state::{mix, PendingRetry};
use super::wire::render;
use super::{Controller, Key, RELAXED};

/// The informer's event stream: the initial list of every object, then bursts of
/// updates, mostly to a few hot objects. Made by [`Controller::informer`]; the driver
/// paces it, waiting on [`bucket`](Informer::bucket) for [`burst`](Informer::burst)
/// tokens before each [`emit_burst`](Informer::emit_burst).
pub struct Informer<'a> {
    ctl: &'a Controller,
    rng: u64,
    listed: u32,
}

impl fmt::Debug for Informer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Informer")
            .field("listed", &self.listed)
            .finish_non_exhaustive()
    }
}

impl<'a> Informer<'a> {
    pub(crate) fn new(ctl: &'a Controller) -> Informer<'a> {
        Informer {
            ctl,
            rng: mix(ctl.shared.cfg.seed),
            listed: 0,
        }
    }

    /// A new bucket to pace the informer with: `--rate` events per second, in bursts
    /// of `--burst` (full at first: the first burst goes at once).
    pub fn bucket(&self) -> TokenBucket {
        let cfg = &self.ctl.shared.cfg;
        TokenBucket::new(Limit::per_second(cfg.rate), cfg.burst).expect("a valid bucket")
    }

    /// Events per burst: the tokens to wait for before each [`emit_burst`](Informer::emit_burst).
    pub fn burst(&self) -> u32 {
        self.ctl.shared.cfg.burst
    }

    fn next(&mut self) -> u64 {
        self.rng = mix(self.rng);
        self.rng
    }

    /// Emits one burst of events: each bumps an object's version in the cache and adds
    /// its key to the queue. Never blocks (short locks only).
    pub fn emit_burst(&mut self) {
        let cfg = &self.ctl.shared.cfg;
        let (objects, hot, burst) = (cfg.objects, cfg.hot, cfg.burst);
        let hot_start = (self.next() % u64::from(objects)) as u32;
        for _ in 0..burst {
            let key = if self.listed < objects {
                self.listed += 1;
                self.listed - 1
            } else if self.next() % 10 != 0 {
                (hot_start + (self.next() % u64::from(hot.max(1))) as u32) % objects
            } else {
                (self.next() % u64::from(objects)) as u32
            };
            self.ctl.emit(key);
        }
    }
}

/// Why the informer stopped, once `ctx` is done: the context's cause.
pub fn stopped_by(ctx: &Context) -> String {
    ctx.cause().map_or_else(|| "done".into(), |c| c.to_string())
}

impl Controller {
    /// Emits one update of `key`: a new version in the cache, then an add to the queue.
    fn emit(&self, key: Key) {
        let shared = &*self.shared;
        shared.versions[key as usize].fetch_add(1, Ordering::Release); // pairs with the worker's Acquire load
        {
            let mut st = shared.key(key);
            st.seq += 1;
            st.adds_in_progress += 1;
        }
        self.queue.add(key);
        let mut st = shared.key(key);
        st.seq += 1;
        st.adds_in_progress -= 1;
        drop(st);
        shared.n.events.fetch_add(1, RELAXED);
    }

    /// Starts reconciling `key`, just handed out by the queue to a worker that holds
    /// its guard until [`Reconcile::finish`] has returned: marks it in flight, checks
    /// that a retry waited out its delay, and reads the object's latest version.
    pub fn begin(&self, key: Key) -> Reconcile<'_> {
        let shared = &*self.shared;
        let n = &shared.n;
        let started = shared.clock.now();
        // Acquire pairs with the Release that cleared the flag at the end of the key's
        // previous reconcile (the queue's lock orders them too; the check relies on neither).
        if shared.busy[key as usize].swap(true, Ordering::Acquire) {
            n.overlaps.fetch_add(1, RELAXED); // another worker holds this key
        }
        n.in_flight.fetch_add(1, RELAXED);
        n.reconciles.fetch_add(1, RELAXED);

        // Did this retry wait out the delay the limiter gave it?
        {
            let mut st = shared.key(key);
            st.attempts += 1;
            if let Some(p) = st.pending.take() {
                let quiet = p
                    .finished
                    .is_some_and(|(seq, adding)| !adding && seq == st.seq)
                    && st.adds_in_progress == 0;
                if quiet {
                    n.retries_checked.fetch_add(1, RELAXED);
                    let waited = started.saturating_duration_since(p.requested_at);
                    if waited < p.delay {
                        n.retries_early.fetch_add(1, RELAXED);
                    } else {
                        let late = (waited - p.delay).as_nanos() as u64;
                        n.lateness_ns.fetch_add(late, RELAXED);
                    }
                } else {
                    n.retries_preempted.fetch_add(1, RELAXED); // a newer event re-added it
                }
            }
        }

        // Level-triggered: reconcile the latest version, whatever event brought us here.
        let version = shared.versions[key as usize].load(Ordering::Acquire);
        let failures = self.queue.num_requeues(&key);
        Reconcile {
            ctl: self,
            key,
            started,
            version,
            failures,
            succeeds: failures >= shared.planned_failures(key, version),
        }
    }
}

/// One reconcile of one key, between [`Controller::begin`] and
/// [`finish`](Reconcile::finish). The driver waits out
/// [`api_latency`](Reconcile::api_latency) (the API call the reconcile would make),
/// sends the [`render`](Reconcile::render)ed frame, if any, through the pipe and reports
/// it with [`sent`](Reconcile::sent), then calls `finish` and drops the item's guard.
#[must_use = "a reconcile must be finished, or its key stays in flight"]
pub struct Reconcile<'a> {
    ctl: &'a Controller,
    key: Key,
    started: Instant,
    version: u64,
    /// The queue's failure count for the key when the reconcile began.
    failures: u32,
    /// Whether this attempt succeeds (the planned failures of this version are over).
    succeeds: bool,
}

impl fmt::Debug for Reconcile<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reconcile")
            .field("key", &self.key)
            .field("version", &self.version)
            .field("failures", &self.failures)
            .field("succeeds", &self.succeeds)
            .finish_non_exhaustive()
    }
}

impl<'a> Reconcile<'a> {
    /// The simulated latency of the API call this reconcile makes (`--work`), for the
    /// driver to sleep.
    pub fn api_latency(&self) -> Duration {
        self.ctl.shared.cfg.work
    }

    /// The object rendered as one frame into a pooled scratch buffer, if this attempt
    /// succeeds; `None` if it fails. Send the frame whole, then pass it to
    /// [`sent`](Reconcile::sent).
    pub fn render(&self) -> Option<PoolGuard<'a, Vec<u8>>> {
        if !self.succeeds {
            return None;
        }
        let mut buf = self.ctl.pool.get(); // scratch buffer, returned (cleared) on drop
        render(
            &mut buf,
            self.key,
            self.version,
            self.ctl.shared.cfg.payload,
        );
        Some(buf)
    }

    /// Records the outcome of sending `frame` through the pipe, and gives the buffer
    /// back to the pool.
    pub fn sent(&self, frame: PoolGuard<'a, Vec<u8>>, result: io::Result<()>) {
        let n = &self.ctl.shared.n;
        match result {
            Ok(()) => {
                n.frames_sent.fetch_add(1, RELAXED);
                n.bytes_sent.fetch_add(frame.len() as u64, RELAXED);
                let crc = u32::from_le_bytes(frame[frame.len() - 4..].try_into().unwrap());
                n.checksum_sent.fetch_add(u64::from(crc), RELAXED);
                n.applied.fetch_add(1, RELAXED);
            }
            Err(_) => {
                n.send_errors.fetch_add(1, RELAXED);
            }
        }
    }

    /// Ends the reconcile: a success is forgotten by the limiter; a failure is retried
    /// with `add_rate_limited`, or given up (forgotten, not re-added) after
    /// `--max-retries` retries. Then the key leaves the in-flight set; the driver drops
    /// the item's guard next.
    pub fn finish(self) {
        let (shared, queue, key) = (&*self.ctl.shared, &self.ctl.queue, self.key);
        let (cfg, n) = (&shared.cfg, &shared.n);
        if self.succeeds {
            queue.forget(&key);
            shared.key(key).attempts = 0;
        } else {
            n.failures.fetch_add(1, RELAXED);
            let mut st = shared.key(key);
            if self.failures >= cfg.max_retries {
                // Give up: forget it, do not re-add. A later event brings it back.
                n.given_up.fetch_add(1, RELAXED);
                shared.given_up_keys[key as usize].fetch_add(1, RELAXED);
                if st.attempts != cfg.max_retries + 1 {
                    n.give_up_wrong_attempts.fetch_add(1, RELAXED);
                }
                if !shared.permanent(key) {
                    n.transient_given_up.fetch_add(1, RELAXED);
                }
                st.attempts = 0;
                drop(st);
                queue.forget(&key);
            } else {
                st.pending = Some(PendingRetry {
                    finished: st.finished,
                    failures_before: 0,
                    delay: Duration::ZERO,
                    requested_at: self.started,
                });
                drop(st);
                n.retries.fetch_add(1, RELAXED);
                queue.add_rate_limited(key); // the limiter records the delay it chose
            }
        }

        {
            let mut st = shared.key(key);
            st.finished = Some((st.seq, st.adds_in_progress > 0));
        }
        shared.busy[key as usize].store(false, Ordering::Release); // pairs with the swap in `begin`
        n.in_flight.fetch_sub(1, RELAXED);
    }
}
