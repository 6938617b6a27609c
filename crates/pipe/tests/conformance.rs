//! Conformance with Go's `io.Pipe`: one test per test of Go's `src/io/pipe_test.go`
//! (each names the Go test it mirrors), then the corners of `src/io/pipe.go` the Go tests
//! leave implicit (`readCloseError` / `writeCloseError`, first error wins, `n` on close,
//! zero-length writes, `ReadFull` on a short stream).
//!
//! Where the crate documents a difference from Go ("Differences from Go" in `lib.rs`),
//! the test checks the documented behaviour and says so:
//!
//! * Go's `EOF` is `Ok(0)`; `ErrClosedPipe` is a [`ClosedPipe`] (kind `BrokenPipe`).
//! * Go's `CloseWithError(nil)` is `close()` here (a Rust error cannot be nil).
//! * A write cut short after `n > 0` bytes returns `Ok(n)` and the *next* write fails;
//!   [`PipeWriter::write_counted`] returns Go's `(n, err)` pair.
//! * A zero-length write meets one read, but that read does not return `Ok(0)` (EOF in
//!   Rust): it keeps waiting for data. A read into an empty buffer does not wait.
#![cfg(not(loom))]

use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use gosync_pipe::{pipe, CloseError, ClosedPipe, PipeReader, PipeWriter};

/// A hang guard only: no assertion depends on timing (Miri runs ~1000x slower).
const HANG: Duration = Duration::from_secs(if cfg!(miri) { 600 } else { 20 });

/// Makes it likely that another thread is parked in its call before we act (Go's tests
/// sleep 1 ms for the same purpose). Every asserted outcome is valid either way.
fn let_it_block() {
    thread::sleep(Duration::from_millis(10));
}

/// Go's `ErrShortWrite`, the user error of Go's `pipeTests`.
#[derive(Debug, PartialEq)]
struct ShortWrite;
impl std::fmt::Display for ShortWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("short write")
    }
}
impl std::error::Error for ShortWrite {}

/// `TestPipeCloseError`'s two distinguishable user errors.
#[derive(Debug, PartialEq)]
struct TestError(u8);
impl std::fmt::Display for TestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "test error {}", self.0)
    }
}
impl std::error::Error for TestError {}

fn user<T: std::error::Error + 'static>(err: &io::Error) -> Option<&T> {
    CloseError::from_io(err)?.downcast_ref::<T>()
}

/// Runs `f` on a thread and returns its result, failing (not hanging) after [`HANG`].
fn within_hang_guard<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(HANG).expect("the call hung")
}

// ---------------------------------------------------------------------------------------
// src/io/pipe_test.go, test by test
// ---------------------------------------------------------------------------------------

/// Go's `TestPipe1`: a single write/read pair; the write reports the whole length.
#[test]
fn go_test_pipe1() {
    let (r, w) = pipe();
    thread::scope(|s| {
        let writer = s.spawn(|| (&w).write(b"hello, world"));
        let mut buf = [0u8; 64];
        let n = (&r).read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello, world");
        assert_eq!(writer.join().unwrap().unwrap(), 12);
    });
    r.close();
    w.close();
}

/// Go's `TestPipe2`: a sequence of writes of 5, 15, .., 45 bytes, each consumed by one
/// 64-byte read of exactly its length; after the writer closes, the final read is EOF.
#[test]
fn go_test_pipe2() {
    let (r, w) = pipe();
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut buf = [0u8; 64];
        loop {
            let n = (&r).read(&mut buf).expect("read");
            tx.send(n).unwrap();
            if n == 0 {
                break; // EOF
            }
        }
    });
    let buf = [7u8; 64];
    for i in 0..5 {
        let p = &buf[..5 + i * 10];
        assert_eq!((&w).write(p).unwrap(), p.len());
        assert_eq!(rx.recv_timeout(HANG).unwrap(), p.len());
    }
    w.close();
    assert_eq!(rx.recv_timeout(HANG).unwrap(), 0, "final read");
    reader.join().unwrap();
}

/// Go's `TestPipe3`: one 128-byte write read by reads of 1, 2, 4, .., 256 bytes: all but
/// the last two are full, the 128-byte read gets the 1 byte left, the 256-byte read gets
/// EOF (the writer closes after its write, which reports `(128, nil)`).
#[test]
fn go_test_pipe3() {
    let (r, w) = pipe();
    let wdat: Vec<u8> = (0..128).map(|i| i as u8).collect();
    let writer = thread::spawn(move || {
        let res = (&w).write(&wdat);
        w.close();
        res
    });
    let mut rdat = vec![0u8; 1024];
    let mut tot = 0;
    let mut n = 1;
    while n <= 256 {
        let nn = (&r).read(&mut rdat[tot..tot + n]).unwrap();
        let expect = match n {
            128 => 1,
            256 => 0, // EOF
            _ => n,
        };
        assert_eq!(nn, expect, "read of {n}");
        tot += nn;
        n *= 2;
    }
    assert_eq!(writer.join().unwrap().unwrap(), 128);
    assert_eq!(tot, 128);
    assert!(rdat[..128].iter().enumerate().all(|(i, &b)| b == i as u8));
}

/// How one of Go's `pipeTests` closes the other end.
#[derive(Clone, Copy, Debug)]
enum Close {
    /// `Close()`, and also Go's `CloseWithError(nil)`: a Rust error cannot be nil, so
    /// `close()` is that case here (documented: Go's nil error is `close()`).
    Plain,
    /// `CloseWithError(ErrShortWrite)`.
    WithError,
}

/// Go's `pipeTests`: async (close from another thread while the call is blocked) or
/// not (close before the call), times the two closes.
const PIPE_TESTS: [(bool, Close); 4] = [
    (true, Close::Plain),
    (true, Close::WithError),
    (false, Close::Plain),
    (false, Close::WithError),
];

/// Go's `TestPipeReadClose`: a read after / during the writer's close returns no bytes
/// and EOF (plain close, or `CloseWithError(nil)`) or the writer's error.
#[test]
fn go_test_pipe_read_close() {
    for (async_close, how) in PIPE_TESTS {
        let (r, w) = pipe();
        let close = move |w: &PipeWriter| match how {
            Close::Plain => w.close(),
            Close::WithError => w.close_with_error(ShortWrite),
        };
        let res = thread::scope(|s| {
            if async_close {
                s.spawn(|| {
                    let_it_block();
                    close(&w);
                });
            } else {
                close(&w);
            }
            (&r).read(&mut [0u8; 64])
        });
        match how {
            Close::Plain => assert_eq!(res.unwrap(), 0, "EOF ({async_close})"),
            Close::WithError => {
                let err = res.unwrap_err();
                assert_eq!(user::<ShortWrite>(&err), Some(&ShortWrite));
                assert_eq!(err.kind(), ErrorKind::Other);
            }
        }
        r.close();
    }
}

/// Go's `TestPipeReadClose2`: closing the reader during its own read ends the read with
/// `ErrClosedPipe` and no bytes.
#[test]
fn go_test_pipe_read_close2() {
    let (r, _w) = pipe();
    thread::scope(|s| {
        s.spawn(|| {
            let_it_block();
            r.close();
        });
        let err = (&r).read(&mut [0u8; 64]).unwrap_err();
        assert!(ClosedPipe::is(&err));
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    });
}

/// Go's `TestPipeWriteClose`: a write after / during the reader's close writes nothing
/// and fails with `ErrClosedPipe` (plain close) or the reader's error.
#[test]
fn go_test_pipe_write_close() {
    for (async_close, how) in PIPE_TESTS {
        let (r, w) = pipe();
        let close = move |r: &PipeReader| match how {
            Close::Plain => r.close(),
            Close::WithError => r.close_with_error(ShortWrite),
        };
        let (n, res) = thread::scope(|s| {
            if async_close {
                s.spawn(|| {
                    let_it_block();
                    close(&r);
                });
            } else {
                close(&r);
            }
            w.write_counted(b"hello, world")
        });
        assert_eq!(n, 0, "write on closed pipe returned {n} ({async_close})");
        let err = res.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
        match how {
            Close::Plain => assert!(ClosedPipe::is(&err)),
            Close::WithError => assert_eq!(user::<ShortWrite>(&err), Some(&ShortWrite)),
        }
        // And through `Write`, as Go's `WriteString` does.
        let err = (&w).write(b"hello, world").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
        w.close();
    }
}

/// Go's `TestPipeWriteClose2`: closing the writer during its own write ends the write
/// with `(0, ErrClosedPipe)`.
#[test]
fn go_test_pipe_write_close2() {
    let (_r, w) = pipe();
    thread::scope(|s| {
        s.spawn(|| {
            let_it_block();
            w.close();
        });
        let (n, res) = w.write_counted(&[0u8; 64]);
        assert_eq!(n, 0);
        assert!(ClosedPipe::is(&res.unwrap_err()));
    });
}

/// Go's `TestWriteEmpty`: an empty write followed by a close, against `ReadFull` of two
/// bytes: nothing hangs, and the short stream ends the read with (Rust) `UnexpectedEof`.
#[test]
fn go_test_write_empty() {
    within_hang_guard(|| {
        let (r, w) = pipe();
        let writer = thread::spawn(move || {
            let n = (&w).write(&[]).unwrap();
            w.close();
            n
        });
        let err = (&r).read_exact(&mut [0u8; 2]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
        r.close();
        assert_eq!(writer.join().unwrap(), 0);
    });
}

/// Go's `TestWriteNil`: Rust has no nil slice apart from the empty one, so the closest
/// analogue is a vectored write of no slices at all (and of only empty slices).
#[test]
fn go_test_write_nil() {
    for slices in [0, 3] {
        within_hang_guard(move || {
            let (r, w) = pipe();
            let writer = thread::spawn(move || {
                let empties = vec![IoSlice::new(&[]); slices];
                let n = (&w).write_vectored(&empties).unwrap();
                w.close();
                n
            });
            let err = (&r).read_exact(&mut [0u8; 2]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
            r.close();
            assert_eq!(writer.join().unwrap(), 0);
        });
    }
}

/// Go's `TestWriteAfterWriterClose`: "hello" is delivered, the write after the writer's
/// own close fails with `ErrClosedPipe`, and `ReadFull` of 100 bytes gets the 5 bytes
/// then `ErrUnexpectedEOF`. Rust's `read_exact` does not report the count, so the bytes
/// are checked with `take(100).read_to_end` and the error with `read_exact`.
#[test]
fn go_test_write_after_writer_close() {
    for use_read_exact in [false, true] {
        let (r, w) = pipe();
        let writer = thread::spawn(move || {
            assert_eq!((&w).write(b"hello").unwrap(), 5);
            w.close();
            (&w).write(b"world").unwrap_err()
        });
        if use_read_exact {
            let err = (&r).read_exact(&mut [0u8; 100]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
        } else {
            let mut got = Vec::new();
            (&r).take(100).read_to_end(&mut got).unwrap();
            assert_eq!(got, b"hello");
        }
        let write_err = writer.join().unwrap();
        assert!(ClosedPipe::is(&write_err), "{write_err:?}");
        assert_eq!(write_err.kind(), ErrorKind::BrokenPipe);
        r.close();
    }
}

/// Go's `TestPipeCloseError`: the first `CloseWithError` of each end wins; a later one
/// does not replace it. Go checks with `Write(nil)` / `Read(nil)`, which report the close
/// error at once.
#[test]
fn go_test_pipe_close_error() {
    let (r, w) = pipe();
    r.close_with_error(TestError(1));
    let err = (&w).write(&[]).unwrap_err();
    assert_eq!(user::<TestError>(&err), Some(&TestError(1)));
    r.close_with_error(TestError(2));
    let err = (&w).write(&[]).unwrap_err();
    assert_eq!(user::<TestError>(&err), Some(&TestError(1)));

    let (r, w) = pipe();
    w.close_with_error(TestError(1));
    let err = (&r).read(&mut []).unwrap_err();
    assert_eq!(user::<TestError>(&err), Some(&TestError(1)));
    w.close_with_error(TestError(2));
    let err = (&r).read(&mut []).unwrap_err();
    assert_eq!(user::<TestError>(&err), Some(&TestError(1)));
}

const INPUT: &[u8; 16] = b"0123456789abcdef";
const COUNT: usize = 8;
const READ_SIZE: usize = 2;

/// Go's `TestPipeConcurrent/Write`: 8 concurrent writers of the same 16 bytes, read 2 bytes
/// at a time: every read is full, and each write appears contiguously.
#[test]
fn go_test_pipe_concurrent_write() {
    let (r, w) = pipe();
    thread::scope(|s| {
        for _ in 0..COUNT {
            s.spawn(|| {
                thread::sleep(Duration::from_millis(1)); // as Go: invite the race
                assert_eq!((&w).write(INPUT).unwrap(), INPUT.len());
            });
        }
        let mut buf = vec![0u8; COUNT * INPUT.len()];
        for chunk in buf.chunks_mut(READ_SIZE) {
            assert_eq!((&r).read(chunk).unwrap(), READ_SIZE);
        }
        assert_eq!(buf, INPUT.repeat(COUNT));
    });
}

/// `TestPipeConcurrent/Write` made sharper: distinct payloads per writer, so an
/// interleaving inside a write cannot hide behind identical bytes.
#[test]
fn go_test_pipe_concurrent_write_distinct_payloads() {
    let (r, w) = pipe();
    thread::scope(|s| {
        for i in 0..COUNT as u8 {
            let w = &w;
            s.spawn(move || {
                let payload: Vec<u8> = INPUT.iter().map(|&b| b ^ (i << 5)).collect();
                assert_eq!((&*w).write(&payload).unwrap(), INPUT.len());
            });
        }
        let mut buf = vec![0u8; COUNT * INPUT.len()];
        for chunk in buf.chunks_mut(READ_SIZE) {
            assert_eq!((&r).read(chunk).unwrap(), READ_SIZE);
        }
        let mut writers: Vec<u8> = buf
            .chunks(INPUT.len())
            .map(|write| {
                let i = (write[0] ^ INPUT[0]) >> 5;
                let want: Vec<u8> = INPUT.iter().map(|&b| b ^ (i << 5)).collect();
                assert_eq!(write, &want[..], "a write was interleaved");
                i
            })
            .collect();
        writers.sort_unstable();
        assert_eq!(writers, (0..COUNT as u8).collect::<Vec<_>>());
    });
}

/// Go's `TestPipeConcurrent/Read`: 64 concurrent 2-byte readers against 8 writes of 16
/// bytes: every read is full, and the output is the input permuted in 2-byte groups.
#[test]
fn go_test_pipe_concurrent_read() {
    let (r, w) = pipe();
    let readers = COUNT * INPUT.len() / READ_SIZE;
    let mut got: Vec<[u8; READ_SIZE]> = thread::scope(|s| {
        let handles: Vec<_> = (0..readers)
            .map(|_| {
                s.spawn(|| {
                    thread::sleep(Duration::from_millis(1));
                    let mut buf = [0u8; READ_SIZE];
                    assert_eq!((&r).read(&mut buf).unwrap(), READ_SIZE);
                    buf
                })
            })
            .collect();
        for _ in 0..COUNT {
            assert_eq!((&w).write(INPUT).unwrap(), INPUT.len());
        }
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut want: Vec<[u8; READ_SIZE]> = INPUT
        .repeat(COUNT)
        .chunks(READ_SIZE)
        .map(|c| [c[0], c[1]])
        .collect();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want);
}

// ---------------------------------------------------------------------------------------
// src/io/pipe.go semantics the Go tests leave implicit
// ---------------------------------------------------------------------------------------

/// The state of one end in the close-precedence table.
#[derive(Clone, Copy, Debug, PartialEq)]
enum End {
    Open,
    Closed,
    Failed,
}

fn close_reader_end(r: &PipeReader, how: End) {
    match how {
        End::Open => {}
        End::Closed => r.close(),
        End::Failed => r.close_with_error(TestError(b'r')),
    }
}

fn close_writer_end(w: &PipeWriter, how: End) {
    match how {
        End::Open => {}
        End::Closed => w.close(),
        End::Failed => w.close_with_error(TestError(b'w')),
    }
}

/// What a call returns in Go's terms.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    Eof,
    ClosedPipe,
    User(u8),
}

fn outcome(res: io::Result<usize>) -> Outcome {
    match res {
        Ok(0) => Outcome::Eof,
        Ok(n) => panic!("unexpected Ok({n})"),
        Err(e) if ClosedPipe::is(&e) => {
            assert_eq!(e.kind(), ErrorKind::BrokenPipe);
            Outcome::ClosedPipe
        }
        Err(e) => Outcome::User(user::<TestError>(&e).expect("a user error").0),
    }
}

/// Go's `readCloseError`: the writer's error (EOF for a plain close) unless the reader
/// itself is closed, then `ErrClosedPipe`.
fn go_read_close_error(reader: End, writer: End) -> Outcome {
    match (reader, writer) {
        (End::Open, End::Closed) => Outcome::Eof,
        (End::Open, End::Failed) => Outcome::User(b'w'),
        _ => Outcome::ClosedPipe,
    }
}

/// Go's `writeCloseError`: the reader's error (`ErrClosedPipe` for a plain close) unless
/// the writer itself is closed, then `ErrClosedPipe`.
fn go_write_close_error(reader: End, writer: End) -> Outcome {
    match (writer, reader) {
        (End::Open, End::Failed) => Outcome::User(b'r'),
        _ => Outcome::ClosedPipe,
    }
}

/// Go's `readCloseError` / `writeCloseError` over every combination of end states and
/// both closing orders, for empty and non-empty reads and writes; then a second close of
/// each end (plain or with another error) changes nothing: the first cause of each end
/// wins.
#[test]
fn close_precedence_matches_go_read_and_write_close_error() {
    let states = [End::Open, End::Closed, End::Failed];
    for reader in states {
        for writer in states {
            if reader == End::Open && writer == End::Open {
                continue; // calls would block: nothing closed
            }
            for reader_first in [true, false] {
                let (r, w) = pipe();
                if reader_first {
                    close_reader_end(&r, reader);
                    close_writer_end(&w, writer);
                } else {
                    close_writer_end(&w, writer);
                    close_reader_end(&r, reader);
                }
                let case =
                    format!("reader {reader:?}, writer {writer:?}, reader first {reader_first}");
                let want_read = go_read_close_error(reader, writer);
                let want_write = go_write_close_error(reader, writer);
                assert_eq!(outcome((&r).read(&mut [0; 8])), want_read, "read: {case}");
                assert_eq!(outcome((&r).read(&mut [])), want_read, "empty read: {case}");
                assert_eq!(outcome((&w).write(b"x")), want_write, "write: {case}");
                assert_eq!(outcome((&w).write(&[])), want_write, "empty write: {case}");
                let (n, res) = w.write_counted(b"xyz");
                assert_eq!((n, outcome(res.map(|()| 0))), (0, want_write), "{case}");

                // Later closes never overwrite the first cause of an end.
                for again in [End::Closed, End::Failed] {
                    if reader != End::Open {
                        close_reader_end(&r, again);
                    }
                    if writer != End::Open {
                        close_writer_end(&w, again);
                    }
                    assert_eq!(outcome((&r).read(&mut [0; 8])), want_read, "again: {case}");
                    assert_eq!(outcome((&w).write(b"x")), want_write, "again: {case}");
                }
            }
        }
    }
}

/// Dropping an end is `Close()`: readers see EOF after the writer is dropped, writers see
/// `ErrClosedPipe` after the reader is dropped.
#[test]
fn dropping_an_end_is_a_plain_close() {
    let (r, w) = pipe();
    drop(w);
    assert_eq!(outcome((&r).read(&mut [0; 8])), Outcome::Eof);
    let (r, w) = pipe();
    drop(r);
    assert_eq!(outcome((&w).write(b"x")), Outcome::ClosedPipe);
}

/// Go's `Write` returns `n` with the close error when the pipe closes mid-write.
/// `write_counted` returns exactly that; `Write::write` returns `Ok(n)` and the next
/// write the error (documented difference: std's `Write` contract).
#[test]
fn write_returns_the_count_consumed_when_closed_mid_write() {
    for how in [End::Closed, End::Failed] {
        let (r, w) = pipe();
        thread::scope(|s| {
            let counted = s.spawn(|| w.write_counted(b"0123456789"));
            let mut buf = [0u8; 4];
            (&r).read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"0123");
            close_reader_end(&r, how);
            let (n, res) = counted.join().unwrap();
            assert_eq!(n, 4);
            let want = go_write_close_error(how, End::Open);
            assert_eq!(outcome(res.map(|()| 0)), want);
        });

        let (r, w) = pipe();
        thread::scope(|s| {
            let plain = s.spawn(|| (&w).write(b"0123456789"));
            (&r).read_exact(&mut [0u8; 4]).unwrap();
            close_reader_end(&r, how);
            assert_eq!(plain.join().unwrap().unwrap(), 4);
            assert_eq!(
                outcome((&w).write(b"456789")),
                go_write_close_error(how, End::Open)
            );
        });

        // `write_all` therefore ends with the close error, having delivered 4 bytes.
        let (r, w) = pipe();
        thread::scope(|s| {
            let all = s.spawn(|| (&w).write_all(b"0123456789"));
            (&r).read_exact(&mut [0u8; 4]).unwrap();
            close_reader_end(&r, how);
            let err = all.join().unwrap().unwrap_err();
            assert_eq!(outcome(Err(err)), go_write_close_error(how, End::Open));
        });
    }
}

/// A write interrupted by the writer's *own* close mid-write: Go returns
/// `(n, ErrClosedPipe)`; the reader has the first `n` bytes and then EOF.
#[test]
fn writer_close_mid_write_returns_count_and_closed_pipe() {
    let (r, w) = pipe();
    thread::scope(|s| {
        let counted = s.spawn(|| w.write_counted(b"0123456789"));
        (&r).read_exact(&mut [0u8; 3]).unwrap();
        w.close();
        let (n, res) = counted.join().unwrap();
        assert_eq!(n, 3);
        assert!(ClosedPipe::is(&res.unwrap_err()));
        assert_eq!(
            outcome((&r).read(&mut [0; 8])),
            Outcome::Eof,
            "rest abandoned"
        );
    });
}

/// Go's zero-length write still rendezvous with a reader: it does not return before a
/// read meets it, and then returns `(0, nil)`. Documented difference: the read it meets
/// keeps waiting for data instead of returning `(0, nil)`, and gets the next write.
#[test]
fn zero_length_write_waits_for_a_reader() {
    let (r, w) = pipe();
    thread::scope(|s| {
        let empty = s.spawn(|| (&w).write(&[]));
        let_it_block();
        assert!(
            !empty.is_finished(),
            "an empty write returned with no reader"
        );
        let reader = s.spawn(|| {
            let mut buf = [0u8; 8];
            let n = (&r).read(&mut buf).unwrap();
            buf[..n].to_vec()
        });
        assert_eq!(empty.join().unwrap().unwrap(), 0);
        assert_eq!((&w).write(b"data").unwrap(), 4);
        assert_eq!(reader.join().unwrap(), b"data");
    });
}

/// Documented difference: Go's `Read(nil)` on an open pipe waits for a write (and
/// consumes a zero-length one); here a read into an empty buffer returns `Ok(0)` at once.
#[test]
fn empty_read_does_not_wait() {
    let (r, _w) = pipe();
    assert_eq!((&r).read(&mut []).unwrap(), 0);
}

/// `io.ReadFull` on a short stream: Go returns `ErrUnexpectedEOF` after a partial read
/// and `EOF` after none; Rust's `read_exact` returns `UnexpectedEof` for both. A writer's
/// error mid-stream is returned as is.
#[test]
fn read_exact_on_a_short_stream() {
    // Partial, then EOF.
    let (r, w) = pipe();
    thread::scope(|s| {
        s.spawn(move || {
            (&w).write_all(b"abc").unwrap();
        }); // `w` dropped: closed
        let err = (&r).read_exact(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
    });
    // Nothing, then EOF.
    let (r, w) = pipe();
    w.close();
    let err = (&r).read_exact(&mut [0u8; 8]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
    // Partial, then the writer's error.
    let (r, w) = pipe();
    thread::scope(|s| {
        s.spawn(|| {
            (&w).write_all(b"abc").unwrap();
            w.close_with_error(ShortWrite);
        });
        let err = (&r).read_exact(&mut [0u8; 8]).unwrap_err();
        assert_eq!(user::<ShortWrite>(&err), Some(&ShortWrite));
    });
    // Exactly enough: no error, and the next read is EOF.
    let (r, w) = pipe();
    thread::scope(|s| {
        s.spawn(move || (&w).write_all(b"abcdefgh").unwrap());
        let mut buf = [0u8; 8];
        (&r).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"abcdefgh");
        assert_eq!((&r).read(&mut buf).unwrap(), 0);
    });
}

/// Go's `io.ReadAll` / `io.Copy` end cleanly at EOF; here `read_to_end` and
/// `std::io::copy` do.
#[test]
fn read_to_end_and_copy_end_at_eof() {
    let (r, w) = pipe();
    let (r2, w2) = pipe();
    thread::scope(|s| {
        s.spawn(move || {
            for chunk in [&b"one "[..], b"two ", b"three"] {
                (&w).write_all(chunk).unwrap();
            }
        });
        s.spawn(move || {
            let copied = io::copy(&mut &r, &mut &w2).unwrap();
            assert_eq!(copied, 13);
        });
        let mut out = Vec::new();
        (&r2).read_to_end(&mut out).unwrap();
        assert_eq!(out, b"one two three");
    });
}

/// A user error whose kind is `Interrupted` must not make std's retry loops
/// (`read_exact`, `read_to_end`, `write_all`) spin forever on the sticky close error: the
/// error reaches the caller (with another kind), and the user's error is still there.
#[test]
fn interrupted_close_error_does_not_hang_retry_loops() {
    let err = within_hang_guard(|| {
        let (r, w) = pipe();
        w.close_with_error(io::Error::new(ErrorKind::Interrupted, "stop"));
        (&r).read_to_end(&mut Vec::new()).unwrap_err()
    });
    assert_ne!(err.kind(), ErrorKind::Interrupted);
    let inner = user::<io::Error>(&err).expect("the user's error");
    assert_eq!(inner.kind(), ErrorKind::Interrupted);

    let err = within_hang_guard(|| {
        let (r, w) = pipe();
        w.close_with_error(io::Error::new(ErrorKind::Interrupted, "stop"));
        (&r).read_exact(&mut [0; 4]).unwrap_err()
    });
    assert_ne!(err.kind(), ErrorKind::Interrupted);

    let err = within_hang_guard(|| {
        let (r, w) = pipe();
        r.close_with_error(io::Error::new(ErrorKind::Interrupted, "stop"));
        (&w).write_all(b"data").unwrap_err()
    });
    assert_ne!(err.kind(), ErrorKind::Interrupted);
    assert_eq!(user::<io::Error>(&err).unwrap().to_string(), "stop");
}

/// Go: `CloseWithError(ErrClosedPipe)` makes the other end's calls fail with an error
/// equal to `ErrClosedPipe`; here `ClosedPipe::is` recognises it too.
#[test]
fn close_with_closed_pipe_error_is_recognised() {
    let (r, w) = pipe();
    r.close_with_error(ClosedPipe);
    let err = (&w).write(b"x").unwrap_err();
    assert!(ClosedPipe::is(&err));
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);

    let (r, w) = pipe();
    w.close_with_error(ClosedPipe);
    let err = (&r).read(&mut [0; 4]).unwrap_err();
    assert!(ClosedPipe::is(&err));
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
}
