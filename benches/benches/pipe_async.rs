//! Async pipe throughput: the gosync pipe's async ends (feature `tokio`) vs tokio's
//! in-memory `duplex` and `simplex` streams.
//!
//! Each iteration moves `TOTAL` bytes (64 MiB, as the blocking `pipe` bench) from one
//! writer task writing `chunk`-sized writes (4 KiB, 64 KiB, 1 MiB; `write_all`) to one
//! reader task reading into a 64 KiB buffer, on a tokio multi-thread runtime with 2
//! workers (built once, outside the timing). Criterion reports bytes per second
//! (`Throughput::Bytes`). tokio's streams are given a 64 KiB buffer: as much data in
//! flight as the gosync pipe allows (one read's request: the reader's 64 KiB buffer).
//!
//! What differs: tokio's streams are buffers (a write returns once its bytes are in the
//! buffer); the gosync pipe moves a write only when a read has asked for it (one write
//! per read, at most the read's length), so every write is a rendezvous with a read.
//! Both copy each byte twice (writer -> pipe -> reader).
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::runtime::Runtime;

const TOTAL: usize = 64 << 20;
const READ_BUF: usize = 64 << 10;
/// tokio's duplex / simplex buffer size.
const STREAM_BUF: usize = 64 << 10;
const CHUNKS: [usize; 3] = [4 << 10, 64 << 10, 1 << 20];

/// Runs one transfer: a writer task and a reader task, joined.
fn transfer<R, W>(rt: &Runtime, (mut r, mut w): (R, W), chunk: usize)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    rt.block_on(async move {
        let writer = tokio::spawn(async move {
            let src = vec![0x5a_u8; chunk];
            for _ in 0..TOTAL / chunk {
                w.write_all(&src).await.unwrap();
            }
            w.shutdown().await.unwrap();
        });
        let reader = tokio::spawn(async move {
            let mut dst = vec![0_u8; READ_BUF];
            let mut got = 0;
            loop {
                let n = r.read(&mut dst).await.unwrap();
                if n == 0 {
                    return got;
                }
                got += n;
            }
        });
        writer.await.unwrap();
        assert_eq!(reader.await.unwrap(), TOTAL);
    });
}

fn gosync(rt: &Runtime, chunk: usize) {
    transfer(rt, gosync_pipe::pipe(), chunk);
}

fn tokio_duplex(rt: &Runtime, chunk: usize) {
    // One direction of a duplex pair: the writer's half writes, the other half reads.
    let (a, b) = tokio::io::duplex(STREAM_BUF);
    transfer(rt, (b, a), chunk);
}

fn tokio_simplex(rt: &Runtime, chunk: usize) {
    transfer(rt, tokio::io::simplex(STREAM_BUF), chunk);
}

type Contender = fn(&Runtime, usize);

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let contenders: [(&str, Contender); 3] = [
        ("gosync", gosync),
        ("tokio_duplex", tokio_duplex),
        ("tokio_simplex", tokio_simplex),
    ];
    let mut group = c.benchmark_group("pipe_async");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Bytes(TOTAL as u64));
    for chunk in CHUNKS {
        for (name, f) in contenders {
            group.bench_function(BenchmarkId::new(name, format!("{}KiB", chunk >> 10)), |b| {
                b.iter(|| f(&rt, chunk))
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = group;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    targets = benches
}
criterion_main!(group);
