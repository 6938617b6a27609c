//! A Kubernetes-style controller built from every gosync crate, which verifies its own run.
//!
//! * An **informer** (one thread) emits object updates in bursts, many of them to a few
//!   hot objects (duplicates), paced by a `TokenBucket` it waits on with
//!   `wait_context`. Each update bumps the object's version in a shared cache and adds
//!   the object's key to the work queue, which collapses the duplicates.
//! * A **rate-limited, delaying work queue** (`RateLimitingQueue`) with a per-item
//!   exponential backoff and an overall retry bucket (`max_of`), and `InMemoryMetrics`.
//! * **Workers** (started with `WaitGroup::go`) hold each key in a `Guard` while they
//!   reconcile it: read the object's latest version, maybe fail (transient failures
//!   are retried with `add_rate_limited`; permanent ones are forgotten after
//!   `--max-retries` retries), render the object into a **pooled buffer**
//!   (`gosync_pool::Pool`) and send it through a **pipe** (`gosync_pipe`) to the
//!   **API server**, a consumer thread that checks each frame's CRC-32 (its table built
//!   once, `gosync_once::OnceValue`) and records the version it applied.
//! * A **context tree**: `interrupt` (cancelled by Ctrl-C, with a cause) → `produce`
//!   (its timeout is `--duration`). When `produce` is done the informer stops, the
//!   queue is drained gracefully (`wait_idle`, which includes retries still waiting
//!   out their backoff, then `shut_down_with_drain`) and the `WaitGroup` joins the
//!   workers. A second Ctrl-C shuts the queue down at once.
//! * While it runs, a status line (a progress bar on a terminal, plain lines
//!   otherwise); at the end a report that checks the run, the queue's metrics in
//!   Prometheus text format, and exit status 1 if any check failed.
//!
//! Run: `cargo run --release -p gosync-examples --example controller` (`-- --help` for
//! the flags; every number can be changed).

use std::io::{self, BufReader, IsTerminal, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use gosync_context::{background, with_cancel, with_cancel_cause, with_timeout_cause, Context};
use gosync_core::Clock;
use gosync_examples::{fmt_duration, Flags};
use gosync_once::OnceValue;
use gosync_pipe::{pipe, PipeReader, PipeWriter};
use gosync_pool::Pool;
use gosync_ratelimit::{
    max_of, ExponentialLimiter, Limit, MaxOf, RateLimiter, TokenBucket, WaitContextError,
};
use gosync_waitgroup::WaitGroup;
use gosync_workqueue::{InMemoryMetrics, MetricsSnapshot, Queue, RateLimitingQueue};

// Statistics only: every counter below is read after the threads that update it are
// joined (or for the status line, where a stale value is fine), so `Relaxed` suffices.
const RELAXED: Ordering = Ordering::Relaxed;

/// The queue's key: an object's index.
type Key = u32;

/// Every number of the run (`--help` lists the flags).
#[derive(Debug, Clone)]
struct Config {
    duration: Duration,
    objects: u32,
    workers: usize,
    rate: u64,
    burst: u32,
    hot: u32,
    work: Duration,
    payload: usize,
    fail_pct: u64,
    max_transient: u32,
    permanent_every: u32,
    max_retries: u32,
    retry_base: Duration,
    retry_max: Duration,
    retry_qps: u64,
    retry_burst: u32,
    status: Duration,
    seed: u64,
}

fn config() -> Config {
    let mut f = Flags::from_env(
        "controller",
        "A Kubernetes-style controller over the gosync work queue that verifies its own run.",
    );
    let cfg = Config {
        duration: f.duration(
            "duration",
            Duration::from_secs(12),
            "how long the informer produces events",
        ),
        objects: f.value("objects", 2000, "objects watched by the informer"),
        workers: f.value("workers", 4, "worker threads"),
        rate: f.value("rate", 6000, "informer events per second"),
        burst: f.value("burst", 120, "events per informer burst"),
        hot: f.value(
            "hot",
            8,
            "objects that get 90% of a burst's events (duplicates)",
        ),
        work: f.duration(
            "work",
            Duration::from_micros(250),
            "simulated API latency per reconcile",
        ),
        payload: f.value(
            "payload",
            2048,
            "bytes of each rendered object sent through the pipe",
        ),
        fail_pct: f.value(
            "fail-pct",
            8,
            "percent of object versions whose first reconciles fail",
        ),
        max_transient: f.value(
            "max-transient",
            3,
            "at most this many failures of a transient failure",
        ),
        permanent_every: f.value(
            "permanent-every",
            97,
            "every n-th object always fails (0: none)",
        ),
        max_retries: f.value(
            "max-retries",
            5,
            "retries before a failing object is given up",
        ),
        retry_base: f.duration(
            "retry-base",
            Duration::from_millis(5),
            "first retry delay (per item, doubling)",
        ),
        retry_max: f.duration(
            "retry-max",
            Duration::from_secs(1),
            "longest per-item retry delay",
        ),
        retry_qps: f.value(
            "retry-qps",
            1000,
            "overall retry rate of the bucket limiter",
        ),
        retry_burst: f.value("retry-burst", 200, "burst of the overall retry bucket"),
        status: f.duration(
            "status",
            Duration::from_secs(1),
            "status line period when stdout is not a terminal",
        ),
        seed: f.value("seed", 1, "seed of the event stream and the failures"),
    };
    f.finish();
    let bad = |msg: &str| -> ! {
        eprintln!("error: {msg}");
        std::process::exit(2)
    };
    if cfg.objects == 0 || cfg.workers == 0 || cfg.rate == 0 || cfg.burst == 0 {
        bad("--objects, --workers, --rate and --burst must be at least 1");
    }
    if cfg.max_transient > cfg.max_retries {
        bad("--max-transient must not exceed --max-retries (transient failures must recover)");
    }
    if cfg.fail_pct > 100 || cfg.retry_qps == 0 || cfg.retry_burst == 0 {
        bad("--fail-pct is at most 100; --retry-qps and --retry-burst at least 1");
    }
    if cfg.payload > 16 << 20 || cfg.status.is_zero() {
        bad("--payload is at most 16 MiB; --status must be positive");
    }
    cfg
}

fn main() {
    let cfg = config();
    let ok = run(cfg);
    std::process::exit(if ok { 0 } else { 1 });
}

// ---------------------------------------------------------------------------------------
// Shared state and the bookkeeping that the final report checks

/// What the verification knows about one object, under its own lock.
///
/// An informer event bumps `seq` before and after its `add` (and counts itself in
/// `adds_in_progress` in between); a worker snapshots both when it finishes the key. A
/// retry may legitimately run before its backoff has passed only if an informer event
/// re-added the key, which means an event window overlapped the span from the previous
/// finish to the retry's start: that is what [`Snapshot::overlaps`] detects.
#[derive(Debug, Default)]
struct KeyState {
    seq: u64,
    adds_in_progress: u32,
    /// `(seq, adds_in_progress > 0)` when a worker last finished this key; `None`
    /// before the first finish (then a retry cannot be checked).
    finished: Option<(u64, bool)>,
    /// The retry this key is waiting for, filled in by the recording limiter.
    pending: Option<PendingRetry>,
    /// Attempts since the key was last forgotten.
    attempts: u32,
}

#[derive(Debug)]
struct PendingRetry {
    /// Snapshot at the finish before the failed attempt.
    finished: Option<(u64, bool)>,
    failures_before: u32,
    delay: Duration,
    requested_at: Instant,
}

#[derive(Debug, Default)]
struct Counters {
    events: AtomicU64,
    reconciles: AtomicU64,
    applied: AtomicU64,
    failures: AtomicU64,
    retries: AtomicU64,
    given_up: AtomicU64,
    in_flight: AtomicUsize,
    // The checks.
    overlaps: AtomicU64,
    delays_recorded: AtomicU64,
    delays_below_formula: AtomicU64,
    delays_held_by_bucket: AtomicU64,
    retries_checked: AtomicU64,
    retries_preempted: AtomicU64,
    retries_early: AtomicU64,
    lateness_ns: AtomicU64,
    give_up_wrong_attempts: AtomicU64,
    transient_given_up: AtomicU64,
    // What the workers sent through the pipe.
    frames_sent: AtomicU64,
    bytes_sent: AtomicU64,
    checksum_sent: AtomicU64,
    send_errors: AtomicU64,
    /// A second Ctrl-C shut the queue down without the drain.
    hard_stop: AtomicBool,
}

struct Shared {
    cfg: Config,
    clock: Clock,
    /// The informer's cache: each object's latest version (0: never seen).
    versions: Vec<AtomicU64>,
    keys: Vec<Mutex<KeyState>>,
    /// The in-flight set: `true` while a worker holds the key.
    busy: Vec<AtomicBool>,
    n: Counters,
    given_up_keys: Vec<AtomicU64>,
}

impl Shared {
    fn key(&self, key: Key) -> MutexGuard<'_, KeyState> {
        // A worker that panicked is reported by the join; its state is still readable.
        self.keys[key as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn permanent(&self, key: Key) -> bool {
        self.cfg.permanent_every > 0 && key % self.cfg.permanent_every == 0
    }

    /// How many first attempts at this version of the object fail.
    fn planned_failures(&self, key: Key, version: u64) -> u32 {
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
    fn expected_delay(&self, failures: u32) -> Duration {
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
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The queue's limiter, instrumented: it records each delay it hands out (with the
/// failure count before it and the time) in the key's state, for the report to check
/// against the formula and against when the retry actually ran.
struct RecordingLimiter {
    inner: MaxOf<Key>,
    shared: Arc<Shared>,
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

type WorkQueue = RateLimitingQueue<Key, RecordingLimiter>;

// ---------------------------------------------------------------------------------------
// The wire format between the workers and the API server, and its CRC-32

/// The CRC-32 (IEEE) table, built once by whichever thread needs it first.
static CRC_TABLE: OnceValue<[u32; 256], fn() -> [u32; 256]> = OnceValue::new(crc_table);

fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    for (i, entry) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *entry = c;
    }
    table
}

fn crc32(bytes: &[u8]) -> u32 {
    let table = CRC_TABLE.get();
    !bytes.iter().fold(!0u32, |c, &b| {
        table[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

/// Header: frame length (u32), key (u32), version (u64); then the payload; then the
/// CRC-32 of everything before it.
const HEADER: usize = 16;

/// Renders `key` at `version` into `buf` as one frame.
fn render(buf: &mut Vec<u8>, key: Key, version: u64, payload: usize) {
    let len = HEADER + payload + 4;
    buf.reserve(len);
    buf.extend_from_slice(&(len as u32).to_le_bytes());
    buf.extend_from_slice(&key.to_le_bytes());
    buf.extend_from_slice(&version.to_le_bytes());
    let mut x = mix(u64::from(key) << 40 ^ version);
    while buf.len() < HEADER + payload {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let take = (HEADER + payload - buf.len()).min(8);
        buf.extend_from_slice(&x.to_le_bytes()[..take]);
    }
    let crc = crc32(buf);
    buf.extend_from_slice(&crc.to_le_bytes());
}

/// What the API server received.
#[derive(Debug, Default)]
struct Server {
    /// The version applied for each object (0: none).
    applied: Vec<u64>,
    frames: u64,
    bytes: u64,
    checksum: u64,
    corrupt: u64,
    backwards: u64,
    same_version: u64,
    error: Option<io::Error>,
}

/// The API server: reads frames from the pipe until the writer closes it.
fn api_server(reader: PipeReader, objects: u32) -> Server {
    let mut s = Server {
        applied: vec![0; objects as usize],
        ..Server::default()
    };
    let mut r = BufReader::with_capacity(64 << 10, &reader);
    let mut frame = Vec::new();
    loop {
        let mut len = [0u8; 4];
        match r.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return s, // writer closed
            Err(e) => {
                s.error = Some(e);
                return s;
            }
        }
        let len = u32::from_le_bytes(len) as usize;
        if !(HEADER + 4..=(16 << 20) + HEADER + 4).contains(&len) {
            s.error = Some(io::Error::other(format!("bad frame length {len}")));
            return s;
        }
        frame.clear();
        frame.resize(len, 0);
        frame[..4].copy_from_slice(&(len as u32).to_le_bytes());
        if let Err(e) = r.read_exact(&mut frame[4..]) {
            s.error = Some(e);
            return s;
        }
        let crc = u32::from_le_bytes(frame[len - 4..].try_into().unwrap());
        s.frames += 1;
        s.bytes += len as u64;
        s.checksum = s.checksum.wrapping_add(u64::from(crc));
        if crc32(&frame[..len - 4]) != crc {
            s.corrupt += 1;
            continue;
        }
        let key = u32::from_le_bytes(frame[4..8].try_into().unwrap());
        let version = u64::from_le_bytes(frame[8..16].try_into().unwrap());
        let Some(slot) = s.applied.get_mut(key as usize) else {
            s.corrupt += 1;
            continue;
        };
        match version.cmp(slot) {
            std::cmp::Ordering::Less => s.backwards += 1,
            std::cmp::Ordering::Equal => s.same_version += 1,
            std::cmp::Ordering::Greater => *slot = version,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The informer and the workers

/// Emits one update of `key`: a new version in the cache, then an add to the queue.
fn emit(shared: &Shared, queue: &WorkQueue, key: Key) {
    shared.versions[key as usize].fetch_add(1, Ordering::Release); // pairs with the worker's Acquire load
    {
        let mut st = shared.key(key);
        st.seq += 1;
        st.adds_in_progress += 1;
    }
    queue.add(key);
    let mut st = shared.key(key);
    st.seq += 1;
    st.adds_in_progress -= 1;
    drop(st);
    shared.n.events.fetch_add(1, RELAXED);
}

/// The informer: the initial list of every object, then bursts of updates, mostly to a
/// few hot objects, paced by the bucket, until `ctx` is done.
fn informer(ctx: &Context, shared: &Shared, queue: &WorkQueue) -> String {
    let cfg = &shared.cfg;
    let bucket = TokenBucket::new(Limit::per_second(cfg.rate), cfg.burst).expect("a valid bucket");
    let mut rng = mix(cfg.seed);
    let mut next = || {
        rng = mix(rng);
        rng
    };
    let mut listed = 0;
    loop {
        match bucket.wait_context(ctx, cfg.burst) {
            Ok(()) => {}
            // Done, or the next burst would come after the deadline: wait for it, so the
            // informer stops when the context says so.
            Err(WaitContextError::Done(_) | WaitContextError::ExceedsDeadline { .. }) => {
                ctx.wait();
                return ctx.cause().map_or_else(|| "done".into(), |c| c.to_string());
            }
            Err(e) => return format!("the informer's bucket refused: {e}"),
        }
        let hot_start = (next() % u64::from(cfg.objects)) as u32;
        for _ in 0..cfg.burst {
            let key = if listed < cfg.objects {
                listed += 1;
                listed - 1
            } else if next() % 10 != 0 {
                (hot_start + (next() % u64::from(cfg.hot.max(1))) as u32) % cfg.objects
            } else {
                (next() % u64::from(cfg.objects)) as u32
            };
            emit(shared, queue, key);
        }
    }
}

/// One worker: reconcile keys until the queue is shut down and drained.
fn worker(shared: &Shared, queue: &WorkQueue, pool: &Pool<Vec<u8>>, wire: &PipeWriter) {
    let cfg = &shared.cfg;
    let n = &shared.n;
    while let Some(item) = queue.get() {
        let key = *item;
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
        let failures = queue.num_requeues(&key);
        shared.clock.sleep(cfg.work); // the API call this reconcile would make
        if failures >= shared.planned_failures(key, version) {
            let mut buf = pool.get(); // scratch buffer, returned (cleared) on drop
            render(&mut buf, key, version, cfg.payload);
            match (&*wire).write_all(&buf) {
                Ok(()) => {
                    n.frames_sent.fetch_add(1, RELAXED);
                    n.bytes_sent.fetch_add(buf.len() as u64, RELAXED);
                    let crc = u32::from_le_bytes(buf[buf.len() - 4..].try_into().unwrap());
                    n.checksum_sent.fetch_add(u64::from(crc), RELAXED);
                    n.applied.fetch_add(1, RELAXED);
                }
                Err(_) => {
                    n.send_errors.fetch_add(1, RELAXED);
                }
            }
            queue.forget(&key);
            shared.key(key).attempts = 0;
        } else {
            n.failures.fetch_add(1, RELAXED);
            let mut st = shared.key(key);
            if failures >= cfg.max_retries {
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
                    requested_at: started,
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
        shared.busy[key as usize].store(false, Ordering::Release); // pairs with the swap above
        n.in_flight.fetch_sub(1, RELAXED);
        drop(item); // done: the key can be handed out again
    }
}

// ---------------------------------------------------------------------------------------
// The status line

fn status_line(
    shared: &Shared,
    queue: &WorkQueue,
    started: Instant,
    phase: &str,
    rate: f64,
    tty: bool,
) -> String {
    let n = &shared.n;
    let elapsed = started.elapsed().as_secs_f64();
    let (depth, in_flight, workers) = (queue.len(), n.in_flight.load(RELAXED), shared.cfg.workers);
    let retries = n.retries.load(RELAXED);
    if tty {
        // A bar over the run time, then the numbers that move; one terminal row, so the
        // carriage return redraws it in place.
        let frac = (elapsed / shared.cfg.duration.as_secs_f64().max(1e-9)).min(1.0);
        let width = 16;
        let fill = (frac * width as f64) as usize;
        let bar = if phase == "draining" {
            format!("{:-^width$}", " draining ")
        } else {
            format!("{}{}", "#".repeat(fill), "-".repeat(width - fill))
        };
        let mut line = format!(
            "[{bar}] {elapsed:>5.1}s {rate:>6.0} items/s  depth {depth:>4}  in flight {in_flight}/{workers}  retries {retries}"
        );
        line.truncate(signal::terminal_width().unwrap_or(80).saturating_sub(1));
        format!("\r\x1b[2K{line}")
    } else {
        format!(
            "[{elapsed:>6.1}s] {phase:<9} {rate:>6.0} items/s  depth {depth:>4}  waiting {:>3}  in flight {in_flight}/{workers}  retries {retries:>5}  given up {:>3}",
            queue.waiting_len(),
            n.given_up.load(RELAXED),
        )
    }
}

// ---------------------------------------------------------------------------------------
// The run

fn run(cfg: Config) -> bool {
    let clock = Clock::real();
    let shared = Arc::new(Shared {
        clock: clock.clone(),
        versions: (0..cfg.objects).map(|_| AtomicU64::new(0)).collect(),
        keys: (0..cfg.objects).map(|_| Mutex::default()).collect(),
        busy: (0..cfg.objects).map(|_| AtomicBool::new(false)).collect(),
        given_up_keys: (0..cfg.objects).map(|_| AtomicU64::new(0)).collect(),
        n: Counters::default(),
        cfg: cfg.clone(),
    });

    // The queue: per-item exponential backoff and an overall retry bucket, recorded.
    let limiter = RecordingLimiter {
        inner: max_of(vec![
            Box::new(ExponentialLimiter::new(cfg.retry_base, cfg.retry_max)),
            Box::new(
                TokenBucket::new(Limit::per_second(cfg.retry_qps), cfg.retry_burst)
                    .expect("a valid bucket"),
            ),
        ]),
        shared: Arc::clone(&shared),
    };
    let metrics = Arc::new(InMemoryMetrics::new());
    let queue: WorkQueue = RateLimitingQueue::with_limiter(
        Queue::builder()
            .name("controller")
            .metrics_provider(metrics.clone()),
        limiter,
    );
    let pool = Arc::new(Pool::builder(Vec::<u8>::new).reset(Vec::clear).build());
    let (reader, writer) = pipe();
    let writer = Arc::new(writer);

    // The context tree: interrupt (Ctrl-C) → produce (the run time).
    let (interrupt, interrupt_cancel) = with_cancel_cause(&background());
    let (produce, _produce_cancel) =
        with_timeout_cause(&interrupt, cfg.duration, Stop("run time over"));
    let ctrl_c = {
        let queue = queue.clone();
        let shared_for_signal = shared.clone();
        signal::on_interrupt(move |count| {
            if count == 1 {
                eprintln!("\ninterrupted: the informer stops, the queue drains (Ctrl-C again to stop at once)");
                interrupt_cancel.cancel(Stop("interrupted (Ctrl-C)"));
            } else {
                eprintln!("\ninterrupted again: shutting the queue down now");
                shared_for_signal.n.hard_stop.store(true, RELAXED);
                queue.shut_down();
            }
        })
    };

    println!(
        "controller: {} workers, {} objects, informer {} events/s in bursts of {} for {}; \
         retries after min({}·2^n, {}) (overall {}/s), given up after {}",
        cfg.workers,
        cfg.objects,
        cfg.rate,
        cfg.burst,
        fmt_duration(cfg.duration),
        fmt_duration(cfg.retry_base),
        fmt_duration(cfg.retry_max),
        cfg.retry_qps,
        cfg.max_retries,
    );
    let started = Instant::now();

    let server = thread::spawn(move || api_server(reader, cfg.objects));
    let workers = Arc::new(WaitGroup::new());
    let handles: Vec<_> = (0..cfg.workers)
        .map(|_| {
            let (shared, queue, pool, writer) =
                (shared.clone(), queue.clone(), pool.clone(), writer.clone());
            workers.go(move || worker(&shared, &queue, &pool, &writer))
        })
        .collect();

    // The status line, until `status_done` is cancelled: a context wait, not a sleep.
    let (status_done, stop_status) = with_cancel(&background());
    let phase = Arc::new(Mutex::new("producing"));
    let status = {
        let (shared, queue, phase) = (shared.clone(), queue.clone(), phase.clone());
        thread::spawn(move || {
            let tty = io::stdout().is_terminal();
            let period = if tty {
                Duration::from_millis(100)
            } else {
                shared.cfg.status
            };
            let (mut last_at, mut last_count) = (Instant::now(), 0);
            while !status_done.wait_timeout(period) {
                let count = shared.n.reconciles.load(RELAXED);
                let rate = (count - last_count) as f64 / last_at.elapsed().as_secs_f64();
                (last_at, last_count) = (Instant::now(), count);
                let phase = *phase.lock().unwrap_or_else(PoisonError::into_inner);
                let line = status_line(&shared, &queue, started, phase, rate, tty);
                let mut out = io::stdout().lock();
                let _ = if tty {
                    write!(out, "{line}")
                } else {
                    writeln!(out, "{line}")
                };
                let _ = out.flush();
            }
            if tty {
                print!("\r\x1b[2K");
                let _ = io::stdout().flush();
            }
        })
    };

    let stopped_by = {
        let (shared, queue, produce) = (shared.clone(), queue.clone(), produce.clone());
        thread::spawn(move || informer(&produce, &shared, &queue))
            .join()
            .unwrap_or_else(|_| "the informer panicked".into())
    };
    let produced = started.elapsed();

    // Graceful drain: everything queued, processing or waiting out a backoff is finished
    // (retries included), then the workers are let go.
    *phase.lock().unwrap_or_else(PoisonError::into_inner) = "draining";
    queue.wait_idle();
    queue.shut_down_with_drain();
    workers.wait();
    let panicked = handles
        .into_iter()
        .map(|h| h.join())
        .filter(Result::is_err)
        .count();
    writer.close(); // end of stream for the API server
    let server = server.join().unwrap_or_else(|_| Server {
        error: Some(io::Error::other("the API server panicked")),
        ..Server::default()
    });
    let elapsed = started.elapsed();
    stop_status.cancel();
    let _ = status.join();
    drop(ctrl_c);

    let m = metrics.snapshot("controller").unwrap_or_default();
    report(
        &shared,
        &queue,
        &pool,
        &server,
        &m,
        &stopped_by,
        produced,
        elapsed,
        panicked,
    )
}

/// A cancellation cause.
#[derive(Debug)]
struct Stop(&'static str);

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Stop {}

// ---------------------------------------------------------------------------------------
// The report

#[allow(clippy::too_many_arguments)]
fn report(
    shared: &Shared,
    queue: &WorkQueue,
    pool: &Pool<Vec<u8>>,
    server: &Server,
    m: &MetricsSnapshot,
    stopped_by: &str,
    produced: Duration,
    elapsed: Duration,
    panicked: usize,
) -> bool {
    let cfg = &shared.cfg;
    let n = &shared.n;
    let get = |c: &AtomicU64| c.load(RELAXED);
    let (events, reconciles) = (get(&n.events), get(&n.reconciles));

    println!(
        "\nstopped by: {stopped_by}, after {}; drained in {}",
        fmt_duration(produced),
        fmt_duration(elapsed.saturating_sub(produced))
    );
    println!(
        "  events        {events} ({:.0}/s), {reconciles} reconciles ({:.1} events per reconcile: duplicates collapsed)",
        events as f64 / produced.as_secs_f64(),
        events as f64 / reconciles.max(1) as f64
    );
    println!(
        "  reconciles    {} applied, {} failed: {} retried, {} given up",
        get(&n.applied),
        get(&n.failures),
        get(&n.retries),
        get(&n.given_up)
    );
    let ps = pool.stats();
    println!(
        "  scratch       {} pooled buffers served {} renders ({} idle at the end)",
        ps.created,
        get(&n.applied),
        ps.idle
    );
    pool.trim();
    pool.trim();
    println!(
        "  api server    {} frames, {:.1} MiB through the pipe, {} at a version it already had",
        server.frames,
        server.bytes as f64 / (1 << 20) as f64,
        server.same_version
    );
    println!("  wall time     {}", fmt_duration(elapsed));
    if n.hard_stop.load(RELAXED) {
        println!(
            "  note          a second Ctrl-C shut the queue down without the drain: the retries \
             still waiting were dropped, so objects may be out of sync"
        );
    }

    let mut checks: Vec<(bool, String)> = Vec::new();

    // 1. Every object reconciled to its last version.
    let (mut healthy, mut in_sync, mut permanent, mut permanent_ok) = (0, 0, 0, 0);
    let mut out_of_sync = Vec::new();
    for key in 0..cfg.objects {
        let last = shared.versions[key as usize].load(RELAXED);
        let applied = server.applied[key as usize];
        if shared.permanent(key) {
            permanent += 1;
            let given_up = shared.given_up_keys[key as usize].load(RELAXED);
            if applied == 0 && (last == 0 || given_up > 0) {
                permanent_ok += 1;
            } else {
                out_of_sync.push(key);
            }
        } else {
            healthy += 1;
            if applied == last {
                in_sync += 1;
            } else {
                out_of_sync.push(key);
            }
        }
    }
    checks.push((
        out_of_sync.is_empty(),
        format!(
            "every object reconciled to its last version: {in_sync}/{healthy} in sync at the API server; \
             {permanent_ok}/{permanent} always-failing objects given up, never applied{}",
            if out_of_sync.is_empty() {
                String::new()
            } else {
                format!(" (out of sync: {:?})", &out_of_sync[..out_of_sync.len().min(10)])
            }
        ),
    ));

    // 2. Never two workers on one key.
    let overlaps = get(&n.overlaps);
    checks.push((
        overlaps == 0,
        format!("never two workers on one key: {overlaps} overlaps in {reconciles} reconciles (atomic in-flight set)"),
    ));

    // 3. Nothing lost or duplicated: queue, pipe, API server.
    let queue_ok =
        reconciles == m.adds && m.depth == 0 && queue.is_empty() && queue.waiting_len() == 0;
    checks.push((
        queue_ok,
        format!(
            "queue lost and duplicated nothing: {reconciles} hand-outs = {} accepted adds; depth {}, waiting {} at the end",
            m.adds,
            m.depth,
            queue.waiting_len()
        ),
    ));
    let pipe_ok = server.error.is_none()
        && server.frames == get(&n.frames_sent)
        && server.bytes == get(&n.bytes_sent)
        && server.checksum == get(&n.checksum_sent)
        && server.corrupt == 0
        && server.backwards == 0
        && get(&n.send_errors) == 0;
    checks.push((
        pipe_ok,
        format!(
            "pipe lost and duplicated nothing: {}/{} frames, {}/{} bytes, checksums {}, {} corrupt, \
             {} versions out of order, {} send errors{}",
            server.frames,
            get(&n.frames_sent),
            server.bytes,
            get(&n.bytes_sent),
            if server.checksum == get(&n.checksum_sent) { "equal" } else { "DIFFER" },
            server.corrupt,
            server.backwards,
            get(&n.send_errors),
            server.error.as_ref().map(|e| format!(", error: {e}")).unwrap_or_default()
        ),
    ));

    // 4. Retry delays match the limiter.
    let (recorded, below, held) = (
        get(&n.delays_recorded),
        get(&n.delays_below_formula),
        get(&n.delays_held_by_bucket),
    );
    let (checked, early, preempted) = (
        get(&n.retries_checked),
        get(&n.retries_early),
        get(&n.retries_preempted),
    );
    let delays_ok =
        below == 0 && early == 0 && recorded == get(&n.retries) && m.retries == recorded;
    checks.push((
        delays_ok,
        format!(
            "retry delays match the limiter: {recorded} delays ≥ min({}·2^n, {}) ({below} below, {held} held longer by the \
             overall bucket); {checked} retries checked, {early} ran early (mean {} late), {preempted} re-added sooner \
             by a newer event; {} retries in the metrics",
            fmt_duration(cfg.retry_base),
            fmt_duration(cfg.retry_max),
            fmt_duration(Duration::from_nanos(get(&n.lateness_ns) / checked.max(1))),
            m.retries
        ),
    ));
    let (wrong, transient) = (get(&n.give_up_wrong_attempts), get(&n.transient_given_up));
    checks.push((
        wrong == 0 && transient == 0,
        format!(
            "failures: {} give-ups, each after exactly {} retries ({wrong} otherwise); {transient} transient failures given up",
            get(&n.given_up),
            cfg.max_retries
        ),
    ));
    checks.push((
        panicked == 0,
        format!(
            "{} workers joined by the WaitGroup, {panicked} panicked",
            cfg.workers
        ),
    ));

    println!("\nverification:");
    let mut ok = true;
    for (passed, line) in &checks {
        ok &= passed;
        println!("  [{}] {line}", if *passed { " ok " } else { "FAIL" });
    }

    println!("\nqueue metrics (Prometheus text format):");
    print!("{}", prometheus("controller", m));

    println!(
        "\nresult: {} ({} of {} checks passed)",
        if ok { "PASS" } else { "FAIL" },
        checks.iter().filter(|c| c.0).count(),
        checks.len()
    );
    ok
}

/// The queue's metrics in the Prometheus text exposition format (client-go's names; the
/// two durations as summaries: count and sum).
fn prometheus(name: &str, m: &MetricsSnapshot) -> String {
    let l = format!("{{name=\"{name}\"}}");
    let mut s = String::new();
    let mut metric = |metric: &str, kind: &str, help: &str, lines: &[(&str, String)]| {
        s += &format!("# HELP {metric} {help}\n# TYPE {metric} {kind}\n");
        for (suffix, value) in lines {
            s += &format!("{metric}{suffix}{l} {value}\n");
        }
    };
    metric(
        "workqueue_depth",
        "gauge",
        "Current depth of the workqueue.",
        &[("", m.depth.to_string())],
    );
    metric(
        "workqueue_adds_total",
        "counter",
        "Total number of adds handled by the workqueue.",
        &[("", m.adds.to_string())],
    );
    for (metric_name, help, h) in [
        (
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in the workqueue before being requested.",
            m.queue_latency,
        ),
        (
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from the workqueue takes.",
            m.work_duration,
        ),
    ] {
        metric(
            metric_name,
            "summary",
            help,
            &[
                ("_sum", format!("{}", h.sum)),
                ("_count", h.count.to_string()),
            ],
        );
    }
    metric(
        "workqueue_unfinished_work_seconds",
        "gauge",
        "Seconds of work in progress not yet observed by work_duration.",
        &[("", format!("{}", m.unfinished_work_seconds))],
    );
    metric(
        "workqueue_longest_running_processor_seconds",
        "gauge",
        "Seconds the longest running processor has been running.",
        &[("", format!("{}", m.longest_running_processor_seconds))],
    );
    metric(
        "workqueue_retries_total",
        "counter",
        "Total number of retries handled by the workqueue.",
        &[("", m.retries.to_string())],
    );
    s
}

// ---------------------------------------------------------------------------------------
// Ctrl-C

/// Ctrl-C without a dependency: a `sigaction` handler that writes one byte to a pipe
/// (async-signal-safe), and a thread blocked reading it that runs the callback. Also the
/// terminal's width, for the status line.
#[cfg(unix)]
mod signal {
    use std::sync::atomic::{AtomicI32, Ordering::Relaxed};
    use std::thread::JoinHandle;

    /// The write end of the wake-up pipe, or -1. `Relaxed`: the handler only needs the
    /// value, which is stored before the handler is installed (sigaction is the fence).
    static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

    extern "C" fn on_sigint(_: libc::c_int) {
        let fd = WAKE_FD.load(Relaxed);
        if fd >= 0 {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            // SAFETY: errno is thread-local; this reads the handler's own thread's.
            let saved = unsafe { *libc::__errno_location() };
            let byte = 1u8;
            // SAFETY: `write` is async-signal-safe; the buffer is one live byte; the fd
            // is non-blocking, so a full pipe (many Ctrl-Cs) drops the byte.
            unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
            #[cfg(any(target_os = "linux", target_os = "android"))]
            // SAFETY: as above; restores what the interrupted code may be about to read.
            unsafe {
                *libc::__errno_location() = saved
            };
        }
    }

    /// The terminal's width in columns, if stdout is a terminal that reports one.
    pub(crate) fn terminal_width() -> Option<usize> {
        // SAFETY: a zeroed winsize is valid; TIOCGWINSZ writes one into it, and fails
        // harmlessly (returns -1) when stdout is not a terminal.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: as above; `ws` outlives the call.
        let r = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
        (r == 0 && ws.ws_col > 0).then_some(usize::from(ws.ws_col))
    }

    /// Stops watching when dropped (the handler is reset to the default).
    #[derive(Debug)]
    pub(crate) struct Watch {
        fds: [libc::c_int; 2],
        thread: Option<JoinHandle<()>>,
    }

    /// Runs `f(n)` on a watcher thread at the `n`-th Ctrl-C. `None` if the handler could
    /// not be installed (the default, terminating, action stays).
    pub(crate) fn on_interrupt(mut f: impl FnMut(u32) + Send + 'static) -> Option<Watch> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors `pipe` writes.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return None;
        }
        // SAFETY: fcntl on a descriptor this function owns.
        unsafe {
            let flags = libc::fcntl(fds[1], libc::F_GETFL);
            libc::fcntl(fds[1], libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        let read_fd = fds[0];
        let thread = std::thread::spawn(move || {
            let mut count = 0;
            loop {
                let mut byte = 0u8;
                // SAFETY: reads one byte into a live local from a descriptor kept open
                // until this thread is joined.
                let r = unsafe { libc::read(read_fd, (&mut byte as *mut u8).cast(), 1) };
                match r {
                    1 if byte == 1 => {
                        count += 1;
                        f(count);
                    }
                    -1 if std::io::Error::last_os_error().kind()
                        == std::io::ErrorKind::Interrupted => {}
                    _ => return, // 0 from `Drop`, or an error
                }
            }
        });
        WAKE_FD.store(fds[1], Relaxed);
        // SAFETY: a zeroed sigaction is valid; the handler is an `extern "C" fn(c_int)`
        // that only makes async-signal-safe calls.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut()) != 0 {
                return None;
            }
        }
        Some(Watch {
            fds,
            thread: Some(thread),
        })
    }

    impl Drop for Watch {
        fn drop(&mut self) {
            // SAFETY: restores the default action; a zeroed sigaction with SIG_DFL is valid.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = libc::SIG_DFL;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
            }
            WAKE_FD.store(-1, Relaxed);
            let stop = 0u8;
            // SAFETY: one live byte to our own pipe; the watcher reads it and returns.
            unsafe { libc::write(self.fds[1], (&stop as *const u8).cast(), 1) };
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
            // The write end stays open: a handler that loaded the fd just before the
            // reset may still write to it, and a closed (reused) descriptor must not
            // receive that byte. Only the read end is closed.
            // SAFETY: the watcher thread, the only reader, has been joined.
            unsafe { libc::close(self.fds[0]) };
        }
    }
}

#[cfg(not(unix))]
mod signal {
    /// Unknown off Unix: the status line assumes 80 columns.
    pub(crate) fn terminal_width() -> Option<usize> {
        None
    }

    /// No handler off Unix: Ctrl-C terminates the process.
    pub(crate) fn on_interrupt(_f: impl FnMut(u32) + Send + 'static) -> Option<()> {
        None
    }
}
