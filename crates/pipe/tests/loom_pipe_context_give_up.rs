//! Adversarial loom model of the pipe's context calls: a write cancelled by its context
//! is followed by a plain write of the rest, racing the reader and the cancel (feature
//! `context`; run with `RUSTFLAGS="--cfg loom"`).
#![cfg(all(loom, feature = "context"))]

use std::io::{Read, Write};

use gosync_context::{background, with_cancel};
use gosync_core::sync::thread;
use gosync_pipe::pipe;

/// Every byte reaches the reader exactly once and in order, whether the cancel lands
/// before, during or after the context write, and the cancelled call leaves no hook
/// registered.
#[test]
fn loom_pipe_context_write_cancelled_then_write_again() {
    loom::model(|| {
        let (r, w) = pipe();
        let (ctx, cancel) = with_cancel(&background());
        let canceller = thread::spawn(move || cancel.cancel());
        let writer = thread::spawn(move || {
            let data = [1u8, 2];
            let sent = w.write_context(&data, &ctx).unwrap_or(0);
            assert_eq!(ctx.registrations(), 0);
            (&w).write_all(&data[sent..]).unwrap();
        });
        let mut got = Vec::new();
        let mut b = [0u8; 1]; // a byte at a time, so a cancel can split the write
        while got.len() < 2 {
            let n = (&r).read(&mut b).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&b[..n]);
        }
        assert_eq!(got, [1, 2]);
        canceller.join().unwrap();
        writer.join().unwrap();
    });
}
