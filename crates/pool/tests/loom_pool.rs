//! Loom models of the pool's slot protocol on two simulated CPUs (run with
//! `RUSTFLAGS="--cfg loom"`). Threads choose their CPU with `gosync_pool::loom_set_cpu`.
#![cfg(loom)]

use gosync_core::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use gosync_core::sync::{thread, Arc, UnsafeCell};
use gosync_pool::{loom_set_cpu, Pool};

/// Counts objects alive.
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

/// A pooled object with a loom-tracked scratch cell: if the pool handed the same object
/// to two threads at once (or without a happens-before edge from its previous user),
/// their writes to `scratch` race and loom reports it.
struct Obj {
    id: usize,
    scratch: UnsafeCell<usize>,
    census: Arc<Census>,
}

impl Obj {
    fn new(census: &Arc<Census>) -> Obj {
        Obj {
            id: census.made.fetch_add(1, SeqCst),
            scratch: UnsafeCell::new(0),
            census: Arc::clone(census),
        }
    }

    /// Uses the object as its exclusive owner.
    fn touch(&mut self) {
        // SAFETY: `&mut self`; loom checks that no other thread touches the same cell.
        self.scratch.with_mut(|p| unsafe { *p += 1 });
    }
}

impl Drop for Obj {
    fn drop(&mut self) {
        self.census.dropped.fetch_add(1, SeqCst);
    }
}

type ObjPool = Pool<Obj>;

/// A pool of `capacity` slots per CPU and no burst store: the slot protocol alone.
fn pool(census: &Arc<Census>, capacity: usize) -> Arc<ObjPool> {
    pool_with_burst(census, capacity, 0)
}

fn pool_with_burst(census: &Arc<Census>, capacity: usize, burst: usize) -> Arc<ObjPool> {
    let c = Arc::clone(census);
    Arc::new(
        Pool::builder(move || Obj::new(&c))
            .per_cpu_capacity(capacity)
            .burst_capacity(burst)
            .build(),
    )
}

/// Every object is idle in the pool or dropped: none lost, none counted twice.
fn check_quiescent(pool: &ObjPool, census: &Census) {
    let s = pool.stats();
    assert_eq!(census.live(), s.idle, "{s:?}");
    assert!(s.idle <= s.capacity * s.shards + s.burst, "{s:?}");
}

/// CPU 0 has one idle object; a thread on CPU 1 steals while the owner on CPU 0 takes
/// from its own shard. They never get the same object (distinct ids while both held,
/// race-free use), one of them constructs, and both returns land.
#[test]
fn loom_pool_get_put_steal() {
    loom::model(|| {
        let census = Arc::new(Census::default());
        let pool = pool(&census, 1);
        pool.put(Obj::new(&census));
        let thief = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                loom_set_cpu(1);
                let mut o = pool.take();
                o.touch();
                o
            })
        };
        let mut mine = pool.get();
        mine.touch();
        let mut theirs = thief.join().unwrap();
        assert_ne!(mine.id, theirs.id, "one object handed out twice");
        theirs.touch();
        pool.put(theirs);
        drop(mine);
        assert_eq!(pool.stats().created, 1);
        check_quiescent(&pool, &census);
    });
}

/// Two threads on two CPUs return objects while taking: the per-CPU capacity (1) bounds
/// what stays idle, extra objects are dropped exactly once, and an object put by one
/// thread and taken by the other is handed over race-free.
#[test]
fn loom_pool_put_take_two_cpus() {
    loom::model(|| {
        let census = Arc::new(Census::default());
        let pool = pool(&census, 1);
        let other = {
            let (pool, census) = (Arc::clone(&pool), Arc::clone(&census));
            thread::spawn(move || {
                loom_set_cpu(1);
                let mut o = Obj::new(&census);
                o.touch();
                pool.put(o);
                let mut o = pool.take();
                o.touch();
                pool.put(o);
            })
        };
        let mut o = pool.take();
        o.touch();
        pool.put(o);
        other.join().unwrap();
        check_quiescent(&pool, &census);
    });
}

/// A guard taken on CPU 0 migrates (its thread moves to CPU 1) and is dropped there: the
/// object goes back to CPU 0's shard, racing with a put from another thread on CPU 0.
#[test]
fn loom_pool_guard_migrates() {
    loom::model(|| {
        let census = Arc::new(Census::default());
        let pool = pool(&census, 1);
        let mover = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                let mut g = pool.get();
                g.touch();
                loom_set_cpu(1);
                drop(g);
            })
        };
        pool.put(Obj::new(&census));
        mover.join().unwrap();
        check_quiescent(&pool, &census);
        assert!(pool.stats().idle >= 1);
    });
}

/// Two trims race with a take and a put: nothing is lost or dropped twice, and an object
/// idle through both trims (put before they started) is gone unless it was taken.
#[test]
fn loom_pool_trim_races_get_put() {
    loom::model(|| {
        let census = Arc::new(Census::default());
        let pool = pool(&census, 1);
        pool.put(Obj::new(&census));
        let trimmer = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                pool.trim();
                pool.trim();
            })
        };
        let mut o = pool.take();
        o.touch();
        pool.put(o);
        trimmer.join().unwrap();
        check_quiescent(&pool, &census);
        let s = pool.stats();
        assert_eq!(s.created + 1, s.idle + s.dropped, "{s:?}");
        assert_eq!(s.trims, 2);
    });
}

/// Three threads: the owner of CPU 0 and a thief on CPU 1 each take and return an object
/// while a third thread trims. No object is handed out twice (the scratch cells stay
/// race-free), and every object ends idle or dropped exactly once.
#[test]
fn loom_pool_steal_and_trim_three_threads() {
    loom::model(|| {
        let census = Arc::new(Census::default());
        let pool = pool(&census, 2);
        pool.put(Obj::new(&census));
        pool.put(Obj::new(&census));
        let thief = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                loom_set_cpu(1);
                let mut g = pool.get();
                g.touch();
            })
        };
        let trimmer = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || pool.trim())
        };
        let mut g = pool.get();
        g.touch();
        drop(g);
        thief.join().unwrap();
        trimmer.join().unwrap();
        check_quiescent(&pool, &census);
        let s = pool.stats();
        assert_eq!(s.created + 2, s.idle + s.dropped, "{s:?}");
    });
}

/// A guard uses its object in place and gives it back while a thread on the other CPU
/// steals: the thief sees the object only after the guard's last use (the release
/// store pairs with the thief's claim), or builds its own while the slot is busy.
#[test]
fn loom_pool_guard_release_then_steal() {
    loom::model(|| {
        let census = Arc::new(Census::default());
        let pool = pool(&census, 1);
        pool.put(Obj::new(&census));
        let user = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                let mut g = pool.get();
                g.touch();
            })
        };
        loom_set_cpu(1);
        let mut o = pool.take();
        o.touch();
        pool.put(o);
        user.join().unwrap();
        check_quiescent(&pool, &census);
    });
}

/// Two trims overlap, and one thread returns an object right after its own trim: the
/// object has been idle through at most one trim (the other thread's), so neither may
/// drop it, even when the other trim read the older generation and scans after the put
/// (the put's stamp is then newer than that trim's generation).
///
/// Caveat: this model does not catch the bug it was written for. With the newer-stamp
/// rule removed from `slot::expired` it still passes, with the default preemption bound
/// and without one (checked with loom 0.7), so loom never schedules main's trim between
/// its generation bump and its scan while the other thread trims and returns. Why is not
/// understood yet (a gap in this model or in loom's exploration). The slot unit test
/// `expiry_follows_the_victim_rule_and_ignores_newer_stamps` pins the rule down
/// deterministically; this model still checks the other overlaps.
#[test]
fn loom_pool_overlapping_trims_keep_fresh_objects() {
    loom::model(|| {
        let census = Arc::new(Census::default());
        let pool = pool(&census, 1);
        let returner = {
            let (pool, census) = (Arc::clone(&pool), Arc::clone(&census));
            thread::spawn(move || {
                pool.trim();
                pool.put(Obj::new(&census));
            })
        };
        pool.trim();
        returner.join().unwrap();
        let s = pool.stats();
        assert_eq!((s.idle, s.dropped, s.trims), (1, 0, 2), "{s:?}");
        check_quiescent(&pool, &census);
    });
}

/// The burst store: a thread on CPU 0 returns two objects to its one slot (the second
/// goes to the store), while a thread on CPU 1 takes (from CPU 0's slot, the store, or
/// the constructor) and returns, and the main thread trims. No object is lost, handed
/// to two threads, or dropped twice, and the store's bound holds.
#[test]
fn loom_pool_burst_store_put_take_trim() {
    loom::model(|| {
        let census = Arc::new(Census::default());
        let pool = pool_with_burst(&census, 1, 1);
        let putter = {
            let (pool, census) = (Arc::clone(&pool), Arc::clone(&census));
            thread::spawn(move || {
                for _ in 0..2 {
                    let mut o = Obj::new(&census);
                    o.touch();
                    pool.put(o);
                }
            })
        };
        let taker = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                loom_set_cpu(1);
                let mut o = pool.take();
                o.touch();
                pool.put(o);
            })
        };
        pool.trim();
        putter.join().unwrap();
        taker.join().unwrap();
        check_quiescent(&pool, &census);
        let s = pool.stats();
        assert!(s.burst <= s.shards, "{s:?}");
    });
}

/// The lease of `take` + `put` (the slot stays busy for the taker's `put`, which fills
/// it with one store) races another thread's `take` and a `trim` on the same CPU: the
/// leased slot is never handed to the other thread, the object filled back is visible
/// to whoever takes it next (race-free use), and nothing is lost or dropped twice.
#[test]
fn loom_pool_lease_races_take_and_trim() {
    loom::model(|| {
        let census = Arc::new(Census::default());
        let pool = pool(&census, 2);
        pool.put(Obj::new(&census));
        pool.put(Obj::new(&census));
        let other = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                let mut o = pool.take();
                o.touch();
                pool.trim();
                pool.put(o);
            })
        };
        let mut o = pool.take(); // leases its slot
        o.touch();
        pool.put(o); // back through the lease
        let mut again = pool.take();
        again.touch();
        other.join().unwrap();
        pool.put(again);
        check_quiescent(&pool, &census);
        assert_eq!(pool.stats().created, 0, "both objects stayed in the pool");
    });
}
