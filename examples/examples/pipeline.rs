//! Streaming through `gosync_pipe`: a generator writes into a pipe, a hashing reader
//! consumes it, and a context deadline cuts a stream whose reader is too slow.
//!
//! 1. **Full speed.** A generator thread writes `--mib` MiB of pseudo-random data into
//!    the pipe in `--chunk-kib` writes; the reader wraps the pipe in a `HashingReader`
//!    (any `Read` adapter works: the pipe is a plain `std::io::Read`) and drains it. The pipe has no buffer: each write returns once the reader has copied
//!    it, so the generator can never run ahead. Both sides hash what they saw; the
//!    hashes and byte counts must match.
//! 2. **A slow reader under a deadline.** The same generator writes through
//!    `PipeWriter::with_context(&ctx)`, where `ctx` times out after `--timeout`; the
//!    reader takes `--slow` per chunk. The generator spends its time parked in the
//!    pipe waiting for the reader; when the deadline passes, that write wakes with the
//!    context's error (kind `TimedOut`), and the generator closes the pipe with it, so
//!    the reader's next read fails with the same clear error instead of hanging or
//!    seeing a truncated end of file. Everything delivered before the cut is intact:
//!    the reader's count and hash equal the generator's delivered prefix.
//!
//! Run: `cargo run --release -p gosync-examples --example pipeline`

use std::io::{self, ErrorKind, Read};
use std::thread;
use std::time::{Duration, Instant};

use gosync_context::{background, with_timeout, Context};
use gosync_examples::{fmt_duration, Flags};
use gosync_pipe::{pipe, PipeReader, PipeWriter};

/// A streaming 64-bit hash, eight bytes at a time (fast enough not to hide the pipe's
/// speed): a word-wise multiply-rotate mix, so any change of a byte or of their order
/// shows. Bytes may arrive split anywhere; a partial word waits in `tail`.
#[derive(Debug, Clone, Copy)]
struct Hash {
    h: u64,
    tail: [u8; 8],
    tail_len: usize,
}

impl Hash {
    fn new() -> Hash {
        Hash {
            h: 0xcbf2_9ce4_8422_2325,
            tail: [0; 8],
            tail_len: 0,
        }
    }

    fn word(&mut self, w: u64) {
        self.h = (self.h.rotate_left(23) ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn update(&mut self, mut bytes: &[u8]) {
        if self.tail_len > 0 {
            let take = (8 - self.tail_len).min(bytes.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&bytes[..take]);
            self.tail_len += take;
            bytes = &bytes[take..];
            if self.tail_len < 8 {
                return;
            }
            self.word(u64::from_le_bytes(self.tail));
            self.tail_len = 0;
        }
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.word(u64::from_le_bytes(w.try_into().unwrap()));
        }
        let rest = words.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    fn finish(&self) -> u64 {
        let mut h = *self;
        h.tail[h.tail_len..].fill(0);
        h.word(u64::from_le_bytes(h.tail) ^ (h.tail_len as u64) << 56);
        h.h
    }
}

/// A `Read` adapter that hashes and counts every byte read through it.
struct HashingReader<R> {
    inner: R,
    hash: Hash,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// The generator's data: xorshift bytes, the same for a given seed.
fn fill(buf: &mut [u8], state: &mut u64) {
    for chunk in buf.chunks_mut(8) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
}

/// What the generator delivered: bytes the reader took, their hash, and the error that
/// stopped it (if any).
struct Sent {
    bytes: u64,
    hash: Hash,
    error: Option<io::Error>,
}

/// Writes `total` bytes in `chunk`-byte writes, through `ctx` if given. On an error the
/// pipe is closed with it, so the reader sees why the stream ended.
fn generate(w: PipeWriter, total: u64, chunk: usize, ctx: Option<&Context>) -> Sent {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut buf = vec![0u8; chunk];
    let mut sent = Sent {
        bytes: 0,
        hash: Hash::new(),
        error: None,
    };
    while sent.bytes < total {
        let len = (total - sent.bytes).min(chunk as u64) as usize;
        fill(&mut buf[..len], &mut state);
        // `write_counted*` says how much the reader took even when the write fails.
        let (n, result) = match ctx {
            Some(ctx) => w.write_counted_context(&buf[..len], ctx),
            None => w.write_counted(&buf[..len]),
        };
        sent.hash.update(&buf[..n]);
        sent.bytes += n as u64;
        if let Err(e) = result {
            // Hand the reason to the reader (the first close wins; this is it).
            w.close_with_error(io::Error::new(e.kind(), e.to_string()));
            sent.error = Some(e);
            return sent;
        }
    }
    sent // dropping `w` closes the pipe: the reader sees end of file
}

fn main() {
    let mut f = Flags::from_env(
        "pipeline",
        "A generator streams through gosync_pipe into a hashing reader; a context deadline cuts a slow reader's stream.",
    );
    let mib: u64 = f.value("mib", 256, "MiB streamed at full speed");
    let chunk_kib: usize = f.value("chunk-kib", 64, "KiB per write");
    let slow_kib: u64 = f.value("slow-kib", 4096, "KiB the slow stream would carry");
    let slow = f.duration(
        "slow",
        Duration::from_millis(20),
        "the slow reader's time per chunk",
    );
    let timeout = f.duration(
        "timeout",
        Duration::from_millis(300),
        "deadline of the slow stream",
    );
    f.finish();
    let chunk = chunk_kib.max(1) << 10;
    let mut ok = true;

    // 1. Full speed.
    let total = mib << 20;
    let (r, w) = pipe();
    let started = Instant::now();
    let generator = thread::spawn(move || generate(w, total, chunk, None));
    let mut reader = HashingReader {
        inner: r,
        hash: Hash::new(),
        bytes: 0,
    };
    // (`io::copy(&mut reader, &mut io::sink())` works too; its 8 KiB buffer takes each
    // write in several reads.)
    let mut buf = vec![0u8; chunk];
    let copied = loop {
        match reader.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(_) => {}
            Err(e) => break Err(e),
        }
    };
    let sent = generator.join().expect("the generator does not panic");
    let elapsed = started.elapsed();
    let full_ok = copied.is_ok()
        && sent.error.is_none()
        && reader.bytes == total
        && sent.bytes == total
        && reader.hash.finish() == sent.hash.finish();
    println!(
        "full speed: {} MiB in {} ({:.0} MiB/s), written in {} KiB chunks, hashed by the reader: {:016x} (generator: {:016x})",
        mib,
        fmt_duration(elapsed),
        total as f64 / (1 << 20) as f64 / elapsed.as_secs_f64(),
        chunk_kib,
        reader.hash.finish(),
        sent.hash.finish()
    );
    println!(
        "  [{}] {} of {total} bytes arrived, hashes {}",
        if full_ok { " ok " } else { "FAIL" },
        reader.bytes,
        if reader.hash.finish() == sent.hash.finish() {
            "equal"
        } else {
            "DIFFER"
        }
    );
    ok &= full_ok;

    // 2. A slow reader under a deadline.
    let total = slow_kib << 10;
    let (r, w) = pipe();
    let (ctx, _cancel) = with_timeout(&background(), timeout);
    let started = Instant::now();
    let generator = {
        let ctx = ctx.clone();
        thread::spawn(move || generate(w, total, chunk, Some(&ctx)))
    };
    let (received, hash, error) = slow_reader(&r, chunk, slow);
    let sent = generator.join().expect("the generator does not panic");
    let elapsed = started.elapsed();
    println!(
        "slow reader: {} per {} KiB chunk, {} KiB to stream, deadline {}",
        fmt_duration(slow),
        chunk_kib,
        slow_kib,
        fmt_duration(timeout)
    );
    match &error {
        Some(e) => println!(
            "  the reader stopped after {received} bytes, {}: {e} (kind {:?})",
            fmt_duration(elapsed),
            e.kind()
        ),
        None => println!(
            "  the reader got all {received} bytes in {} (the deadline did not pass)",
            fmt_duration(elapsed)
        ),
    }
    if let Some(e) = &sent.error {
        println!("  the generator's write woke with: {e} (kind {:?}); it closed the pipe with that error", e.kind());
    }
    let cut = error.as_ref().is_some_and(|e| {
        e.kind() == ErrorKind::TimedOut && e.to_string().contains("deadline exceeded")
    }) && sent
        .error
        .as_ref()
        .is_some_and(|e| e.kind() == ErrorKind::TimedOut)
        && received < total
        && ctx.is_done();
    let prefix = received == sent.bytes && hash.finish() == sent.hash.finish();
    println!(
        "  [{}] cut mid-stream by the deadline with a clear error (TimedOut: context deadline exceeded)",
        if cut { " ok " } else { "FAIL" }
    );
    println!(
        "  [{}] the {received} bytes delivered before the cut are intact: generator delivered {}, hashes {}",
        if prefix { " ok " } else { "FAIL" },
        sent.bytes,
        if hash.finish() == sent.hash.finish() { "equal" } else { "DIFFER" }
    );
    ok &= cut && prefix;

    println!("\nresult: {}", if ok { "PASS" } else { "FAIL" });
    std::process::exit(if ok { 0 } else { 1 });
}

/// Reads chunk by chunk, taking `slow` over each (the reader's own work), until end of
/// file or an error.
fn slow_reader(r: &PipeReader, chunk: usize, slow: Duration) -> (u64, Hash, Option<io::Error>) {
    let mut reader = HashingReader {
        inner: r,
        hash: Hash::new(),
        bytes: 0,
    };
    let mut buf = vec![0u8; chunk];
    loop {
        match reader.read_exact(&mut buf) {
            Ok(()) => thread::sleep(slow), // processing the chunk
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                return (reader.bytes, reader.hash, None)
            }
            Err(e) => return (reader.bytes, reader.hash, Some(e)),
        }
    }
}
