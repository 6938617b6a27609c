//! `Pool`: a typed, bounded, per-CPU object pool with Go's `sync.Pool` design.

use std::fmt;
use std::mem;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gosync_core::clock::Clock;
use gosync_core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use gosync_core::sync::Mutex;

use crate::cpu;
use crate::lease::{self, Lease};
use crate::slot::{self, Slot};
use crate::{Builder, OwnedPoolGuard, PoolGuard};

/// The constructor, type-erased: it runs only when nothing is idle, so its indirect call
/// costs nothing on the paths that reuse an object, and `Pool<T>` can be named as a
/// struct field whatever closure built it.
pub(crate) type New<T> = Box<dyn Fn() -> T + Send + Sync>;

/// The reset hook, type-erased (any `Fn(&mut T)`, capturing or not).
pub(crate) type Reset<T> = Box<dyn Fn(&mut T) + Send + Sync>;

/// A set of reusable objects shared by many threads, like Go's `sync.Pool`.
///
/// [`get`](Pool::get) hands out an idle object, or a new one from the constructor when
/// none is idle, inside a [`PoolGuard`] that gives it back when dropped.
/// [`take`](Pool::take) and [`put`](Pool::put) are the Go-shaped pair for code that
/// manages the object itself.
///
/// # Design
///
/// The pool has one *shard* per possible CPU, each with `capacity` slots (8 by default,
/// see [`Builder::per_cpu_capacity`]), plus one shared *burst store* for idle objects
/// beyond the slots (256 per possible CPU by default, see [`Builder::burst_capacity`]). Slot 0 plays Go's per-P `private` role and the
/// others its `shared` stack: a thread uses its current CPU's shard from slot 0 up,
/// steals from the other shards (from their top, away from their owner) when its own has
/// nothing idle, and only then calls the constructor. Each slot is claimed with one
/// compare-exchange, so a thread that migrated to another CPU between reading its CPU id
/// and touching the slot is merely a contender, never a data race, and no operation ever
/// blocks or spins.
///
/// [`get`](Pool::get) checks the object out *in place*: the slot is marked busy while the
/// [`PoolGuard`] lives and the object never moves, so a `get` + drop pair costs one
/// compare-exchange, one store and one read of the CPU id. A stolen or newly built
/// object is placed in a free slot of the current CPU the same way; if every slot there
/// is busy, the guard holds the object itself and returns it like `put`.
/// [`take`](Pool::take) and [`put`](Pool::put) move the object out and in.
///
/// An object returned to a CPU whose slots are all full or busy goes to the burst store
/// (one mutex, taken only on that path and when nothing is idle in any slot), so a burst
/// of returns (one thread putting back hundreds of objects, as Go's tests do) is kept for
/// reuse, as Go's per-P shared lists keep it, and a guard that holds a slot for a long
/// time does not shrink what the pool can keep.
///
/// The CPU id comes from the thread's rseq area on Linux (one load; `sched_getcpu()` as
/// the fallback); elsewhere each thread gets its own shard index, assigned round-robin.
///
/// # When objects are dropped
///
/// Memory is bounded: each possible CPU has `capacity` slots, holding idle objects or
/// objects checked out in place, and the burst store holds at most `burst` × (possible
/// CPUs) idle objects, so at most (`capacity` + `burst`) × (possible CPUs) idle objects
/// in all. Objects checked out are the caller's. The pool drops an idle or returned
/// object exactly when:
///
/// 1. it is returned by [`put`](Pool::put) (or by a guard that held it outside the
///    slots) to a CPU whose slots are all full or busy while the burst store is full: it
///    is dropped at once, inside that call;
/// 2. the reset hook panics on it (dropped while the panic unwinds out of the return);
/// 3. it is idle and a [`trim`](Pool::trim) finds it has been idle through an earlier
///    trim: Go's *victim* rule. Each trim ages every idle object by one generation and
///    drops those already aged once, so an object returned before two trims (the second
///    starting after the first) is dropped by the second, unless taken again in between;
///    in one thread, `put; trim(); get` reuses the object and `put; trim(); trim(); get`
///    constructs a new one;
/// 4. the pool itself is dropped.
///
/// An automatic policy ([`Builder::auto_trim`]) calls `trim` at most once per interval.
///
/// # Examples
///
/// ```
/// use gosync_pool::Pool;
/// use std::io::Write;
///
/// let pool = Pool::builder(|| Vec::<u8>::with_capacity(4096))
///     .reset(Vec::clear)
///     .build();
/// {
///     let mut buf = pool.get();
///     write!(buf, "hello {}", 42).unwrap();
///     assert_eq!(&buf[..], b"hello 42");
/// } // back in the pool, cleared
/// assert_eq!(pool.stats().idle, 1);
/// assert!(pool.get().is_empty());
/// assert_eq!(pool.stats().created, 1);
/// ```
///
/// A pool in a `static`, built on first use:
///
/// ```
/// use gosync_pool::Pool;
/// use std::sync::LazyLock;
///
/// static BUFS: LazyLock<Pool<Vec<u8>>> = LazyLock::new(|| Pool::new(Vec::new));
///
/// BUFS.get().push(1);
/// ```
pub struct Pool<T> {
    /// `shards * capacity` slots; shard `i` is `slots[i * capacity..][..capacity]`.
    slots: Box<[Slot<T>]>,
    shards: usize,
    capacity: usize,
    /// Idle objects beyond the slots, each with the trim generation it was stored at.
    burst: Mutex<Vec<(T, usize)>>,
    /// `burst.len()`, readable without the lock (for `stats` and the empty check).
    burst_len: AtomicUsize,
    /// The most objects `burst` keeps.
    burst_max: usize,
    new: New<T>,
    reset: Option<Reset<T>>,
    /// The trim generation: idle objects are stamped with it when returned.
    generation: AtomicUsize,
    /// Constructor calls that returned.
    created: AtomicUsize,
    /// Objects the pool dropped (full shard, reset panic, trim).
    dropped: AtomicUsize,
    /// Objects taken from another CPU's shard.
    stolen: AtomicUsize,
    auto_trim: Option<AutoTrim>,
    /// Process-unique: names the pool in a thread's lease (see `lease`).
    id: u64,
}

struct AutoTrim {
    clock: Clock,
    interval: Duration,
    /// When the next automatic trim is due; `try_lock`ed, so only one thread trims.
    next: Mutex<Instant>,
}

/// A snapshot of a pool's counters, from [`Pool::stats`].
///
/// The counters are read one after another with Relaxed loads, so under concurrent use
/// they are not one consistent instant. Quiescent, they are exact.
///
/// # Examples
///
/// ```
/// use gosync_pool::Pool;
///
/// let pool = Pool::new(|| 0u64);
/// let a = pool.get();
/// let b = pool.get();
/// drop(a);
/// let s = pool.stats();
/// assert_eq!((s.created, s.idle, s.dropped, s.live()), (2, 1, 0, 1));
/// drop(b);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Idle objects held by the pool.
    pub idle: usize,
    /// Objects the constructor has built.
    pub created: usize,
    /// Objects the pool has dropped (returned to a full shard, reset hook panicked,
    /// trimmed); not counting those dropped with the pool itself.
    pub dropped: usize,
    /// Trims run so far (by [`Pool::trim`] or the automatic policy).
    pub trims: usize,
    /// Objects a `get`/`take` found idle on another CPU's shard, none being idle on its
    /// own (Go's steal from another P's shared list). Near zero when each thread stays
    /// on its CPU and returns what it takes there.
    pub stolen: usize,
    /// The number of shards (the possible CPUs).
    pub shards: usize,
    /// Slots per shard.
    pub capacity: usize,
    /// Idle objects in the burst store (included in `idle`).
    pub burst: usize,
}

impl PoolStats {
    /// Objects built by this pool that are neither idle in it nor dropped by it:
    /// checked out, or detached with [`PoolGuard::into_inner`] / [`Pool::take`] and not
    /// yet returned. Exact when quiescent and when every object returned came from this
    /// pool (returning foreign objects with [`Pool::put`] makes it lower, even negative).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pool::Pool;
    ///
    /// let pool = Pool::new(String::new);
    /// let s = pool.take();
    /// assert_eq!(pool.stats().live(), 1);
    /// pool.put(s);
    /// assert_eq!(pool.stats().live(), 0);
    /// ```
    #[must_use]
    pub fn live(&self) -> isize {
        (self.created as isize)
            .wrapping_sub(self.dropped as isize)
            .wrapping_sub(self.idle as isize)
    }
}

/// The default number of idle objects a pool keeps per CPU ([`Builder::per_cpu_capacity`]).
pub const DEFAULT_CAPACITY: usize = 8;

/// The default number of idle objects the burst store keeps per possible CPU, beyond the
/// slots ([`Builder::burst_capacity`]).
pub const DEFAULT_BURST: usize = 256;

/// The largest accepted [`Builder::per_cpu_capacity`]. Capacities are meant to be small:
/// a return scans its shard's slots from the first for a free one, and a `get` from the
/// first for an idle one.
pub const MAX_CAPACITY: usize = 1024;

impl<T> Pool<T> {
    /// Creates a pool that builds objects with `new` when it has none idle, holds up to
    /// [`DEFAULT_CAPACITY`] idle objects per CPU, has no reset
    /// hook and no automatic trim. See [`Pool::builder`] for the options.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pool::Pool;
    /// use std::sync::Arc;
    ///
    /// let pool = Arc::new(Pool::new(|| vec![0u8; 1024]));
    /// let p = Arc::clone(&pool);
    /// std::thread::spawn(move || p.get()[0] = 1).join().unwrap();
    /// assert_eq!(pool.stats().created, 1);
    /// ```
    pub fn new<F>(new: F) -> Pool<T>
    where
        F: Fn() -> T + Send + Sync + 'static,
    {
        Builder::new(new).build()
    }

    /// Starts a [`Builder`] for a pool with the constructor `new`.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pool::Pool;
    ///
    /// let pool = Pool::builder(String::new).reset(String::clear).per_cpu_capacity(2).build();
    /// assert_eq!(pool.stats().capacity, 2);
    /// ```
    pub fn builder<F>(new: F) -> Builder<T>
    where
        F: Fn() -> T + Send + Sync + 'static,
    {
        Builder::new(new)
    }

    pub(crate) fn from_builder(
        new: New<T>,
        reset: Option<Reset<T>>,
        capacity: usize,
        burst: usize,
        auto_trim: Option<(Duration, Clock)>,
    ) -> Pool<T> {
        let shards = cpu::shards();
        let slots = (0..shards * capacity).map(|_| Slot::new()).collect();
        let auto_trim = auto_trim.map(|(interval, clock)| AutoTrim {
            next: Mutex::new(clock.now().checked_add(interval).unwrap_or_else(far_future)),
            clock,
            interval,
        });
        Pool {
            slots,
            shards,
            capacity,
            burst: Mutex::new(Vec::new()),
            burst_len: AtomicUsize::new(0),
            burst_max: burst.saturating_mul(shards),
            new,
            reset,
            generation: AtomicUsize::new(0),
            created: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            stolen: AtomicUsize::new(0),
            auto_trim,
            id: lease::new_pool_id(),
        }
    }

    /// Returns an idle object, or a new one from the constructor, in a guard that gives
    /// it back to the pool when dropped (on any thread).
    ///
    /// # Panics
    ///
    /// If the constructor panics; the pool is unaffected. With
    /// [`auto_trim`](Builder::auto_trim), also if an object this call trims panics when
    /// dropped (before it takes or builds anything; see [`trim`](Pool::trim)).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pool::Pool;
    ///
    /// let pool = Pool::new(|| 7);
    /// let mut n = pool.get();
    /// *n += 1;
    /// drop(n);
    /// assert_eq!(*pool.get(), 8); // the same object, no reset hook
    /// ```
    #[inline]
    pub fn get(&self) -> PoolGuard<'_, T> {
        if self.auto_trim.is_some() {
            self.tick();
        }
        let shard = self.current_shard();
        for slot in self.shard(shard) {
            if slot.try_claim() {
                return PoolGuard::in_slot(self, slot);
            }
        }
        self.get_slow(shard)
    }

    /// Nothing idle on this CPU: steal or construct, and keep the object in a free slot
    /// of this CPU if there is one (checked out in place), else hold it in the guard.
    #[cold]
    #[inline(never)]
    fn get_slow(&self, shard: usize) -> PoolGuard<'_, T> {
        let mut value = self.take_slow(shard);
        for slot in self.shard(shard) {
            match slot.try_claim_empty(value) {
                Ok(()) => return PoolGuard::in_slot(self, slot),
                Err(back) => value = back,
            }
        }
        PoolGuard::owned(self, value, shard)
    }

    /// [`get`](Pool::get) for a pool in an [`Arc`]: the guard holds a clone of the `Arc`
    /// instead of a borrow, so it can move into another thread or a task.
    ///
    /// # Panics
    ///
    /// As [`get`](Pool::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pool::Pool;
    /// use std::sync::Arc;
    ///
    /// let pool = Arc::new(Pool::new(String::new));
    /// let mut s = pool.get_owned();
    /// std::thread::spawn(move || s.push_str("moved")).join().unwrap();
    /// assert_eq!(*pool.get(), "moved"); // given back when the thread dropped it
    /// ```
    #[inline]
    pub fn get_owned(self: &Arc<Self>) -> OwnedPoolGuard<T> {
        OwnedPoolGuard::from_guard(self, self.get())
    }

    /// Returns an idle object, or a new one from the constructor, for the caller to keep:
    /// Go's `Get`. Give it back with [`put`](Pool::put), or just drop it.
    ///
    /// The slot the object came from stays reserved for this thread's next `put` (a
    /// per-thread lease), so a `take` + `put` pair on one thread costs one
    /// compare-exchange, as a guard does. A thread that calls `take` again before giving
    /// the object back frees that slot and stops reserving on this pool until it puts an
    /// object back; a thread that exits (or never uses the pool again) between `take` and
    /// `put` leaves that one slot reserved, and empty, until the pool is dropped.
    ///
    /// # Panics
    ///
    /// As [`get`](Pool::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pool::Pool;
    ///
    /// let pool = Pool::new(String::new);
    /// let mut s = pool.take();
    /// s.push_str("kept");
    /// pool.put(s);
    /// assert_eq!(pool.take(), "kept");
    /// ```
    #[inline]
    #[must_use = "a taken object that is not used should be left in the pool"]
    pub fn take(&self) -> T {
        if self.auto_trim.is_some() {
            self.tick();
        }
        let held = lease::held();
        if held.pool == 0 && !lease::declined(self.id) {
            // Lease the slot the object comes from (see `lease`).
            let shard = self.current_shard();
            let first = shard * self.capacity;
            for (i, slot) in self.shard(shard).iter().enumerate() {
                if let Some(v) = slot.try_take_keep() {
                    lease::hold(Lease {
                        pool: self.id,
                        slot: first + i,
                    });
                    return v;
                }
            }
            return self.take_slow(shard);
        }
        self.take_unleased(held)
    }

    /// `take` when the thread may not lease: it holds a lease (on another pool, or an
    /// unresolved one on this pool) or declined leasing here.
    #[inline(never)]
    fn take_unleased(&self, held: Lease) -> T {
        if held.pool == self.id {
            // The last object this thread took is not back yet, so it may never come
            // back through this thread: free its slot and stop leasing here until this
            // thread puts an object back (lease invariant 3).
            lease::release();
            lease::decline(self.id, true);
            // SAFETY: the lease is this thread's claim on that slot of this pool, and its
            // object was moved out by the `take` that leased it.
            unsafe { self.slots[held.slot].release_empty() };
        }
        self.take_at(self.current_shard())
    }

    /// Gives an object to the pool: Go's `Put`. Runs the reset hook, then keeps the
    /// object in the current CPU's shard, or in the burst store if that shard is full, or
    /// drops it if both are full. The object need not have come from this pool.
    ///
    /// # Panics
    ///
    /// If the reset hook panics (the object is dropped), if dropping the object (shard and
    /// burst store full) panics, or, with [`auto_trim`](Builder::auto_trim), if an object the
    /// automatic trim drops after that panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pool::Pool;
    ///
    /// let pool = Pool::builder(|| 0).per_cpu_capacity(1).burst_capacity(0).build();
    /// for i in 0..100 {
    ///     pool.put(i);
    /// }
    /// let s = pool.stats();
    /// assert!(s.idle <= s.shards); // one per CPU at most: the others were dropped
    /// assert_eq!(s.idle + s.dropped, 100);
    ///
    /// // By default a burst of returns is kept (here 100 of 100):
    /// let pool = Pool::new(|| 0);
    /// for i in 0..100 {
    ///     pool.put(i);
    /// }
    /// assert_eq!(pool.stats().idle, 100);
    /// ```
    #[inline]
    pub fn put(&self, value: T) {
        let held = lease::held();
        if held.pool == self.id {
            // Out of the record before the reset hook runs (lease invariant 2).
            lease::release();
            self.put_leased(&self.slots[held.slot], value);
            return;
        }
        self.put_unleased(value);
    }

    /// `put` without a lease on this pool.
    #[inline(never)]
    fn put_unleased(&self, value: T) {
        // This thread gives objects back: it may lease again (lease invariant 3).
        lease::decline(self.id, false);
        self.put_at(self.current_shard(), value);
    }

    /// `put` into the slot this thread leased: the object moves in first (word by word,
    /// straight from the caller's copy), is reset in place, and the slot becomes FULL
    /// with one store, as a guard's return.
    #[inline]
    fn put_leased(&self, slot: &Slot<T>, value: T) {
        // SAFETY: the leased slot is this thread's claim (BUSY since its `take`) and
        // empty; the lease was taken out of the record by the caller.
        unsafe { slot.fill_claimed(value) };
        // The claim is still ours and the slot now holds the object: a guard's return
        // (reset in place, FULL; on a reset panic the object is moved out, counted
        // dropped and the slot freed).
        self.release_slot(slot);
    }

    /// Ages the idle objects by one generation and drops those already aged by an
    /// earlier trim (Go's victim rule, run at each garbage collection in Go). Calling it
    /// twice with no traffic in between drops every idle object.
    ///
    /// Concurrent `get`s and returns go on undisturbed: a slot in use is skipped, and an
    /// object being returned during the trim counts as returned after it. Trims may
    /// overlap (say the automatic one and yours): an object returned after the later
    /// one started is dropped by neither.
    ///
    /// # Panics
    ///
    /// If dropping an object panics; the objects not yet visited stay idle, and the
    /// pool stays consistent.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pool::Pool;
    ///
    /// let pool = Pool::new(|| [0u8; 64]);
    /// drop(pool.get());
    /// pool.trim();
    /// assert_eq!(pool.stats().idle, 1); // survived one trim: now a victim
    /// pool.trim();
    /// assert_eq!(pool.stats().idle, 0); // dropped by the second
    /// ```
    pub fn trim(&self) {
        // Relaxed: the stamp is advisory. The slot's own Acquire/Release states carry the
        // object; coherence alone orders a `put` that happens before this trim before
        // this increment, which is all the victim rule promises.
        let current = self.generation.fetch_add(1, Relaxed).wrapping_add(1);
        self.trim_burst(current);
        for slot in self.slots.iter() {
            if let Some(v) = slot.try_take_expired(current) {
                self.dropped.fetch_add(1, Relaxed);
                drop(v);
            }
        }
    }

    /// The victim rule on the burst store. The expired objects are moved out under the
    /// lock and dropped after it, so a panicking `Drop` leaves the store consistent (the
    /// rest of the expired ones are then dropped while the panic unwinds).
    fn trim_burst(&self, current: usize) {
        if self.burst_len.load(Relaxed) == 0 {
            return;
        }
        let expired: Vec<(T, usize)> = {
            let mut burst = self.burst.lock();
            let mut kept = Vec::with_capacity(burst.len());
            let mut expired = Vec::new();
            for (v, generation) in burst.drain(..) {
                if slot::generation_expired(generation, current) {
                    expired.push((v, generation));
                } else {
                    kept.push((v, generation));
                }
            }
            // Rebuilt at its new size: a past burst's allocation is given back.
            *burst = kept;
            self.burst_len.store(burst.len(), Relaxed);
            expired
        };
        self.dropped.fetch_add(expired.len(), Relaxed);
        drop(expired);
    }

    /// The pool's counters. Never blocks; see [`PoolStats`].
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pool::Pool;
    ///
    /// let pool = Pool::new(|| ());
    /// drop(pool.get());
    /// assert_eq!(pool.stats().idle, 1);
    /// ```
    #[must_use]
    pub fn stats(&self) -> PoolStats {
        let burst = self.burst_len.load(Relaxed);
        PoolStats {
            idle: self.slots.iter().filter(|s| s.is_full()).count() + burst,
            created: self.created.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            trims: self.generation.load(Relaxed),
            stolen: self.stolen.load(Relaxed),
            shards: self.shards,
            capacity: self.capacity,
            burst,
        }
    }

    /// The shard of the CPU the thread runs on now (a hint: it may migrate at once).
    #[inline]
    fn current_shard(&self) -> usize {
        let cpu = cpu::current();
        if cpu < self.shards {
            cpu
        } else {
            cpu % self.shards
        }
    }

    #[inline]
    fn shard(&self, shard: usize) -> &[Slot<T>] {
        &self.slots[shard * self.capacity..][..self.capacity]
    }

    /// Takes an object from `shard`, else steals, else constructs.
    #[inline]
    fn take_at(&self, shard: usize) -> T {
        for slot in self.shard(shard) {
            if let Some(v) = slot.try_take() {
                return v;
            }
        }
        self.take_slow(shard)
    }

    #[cold]
    #[inline(never)]
    fn take_slow(&self, shard: usize) -> T {
        if let Some(v) = self.steal(shard) {
            return v;
        }
        if let Some(v) = self.take_burst() {
            return v;
        }
        self.construct()
    }

    /// The most recently stored object of the burst store (the warmest in cache).
    fn take_burst(&self) -> Option<T> {
        if self.burst_len.load(Relaxed) == 0 {
            return None;
        }
        let mut burst = self.burst.lock();
        let (v, _) = burst.pop()?;
        self.burst_len.store(burst.len(), Relaxed);
        Some(v)
    }

    /// Takes an idle object from another CPU's shard, from the top (away from its owner).
    fn steal(&self, shard: usize) -> Option<T> {
        for i in 1..self.shards {
            let victim = (shard + i) % self.shards;
            for slot in self.shard(victim).iter().rev() {
                if let Some(v) = slot.try_take() {
                    self.stolen.fetch_add(1, Relaxed);
                    return Some(v);
                }
            }
        }
        None
    }

    fn construct(&self) -> T {
        self.maybe_auto_trim();
        let v = (self.new)();
        self.created.fetch_add(1, Relaxed);
        v
    }

    /// Gives back an object a guard (or a leased `put`) holds in place in `slot`: reset,
    /// then FULL.
    #[inline]
    pub(crate) fn release_slot(&self, slot: &Slot<T>) {
        if let Some(reset) = &self.reset {
            /// If the hook unwinds: count the object dropped, move it out and free the
            /// slot; the object is dropped here, during the unwinding.
            struct FreeOnUnwind<'a, T> {
                dropped: &'a AtomicUsize,
                slot: &'a Slot<T>,
            }
            impl<T> Drop for FreeOnUnwind<'_, T> {
                fn drop(&mut self) {
                    self.dropped.fetch_add(1, Relaxed);
                    // SAFETY: runs only while `release_slot` holds the claim (it is
                    // forgotten on success), so the slot is ours and initialized.
                    drop(unsafe { self.slot.release_take() });
                }
            }
            let guard = FreeOnUnwind {
                dropped: &self.dropped,
                slot,
            };
            // SAFETY: the caller (the guard) holds the claim on `slot`, which holds an
            // initialized object: nobody else can reach it.
            reset(unsafe { &mut *slot.value_ptr() });
            mem::forget(guard);
        }
        // Relaxed: see `trim`.
        let generation = self.generation.load(Relaxed);
        // SAFETY: the caller holds the claim on `slot` and the object is initialized.
        unsafe { slot.release_full(generation) };
    }

    /// `put_at` for a guard that held its object outside the slots (every slot was busy
    /// when it was built): out of line, so the guard's drop stays small enough to inline
    /// (`put_at` moves the object in word by word).
    #[cold]
    #[inline(never)]
    pub(crate) fn put_back_owned(&self, shard: usize, value: T) {
        self.put_at(shard, value);
    }

    /// Resets `value` and keeps it in `shard`, or drops it if the shard is full.
    #[inline]
    pub(crate) fn put_at(&self, shard: usize, mut value: T) {
        if let Some(reset) = &self.reset {
            self.run_reset(reset, &mut value);
        }
        // Relaxed: see `trim`.
        let generation = self.generation.load(Relaxed);
        for slot in self.shard(shard) {
            match slot.try_put(value, generation) {
                Ok(()) => return,
                Err(back) => value = back,
            }
        }
        self.put_full(value);
    }

    fn run_reset(&self, reset: &Reset<T>, value: &mut T) {
        /// Counts the object as dropped if the hook unwinds (the caller's unwinding then
        /// drops it).
        struct CountOnUnwind<'a>(&'a AtomicUsize);
        impl Drop for CountOnUnwind<'_> {
            fn drop(&mut self) {
                self.0.fetch_add(1, Relaxed);
            }
        }
        let guard = CountOnUnwind(&self.dropped);
        reset(value);
        mem::forget(guard);
    }

    /// The CPU's slots are all full or busy: keep `value` in the burst store, or drop it
    /// if that is full too.
    #[cold]
    #[inline(never)]
    fn put_full(&self, value: T) {
        let value = {
            let mut burst = self.burst.lock();
            if burst.len() < self.burst_max {
                // Relaxed: see `trim`.
                let generation = self.generation.load(Relaxed);
                burst.push((value, generation));
                self.burst_len.store(burst.len(), Relaxed);
                None
            } else {
                Some(value)
            }
        };
        if let Some(value) = value {
            // Dropped after the lock is released: its `Drop` is user code.
            self.dropped.fetch_add(1, Relaxed);
            drop(value);
        }
        self.maybe_auto_trim();
    }

    /// The automatic policy's cheap trigger: every 256th `get`/`take` of each thread
    /// checks the clock.
    #[inline]
    fn tick(&self) {
        thread_local! {
            static TICKS: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
        }
        let due = TICKS
            .try_with(|t| {
                let n = t.get().wrapping_add(1);
                t.set(n);
                n == 0
            })
            .unwrap_or(false);
        if due {
            self.maybe_auto_trim();
        }
    }

    #[cold]
    fn maybe_auto_trim(&self) {
        let Some(auto) = &self.auto_trim else { return };
        // Another thread checking or trimming right now: nothing to do.
        let Some(mut next) = auto.next.try_lock() else {
            return;
        };
        let now = auto.clock.now();
        if now < *next {
            return;
        }
        *next = now.checked_add(auto.interval).unwrap_or_else(far_future);
        drop(next);
        self.trim();
    }
}

/// An instant no deadline reaches, for an interval too large to add.
fn far_future() -> Instant {
    let now = Instant::now();
    [u64::MAX, 1 << 62, 1 << 40, 1 << 32]
        .into_iter()
        .find_map(|s| now.checked_add(Duration::from_secs(s)))
        .unwrap_or(now)
}

impl<T> Drop for Pool<T> {
    fn drop(&mut self) {
        // A lease of this thread on this pool dies with it (other threads' leases on it
        // are never used again: ids are not reused). The slots drop their objects.
        if lease::held().pool == self.id {
            lease::release();
        }
    }
}

impl<T> fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("shards", &self.shards)
            .field("capacity", &self.capacity)
            .field("idle", &self.slots.iter().filter(|s| s.is_full()).count())
            .field("burst", &self.burst_len.load(Relaxed))
            .field("created", &self.created.load(Relaxed))
            .field("dropped", &self.dropped.load(Relaxed))
            .field("stolen", &self.stolen.load(Relaxed))
            .field("generation", &self.generation.load(Relaxed))
            .field("reset", &self.reset.is_some())
            .field("auto_trim", &self.auto_trim.as_ref().map(|a| a.interval))
            .finish_non_exhaustive()
    }
}
