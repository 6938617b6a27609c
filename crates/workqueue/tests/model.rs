//! Model-based property test: random op sequences against a reference model (a `VecDeque`,
//! two `HashSet`s and a waiting map ordered like a heap), on a fake clock.
#![cfg(not(loom))]

#[path = "support/model.rs"]
mod support;

use proptest::prelude::*;
use support::{Harness, Op};

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..5).prop_map(Op::Add),
        3 => (0u8..5, 0u64..4).prop_map(|(k, d)| Op::AddAfter(k, d)),
        4 => Just(Op::Get),
        3 => (0u8..5).prop_map(Op::Done),
        2 => (0u8..5).prop_map(Op::DoneAndGet),
        2 => (0u64..3).prop_map(Op::Advance),
        1 => Just(Op::ShutDown),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 8 } else { 512 }, ..ProptestConfig::default() })]
    #[test]
    fn queue_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        let mut h = Harness::new();
        for op in ops {
            h.apply(op);
        }
        h.finish();
    }
}
