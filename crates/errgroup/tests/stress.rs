//! Release-mode stress tests (`#[ignore]`; run by `./ci/test.sh` with `--ignored`): many
//! threads racing cancels, releases and panics. Each checks an end state that any
//! lost wake-up, leaked weight or leaked key would break, with a hang guard.
#![cfg(not(loom))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use gosync_context::{background, with_cancel};
use gosync_errgroup::{singleflight, Group, Semaphore};

/// Keeps the deliberate panics of these tests out of the output; any other panic is
/// reported as usual.
fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            let expected = text.starts_with("deliberate:")
                || text.starts_with("singleflight: the call for this key panicked");
            if !expected {
                default(info);
            }
        }));
    });
}

/// Runs `f` on a thread and fails (instead of hanging) if it takes over 5 minutes.
fn with_hang_guard(name: &str, f: impl FnOnce() + Send + 'static) {
    quiet_expected_panics();
    let (done, finished) = mpsc::channel();
    let t = std::thread::spawn(move || {
        f();
        let _ = done.send(());
    });
    match finished.recv_timeout(Duration::from_secs(300)) {
        Ok(()) => t.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The test thread panicked: report its panic.
            if let Err(p) = t.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("hang: {name}"),
    }
}

#[test]
#[ignore = "stress; run in release"]
fn stress_semaphore_cancels_race_releases() {
    with_hang_guard("semaphore", || {
        const SIZE: u64 = 3;
        const THREADS: usize = 6;
        const ROUNDS: usize = 10_000;
        let sem = Arc::new(Semaphore::new(SIZE));
        let acquired = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (sem, acquired) = (Arc::clone(&sem), Arc::clone(&acquired));
                s.spawn(move || {
                    for i in 0..ROUNDS {
                        let n = 1 + ((t + i) % SIZE as usize) as u64;
                        let (ctx, cancel) = with_cancel(&background());
                        // Every third acquire is cancelled by another thread at once.
                        let canceller =
                            (i % 3 == 0).then(|| std::thread::spawn(move || cancel.cancel()));
                        if sem.acquire_context(&ctx, n).is_ok() {
                            acquired.fetch_add(1, Ordering::Relaxed);
                            std::thread::yield_now();
                            sem.release(n);
                        } else {
                            // Gave up: acquire again without a context, as a retry would.
                            sem.acquire(n);
                            sem.release(n);
                        }
                        if let Some(c) = canceller {
                            c.join().unwrap();
                        }
                    }
                });
            }
        });
        assert_eq!(sem.available(), SIZE, "weight leaked");
        assert_eq!(sem.waiters(), 0, "a waiter was left queued");
        assert!(acquired.load(Ordering::Relaxed) > 0);
    });
}

#[test]
#[ignore = "stress; run in release"]
fn stress_errgroup_errors_panics_and_limits() {
    with_hang_guard("errgroup", || {
        for round in 0..300u32 {
            let (g, ctx) = Group::<Arc<std::io::Error>>::with_context(&background());
            g.set_limit(1 + (round % 4) as isize);
            let panics = round % 5 == 0;
            for i in 0..12u32 {
                let ctx = ctx.clone();
                g.go(move || {
                    if panics && i == 7 {
                        panic!("deliberate: task {i} of round {round}");
                    }
                    if i == 5 {
                        return Err(Arc::new(std::io::Error::other(format!("{i}"))));
                    }
                    let _ = ctx.is_done();
                    Ok(())
                });
            }
            let r = catch_unwind(AssertUnwindSafe(|| g.wait()));
            match (panics, r) {
                (true, Err(_)) => {}
                (false, Ok(Err(e))) => assert_eq!(e.to_string(), "5"),
                (p, other) => panic!(
                    "round {round} (panics: {p}): {:?}",
                    other.map(|r| r.map_err(|e| e.to_string()))
                ),
            }
            assert!(ctx.is_done());
            assert!(format!("{g:?}").contains("tasks: 0,"));
        }
    });
}

#[test]
#[ignore = "stress; run in release"]
fn stress_singleflight_panics_and_forgets_leak_no_key() {
    with_hang_guard("singleflight", || {
        let g = singleflight::Group::<u8, u64>::new();
        let runs = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for t in 0..6u64 {
                let (g, runs) = (g.clone(), Arc::clone(&runs));
                s.spawn(move || {
                    for i in 0..20_000u64 {
                        let key = (i % 3) as u8;
                        if i % 97 == t {
                            g.forget(&key);
                        }
                        let r = catch_unwind(AssertUnwindSafe(|| {
                            g.run(key, || {
                                runs.fetch_add(1, Ordering::Relaxed);
                                if i % 50 == 0 {
                                    panic!("deliberate: leader {t}/{i}");
                                }
                                u64::from(key)
                            })
                        }));
                        if let Ok((v, _)) = r {
                            assert_eq!(v, u64::from(key));
                        }
                    }
                });
            }
        });
        assert!(g.is_empty(), "a key leaked");
        assert!(runs.load(Ordering::Relaxed) > 0);
    });
}
