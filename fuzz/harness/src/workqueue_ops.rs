//! Fuzz the work queue: each byte is one operation (add, delayed add, get, done,
//! done-and-get, advancing the fake clock, shut down) on eight keys, checked step by
//! step against the reference model shared with the model proptest
//! (`crates/workqueue/tests/support/model.rs`, included here by path).

#[path = "../../../crates/workqueue/tests/support/model.rs"]
mod model;

use model::{Harness, Op};

/// Runs one input: at most 256 operations, then drains the queue and checks the FIFO
/// order end to end.
pub fn run(data: &[u8]) {
    let mut h = Harness::new();
    for &b in data.iter().take(256) {
        let k = (b >> 4) & 7;
        let op = match b & 15 {
            0..=3 => Op::Add(k),
            4 | 5 => Op::AddAfter(k, u64::from(k & 3)),
            6..=8 => Op::Get,
            9 | 10 => Op::Done(k),
            11 | 12 => Op::DoneAndGet(k),
            13 | 14 => Op::Advance(u64::from(k & 3)),
            _ if k == 0 => Op::ShutDown,
            _ => Op::Get,
        };
        h.apply(op);
    }
    h.finish();
}
