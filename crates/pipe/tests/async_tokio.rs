//! The async ends under tokio (feature `tokio`): `tokio::io::copy` through the pipe on a
//! multi-thread runtime, threads and tasks on the two ends at once, closes racing
//! pending calls, a `select!` abandoning a write, and `ReadBuf`. The guarantees polled
//! by hand, and `futures::executor`: `tests/async_io.rs`.
#![cfg(all(feature = "tokio", not(loom)))]

use gosync_pipe::{pipe, ClosedPipe};

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// tokio::io::copy into the writer, read_to_end from the reader, on a multi-thread
/// runtime; sizes around the read request cap (256 KiB).
#[test]
fn tokio_copy_through_the_pipe() {
    use tokio::io::AsyncReadExt;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    for len in [0, 1, 4095, 4096, 65537, (256 << 10) + 3, 1 << 20] {
        let data = pattern(len);
        let got = rt.block_on(async {
            let (mut r, mut w) = pipe();
            let src = data.clone();
            let writer = tokio::spawn(async move {
                let n = tokio::io::copy(&mut &src[..], &mut w).await.unwrap();
                tokio::io::AsyncWriteExt::shutdown(&mut w).await.unwrap();
                n
            });
            let reader = tokio::spawn(async move {
                let mut got = Vec::new();
                r.read_to_end(&mut got).await.unwrap();
                got
            });
            assert_eq!(writer.await.unwrap(), len as u64);
            reader.await.unwrap()
        });
        assert_eq!(got, data, "len {len}");
    }
}

/// A blocking writer thread and an async reader task, and an async writer task and a
/// blocking reader thread, at once on the two pipes.
#[test]
fn threads_and_tasks_on_the_two_ends() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let data = pattern(300_000);
    let (mut r1, w1) = pipe(); // thread writes, task reads
    let (r2, mut w2) = pipe(); // task writes, thread reads
    let (d1, d2) = (data.clone(), data.clone());
    let t1 = std::thread::spawn(move || {
        for chunk in d1.chunks(7000) {
            std::io::Write::write_all(&mut &w1, chunk).unwrap();
        }
    });
    let t2 = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0; 5000];
        loop {
            let n = std::io::Read::read(&mut &r2, &mut buf).unwrap();
            if n == 0 {
                return got;
            }
            assert!(n <= 5000);
            got.extend_from_slice(&buf[..n]);
        }
    });
    let got1 = rt.block_on(async move {
        let writer = tokio::spawn(async move {
            for chunk in d2.chunks(9000) {
                w2.write_all(chunk).await.unwrap();
            }
            w2.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        r1.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        got
    });
    t1.join().unwrap();
    assert_eq!(got1, data);
    assert_eq!(t2.join().unwrap(), data);
}

/// Closes racing pending calls on a runtime: a read pending while another task closes
/// the writer ends with EOF; a write pending while the reader is dropped fails with
/// ClosedPipe; and a select! timeout abandoning a write leaves nothing written.
#[test]
fn tokio_close_racing_pending_calls() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        for _ in 0..50 {
            let (mut r, w) = pipe();
            let reader = tokio::spawn(async move { r.read(&mut [0; 8]).await.unwrap() });
            let closer = tokio::spawn(async move { w.close() });
            closer.await.unwrap();
            assert_eq!(reader.await.unwrap(), 0);

            let (r, mut w) = pipe();
            let writer = tokio::spawn(async move { w.write(b"abc").await });
            let closer = tokio::spawn(async move { drop(r) });
            closer.await.unwrap();
            let e = writer.await.unwrap().unwrap_err();
            assert!(ClosedPipe::is(&e));
        }
        // Abandoned by select!: the write was pending, so nothing of it is delivered.
        let (mut r, mut w) = pipe();
        tokio::select! {
            _ = w.write(b"abandoned") => panic!("no reader asked"),
            _ = tokio::time::sleep(std::time::Duration::from_millis(5)) => {}
        }
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            r.read_to_end(&mut got).await.unwrap();
            got
        });
        w.write_all(b"kept").await.unwrap();
        drop(w);
        assert_eq!(reader.await.unwrap(), b"kept");
    });
}

/// tokio's ReadBuf: a read fills the unfilled part, even of an uninitialized buffer.
#[test]
fn tokio_read_buf() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let (mut r, mut w) = pipe();
        let writer = tokio::spawn(async move { w.write_all(b"hello world").await });
        let mut buf = Vec::with_capacity(64); // uninitialized spare capacity
        while buf.len() < 11 {
            let n = AsyncReadExt::read_buf(&mut r, &mut buf).await.unwrap();
            assert!(n > 0);
        }
        assert_eq!(buf, b"hello world");
        writer.await.unwrap().unwrap();
    });
}
