//! Loom model of singleflight: the leader finishing while a follower joins.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=2 cargo
//! test --release -p gosync-errgroup --test loom_singleflight`.
//!
//! Shown able to fail: reading the followers count before taking the map lock (so a
//! follower can join between the read and the key's removal) deadlocks both models (the
//! leader takes its unshared value back while a follower waits for it).
#![cfg(loom)]

use gosync_errgroup::singleflight::Group;
use loom::thread;

/// Two callers of one key: either one joined the other's call (same value, both report
/// `shared`), or they ran one after the other (their own values, neither shared). Never
/// a follower left waiting, a value shared with a caller told it was not, or a key left
/// behind.
#[test]
fn loom_leader_finishes_while_a_follower_joins() {
    loom::model(|| {
        let g = Group::<u8, u8>::new();
        let other = {
            let g = g.clone();
            thread::spawn(move || g.run(0, || 2))
        };
        let mine = g.run(0, || 1);
        let other = other.join().unwrap();
        if mine.0 == other.0 {
            assert!(
                mine.1 && other.1,
                "a shared value reported unshared: {mine:?} {other:?}"
            );
        } else {
            assert_eq!((mine, other), ((1, false), (2, false)));
        }
        assert!(g.is_empty(), "a key leaked");
    });
}

/// A spawned call (the leader on its own thread) and a `run` joining it.
#[test]
fn loom_spawned_leader_and_joining_run() {
    loom::model(|| {
        let g = Group::<u8, u8>::new();
        let handle = g.spawn(0, || 1);
        let mine = g.run(0, || 2);
        let theirs = handle.wait();
        if mine.0 == theirs.0 {
            assert!(mine.1 && theirs.1);
        } else {
            assert_eq!((mine, theirs), ((2, false), (1, false)));
        }
        // The spawned leader removes its key before it publishes... after: wait for it.
        while !g.is_empty() {
            thread::yield_now();
        }
    });
}
