//! Loom models of the pipe's context calls (feature `context`; run with
//! `RUSTFLAGS="--cfg loom"`).
#![cfg(all(loom, feature = "context"))]

use std::io::Read;

use gosync_context::{background, with_cancel, Error};
use gosync_core::sync::thread;
use gosync_pipe::pipe;

/// A read parked for a write that never comes, racing the cancel: the cancel's hook
/// always wakes it (loom reports a deadlock on a lost wake-up), and it fails with the
/// context's error, its hook deregistered.
#[test]
fn loom_pipe_context_read_parked_vs_cancel() {
    loom::model(|| {
        let (r, w) = pipe();
        let (ctx, cancel) = with_cancel(&background());
        let t = thread::spawn(move || cancel.cancel());
        let err = r.read_context(&mut [0; 4], &ctx).unwrap_err();
        let why = err.get_ref().and_then(|e| e.downcast_ref::<Error>());
        assert_eq!(why, Some(&Error::Canceled));
        t.join().unwrap();
        assert_eq!(ctx.registrations(), 0);
        drop(w);
    });
}

/// A context write of 4 bytes, a reader taking at most 2, and the cancel, in every
/// order: the write always returns (it can never drain), and the count it reports is
/// exactly what the reader got (0 or 2): a cancelled write retracts the rest.
#[test]
fn loom_pipe_context_write_vs_read_vs_cancel() {
    loom::model(|| {
        let (r, w) = pipe();
        let (ctx, cancel) = with_cancel(&background());
        let canceller = thread::spawn(move || cancel.cancel());
        let reader = thread::spawn(move || {
            let mut buf = [0; 2];
            let k = (&r).read(&mut buf).unwrap();
            (k, buf, r) // keeps the reader open until joined
        });
        let (n, result) = w.write_counted_context(b"abcd", &ctx);
        let why = result.unwrap_err();
        assert_eq!(
            why.get_ref().and_then(|e| e.downcast_ref::<Error>()),
            Some(&Error::Canceled)
        );
        w.close(); // a reader still waiting sees end of file
        let (k, buf, _r) = reader.join().unwrap();
        assert_eq!(n, k);
        assert_eq!(&buf[..k], &b"ab"[..k]);
        canceller.join().unwrap();
        assert_eq!(ctx.registrations(), 0);
    });
}
