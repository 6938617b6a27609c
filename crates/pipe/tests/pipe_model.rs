//! Model-based property test: random write sizes (some vectored, some empty) against
//! random read sizes. The model is a queue of the writes' unread lengths; with one
//! writer and one reader each read must return exactly `min(buf, rest of the front
//! write)` bytes (a read never spans two writes), and the bytes out equal the bytes in.
#![cfg(not(loom))]

use std::collections::VecDeque;
use std::io::{IoSlice, Read, Write};
use std::thread;

use gosync_pipe::pipe;
use proptest::prelude::*;

/// One write: its length, and whether it goes through `write_vectored` in two parts.
#[derive(Debug, Clone)]
struct WriteOp {
    len: usize,
    vectored: bool,
}

fn write_op() -> impl Strategy<Value = WriteOp> {
    (
        prop_oneof![Just(0usize), 1..64usize, 64..5000usize],
        any::<bool>(),
    )
        .prop_map(|(len, vectored)| WriteOp { len, vectored })
}

proptest! {
    // Each case runs a writer thread: a few cases under Miri.
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 8 } else { 128 }))]

    #[test]
    fn bytes_out_equal_bytes_in(
        writes in prop::collection::vec(write_op(), 0..24),
        reads in prop::collection::vec(1..3000usize, 1..24),
    ) {
        let total: usize = writes.iter().map(|w| w.len).sum();
        let data: Vec<u8> = (0..total).map(|i| (i % 253) as u8).collect();
        let (mut r, w) = pipe();
        let writer = {
            let (writes, data) = (writes.clone(), data.clone());
            thread::spawn(move || {
                let mut at = 0;
                for op in &writes {
                    let chunk = &data[at..at + op.len];
                    let n = if op.vectored {
                        let (a, b) = chunk.split_at(op.len / 3);
                        (&w).write_vectored(&[IoSlice::new(a), IoSlice::new(b)]).unwrap()
                    } else {
                        (&w).write(chunk).unwrap()
                    };
                    assert_eq!(n, op.len, "a write returned early");
                    at += op.len;
                }
            }) // dropping `w` closes the pipe
        };
        let mut model: VecDeque<usize> =
            writes.iter().map(|w| w.len).filter(|&n| n > 0).collect();
        let mut out = Vec::new();
        let mut sizes = reads.iter().cycle();
        loop {
            let size = *sizes.next().unwrap();
            let mut buf = vec![0u8; size];
            let n = r.read(&mut buf).unwrap();
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
            prop_assert_eq!(n, want);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        writer.join().unwrap();
        prop_assert_eq!(out, data);
    }
}
