//! client-go `delaying_queue_test.go` scenarios on a fake clock, plus kubernetes#126027.
#![cfg(not(loom))]

use std::time::Duration;

use gosync_core::FakeClock;
use gosync_workqueue::{Queue, TryGetError};

/// A real-time hang guard (Miri runs ~1000x slower).
const HANG: Duration = Duration::from_secs(if cfg!(miri) { 600 } else { 20 });

fn queue() -> (FakeClock, Queue<&'static str>) {
    let fake = FakeClock::new();
    let q = Queue::builder().clock(fake.clock()).build();
    (fake, q)
}

/// Waits until the delay loop sleeps on the fake clock, then advances it.
fn step(fake: &FakeClock, d: Duration) {
    assert!(fake.block_until_waiters(1, HANG), "delay loop never slept");
    fake.advance(d);
}

/// Waits until the delay loop has moved items so that `n` are ready (it fires
/// asynchronously after an `advance`: client-go's tests poll with `waitForAdded`).
fn wait_for_len(q: &Queue<&'static str>, n: usize) {
    let hang = std::time::Instant::now() + HANG;
    while q.len() != n {
        assert!(
            std::time::Instant::now() < hang,
            "len stayed {} != {n}",
            q.len()
        );
        std::thread::yield_now();
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn simple_queue() {
    let (fake, q) = queue();
    q.add_after("foo", ms(50));
    assert_eq!(q.len(), 0);
    assert_eq!(q.waiting_len(), 1);
    step(&fake, ms(60));
    let item = q.get().unwrap();
    assert_eq!(*item, "foo");
    drop(item);
    assert_eq!(q.waiting_len(), 0);
    assert_eq!(q.len(), 0);
    q.shut_down();
}

#[test]
fn deduping() {
    let (fake, q) = queue();
    q.add_after("foo", ms(50));
    q.add_after("foo", ms(70)); // later: the earlier time is kept
    assert_eq!(q.waiting_len(), 1);
    step(&fake, ms(60));
    assert_eq!(*q.get().unwrap(), "foo");
    assert_eq!(q.waiting_len(), 0, "the 70 ms entry was merged");
    fake.advance(ms(20));
    assert_eq!(q.len(), 0, "nothing fires at 70 ms");

    q.add_after("foo", ms(70));
    q.add_after("foo", ms(50)); // earlier: it replaces the later time
    assert_eq!(q.waiting_len(), 1);
    // The loop may still be registered for 70 ms when `step` sees it: then the 60 ms
    // advance does not wake it, but its wake-up for the 50 ms entry is already owed.
    step(&fake, ms(60));
    wait_for_len(&q, 1);
    assert_eq!(*q.get().unwrap(), "foo");
    assert_eq!(q.waiting_len(), 0);
    fake.advance(ms(20));
    assert_eq!(q.len(), 0);
    q.shut_down();
}

#[test]
fn add_two_fire_early() {
    let (fake, q) = queue();
    q.add_after("foo", Duration::from_secs(1));
    q.add_after("bar", ms(50));
    assert_eq!(q.waiting_len(), 2);
    step(&fake, ms(60));
    assert_eq!(*q.get().unwrap(), "bar");
    q.add_after("foo", ms(10)); // earlier than its 1 s: replaces it
    step(&fake, ms(20));
    assert_eq!(*q.get().unwrap(), "foo");
    assert_eq!(q.waiting_len(), 0);
    q.shut_down();
}

#[test]
fn firing_order() {
    // client-go TestCopyShifting: items fire in ready-time order, not insertion order.
    let (fake, q) = queue();
    q.add_after("foo", Duration::from_secs(3));
    q.add_after("bar", Duration::from_secs(1));
    q.add_after("baz", Duration::from_secs(2));
    step(&fake, Duration::from_secs(4));
    assert_eq!(*q.get().unwrap(), "bar");
    assert_eq!(*q.get().unwrap(), "baz");
    assert_eq!(*q.get().unwrap(), "foo");
    q.shut_down();
}

#[test]
fn zero_delay_adds_now() {
    let (_fake, q) = queue();
    q.add_after("now", Duration::ZERO);
    assert_eq!(q.len(), 1);
    q.shut_down();
}

#[test]
fn plain_add_drops_waiting_entry_126027() {
    let (fake, q) = queue();
    q.add_after("x", Duration::from_secs(5 * 3600));
    q.add("x");
    assert_eq!((q.len(), q.waiting_len()), (1, 0));
    q.get().unwrap().done();
    fake.advance(Duration::from_secs(5 * 3600));
    assert_eq!(
        q.try_get().err(),
        Some(TryGetError::Empty),
        "processed once only"
    );

    q.add_after("y", Duration::from_secs(3600));
    q.add_after("y", Duration::ZERO); // the same as add
    assert_eq!((q.len(), q.waiting_len()), (1, 0));
    q.shut_down();
}

#[test]
fn add_after_of_dirty_item_is_a_noop() {
    let (_fake, q) = queue();
    q.add("x");
    q.add_after("x", Duration::from_secs(1));
    assert_eq!((q.len(), q.waiting_len()), (1, 0));
    q.shut_down();
}

#[test]
fn add_after_while_processing_waits() {
    let (fake, q) = queue();
    q.add("x");
    let g = q.get().unwrap();
    q.add_after("x", Duration::from_secs(1)); // processing, not dirty: waits
    assert_eq!(q.waiting_len(), 1);
    drop(g);
    assert_eq!(q.len(), 0);
    step(&fake, Duration::from_secs(1));
    assert_eq!(*q.get().unwrap(), "x");
    q.shut_down();
}

#[test]
fn fires_while_processing_requeues_at_done() {
    let (fake, q) = queue();
    q.add("x");
    let g = q.get().unwrap();
    q.add_after("x", Duration::from_secs(1));
    step(&fake, Duration::from_secs(1));
    // Wait until the loop moved it (it becomes dirty, not queued: still processing).
    while q.waiting_len() != 0 {
        std::thread::yield_now();
    }
    assert_eq!(q.len(), 0);
    drop(g);
    assert_eq!(q.len(), 1);
    q.shut_down();
}

#[test]
fn shutdown_stops_loop_and_drops_waiting() {
    let (fake, q) = queue();
    q.add_after("x", Duration::from_secs(1));
    assert!(fake.block_until_waiters(1, HANG));
    q.shut_down(); // joins the loop thread
    assert_eq!(fake.waiters(), 0);
    assert_eq!(q.waiting_len(), 0);
    q.add_after("y", Duration::from_secs(1));
    assert_eq!(q.waiting_len(), 0, "ignored after shutdown");
    assert!(q.get().is_none());
}

#[test]
fn huge_delay_means_never() {
    let (_fake, q) = queue();
    q.add_after("x", Duration::MAX);
    assert_eq!((q.len(), q.waiting_len()), (0, 0));
    q.shut_down();
}

#[test]
fn real_clock_delay() {
    let q = Queue::new();
    q.add_after(1, ms(1));
    assert_eq!(*q.get().unwrap(), 1);
    q.shut_down();
}

#[test]
fn same_time_items_fire_in_request_order_despite_stale_entries() {
    // Found by the fuzzer: a dropped waiting entry of "a" at the same time must not fire
    // "a" ahead of "b", which asked first this time.
    let (fake, q) = queue();
    q.add_after("a", ms(30));
    q.add("a"); // drops the waiting entry (stale in the heap)
    q.add_after("b", ms(30));
    q.get().unwrap().done();
    q.add_after("a", ms(30)); // same ready time as the stale entry, asked after "b"
    step(&fake, ms(30));
    while q.len() < 2 {
        std::thread::yield_now();
    }
    assert_eq!(*q.get().unwrap(), "b");
    assert_eq!(*q.get().unwrap(), "a");
    q.shut_down();
}

/// Runs a worker that fails each key's first attempt (re-adding it after `retry`, as a
/// rate-limited retry does) and succeeds the second; returns the keys it finished.
fn retrying_worker(
    q: &Queue<&'static str>,
    retry: Duration,
) -> std::thread::JoinHandle<Vec<&'static str>> {
    let q = q.clone();
    std::thread::spawn(move || {
        let mut failed = std::collections::HashSet::new();
        let mut finished = Vec::new();
        while let Some(item) = q.get() {
            if failed.insert(*item) {
                q.add_after(*item, retry);
            } else {
                finished.push(*item);
            }
        }
        finished
    })
}

/// Waits (real time) until `cond` holds.
fn eventually(mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + HANG;
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "condition never held");
        std::thread::yield_now();
    }
}

/// client-go's `ShutDownWithDrain` (and gosync's) drops the items waiting out a delay: the
/// retry never runs.
#[test]
fn drain_drops_the_waiting_retries() {
    let (fake, q) = queue();
    let worker = retrying_worker(&q, Duration::from_secs(1));
    q.add("a");
    eventually(|| q.waiting_len() == 1);
    q.shut_down_with_drain();
    assert_eq!(
        worker.join().unwrap(),
        Vec::<&str>::new(),
        "the retry was dropped"
    );
    drop(fake);
}

/// `wait_idle` waits for the waiting retries too: it returns only once the retry has
/// fired and been processed; a drain after it loses nothing.
#[test]
fn wait_idle_waits_for_the_retries() {
    let (fake, q) = queue();
    let worker = retrying_worker(&q, Duration::from_secs(1));
    q.add("a");
    q.add("b");
    let idle = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let waiter = {
        let (q, idle) = (q.clone(), idle.clone());
        std::thread::spawn(move || {
            q.wait_idle();
            idle.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    eventually(|| q.waiting_len() == 2);
    // Both first attempts failed: nothing ready or processing, two retries waiting.
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        !idle.load(std::sync::atomic::Ordering::SeqCst),
        "returned with retries waiting"
    );
    step(&fake, Duration::from_secs(1));
    waiter.join().unwrap();
    assert!(idle.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!((q.len(), q.waiting_len()), (0, 0));
    q.shut_down_with_drain();
    let mut finished = worker.join().unwrap();
    finished.sort_unstable();
    assert_eq!(finished, ["a", "b"]);
}

/// `wait_idle_timeout` gives up on the queue's clock and says whether the queue is idle.
#[test]
fn wait_idle_timeout_on_the_queue_clock() {
    let (fake, q) = queue();
    assert!(q.wait_idle_timeout(Duration::ZERO), "a new queue is idle");
    q.add_after("x", Duration::from_secs(10));
    let waiter = {
        let q = q.clone();
        std::thread::spawn(move || q.wait_idle_timeout(Duration::from_secs(5)))
    };
    // The delay loop and the waiter both sleep on the fake clock.
    assert!(fake.block_until_waiters(2, HANG));
    fake.advance(Duration::from_secs(5));
    assert!(!waiter.join().unwrap(), "x is still waiting");
    fake.advance(Duration::from_secs(5));
    eventually(|| q.len() == 1);
    assert!(!q.wait_idle_timeout(Duration::ZERO), "x is ready");
    let x = q.get().unwrap();
    assert!(!q.wait_idle_timeout(Duration::ZERO), "x is processing");
    drop(x);
    assert!(q.wait_idle_timeout(Duration::ZERO));
    // A shutdown drops the waiting items: idle once nothing is ready or processing.
    q.add_after("y", Duration::from_secs(10));
    assert!(!q.wait_idle_timeout(Duration::ZERO));
    q.shut_down();
    assert!(q.wait_idle_timeout(Duration::ZERO));
}

/// Dropping the last handle cancels the queue's registration with its clock's timer at
/// once (no waiter left on the clock for it) and frees the waiting items; another queue
/// of the same clock keeps its deadline.
#[test]
fn dropping_the_last_handle_cancels_its_timer_registration() {
    use std::sync::Arc;

    let fake = FakeClock::new();
    let q: Queue<(u8, Arc<()>)> = Queue::builder().clock(fake.clock()).build();
    let other: Queue<u8> = Queue::builder().clock(fake.clock()).build();
    let token = Arc::new(());
    q.add_after((1, token.clone()), Duration::from_secs(1));
    other.add_after(2, Duration::from_secs(2));
    assert!(fake.block_until_waiter_at(fake.now() + Duration::from_secs(1), HANG));
    drop(q);
    assert_eq!(
        Arc::strong_count(&token),
        1,
        "the waiting item was freed with the queue"
    );
    // The clock's one waiter now waits for the other queue's deadline only.
    assert!(fake.block_until_waiter_at(fake.now() + Duration::from_secs(2), HANG));
    assert_eq!(fake.waiters(), 1);
    fake.advance(Duration::from_secs(2));
    assert_eq!(other.get_timeout(HANG).map(|g| *g).ok(), Some(2));
}
