//! Panics in user code (keys' `Hash`/`Eq`/`Clone`/`Drop`, retry closures) leave the
//! limiters consistent and usable: see "Panic safety" in the crate docs.
#![cfg(not(loom))]

use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use gosync_ratelimit::{Backoff, ExponentialLimiter, FailureMapBounds, RateLimiter};

const MS: Duration = Duration::from_millis(1);

/// Which operation of which key panics next (once), on this thread.
#[derive(Clone, Copy, PartialEq)]
enum Armed {
    Nothing,
    Hash(u32),
    Eq(u32),
    Clone(u32),
    Drop(u32),
}

thread_local! {
    static ARMED: Cell<Armed> = const { Cell::new(Armed::Nothing) };
}

fn arm(a: Armed) {
    ARMED.with(|c| c.set(a));
}

/// Panics (and disarms) if `a` is armed.
fn trip(a: Armed) {
    if ARMED.with(|c| c.get()) == a {
        arm(Armed::Nothing);
        panic!("user code panicked");
    }
}

/// A key whose trait implementations panic when armed.
struct Key(u32);

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        trip(Armed::Hash(self.0));
        self.0.hash(h);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        trip(Armed::Eq(self.0));
        self.0 == other.0
    }
}

impl Eq for Key {}

impl Clone for Key {
    fn clone(&self) -> Key {
        trip(Armed::Clone(self.0));
        Key(self.0)
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        trip(Armed::Drop(self.0));
    }
}

fn panics<R>(f: impl FnOnce() -> R) -> bool {
    catch_unwind(AssertUnwindSafe(f)).is_err()
}

fn limiter(bounds: FailureMapBounds) -> ExponentialLimiter<Key> {
    ExponentialLimiter::with_bounds(MS, Duration::from_secs(1), bounds)
}

#[test]
fn a_panicking_key_hash_changes_nothing() {
    let l = limiter(FailureMapBounds::new());
    l.when(&Key(1));
    arm(Armed::Hash(1));
    assert!(panics(|| l.when(&Key(1))));
    assert_eq!(l.num_requeues(&Key(1)), 1);
    assert_eq!(l.when(&Key(1)), 2 * MS);
}

#[test]
fn a_panicking_key_eq_changes_nothing() {
    let l = limiter(FailureMapBounds::new());
    l.when(&Key(1));
    // The stored key is compared with the probe under the shard lock.
    arm(Armed::Eq(1));
    assert!(panics(|| l.when(&Key(1))));
    assert_eq!(l.num_requeues(&Key(1)), 1, "the failure was not recorded");
    arm(Armed::Eq(1));
    assert!(panics(|| l.forget(&Key(1))));
    assert_eq!(l.num_requeues(&Key(1)), 1, "the key was not forgotten");
    // The shard lock was released: the same thread can use the same shard again.
    assert_eq!(l.when(&Key(1)), 2 * MS);
    l.forget(&Key(1));
    assert_eq!(l.num_requeues(&Key(1)), 0);
}

#[test]
fn a_panicking_key_clone_records_nothing() {
    let l = limiter(FailureMapBounds::new());
    // A new key is cloned into the map under the shard lock.
    arm(Armed::Clone(1));
    assert!(panics(|| l.when(&Key(1))));
    assert_eq!(l.num_requeues(&Key(1)), 0);
    assert_eq!(l.when(&Key(1)), MS);
    assert_eq!(l.num_requeues(&Key(1)), 1);
}

#[test]
fn a_panicking_hash_of_a_stored_key_while_the_map_grows_keeps_the_stored_keys() {
    let l = limiter(FailureMapBounds::new());
    for k in 0..8 {
        l.when(&Key(k));
    }
    // Stored keys are rehashed when their shard's table grows; make key 0's rehash
    // panic on the first growth of its shard, whichever new key triggers it.
    arm(Armed::Hash(0));
    let mut k = 8;
    while ARMED.with(|c| c.get()) != Armed::Nothing {
        let _ = panics(|| l.when(&Key(k)));
        k += 1;
    }
    // The table kept every key it held (hashbrown frees the new table and keeps the
    // old one when a hash panics while growing).
    for k in 0..8 {
        assert_eq!(l.num_requeues(&Key(k)), 1, "key {k}");
    }
    assert_eq!(l.when(&Key(0)), 2 * MS);
}

#[test]
fn a_panicking_drop_of_an_evicted_key_leaves_it_evicted() {
    let l = limiter(FailureMapBounds::new().capacity(1));
    l.when(&Key(1));
    // Recording key 2 evicts key 1 (one key at most); its drop panics under the lock,
    // after the table has let go of it. Key 2 is not recorded.
    arm(Armed::Drop(1));
    assert!(panics(|| l.when(&Key(2))));
    assert_eq!(l.num_requeues(&Key(1)), 0);
    assert_eq!(l.num_requeues(&Key(2)), 0);
    assert_eq!(l.when(&Key(2)), MS);
    assert_eq!(l.num_requeues(&Key(2)), 1);
}

#[test]
fn a_panicking_drop_of_a_forgotten_key_leaves_it_forgotten() {
    let l = limiter(FailureMapBounds::new());
    l.when(&Key(1));
    let probe = Key(1);
    arm(Armed::Drop(1));
    assert!(panics(|| l.forget(&probe)));
    assert_eq!(l.num_requeues(&Key(1)), 0);
    assert_eq!(l.when(&Key(1)), MS);
}

#[test]
fn a_panicking_retry_closure_leaves_the_backoff_as_it_was() {
    let mut backoff = Backoff::builder()
        .initial(Duration::ZERO)
        .max_steps(5)
        .build()
        .unwrap();
    let mut attempts = 0;
    assert!(panics(|| {
        let _ = backoff.retry(|| -> Result<(), ()> {
            attempts += 1;
            if attempts == 3 {
                panic!("user code panicked");
            }
            Err(())
        });
    }));
    // Two failed attempts handed out two delays; the backoff goes on from there.
    assert_eq!(backoff.steps(), 2);
    assert_eq!(backoff.retry(|| Err::<(), _>(())), Err(()));
    assert_eq!(backoff.steps(), 5);
}
