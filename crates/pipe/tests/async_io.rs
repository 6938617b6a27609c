//! The async ends through `futures_io`'s traits (feature `futures-io`): the guarantees
//! of "Async reads and writes" in the crate docs, polled by hand and under
//! `futures::executor`, cancellation at every poll point, closes, and panicking
//! wakers. The same ends under tokio: `tests/async_tokio.rs`.
#![cfg(all(feature = "futures-io", not(loom)))]

use std::io::{ErrorKind, IoSlice};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_io::{AsyncRead, AsyncWrite};
use gosync_pipe::{pipe, ClosedPipe, PipeReader, PipeWriter};

/// A waker that counts its wakes, and panics on wake while `panics` is set.
#[derive(Default)]
struct Counting {
    wakes: AtomicUsize,
    panics: AtomicBool,
}

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
        if self.panics.load(SeqCst) {
            panic!("waker panics");
        }
    }
}

fn counting() -> (Arc<Counting>, Waker) {
    let c = Arc::new(Counting::default());
    (Arc::clone(&c), Waker::from(c))
}

fn wakes(c: &Counting) -> usize {
    c.wakes.load(SeqCst)
}

fn read(r: &mut PipeReader, w: &Waker, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
    Pin::new(r).poll_read(&mut Context::from_waker(w), buf)
}

fn write(wr: &mut PipeWriter, w: &Waker, buf: &[u8]) -> Poll<std::io::Result<usize>> {
    Pin::new(wr).poll_write(&mut Context::from_waker(w), buf)
}

fn flush(wr: &mut PipeWriter, w: &Waker) -> Poll<std::io::Result<()>> {
    Pin::new(wr).poll_flush(&mut Context::from_waker(w))
}

fn ready<T>(p: Poll<std::io::Result<T>>) -> T {
    match p {
        Poll::Ready(Ok(v)) => v,
        Poll::Ready(Err(e)) => panic!("error: {e}"),
        Poll::Pending => panic!("pending"),
    }
}

fn ready_err<T: std::fmt::Debug>(p: Poll<std::io::Result<T>>) -> std::io::Error {
    match p {
        Poll::Ready(Err(e)) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn ends_are_send_sync_unpin() {
    fn check<T: Send + Sync + Unpin>() {}
    check::<PipeReader>();
    check::<PipeWriter>();
}

/// A write with no read waiting moves nothing and waits; a read's request lets one write
/// through, at most the read's length; a read never spans two writes.
#[test]
fn a_write_waits_for_a_read_request() {
    let (mut r, mut w) = pipe();
    let (rc, rw) = counting();
    let (wc, ww) = counting();
    assert!(write(&mut w, &ww, b"hello").is_pending());
    let mut buf = [0; 3];
    assert!(read(&mut r, &rw, &mut buf).is_pending()); // requests 3 bytes
    assert_eq!(wakes(&wc), 1, "the request wakes the waiting writer");
    assert_eq!(ready(write(&mut w, &ww, b"hello")), 3);
    assert_eq!(wakes(&rc), 1, "the write wakes the waiting reader");
    // The request is consumed: the rest waits for the next read.
    assert!(write(&mut w, &ww, b"lo").is_pending());
    let mut big = [0; 16];
    assert_eq!(ready(read(&mut r, &rw, &mut big)), 3);
    assert_eq!(&big[..3], b"hel");
    assert!(read(&mut r, &rw, &mut big).is_pending());
    assert_eq!(wakes(&wc), 2);
    assert_eq!(ready(write(&mut w, &ww, b"lo")), 2);
    assert!(write(&mut w, &ww, b"more").is_pending());
    assert_eq!(ready(read(&mut r, &rw, &mut big)), 2, "one write per read");
    assert_eq!(&big[..2], b"lo");
}

#[test]
fn empty_calls() {
    let (mut r, mut w) = pipe();
    let (_c, waker) = counting();
    assert_eq!(ready(write(&mut w, &waker, b"")), 0);
    assert_eq!(ready(read(&mut r, &waker, &mut [])), 0);
    assert_eq!(ready(flush(&mut w, &waker)), ());
    drop(w);
    assert_eq!(ready(read(&mut r, &waker, &mut [])), 0);
    assert_eq!(ready(read(&mut r, &waker, &mut [0; 4])), 0);
}

/// A vectored write is one write of all its slices, cut at the request.
#[test]
fn vectored_write_is_one_write() {
    let (mut r, mut w) = pipe();
    let (_c, waker) = counting();
    let mut buf = [0; 5];
    assert!(read(&mut r, &waker, &mut buf).is_pending());
    let cx = &mut Context::from_waker(&waker);
    let bufs = [
        IoSlice::new(b"ab"),
        IoSlice::new(b""),
        IoSlice::new(b"cdef"),
    ];
    let n = ready(Pin::new(&mut w).poll_write_vectored(cx, &bufs));
    assert_eq!(n, 5);
    assert_eq!(ready(read(&mut r, &waker, &mut buf)), 5);
    assert_eq!(&buf, b"abcde");
}

/// Flush waits until readers have copied every byte written.
#[test]
fn flush_waits_for_the_reader() {
    let (mut r, mut w) = pipe();
    let (wc, ww) = counting();
    let (_rc, rw) = counting();
    let mut buf = [0; 8];
    assert!(read(&mut r, &rw, &mut buf).is_pending());
    assert_eq!(ready(write(&mut w, &ww, b"abcdef")), 6);
    assert!(flush(&mut w, &ww).is_pending());
    let mut two = [0; 2];
    assert_eq!(ready(read(&mut r, &rw, &mut two)), 2);
    assert!(flush(&mut w, &ww).is_pending());
    let before = wakes(&wc);
    assert_eq!(ready(read(&mut r, &rw, &mut buf)), 4);
    assert_eq!(
        wakes(&wc),
        before + 1,
        "draining the stash wakes the flusher"
    );
    assert_eq!(ready(flush(&mut w, &ww)), ());
    // Flushing with the reader closed and bytes unread: the close error.
    assert!(read(&mut r, &rw, &mut buf).is_pending());
    assert_eq!(ready(write(&mut w, &ww, b"xy")), 2);
    r.close();
    assert!(ClosedPipe::is(&ready_err(flush(&mut w, &ww))));
}

/// Writer close: the reader gets every byte of the writes that returned, then EOF (or
/// the writer's error); a pending write is woken and fails.
#[test]
fn writer_close_delivers_taken_bytes_then_eof() {
    for with_error in [false, true] {
        let (mut r, mut w) = pipe();
        let (rc, rw) = counting();
        let (wc, ww) = counting();
        let mut buf = [0; 4];
        assert!(read(&mut r, &rw, &mut buf).is_pending());
        assert_eq!(ready(write(&mut w, &ww, b"abcdef")), 4);
        assert!(write(&mut w, &ww, b"ef").is_pending());
        let before = (wakes(&rc), wakes(&wc));
        if with_error {
            w.close_with_error(std::io::Error::new(ErrorKind::InvalidData, "bad"));
        } else {
            w.close();
        }
        assert_eq!(
            wakes(&wc),
            before.1 + 1,
            "the close wakes the pending writer"
        );
        assert!(ClosedPipe::is(&ready_err(write(&mut w, &ww, b"ef"))));
        let mut two = [0; 2];
        assert_eq!(ready(read(&mut r, &rw, &mut two)), 2);
        assert_eq!(ready(read(&mut r, &rw, &mut buf)), 2);
        assert_eq!(&buf[..2], b"cd");
        if with_error {
            assert_eq!(
                ready_err(read(&mut r, &rw, &mut buf)).kind(),
                ErrorKind::InvalidData
            );
        } else {
            assert_eq!(ready(read(&mut r, &rw, &mut buf)), 0);
        }
        assert_eq!(wakes(&rc), before.0);
    }
}

/// Reader close: a pending write is woken and fails with ClosedPipe or the reader's
/// error; a pending read of the closed reader fails with ClosedPipe.
#[test]
fn reader_close_fails_pending_write() {
    let (mut r, mut w) = pipe();
    let (wc, ww) = counting();
    assert!(write(&mut w, &ww, b"abc").is_pending());
    r.close_with_error(std::io::Error::new(ErrorKind::InvalidInput, "no more"));
    assert_eq!(wakes(&wc), 1);
    let e = ready_err(write(&mut w, &ww, b"abc"));
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(ClosedPipe::is(&ready_err(read(&mut r, &ww, &mut [0; 4]))));
}

/// The pending side's registration is released by a close: the waker is dropped, not
/// kept alive by the pipe.
#[test]
fn close_releases_the_wakers() {
    let (mut r, w) = pipe();
    let (rc, rw) = counting();
    let (wc, ww) = counting();
    assert!(read(&mut r, &rw, &mut [0; 4]).is_pending());
    drop(rw);
    let mut r2 = pipe().0; // unrelated
    assert!(
        Arc::strong_count(&rc) > 1,
        "the pipe holds the reader's waker"
    );
    w.close();
    assert_eq!(Arc::strong_count(&rc), 1, "the close woke and dropped it");
    drop(r);
    let _ = &mut r2;
    // A write registration released by the reader's drop.
    let (r, mut w) = pipe();
    assert!(write(&mut w, &ww, b"x").is_pending());
    drop(ww);
    assert!(Arc::strong_count(&wc) > 1);
    drop(r);
    assert_eq!(Arc::strong_count(&wc), 1);
}

/// A poll with a new waker replaces the old one (the task moved); only the new one is
/// woken.
#[test]
fn a_moved_task_is_woken_through_its_new_waker() {
    let (mut r, mut w) = pipe();
    let (c1, w1) = counting();
    let (c2, w2) = counting();
    let mut buf = [0; 4];
    assert!(read(&mut r, &w1, &mut buf).is_pending());
    assert!(read(&mut r, &w2, &mut buf).is_pending());
    assert_eq!(
        Arc::strong_count(&c1),
        2,
        "w1 and nothing else: the pipe let go of it"
    );
    let (_c, ww) = counting();
    assert_eq!(ready(write(&mut w, &ww, b"ab")), 2);
    assert_eq!((wakes(&c1), wakes(&c2)), (0, 1));
}

/// Cancellation at every poll point, exhaustively: every sequence of up to `DEPTH`
/// steps among "poll the reader's read", "poll the writer's write", "drop the read",
/// "drop the write" (a dropped call is started afresh by its next poll; each write
/// sends the next bytes not yet reported written). Each poll's outcome is checked
/// against a reference model (the standing request and the bytes in the pipe). After
/// each sequence the writer closes and the reader drains: it must receive exactly the
/// bytes reported written, in order, each once. And no lost wake-up: a call that was
/// left pending and not woken since must still be pending when polled.
#[test]
fn cancel_at_every_poll_point() {
    const DEPTH: u32 = 8;
    const DATA: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut sequences = 0;
    for len in 0..=DEPTH {
        for code in 0..4usize.pow(len) {
            sequences += 1;
            let (mut r, mut w) = pipe();
            let (rc, rw) = counting();
            let (wc, ww) = counting();
            let mut written = 0; // bytes of DATA reported written
            let mut got = Vec::new();
            // The reference model: the standing request, and the bytes in the pipe.
            let mut want = 0;
            let mut stash: Vec<u8> = Vec::new();
            // Pending calls: the wake count when they went pending.
            let mut read_pending: Option<usize> = None;
            let mut write_pending: Option<usize> = None;
            let mut c = code;
            for step in 0..len {
                let op = c % 4;
                c /= 4;
                // Reads ask for 1..=3 bytes, writes offer 1..=4: cut points vary.
                let rlen = 1 + (step as usize + code) % 3;
                let wlen = (1 + (step as usize + code / 3) % 4).min(DATA.len() - written);
                match op {
                    0 => {
                        let mut buf = vec![0; rlen];
                        match read(&mut r, &rw, &mut buf) {
                            Poll::Ready(res) => {
                                let n = res.unwrap();
                                let k = rlen.min(stash.len());
                                assert_eq!(n, k, "read, code {code} len {len}");
                                assert_eq!(buf[..n], stash.drain(..k).collect::<Vec<_>>()[..]);
                                got.extend_from_slice(&buf[..n]);
                                read_pending = None;
                            }
                            Poll::Pending => {
                                assert!(stash.is_empty(), "read pending over data, code {code}");
                                want = want.max(rlen);
                                read_pending = Some(wakes(&rc));
                            }
                        }
                    }
                    1 if wlen > 0 => match write(&mut w, &ww, &DATA[written..written + wlen]) {
                        Poll::Ready(res) => {
                            let n = res.unwrap();
                            assert!(want > 0 && stash.is_empty(), "write without a request");
                            assert_eq!(n, wlen.min(want), "write, code {code} len {len}");
                            stash.extend_from_slice(&DATA[written..written + n]);
                            want = 0;
                            written += n;
                            write_pending = None;
                        }
                        Poll::Pending => {
                            assert!(
                                want == 0 || !stash.is_empty(),
                                "write pending over a request"
                            );
                            write_pending = Some(wakes(&wc));
                        }
                    },
                    2 => read_pending = None,
                    _ => write_pending = None,
                }
            }
            // No lost wake-up: an un-woken pending call is still pending.
            if let Some(at) = read_pending {
                if wakes(&rc) == at {
                    let mut buf = [0; 3];
                    assert!(
                        read(&mut r, &rw, &mut buf).is_pending(),
                        "lost read wake-up, code {code} len {len}"
                    );
                }
            }
            if let Some(at) = write_pending {
                let wlen = 1.min(DATA.len() - written);
                if wakes(&wc) == at && wlen > 0 {
                    assert!(
                        write(&mut w, &ww, &DATA[written..written + wlen]).is_pending(),
                        "lost write wake-up, code {code} len {len}"
                    );
                }
            }
            drop(w);
            let mut rest = Vec::new();
            std::io::Read::read_to_end(&mut &r, &mut rest).unwrap();
            got.extend_from_slice(&rest);
            assert_eq!(got, &DATA[..written], "code {code} len {len}");
        }
    }
    assert!(sequences > 80_000);
}

/// A waker that panics on wake: the panic comes out of the call that woke it, after
/// that call's transfer is complete; the pipe stays consistent and usable.
#[test]
fn a_panicking_waker_leaves_the_pipe_consistent() {
    let (mut r, mut w) = pipe();
    let (rc, rw) = counting();
    let (_wc, ww) = counting();
    let mut buf = [0; 4];
    assert!(read(&mut r, &rw, &mut buf).is_pending());
    rc.panics.store(true, SeqCst);
    let res = catch_unwind(AssertUnwindSafe(|| write(&mut w, &ww, b"abcd")));
    assert!(res.is_err(), "the reader's waker panicked in the write");
    rc.panics.store(false, SeqCst);
    // The write happened (documented): the reader gets it.
    assert_eq!(ready(read(&mut r, &rw, &mut buf)), 4);
    assert_eq!(&buf, b"abcd");
    // A close wakes the pending reader; its waker's panic comes out of the close, which
    // is complete: the reader sees end of file, the writer the closed pipe.
    assert!(read(&mut r, &rw, &mut buf).is_pending());
    rc.panics.store(true, SeqCst);
    let res = catch_unwind(AssertUnwindSafe(|| w.close()));
    assert!(res.is_err());
    rc.panics.store(false, SeqCst);
    assert_eq!(
        Arc::strong_count(&rc),
        2,
        "rw and the test's: the pipe let go of it"
    );
    assert_eq!(ready(read(&mut r, &rw, &mut [0; 4])), 0);
    assert!(ClosedPipe::is(&ready_err(write(&mut w, &ww, b"zz"))));
}

/// A waker whose clone panics registers nothing: the read makes no request, so a write
/// still waits.
#[test]
fn a_waker_that_panics_on_clone_registers_nothing() {
    use std::task::{RawWaker, RawWakerVTable};
    fn clone(_: *const ()) -> RawWaker {
        panic!("clone panics")
    }
    fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    // SAFETY: the vtable's functions ignore the data pointer.
    let bad = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) };
    let (mut r, mut w) = pipe();
    let res = catch_unwind(AssertUnwindSafe(|| read(&mut r, &bad, &mut [0; 4])));
    assert!(res.is_err());
    let (_c, ww) = counting();
    assert!(write(&mut w, &ww, b"x").is_pending(), "no request was made");
    let res = catch_unwind(AssertUnwindSafe(|| write(&mut w, &bad, b"x")));
    assert!(res.is_err());
    let (_c, rw) = counting();
    assert!(read(&mut r, &rw, &mut [0; 4]).is_pending());
    assert_eq!(ready(write(&mut w, &ww, b"x")), 1);
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// futures::io::copy through the pipe: on one thread (LocalPool, both tasks), and with
/// each end on its own thread's `block_on`.
#[test]
fn futures_copy_through_the_pipe() {
    use futures::executor::{block_on, LocalPool};
    use futures::io::{AsyncReadExt, AsyncWriteExt, Cursor};
    use futures::task::LocalSpawnExt;
    for len in [0, 1, 4096, 100_000, 600_000] {
        let data = pattern(len);
        let mut pool = LocalPool::new();
        let (mut r, mut w) = pipe();
        let src = data.clone();
        pool.spawner()
            .spawn_local(async move {
                let n = futures::io::copy(Cursor::new(src), &mut w).await.unwrap();
                assert_eq!(n, len as u64);
                AsyncWriteExt::close(&mut w).await.unwrap(); // not the inherent `close`
            })
            .unwrap();
        let got = pool.run_until(async move {
            let mut got = Vec::new();
            r.read_to_end(&mut got).await.unwrap();
            got
        });
        assert_eq!(got, data);

        let (mut r, mut w) = pipe();
        let src = data.clone();
        let t = std::thread::spawn(move || {
            block_on(async {
                w.write_all(&src).await.unwrap();
                w.flush().await.unwrap(); // returns once the reader has it all
            })
        });
        let mut got = Vec::new();
        let mut buf = [0; 3000];
        while got.len() < len {
            let n = block_on(r.read(&mut buf)).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        t.join().unwrap();
        assert_eq!(got, data);
        assert_eq!(
            block_on(r.read(&mut buf)).unwrap(),
            0,
            "writer dropped: EOF"
        );
    }
}
