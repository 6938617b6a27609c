//! Fuzz the pipe against a queue model: the input decodes into a list of writes (length,
//! vectored or not) and a list of read sizes, and optionally an early close of the reader.
//! With one writer and one reader, every read must return exactly `min(buf, rest of the
//! front write)` bytes, the bytes must arrive in order, and a reader close must make the
//! writer fail without hanging.

use std::collections::VecDeque;
use std::io::{IoSlice, Read, Write};
use std::thread;

/// Runs one input: decodes it into writes, read sizes and an optional reader close,
/// and panics if the pipe disagrees with the model.
pub fn run(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let (head, body) = data.split_at(2);
    let n_writes = usize::from(head[0] % 16);
    // Close the reader after this many reads, or never.
    let close_after = (head[1] < 128).then_some(usize::from(head[1] % 32));
    let mut bytes = body.iter().copied();
    let mut next = || bytes.next().unwrap_or(0);
    let writes: Vec<(usize, bool)> = (0..n_writes)
        .map(|_| {
            let b = next();
            (usize::from(next()) * usize::from(b % 8), b & 0x80 != 0)
        })
        .collect();
    let reads: Vec<usize> = (0..8).map(|_| 1 + usize::from(next()) * 4).collect();

    let total: usize = writes.iter().map(|w| w.0).sum();
    let payload: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let (r, w) = gosync_pipe::pipe();
    thread::scope(|s| {
        let writer = s.spawn(|| {
            let w = w; // moved in: dropping it closes the writer
            let mut at = 0;
            for &(len, vectored) in &writes {
                let chunk = &payload[at..at + len];
                let res = if vectored {
                    let (a, b) = chunk.split_at(len / 2);
                    (&w).write_vectored(&[IoSlice::new(a), IoSlice::new(b)])
                } else {
                    (&w).write(chunk)
                };
                match res {
                    Ok(n) if n == len => at += len,
                    Ok(n) => return Err(at + n), // partial: the reader closed mid-write
                    Err(_) => return Err(at),
                }
            }
            Ok(at)
        });
        let mut model: VecDeque<usize> = writes.iter().map(|w| w.0).filter(|&n| n > 0).collect();
        let mut out = Vec::new();
        let mut closed = false;
        for (i, &size) in reads.iter().cycle().enumerate() {
            if Some(i) == close_after {
                r.close();
                closed = true;
                break;
            }
            let mut buf = vec![0u8; size];
            let n = (&r).read(&mut buf).unwrap();
            let want = match model.front_mut() {
                None => 0,
                Some(rest) => {
                    let k = size.min(*rest);
                    *rest -= k;
                    if *rest == 0 {
                        model.pop_front();
                    }
                    k
                }
            };
            assert_eq!(n, want);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, payload[..out.len()]);
        match writer.join().unwrap() {
            Ok(sent) => assert_eq!(sent, out.len()),
            Err(sent) => {
                assert!(closed, "a write failed without a close");
                assert_eq!(
                    sent,
                    out.len(),
                    "the writer's count disagrees with the reader"
                );
            }
        }
    });
}
