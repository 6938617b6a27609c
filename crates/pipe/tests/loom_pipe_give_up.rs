//! Adversarial loom models of the pipe's timed and cancellable calls: the caller gives up
//! and then does the next legal thing (writes or reads again) while the other side races
//! it (run with `RUSTFLAGS="--cfg loom"`). Under loom a timed wait times out at once, so
//! every give-up point is explored.
#![cfg(loom)]

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use gosync_core::sync::thread;
use gosync_pipe::pipe;

const HOUR: Duration = Duration::from_secs(3600);

/// A write that times out, then writes the rest of its data again with a plain write,
/// racing a reader that reads byte by byte: the reader gets every byte exactly once and
/// in order (a give-up must retract exactly what was not delivered, and leave no lent
/// slice behind for the next write to collide with).
#[test]
fn loom_pipe_write_timeout_then_write_again() {
    loom::model(|| {
        let (r, w) = pipe();
        let data = [1u8, 2];
        let writer = thread::spawn(move || {
            let sent = match w.write_timeout(&data, HOUR) {
                Ok(n) => n,
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::TimedOut);
                    0
                }
            };
            (&w).write_all(&data[sent..]).unwrap();
        });
        let mut got = Vec::new();
        while got.len() < 2 {
            let mut b = [0u8; 1];
            let n = (&r).read(&mut b).unwrap();
            got.extend_from_slice(&b[..n]);
        }
        assert_eq!(got, data);
        writer.join().unwrap();
        let mut b = [0u8; 1];
        assert_eq!(
            (&r).read(&mut b).unwrap(),
            0,
            "EOF after the writer is gone"
        );
    });
}

/// A read that times out, then reads again with a plain read, racing a writer: the
/// second read gets what the write delivered after the give-up, and the write returns
/// having delivered every byte exactly once.
#[test]
fn loom_pipe_read_timeout_then_read_again() {
    loom::model(|| {
        let (r, w) = pipe();
        let writer = thread::spawn(move || (&w).write(&[7, 8]).unwrap());
        let mut got = Vec::new();
        let mut b = [0u8; 2];
        match r.read_timeout(&mut b, HOUR) {
            Ok(n) => got.extend_from_slice(&b[..n]),
            Err(e) => assert_eq!(e.kind(), ErrorKind::TimedOut),
        }
        while got.len() < 2 {
            let n = (&r).read(&mut b).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&b[..n]);
        }
        assert_eq!(got, [7, 8]);
        assert_eq!(writer.join().unwrap(), 2);
    });
}
