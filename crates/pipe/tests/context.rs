//! Reads and writes a `gosync_context::Context` can cancel (feature `context`).
#![cfg(all(not(loom), feature = "context"))]

use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use gosync_context::{
    background, background_with_clock, with_cancel, with_timeout, Context, Error,
};
use gosync_core::clock::FakeClock;
use gosync_pipe::{pipe, ClosedPipe};

/// A hang guard only (Miri runs ~1000x slower).
const HANG: Duration = Duration::from_secs(if cfg!(miri) { 600 } else { 10 });

/// The context error inside an `io::Error` from a context call.
fn ctx_error(err: &io::Error) -> Option<Error> {
    err.get_ref()?.downcast_ref::<Error>().copied()
}

/// Spins (yielding) until a call has armed its wake-up hook on `ctx`, i.e. it is about
/// to park or parked. A generous hang guard only.
fn until_parked(ctx: &Context) {
    let give_up = Instant::now() + HANG;
    while ctx.registrations() == 0 {
        assert!(Instant::now() < give_up, "the call never parked");
        thread::yield_now();
    }
}

/// Spins until a write is offered to readers (the reader's `Debug` shows it).
fn until_write_pending(r: &gosync_pipe::PipeReader) {
    let give_up = Instant::now() + HANG;
    while !format!("{r:?}").contains("write_pending: true") {
        assert!(Instant::now() < give_up, "no write was offered");
        thread::yield_now();
    }
}

#[test]
fn cancel_unblocks_a_parked_read() {
    let (r, w) = pipe();
    let (ctx, cancel) = with_cancel(&background());
    thread::scope(|s| {
        let t = s.spawn(|| r.read_context(&mut [0; 8], &ctx));
        until_parked(&ctx);
        cancel.cancel();
        let err = t.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Other);
        assert_eq!(ctx_error(&err), Some(Error::Canceled));
        assert_eq!(err.to_string(), "context canceled");
    });
    assert_eq!(ctx.registrations(), 0, "the hook left with the call");
    // The pipe is unaffected.
    thread::scope(|s| {
        s.spawn(|| (&w).write_all(b"after"));
        let mut buf = [0; 5];
        (&r).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"after");
    });
}

#[test]
fn done_context_fails_a_read_at_once_but_takes_a_waiting_write() {
    let (r, w) = pipe();
    let (ctx, cancel) = with_cancel(&background());
    cancel.cancel();
    let err = r.read_context(&mut [0; 4], &ctx).unwrap_err();
    assert_eq!(ctx_error(&err), Some(Error::Canceled));
    // A write already offered is read: the context only stops a read that would wait.
    thread::scope(|s| {
        let t = s.spawn(|| (&w).write(b"ready"));
        until_write_pending(&r);
        let mut buf = [0; 8];
        assert_eq!(r.read_context(&mut buf, &ctx).unwrap(), 5);
        assert_eq!(&buf[..5], b"ready");
        assert_eq!(t.join().unwrap().unwrap(), 5);
    });
    assert_eq!(ctx.registrations(), 0);
}

#[test]
fn deadline_is_timed_out_with_the_context_error_inside() {
    let fake = FakeClock::new();
    let root = background_with_clock(fake.clock());
    let (ctx, _cancel) = with_timeout(&root, Duration::from_secs(30));
    let (r, _w) = pipe();
    thread::scope(|s| {
        let t = s.spawn(|| r.read_context(&mut [0; 8], &ctx));
        until_parked(&ctx);
        // The context's timer thread sleeps on the fake clock until the deadline.
        assert!(fake.block_until_waiters(1, HANG));
        fake.advance(Duration::from_secs(30));
        let err = t.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert_eq!(ctx_error(&err), Some(Error::DeadlineExceeded));
    });
}

#[test]
fn cancel_unblocks_a_parked_write_and_retracts_it() {
    let (r, w) = pipe();
    let (ctx, cancel) = with_cancel(&background());
    thread::scope(|s| {
        let t = s.spawn(|| w.write_context(b"never read", &ctx));
        until_parked(&ctx);
        cancel.cancel();
        let err = t.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Other);
        assert_eq!(ctx_error(&err), Some(Error::Canceled));
        // Nothing of the cancelled write reaches a later read.
        s.spawn(|| (&w).write_all(b"next"));
        let mut buf = [0; 16];
        assert_eq!((&r).read(&mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"next");
    });
    assert_eq!(ctx.registrations(), 0);
}

#[test]
fn write_cancelled_midway_returns_the_count_delivered() {
    let (r, w) = pipe();
    for counted in [false, true] {
        let (ctx, cancel) = with_cancel(&background());
        thread::scope(|s| {
            let t = s.spawn(|| {
                if counted {
                    w.write_counted_context(b"hello", &ctx)
                } else {
                    match w.write_context(b"hello", &ctx) {
                        Ok(n) => (n, Ok(())),
                        Err(e) => (0, Err(e)),
                    }
                }
            });
            let mut two = [0; 2];
            (&r).read_exact(&mut two).unwrap();
            assert_eq!(&two, b"he");
            until_parked(&ctx);
            cancel.cancel();
            let (n, result) = t.join().unwrap();
            assert_eq!(n, 2);
            if counted {
                assert_eq!(ctx_error(&result.unwrap_err()), Some(Error::Canceled));
            } else {
                result.unwrap(); // `Ok(2)`: std's contract, as for a timeout
            }
        });
    }
}

#[test]
fn cancel_unblocks_a_writer_waiting_for_the_slot() {
    let (r, w) = pipe();
    let (ctx, cancel) = with_cancel(&background());
    thread::scope(|s| {
        let first = s.spawn(|| (&w).write(b"first"));
        until_write_pending(&r); // `first` holds the write slot
        let second = s.spawn(|| w.write_context(b"second", &ctx));
        until_parked(&ctx);
        cancel.cancel();
        assert_eq!(
            ctx_error(&second.join().unwrap().unwrap_err()),
            Some(Error::Canceled)
        );
        let mut buf = [0; 16];
        assert_eq!((&r).read(&mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"first");
        assert_eq!(first.join().unwrap().unwrap(), 5);
    });
}

#[test]
fn close_is_reported_as_usual() {
    let (r, w) = pipe();
    let (ctx, _cancel) = with_cancel(&background());
    thread::scope(|s| {
        let t = s.spawn(|| w.write_context(b"x", &ctx));
        until_parked(&ctx);
        r.close();
        let err = t.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
        assert!(ClosedPipe::is(&err));
    });
    let (r, w) = pipe();
    w.close();
    assert_eq!(r.read_context(&mut [0; 4], &ctx).unwrap(), 0); // end of file
}

#[test]
fn adapters_are_not_retried_after_a_cancel() {
    let (r, w) = pipe();
    let (ctx, cancel) = with_cancel(&background());
    thread::scope(|s| {
        let writer = s.spawn(|| (&w).write_all(b"half"));
        let t = s.spawn(|| {
            let mut buf = [0; 8];
            r.with_context(&ctx).read_exact(&mut buf)
        });
        // The pipe is synchronous: the write returns once `read_exact` has the 4 bytes.
        // (Cancelling before that would strand the writer: the reader would give up
        // without reading them.) Then `read_exact` parks for the rest.
        writer.join().unwrap().unwrap();
        until_parked(&ctx);
        cancel.cancel();
        let err = t.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Other);
        assert_eq!(ctx_error(&err), Some(Error::Canceled));
    });
    let (ctx, cancel) = with_cancel(&background());
    thread::scope(|s| {
        let t = s.spawn(|| {
            let mut cw = w.with_context(&ctx);
            let n = cw.write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")])?;
            assert_eq!(n, 4); // one write of both slices
            cw.write_all(b"stuck")
        });
        let mut four = [0; 4];
        (&r).read_exact(&mut four).unwrap();
        assert_eq!(&four, b"abcd");
        until_parked(&ctx);
        cancel.cancel();
        assert_eq!(
            ctx_error(&t.join().unwrap().unwrap_err()),
            Some(Error::Canceled)
        );
    });
}

#[test]
fn io_copy_through_the_adapters() {
    let (r, w) = pipe();
    let ctx = background();
    // Under Miri still more than one of `io::copy`'s 8 KiB chunks.
    const LEN: u32 = if cfg!(miri) { 20_000 } else { 100_000 };
    let data: Vec<u8> = (0..LEN).map(|i| i as u8).collect();
    thread::scope(|s| {
        s.spawn(|| {
            let mut src = &data[..];
            io::copy(&mut src, &mut w.with_context(&ctx)).unwrap();
            w.close();
        });
        let mut out = Vec::new();
        r.with_context(&ctx).read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    });
    assert!(format!("{:?}", r.with_context(&ctx)).starts_with("ContextReader"));
}

/// A reader, a context writer and a cancel race, round after round: the count the
/// write reports is exactly what the reader got, and nothing is left registered.
#[test]
fn write_racing_cancel_delivers_exactly_the_reported_count() {
    const ROUNDS: usize = if cfg!(miri) { 50 } else { 200 };
    for _ in 0..ROUNDS {
        let (r, w) = pipe();
        let (ctx, cancel) = with_cancel(&background());
        let (n, got) = thread::scope(|s| {
            s.spawn(|| cancel.cancel());
            let reader = s.spawn(|| {
                let mut got = Vec::new();
                let mut buf = [0; 3];
                loop {
                    match (&r).read(&mut buf) {
                        Ok(0) | Err(_) => break got,
                        Ok(k) => got.extend_from_slice(&buf[..k]),
                    }
                }
            });
            let (n, _) = w.write_counted_context(b"0123456789", &ctx);
            w.close();
            (n, reader.join().unwrap())
        });
        assert_eq!(got, &b"0123456789"[..n]);
        assert_eq!(ctx.registrations(), 0);
    }
}
