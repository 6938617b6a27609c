//! singleflight: Go's singleflight_test.go mirrored (each test named after its Go
//! counterpart), then panics, key leaks and clone counts.
#![cfg(not(loom))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Barrier};

use gosync_errgroup::singleflight::Group;
use gosync_testkit::wait_until;

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Go's TestDo.
#[test]
fn do_() {
    let g = Group::new();
    let (v, shared) = g.run("key", || Ok::<_, String>("bar"));
    assert_eq!(v, Ok("bar"));
    assert!(!shared);
}

/// Go's TestDoErr: errors are part of the value.
#[test]
fn do_err() {
    let g = Group::new();
    let (v, _) = g.run("key", || Err::<&str, _>("Some error"));
    assert_eq!(v, Err("Some error"));
}

/// Go's TestDoDupSuppress, made deterministic: the leader's closure is held until all
/// the other callers have joined, so the closure runs exactly once (Go asserts only
/// `0 < calls < n`).
#[test]
fn do_dup_suppress() {
    const N: usize = 10;
    let g = Group::new();
    let calls = AtomicUsize::new(0);
    let (release, gate) = mpsc::channel::<String>();
    let gate = std::sync::Mutex::new(gate);
    let leader_in = Barrier::new(2);
    std::thread::scope(|s| {
        let f = || {
            calls.fetch_add(1, Ordering::SeqCst);
            leader_in.wait();
            gate.lock().unwrap().recv().unwrap()
        };
        let gr = &g;
        let leader = s.spawn(move || gr.run("key", f));
        leader_in.wait(); // the leader is inside its closure
        let followers: Vec<_> = (1..N)
            .map(|_| s.spawn(|| g.run("key", || unreachable!("a follower's closure ran"))))
            .collect();
        wait_until("every follower joins", || {
            g.followers(&"key") == Some(N - 1)
        });
        release.send("bar".to_string()).unwrap();
        assert_eq!(leader.join().unwrap(), ("bar".to_string(), true));
        for f in followers {
            assert_eq!(f.join().unwrap(), ("bar".to_string(), true));
        }
    });
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(g.is_empty());
}

/// Go's TestForget (golang/go#31420): after `forget`, a new call starts even though the
/// forgotten one is still running, and the first call finishing does not remove the
/// second one's key.
#[test]
fn forget() {
    let g = Group::new();
    let (first_started_tx, first_started) = mpsc::channel();
    let (unblock_first_tx, unblock_first) = mpsc::channel::<()>();
    let (first_finished_tx, first_finished) = mpsc::channel();
    let first = {
        let g = g.clone();
        std::thread::spawn(move || {
            g.run("key", move || {
                first_started_tx.send(()).unwrap();
                unblock_first.recv().unwrap();
                first_finished_tx.send(()).unwrap();
                1
            })
        })
    };
    first_started.recv().unwrap();
    g.forget(&"key");

    let (unblock_second_tx, unblock_second) = mpsc::channel::<()>();
    let second = g.spawn("key", move || {
        unblock_second.recv().unwrap();
        2
    });

    unblock_first_tx.send(()).unwrap();
    first_finished.recv().unwrap();
    assert_eq!(first.join().unwrap(), (1, false));

    let third = g.spawn("key", || 3);
    unblock_second_tx.send(()).unwrap();
    assert_eq!(second.wait().0, 2);
    assert_eq!(
        third.wait().0,
        2,
        "the third call joins the second, not a new one"
    );
    wait_until("the key is removed", || g.is_empty());
}

/// Go's TestDoChan.
#[test]
fn do_chan() {
    let g = Group::new();
    let (v, shared) = g.spawn("key", || "bar").wait();
    assert_eq!((v, shared), ("bar", false));
}

/// Go's TestPanicDo (golang/go#41133): every caller panics, none hangs, and the key is
/// not leaked.
#[test]
fn panic_do() {
    const N: usize = 5;
    let g = Group::<&str, ()>::new();
    let leader_in = Barrier::new(2);
    let (release, gate) = mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(gate);
    let panics = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let leader = s.spawn(|| {
            catch_unwind(AssertUnwindSafe(|| {
                g.run("key", || {
                    leader_in.wait();
                    gate.lock().unwrap().recv().unwrap();
                    panic!("invalid memory address or nil pointer dereference")
                })
            }))
        });
        leader_in.wait();
        let followers: Vec<_> = (1..N)
            .map(|_| s.spawn(|| catch_unwind(AssertUnwindSafe(|| g.run("key", || ())))))
            .collect();
        wait_until("every follower joins", || {
            g.followers(&"key") == Some(N - 1)
        });
        release.send(()).unwrap();
        let payload = leader.join().unwrap().unwrap_err();
        // The leader's own panic keeps its payload.
        assert_eq!(
            panic_text(&*payload),
            "invalid memory address or nil pointer dereference"
        );
        panics.fetch_add(1, Ordering::SeqCst);
        for f in followers {
            let payload = f.join().unwrap().unwrap_err();
            assert_eq!(
                panic_text(&*payload),
                "singleflight: the call for this key panicked in its leader: \
                 invalid memory address or nil pointer dereference"
            );
            panics.fetch_add(1, Ordering::SeqCst);
        }
    });
    assert_eq!(panics.load(Ordering::SeqCst), N);
    assert!(g.is_empty(), "the panicked call's key leaked");
    assert_eq!(g.run("key", || ()), ((), false), "the key works again");
}

/// Go's TestPanicDoChan: Go crashes the process; here the handle's `wait` panics, and the
/// key is removed.
#[test]
fn panic_do_chan() {
    let g = Group::<&str, ()>::new();
    let handle = g.spawn("", || panic!("Panicking in DoChan"));
    let payload = catch_unwind(AssertUnwindSafe(|| handle.wait())).unwrap_err();
    assert!(panic_text(&*payload).contains("Panicking in DoChan"));
    wait_until("the key is removed", || g.is_empty());
}

/// Go's TestPanicDoSharedByDoChan: a handle that joined a `run` whose closure panics
/// panics on `wait`, and its own closure never runs.
#[test]
fn panic_do_shared_by_do_chan() {
    let g = Group::<&str, ()>::new();
    let (blocked_tx, blocked) = mpsc::channel();
    let (unblock_tx, unblock) = mpsc::channel::<()>();
    let leader = {
        let g = g.clone();
        std::thread::spawn(move || {
            catch_unwind(AssertUnwindSafe(|| {
                g.run("", move || {
                    blocked_tx.send(()).unwrap();
                    unblock.recv().unwrap();
                    panic!("Panicking in Do")
                })
            }))
        })
    };
    blocked.recv().unwrap();
    let handle = g.spawn("", || panic!("DoChan unexpectedly executed callback"));
    unblock_tx.send(()).unwrap();
    let payload = catch_unwind(AssertUnwindSafe(|| handle.wait())).unwrap_err();
    let text = panic_text(&*payload);
    assert!(text.contains("Panicking in Do"), "{text}");
    assert!(!text.contains("unexpectedly"), "{text}");
    assert!(leader.join().unwrap().is_err());
    assert!(g.is_empty());
}

/// Go's ExampleGroup: two `DoChan`s on one key share the first's value.
#[test]
fn example_group() {
    let g = Group::new();
    let (block_tx, block) = mpsc::channel::<()>();
    let res1c = g.spawn("key", move || {
        let _closed = block.recv(); // returns once `block_tx` is dropped
        "func 1"
    });
    let res2c = g.spawn("key", || "func 2");
    drop(block_tx); // close(block)
    let (res1, res2) = (res1c.wait(), res2c.wait());
    assert!(res2.1, "Shared: true");
    assert_eq!(res1.0, res2.0, "Equal results");
    assert_eq!(res1.0, "func 1");
}

/// Values are cloned once per follower, never for a leader nobody joined.
#[test]
fn leader_alone_gets_its_value_without_a_clone() {
    static CLONES: AtomicUsize = AtomicUsize::new(0);
    #[derive(Debug, PartialEq)]
    struct Counted(u32);
    impl Clone for Counted {
        fn clone(&self) -> Counted {
            CLONES.fetch_add(1, Ordering::SeqCst);
            Counted(self.0)
        }
    }
    let g = Group::new();
    assert_eq!(g.run(1, || Counted(7)), (Counted(7), false));
    assert_eq!(CLONES.load(Ordering::SeqCst), 0);
    assert_eq!(g.spawn(2, || Counted(8)).wait(), (Counted(8), false));
}

/// A panicking `Clone` of the value hurts only the caller that clones.
#[test]
fn panicking_value_clone_hurts_only_its_caller() {
    #[derive(Debug)]
    struct BadClone;
    impl Clone for BadClone {
        fn clone(&self) -> BadClone {
            panic!("clone failed")
        }
    }
    let g = Group::new();
    let leader_in = Barrier::new(2);
    let (release, gate) = mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(gate);
    std::thread::scope(|s| {
        let leader = s.spawn(|| {
            catch_unwind(AssertUnwindSafe(|| {
                g.run(1, || {
                    leader_in.wait();
                    gate.lock().unwrap().recv().unwrap();
                    BadClone
                })
            }))
        });
        leader_in.wait();
        let follower = s.spawn(|| catch_unwind(AssertUnwindSafe(|| g.run(1, || BadClone))));
        wait_until("the follower joins", || g.followers(&1) == Some(1));
        release.send(()).unwrap();
        // Both clone the shared value (the leader too, since it was shared): both panic
        // in their own clone, and the group is left clean.
        assert!(leader.join().unwrap().is_err());
        assert!(follower.join().unwrap().is_err());
    });
    assert!(g.is_empty());
    let (_value, shared) = g.run(2, || BadClone); // a lone leader never clones
    assert!(!shared);
}

#[test]
fn debug_shows_calls_in_flight() {
    let g = Group::<u8, u8>::new();
    assert_eq!(format!("{g:?}"), "Group { in_flight: 0 }");
    let h = g.spawn(1, || 1);
    let _ = h.wait();
}

/// A key whose `Hash` panics while the leader removes it: the leader panics, the entry
/// is left behind, a later caller joining it panics (never hangs), and `forget` clears it.
#[test]
fn panicking_key_hash_during_removal_never_hangs() {
    use std::hash::{Hash, Hasher};
    use std::sync::atomic::AtomicBool;
    /// Armed by the leader's closure: the next hash (the removal's) panics, once.
    static ARMED: AtomicBool = AtomicBool::new(false);
    #[derive(Clone, PartialEq, Eq, Debug)]
    struct Key;
    impl Hash for Key {
        fn hash<H: Hasher>(&self, state: &mut H) {
            if ARMED.swap(false, Ordering::SeqCst) {
                panic!("hash failed");
            }
            0u8.hash(state);
        }
    }
    let g = Group::new();
    let payload = catch_unwind(AssertUnwindSafe(|| {
        g.run(Key, || {
            ARMED.store(true, Ordering::SeqCst);
            1
        })
    }))
    .unwrap_err();
    assert_eq!(panic_text(&*payload), "hash failed");
    assert!(g.in_flight(&Key), "the entry is left behind");
    let payload = catch_unwind(AssertUnwindSafe(|| g.run(Key, || 2))).unwrap_err();
    assert!(panic_text(&*payload).contains("Hash or Eq panicked"));
    g.forget(&Key);
    assert_eq!(g.run(Key, || 3), (3, false));
    assert!(g.is_empty());
}
