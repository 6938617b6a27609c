//! client-go `queue_test.go` scenarios, plus the guard, `try_get`, `get_timeout` and misuse.
#![cfg(not(loom))]

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use gosync_core::FakeClock;
use gosync_workqueue::{GetTimeoutError, Queue, TryGetError};

/// A real-time hang guard (Miri runs ~1000x slower).
const HANG: Duration = Duration::from_secs(if cfg!(miri) { 600 } else { 20 });

fn basic(drain: bool) {
    let q: Queue<usize> = Queue::new();
    let producers = 50;
    let consumers = 10;
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let processed = Arc::new(AtomicUsize::new(0));
    thread::scope(|s| {
        let mut prod = Vec::new();
        for p in 0..producers {
            let q = q.clone();
            prod.push(s.spawn(move || {
                // Under Miri 3 adds each: the 60 threads still contend throughout.
                for i in 0..if cfg!(miri) { 3 } else { 50 } {
                    q.add(p * 1000 + i);
                    thread::yield_now();
                }
            }));
        }
        for _ in 0..consumers {
            let (q, seen, processed) = (q.clone(), seen.clone(), processed.clone());
            s.spawn(move || {
                while let Some(item) = q.get() {
                    // Never processed twice at once.
                    assert!(seen.lock().unwrap().insert(*item));
                    processed.fetch_add(1, Ordering::Relaxed);
                    thread::yield_now();
                    assert!(seen.lock().unwrap().remove(&*item));
                }
            });
        }
        for p in prod {
            p.join().unwrap();
        }
        if drain {
            q.shut_down_with_drain();
            assert_eq!(q.len(), 0);
        } else {
            // Give the consumers the items before shutting down, as client-go's test does.
            while !q.is_empty() {
                thread::yield_now();
            }
            q.shut_down();
        }
    });
    q.add(999_999);
    assert_eq!(q.len(), 0, "adds after shutdown are ignored");
    assert!(processed.load(Ordering::Relaxed) >= 1);
}

#[test]
fn basic_shut_down() {
    basic(false);
}

#[test]
fn basic_shut_down_with_drain() {
    basic(true);
}

#[test]
fn add_while_processing() {
    let q = Queue::new();
    for i in 0..5 {
        q.add(i);
    }
    let mut first = Vec::new();
    for _ in 0..5 {
        first.push(q.get_detached().unwrap());
    }
    for i in 0..5 {
        q.add(i); // dirty while processing: not queued
    }
    assert_eq!(q.len(), 0);
    for i in &first {
        assert!(q.done(i));
    }
    assert_eq!(q.len(), 5);
    for i in 0..5 {
        assert_eq!(*q.get().unwrap(), i);
    }
    assert_eq!(q.len(), 0);
}

#[test]
fn len() {
    let q = Queue::new();
    q.add("foo");
    assert_eq!(q.len(), 1);
    q.add("bar");
    assert_eq!(q.len(), 2);
    q.add("foo");
    assert_eq!(q.len(), 2);
}

#[test]
fn reinsert() {
    let q = Queue::new();
    q.add("foo");
    let i = q.get().unwrap().into_inner();
    assert_eq!(i, "foo");
    q.add(i);
    q.done(&i);
    let i = q.get().unwrap();
    assert_eq!(*i, "foo");
    drop(i);
    assert_eq!(q.len(), 0);
}

#[test]
fn collapse() {
    let q = Queue::new();
    q.add("bar");
    q.add("bar");
    assert_eq!(q.len(), 1);
    let g = q.get().unwrap();
    assert_eq!(*g, "bar");
    drop(g);
    assert_eq!(q.len(), 0);
    assert_eq!(q.try_get().err(), Some(TryGetError::Empty));
}

#[test]
fn collapse_while_processing() {
    let q = Queue::new();
    q.add("bar");
    let g = q.get().unwrap();
    q.add("bar");
    q.add("bar");
    assert_eq!(q.len(), 0, "processing: not queued");
    drop(g);
    assert_eq!(q.len(), 1, "queued once after done");
    let g = q.get().unwrap();
    drop(g);
    assert_eq!(q.len(), 0);
}

#[test]
fn drain_using_shut_down_with_drain() {
    let q = Queue::new();
    q.add("foo");
    q.add("bar");
    let a = q.get_detached().unwrap();
    let b = q.get_detached().unwrap();
    let returned = Arc::new(AtomicUsize::new(0));
    thread::scope(|s| {
        let h = {
            let (q, returned) = (q.clone(), returned.clone());
            s.spawn(move || {
                q.shut_down_with_drain();
                returned.store(1, Ordering::SeqCst);
            })
        };
        while !q.shutting_down() {
            thread::yield_now();
        }
        assert_eq!(returned.load(Ordering::SeqCst), 0);
        q.done(&a);
        thread::sleep(Duration::from_millis(5));
        assert_eq!(returned.load(Ordering::SeqCst), 0, "one still processing");
        q.done(&b);
        h.join().unwrap();
    });
    assert_eq!(returned.load(Ordering::SeqCst), 1);
}

#[test]
fn no_drain_using_shut_down() {
    let q = Queue::new();
    q.add("foo");
    let _item = q.get_detached().unwrap();
    q.shut_down(); // returns at once with an item in flight
    assert!(q.shutting_down());
}

#[test]
fn force_shut_down_ends_drain() {
    let q = Queue::new();
    q.add("foo");
    let _item = q.get_detached().unwrap();
    thread::scope(|s| {
        let h = {
            let q = q.clone();
            s.spawn(move || q.shut_down_with_drain())
        };
        while !q.shutting_down() {
            thread::yield_now();
        }
        q.shut_down(); // forces the drain to return though "foo" is processing
        h.join().unwrap();
    });
}

#[test]
fn drain_with_dirty_item() {
    // An item re-added while processing is dirty: the drain waits for its second round too.
    let q = Queue::new();
    q.add("foo");
    let item = q.get_detached().unwrap();
    q.add("foo");
    let drained = Arc::new(AtomicUsize::new(0));
    thread::scope(|s| {
        let h = {
            let (q, drained) = (q.clone(), drained.clone());
            s.spawn(move || {
                q.shut_down_with_drain();
                drained.store(1, Ordering::SeqCst);
            })
        };
        while !q.shutting_down() {
            thread::yield_now();
        }
        q.done(&item);
        let again = q
            .get()
            .expect("the dirty item is still handed out after shutdown");
        thread::sleep(Duration::from_millis(5));
        assert_eq!(drained.load(Ordering::SeqCst), 0);
        drop(again);
        h.join().unwrap();
    });
    assert!(q.get().is_none());
}

#[test]
fn drain_waits_for_queued_items() {
    // Differs from client-go: queued (dirty) items must be processed before the drain ends.
    let q = Queue::new();
    q.add(1);
    q.add(2);
    thread::scope(|s| {
        let h = {
            let q = q.clone();
            s.spawn(move || q.shut_down_with_drain())
        };
        while !q.shutting_down() {
            thread::yield_now();
        }
        thread::sleep(Duration::from_millis(5));
        assert!(!h.is_finished());
        while q.get().is_some() {}
        h.join().unwrap();
    });
}

#[test]
fn shutdown_wakes_all_getters() {
    let q: Queue<u32> = Queue::new();
    thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let q = q.clone();
                s.spawn(move || q.get().is_none())
            })
            .collect();
        thread::sleep(Duration::from_millis(5));
        q.shut_down();
        for h in hs {
            assert!(h.join().unwrap());
        }
    });
}

#[test]
fn guard_done_on_panic() {
    let q = Queue::new();
    q.add("x");
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _item = q.get().unwrap();
        q.add("x"); // dirty while processing
        panic!("worker failed");
    }));
    assert!(r.is_err());
    assert_eq!(
        q.len(),
        1,
        "the guard ran done during unwinding and requeued the item"
    );
    assert_eq!(*q.get().unwrap(), "x");
}

#[test]
fn done_of_unknown_or_queued_item_is_a_noop() {
    let q = Queue::new();
    assert!(!q.done(&"nope"));
    q.add("x");
    assert!(!q.done(&"x"));
    assert_eq!(
        q.len(),
        1,
        "no duplicate (client-go would queue \"x\" twice)"
    );
    let g = q.get().unwrap();
    assert_eq!(q.len(), 0);
    assert!(q.try_get().is_err());
    drop(g);
    assert!(!q.done(&"x"));
    assert_eq!(q.len(), 0);
}

#[test]
fn try_get_after_shutdown_hands_out_remaining() {
    let q = Queue::new();
    q.add(1);
    q.shut_down();
    assert_eq!(*q.try_get().unwrap(), 1);
    assert_eq!(q.try_get().err(), Some(TryGetError::ShutDown));
}

#[test]
fn get_timeout_with_fake_clock() {
    let fake = FakeClock::new();
    let q: Queue<u32> = Queue::builder().clock(fake.clock()).build();
    thread::scope(|s| {
        let h = s.spawn(|| q.get_timeout(Duration::from_secs(30)).map(|g| *g).err());
        assert!(fake.block_until_waiters(1, HANG));
        fake.advance(Duration::from_secs(30));
        assert_eq!(h.join().unwrap(), Some(GetTimeoutError::Timeout));
    });
    thread::scope(|s| {
        let h = s.spawn(|| q.get_timeout(Duration::from_secs(30)).map(|g| *g).ok());
        assert!(fake.block_until_waiters(1, HANG));
        q.add(7);
        assert_eq!(h.join().unwrap(), Some(7));
    });
    q.shut_down();
    assert_eq!(
        q.get_timeout(Duration::from_secs(1)).err(),
        Some(GetTimeoutError::ShutDown)
    );
}

#[test]
fn dropping_last_handle_shuts_down() {
    let q: Queue<u32> = Queue::new();
    q.add_after(1, Duration::from_secs(3600)); // starts the delay thread
    let q2 = q.clone();
    drop(q);
    assert!(!q2.shutting_down());
    drop(q2); // joins the delay thread; a hang here would be a leak
}

#[test]
fn debug_does_not_block() {
    let q = Queue::new();
    q.add(1);
    assert!(format!("{q:?}").contains("len: 1"));
    let g = q.get().unwrap();
    assert!(format!("{g:?}").contains("Guard"));
}

/// A getter that spun, found nothing and parked is woken by a later `add` (protocol rule 3:
/// the adder sees it counted as parked); the same for a getter in `get_timeout`.
#[test]
fn parked_getters_are_woken_by_add() {
    let q: Queue<u32> = Queue::new();
    let getter = {
        let q = q.clone();
        std::thread::spawn(move || q.get_detached())
    };
    let timed = {
        let q = q.clone();
        std::thread::spawn(move || {
            q.get_timeout(std::time::Duration::from_secs(60))
                .map(|g| g.into_inner())
        })
    };
    // Long past the spin window, so both are (almost surely) parked; correct either way.
    std::thread::sleep(std::time::Duration::from_millis(50));
    q.add(1);
    q.add(2);
    let mut got = [
        getter.join().unwrap().unwrap(),
        timed.join().unwrap().unwrap(),
    ];
    got.sort_unstable();
    assert_eq!(got, [1, 2]);
}

/// 4 producers x 4 consumers with spinning and parking getters: every distinct key is
/// handed out exactly once, and no getter is left blocked at shutdown.
#[test]
fn producers_and_consumers_move_every_item_once() {
    // Under Miri 100 per producer: getters still run dry and park in between.
    const PER: u32 = if cfg!(miri) { 100 } else { 5_000 };
    let q: Queue<u32> = Queue::new();
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let q = q.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while let Some(k) = q.get() {
                    seen.push(*k);
                }
                seen
            })
        })
        .collect();
    let producers: Vec<_> = (0..4u32)
        .map(|p| {
            let q = q.clone();
            std::thread::spawn(move || {
                for k in p * PER..(p + 1) * PER {
                    q.add(k);
                    if k % (PER / 5) == 0 {
                        std::thread::yield_now(); // let getters run dry and park
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    q.shut_down_with_drain();
    let mut all: Vec<u32> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..4 * PER).collect::<Vec<_>>());
}

/// `done_and_get` is `done` then `get`: a re-added item goes to the back of the queue (and
/// is handed straight back when nothing else is queued); a `done` of an item that is not
/// processing is a no-op and the call is a plain `get`.
#[test]
fn done_and_get_is_done_then_get() {
    let q: Queue<&str> = Queue::new();
    q.add("a");
    let a = q.get_detached().unwrap();
    q.add("a"); // dirty while processing
    assert_eq!(q.done_and_get_detached(&a), Some("a"));
    q.add("b");
    q.add("a"); // dirty while processing again, "b" queued before it
    assert_eq!(q.done_and_get_detached(&"a"), Some("b"));
    assert_eq!(q.len(), 1);
    assert_eq!(q.done_and_get_detached(&"b"), Some("a"));
    // Not processing: no-op done, then a get that sees shutdown.
    assert!(q.done(&"a"));
    q.shut_down();
    assert_eq!(q.done_and_get_detached(&"zzz"), None);
}

/// Many workers on the guard form: every item is processed exactly once per dirty period,
/// and a drain ends when the last worker's `done_and_get` finishes the last item.
#[test]
fn done_and_get_workers_drain() {
    let q: Queue<u32> = Queue::new();
    let processed = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (q, processed) = (q.clone(), processed.clone());
            thread::spawn(move || {
                let mut next = q.get();
                while let Some(item) = next {
                    processed.fetch_add(1, Ordering::Relaxed);
                    next = item.done_and_get();
                }
            })
        })
        .collect();
    const N: u32 = if cfg!(miri) { 300 } else { 10_000 };
    for k in 0..N {
        q.add(k);
    }
    q.shut_down_with_drain();
    for w in workers {
        w.join().unwrap();
    }
    // Each key was added once and is done: it ran at least once, at most once per add.
    assert_eq!(processed.load(Ordering::Relaxed), N as usize);
}

/// A getter blocked while `done_and_get` re-queues one item and takes another still gets
/// the item left over (the interleavings are covered by `loom_workqueue_done_and_get_vs_add`).
#[test]
fn done_and_get_leaves_the_other_item_to_a_blocked_getter() {
    let q: Queue<u8> = Queue::new();
    q.add(1);
    let one = q.get_detached().unwrap();
    q.add(1); // dirty while processing
    let getter = {
        let q = q.clone();
        thread::spawn(move || q.get_detached())
    };
    // Let the getter park (it finds nothing: 1 is processing).
    thread::sleep(Duration::from_millis(50));
    q.add(2);
    let mine = q.done_and_get_detached(&one);
    let theirs = getter.join().unwrap();
    let mut got = [mine.unwrap(), theirs.unwrap()];
    got.sort_unstable();
    assert_eq!(got, [1, 2]);
}

/// Keys whose `Hash` and `Eq` disagree are a logic error (see the `Queue` docs): what the
/// queue then does is unspecified, but it stays inside the queue (no undefined behaviour,
/// no hang of the queue's own making), and a `shut_down` still ends a drain that waits for
/// an item the queue has lost track of.
#[test]
fn inconsistent_keys_are_a_logic_error_that_shut_down_still_ends() {
    use std::hash::{Hash, Hasher};

    /// Never equal, not even to itself (as a float NaN).
    #[derive(Clone, Debug, Hash)]
    #[allow(clippy::derived_hash_with_manual_eq)] // the logic error under test
    struct Nan(u8);
    impl PartialEq for Nan {
        fn eq(&self, _: &Nan) -> bool {
            false
        }
    }
    impl Eq for Nan {}

    /// Equal to every other, but hashed by its value.
    #[derive(Clone, Debug)]
    struct AllEqual(u8);
    impl PartialEq for AllEqual {
        fn eq(&self, _: &AllEqual) -> bool {
            true
        }
    }
    impl Eq for AllEqual {}
    impl Hash for AllEqual {
        fn hash<H: Hasher>(&self, h: &mut H) {
            self.0.hash(h);
        }
    }

    fn exercise<T: Hash + Eq + Clone + Send + 'static>(key: fn(u8) -> T) {
        let fake = FakeClock::new();
        let q: Queue<T> = Queue::builder().clock(fake.clock()).build();
        for i in 0..40u8 {
            q.add(key(i % 4));
            q.add_after(key(i % 3), Duration::from_secs(1));
            if let Ok(item) = q.try_get() {
                q.add(key(i % 5));
                drop(item);
            }
            q.done(&key(i % 6));
            if i % 8 == 0 {
                fake.advance(Duration::from_secs(1));
            }
        }
        let _ = (q.len(), q.waiting_len(), format!("{q:?}"));
        let drain = {
            let q = q.clone();
            thread::spawn(move || q.shut_down_with_drain())
        };
        // Once the drain has begun (it marks the queue shutting down first, under the
        // lock it then waits with), a `shut_down` ends it. A `shut_down` before it began
        // would not: the drain would then wait for the lost item, as client-go's does.
        while !q.shutting_down() {
            thread::yield_now();
        }
        q.shut_down(); // forces a drain waiting for a lost item to return
        drain.join().unwrap();
        while q.try_get().is_ok() {}
        assert!(q.shutting_down());
    }

    exercise(Nan);
    exercise(AllEqual);
}

/// `done` looks a key up by any borrowed form of it, as `HashMap::get` does: a `String`
/// queue takes a `&str`. A key re-added while processing is queued again (as a clone of
/// the queue's own copy, since a `&str` cannot be turned into the `String`).
#[test]
fn done_takes_a_borrowed_form_of_the_key() {
    let q: Queue<String> = Queue::new();
    q.add("ns/a".to_string());
    q.add("ns/b".to_string());
    let a = q.get_detached().unwrap();
    assert!(!q.done("ns/b"), "queued, not processing");
    q.add("ns/a".to_string()); // re-added while processing
    assert_eq!(q.len(), 1);
    assert!(q.done("ns/a"));
    assert!(!q.done("ns/a"));
    assert_eq!(q.len(), 2);
    assert_eq!(*q.get().unwrap(), "ns/b");
    // `a` is queued, not processing: the `done` half is a no-op, the `get` hands it out.
    assert_eq!(q.done_and_get_detached(a.as_str()), Some(a.clone()));
    assert!(q.done(&a)); // `&String` still works
}

/// A key type whose `Borrow<str>` agrees with its `Hash`/`Eq` (as `Borrow` requires): the
/// queue hashes the `&str` with its own hasher and finds the key.
#[test]
fn done_with_a_custom_borrow() {
    #[derive(Clone, PartialEq, Eq, Hash, Debug)]
    struct Key(String);
    impl std::borrow::Borrow<str> for Key {
        fn borrow(&self) -> &str {
            &self.0
        }
    }
    let q: Queue<Key> = Queue::new();
    for i in 0..100 {
        q.add(Key(format!("k{i}")));
    }
    let mut got = Vec::new();
    while let Ok(g) = q.try_get() {
        got.push(g.into_inner());
    }
    for (i, k) in got.iter().enumerate() {
        assert_eq!(k.0, format!("k{i}"));
        assert!(q.done(format!("k{i}").as_str()), "k{i} found by its &str");
    }
}

fn assert_static_send<G: Send + 'static>(_: &G) {}

/// `get_owned` hands out a `'static` guard that moves into `thread::spawn`; its drop on
/// that thread is the `done`.
#[test]
fn owned_guards_move_into_spawned_threads() {
    let q: Queue<u32> = Queue::new();
    for k in 0..8 {
        q.add(k);
    }
    let mut items = Vec::new();
    while let Ok(item) = q.try_get_owned() {
        assert_static_send(&item);
        items.push(item);
    }
    let mut workers = Vec::new();
    for item in items {
        workers.push(thread::spawn(move || {
            let k = *item;
            item.queue().add(k); // re-added while processing: queued again at done
            k
        }));
    }
    let mut done: Vec<u32> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    done.sort_unstable();
    assert_eq!(done, (0..8).collect::<Vec<_>>());
    assert_eq!(
        q.len(),
        8,
        "each re-added key was queued again by its guard's drop"
    );
    // The workers' guards dropped in any order, so the keys were queued again in any
    // order: `done_and_get` hands over some other key.
    let item = q.get_timeout_owned(Duration::from_secs(1)).unwrap();
    let first = *item;
    let next = item.done_and_get().unwrap().into_inner();
    assert!(next != first && next < 8, "{first} then {next}");
    assert!(q.done(&next));
    assert_eq!(q.len(), 6);
}

/// An owned guard keeps its queue alive: dropping every other handle does not shut the
/// queue down under it, and its drop (the last handle) then does.
#[test]
fn an_owned_guard_is_a_queue_handle() {
    let q: Queue<&str> = Queue::new();
    q.add("a");
    q.add("b");
    let a = q.get_owned().unwrap();
    drop(q);
    assert!(!a.queue().shutting_down());
    assert_eq!(*a.queue().get().unwrap(), "b");
    let q = a.queue().clone();
    drop(a);
    assert!(!q.shutting_down());
    assert_eq!(q.len(), 0);
}

#[test]
fn owned_guards_from_priority_rate_limited_and_context_gets() {
    use gosync_workqueue::ratelimit::ExponentialLimiter;
    use gosync_workqueue::{AddOpts, PriorityQueue, RateLimitingQueue};
    let p = PriorityQueue::new_priority();
    p.add_with_opts("low", AddOpts::new());
    p.add_with_opts("high", AddOpts::new().priority(1));
    let high = p.get_owned().unwrap();
    assert_eq!(thread::spawn(move || *high).join().unwrap(), "high");

    let limiter = ExponentialLimiter::new(Duration::ZERO, Duration::ZERO);
    let r = RateLimitingQueue::with_limiter(Queue::builder(), limiter);
    r.add("job".to_string());
    let job = r.get_owned().unwrap();
    let r2 = r.clone();
    thread::spawn(move || {
        r2.forget(&*job);
        drop(job);
    })
    .join()
    .unwrap();
    assert!(!r.done("job"), "done by the guard on the other thread");

    #[cfg(feature = "context")]
    {
        let q: Queue<u8> = Queue::new();
        q.add(4);
        let four = q.get_context_owned(&gosync_context::background()).unwrap();
        assert_eq!(thread::spawn(move || *four).join().unwrap(), 4);
        assert!(!q.done(&4));
    }
}
