//! Loom models of the pipe's rendezvous (run with `RUSTFLAGS="--cfg loom"`).
//!
//! Loom reports a deadlock for any lost wake-up (a reader or writer parked forever), and
//! the assertions check that every interleaving ends in one of Go's outcomes.
#![cfg(loom)]

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use gosync_core::sync::{thread, Arc};
use gosync_pipe::{pipe, ClosedPipe};

/// A write racing a reader and a close of the reader: either the read got the whole
/// write and the write succeeded, or the write failed with closed pipe and delivered
/// nothing; the read never sees part of it when the write reports failure.
#[test]
fn loom_pipe_write_vs_reader_close() {
    loom::model(|| {
        let (r, w) = pipe();
        let r = Arc::new(r);
        let writer = thread::spawn(move || (&w).write(&[1, 2]).map_err(|e| ClosedPipe::is(&e)));
        let reader = {
            let r = Arc::clone(&r);
            thread::spawn(move || {
                let mut buf = [0u8; 2];
                (&*r)
                    .read(&mut buf)
                    .map(|n| buf[..n].to_vec())
                    .map_err(|e| ClosedPipe::is(&e))
            })
        };
        r.close();
        let wrote = writer.join().unwrap();
        let read = reader.join().unwrap();
        match wrote {
            Ok(2) => assert_eq!(read, Ok(vec![1, 2])),
            Err(true) => assert_eq!(read, Err(true)),
            other => panic!("write returned {other:?}"),
        }
    });
}

/// A write racing a close of the writer end itself: the reader gets the whole write, or
/// EOF with the write failing with closed pipe.
#[test]
fn loom_pipe_write_vs_writer_close() {
    loom::model(|| {
        let (mut r, w) = pipe();
        let w = Arc::new(w);
        let writer = {
            let w = Arc::clone(&w);
            thread::spawn(move || (&*w).write(&[1, 2]).map_err(|e| ClosedPipe::is(&e)))
        };
        let reader = thread::spawn(move || {
            let mut buf = [0u8; 2];
            let n = r.read(&mut buf).unwrap();
            buf[..n].to_vec()
        });
        w.close();
        let wrote = writer.join().unwrap();
        let read = reader.join().unwrap();
        match wrote {
            Ok(2) => assert_eq!(read, vec![1, 2]),
            Err(true) => assert_eq!(read, Vec::<u8>::new()), // EOF
            other => panic!("write returned {other:?}"),
        }
    });
}

/// Two writers, one reader reading a byte at a time: the two writes arrive whole, one
/// after the other, never interleaved; both writers return.
#[test]
fn loom_pipe_two_writers_one_reader() {
    loom::model(|| {
        let (r, w) = pipe();
        let w = Arc::new(w);
        let writers: Vec<_> = [b'a', b'b']
            .into_iter()
            .map(|c| {
                let w = Arc::clone(&w);
                thread::spawn(move || (&*w).write(&[c, c]).unwrap())
            })
            .collect();
        let mut got = Vec::new();
        for _ in 0..4 {
            let mut b = [0u8; 1];
            assert_eq!((&r).read(&mut b).unwrap(), 1);
            got.push(b[0]);
        }
        assert!(got == b"aabb" || got == b"bbaa", "interleaved: {got:?}");
        for t in writers {
            assert_eq!(t.join().unwrap(), 2);
        }
    });
}

/// A reader consuming one write in two partial reads: the writer returns only after the
/// second, the bytes come in order, and the reader then sees EOF.
#[test]
fn loom_pipe_reader_partial_consumption() {
    loom::model(|| {
        let (mut r, w) = pipe();
        let writer = thread::spawn(move || {
            let n = (&w).write(&[1, 2, 3]).unwrap();
            drop(w);
            n
        });
        let mut b = [0u8; 2];
        assert_eq!(r.read(&mut b).unwrap(), 2);
        assert_eq!(b, [1, 2]);
        assert_eq!(r.read(&mut b).unwrap(), 1);
        assert_eq!(b[0], 3);
        assert_eq!(writer.join().unwrap(), 3);
        assert_eq!(r.read(&mut b).unwrap(), 0);
    });
}

/// Timed calls (under loom a timed wait times out at once, so every time-out path is
/// explored): a write that times out takes its buffer back having delivered exactly
/// what the reader got, and neither side hangs.
#[test]
fn loom_pipe_write_timeout_vs_read() {
    loom::model(|| {
        let (r, w) = pipe();
        let hour = Duration::from_secs(3600);
        let writer = thread::spawn(move || {
            let res = w.write_timeout(&[1, 2], hour).map_err(|e| e.kind());
            (res, w)
        });
        let mut b = [0u8; 1];
        let read = r.read_timeout(&mut b, hour).map_err(|e| e.kind());
        let (wrote, _w) = writer.join().unwrap();
        match wrote {
            Ok(1) => assert_eq!((read, b[0]), (Ok(1), 1)),
            Err(ErrorKind::TimedOut) => assert_eq!(read, Err(ErrorKind::TimedOut)),
            other => panic!("write returned {other:?}"),
        }
    });
}
