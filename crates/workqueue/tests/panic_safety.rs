//! Panic safety: user code that panics (the item's `Clone`, `Eq`, `Hash` and `Drop`, the
//! metrics provider, the rate limiter's use of the item) leaves the queue as it was before
//! the call or as after it, never in between: no item is lost, duplicated or left dirty
//! without being queued, `len()` stays right, the clock's timer thread keeps running and
//! `shut_down_with_drain` returns.
//!
//! The harness injects a panic at the n-th user-code call of an operation, for n = 1, 2, …
//! until the operation runs through, and after each caught panic compares everything the
//! queue does from then on (what it hands out, in which order, what a drain waits for)
//! with the same scenario run without the operation ("before") and with it ("after").
#![cfg(not(loom))]

use std::cell::Cell;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, Once};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use gosync_core::FakeClock;
use gosync_workqueue::ratelimit::ExponentialLimiter;
use gosync_workqueue::{
    AddOpts, CounterMetric, GaugeMetric, HistogramMetric, MetricsProvider, Priority, Queue,
    QueueBuilder, RateLimitingQueue, SettableGaugeMetric, Storage, TryGetError,
};

const HANG: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Panic injection.

/// Kinds of user code, as a bit set.
const CLONE: u8 = 1;
const EQ: u8 = 2;
const HASH: u8 = 4;
const DROP: u8 = 8;
const METRIC: u8 = 16;
const ALL: u8 = CLONE | EQ | HASH | DROP | METRIC;

const INJECTED: &str = "injected panic";

thread_local! {
    /// Panic at the n-th call of user code of the kinds in `ARMED_KINDS` on this thread
    /// (0: never). Counts down; one panic per arming.
    static COUNTDOWN: Cell<u32> = const { Cell::new(0) };
    static ARMED_KINDS: Cell<u8> = const { Cell::new(0) };
    /// Whether the armed panic was raised.
    static FIRED: Cell<bool> = const { Cell::new(false) };
    /// The kind of user code the armed panic was raised in.
    static FIRED_KIND: Cell<u8> = const { Cell::new(0) };
}

/// Kinds of user code that panic, every time, on every thread but `REMOTE_SPARED`.
static REMOTE: AtomicU8 = AtomicU8::new(0);
static REMOTE_SPARED: Mutex<Option<ThreadId>> = Mutex::new(None);
/// One-shot: the next user code of these kinds on a thread but `REMOTE_SPARED` panics.
static REMOTE_ONCE: AtomicU8 = AtomicU8::new(0);

/// How many armed panics were raised (on any thread).
static INJECTED_COUNT: AtomicUsize = AtomicUsize::new(0);

/// Every test of this file takes this lock: the remote switches are process-wide.
static SERIAL: Mutex<()> = Mutex::new(());

/// Holds [`SERIAL`]; disarms the remote switches when dropped (also when a test fails).
struct Serial(#[allow(dead_code)] MutexGuard<'static, ()>);

impl Drop for Serial {
    fn drop(&mut self) {
        disarm_remote();
    }
}

fn serial() -> Serial {
    // Keeps the injected panics out of the test output (every other panic is printed).
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !msg.starts_with(INJECTED) {
                default(info);
            }
        }));
    });
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    disarm_remote();
    Serial(guard)
}

/// Called by every piece of user code: panics if armed for `kind`.
fn user_code(kind: u8, what: &str) {
    if thread::panicking() {
        return; // a second panic while unwinding would abort
    }
    let local = ARMED_KINDS.with(Cell::get) & kind != 0
        && COUNTDOWN.with(|c| match c.get() {
            0 => false,
            n => {
                c.set(n - 1);
                n == 1
            }
        });
    if local {
        FIRED.with(|f| f.set(true));
        FIRED_KIND.with(|k| k.set(kind));
        INJECTED_COUNT.fetch_add(1, SeqCst);
        panic!("{INJECTED}: {what}");
    }
    let remote = REMOTE.load(SeqCst) & kind != 0;
    let once = REMOTE_ONCE.load(SeqCst) & kind != 0;
    if (remote || once) && *REMOTE_SPARED.lock().unwrap() != Some(thread::current().id()) {
        if once && REMOTE_ONCE.fetch_and(!kind, SeqCst) & kind == 0 {
            return; // another thread took the one shot
        }
        panic!("{INJECTED} (remote): {what}");
    }
}

/// Arms this thread: the `n`-th user call of `kinds` panics.
fn arm(n: u32, kinds: u8) {
    COUNTDOWN.with(|c| c.set(n));
    ARMED_KINDS.with(|k| k.set(kinds));
    FIRED.with(|f| f.set(false));
}

/// Disarms this thread; returns whether the armed panic was raised.
fn disarm() -> bool {
    COUNTDOWN.with(|c| c.set(0));
    ARMED_KINDS.with(|k| k.set(0));
    FIRED.with(Cell::get)
}

/// Arms the remote switch: user code of `kinds` on any other thread panics.
fn arm_remote(kinds: u8, once: bool) {
    *REMOTE_SPARED.lock().unwrap() = Some(thread::current().id());
    if once {
        REMOTE_ONCE.store(kinds, SeqCst);
    } else {
        REMOTE.store(kinds, SeqCst);
    }
}

fn disarm_remote() {
    REMOTE.store(0, SeqCst);
    REMOTE_ONCE.store(0, SeqCst);
}

/// A key whose `Clone`, `Eq`, `Hash` and `Drop` call [`user_code`].
#[derive(Debug)]
struct Key(u8);

impl Clone for Key {
    fn clone(&self) -> Key {
        user_code(CLONE, "clone");
        Key(self.0)
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        user_code(EQ, "eq");
        self.0 == other.0
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        user_code(HASH, "hash");
        self.0.hash(h);
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        user_code(DROP, "drop");
    }
}

/// Metrics whose every method calls [`user_code`]; the depth gauge is kept.
#[derive(Default)]
struct Metrics {
    depth: Arc<AtomicI64>,
}

struct Metric(&'static str, Option<Arc<AtomicI64>>);

impl GaugeMetric for Metric {
    fn inc(&self) {
        user_code(METRIC, self.0);
        if let Some(d) = &self.1 {
            d.fetch_add(1, SeqCst);
        }
    }
    fn dec(&self) {
        user_code(METRIC, self.0);
        if let Some(d) = &self.1 {
            d.fetch_sub(1, SeqCst);
        }
    }
}
impl CounterMetric for Metric {
    fn inc(&self) {
        user_code(METRIC, self.0);
    }
}
impl HistogramMetric for Metric {
    fn observe(&self, _: f64) {
        user_code(METRIC, self.0);
    }
}
impl SettableGaugeMetric for Metric {
    fn set(&self, _: f64) {
        user_code(METRIC, self.0);
    }
}

impl MetricsProvider for Metrics {
    fn new_depth_metric(&self, _: &str) -> Box<dyn GaugeMetric> {
        Box::new(Metric("depth", Some(self.depth.clone())))
    }
    fn new_adds_metric(&self, _: &str) -> Box<dyn CounterMetric> {
        Box::new(Metric("adds", None))
    }
    fn new_latency_metric(&self, _: &str) -> Box<dyn HistogramMetric> {
        Box::new(Metric("latency", None))
    }
    fn new_work_duration_metric(&self, _: &str) -> Box<dyn HistogramMetric> {
        Box::new(Metric("work", None))
    }
    fn new_unfinished_work_seconds_metric(&self, _: &str) -> Box<dyn SettableGaugeMetric> {
        Box::new(Metric("unfinished", None))
    }
    fn new_longest_running_processor_seconds_metric(
        &self,
        _: &str,
    ) -> Box<dyn SettableGaugeMetric> {
        Box::new(Metric("longest", None))
    }
    fn new_retries_metric(&self, _: &str) -> Box<dyn CounterMetric> {
        Box::new(Metric("retries", None))
    }
}

// ---------------------------------------------------------------------------------------
// Helpers.

/// Runs `f` on another thread; fails the test if it does not return within [`HANG`].
fn returns_in_time<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("{what} did not return (hung)"))
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let hang = Instant::now() + HANG;
    while !cond() {
        assert!(Instant::now() < hang, "timed out waiting for {what}");
        thread::sleep(Duration::from_micros(100));
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

type Limiter = ExponentialLimiter<Key>;
type FifoQ = RateLimitingQueue<Key, Limiter>;
type PrioQ = RateLimitingQueue<Key, Limiter, Priority<Key>>;

/// A FIFO or a priority rate-limiting queue.
#[derive(Clone)]
enum Wq {
    Fifo(FifoQ),
    Prio(PrioQ),
}

/// Runs the same expression on either queue.
macro_rules! each {
    ($w:expr, $q:ident => $e:expr) => {
        match $w {
            Wq::Fifo($q) => $e,
            Wq::Prio($q) => $e,
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Fifo,
    Prio,
}

fn builder(fake: &FakeClock, metrics: bool) -> QueueBuilder {
    let b = Queue::builder().clock(fake.clock());
    if metrics {
        b.name("test")
            .metrics_provider(Arc::new(Metrics::default()))
    } else {
        b
    }
}

fn make(kind: Kind, fake: &FakeClock, metrics: bool) -> Wq {
    let limiter = ExponentialLimiter::new(secs(1), secs(10));
    match kind {
        Kind::Fifo => Wq::Fifo(RateLimitingQueue::with_limiter(
            builder(fake, metrics),
            limiter,
        )),
        Kind::Prio => Wq::Prio(RateLimitingQueue::priority_with_limiter(
            builder(fake, metrics),
            limiter,
        )),
    }
}

impl Wq {
    fn add(&self, k: u8) {
        each!(self, q => q.add(Key(k)));
    }
    fn add_after(&self, k: u8, s: u64) {
        each!(self, q => q.add_after(Key(k), secs(s)));
    }
    fn try_get(&self) -> Result<Key, TryGetError> {
        each!(self, q => q.try_get().map(|g| g.into_inner()))
    }
    fn done(&self, k: &Key) -> bool {
        each!(self, q => q.done(k))
    }
    fn len(&self) -> usize {
        each!(self, q => q.len())
    }
    fn waiting_len(&self) -> usize {
        each!(self, q => q.waiting_len())
    }
    fn shut_down_with_drain(&self) {
        each!(self, q => q.shut_down_with_drain())
    }
    fn shut_down(&self) {
        each!(self, q => q.shut_down())
    }
}

/// The items a scenario uses: 1..=8.
const KEYS: std::ops::RangeInclusive<u8> = 1..=8;

/// A queue with items in every state, and the items the test holds (processing).
///
/// 1 and 6 ready, 2 processing, 3 processing and dirty, 4 waiting (10 s), 5 processing
/// and waiting (5 s), 7 and 8 absent. The priority queue also has 8 ready at priority 2
/// and a stale copy of 1 (raised to priority 1).
fn setup(kind: Kind, metrics: bool) -> (FakeClock, Wq, Vec<Key>) {
    let fake = FakeClock::new();
    let w = make(kind, &fake, metrics);
    for k in [2, 3, 5] {
        w.add(k);
    }
    let held: Vec<Key> = (0..3).map(|_| w.try_get().unwrap()).collect();
    for k in [1, 6, 3] {
        w.add(k);
    }
    w.add_after(4, 10);
    w.add_after(5, 5);
    if let Wq::Prio(q) = &w {
        q.add_with_opts(Key(8), AddOpts::new().priority(2));
        q.add_with_opts(Key(1), AddOpts::new().priority(1));
    }
    (fake, w, held)
}

/// Everything the queue does from now on, as a log: counts, the items a drain hands out
/// and in which order, the `done` results of the held items, the delayed items, whether
/// every item can still be added and handed out, and that a drain returns.
fn settle(fake: &FakeClock, w: &Wq, held: Vec<Key>) -> Vec<String> {
    let mut log = vec![format!("len {} waiting {}", w.len(), w.waiting_len())];
    let drain = |log: &mut Vec<String>| {
        while let Ok(k) = w.try_get() {
            log.push(format!("got {}", k.0));
            assert!(w.done(&k), "a handed-out item is processing");
        }
    };
    drain(&mut log);
    for k in held {
        log.push(format!("done {} {}", k.0, w.done(&k)));
        drain(&mut log);
    }
    fake.advance(secs(60));
    wait_for("the delayed items", || w.waiting_len() == 0);
    drain(&mut log);
    // An item left dirty but not queued would be deduplicated away here.
    for k in KEYS {
        w.add(k);
    }
    log.push(format!("len {}", w.len()));
    drain(&mut log);
    let q = w.clone();
    returns_in_time("shut_down_with_drain", move || q.shut_down_with_drain());
    log
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Add(u8),
    AddAfter(u8, u64),
    AddPrio(u8, i32),
    AddPrioAfter(u8, i32, u64),
    AddRateLimited(u8),
    TryGet,
    Get,
    GetDetached,
    GetTimeout,
    #[cfg(feature = "context")]
    GetContext,
    Done(u8),
    DoneAndGet(u8),
    /// Drops the guard of a `get` (the `get` itself runs unarmed).
    GuardDrop,
    Forget(u8),
}

/// Runs `op` with the n-th user call of `kinds` armed to panic (`n == 0`: unarmed); the
/// item it hands out, if any, joins `held`. Returns whether an injected panic was caught.
fn run(op: Op, w: &Wq, held: &mut Vec<Key>, n: u32, kinds: u8) -> bool {
    // Keys are made before arming (their drop, if the queue does not keep them, counts).
    let (k1, held_k) = match op {
        Op::Add(k)
        | Op::AddAfter(k, _)
        | Op::AddPrio(k, _)
        | Op::AddPrioAfter(k, _, _)
        | Op::AddRateLimited(k)
        | Op::Forget(k) => (Some(Key(k)), None),
        Op::Done(k) | Op::DoneAndGet(k) => (None, Some(Key(k))),
        _ => (None, None),
    };
    arm(n, kinds);
    let result = panic::catch_unwind(AssertUnwindSafe(|| -> Option<Key> {
        match op {
            Op::Add(_) => each!(w, q => q.add(k1.unwrap())),
            Op::AddAfter(_, s) => each!(w, q => q.add_after(k1.unwrap(), secs(s))),
            Op::AddPrio(_, p) => match w {
                Wq::Prio(q) => q.add_with_opts(k1.unwrap(), AddOpts::new().priority(p)),
                Wq::Fifo(_) => unreachable!(),
            },
            Op::AddPrioAfter(_, p, s) => match w {
                Wq::Prio(q) => {
                    q.add_with_opts(k1.unwrap(), AddOpts::new().priority(p).after(secs(s)))
                }
                Wq::Fifo(_) => unreachable!(),
            },
            Op::AddRateLimited(_) => each!(w, q => q.add_rate_limited(k1.unwrap())),
            Op::Forget(_) => each!(w, q => q.forget(k1.as_ref().unwrap())),
            Op::TryGet => return w.try_get().ok(),
            Op::Get => return each!(w, q => q.get().map(|g| g.into_inner())),
            Op::GetDetached => return each!(w, q => q.get_detached()),
            Op::GetTimeout => {
                return each!(w, q => q.get_timeout(secs(1)).ok().map(|g| g.into_inner()))
            }
            #[cfg(feature = "context")]
            Op::GetContext => {
                let ctx = gosync_context::background();
                return each!(w, q => q.get_context(&ctx).ok().map(|g| g.into_inner()));
            }
            Op::Done(_) => {
                each!(w, q => q.done(held_k.as_ref().unwrap()));
            }
            Op::DoneAndGet(_) => {
                return each!(w, q => q.done_and_get_detached(held_k.as_ref().unwrap()))
            }
            Op::GuardDrop => each!(w, q => {
                // The guard is taken unarmed, dropped armed.
                disarm();
                let guard = q.try_get().ok();
                arm(n, kinds);
                drop(guard);
            }),
        }
        None
    }));
    let fired = disarm();
    match result {
        Ok(got) => {
            assert!(!fired, "{op:?}: an injected panic was swallowed");
            held.extend(got);
        }
        Err(payload) => {
            assert!(fired, "{op:?}: a panic that was not injected");
            drop(payload);
        }
    }
    fired
}

/// Checks `op` with a panic injected at each of its user-code calls of `kinds` in turn.
/// `also` are the accepted outcomes besides "before" and "after" (for the two-part
/// `done_and_get`), `before_ok` whether a rolled-back outcome is accepted.
fn check_op(kind: Kind, metrics: bool, op: Op, kinds: u8, also: &[Op], before_ok: bool) {
    let outcome = |ops: &[Op]| {
        let (fake, w, mut held) = setup(kind, metrics);
        for &op in ops {
            run(op, &w, &mut held, 0, 0);
        }
        settle(&fake, &w, held)
    };
    let mut accepted = vec![("after", outcome(&[op]))];
    if before_ok {
        accepted.push(("before", outcome(&[])));
    }
    for &other in also {
        accepted.push(("partial", outcome(&[other])));
    }
    for n in 1.. {
        let (fake, w, mut held) = setup(kind, metrics);
        let fired = run(op, &w, &mut held, n, kinds);
        let log = panic::catch_unwind(AssertUnwindSafe(|| settle(&fake, &w, held))).unwrap_or_else(
            |_| panic!("{kind:?} metrics={metrics} {op:?}, panic at user call {n}: see above"),
        );
        if !fired {
            assert_eq!(log, accepted[0].1, "{kind:?} {op:?}: no panic");
            break;
        }
        assert!(
            accepted.iter().any(|(_, a)| *a == log),
            "{kind:?} metrics={metrics} {op:?}, panic at user call {n}: in between\n  got      {log:?}\n{}",
            accepted
                .iter()
                .map(|(name, a)| format!("  {name:8} {a:?}\n"))
                .collect::<String>()
        );
        assert!(n < 200, "{op:?}: user code never stops");
    }
}

fn ops(kind: Kind) -> Vec<Op> {
    let mut ops = Vec::new();
    for k in KEYS {
        ops.extend([
            Op::Add(k),
            Op::AddAfter(k, 3),
            Op::AddAfter(k, 20),
            Op::AddRateLimited(k),
            Op::Done(k),
            Op::Forget(k),
        ]);
        if kind == Kind::Prio {
            ops.extend([
                Op::AddPrio(k, 5),
                Op::AddPrio(k, 1),
                Op::AddPrioAfter(k, 4, 3),
            ]);
        }
    }
    ops.extend([Op::TryGet, Op::Get, Op::GetDetached, Op::GetTimeout]);
    #[cfg(feature = "context")]
    ops.push(Op::GetContext);
    ops
}

fn check_all(kind: Kind, metrics: bool) {
    for op in ops(kind) {
        check_op(kind, metrics, op, ALL, &[], true);
    }
    for k in KEYS {
        // `done` then `get`: a panic in the `get` half leaves the `done` made.
        check_op(kind, metrics, Op::DoneAndGet(k), ALL, &[Op::Done(k)], true);
    }
    // A guard's `done` must not be rolled back: the guard is gone. (A panicking `Hash` or
    // `Eq` cannot be helped: the queue cannot find the item; see the crate docs.)
    check_op(
        kind,
        metrics,
        Op::GuardDrop,
        CLONE | DROP | METRIC,
        &[],
        false,
    );
}

// ---------------------------------------------------------------------------------------
// Tests.

#[test]
fn fifo_every_op_survives_panicking_user_code() {
    let _s = serial();
    check_all(Kind::Fifo, true);
}

#[test]
fn fifo_without_metrics_every_op_survives_panicking_user_code() {
    let _s = serial();
    check_all(Kind::Fifo, false);
}

#[test]
fn priority_every_op_survives_panicking_user_code() {
    let _s = serial();
    check_all(Kind::Prio, true);
}

/// A getter woken for an item that panics in the item's `Eq` while taking it passes its
/// wake-up on: the other parked getter gets the item.
#[test]
fn a_getter_that_panics_passes_its_wake_up_on() {
    let _s = serial();
    for kind in [Kind::Fifo, Kind::Prio] {
        let fake = FakeClock::new();
        let w = make(kind, &fake, true);
        let (tx, rx) = mpsc::channel();
        let getters: Vec<_> = (0..2)
            .map(|_| {
                let (w, tx) = (w.clone(), tx.clone());
                thread::spawn(move || {
                    let got = panic::catch_unwind(AssertUnwindSafe(
                        || each!(&w, q => q.get().map(|g| g.into_inner())),
                    ));
                    let _ = tx.send(got.ok().flatten().map(|k| k.0));
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(100)); // both parked
        arm_remote(EQ, true);
        w.add(1);
        let first = rx.recv_timeout(HANG).expect("a getter returned");
        let second = rx.recv_timeout(HANG).ok();
        disarm_remote();
        // One getter panicked (and got nothing); the other was woken and got 1.
        let mut got = [Some(first), second];
        got.sort_unstable();
        assert_eq!(got, [Some(None), Some(Some(1))], "{kind:?}");
        assert!(w.done(&Key(1)));
        w.shut_down();
        for g in getters {
            g.join().unwrap();
        }
    }
}

/// A `done` whose metrics panic after it queued its item again (it was re-added while
/// processing) still wakes a parked getter for it; so does `done_and_get`, whose own
/// `get` never runs.
#[test]
fn a_done_that_panics_still_wakes_a_getter_for_its_item() {
    let _s = serial();
    for kind in [Kind::Fifo, Kind::Prio] {
        for and_get in [false, true] {
            let fake = FakeClock::new();
            let w = make(kind, &fake, true);
            w.add(1);
            let one = w.try_get().unwrap();
            w.add(1);
            let getter = {
                let w = w.clone();
                thread::spawn(move || each!(&w, q => q.get().map(|g| g.into_inner().0)))
            };
            thread::sleep(Duration::from_millis(50)); // parked
            arm(1, METRIC); // the work-duration metric
            let r = panic::catch_unwind(AssertUnwindSafe(|| {
                if and_get {
                    each!(&w, q => drop(q.done_and_get_detached(&one)));
                } else {
                    w.done(&one);
                }
            }));
            assert!(disarm() && r.is_err(), "{kind:?} {and_get}");
            let got = returns_in_time("the parked getter", move || getter.join().unwrap());
            assert_eq!(got, Some(1), "{kind:?} {and_get}");
            assert!(w.done(&Key(1)));
            let q = w.clone();
            returns_in_time("shut_down_with_drain", move || q.shut_down_with_drain());
        }
    }
}

/// Stale copies are compacted away (their `Drop` runs) before an add changes anything: a
/// panic there leaves the add undone, and a later add still wakes a parked getter.
#[test]
fn a_panic_while_compacting_stale_copies_leaves_the_add_undone() {
    let _s = serial();
    for (kind, stale_ready) in [(Kind::Fifo, false), (Kind::Prio, false), (Kind::Prio, true)] {
        let fake = FakeClock::new();
        let w = make(kind, &fake, true);
        // A compaction runs when the stale copies outnumber twice the live ones by 64.
        let key = if stale_ready {
            // Stale copies in the ready order: 2's priority raised again and again, then 2
            // handed out: 65 stale copies left, one more than allowed with none live.
            for p in 0..66 {
                match &w {
                    Wq::Prio(q) => q.add_with_opts(Key(2), AddOpts::new().priority(p)),
                    Wq::Fifo(_) => unreachable!(),
                }
            }
            assert_eq!(w.try_get().map(|k| k.0), Ok(2));
            assert!(w.done(&Key(2)));
            w.add_after(3, 10);
            3
        } else {
            // Stale entries in the delay heap, one short of a compaction: 70 items wait,
            // 68 of them are added now (and processed), leaving their waiting entries
            // stale; 2 still wait.
            for k in 100..170 {
                w.add_after(k, 10);
            }
            for k in 100..168 {
                w.add(k);
            }
            for _ in 100..168 {
                assert!(w.done(&w.try_get().unwrap()));
            }
            168
        };
        let waiting = w.waiting_len();
        // (A getter's `take` would drop the stale ready copies: it comes later then.)
        let getter = (!stale_ready).then(|| {
            let w = w.clone();
            thread::spawn(move || each!(&w, q => q.get().map(|g| g.into_inner().0)))
        });
        thread::sleep(Duration::from_millis(50)); // parked
        arm(1, DROP);
        let r = panic::catch_unwind(AssertUnwindSafe(|| w.add(key)));
        let fired = disarm();
        assert!(
            fired && r.is_err(),
            "{kind:?} {stale_ready}: compaction dropped a stale copy"
        );
        assert_eq!(
            (w.len(), w.waiting_len()),
            (0, waiting),
            "{kind:?}: the add undone"
        );
        w.add(key);
        let got = match getter {
            Some(g) => returns_in_time("the parked getter", move || g.join().unwrap()),
            None => w.try_get().ok().map(|k| k.0),
        };
        assert_eq!(got, Some(key), "{kind:?}");
        assert!(w.done(&Key(key)));
        let q = w.clone();
        returns_in_time("shut_down_with_drain", move || q.shut_down_with_drain());
    }
}

/// The delay thread survives user code that panics while it fires items (every call of
/// `kinds` on it panics), and still fires every later delayed item.
fn delay_thread_survives(kinds: u8, metrics: bool) {
    for kind in [Kind::Fifo, Kind::Prio] {
        let fake = FakeClock::new();
        let w = make(kind, &fake, metrics);
        for (k, s) in [(1, 1), (2, 1), (3, 2), (4, 3)] {
            w.add_after(k, s);
        }
        // A stale entry: 5 waits, then is added now (its waiting entry is dropped).
        w.add_after(5, 1);
        w.add(5);
        assert_eq!(w.try_get().map(|k| k.0), Ok(5));
        arm_remote(kinds, false);
        for (s, ready) in [(1, 2), (1, 3), (1, 4)] {
            fake.advance(secs(s));
            wait_for("a delayed item", || {
                w.len() + w.waiting_len() >= 4 && w.len() >= ready
            });
        }
        disarm_remote();
        // Later items still fire.
        w.add_after(6, 5);
        fake.advance(secs(5));
        wait_for("an item delayed after the panics", || w.len() == 5);
        let mut got: Vec<u8> = (0..5).map(|_| w.try_get().unwrap().0).collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2, 3, 4, 6], "{kind:?}");
        for k in got.into_iter().chain([5]) {
            assert!(w.done(&Key(k)));
        }
        let q = w.clone();
        returns_in_time("shut_down_with_drain", move || q.shut_down_with_drain());
    }
}

#[test]
fn delay_thread_survives_panicking_eq_hash_clone() {
    let _s = serial();
    delay_thread_survives(EQ | HASH | CLONE, false);
    delay_thread_survives(EQ | HASH | CLONE, true);
}

#[test]
fn delay_thread_survives_panicking_metrics_and_drop() {
    let _s = serial();
    delay_thread_survives(METRIC | DROP, true);
}

/// Every delaying queue of a clock shares its timer thread: a queue whose user code
/// panics on that thread (metrics, `Drop`) neither stops it nor holds up another queue's
/// items, due at the same time or later.
#[test]
fn a_panicking_queue_does_not_stall_the_other_queues_of_its_clock() {
    let _s = serial();
    let fake = FakeClock::new();
    let bad = make(Kind::Fifo, &fake, true);
    let good: Queue<u32> = Queue::builder().clock(fake.clock()).build();
    for (k, s) in [(1, 1), (2, 1), (3, 2)] {
        bad.add_after(k, s);
        good.add_after(u32::from(k), secs(s));
    }
    // Stale copies, whose `Drop` runs on the timer thread too.
    bad.add_after(4, 1);
    bad.add(4);
    arm_remote(METRIC | DROP, false);
    fake.advance(secs(1));
    wait_for("the other queue's 1 s items", || good.len() == 2);
    wait_for("the panicking queue's 1 s items", || bad.len() == 3);
    fake.advance(secs(1));
    wait_for("the other queue's 2 s item", || good.len() == 3);
    wait_for("the panicking queue's 2 s item", || bad.len() == 4);
    disarm_remote();
    let mut got: Vec<u32> = (0..3).map(|_| good.get_detached().unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, [1, 2, 3]);
    let mut got: Vec<u8> = (0..4).map(|_| bad.try_get().unwrap().0).collect();
    got.sort_unstable();
    assert_eq!(got, [1, 2, 3, 4]);
    good.shut_down();
    bad.shut_down();
}

/// `shut_down_with_drain` drops the waiting items; a panicking `Drop` there still leaves
/// the queue shut down, every getter woken, the delay thread stopped, and a drain that
/// returns.
#[test]
fn shut_down_survives_panicking_drop_of_waiting_items() {
    let _s = serial();
    for kind in [Kind::Fifo, Kind::Prio] {
        for n in 1..=3 {
            let fake = FakeClock::new();
            let w = make(kind, &fake, true);
            for k in [1, 2, 3] {
                w.add_after(k, 10);
            }
            let getter = {
                let w = w.clone();
                thread::spawn(move || each!(&w, q => q.get().map(|g| g.into_inner())))
            };
            thread::sleep(Duration::from_millis(50)); // parked
            arm(n, DROP);
            let r = panic::catch_unwind(AssertUnwindSafe(|| w.shut_down_with_drain()));
            let fired = disarm();
            assert_eq!(r.is_err(), fired, "{kind:?} {n}");
            let got = returns_in_time("the parked getter", move || getter.join().unwrap());
            assert!(got.is_none(), "{kind:?} {n}");
            assert_eq!((w.len(), w.waiting_len()), (0, 0), "{kind:?} {n}");
            each!(&w, q => assert!(q.shutting_down()));
            let q = w.clone();
            returns_in_time("a second drain", move || q.shut_down_with_drain());
            returns_in_time("the last drop", move || drop(w));
        }
    }
}

/// A guard whose item's `Clone` would panic still finishes its item (no clone needed), and
/// a panicking metric in its `done` still finishes it.
#[test]
fn guard_drop_finishes_its_item_despite_panics() {
    let _s = serial();
    for kind in [Kind::Fifo, Kind::Prio] {
        for kinds in [CLONE, METRIC] {
            let fake = FakeClock::new();
            let w = make(kind, &fake, true);
            w.add(1);
            let r = panic::catch_unwind(AssertUnwindSafe(|| {
                each!(&w, q => {
                    let g = q.get().unwrap();
                    q.add(Key(1)); // dirty while processing: re-queued by the done
                    arm(1, kinds);
                    drop(g);
                })
            }));
            disarm();
            let _ = r;
            assert_eq!(w.len(), 1, "{kind:?} {kinds}: re-queued");
            assert_eq!(w.try_get().map(|k| k.0), Ok(1));
            assert!(w.done(&Key(1)));
            let q = w.clone();
            returns_in_time("shut_down_with_drain", move || q.shut_down_with_drain());
        }
    }
}

/// A xorshift generator: `rand(n)` is in `0..n`.
fn rng(seed: u64) -> impl FnMut(u32) -> u32 {
    let mut x = seed | 1;
    move |n: u32| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % u64::from(n)) as u32
    }
}

/// A stress worker: gets items (detached or guarded) and finishes them, with a panic
/// injected at random into about a third of its operations, until the queue is shut down
/// and empty. Checks that no item is handed to two workers at once.
fn consume<S: Storage<Key> + Send + 'static>(
    q: &Queue<Key, S>,
    in_flight: &Mutex<HashSet<u8>>,
    rand: &mut impl FnMut(u32) -> u32,
) {
    let process = |k: &Key| {
        assert!(
            in_flight.lock().unwrap().insert(k.0),
            "handed out twice at once"
        );
        thread::yield_now();
        assert!(in_flight.lock().unwrap().remove(&k.0));
    };
    loop {
        let guarded = rand(2) == 0;
        arm(1 + rand(12), ALL);
        let got = panic::catch_unwind(AssertUnwindSafe(|| {
            if guarded {
                q.get().map(Ok)
            } else {
                q.get_detached().map(Err)
            }
        }));
        disarm();
        match got {
            Ok(None) => return, // shut down and empty
            Err(_) => continue, // the item stays ready
            Ok(Some(Ok(guard))) => {
                process(&guard);
                // A guard's done rolls back only on a panicking Hash or Eq (nobody could
                // retry it): those are not armed here.
                arm(1 + rand(12), CLONE | DROP | METRIC);
                let _ = panic::catch_unwind(AssertUnwindSafe(|| drop(guard)));
                disarm();
            }
            Ok(Some(Err(key))) => {
                process(&key);
                arm(1 + rand(12), ALL);
                let done = panic::catch_unwind(AssertUnwindSafe(|| q.done(&key)));
                let fired = disarm();
                let kind = FIRED_KIND.with(Cell::get);
                if done.is_err() && fired && kind & (HASH | EQ | CLONE) != 0 {
                    // Rolled back: still processing, ours to finish.
                    assert!(q.done(&key), "a rolled-back done left it unprocessed");
                }
            }
        }
    }
}

/// Workers and producers on many threads, with panics injected at random into a third of
/// their operations (every kind of user code): no item is ever handed to two workers at
/// once, and once the panics stop and every key is added again, a drain returns (nothing
/// was lost, nothing left dirty but unqueued, nobody left asleep).
#[test]
#[ignore = "stress: run in release with --ignored"]
fn stress_random_panics_from_many_threads() {
    let _s = serial();
    const KEYS: u8 = 64;
    const OPS: u32 = 20_000;
    for kind in [Kind::Fifo, Kind::Prio] {
        let w = {
            let limiter =
                ExponentialLimiter::new(Duration::from_micros(1), Duration::from_millis(1));
            let b = Queue::builder()
                .name("stress")
                .metrics_provider(Arc::new(Metrics::default()));
            match kind {
                Kind::Fifo => Wq::Fifo(RateLimitingQueue::with_limiter(b, limiter)),
                Kind::Prio => Wq::Prio(RateLimitingQueue::priority_with_limiter(b, limiter)),
            }
        };
        let in_flight = Arc::new(Mutex::new(HashSet::new()));
        let injected = INJECTED_COUNT.load(SeqCst);
        let consumers: Vec<_> = (0..3u64)
            .map(|c| {
                let (w, in_flight) = (w.clone(), in_flight.clone());
                thread::spawn(move || {
                    let mut rand = rng(0x9E37_79B9 + c);
                    each!(&w, q => consume(q, &in_flight, &mut rand));
                })
            })
            .collect();
        let producers: Vec<_> = (0..3u64)
            .map(|p| {
                let w = w.clone();
                thread::spawn(move || {
                    let mut rand = rng(0x85EB_CA6B + p);
                    for _ in 0..OPS {
                        let k = rand(u32::from(KEYS)) as u8;
                        arm(1 + rand(12), ALL);
                        let _ = panic::catch_unwind(AssertUnwindSafe(|| match rand(4) {
                            0 => w.add_after(k, 0),
                            1 => each!(&w, q => q.add_after(Key(k), Duration::from_micros(50))),
                            2 => each!(&w, q => q.add_rate_limited(Key(k))),
                            _ => w.add(k),
                        }));
                        disarm();
                    }
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        // No more panics: every key once more, then a drain must end.
        for k in 0..KEYS {
            w.add(k);
        }
        let q = w.clone();
        returns_in_time("the drain after random panics", move || {
            q.shut_down_with_drain()
        });
        for c in consumers {
            c.join().unwrap();
        }
        assert!(in_flight.lock().unwrap().is_empty());
        let injected = INJECTED_COUNT.load(SeqCst) - injected;
        assert!(
            injected > OPS as usize,
            "{kind:?}: only {injected} panics injected"
        );
    }
}
