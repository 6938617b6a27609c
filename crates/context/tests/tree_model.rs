//! Property test: random trees and random cancel / deadline events against a reference
//! model of which nodes are done, and why (error and cause).
#![cfg(not(loom))]

use std::io;
use std::time::{Duration, Instant};

use gosync_context::{
    background_with_clock, with_cancel_cause, with_deadline, with_deadline_cause, with_value,
    without_cancel, CancelCauseFunc, CancelFunc, Context, Error, Key,
};
use gosync_core::FakeClock;
use proptest::prelude::*;

static KEY: Key<usize> = Key::new("node");

#[derive(Clone, Debug)]
enum Op {
    /// `with_cancel_cause(nodes[p % len])`.
    Cancel {
        p: usize,
    },
    /// `with_deadline(_cause)(nodes[p % len], now + secs)`.
    Deadline {
        p: usize,
        secs: u64,
        cause: bool,
    },
    Value {
        p: usize,
    },
    Without {
        p: usize,
    },
    /// Call the cancel function of `nodes[n % len]` (if it has one).
    CancelNode {
        n: usize,
        cause: bool,
    },
    Advance {
        secs: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<usize>().prop_map(|p| Op::Cancel { p }),
        3 => (any::<usize>(), 0..12u64, any::<bool>())
            .prop_map(|(p, secs, cause)| Op::Deadline { p, secs, cause }),
        1 => any::<usize>().prop_map(|p| Op::Value { p }),
        1 => any::<usize>().prop_map(|p| Op::Without { p }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(n, cause)| Op::CancelNode { n, cause }),
        2 => (1..6u64).prop_map(|secs| Op::Advance { secs }),
    ]
}

#[path = "support/tree_model.rs"]
#[allow(dead_code)] // the fuzz target uses all of it, this test part
mod model;
use model::{MKind, MNode, Model};

enum Cancel {
    None,
    Plain(CancelFunc),
    Cause(CancelCauseFunc),
}

fn run(ops: Vec<Op>) {
    let fake = FakeClock::new();
    let t0 = fake.now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let root = background_with_clock(fake.clock());
    let mut real: Vec<(Context, Cancel)> = vec![(root, Cancel::None)];
    let mut model = Model {
        nodes: vec![MNode {
            parent: None,
            kind: MKind::Root,
            own_deadline: None,
            deadline_cause: None,
            state: None,
        }],
        now: 0,
    };
    let mut causes = 0;
    for op in ops {
        let len = real.len();
        match op {
            Op::Cancel { p } => {
                let (c, f) = with_cancel_cause(&real[p % len].0);
                real.push((c, Cancel::Cause(f)));
                model.add(p % len, MKind::Cancel, None, None);
            }
            Op::Deadline { p, secs, cause } => {
                let p = p % len;
                // Deadlines up to a few seconds in the past too.
                let d = (model.now + secs).saturating_sub(3);
                let parent = &real[p].0;
                let dl_cause = cause.then(|| {
                    causes += 1;
                    format!("d{causes}")
                });
                let (c, f) = match &dl_cause {
                    Some(m) => with_deadline_cause(parent, at(d), io::Error::other(m.clone())),
                    None => with_deadline(parent, at(d)),
                };
                real.push((c, Cancel::Plain(f)));
                if model.deadline(p).is_some_and(|cur| cur < d) {
                    model.add(p, MKind::Cancel, None, None);
                } else {
                    model.add(p, MKind::Cancel, Some(d), dl_cause);
                }
            }
            Op::Value { p } => {
                real.push((with_value(&real[p % len].0, &KEY, len), Cancel::None));
                model.add(p % len, MKind::Value, None, None);
            }
            Op::Without { p } => {
                real.push((without_cancel(&real[p % len].0), Cancel::None));
                model.add(p % len, MKind::Without, None, None);
            }
            Op::CancelNode { n, cause } => {
                let n = n % len;
                causes += 1;
                let m = format!("c{causes}");
                match &real[n].1 {
                    Cancel::None => {}
                    Cancel::Plain(f) => {
                        f.cancel();
                        model.cancel(n, Error::Canceled, Error::Canceled.to_string());
                    }
                    Cancel::Cause(f) => {
                        if cause {
                            f.cancel(io::Error::other(m.clone()));
                            model.cancel(n, Error::Canceled, m);
                        } else {
                            f.cancel_with(None);
                            model.cancel(n, Error::Canceled, Error::Canceled.to_string());
                        }
                    }
                }
            }
            Op::Advance { secs } => {
                fake.advance(Duration::from_secs(secs));
                model.advance(secs);
            }
        }
        // Let the timer thread catch up with the model (a hang guard, not a timing
        // assertion), then compare every node.
        let start = Instant::now();
        for (i, (ctx, _)) in real.iter().enumerate() {
            if model.status(i).is_some() {
                while !ctx.is_done() {
                    assert!(
                        start.elapsed() < Duration::from_secs(if cfg!(miri) { 600 } else { 10 }),
                        "node {i} not done"
                    );
                    std::thread::yield_now();
                }
            }
        }
        for (i, (ctx, _)) in real.iter().enumerate() {
            let want = model.status(i);
            assert_eq!(
                ctx.err(),
                want.as_ref().map(|w| w.0),
                "err of node {i} {ctx:?}"
            );
            assert_eq!(
                ctx.cause().map(|c| c.to_string()),
                want.map(|w| w.1),
                "cause of node {i} {ctx:?}"
            );
            assert_eq!(
                ctx.deadline(),
                model.deadline(i).map(at),
                "deadline of node {i}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 8 } else { 96 }, ..ProptestConfig::default() })]

    #[test]
    fn tree_matches_model(ops in proptest::collection::vec(op(), 1..40)) {
        run(ops);
    }
}
