//! Fuzz: byte strings decoded into work-queue ops, checked against the reference model
//! shared with the model proptest (`crates/workqueue/tests/support/model.rs`).
#![no_main]

#[path = "../../crates/workqueue/tests/support/model.rs"]
mod support;

use libfuzzer_sys::fuzz_target;
use support::{Harness, Op};

fuzz_target!(|data: &[u8]| {
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
});
