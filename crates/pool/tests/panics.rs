//! Panic safety: every place the pool runs user code (see "Panic safety" in the crate
//! docs) with a constructor, reset hook or `Drop` that panics on demand. After each
//! panic: the pool is usable, `stats()` agrees with a census of the objects (nothing
//! lost, nothing dropped twice, no slot left busy), and the panic reaches the call that
//! ran the user code.
#![cfg(not(loom))]

mod common;

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use common::pin_to_one_cpu;
use gosync_core::clock::FakeClock;
use gosync_pool::{Pool, PoolGuard};

/// A hang guard, not a timing assertion: only a stuck thread misses it.
/// Miri runs about a thousand times slower.
const HANG: Duration = Duration::from_secs(if cfg!(miri) { 600 } else { 10 });

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "<opaque>".into())
}

/// Counts the objects made and dropped.
#[derive(Default)]
struct Census {
    made: AtomicUsize,
    dropped: AtomicUsize,
}

impl Census {
    fn live(&self) -> usize {
        self.made.load(SeqCst) - self.dropped.load(SeqCst)
    }
}

/// A pooled object that panics in the reset hook or in `Drop` when marked.
struct Obj {
    id: usize,
    census: Arc<Census>,
    panic_on_reset: bool,
    panic_on_drop: bool,
}

impl Obj {
    fn new(census: &Arc<Census>) -> Obj {
        Obj {
            id: census.made.fetch_add(1, SeqCst),
            census: Arc::clone(census),
            panic_on_reset: false,
            panic_on_drop: false,
        }
    }
}

impl fmt::Debug for Obj {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Obj({})", self.id)
    }
}

impl Drop for Obj {
    fn drop(&mut self) {
        self.census.dropped.fetch_add(1, SeqCst);
        // Never while unwinding: that aborts the test binary (documented, not tested).
        if self.panic_on_drop && !thread::panicking() {
            panic!("drop {}", self.id);
        }
    }
}

/// A builder of pools of `Obj`s counted in `census` (each test adds its settings).
fn objects(census: &Arc<Census>) -> gosync_pool::Builder<Obj> {
    let census = Arc::clone(census);
    Pool::builder(move || Obj::new(&census))
}

/// The reset hook of these tests: panics on a marked object.
fn reset(o: &mut Obj) {
    if o.panic_on_reset {
        panic!("reset {}", o.id);
    }
}

fn in_slot<T>(g: &PoolGuard<'_, T>) -> bool {
    format!("{g:?}").contains("in_slot: true")
}

/// Asserts the pool's counters against the census: every object made is idle, dropped
/// by the pool, dropped by the test, or still held (`held`).
fn assert_consistent(pool: &Pool<Obj>, census: &Census, held: usize) {
    let s = pool.stats();
    assert_eq!(census.live(), s.idle + held, "{s:?}");
    assert_eq!(s.live(), held as isize, "{s:?}");
}

/// With the thread pinned to one CPU, every slot of its shard can be checked out in
/// place: none was left busy.
fn assert_no_slot_left_busy(pool: &Pool<Obj>) {
    let cap = pool.stats().capacity;
    let guards: Vec<_> = (0..cap).map(|_| pool.get()).collect();
    assert!(guards.iter().all(in_slot), "a slot of this CPU stayed busy");
}

/// Entry: the constructor (`get`/`take` when nothing is idle), panicking on its Nth
/// call. Nothing is claimed or counted before it returns: `created` counts only the
/// calls that returned, and every slot is still usable.
#[test]
fn constructor_panic_on_the_nth_call_leaves_nothing_behind() {
    pin_to_one_cpu();
    let census = Arc::new(Census::default());
    let calls = Arc::new(AtomicUsize::new(0));
    let pool = Pool::builder({
        let (calls, census) = (Arc::clone(&calls), Arc::clone(&census));
        move || {
            if calls.fetch_add(1, SeqCst) % 3 == 2 {
                panic!("constructor call {}", calls.load(SeqCst));
            }
            Obj::new(&census)
        }
    })
    .per_cpu_capacity(2)
    .reset(reset)
    .build();
    let a = pool.get(); // call 1
    let b = pool.take(); // call 2
    let r = catch_unwind(AssertUnwindSafe(|| pool.get())); // call 3 panics
    assert_eq!(panic_text(&*r.unwrap_err()), "constructor call 3");
    assert_eq!(pool.stats().created, 2);
    assert_consistent(&pool, &census, 2);
    let c = pool.get(); // call 4: takes the slot the failed get would have used
    assert!(in_slot(&c));
    let d = pool.take(); // call 5
    let r = catch_unwind(AssertUnwindSafe(|| pool.take())); // call 6 panics
    assert_eq!(panic_text(&*r.unwrap_err()), "constructor call 6");
    assert_consistent(&pool, &census, 4);
    drop((a, c));
    pool.put(b); // shard full: dropped
    pool.put(d); // likewise
    assert_consistent(&pool, &census, 0);
    assert_eq!(pool.stats().created, 4);
    assert_no_slot_left_busy(&pool);
}

/// Entry: the reset hook, run by the drop of a guard that holds its object in place in
/// a slot. The object is moved out, counted in `dropped` and dropped while the panic
/// unwinds out of the guard's drop; the slot is freed for the next `get`.
#[test]
fn reset_panic_in_an_in_slot_guard_drops_the_object_and_frees_the_slot() {
    pin_to_one_cpu();
    let census = Arc::new(Census::default());
    let pool = objects(&census).per_cpu_capacity(1).reset(reset).build();
    let mut g = pool.get();
    assert!(in_slot(&g));
    g.panic_on_reset = true;
    let r = catch_unwind(AssertUnwindSafe(move || drop(g)));
    assert_eq!(panic_text(&*r.unwrap_err()), "reset 0");
    assert_eq!(pool.stats().dropped, 1);
    assert_eq!(census.live(), 0, "the object was dropped, once");
    assert_consistent(&pool, &census, 0);
    let g = pool.get(); // the freed slot, with a new object
    assert!(in_slot(&g));
    assert_eq!(g.id, 1);
    drop(g);
    assert_consistent(&pool, &census, 0);
    assert_eq!(pool.stats().idle, 1);
}

/// Entry: the reset hook, run by the drop of a guard that holds its object itself
/// (every slot of the CPU was busy) and by `put`: the object is counted in `dropped`
/// and dropped while the panic unwinds out of that drop or `put`; the slots are
/// untouched.
#[test]
fn reset_panic_in_an_owned_guard_or_put_drops_the_object_and_touches_no_slot() {
    pin_to_one_cpu();
    let census = Arc::new(Census::default());
    let pool = objects(&census).per_cpu_capacity(1).reset(reset).build();
    let held = pool.get();
    let mut owned = pool.get();
    assert!(in_slot(&held) && !in_slot(&owned));
    owned.panic_on_reset = true;
    let r = catch_unwind(AssertUnwindSafe(move || drop(owned)));
    assert_eq!(panic_text(&*r.unwrap_err()), "reset 1");
    assert_eq!(pool.stats().dropped, 1);
    assert_consistent(&pool, &census, 1);
    drop(held);
    assert_eq!(pool.stats().idle, 1);

    let mut t = pool.take();
    t.panic_on_reset = true;
    let r = catch_unwind(AssertUnwindSafe(|| pool.put(t)));
    assert_eq!(panic_text(&*r.unwrap_err()), "reset 0");
    assert_eq!(pool.stats().dropped, 2);
    assert_consistent(&pool, &census, 0);
    assert_eq!(pool.stats().idle, 0);
    assert_no_slot_left_busy(&pool);
}

/// Entry: `Drop` of an object returned to a full shard (by `put`, and by the drop of a
/// guard that holds its object itself): counted in `dropped` before it is dropped; the
/// panic propagates out of that `put` or guard drop; the idle objects stay.
#[test]
fn drop_panic_of_an_object_returned_to_a_full_shard() {
    pin_to_one_cpu();
    let census = Arc::new(Census::default());
    let pool = objects(&census)
        .per_cpu_capacity(1)
        .burst_capacity(0) // the drop-on-full path
        .reset(reset)
        .build();
    let (a, mut b) = (pool.take(), pool.take());
    pool.put(a); // the CPU's only slot
    b.panic_on_drop = true;
    let r = catch_unwind(AssertUnwindSafe(|| pool.put(b)));
    assert_eq!(panic_text(&*r.unwrap_err()), "drop 1");
    let s = pool.stats();
    assert_eq!((s.idle, s.dropped), (1, 1));
    assert_consistent(&pool, &census, 0);

    let held = pool.get(); // object 0, in place
    let mut owned = pool.get(); // object 2, held by the guard
    assert!(!in_slot(&owned));
    owned.panic_on_drop = true;
    drop(held); // the slot is full again
    let r = catch_unwind(AssertUnwindSafe(move || drop(owned)));
    assert_eq!(panic_text(&*r.unwrap_err()), "drop 2");
    let s = pool.stats();
    assert_eq!((s.idle, s.dropped), (1, 2));
    assert_consistent(&pool, &census, 0);
    assert_eq!(pool.take().id, 0);
}

/// Entry: `Drop` of objects dropped by `trim`: each is counted and its slot emptied
/// before it is dropped; the panic propagates out of `trim`, the objects not yet
/// visited stay idle (the next trim drops them), and every object is dropped once.
#[test]
fn drop_panic_in_trim_stops_that_trim_only() {
    pin_to_one_cpu();
    let census = Arc::new(Census::default());
    let pool = objects(&census).per_cpu_capacity(3).build();
    let objs: Vec<_> = (0..3).map(|_| pool.take()).collect();
    for mut o in objs {
        o.panic_on_drop = o.id != 1;
        pool.put(o);
    }
    pool.trim(); // ages them
    assert_eq!(pool.stats().idle, 3);
    let r = catch_unwind(AssertUnwindSafe(|| pool.trim()));
    assert_eq!(panic_text(&*r.unwrap_err()), "drop 0");
    let s = pool.stats();
    assert_eq!((s.idle, s.dropped, s.trims), (2, 1, 2));
    assert_consistent(&pool, &census, 0);
    let r = catch_unwind(AssertUnwindSafe(|| pool.trim()));
    assert_eq!(panic_text(&*r.unwrap_err()), "drop 2");
    let s = pool.stats();
    assert_eq!((s.idle, s.dropped, s.trims), (0, 3, 3));
    assert_eq!(census.live(), 0);
    pool.trim();
    assert_no_slot_left_busy(&pool);
    assert_consistent(&pool, &census, 0);
}

/// Entry: `Drop` of objects dropped by the automatic trim, which runs inside a `get`
/// (every 256th of a thread, before it claims anything) and inside a return to a full
/// shard (after that return is complete). The panic propagates out of that call; the
/// call's own object is not lost.
#[test]
fn drop_panic_in_an_automatic_trim_propagates_out_of_the_call_that_ran_it() {
    let fake = FakeClock::new();
    let census = Arc::new(Census::default());
    let pool = Arc::new(
        objects(&census)
            .per_cpu_capacity(2)
            .burst_capacity(0) // the drop-on-full path
            .auto_trim(Duration::from_secs(1))
            .clock(fake.clock())
            .build(),
    );
    // A fresh thread, so that its 256th `get` is the one that checks the clock.
    let h = {
        let (pool, fake) = (Arc::clone(&pool), fake.clone());
        thread::spawn(move || {
            pin_to_one_cpu();
            let (z, mut x) = (pool.take(), pool.take());
            x.panic_on_drop = true;
            pool.put(z); // slot 0: handed out by every `get` below
            pool.put(x); // slot 1: stays idle
            pool.trim(); // x ages
            fake.advance(Duration::from_secs(1));
            let mut panics = Vec::new();
            for _ in 0..256 {
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| drop(pool.get()))) {
                    panics.push(panic_text(&*p));
                }
            }
            assert_eq!(panics, ["drop 1"]);
            let s = pool.stats();
            assert_eq!((s.idle, s.dropped, s.trims), (1, 1, 2));

            // Inside a return to a full shard: slot 0 busy, slot 1 idle and aged. The
            // returned object is dropped first (the shard is full), then the due trim
            // drops the aged one and panics.
            let held = pool.get(); // object 0, in place in slot 0
            let (mut y, w) = (pool.take(), pool.take()); // objects 2 and 3, built
            y.panic_on_drop = true;
            pool.put(y); // slot 1
            pool.trim(); // y ages
            fake.advance(Duration::from_secs(1));
            let r = catch_unwind(AssertUnwindSafe(|| pool.put(w)));
            assert_eq!(panic_text(&*r.unwrap_err()), "drop 2");
            let s = pool.stats();
            assert_eq!((s.idle, s.dropped, s.trims), (0, 3, 4));
            drop(held);
            assert_eq!(pool.stats().idle, 1);
            assert_no_slot_left_busy(&pool);
        })
    };
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(h.join()));
    rx.recv_timeout(HANG).expect("hung").unwrap();
    assert_eq!(census.live(), pool.stats().idle);
}

/// Entry: `Drop` of the idle objects and of the constructor when the pool itself is
/// dropped: the panic propagates out of the pool's drop, and every other object, and
/// the constructor, are still dropped (a second panic among them would abort).
#[test]
fn drop_panic_when_the_pool_is_dropped_still_drops_everything_else() {
    pin_to_one_cpu();
    let census = Arc::new(Census::default());
    let ctor_drops = Arc::new(AtomicUsize::new(0));
    struct Ctor {
        drops: Arc<AtomicUsize>,
        armed: bool,
    }
    impl Drop for Ctor {
        fn drop(&mut self) {
            self.drops.fetch_add(1, SeqCst);
            if self.armed && !thread::panicking() {
                panic!("constructor dropped");
            }
        }
    }
    let make = |armed| {
        let census = Arc::clone(&census);
        let ctor = Ctor {
            drops: Arc::clone(&ctor_drops),
            armed,
        };
        move || {
            let _ = &ctor;
            Obj::new(&census)
        }
    };

    // One idle object panics: the others and the constructor are dropped.
    let pool = Pool::builder(make(false)).per_cpu_capacity(4).build();
    let objs: Vec<_> = (0..4).map(|_| pool.take()).collect();
    for mut o in objs {
        o.panic_on_drop = o.id == 1;
        pool.put(o);
    }
    assert_eq!(pool.stats().idle, 4);
    let r = catch_unwind(AssertUnwindSafe(move || drop(pool)));
    assert_eq!(panic_text(&*r.unwrap_err()), "drop 1");
    assert_eq!(census.live(), 0);
    assert_eq!(ctor_drops.load(SeqCst), 1);

    // The constructor's captures panic: the idle objects were dropped before them.
    let pool = Pool::builder(make(true)).per_cpu_capacity(2).build();
    drop(pool.get());
    let r = catch_unwind(AssertUnwindSafe(move || drop(pool)));
    assert_eq!(panic_text(&*r.unwrap_err()), "constructor dropped");
    assert_eq!(census.live(), 0);
    assert_eq!(ctor_drops.load(SeqCst), 2);
}

/// Guard drop paths: a panic in user code while guards are held (one in place, one
/// holding its object) returns both objects as the thread unwinds, reset first; no slot
/// stays busy. `into_inner` and `take` run no user code after the constructor: the
/// detached object's drop is the caller's.
#[test]
fn panic_while_holding_guards_returns_the_objects() {
    pin_to_one_cpu();
    let census = Arc::new(Census::default());
    let pool = objects(&census)
        .per_cpu_capacity(1)
        .burst_capacity(0) // the drop-on-full path
        .reset(|o| o.panic_on_drop = false)
        .build();
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut a = pool.get();
        let mut b = pool.get();
        assert!(in_slot(&a) && !in_slot(&b));
        a.panic_on_drop = true; // the reset hook clears it on return
        b.panic_on_drop = true;
        panic!("user code failed");
    }));
    assert_eq!(panic_text(&*r.unwrap_err()), "user code failed");
    let s = pool.stats();
    assert_eq!((s.idle, s.dropped), (1, 1)); // `b` found the only slot busy
    assert_consistent(&pool, &census, 0);
    let a = pool.take();
    assert!(!a.panic_on_drop, "returned through the reset hook");
    pool.put(a);

    let mut g = pool.get();
    g.panic_on_drop = true;
    let detached = PoolGuard::into_inner(g);
    assert_consistent(&pool, &census, 1);
    let r = catch_unwind(AssertUnwindSafe(move || drop(detached)));
    assert_eq!(panic_text(&*r.unwrap_err()), "drop 0");
    // Dropped by its owner: the pool still counts it as out (it cannot know).
    assert_eq!((census.live(), pool.stats().live()), (0, 1));
    assert_no_slot_left_busy(&pool);
}

/// All entries at once, from two threads: constructors, reset hooks and drops that
/// panic on marked objects. No thread hangs, and at the end the counters agree with
/// the census and no slot is left busy.
#[test]
fn concurrent_panics_leave_the_counters_consistent() {
    let census = Arc::new(Census::default());
    let calls = Arc::new(AtomicUsize::new(0));
    let failing = Arc::new(AtomicBool::new(true));
    let pool = Arc::new(
        Pool::builder({
            let (census, calls, failing) = (
                Arc::clone(&census),
                Arc::clone(&calls),
                Arc::clone(&failing),
            );
            move || {
                if calls.fetch_add(1, SeqCst) % 7 == 3 && failing.load(SeqCst) {
                    panic!("constructor");
                }
                Obj::new(&census)
            }
        })
        .per_cpu_capacity(2)
        .burst_capacity(0) // the drop-on-full path
        .reset(reset)
        .build(),
    );
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                for i in 0..if cfg!(miri) { 100 } else { 2000usize } {
                    let _ = catch_unwind(AssertUnwindSafe(|| match (i + w) % 5 {
                        0 => {
                            let mut g = pool.get();
                            g.panic_on_reset = i % 3 == 0;
                        }
                        1 => {
                            let mut t = pool.take();
                            t.panic_on_reset = i % 4 == 0;
                            pool.put(t);
                        }
                        2 => {
                            let mut t = pool.take();
                            t.panic_on_drop = i % 2 == 0;
                            drop(t);
                        }
                        3 => {
                            let held: Vec<_> = (0..3).map(|_| pool.get()).collect();
                            drop(held);
                        }
                        _ => {
                            let mut t = pool.take();
                            t.panic_on_drop = i % 6 == 0;
                            pool.put(t); // dropped if the shard is full
                        }
                    }));
                }
            })
        })
        .collect();
    for w in workers {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || tx.send(w.join()));
        rx.recv_timeout(HANG).expect("a worker hung").unwrap();
    }
    // Objects dropped with a panic in `Drop` still count as dropped; the census too.
    let s = pool.stats();
    assert_eq!(census.live(), s.idle, "{s:?}");
    assert_eq!(s.created, census.made.load(SeqCst));
    pin_to_one_cpu();
    failing.store(false, SeqCst);
    // Disarm the idle objects (a `put` of an idle armed object would drop it).
    let n = pool.stats().idle;
    let idle: Vec<_> = (0..n).map(|_| pool.take()).collect();
    for mut o in idle {
        o.panic_on_drop = false;
        o.panic_on_reset = false;
        pool.put(o);
    }
    assert_no_slot_left_busy(&pool);
    pool.trim();
    pool.trim();
    assert_eq!((pool.stats().idle, census.live()), (0, 0));
}

/// Entry: `Drop` of an object whose reset hook panicked, panicking too. It runs while
/// the reset's panic unwinds, so the process aborts (as for any panic in `Drop` during
/// unwinding). Checked in a child process: it must abort, not hang or carry on.
#[cfg(unix)]
#[test]
#[cfg_attr(
    miri,
    ignore = "spawns a child process (to watch it abort), which Miri cannot"
)]
fn drop_panic_after_a_reset_panic_aborts() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};

    const CHILD: &str = "GOSYNC_POOL_ABORT_CHILD";
    const NAME: &str = "drop_panic_after_a_reset_panic_aborts";
    if std::env::var_os(CHILD).is_some() {
        struct Grenade;
        impl Drop for Grenade {
            fn drop(&mut self) {
                panic!("drop during the reset's unwinding");
            }
        }
        let pool = Pool::builder(|| Grenade).reset(|_| panic!("reset")).build();
        let g = pool.get();
        drop(g); // aborts
        println!("child: still running");
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + HANG;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the child hung");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(!out.contains("still running"), "{out}");
    assert_eq!(status.signal(), Some(6), "expected SIGABRT, got {status:?}");
}

/// Entry: `Drop` of objects the victim rule drops from the burst store. They are moved
/// out under the store's lock and dropped after it: a panicking `Drop` reaches the caller
/// of `trim`, the store is already consistent (the survivors kept, the lock free), and
/// the other expired objects are dropped during the unwinding.
#[test]
fn drop_panic_in_a_burst_trim_leaves_the_store_consistent() {
    pin_to_one_cpu();
    let census = Arc::new(Census::default());
    let pool = objects(&census).per_cpu_capacity(1).build();
    let mut objs: Vec<_> = (0..7).map(|_| pool.take()).collect();
    let fresh = objs.pop().expect("seven");
    for mut o in objs {
        o.panic_on_drop = o.id == 3;
        pool.put(o); // one in the slot, five in the burst store
    }
    assert_eq!(pool.stats().burst, 5);
    pool.trim(); // ages them
    pool.put(fresh); // returned after the first trim: survives the second
    let r = catch_unwind(AssertUnwindSafe(|| pool.trim()));
    assert_eq!(panic_text(&*r.unwrap_err()), "drop 3");
    let s = pool.stats();
    assert_eq!((s.burst, s.dropped), (1, 5), "{s:?}");
    // Left: the fresh object (in the store) and the slot's aged one, which the panicking
    // trim did not reach (the store is trimmed first); the store's lock is free.
    assert_eq!(pool.stats().idle, 2);
    assert_consistent(&pool, &census, 0);
    let (a, b) = (pool.take(), pool.take());
    let mut ids = [a.id, b.id];
    ids.sort_unstable();
    assert_eq!(ids, [0, 6]);
    pool.put(a);
    pool.put(b);
    pool.trim();
    pool.trim();
    assert_eq!(census.live(), 0);
    assert_consistent(&pool, &census, 0);
}
