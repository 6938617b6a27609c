//! Go's `io` pipe test scenarios, plus the Rust extras (timeouts, vectored writes, errors).
#![cfg(not(loom))]

use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::Duration;

use gosync_core::clock::FakeClock;
use gosync_pipe::{pipe, pipe_with_clock, CloseError, ClosedPipe, PipeReader, PipeWriter};

/// A hang guard for tests that wait on another thread (Miri runs ~1000x slower).
const HANG: Duration = Duration::from_secs(if cfg!(miri) { 600 } else { 20 });

#[derive(Debug, PartialEq)]
struct TestError(&'static str);
impl std::fmt::Display for TestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for TestError {}

fn user_error(err: &io::Error) -> Option<&TestError> {
    CloseError::from_io(err)?.downcast_ref::<TestError>()
}

/// Lets the other thread get into its blocking call. Only for making the "during a
/// blocked call" scenarios likely; every outcome asserted is valid either way.
fn let_it_block() {
    thread::sleep(Duration::from_millis(20));
}

#[test]
fn single_write_read() {
    let (mut r, w) = pipe();
    let t = thread::spawn(move || (&w).write(b"hello, world").unwrap());
    let mut buf = [0u8; 64];
    let n = r.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello, world");
    assert_eq!(t.join().unwrap(), 12);
}

#[test]
fn several_writes_each_read_in_one_read() {
    let (mut r, mut w) = pipe();
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut buf = [0u8; 64];
        loop {
            let n = r.read(&mut buf).unwrap();
            tx.send(buf[..n].to_vec()).unwrap();
            if n == 0 {
                return;
            }
        }
    });
    for i in 0..5u8 {
        let data = vec![i; 5 + usize::from(i) * 10];
        assert_eq!(w.write(&data).unwrap(), data.len());
        // The write returned, so the reader has it: exactly one read, whole.
        assert_eq!(rx.recv_timeout(HANG).unwrap(), data);
    }
    drop(w);
    assert_eq!(rx.recv_timeout(HANG).unwrap(), Vec::<u8>::new()); // EOF
    reader.join().unwrap();
}

#[test]
fn large_write_read_by_growing_reads_then_eof() {
    let (mut r, w) = pipe();
    let data: Vec<u8> = (0..128u8).collect();
    let writer = {
        let data = data.clone();
        thread::spawn(move || {
            let n = (&w).write(&data).unwrap();
            w.close();
            n
        })
    };
    let mut got = Vec::new();
    let mut size = 1;
    loop {
        let mut buf = vec![0u8; size];
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        // Each read is full until the write runs out.
        assert_eq!(n, size.min(128 - got.len()));
        got.extend_from_slice(&buf[..n]);
        size *= 2;
    }
    assert_eq!(got, data);
    assert_eq!(writer.join().unwrap(), 128);
    assert_eq!(r.read(&mut [0; 4]).unwrap(), 0); // EOF stays
}

/// How the writer is closed in the close scenarios.
#[derive(Clone, Copy, Debug)]
enum How {
    Plain,
    Error,
}

fn close_writer(w: &PipeWriter, how: How) {
    match how {
        How::Plain => w.close(),
        How::Error => w.close_with_error(TestError("writer failed")),
    }
}

fn close_reader(r: &PipeReader, how: How) {
    match how {
        How::Plain => r.close(),
        How::Error => r.close_with_error(TestError("reader failed")),
    }
}

fn check_read_after_writer_close(res: io::Result<usize>, how: How) {
    match how {
        How::Plain => assert_eq!(res.unwrap(), 0),
        How::Error => {
            let err = res.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Other);
            assert_eq!(user_error(&err), Some(&TestError("writer failed")));
        }
    }
}

fn check_write_after_reader_close(res: io::Result<usize>, how: How) {
    let err = res.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    match how {
        How::Plain => assert!(ClosedPipe::is(&err)),
        How::Error => assert_eq!(user_error(&err), Some(&TestError("reader failed"))),
    }
}

#[test]
fn writer_close_before_and_during_blocked_read() {
    for how in [How::Plain, How::Error] {
        // Before.
        let (r, w) = pipe();
        close_writer(&w, how);
        check_read_after_writer_close((&r).read(&mut [0; 8]), how);
        // During.
        let (r, w) = pipe();
        thread::scope(|s| {
            let t = s.spawn(|| (&r).read(&mut [0; 8]));
            let_it_block();
            close_writer(&w, how);
            check_read_after_writer_close(t.join().unwrap(), how);
        });
    }
}

#[test]
fn reader_close_before_and_during_blocked_write() {
    for how in [How::Plain, How::Error] {
        let (r, w) = pipe();
        close_reader(&r, how);
        check_write_after_reader_close((&w).write(b"hello, world"), how);
        let (r, w) = pipe();
        thread::scope(|s| {
            let t = s.spawn(|| (&w).write(b"hello, world"));
            let_it_block();
            close_reader(&r, how);
            check_write_after_reader_close(t.join().unwrap(), how);
        });
    }
}

#[test]
fn reader_close_during_own_blocked_read() {
    let (r, _w) = pipe();
    thread::scope(|s| {
        let t = s.spawn(|| (&r).read(&mut [0; 8]));
        let_it_block();
        r.close();
        assert!(ClosedPipe::is(&t.join().unwrap().unwrap_err()));
    });
}

#[test]
fn writer_close_during_own_blocked_write() {
    let (_r, w) = pipe();
    thread::scope(|s| {
        let t = s.spawn(|| (&w).write(&[0; 64]));
        let_it_block();
        w.close();
        let err = t.join().unwrap().unwrap_err();
        assert!(ClosedPipe::is(&err));
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    });
}

#[test]
fn write_after_writer_close() {
    let (mut r, w) = pipe();
    let writer = thread::spawn(move || {
        (&w).write_all(b"hello").unwrap();
        w.close();
        (&w).write(b"world")
    });
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"hello");
    assert!(ClosedPipe::is(&writer.join().unwrap().unwrap_err()));
}

#[test]
fn read_after_reader_close() {
    let (r, w) = pipe();
    r.close();
    assert!(ClosedPipe::is(&(&r).read(&mut [0; 4]).unwrap_err()));
    assert!(ClosedPipe::is(&(&r).read(&mut []).unwrap_err()));
    drop(w);
}

#[test]
fn first_error_wins() {
    let (r, w) = pipe();
    w.close_with_error(TestError("first"));
    // The writer's own writes: closed pipe.
    assert!(ClosedPipe::is(&(&w).write(&[]).unwrap_err()));
    w.close_with_error(TestError("second"));
    w.close();
    // An empty read reports the close error too (as Go's Read(nil)).
    let err = (&r).read(&mut []).unwrap_err();
    assert_eq!(user_error(&err), Some(&TestError("first")));
    let err = (&r).read(&mut [0; 4]).unwrap_err();
    assert_eq!(user_error(&err), Some(&TestError("first")));
    assert_eq!(err.to_string(), "first");
    // Once the reader is closed too, both sides see closed pipe.
    r.close_with_error(TestError("reader"));
    assert!(ClosedPipe::is(&(&r).read(&mut [0; 4]).unwrap_err()));
    assert!(ClosedPipe::is(&(&w).write(b"x").unwrap_err()));

    let (r, w) = pipe();
    r.close_with_error(TestError("first"));
    r.close_with_error(TestError("second"));
    drop(r); // drop closes again: still ignored
    let err = (&w).write(b"x").unwrap_err();
    assert_eq!(user_error(&err), Some(&TestError("first")));
}

#[test]
fn io_error_kind_is_preserved() {
    let (r, w) = pipe();
    w.close_with_error(io::Error::new(ErrorKind::ConnectionReset, "peer reset"));
    let err = (&r).read(&mut [0; 4]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    let inner = CloseError::from_io(&err).unwrap();
    assert_eq!(inner.get_ref().to_string(), "peer reset");
    assert!(inner.downcast_ref::<io::Error>().is_some());
    // The same error is shared by every report.
    let again = (&r).read(&mut [0; 4]).unwrap_err();
    assert!(Arc::ptr_eq(
        &inner.arc(),
        &CloseError::from_io(&again).unwrap().arc()
    ));
}

#[test]
fn empty_and_nil_writes_do_not_hang() {
    for empty in [&b""[..], &[][..]] {
        let (mut r, w) = pipe();
        let writer = thread::spawn(move || {
            let n = (&w).write(empty).unwrap();
            w.close();
            n
        });
        let mut b = [0u8; 2];
        // The empty write meets this read, which then sees EOF.
        assert_eq!(
            r.read_exact(&mut b).unwrap_err().kind(),
            ErrorKind::UnexpectedEof
        );
        assert_eq!(writer.join().unwrap(), 0);
    }
}

#[test]
fn empty_write_waits_for_a_reader() {
    let (r, w) = pipe();
    let err = w.write_timeout(&[], Duration::from_millis(5)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    thread::scope(|s| {
        let t = s.spawn(|| (&w).write(&[]));
        // The read consumes the empty write and then the real one.
        let reader = s.spawn(|| {
            let mut b = [0u8; 4];
            let n = (&r).read(&mut b).unwrap();
            b[..n].to_vec()
        });
        assert_eq!(t.join().unwrap().unwrap(), 0);
        (&w).write_all(b"data").unwrap();
        assert_eq!(reader.join().unwrap(), b"data");
    });
}

#[test]
fn empty_read_returns_at_once() {
    let (r, _w) = pipe();
    assert_eq!((&r).read(&mut []).unwrap(), 0);
}

#[test]
fn write_all_and_read_to_end() {
    let (mut r, mut w) = pipe();
    // Under Miri still several chunks (the last one short) and a growing read buffer.
    const LEN: u32 = if cfg!(miri) { 30_000 } else { 1_000_000 };
    let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let writer = {
        let data = data.clone();
        thread::spawn(move || {
            for chunk in data.chunks(7919) {
                w.write_all(chunk).unwrap();
            }
        })
    };
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert_eq!(got, data);
}

#[test]
fn read_exact_short_is_unexpected_eof() {
    let (mut r, w) = pipe();
    let writer = thread::spawn(move || {
        (&w).write_all(b"abc").unwrap();
    });
    let mut buf = [0u8; 8];
    assert_eq!(
        r.read_exact(&mut buf).unwrap_err().kind(),
        ErrorKind::UnexpectedEof
    );
    writer.join().unwrap();
}

#[test]
fn vectored_write_is_one_write() {
    let (mut r, w) = pipe();
    let writer = thread::spawn(move || {
        let bufs = [
            IoSlice::new(b"ab"),
            IoSlice::new(b""),
            IoSlice::new(b"cde"),
            IoSlice::new(b"f"),
        ];
        let n = (&w).write_vectored(&bufs).unwrap();
        (&w).write_all(b"next").unwrap();
        n
    });
    let mut buf = [0u8; 64];
    let n = r.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"abcdef"); // one read spans the slices of one write
    let n = r.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"next");
    assert_eq!(writer.join().unwrap(), 6);
}

#[test]
fn reader_close_mid_write_returns_count_consumed() {
    let (r, w) = pipe();
    thread::scope(|s| {
        let t = s.spawn(|| (&w).write(&[7u8; 100]));
        let mut buf = [0u8; 30];
        (&r).read_exact(&mut buf).unwrap();
        r.close();
        // Go returns (30, ErrClosedPipe); Rust's Write returns Ok(30), then the error.
        assert_eq!(t.join().unwrap().unwrap(), 30);
        assert!(ClosedPipe::is(&(&w).write(b"x").unwrap_err()));
    });
}

#[test]
fn write_counted_reports_n_and_error_like_go() {
    // Reader closed before: (0, error), as Go's TestPipeWriteClose.
    let (r, w) = pipe();
    r.close_with_error(TestError("reader failed"));
    let (n, res) = w.write_counted(b"hello, world");
    assert_eq!(n, 0);
    assert_eq!(
        user_error(&res.unwrap_err()),
        Some(&TestError("reader failed"))
    );
    // Cut short after 5 bytes by a writer close: (5, closed pipe) in one call.
    let (r, w) = pipe();
    thread::scope(|s| {
        let t = s.spawn(|| w.write_counted(b"hello, world"));
        (&r).read_exact(&mut [0; 5]).unwrap();
        w.close();
        let (n, res) = t.join().unwrap();
        assert_eq!(n, 5);
        assert!(ClosedPipe::is(&res.unwrap_err()));
    });
    // Complete: (len, Ok).
    let (r, w) = pipe();
    thread::scope(|s| {
        let t = s.spawn(|| w.write_counted(b"abc"));
        (&r).read_exact(&mut [0; 3]).unwrap();
        let (n, res) = t.join().unwrap();
        assert_eq!(n, 3);
        res.unwrap();
    });
}

#[test]
fn writer_close_mid_write_abandons_the_rest() {
    let (r, w) = pipe();
    thread::scope(|s| {
        let t = s.spawn(|| (&w).write(&[7u8; 100]));
        let mut buf = [0u8; 30];
        (&r).read_exact(&mut buf).unwrap();
        w.close();
        // The rest of the write is abandoned: the reader sees EOF at once.
        assert_eq!((&r).read(&mut [0; 100]).unwrap(), 0);
        assert_eq!(t.join().unwrap().unwrap(), 30);
        assert!(ClosedPipe::is(&(&w).write(b"x").unwrap_err()));
    });
}

#[test]
fn read_timeout_with_fake_clock() {
    let fake = FakeClock::new();
    let (r, w) = pipe_with_clock(fake.clock());
    thread::scope(|s| {
        let t = s.spawn(|| r.read_timeout(&mut [0; 8], Duration::from_secs(5)));
        assert!(fake.block_until_waiters(1, HANG));
        fake.advance(Duration::from_secs(4));
        assert!(!t.is_finished());
        fake.advance(Duration::from_secs(1));
        assert_eq!(t.join().unwrap().unwrap_err().kind(), ErrorKind::TimedOut);
    });
    // A timed read that gets data in time.
    thread::scope(|s| {
        let t = s.spawn(|| {
            let mut b = [0u8; 8];
            r.read_timeout(&mut b, Duration::from_secs(5))
                .map(|n| b[..n].to_vec())
        });
        (&w).write_all(b"in time").unwrap();
        assert_eq!(t.join().unwrap().unwrap(), b"in time");
    });
}

#[test]
fn write_timeout_with_fake_clock() {
    let fake = FakeClock::new();
    let (r, w) = pipe_with_clock(fake.clock());
    thread::scope(|s| {
        let t = s.spawn(|| w.write_timeout(b"nobody", Duration::from_secs(5)));
        assert!(fake.block_until_waiters(1, HANG));
        fake.advance(Duration::from_secs(5));
        assert_eq!(t.join().unwrap().unwrap_err().kind(), ErrorKind::TimedOut);
    });
    // Partly consumed, then timed out: the count consumed, and the pipe still works.
    thread::scope(|s| {
        let t = s.spawn(|| w.write_timeout(b"0123456789", Duration::from_secs(5)));
        let mut b = [0u8; 4];
        (&r).read_exact(&mut b).unwrap();
        assert!(fake.block_until_waiters(1, HANG));
        fake.advance(Duration::from_secs(5));
        assert_eq!(t.join().unwrap().unwrap(), 4);
    });
    thread::scope(|s| {
        s.spawn(|| (&w).write_all(b"after").unwrap());
        let mut b = [0u8; 5];
        (&r).read_exact(&mut b).unwrap();
        assert_eq!(&b, b"after");
    });
}

#[test]
fn writer_waiting_for_slot_times_out() {
    let fake = FakeClock::new();
    let (r, w) = pipe_with_clock(fake.clock());
    thread::scope(|s| {
        let first = s.spawn(|| (&w).write(b"first"));
        let_it_block();
        let second = s.spawn(|| w.write_timeout(b"second", Duration::from_secs(1)));
        assert!(fake.block_until_waiters(1, HANG));
        fake.advance(Duration::from_secs(1));
        // Either it timed out waiting for the slot, or (if it got the slot first) on
        // the readers; `first` then completes.
        assert_eq!(
            second.join().unwrap().unwrap_err().kind(),
            ErrorKind::TimedOut
        );
        let mut b = [0u8; 5];
        (&r).read_exact(&mut b).unwrap();
        assert_eq!(&b, b"first");
        assert_eq!(first.join().unwrap().unwrap(), 5);
    });
}

#[test]
fn eight_concurrent_writers_each_delivered_whole() {
    let (r, w) = pipe();
    const WRITERS: u8 = 8;
    const LEN: usize = 1000;
    thread::scope(|s| {
        for i in 0..WRITERS {
            let mut w = &w;
            s.spawn(move || assert_eq!(w.write(&[i; LEN]).unwrap(), LEN));
        }
        // Each read takes up to LEN from one write; a write may take several reads but
        // they are consecutive (no interleaving inside a write).
        let mut seen = [0usize; WRITERS as usize];
        let mut current: Option<(u8, usize)> = None;
        let mut buf = [0u8; 333];
        for _ in 0..(WRITERS as usize * LEN.div_ceil(333)) {
            let n = (&r).read(&mut buf).unwrap();
            let b = buf[0];
            assert!(buf[..n].iter().all(|&x| x == b), "a read mixed two writes");
            current = match current {
                Some((c, left)) if left > 0 => {
                    assert_eq!(c, b, "a write was interleaved with another");
                    Some((c, left - n))
                }
                _ => Some((b, LEN - n)),
            };
            seen[b as usize] += n;
        }
        assert_eq!(seen, [LEN; WRITERS as usize]);
    });
}

#[test]
fn sixty_four_concurrent_readers() {
    let (r, w) = pipe();
    const READERS: usize = 64;
    let total = AtomicUsize::new(0);
    let barrier = Barrier::new(READERS + 1);
    thread::scope(|s| {
        for _ in 0..READERS {
            s.spawn(|| {
                barrier.wait();
                let mut buf = [0u8; 1];
                let n = (&r).read(&mut buf).unwrap();
                assert_eq!((n, buf[0]), (1, b'x'));
                total.fetch_add(n, Ordering::Relaxed);
            });
        }
        barrier.wait();
        // One byte per reader, in one write.
        assert_eq!((&w).write(&[b'x'; READERS]).unwrap(), READERS);
    });
    assert_eq!(total.load(Ordering::Relaxed), READERS);
}

#[test]
fn ends_are_send_sync_and_debug() {
    fn check<T: Send + Sync + std::fmt::Debug>(_: &T) {}
    let (r, w) = pipe();
    check(&r);
    check(&w);
    assert_eq!(
        format!("{r:?}"),
        "PipeReader { write_pending: false, closed: false }"
    );
    w.close();
    assert_eq!(
        format!("{w:?}"),
        "PipeWriter { write_pending: false, closed: true }"
    );
}

/// Scaled down, it runs under Miri too: its check of concurrent offers and copies.
#[test]
#[cfg_attr(not(miri), ignore = "stress: run in release by ci/test.sh")]
fn stress_many_writers_and_readers() {
    let (r, w) = pipe();
    const WRITERS: usize = 4;
    const WRITES: usize = if cfg!(miri) { 25 } else { 100_000 };
    let sum = AtomicUsize::new(0);
    thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|i| {
                let mut w = &w;
                s.spawn(move || {
                    for k in 0..WRITES {
                        let len = 1 + (k * 31 + i) % 5000;
                        w.write_all(&vec![(i + 1) as u8; len]).unwrap();
                    }
                })
            })
            .collect();
        for _ in 0..3 {
            s.spawn(|| {
                let mut buf = vec![0u8; 4096];
                loop {
                    let n = (&r).read(&mut buf).unwrap();
                    if n == 0 {
                        return;
                    }
                    assert!(buf[..n].iter().all(|&x| x == buf[0]));
                    sum.fetch_add(
                        buf[..n].iter().map(|&x| x as usize).sum(),
                        Ordering::Relaxed,
                    );
                }
            });
        }
        for t in writers {
            t.join().unwrap();
        }
        w.close();
    });
    let want: usize = (0..WRITERS)
        .map(|i| {
            (0..WRITES)
                .map(|k| (i + 1) * (1 + (k * 31 + i) % 5000))
                .sum::<usize>()
        })
        .sum();
    assert_eq!(sum.load(Ordering::Relaxed), want);
}
