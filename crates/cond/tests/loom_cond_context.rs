//! Loom model of `Cond::wait_context` (feature `context`; run with
//! `RUSTFLAGS="--cfg loom"`): a context cancel racing a signal.
#![cfg(all(loom, feature = "context"))]

use gosync_cond::Cond;
use gosync_context::{background, with_cancel, Error};
use gosync_core::sync::{thread, Arc, Mutex};

/// `main` waits with a context; A is a plain waiter that needs the one token; B adds
/// the token, signals once, then cancels main's context. If the signal chose main, main
/// must report `Ok` and hand the signal on; if main reports `Err`, it must have left
/// the queue before the signal, which then went to A. A cancelled wait that swallowed
/// the signal strands A: loom reports the deadlock.
#[test]
fn loom_cond_context_cancel_vs_signal() {
    loom::model(|| {
        let shared = Arc::new((Mutex::new(0u32), Cond::new()));
        let (ctx, cancel) = with_cancel(&background());
        let a = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let mut g = shared.0.lock();
                while *g == 0 {
                    shared.1.wait(&mut g);
                }
                *g -= 1;
            })
        };
        let b = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                *shared.0.lock() += 1;
                shared.1.signal();
                cancel.cancel();
            })
        };
        let mut g = shared.0.lock();
        match shared.1.wait_context(&ctx, &mut g) {
            // Chosen by the signal: pass it on to whoever needs the token.
            Ok(()) => shared.1.signal(),
            Err(e) => assert_eq!(e, Error::Canceled),
        }
        drop(g);
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(shared.1.waiters(), 0);
        assert_eq!(ctx.registrations(), 0);
    });
}
