//! Pipe throughput: gosync vs a kernel pipe, the `pipe` crate and an mpsc channel of
//! `Vec<u8>`, with a plain memcpy of the same bytes as the physical limit.
//!
//! Each iteration moves `TOTAL` bytes (64 MiB; the 1 GiB scaled down so that the
//! slow peers finish in reasonable time; the rate is what counts) from a writer thread
//! writing `chunk`-sized writes (4 KiB, 64 KiB, 1 MiB) to a reader reading into a 64 KiB
//! buffer. Criterion reports GB/s through `Throughput::Bytes`.
//!
//! All buffers are page-aligned, so no copy hits the 4K-aliasing slowdown of this AMD
//! CPU (forward memcpy drops to ~3.5 GB/s when the destination sits 1-16 bytes past
//! the source modulo 4 KiB). The `skew8` rows shift the read buffer 8 bytes past a page
//! boundary to show it: a plain memcpy stalls, the gosync pipe's copy does not.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};

const TOTAL: usize = 64 << 20;
const READ_BUF: usize = 64 << 10;
const CHUNKS: [usize; 3] = [4 << 10, 64 << 10, 1 << 20];

/// A buffer `skew` bytes past a page boundary (no unsafe: over-allocate and slice).
struct Aligned {
    buf: Vec<u8>,
    off: usize,
    len: usize,
}

impl Aligned {
    fn new(len: usize, skew: usize) -> Aligned {
        let buf = vec![0x5a; len + 8192];
        let off = buf.as_ptr().align_offset(4096) + skew;
        Aligned { buf, off, len }
    }
    fn get(&self) -> &[u8] {
        &self.buf[self.off..self.off + self.len]
    }
    fn get_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.off..self.off + self.len]
    }
}

/// Reads until end of file; returns the byte count.
fn drain(mut r: impl Read, dst: &mut [u8]) -> usize {
    let mut got = 0;
    loop {
        let n = r.read(dst).unwrap();
        if n == 0 {
            return got;
        }
        got += n;
    }
}

/// Writes `TOTAL` bytes as `src`-sized writes.
fn fill(mut w: impl Write, src: &[u8]) {
    for _ in 0..TOTAL / src.len() {
        w.write_all(src).unwrap();
    }
}

fn gosync(src: &[u8], dst: &mut [u8]) {
    let (r, w) = gosync_pipe::pipe();
    thread::scope(|s| {
        s.spawn(move || fill(&w, src)); // `w` drops at the end: EOF
        assert_eq!(drain(&r, dst), TOTAL);
    });
}

// `std::io::pipe` is stable since 1.87, past the workspace MSRV; benches are not published.
#[allow(clippy::incompatible_msrv)]
fn kernel(src: &[u8], dst: &mut [u8]) {
    let (r, w) = std::io::pipe().unwrap();
    thread::scope(|s| {
        s.spawn(move || fill(w, src));
        assert_eq!(drain(r, dst), TOTAL);
    });
}

fn pipe_crate(src: &[u8], dst: &mut [u8]) {
    let (r, w) = pipe::pipe();
    thread::scope(|s| {
        s.spawn(move || fill(w, src));
        assert_eq!(drain(r, dst), TOTAL);
    });
}

/// A bounded std channel of owned chunks (the writer allocates and copies each chunk,
/// the reader copies it out into its read buffer).
fn mpsc_vec(src: &[u8], dst: &mut [u8]) {
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(4);
    thread::scope(|s| {
        s.spawn(move || {
            for _ in 0..TOTAL / src.len() {
                tx.send(src.to_vec()).unwrap();
            }
        });
        let mut got = 0;
        for chunk in rx {
            for piece in chunk.chunks(dst.len()) {
                dst[..piece.len()].copy_from_slice(piece);
                black_box(dst.as_mut_ptr());
                got += piece.len();
            }
        }
        assert_eq!(got, TOTAL);
    });
}

/// The physical limit: the same bytes copied once, on one thread, in read-buffer pieces.
fn memcpy(src: &[u8], dst: &mut [u8]) {
    for _ in 0..TOTAL / src.len() {
        for piece in src.chunks(dst.len()) {
            dst[..piece.len()].copy_from_slice(piece);
            black_box(dst.as_mut_ptr());
        }
    }
}

/// The diagnostic: parks per write of the gosync pipe (readers', writers'), over `runs`
/// transfers of `TOTAL`, printed before the timed rows. A park is a futex sleep that the
/// other side must wake (tens of microseconds on a VM), so this is what the spin budgets
/// are judged by; the counters cost one add per park (feature `diagnostics`).
fn parks_per_write(src: &[u8], dst: &mut [u8], runs: usize) -> (f64, f64) {
    let (mut readers, mut writers) = (0, 0);
    for _ in 0..runs {
        let (r, w) = gosync_pipe::pipe();
        let w2 = &w;
        thread::scope(|s| {
            s.spawn(move || {
                fill(w2, src);
                w2.close();
            });
            assert_eq!(drain(&r, dst), TOTAL);
        });
        let (pr, pw) = r.park_counts();
        readers += pr;
        writers += pw;
    }
    let writes = (runs * (TOTAL / src.len())) as f64;
    (readers as f64 / writes, writers as f64 / writes)
}

type Contender = fn(&[u8], &mut [u8]);

fn benches(c: &mut Criterion) {
    {
        let mut dst = Aligned::new(READ_BUF, 0);
        for chunk in CHUNKS {
            let src = Aligned::new(chunk, 0);
            let (r, w) = parks_per_write(src.get(), dst.get_mut(), 5);
            println!(
                "pipe/gosync/{}KiB parks per write: {:.4} (readers {r:.4}, writers {w:.4})",
                chunk >> 10,
                r + w
            );
        }
    }
    let contenders: [(&str, Contender); 5] = [
        ("gosync", gosync),
        ("kernel_pipe", kernel),
        ("pipe_crate", pipe_crate),
        ("mpsc_vec", mpsc_vec),
        ("memcpy", memcpy),
    ];
    let mut group = c.benchmark_group("pipe");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Bytes(TOTAL as u64));
    let mut dst = Aligned::new(READ_BUF, 0);
    for chunk in CHUNKS {
        let src = Aligned::new(chunk, 0);
        for (name, f) in contenders {
            group.bench_function(BenchmarkId::new(name, format!("{}KiB", chunk >> 10)), |b| {
                b.iter(|| f(src.get(), dst.get_mut()))
            });
        }
    }
    // The 4K-aliasing case: the read buffer 8 bytes past the source modulo 4 KiB.
    let src = Aligned::new(64 << 10, 0);
    let mut skewed = Aligned::new(READ_BUF, 8);
    for (name, f) in [
        ("gosync_skew8", gosync as Contender),
        ("memcpy_skew8", memcpy),
    ] {
        group.bench_function(BenchmarkId::new(name, "64KiB"), |b| {
            b.iter(|| f(src.get(), skewed.get_mut()))
        });
    }
    group.finish();
}

criterion_group! {
    name = group;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
    targets = benches
}
criterion_main!(group);
