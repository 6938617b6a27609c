//! A misuse panic names the caller's line, not a line inside gosync-cond
//! (`#[track_caller]` through the waits). Its own test binary: it installs a panic hook,
//! which is process-wide.
#![cfg(not(loom))]

use gosync_cond::Cond;
use parking_lot::Mutex;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex as StdMutex};
use std::thread;

#[test]
fn two_mutexes_panic_points_at_the_caller() {
    let (m, c) = (Mutex::new(()), Cond::new());
    let location = Arc::new(StdMutex::new(None));
    let other = Mutex::new(());
    let (r, line) = thread::scope(|s| {
        s.spawn(|| c.wait(&mut m.lock()));
        while c.waiters() == 0 {
            thread::yield_now();
        }
        let seen = location.clone();
        panic::set_hook(Box::new(move |info| {
            *seen.lock().unwrap() = info.location().map(|l| (l.file().to_owned(), l.line()));
        }));
        let line = line!() + 1;
        let r = panic::catch_unwind(AssertUnwindSafe(|| c.wait(&mut other.lock())));
        let _ = panic::take_hook();
        // Before any assertion: a failing one must not leave the first waiter stuck.
        c.signal();
        (r, line)
    });
    assert!(r.is_err(), "a second mutex must panic");
    let (file, at) = location.lock().unwrap().clone().expect("the hook ran");
    assert!(file.ends_with("panic_location.rs"), "{file}:{at}");
    assert_eq!(at, line);
}
